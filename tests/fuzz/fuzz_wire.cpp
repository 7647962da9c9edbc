// libFuzzer target for `npusim serve`'s socket protocol, spoken by a hostile client. The server
// runs in a thread of this process. Each input is one session: the client says HELLO, shares a
// 64 KiB memfd at the base of its window holding the input's first bytes (so rings, job entries
// and programs the fuzzer writes there reach the device), sends the rest of the input as raw
// protocol bytes and disconnects. A second client must then still be answered: it says HELLO,
// hard-resets its context and reads DEV_ID. A victim client, connected for the whole run with a
// buffer, registers and die of its own, must see none of them change (a client's state depends only on its
// own inputs). Oracle: no crash, no hang (libFuzzer's -timeout), the server answers, the victim is
// untouched.
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "npusim/npu.h"
#include "npusim/regs.h"
#include "npusim/wire.h"
#include "sim/npu_config.h"
#include "tools/device/server.h"
#include "tools/device/wire_io.h"

namespace {

constexpr size_t kShared = 65536;  ///< bytes of the client's shared buffer

std::string start_server() {
  static const std::string path = "/tmp/npusim_fuzz_wire_" + std::to_string(::getpid()) + ".sock";
  static const npusim::config::NpuConfig cfg = npusim::config::load_npu_config(NPUSIM_CONFIGS "/edge.yaml");
  std::thread([] {
    npusim::device::ServeOptions o;
    o.socket_path = path;
    o.idle_timeout_s = 0;      // the victim waits between sessions
    o.job_wall_limit_s = 2;    // well inside libFuzzer's -timeout
    npusim::device::serve(cfg, o);
  }).detach();
  return path;
}

int connect_to(const std::string& path) {
  for (int attempt = 0; attempt < 500; ++attempt) {  // the first time, until the server listens
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    ::close(fd);
    ::usleep(10000);
  }
  std::fprintf(stderr, "cannot connect to %s\n", path.c_str());
  std::abort();
}

/// Reads exactly `len` bytes (libFuzzer's timer signals interrupt blocking calls: EINTR retries).
bool read_all(int fd, void* data, size_t len) {
  auto* p = static_cast<uint8_t*>(data);
  while (len) {
    const ssize_t n = ::recv(fd, p, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n, len -= static_cast<size_t>(n);
  }
  return true;
}

/// The reply to request `req` (IRQ messages skipped); its type, or 0 when the connection ended.
uint16_t reply(int fd, uint64_t req, void* payload, uint32_t cap) {
  for (;;) {
    npu_wire_header h;
    if (!read_all(fd, &h, sizeof h)) return 0;
    uint8_t p[NPU_WIRE_MAX_PAYLOAD];
    if (h.len > sizeof p || !read_all(fd, p, h.len)) return 0;
    if (h.type == NPU_MSG_IRQ || h.req_id != req) continue;
    std::memcpy(payload, p, std::min(h.len, cap));
    return h.type;
  }
}

/// One request and its reply type; `v` gets the first 4 payload bytes.
uint16_t call(int fd, uint16_t type, uint64_t req, const void* payload, uint32_t len, uint32_t* v = nullptr,
              int pass_fd = -1) {
  npusim::device::wire_send(fd, type, req, 0, payload, len, pass_fd);
  uint32_t got = 0;
  const uint16_t t = reply(fd, req, &got, 4);
  if (v) *v = got;
  return t;
}

/// A client that holds queue 0 for the whole run: a buffer of known bytes and registers of its
/// own, which no other client's session may change.
struct Victim {
  int fd = -1;
  uint8_t* bytes = nullptr;  ///< its shared buffer, as it sees it
  uint64_t base = 0;
  /// Registers it set, with their values (ring registers of its queue, interrupt enables, SCRATCH).
  static constexpr std::pair<uint32_t, uint32_t> kRegs[] = {{NPU_Q_SQ_BASE_LO(0), 0},
                                                            {NPU_Q_SQ_SIZE(0), 4},
                                                            {NPU_Q_CQ_SIZE(0), 4},
                                                            {NPU_Q_Q_CTRL(0), 0},
                                                            {NPU_REG_INT_ENABLE, 0xFF},
                                                            {NPU_REG_WATCHDOG, 123456}};
  explicit Victim(const std::string& path) {
    fd = connect_to(path);
    const uint32_t version = NPU_WIRE_VERSION;
    npusim::device::wire_send(fd, NPU_MSG_HELLO, 1, 0, &version, 4);
    uint8_t ack[48] = {};
    if (reply(fd, 1, ack, sizeof ack) != NPU_MSG_HELLO_ACK) fail("the victim's HELLO was refused");
    std::memcpy(&base, ack + 32, 8);
    const int m = ::memfd_create("victim", MFD_ALLOW_SEALING);
    if (m < 0 || ::ftruncate(m, 4096) != 0) fail("memfd");
    bytes = static_cast<uint8_t*>(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0));
    for (int i = 0; i < 4096; ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 3);
    const uint64_t add[2] = {base, 4096};
    if (call(fd, NPU_MSG_MEM_ADD, 2, add, 16, nullptr, m) != NPU_MSG_ACK) fail("the victim's MEM_ADD was refused");
    ::close(m);
    for (const auto& [off, v] : kRegs) {
      const uint32_t w[2] = {off, off == NPU_Q_SQ_BASE_LO(0) ? static_cast<uint32_t>(base) : v};
      if (call(fd, NPU_MSG_MMIO_WRITE, 3, w, 8) != NPU_MSG_ACK) fail("the victim's register write was refused");
    }
    die = die_view();
  }
  /// What it reads of its die: device time, temperature, operating point (its own, not shared).
  std::vector<uint32_t> die_view() {
    std::vector<uint32_t> v;
    for (const uint32_t off : {NPU_REG_CYCLE_LO, NPU_REG_CYCLE_HI, NPU_REG_TEMP_MC, NPU_REG_THROTTLE_LEVEL}) {
      v.push_back(0);
      if (call(fd, NPU_MSG_MMIO_READ, 6, &off, 4, &v.back()) != NPU_MSG_MMIO_READ_RESP)
        fail("the victim's register read was not answered");
    }
    return v;
  }
  std::vector<uint32_t> die;  ///< die_view() after its setup
  [[noreturn]] static void fail(const char* why) {
    std::fprintf(stderr, "victim: %s\n", why);
    std::abort();
  }
  /// Aborts unless its buffer and registers are as it left them and it has seen no error.
  void check() {
    for (int i = 0; i < 4096; ++i)
      if (bytes[i] != static_cast<uint8_t>(i * 7 + 3)) fail("another client's session changed the victim's buffer");
    for (const auto& [off, want] : kRegs) {
      uint32_t v = 0;
      if (call(fd, NPU_MSG_MMIO_READ, 4, &off, 4, &v) != NPU_MSG_MMIO_READ_RESP)
        fail("the victim's register read was not answered");
      if (v != (off == NPU_Q_SQ_BASE_LO(0) ? static_cast<uint32_t>(base) : want))
        fail("another client's session changed one of the victim's registers");
    }
    for (const uint32_t off : {NPU_REG_ERR_STATUS, NPU_REG_INT_STATUS}) {
      uint32_t v = 0;
      if (call(fd, NPU_MSG_MMIO_READ, 5, &off, 4, &v) != NPU_MSG_MMIO_READ_RESP || v != 0)
        fail("another client's session raised an error or interrupt in the victim's context");
    }
    if (die_view() != die) fail("another client's session moved the victim's device time or temperature");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = start_server();
  static Victim victim(path);
  // The session under test.
  const int fd = connect_to(path);
  const uint32_t version = NPU_WIRE_VERSION;
  npusim::device::wire_send(fd, NPU_MSG_HELLO, 1, 0, &version, 4);
  uint8_t ack[48] = {};
  if (reply(fd, 1, ack, sizeof ack) == NPU_MSG_HELLO_ACK) {
    uint64_t base;
    std::memcpy(&base, ack + 32, 8);
    const size_t mem_bytes = std::min(size, kShared);
    const int m = ::memfd_create("fuzz", MFD_ALLOW_SEALING);
    if (::ftruncate(m, kShared) == 0) {
      void* p = ::mmap(nullptr, kShared, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
      if (p != MAP_FAILED) {
        std::memcpy(p, data, mem_bytes);
        ::munmap(p, kShared);
        const uint64_t add[2] = {base, kShared};
        npusim::device::wire_send(fd, NPU_MSG_MEM_ADD, 2, 0, add, 16, m);
        reply(fd, 2, ack, 0);
      }
    }
    ::close(m);
    // The rest as raw protocol bytes (inputs shorter than the buffer are sent whole as well).
    const uint8_t* raw = size > kShared ? data + kShared : data;
    const size_t raw_bytes = size > kShared ? size - kShared : size;
    for (size_t sent = 0; sent < raw_bytes;) {
      const ssize_t n = ::send(fd, raw + sent, raw_bytes - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the server closed the connection (a protocol error)
      sent += static_cast<size_t>(n);
    }
  }
  // Disconnect and wait until the server has seen it (it closes its end).
  ::shutdown(fd, SHUT_WR);
  uint8_t sink[4096];
  for (ssize_t n; (n = ::recv(fd, sink, sizeof sink, 0)) > 0 || (n < 0 && errno == EINTR);) {
  }
  ::close(fd);
  // Another client is still served.
  const int probe = connect_to(path);
  npusim::device::wire_send(probe, NPU_MSG_HELLO, 2, 0, &version, 4);
  uint8_t probe_ack[48] = {};
  if (reply(probe, 2, probe_ack, sizeof probe_ack) != NPU_MSG_HELLO_ACK) {
    std::fprintf(stderr, "the server refused a HELLO after the session\n");
    std::abort();
  }
  const uint32_t hard[2] = {NPU_REG_RESET, NPU_RESET_HARD_MASK};
  npusim::device::wire_send(probe, NPU_MSG_MMIO_WRITE, 3, 0, hard, 8);
  uint8_t none[4];
  if (reply(probe, 3, none, 0) != NPU_MSG_ACK) {
    std::fprintf(stderr, "the server did not acknowledge a hard reset after the session\n");
    std::abort();
  }
  const uint32_t dev_id = NPU_REG_DEV_ID;
  npusim::device::wire_send(probe, NPU_MSG_MMIO_READ, 4, 0, &dev_id, 4);
  uint32_t v = 0;
  const uint16_t type = reply(probe, 4, &v, 4);
  if (type != NPU_MSG_MMIO_READ_RESP || v != 0x5355504Eu) {
    std::fprintf(stderr, "after the session the server answered DEV_ID with message %u, value 0x%08x\n", type, v);
    std::abort();
  }
  ::close(probe);
  victim.check();
  return 0;
}
