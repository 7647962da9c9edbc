#include "sim/device/server.h"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include "npusim/npu.h"
#include "npusim/wire.h"
#include "sim/device/device.h"
#include "sim/device/wire_io.h"

namespace npusim::device {
namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

/// Host memory made of the clients' memfds, mapped at their device addresses.
class SharedMemory final : public HostMemory {
 public:
  struct Region {
    uint8_t* ptr;
    uint64_t size;
    int owner;  ///< client fd
  };
  std::map<uint64_t, Region> regions;  ///< by device address
  ~SharedMemory() override {
    for (auto& [a, r] : regions) ::munmap(r.ptr, r.size);
  }
  uint8_t* at(uint64_t addr, uint64_t len) {
    auto it = regions.upper_bound(addr);
    if (it == regions.begin()) return nullptr;
    --it;
    if (addr + len < addr || addr + len > it->first + it->second.size) return nullptr;
    return it->second.ptr + (addr - it->first);
  }
  bool read(uint64_t addr, void* dst, uint64_t len) override {
    if (!len) return true;
    uint8_t* p = at(addr, len);
    if (p) std::memcpy(dst, p, len);
    return p != nullptr;
  }
  bool write(uint64_t addr, const void* src, uint64_t len) override {
    if (!len) return true;
    uint8_t* p = at(addr, len);
    if (p) std::memcpy(p, src, len);
    return p != nullptr;
  }
  void drop_owner(int fd) {
    for (auto it = regions.begin(); it != regions.end();)
      if (it->second.owner == fd) {
        ::munmap(it->second.ptr, it->second.size);
        it = regions.erase(it);
      } else {
        ++it;
      }
  }
};

constexpr uint64_t kMaxRegion = uint64_t{1} << 30;  ///< one shared buffer (1 GiB)

bool send_msg(int fd, uint16_t type, uint64_t req, uint64_t cycle, const void* payload, uint32_t len) {
  return wire_send(fd, type, req, cycle, payload, len);
}

bool send_error(int fd, uint64_t req, uint64_t cycle, int32_t code, const std::string& text) {
  std::vector<uint8_t> p(4 + text.size());
  std::memcpy(p.data(), &code, 4);
  std::memcpy(p.data() + 4, text.data(), text.size());
  return send_msg(fd, NPU_MSG_ERROR, req, cycle, p.data(), static_cast<uint32_t>(p.size()));
}

/// Reads exactly `len` bytes; the first recvmsg also collects a passed file descriptor.
bool recv_all(int fd, void* data, size_t len, int* passed_fd) {
  char* p = static_cast<char*>(data);
  while (len) {
    iovec iov{p, len};
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    const ssize_t n = ::recvmsg(fd, &m, 0);
    if (n <= 0) return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int got;
        std::memcpy(&got, CMSG_DATA(c), sizeof got);
        if (passed_fd && *passed_fd < 0)
          *passed_fd = got;
        else
          ::close(got);
      }
    p += n, len -= static_cast<size_t>(n);
  }
  return true;
}

std::string hex_bytes(const uint8_t* p, uint64_t n) {
  static const char* d = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (uint64_t i = 0; i < n; ++i) s[2 * i] = d[p[i] >> 4], s[2 * i + 1] = d[p[i] & 15];
  return s;
}

}  // namespace

int serve(const config::NpuConfig& cfg, const ServeOptions& opts) {
  SharedMemory mem;
  std::vector<int> clients;
  std::ofstream record;
  if (!opts.record_path.empty()) {
    record.open(opts.record_path);
    if (!record) throw std::runtime_error(opts.record_path + ": cannot write");
    record << "# npusim register trace (npusim replay); config " << cfg.source << "\n";
  }
  Device dev(cfg, mem, nullptr);
  bool level = dev.irq_level();
  const int lfd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (opts.socket_path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long");
  std::strncpy(addr.sun_path, opts.socket_path.c_str(), sizeof addr.sun_path - 1);
  ::unlink(opts.socket_path.c_str());
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lfd, 16) != 0)
    throw std::runtime_error(opts.socket_path + ": " + std::strerror(errno));
  ::signal(SIGINT, on_signal);
  ::signal(SIGTERM, on_signal);
  ::signal(SIGPIPE, SIG_IGN);
  std::fprintf(stderr, "npusim serve: %s on %s\n", cfg.name.c_str(), opts.socket_path.c_str());
  bool had_client = false;
  // Each client owns one queue (its ring pair) and a 4 GiB window of device addresses for its buffers.
  std::map<int, uint32_t> queue_of;  ///< client fd -> queue
  auto window_base = [](uint32_t q) { return (uint64_t{q} + 1) << 32; };
  auto drop = [&](int fd) {
    mem.drop_owner(fd);
    auto it = queue_of.find(fd);
    if (it != queue_of.end()) {
      dev.release_queue(it->second);
      queue_of.erase(it);
    }
    ::close(fd);
    clients.erase(std::remove(clients.begin(), clients.end(), fd), clients.end());
  };
  while (!g_stop && !(opts.exit_when_idle && had_client && clients.empty())) {
    std::vector<pollfd> fds{{lfd, POLLIN, 0}};
    for (int c : clients) fds.push_back({c, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 200) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & POLLIN) {
      const int c = ::accept(lfd, nullptr, nullptr);
      if (c >= 0) clients.push_back(c), had_client = true;
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int c = fds[i].fd;
      npu_wire_header h;
      int passed = -1;
      if (!recv_all(c, &h, sizeof h, &passed)) {  // disconnect (possibly mid-job): drop its memory only
        if (passed >= 0) ::close(passed);
        drop(c);
        continue;
      }
      if (h.len > NPU_WIRE_MAX_PAYLOAD || h.flags != 0) {
        send_error(c, h.req_id, dev.cycles(), NPU_EINVAL,
                   "bad message: len " + std::to_string(h.len) + " (max " + std::to_string(NPU_WIRE_MAX_PAYLOAD) +
                       ") or flags " + std::to_string(h.flags));
        if (passed >= 0) ::close(passed);
        drop(c);
        continue;
      }
      std::vector<uint8_t> p(h.len);
      if (h.len && !recv_all(c, p.data(), h.len, &passed)) {
        if (passed >= 0) ::close(passed);
        drop(c);
        continue;
      }
      auto need = [&](uint32_t n) {
        if (h.len == n) return true;
        send_error(c, h.req_id, dev.cycles(), NPU_EINVAL,
                   "message type " + std::to_string(h.type) + " needs " + std::to_string(n) + " payload bytes, got " +
                       std::to_string(h.len));
        return false;
      };
      // The interrupt line changed: every client hears it, the requester before its reply.
      auto notify_irq = [&] {
        if (dev.irq_level() == level) return;
        level = dev.irq_level();
        const uint32_t l = level ? 1 : 0;
        for (int other : clients) send_msg(other, NPU_MSG_IRQ, 0, dev.cycles(), &l, 4);
      };
      auto ack = [&] {
        notify_irq();
        send_msg(c, NPU_MSG_ACK, h.req_id, dev.cycles(), nullptr, 0);
      };
      bool close_after = false;
      switch (h.type) {
        case NPU_MSG_HELLO: {
          if (!need(4)) break;
          uint32_t v;
          std::memcpy(&v, p.data(), 4);
          if (v != NPU_WIRE_VERSION) {
            send_error(c, h.req_id, dev.cycles(), NPU_EINVAL,
                       "protocol version " + std::to_string(v) + " (server speaks 1)");
            break;
          }
          if (!queue_of.count(c)) {
            uint32_t q = 0;
            while (q < NPU_QUEUES &&
                   std::any_of(queue_of.begin(), queue_of.end(), [&](auto& e) { return e.second == q; }))
              ++q;
            if (q == NPU_QUEUES) {
              send_error(c, h.req_id, dev.cycles(), NPU_EBUSY, "every queue is taken by another client");
              break;
            }
            queue_of[c] = q;
          }
          const uint32_t q = queue_of[c];
          uint8_t r[48] = {};
          const uint32_t ver = NPU_WIRE_VERSION, id = dev.read(NPU_REG_DEV_ID);
          const uint64_t hash = cfg.hash(), hz = static_cast<uint64_t>(cfg.clock_hz), base = window_base(q),
                         size = uint64_t{1} << 32;
          std::memcpy(r, &ver, 4), std::memcpy(r + 4, &id, 4), std::memcpy(r + 8, &hash, 8),
              std::memcpy(r + 16, &hz, 8);
          std::memcpy(r + 24, &q, 4), std::memcpy(r + 32, &base, 8), std::memcpy(r + 40, &size, 8);
          send_msg(c, NPU_MSG_HELLO_ACK, h.req_id, dev.cycles(), r, sizeof r);
          break;
        }
        case NPU_MSG_MEM_ADD: {
          if (!need(16)) break;
          uint64_t a, n;
          std::memcpy(&a, p.data(), 8), std::memcpy(&n, p.data() + 8, 8);
          if (passed < 0) {
            send_error(c, h.req_id, dev.cycles(), NPU_EINVAL, "MEM_ADD without a file descriptor");
            break;
          }
          if (!queue_of.count(c)) {
            send_error(c, h.req_id, dev.cycles(), NPU_EINVAL, "MEM_ADD before HELLO");
            break;
          }
          if (a < window_base(queue_of[c]) || a + n > window_base(queue_of[c]) + (uint64_t{1} << 32)) {
            send_error(c, h.req_id, dev.cycles(), NPU_EINVAL,
                       "device address " + std::to_string(a) + " is outside this client's window");
            break;
          }
          if (n == 0 || n > kMaxRegion) {
            send_error(c, h.req_id, dev.cycles(), NPU_ENOMEM,
                       "shared buffer of " + std::to_string(n) + " bytes (1 to " + std::to_string(kMaxRegion) + ")");
            break;
          }
          std::string clash;
          for (const auto& [b, r] : mem.regions)
            if (a < b + r.size && b < a + n) clash = std::to_string(b) + "+" + std::to_string(r.size);
          if (!clash.empty() || a + n < a) {
            send_error(c, h.req_id, dev.cycles(), NPU_EINVAL,
                       "device addresses " + std::to_string(a) + "+" + std::to_string(n) + " overlap another buffer (" +
                           clash + ")");
            break;
          }
          void* ptr = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, passed, 0);
          if (ptr == MAP_FAILED) {
            send_error(c, h.req_id, dev.cycles(), NPU_ENOMEM,
                       std::string("cannot map the buffer: ") + std::strerror(errno));
            break;
          }
          mem.regions[a] = {static_cast<uint8_t*>(ptr), n, c};
          if (record.is_open()) record << "mem_add " << a << " " << n << "\n";
          ack();
          break;
        }
        case NPU_MSG_MEM_REMOVE: {
          if (!need(8)) break;
          uint64_t a;
          std::memcpy(&a, p.data(), 8);
          auto it = mem.regions.find(a);
          if (it == mem.regions.end() || it->second.owner != c) {
            send_error(c, h.req_id, dev.cycles(), NPU_ENOENT, "no buffer of this client at that address");
            break;
          }
          ::munmap(it->second.ptr, it->second.size);
          mem.regions.erase(it);
          ack();
          break;
        }
        case NPU_MSG_MMIO_READ:
        case NPU_MSG_MMIO_WRITE: {
          const bool wr = h.type == NPU_MSG_MMIO_WRITE;
          if (!need(wr ? 8 : 4)) break;
          uint32_t off, v = 0;
          std::memcpy(&off, p.data(), 4);
          if (wr) std::memcpy(&v, p.data() + 4, 4);
          if (off >= NPU_MMIO_WINDOW_BYTES || (off & 3)) {
            send_error(c, h.req_id, dev.cycles(), NPU_EINVAL,
                       "MMIO offset " + std::to_string(off) + " outside the window or unaligned");
            break;
          }
          if (!wr) {
            v = dev.read(off);
            if (record.is_open()) record << "read_reg " << off << " " << v << "\n";
            send_msg(c, NPU_MSG_MMIO_READ_RESP, h.req_id, dev.cycles(), &v, 4);
            break;
          }
          if (dev.access_of(off) == 0) {
            send_error(c, h.req_id, dev.cycles(), NPU_EINVAL, "register " + dev.name_of(off) + " is read-only");
            break;
          }
          if (record.is_open()) {
            if (dev.name_of(off).find("SQ_DOORBELL") != std::string::npos)  // what the job will see
              for (const auto& [a, r] : mem.regions)
                record << "load_mem " << a << " " << hex_bytes(r.ptr, r.size) << "\n";
            record << "write_reg " << off << " " << v << "\n";
          }
          dev.write(off, v);
          ack();
          break;
        }
        case NPU_MSG_SYNC: {
          if (!need(8)) break;
          uint64_t until;
          std::memcpy(&until, p.data(), 8);
          if (until > dev.cycles()) {
            if (record.is_open()) record << "idle " << until - dev.cycles() << "\n";
            dev.idle(until - dev.cycles());
          }
          ack();
          break;
        }
        case NPU_MSG_PERF: {
          if (!need(8)) break;
          uint64_t s;
          std::memcpy(&s, p.data(), 8);
          JobCounters k;
          if (!dev.counters(s, k)) {
            send_error(c, h.req_id, dev.cycles(), NPU_ENOENT, "no counters for seqno " + std::to_string(s));
            break;
          }
          const uint64_t r[11] = {k.cycles,
                                  k.instructions,
                                  k.macs,
                                  k.dram_read_bytes,
                                  k.dram_write_bytes,
                                  k.mxu_busy,
                                  k.vpu_busy,
                                  k.load_busy,
                                  k.store_busy,
                                  k.sem_wait,
                                  static_cast<uint64_t>(k.energy_j * 1e12)};
          send_msg(c, NPU_MSG_PERF_RESP, h.req_id, dev.cycles(), r, sizeof r);
          break;
        }
        case NPU_MSG_BYE:
          ack();
          close_after = true;
          break;
        default:
          send_error(c, h.req_id, dev.cycles(), NPU_EINVAL, "unknown message type " + std::to_string(h.type));
          close_after = true;
      }
      if (passed >= 0) ::close(passed);  // mapped (or refused): the descriptor is no longer needed
      notify_irq();
      if (close_after) drop(c);
    }
  }
  for (int c : std::vector<int>(clients)) drop(c);
  ::close(lfd);
  ::unlink(opts.socket_path.c_str());
  return 0;
}

namespace {

/// Host memory rebuilt from a trace's mem_add / load_mem lines.
class ReplayMemory final : public HostMemory {
 public:
  std::map<uint64_t, std::vector<uint8_t>> regions;
  uint8_t* at(uint64_t addr, uint64_t len) {
    auto it = regions.upper_bound(addr);
    if (it == regions.begin()) return nullptr;
    --it;
    if (addr + len > it->first + it->second.size()) return nullptr;
    return it->second.data() + (addr - it->first);
  }
  bool read(uint64_t addr, void* dst, uint64_t len) override {
    uint8_t* p = len ? at(addr, len) : nullptr;
    if (p) std::memcpy(dst, p, len);
    return p || !len;
  }
  bool write(uint64_t addr, const void* src, uint64_t len) override {
    uint8_t* p = len ? at(addr, len) : nullptr;
    if (p) std::memcpy(p, src, len);
    return p || !len;
  }
};

}  // namespace

int replay(const config::NpuConfig& cfg, const std::string& trace_path) {
  std::ifstream in(trace_path);
  if (!in) throw std::runtime_error(trace_path + ": cannot open");
  ReplayMemory mem;
  Device dev(cfg, mem, nullptr);
  std::string line;
  size_t n = 0, reads = 0, writes = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::string op;
    is >> op;
    auto bad = [&](const std::string& why) {
      std::fprintf(stderr, "%s:%zu: error: %s\n", trace_path.c_str(), n, why.c_str());
      return 1;
    };
    if (op == "mem_add") {
      uint64_t a, size;
      if (!(is >> a >> size) || size > (uint64_t{1} << 30)) return bad("expected mem_add ADDR SIZE");
      mem.regions[a].assign(size, 0);
    } else if (op == "load_mem") {
      uint64_t a;
      std::string hex;
      if (!(is >> a >> hex) || hex.size() % 2) return bad("expected load_mem ADDR HEX");
      auto it = mem.regions.find(a);
      if (it == mem.regions.end() || it->second.size() != hex.size() / 2) return bad("load_mem of an unknown buffer");
      for (size_t i = 0; i < hex.size() / 2; ++i)
        it->second[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    } else if (op == "write_reg") {
      uint32_t off, v;
      if (!(is >> off >> v)) return bad("expected write_reg OFFSET VALUE");
      dev.write(off, v);
      ++writes;
    } else if (op == "read_reg") {
      uint32_t off, want;
      if (!(is >> off >> want)) return bad("expected read_reg OFFSET VALUE");
      const uint32_t got = dev.read(off);
      ++reads;
      if (got != want)
        return bad("register " + dev.name_of(off) + " (offset " + std::to_string(off) + ") reads " +
                   std::to_string(got) + ", the recording read " + std::to_string(want));
    } else if (op == "idle") {
      uint64_t k;
      if (!(is >> k)) return bad("expected idle CYCLES");
      dev.idle(k);
    } else {
      return bad("unknown operation '" + op + "'");
    }
  }
  std::printf("%s: replayed %zu writes and %zu reads, every read as recorded; device at cycle %llu\n",
              trace_path.c_str(), writes, reads, static_cast<unsigned long long>(dev.cycles()));
  return 0;
}

}  // namespace npusim::device
