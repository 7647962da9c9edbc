#include "tools/device/server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include "npusim/npu.h"
#include "npusim/wire.h"
#include "tools/device/device.h"
#include "tools/device/wire_io.h"

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
  bool backed(uint64_t addr, uint64_t len) override { return !len || at(addr, len) != nullptr; }
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
constexpr size_t kMaxUnsent = size_t{1} << 20;      ///< replies a client leaves unread before it is dropped
constexpr size_t kMaxHeldFds = 16;
constexpr size_t kMaxClients = 64;  ///< connections at once (four hold queues; the rest may only probe) ///<
                                    ///< descriptors a client may pass ahead of their MEM_ADD

/// One connection. Sockets are read and written without blocking, so a client that stops halfway
/// through a message, or stops reading its replies, holds up nobody else.
struct Client {
  std::vector<uint8_t> in;                   ///< received bytes not yet a whole message
  uint64_t in_offset = 0;                    ///< stream offset of in[0]
  std::deque<std::pair<uint64_t, int>> fds;  ///< passed descriptors, each with the stream offset it came after
  std::vector<uint8_t> out;                  ///< framed replies the socket has not taken yet
  bool doomed = false;                       ///< drop at the end of this round (protocol error, BYE, not reading)
};

/// Sends what the socket takes now; false when the connection is broken.
bool flush(int fd, Client& cl) {
  while (!cl.out.empty()) {
    const ssize_t n = ::send(fd, cl.out.data(), cl.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      cl.out.erase(cl.out.begin(), cl.out.begin() + n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return true;
    } else {
      return false;
    }
  }
  return true;
}

/// Reads what has arrived (one recvmsg), keeping passed descriptors; false on disconnect or error.
bool receive(int fd, Client& cl) {
  uint8_t buf[65536];
  iovec iov{buf, sizeof buf};
  alignas(cmsghdr) char ctl[CMSG_SPACE(kMaxHeldFds * sizeof(int))];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  const ssize_t n = ::recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  const uint64_t at = cl.in_offset + cl.in.size();
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int got;
        std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
        if (cl.fds.size() < kMaxHeldFds)
          cl.fds.emplace_back(at, got);
        else
          ::close(got);
      }
    }
  if (n == 0) return false;
  cl.in.insert(cl.in.end(), buf, buf + n);
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
  std::map<int, Client> clients;  ///< by socket
  std::ofstream record;
  if (!opts.record_path.empty()) {
    record.open(opts.record_path);
    if (!record) throw std::runtime_error(opts.record_path + ": cannot write");
    record << "# npusim register trace (npusim replay); config " << cfg.source << "\n";
  }
  Device dev(cfg, mem, nullptr);
  for (const ScheduledFault& f : opts.faults) {
    if (record.is_open())
      record << "schedule_fault " << f.type << " " << f.arg << " " << f.count << " " << f.at_job << "\n";
    dev.schedule_fault(f);
  }
  bool level = dev.irq_level();
  const int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (opts.socket_path.size() >= sizeof addr.sun_path)
    throw std::runtime_error(opts.socket_path + ": a socket path of " + std::to_string(opts.socket_path.size()) +
                             " bytes is longer than the " + std::to_string(sizeof addr.sun_path - 1) +
                             " a UNIX socket allows");
  std::strncpy(addr.sun_path, opts.socket_path.c_str(), sizeof addr.sun_path - 1);
  ::unlink(opts.socket_path.c_str());
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lfd, 16) != 0)
    throw std::runtime_error(opts.socket_path + ": " + std::strerror(errno));
  ::signal(SIGINT, on_signal);
  ::signal(SIGTERM, on_signal);
  ::signal(SIGPIPE, SIG_IGN);
  std::fprintf(stderr, "npusim serve: %s on %s\n", cfg.name.c_str(), opts.socket_path.c_str());
  bool had_client = false;
  // Replies are queued on the client and sent as its socket takes them; a client that leaves
  // kMaxUnsent bytes unread is dropped rather than allowed to stall the server.
  auto queue_frame = [&](int fd, const std::vector<uint8_t>& frame) {
    auto it = clients.find(fd);
    if (it == clients.end()) return;
    Client& cl = it->second;
    cl.out.insert(cl.out.end(), frame.begin(), frame.end());
    if (!flush(fd, cl) || cl.out.size() > kMaxUnsent) cl.doomed = true;
  };
  auto send_msg = [&](int fd, uint16_t type, uint64_t req, uint64_t cycle, const void* payload, uint32_t len) {
    queue_frame(fd, wire_frame(type, req, cycle, payload, len));
  };
  auto send_error = [&](int fd, uint64_t req, uint64_t cycle, int32_t code, const std::string& text) {
    queue_frame(fd, wire_error_frame(req, cycle, code, text));
  };
  // Each client owns one queue (its ring pair) and a 4 GiB window of device addresses for its buffers.
  std::map<int, uint32_t> queue_of;  ///< client fd -> queue
  auto window_base = [](uint32_t q) { return (uint64_t{q} + 1) << 32; };
  auto drop = [&](int fd) {
    if (record.is_open())
      for (const auto& [a, r] : mem.regions)
        if (r.owner == fd) record << "mem_remove " << a << "\n";
    mem.drop_owner(fd);
    auto it = queue_of.find(fd);
    if (it != queue_of.end()) {
      dev.release_queue(it->second);
      queue_of.erase(it);
    }
    auto cl = clients.find(fd);
    if (cl != clients.end()) {
      for (const auto& [at, held] : cl->second.fds) ::close(held);
      clients.erase(cl);
    }
    ::close(fd);
  };
  while (!g_stop && !(opts.exit_when_idle && had_client && clients.empty())) {
    std::vector<pollfd> fds{{lfd, POLLIN, 0}};
    for (const auto& [c, cl] : clients)
      fds.push_back({c, static_cast<short>(POLLIN | (cl.out.empty() ? 0 : POLLOUT)), 0});
    if (::poll(fds.data(), fds.size(), 200) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & POLLIN) {
      const int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0 && clients.size() >= kMaxClients) {  // told why, then closed: the others are served
        const auto frame =
            wire_error_frame(0, dev.cycles(), NPU_EBUSY, "more than " + std::to_string(kMaxClients) + " connections");
        (void)::send(c, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        ::close(c);
      } else if (c >= 0) {
        clients.emplace(c, Client{}), had_client = true;
      } else if (errno == EMFILE || errno == ENFILE) {
        ::usleep(10000);  // out of descriptors: let connections close rather than spin on the listener
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      const int c = fds[i].fd;
      auto found = clients.find(c);
      if (found == clients.end()) continue;  // dropped earlier in this round
      Client& cl = found->second;
      if ((fds[i].revents & POLLOUT) && !flush(c, cl)) {
        drop(c);
        continue;
      }
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (!receive(c, cl)) {  // disconnect (possibly mid-job): drop its memory only
        drop(c);
        continue;
      }
      // Every whole message received so far, in order; a partial one waits for its remaining bytes.
      size_t pos = 0;
      while (!cl.doomed && cl.in.size() - pos >= sizeof(npu_wire_header)) {
        npu_wire_header h;
        std::memcpy(&h, cl.in.data() + pos, sizeof h);
        if (h.len > NPU_WIRE_MAX_PAYLOAD || h.flags != 0) {
          send_error(c, h.req_id, dev.cycles(), NPU_EINVAL,
                     "bad message: len " + std::to_string(h.len) + " (max " + std::to_string(NPU_WIRE_MAX_PAYLOAD) +
                         ") or flags " + std::to_string(h.flags));
          cl.doomed = true;
          break;
        }
        if (cl.in.size() - pos < sizeof h + h.len) break;
        const std::vector<uint8_t> p(cl.in.begin() + static_cast<std::ptrdiff_t>(pos + sizeof h),
                                     cl.in.begin() + static_cast<std::ptrdiff_t>(pos + sizeof h + h.len));
        const uint64_t msg_end = cl.in_offset + pos + sizeof h + h.len;
        pos += sizeof h + h.len;
        // A MEM_ADD takes the oldest descriptor that arrived with or before its bytes.
        int passed = -1;
        if (h.type == NPU_MSG_MEM_ADD && !cl.fds.empty() && cl.fds.front().first < msg_end) {
          passed = cl.fds.front().second;
          cl.fds.pop_front();
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
          for (const auto& entry : clients) send_msg(entry.first, NPU_MSG_IRQ, 0, dev.cycles(), &l, 4);
        };
        auto ack = [&] {
          notify_irq();
          send_msg(c, NPU_MSG_ACK, h.req_id, dev.cycles(), nullptr, 0);
        };
        try {
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
                send_error(
                    c, h.req_id, dev.cycles(), NPU_ENOMEM,
                    "shared buffer of " + std::to_string(n) + " bytes (1 to " + std::to_string(kMaxRegion) + ")");
                break;
              }
              std::string clash;
              for (const auto& [b, r] : mem.regions)
                if (a < b + r.size && b < a + n) clash = std::to_string(b) + "+" + std::to_string(r.size);
              if (!clash.empty() || a + n < a) {
                send_error(c, h.req_id, dev.cycles(), NPU_EINVAL,
                           "device addresses " + std::to_string(a) + "+" + std::to_string(n) +
                               " overlap another buffer (" + clash + ")");
                break;
              }
              // The device touches the buffer at any time, so it must stay at least n bytes long: a
              // shorter file, or one the client shrinks later, would fault the server (SIGBUS) on
              // access. Hence a memfd of n bytes or more, sealed here against shrinking.
              struct stat st {};
              if (::fstat(passed, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) < n) {
                send_error(c, h.req_id, dev.cycles(), NPU_EINVAL,
                           "the buffer's file has " + std::to_string(st.st_size) + " bytes, fewer than the " +
                               std::to_string(n) + " declared (or is not a memfd)");
                break;
              }
              if (::fcntl(passed, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
                send_error(c, h.req_id, dev.cycles(), NPU_EINVAL,
                           std::string("cannot seal the buffer against shrinking (create it with memfd_create(..., "
                                       "MFD_ALLOW_SEALING)): ") +
                               std::strerror(errno));
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
              if (record.is_open()) record << "mem_remove " << a << "\n";
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
              cl.doomed = true;
              break;
            default:
              send_error(c, h.req_id, dev.cycles(), NPU_EINVAL, "unknown message type " + std::to_string(h.type));
              cl.doomed = true;
          }
        } catch (const std::exception& e) {  // a bug in the device model: this client hears of it, the server stays up
          std::fprintf(stderr, "npusim serve: internal error on message type %u: %s\n", h.type, e.what());
          send_error(c, h.req_id, dev.cycles(), NPU_EIO, std::string("internal error: ") + e.what());
        }
        if (passed >= 0) ::close(passed);  // mapped (or refused): the descriptor is no longer needed
        notify_irq();
      }
      cl.in.erase(cl.in.begin(), cl.in.begin() + static_cast<std::ptrdiff_t>(pos));
      cl.in_offset += pos;
    }
    // Protocol errors, BYE and clients that stopped reading: what can be sent goes, then the socket closes.
    std::vector<int> doomed;
    for (auto& [c, cl] : clients)
      if (cl.doomed) doomed.push_back(c);
    for (int c : doomed) {
      flush(c, clients.at(c));
      drop(c);
    }
  }
  std::vector<int> left;
  for (const auto& entry : clients) left.push_back(entry.first);
  for (int c : left) drop(c);
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
  bool backed(uint64_t addr, uint64_t len) override { return !len || at(addr, len) != nullptr; }
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

int replay(const config::NpuConfig& cfg, const std::string& trace_path, uint64_t max_memory_bytes) {
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
    // A malformed line is an input error (thrown, naming file:line); a read that differs is the
    // replay's finding (printed, return 1).
    auto malformed = [&](const std::string& why) {
      throw std::runtime_error(trace_path + ":" + std::to_string(n) + ": error: " + why);
    };
    // Numbers are decimal and the line ends after them.
    auto ends = [&] {
      std::string extra;
      return !(is >> extra);
    };
    if (op == "mem_add") {
      uint64_t a, size;
      if (!(is >> a >> size) || !ends() || size == 0 || size > (uint64_t{1} << 30) || a + size < a)
        malformed("expected mem_add ADDR SIZE (1 to 2^30 bytes)");
      uint64_t total = size;
      for (const auto& [b, r] : mem.regions) {
        if (b != a && a < b + r.size() && b < a + size)
          malformed("mem_add overlaps the buffer at " + std::to_string(b));
        if (b != a) total += r.size();
      }
      if (total > max_memory_bytes)
        malformed("the trace's buffers need " + std::to_string(total) + " bytes, over the replay's limit of " +
                  std::to_string(max_memory_bytes));
      mem.regions[a].assign(size, 0);
    } else if (op == "schedule_fault") {
      ScheduledFault f;
      if (!(is >> f.type >> f.arg >> f.count >> f.at_job) || !ends() || enum_name("fault_injection", f.type).empty() ||
          f.count < 1 || f.count > 255)
        malformed("expected schedule_fault TYPE ARG COUNT JOB (a fault_injection value, COUNT 1..255)");
      dev.schedule_fault(f);
    } else if (op == "mem_remove") {
      uint64_t a;
      if (!(is >> a) || !ends()) malformed("expected mem_remove ADDR");
      if (!mem.regions.erase(a)) malformed("mem_remove of " + std::to_string(a) + ": no buffer was added there");
    } else if (op == "load_mem") {
      uint64_t a;
      std::string hex;
      if (!(is >> a >> hex) || !ends() || hex.size() % 2) malformed("expected load_mem ADDR HEX");
      auto it = mem.regions.find(a);
      if (it == mem.regions.end() || it->second.size() != hex.size() / 2)
        malformed("load_mem of " + std::to_string(hex.size() / 2) + " bytes at " + std::to_string(a) +
                  ": no buffer of that address and size was added");
      auto nibble = [&](char c) -> uint8_t {
        if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
        if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
        if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
        malformed(std::string("load_mem: '") + c + "' is not a hex digit");
        return 0;
      };
      for (size_t i = 0; i < hex.size() / 2; ++i)
        it->second[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    } else if (op == "write_reg") {
      uint32_t off, v;
      if (!(is >> off >> v) || !ends()) malformed("expected write_reg OFFSET VALUE");
      dev.write(off, v);
      ++writes;
    } else if (op == "read_reg") {
      uint32_t off, want;
      if (!(is >> off >> want) || !ends()) malformed("expected read_reg OFFSET VALUE");
      const uint32_t got = dev.read(off);
      ++reads;
      if (got != want) {
        std::fprintf(stderr, "%s:%zu: error: register %s (offset %u) reads %u, the recording read %u\n",
                     trace_path.c_str(), n, dev.name_of(off).c_str(), off, got, want);
        return 1;
      }
    } else if (op == "idle") {
      uint64_t k;
      if (!(is >> k) || !ends()) malformed("expected idle CYCLES");
      dev.idle(k);
    } else {
      malformed("unknown operation '" + op +
                "' (expected mem_add, mem_remove, load_mem, write_reg, read_reg, idle or schedule_fault)");
    }
  }
  std::printf("%s: replayed %zu writes and %zu reads, every read as recorded; device at cycle %llu\n",
              trace_path.c_str(), writes, reads, static_cast<unsigned long long>(dev.cycles()));
  return 0;
}

}  // namespace npusim::device
