// What the device tests and the server tests share: a device (in process or over a socket) with
// the MLP trace loaded and bound, a `npusim serve` child process, a raw protocol client for what a
// driver would never send, and edge.yaml variants.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>

#include "isa/assembler.h"
#include "isa/npub.h"
#include "npusim/npu.h"
#include "npusim/wire.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/device/server.h"
#include "tools/device/wire_io.h"

namespace device_test {

inline const std::string kConfig = std::string(NPUSIM_CONFIGS) + "/edge.yaml";

/// A device with the MLP trace loaded and its regions bound, ready to submit.
struct Fixture {
  npu_device* dev = nullptr;
  npu_job job{};
  std::vector<uint8_t> npub;
  npu_region_info regions[16];
  uint64_t region_addr[16] = {};  ///< device address of each bound region (0: the container's data)
  uint64_t program_addr = 0;      ///< device address of the program's buffer
  uint32_t count = 16;
  explicit Fixture(const std::string& trace = "mlp_i8", const std::string& uri = "sim:" + kConfig) {
    EXPECT_EQ(npu_open(uri.c_str(), &dev), NPU_OK);
    npub =
        npusim::isa::write_npub(npusim::isa::assemble_file(std::string(NPUSIM_TRACES) + "/" + trace + ".npus").program);
    EXPECT_EQ(npu_program_regions(npub.data(), npub.size(), regions, &count), NPU_OK);
    job.struct_size = sizeof job;
    job.flags = NPU_JOB_FLAG_IRQ_ON_DONE;
    uint64_t addr;
    EXPECT_EQ(npu_bo_create(dev, npub.size(), &job.program_bo, &program_addr), NPU_OK);
    std::memcpy(npu_bo_map(dev, job.program_bo), npub.data(), npub.size());
    job.program_bytes = npub.size();
    job.region_count = count;
    for (uint32_t i = 0; i < count; ++i) {
      if (regions[i].role == NPU_REGION_CONST) continue;
      EXPECT_EQ(npu_bo_create(dev, regions[i].size, &job.region_bo[i], &addr), NPU_OK);
      region_addr[i] = addr;
      auto* p = static_cast<uint8_t*>(npu_bo_map(dev, job.region_bo[i]));
      for (uint64_t k = 0; k < regions[i].size; ++k) p[k] = static_cast<uint8_t>(k * 13 + 1);
    }
  }
  ~Fixture() { npu_close(dev); }
  uint32_t reg(uint32_t off) {
    uint32_t v = 0;
    EXPECT_EQ(npu_mmio_read(dev, off, &v), NPU_OK);
    return v;
  }
  int run(npu_result& r, uint32_t queue = 0) {
    uint64_t s;
    EXPECT_EQ(npu_submit(dev, queue, &job, &s), NPU_OK);
    return npu_wait(dev, s, npu_time_ns(dev) + 1000000000ull, &r);
  }
  std::vector<uint8_t> output() {
    for (uint32_t i = 0; i < count; ++i)
      if (regions[i].role == NPU_REGION_OUTPUT) {
        auto* p = static_cast<uint8_t*>(npu_bo_map(dev, job.region_bo[i]));
        return std::vector<uint8_t>(p, p + regions[i].size);
      }
    return {};
  }
};

/// edge.yaml with each (text, replacement) applied, written as TempDir()/name; returns its path.
inline std::string edge_variant(const std::string& name,
                                std::initializer_list<std::pair<std::string, std::string>> edits) {
  std::ifstream in(kConfig);
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  for (const auto& [from, to] : edits) {
    const auto at = yaml.find(from);
    if (at == std::string::npos) throw std::logic_error("edge.yaml lacks '" + from + "'");
    yaml.replace(at, from.size(), to);
  }
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << yaml;
  return path;
}

/// `npusim serve` in a child process for the duration of a test.
struct Server {
  std::string path;
  pid_t pid = -1;
  explicit Server(const std::string& name, const std::string& record = "",
                  const std::function<void(npusim::device::ServeOptions&)>& tweak = nullptr)
      : path("/tmp/npusim-test-" + name + "-" + std::to_string(::getpid()) + ".sock") {
    pid = ::fork();
    if (pid == 0) {
      npusim::device::ServeOptions o;
      o.socket_path = path;
      o.record_path = record;
      if (tweak) tweak(o);
      ::_exit(npusim::device::serve(npusim::config::load_npu_config(kConfig), o));
    }
    // Ready when a connection is accepted (the socket file appears before listen()).
    for (int i = 0; i < 300; ++i) {
      const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (up) break;
      ::usleep(10000);
    }
  }
  ~Server() { stop(); }
  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
  std::string uri() const { return "unix:" + path; }
};

/// A raw protocol client, for what a well-behaved driver would never send.
struct Raw {
  int fd = -1;
  uint64_t last_cycle = 0;  ///< device time in the header of the last reply()
  explicit Raw(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~Raw() { ::close(fd); }
  void send(uint16_t type, const void* p, uint32_t len, int pass = -1, uint32_t claimed_len = UINT32_MAX) {
    npusim::device::wire_send(fd, type, 7, 0, p, len, pass, claimed_len);
  }
  /// HELLO; the base of this client's window of device addresses (0 when refused).
  uint64_t hello() {
    const uint32_t version = NPU_WIRE_VERSION;
    send(NPU_MSG_HELLO, &version, 4);
    const auto [type, ack] = reply();
    uint64_t base = 0;
    if (type == NPU_MSG_HELLO_ACK && ack.size() >= 40) std::memcpy(&base, ack.data() + 32, 8);
    return base;
  }
  /// The next reply's type and text (ERROR payload after its code), past any IRQ messages (other
  /// clients' jobs move the interrupt line); 0 when the server closed.
  std::pair<uint16_t, std::string> reply() {
    for (;;) {
      npu_wire_header h;
      if (::recv(fd, &h, sizeof h, MSG_WAITALL) != static_cast<ssize_t>(sizeof h)) return {0, ""};
      std::string p(h.len, '\0');
      if (h.len && ::recv(fd, p.data(), h.len, MSG_WAITALL) != static_cast<ssize_t>(h.len)) return {0, ""};
      if (h.type == NPU_MSG_IRQ) continue;
      last_cycle = h.device_cycle;
      return {h.type, h.type == NPU_MSG_ERROR && p.size() > 4 ? p.substr(4) : p};
    }
  }
};

/// Writes `entry` into a ring of its own on queue q (reprogrammed past the C API's back) and rings
/// the doorbell; returns ERR_INFO0.CODE and sets `err_addr` to ERR_ADDR.
inline uint32_t raw_job(Fixture& f, const npu_job_entry& entry, uint64_t* err_addr, uint32_t q = 3) {
  uint32_t ring, cq;
  uint64_t ring_addr, cq_addr;
  EXPECT_EQ(npu_bo_create(f.dev, 2 * 64, &ring, &ring_addr), NPU_OK);  // two entries: tail 1 != head 0
  EXPECT_EQ(npu_bo_create(f.dev, 2 * 32, &cq, &cq_addr), NPU_OK);
  std::memcpy(npu_bo_map(f.dev, ring), &entry, sizeof entry);
  npu_mmio_write(f.dev, NPU_REG_ERR_STATUS, 0xFFFFFFFFu);  // the first error from here on
  const std::pair<uint32_t, uint32_t> writes[] = {{NPU_Q_SQ_BASE_LO(q), static_cast<uint32_t>(ring_addr)},
                                                  {NPU_Q_SQ_BASE_HI(q), static_cast<uint32_t>(ring_addr >> 32)},
                                                  {NPU_Q_SQ_SIZE(q), 2},
                                                  {NPU_Q_CQ_BASE_LO(q), static_cast<uint32_t>(cq_addr)},
                                                  {NPU_Q_CQ_BASE_HI(q), static_cast<uint32_t>(cq_addr >> 32)},
                                                  {NPU_Q_CQ_SIZE(q), 2},
                                                  {NPU_Q_Q_CTRL(q), 1},
                                                  {NPU_REG_CTRL, NPU_CTRL_ENABLE_MASK},
                                                  {NPU_DB_SQ_DOORBELL(q), 1}};
  for (const auto& [off, v] : writes) EXPECT_EQ(npu_mmio_write(f.dev, off, v), NPU_OK);
  *err_addr = f.reg(NPU_REG_ERR_ADDR_LO) | uint64_t{f.reg(NPU_REG_ERR_ADDR_HI)} << 32;
  const uint32_t code = f.reg(NPU_REG_ERR_INFO0) & NPU_ERR_INFO0_CODE_MASK;
  EXPECT_EQ(npu_reset(f.dev, NPU_RESET_KIND_HARD), NPU_OK);
  return code;
}

/// A server with a well-behaved client that has run one job: what its later jobs must still give.
struct ServedClient {
  Server srv;
  Fixture good;
  std::vector<uint8_t> want;  ///< the first job's output
  explicit ServedClient(const std::string& name) : srv(name), good("mlp_i8", srv.uri()) {
    npu_result r;
    EXPECT_EQ(good.run(r), NPU_OK);
    want = good.output();
  }
  /// Three more jobs, each completing with the first one's output.
  void still_served() {
    npu_result r;
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(good.run(r), NPU_OK);
      EXPECT_EQ(good.output(), want);
    }
  }
};

}  // namespace device_test
