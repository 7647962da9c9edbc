// libFuzzer target for `npusim serve`'s socket protocol, spoken by a hostile client. The server
// runs in a thread of this process. Each input is one session: the client says HELLO, shares a
// 64 KiB memfd at the base of its window holding the input's first bytes (so rings, job entries
// and programs the fuzzer writes there reach the device), sends the rest of the input as raw
// protocol bytes and disconnects. A second client must then still be answered: it hard-resets the
// device and reads DEV_ID. Oracle: no crash, no hang (libFuzzer's -timeout), the server answers.
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = start_server();
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
  return 0;
}
