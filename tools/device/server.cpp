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
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include "base/input_file.h"
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

/// Host memory made of the clients' memfds, mapped at their device addresses; each client's
/// context sees only its own (ClientMemory).
class SharedMemory {
 public:
  struct Region {
    uint8_t* ptr;
    uint64_t size;
    int owner;              ///< client socket
    uint64_t recorded = 0;  ///< fingerprint of the bytes last written to the trace (0: none yet)
  };
  std::map<uint64_t, Region> regions;  ///< by device address
  ~SharedMemory() {
    for (auto& [a, r] : regions) ::munmap(r.ptr, r.size);
  }
  /// [addr, addr + len) inside one buffer of `owner`, else nullptr.
  uint8_t* at(int owner, uint64_t addr, uint64_t len) {
    auto it = regions.upper_bound(addr);
    if (it == regions.begin()) return nullptr;
    --it;
    if (it->second.owner != owner || addr + len < addr || addr + len > it->first + it->second.size) return nullptr;
    return it->second.ptr + (addr - it->first);
  }
  uint64_t bytes_of(int owner) const {
    uint64_t n = 0;
    for (const auto& [a, r] : regions)
      if (r.owner == owner) n += r.size;
    return n;
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

/// One client's view of host memory: its own buffers and nothing else.
class ClientMemory final : public HostMemory {
 public:
  ClientMemory(SharedMemory& all, int owner) : all_(all), owner_(owner) {}
  bool backed(uint64_t addr, uint64_t len) override { return !len || all_.at(owner_, addr, len) != nullptr; }
  bool read(uint64_t addr, void* dst, uint64_t len) override {
    if (!len) return true;
    uint8_t* p = all_.at(owner_, addr, len);
    if (p) std::memcpy(dst, p, len);
    return p != nullptr;
  }
  uint64_t shared_bytes() override { return all_.bytes_of(owner_); }
  bool write(uint64_t addr, const void* src, uint64_t len) override {
    if (!len) return true;
    uint8_t* p = all_.at(owner_, addr, len);
    if (p) std::memcpy(p, src, len), ++writes;
    return p != nullptr;
  }
  uint64_t writes = 0;  ///< device writes so far (the trace re-fingerprints buffers a write may have changed)

 private:
  SharedMemory& all_;  ///< every client's buffers
  int owner_;          ///< whose this view is
};

/// Host memory of no buffers: the context that answers identity reads before a client's HELLO.
class NoMemory final : public HostMemory {
 public:
  bool backed(uint64_t, uint64_t len) override { return !len; }
  bool read(uint64_t, void*, uint64_t len) override { return !len; }
  bool write(uint64_t, const void*, uint64_t len) override { return !len; }
  uint64_t shared_bytes() override { return 0; }
};

/// FNV-1a over a buffer: whether it changed since it was last written to the trace (never 0).
uint64_t fingerprint(const uint8_t* p, uint64_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h | 1;
}

/// Creates, binds and listens on the UNIX socket `path` with permissions `mode`. A path that exists
/// and is not a socket is refused (never deleted); a socket a live server accepts on is refused;
/// a stale one (nobody accepts) is replaced. Returns the listening descriptor and the socket's
/// inode (so it is unlinked at exit only if it is still ours).
std::pair<int, ino_t> listen_at(const std::string& path, unsigned mode) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw std::runtime_error(path + ": a socket path of " + std::to_string(path.size()) + " bytes is longer than the " +
                             std::to_string(sizeof addr.sun_path - 1) + " a UNIX socket allows");
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error(path + ": exists and is " + describe_file_type(st.st_mode) +
                               ", not a socket (npusim serve never deletes it; choose another --socket path)");
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(probe);
    if (live) throw std::runtime_error(path + ": another server is listening on this socket");
    ::unlink(path.c_str());  // stale: its server is gone
  }
  const int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // Created owner-only whatever the umask, then widened to `mode` if asked: no moment at which
  // another user could connect.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0 || ::listen(lfd, 16) != 0) {
    const int e = bound != 0 ? bind_errno : errno;
    ::close(lfd);
    throw std::runtime_error(path + ": " + std::strerror(e));
  }
  if (::chmod(path.c_str(), mode & 0777) != 0 || ::lstat(path.c_str(), &st) != 0) {
    const int e = errno;
    ::close(lfd);
    throw std::runtime_error(path + ": " + std::strerror(e));
  }
  return {lfd, st.st_ino};
}

constexpr uint64_t kMaxRegion = uint64_t{1} << 30;  ///< one shared buffer (1 GiB)
constexpr size_t kMaxUnsent = size_t{1} << 20;      ///< replies a client leaves unread before it is dropped
constexpr size_t kMaxHeldFds = 16;                  ///< descriptors a client may pass ahead of their MEM_ADD
constexpr size_t kMaxClients = 64;                  ///< connections at once (four hold queues; the rest may only probe)
constexpr size_t kMaxClientsPerProcess = 8;         ///< connections of one peer process (SO_PEERCRED)
constexpr uint64_t kWindowBytes = uint64_t{1} << 32;  ///< device addresses of one client's buffers

/// One connection. Sockets are read and written without blocking, so a client that stops halfway
/// through a message, or stops reading its replies, holds up nobody else.
struct Client {
  std::vector<uint8_t> in;                   ///< received bytes not yet a whole message
  uint64_t in_offset = 0;                    ///< stream offset of in[0]
  std::deque<std::pair<uint64_t, int>> fds;  ///< passed descriptors, each with the stream offset it came after
  std::vector<uint8_t> out;                  ///< framed replies the socket has not taken yet
  bool doomed = false;                       ///< drop at the end of this round (protocol error, BYE, not reading)
  pid_t pid = 0;                             ///< peer process (SO_PEERCRED)
  std::chrono::steady_clock::time_point last_heard;  ///< when it last sent anything (idle timeout)
  int queue = -1;                                    ///< its ring pair after HELLO (-1: none yet)
  std::unique_ptr<ClientMemory> mem;                 ///< its view of host memory (after HELLO)
  std::unique_ptr<Device> dev;                       ///< its context of the device (after HELLO)
  bool irq_level = false;                            ///< the level last sent to it
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
  // The register trace: every access with the context (queue) it went to, and before a doorbell
  // the buffers of that client that changed since they were last written (what the job sees).
  std::ofstream record;
  uint64_t recorded_bytes = 0;
  bool record_truncated = false;
  auto log = [&](const std::string& line) {
    if (!record.is_open() || record_truncated) return;
    if (opts.record_limit_bytes && recorded_bytes + line.size() + 1 > opts.record_limit_bytes) {
      record << "# truncated: the trace reached --record-limit (" << opts.record_limit_bytes << " bytes)\n";
      record.flush();
      record_truncated = true;
      std::fprintf(stderr, "npusim serve: %s reached its limit of %llu bytes; recording stopped\n",
                   opts.record_path.c_str(), static_cast<unsigned long long>(opts.record_limit_bytes));
      return;
    }
    record << line << '\n';
    recorded_bytes += line.size() + 1;
  };
  if (!opts.record_path.empty()) {
    record.open(opts.record_path);
    if (!record) throw std::runtime_error(opts.record_path + ": cannot write");
    log("# npusim register trace (npusim replay); config " + cfg.source);
    log(opts.shared_die ? "die shared" : "die own");
  }
  // With --shared-die every context runs on this one die (its clock, temperature and governor);
  // otherwise each client's context has a die of its own and this one only answers before HELLO.
  const auto shared_die = std::make_shared<Die>(cfg);
  const auto faults = std::make_shared<FaultSchedule>();  // --fault: at the device's N-th job, whoever runs it
  NoMemory no_memory;
  Device probe(cfg, no_memory, nullptr, shared_die);  // identity registers before HELLO
  for (ScheduledFault f : opts.faults) {
    f.at_job = std::max<uint64_t>(f.at_job, 1);  // no context exists yet: "at once" is the first job
    log("schedule_fault " + std::to_string(f.type) + " " + std::to_string(f.arg) + " " + std::to_string(f.count) + " " +
        std::to_string(f.at_job));
    faults->schedule(f);
  }
  const auto [lfd, socket_inode] = listen_at(opts.socket_path, opts.socket_mode);
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
  // The device time a reply carries: that of the client's context (of the probe before HELLO).
  auto cycles_of = [&](int fd) {
    auto it = clients.find(fd);
    return it != clients.end() && it->second.dev ? it->second.dev->cycles() : probe.cycles();
  };
  auto send_msg = [&](int fd, uint16_t type, uint64_t req, const void* payload, uint32_t len) {
    queue_frame(fd, wire_frame(type, req, cycles_of(fd), payload, len));
  };
  auto send_error = [&](int fd, uint64_t req, int32_t code, const std::string& text) {
    queue_frame(fd, wire_error_frame(req, cycles_of(fd), code, text));
  };
  // Each client owns one queue (its ring pair), a context of the device and a 4 GiB window of
  // device addresses for its buffers.
  auto window_base = [](uint32_t q) { return (uint64_t{q} + 1) << 32; };
  auto drop = [&](int fd) {
    auto cl = clients.find(fd);
    if (cl != clients.end()) {
      for (const auto& [a, r] : mem.regions)
        if (r.owner == fd) log("q" + std::to_string(cl->second.queue) + " mem_remove " + std::to_string(a));
      if (cl->second.dev) log("q" + std::to_string(cl->second.queue) + " close");
      cl->second.dev.reset();  // its jobs, registers and counters go with it; nobody else's
      for (const auto& [at, held] : cl->second.fds) ::close(held);
    }
    mem.drop_owner(fd);
    if (cl != clients.end()) clients.erase(cl);
    ::close(fd);
  };
  const auto idle_limit = std::chrono::duration<double>(opts.idle_timeout_s);
  while (!g_stop && !(opts.exit_when_idle && had_client && clients.empty())) {
    std::vector<pollfd> fds{{lfd, POLLIN, 0}};
    for (const auto& [c, cl] : clients)
      fds.push_back({c, static_cast<short>(POLLIN | (cl.out.empty() ? 0 : POLLOUT)), 0});
    if (::poll(fds.data(), fds.size(), 200) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (fds[0].revents & POLLIN) {
      const int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      ucred peer{};
      socklen_t peer_len = sizeof peer;
      if (c >= 0) ::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len);
      const size_t same_process = static_cast<size_t>(std::count_if(
          clients.begin(), clients.end(), [&](const auto& e) { return peer.pid && e.second.pid == peer.pid; }));
      std::string refusal;
      if (c >= 0 && clients.size() >= kMaxClients)
        refusal = "more than " + std::to_string(kMaxClients) + " connections";
      else if (c >= 0 && same_process >= kMaxClientsPerProcess)
        refusal = "more than " + std::to_string(kMaxClientsPerProcess) + " connections from process " +
                  std::to_string(peer.pid);
      if (!refusal.empty()) {  // told why, then closed: the others are served
        const auto frame = wire_error_frame(0, probe.cycles(), NPU_EBUSY, refusal);
        (void)::send(c, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        ::close(c);
      } else if (c >= 0) {
        Client fresh;
        fresh.pid = peer.pid;
        fresh.last_heard = now;
        clients.emplace(c, std::move(fresh)), had_client = true;
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
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (opts.idle_timeout_s > 0 && now - cl.last_heard > idle_limit && !cl.doomed) {
          char limit[32];
          std::snprintf(limit, sizeof limit, "%g", opts.idle_timeout_s);
          send_error(c, 0, NPU_ETIMEDOUT,
                     std::string("idle for more than ") + limit + " s: the connection is closed and its queue freed");
          cl.doomed = true;
        }
        continue;
      }
      if (!receive(c, cl)) {  // disconnect (possibly mid-job): drop its memory only
        drop(c);
        continue;
      }
      cl.last_heard = std::chrono::steady_clock::now();
      const std::string ctx = "q" + std::to_string(cl.queue) + " ";  // trace prefix (after HELLO)
      // Every whole message received so far, in order; a partial one waits for its remaining bytes.
      size_t pos = 0;
      while (!cl.doomed && cl.in.size() - pos >= sizeof(npu_wire_header)) {
        npu_wire_header h;
        std::memcpy(&h, cl.in.data() + pos, sizeof h);
        if (h.len > NPU_WIRE_MAX_PAYLOAD || h.flags != 0) {
          send_error(c, h.req_id, NPU_EINVAL,
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
          send_error(c, h.req_id, NPU_EINVAL,
                     "message type " + std::to_string(h.type) + " needs " + std::to_string(n) + " payload bytes, got " +
                         std::to_string(h.len));
          return false;
        };
        // This client's interrupt line changed: it hears so before its reply. Only its own
        // context can have moved (a job runs in the context that rang its doorbell).
        auto notify_irq = [&] {
          if (!cl.dev || cl.dev->irq_level() == cl.irq_level) return;
          cl.irq_level = cl.dev->irq_level();
          const uint32_t l = cl.irq_level ? 1 : 0;
          send_msg(c, NPU_MSG_IRQ, 0, &l, 4);
        };
        auto ack = [&] {
          notify_irq();
          send_msg(c, NPU_MSG_ACK, h.req_id, nullptr, 0);
        };
        try {
          switch (h.type) {
            case NPU_MSG_HELLO: {
              if (!need(4)) break;
              uint32_t v;
              std::memcpy(&v, p.data(), 4);
              if (v != NPU_WIRE_VERSION) {
                send_error(c, h.req_id, NPU_EINVAL, "protocol version " + std::to_string(v) + " (server speaks 1)");
                break;
              }
              if (cl.queue < 0) {
                uint32_t q = 0;
                while (q < NPU_QUEUES && std::any_of(clients.begin(), clients.end(),
                                                     [&](auto& e) { return e.second.queue == static_cast<int>(q); }))
                  ++q;
                if (q == NPU_QUEUES) {
                  send_error(c, h.req_id, NPU_EBUSY, "every queue is taken by another client");
                  break;
                }
                cl.queue = static_cast<int>(q);
                cl.mem = std::make_unique<ClientMemory>(mem, c);
                cl.dev =
                    std::make_unique<Device>(cfg, *cl.mem, nullptr, opts.shared_die ? shared_die : nullptr, faults);
                cl.dev->set_job_wall_limit(opts.job_wall_limit_s);
                log("q" + std::to_string(q) + " open");
              }
              const auto q = static_cast<uint32_t>(cl.queue);
              uint8_t r[48] = {};
              const uint32_t ver = NPU_WIRE_VERSION, id = cl.dev->read(NPU_REG_DEV_ID);
              const uint64_t hash = cfg.hash(), hz = static_cast<uint64_t>(cfg.clock_hz), base = window_base(q),
                             size = kWindowBytes;
              std::memcpy(r, &ver, 4), std::memcpy(r + 4, &id, 4), std::memcpy(r + 8, &hash, 8),
                  std::memcpy(r + 16, &hz, 8);
              std::memcpy(r + 24, &q, 4), std::memcpy(r + 32, &base, 8), std::memcpy(r + 40, &size, 8);
              send_msg(c, NPU_MSG_HELLO_ACK, h.req_id, r, sizeof r);
              break;
            }
            case NPU_MSG_MEM_ADD: {
              if (!need(16)) break;
              uint64_t a, n;
              std::memcpy(&a, p.data(), 8), std::memcpy(&n, p.data() + 8, 8);
              if (passed < 0) {
                send_error(c, h.req_id, NPU_EINVAL, "MEM_ADD without a file descriptor");
                break;
              }
              if (cl.queue < 0) {
                send_error(c, h.req_id, NPU_EINVAL, "MEM_ADD before HELLO");
                break;
              }
              const uint64_t base = window_base(static_cast<uint32_t>(cl.queue));
              if (a < base || a - base >= kWindowBytes || n > kWindowBytes - (a - base)) {
                send_error(c, h.req_id, NPU_EINVAL,
                           "device address " + std::to_string(a) + " is outside this client's window");
                break;
              }
              if (n == 0 || n > kMaxRegion) {
                send_error(
                    c, h.req_id, NPU_ENOMEM,
                    "shared buffer of " + std::to_string(n) + " bytes (1 to " + std::to_string(kMaxRegion) + ")");
                break;
              }
              std::string clash;
              for (const auto& [b, r] : mem.regions)
                if (a < b + r.size && b < a + n) clash = std::to_string(b) + "+" + std::to_string(r.size);
              if (!clash.empty()) {
                send_error(c, h.req_id, NPU_EINVAL,
                           "device addresses " + std::to_string(a) + "+" + std::to_string(n) +
                               " overlap another buffer (" + clash + ")");
                break;
              }
              // The device touches the buffer at any time, so it must stay at least n bytes long: a
              // shorter file, or one the client shrinks later, would fault the server (SIGBUS) on
              // access. Hence a memfd of n bytes or more, sealed here against shrinking.
              struct stat st {};
              if (::fstat(passed, &st) != 0 || !S_ISREG(st.st_mode)) {
                send_error(c, h.req_id, NPU_EINVAL, "the buffer's descriptor is not a memfd (nor a regular file)");
                break;
              }
              if (static_cast<uint64_t>(st.st_size) < n) {
                send_error(c, h.req_id, NPU_EINVAL,
                           "the buffer's file has " + std::to_string(st.st_size) + " bytes, fewer than the " +
                               std::to_string(n) + " declared");
                break;
              }
              if (::fcntl(passed, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
                send_error(c, h.req_id, NPU_EINVAL,
                           std::string("cannot seal the buffer against shrinking (create it with memfd_create(..., "
                                       "MFD_ALLOW_SEALING)): ") +
                               std::strerror(errno));
                break;
              }
              void* ptr = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, passed, 0);
              if (ptr == MAP_FAILED) {
                send_error(c, h.req_id, NPU_ENOMEM, std::string("cannot map the buffer: ") + std::strerror(errno));
                break;
              }
              mem.regions[a] = {static_cast<uint8_t*>(ptr), n, c};
              log(ctx + "mem_add " + std::to_string(a) + " " + std::to_string(n));
              ack();
              break;
            }
            case NPU_MSG_MEM_REMOVE: {
              if (!need(8)) break;
              uint64_t a;
              std::memcpy(&a, p.data(), 8);
              auto it = mem.regions.find(a);
              if (it == mem.regions.end() || it->second.owner != c) {
                send_error(c, h.req_id, NPU_ENOENT, "no buffer of this client at that address");
                break;
              }
              ::munmap(it->second.ptr, it->second.size);
              mem.regions.erase(it);
              log(ctx + "mem_remove " + std::to_string(a));
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
                send_error(c, h.req_id, NPU_EINVAL,
                           "MMIO offset " + std::to_string(off) + " outside the window or unaligned");
                break;
              }
              const int owner = Device::queue_of(off);
              if (cl.dev && owner >= 0 && owner != cl.queue) {
                send_error(c, h.req_id, NPU_EPERM,
                           "register " + probe.name_of(off) + " belongs to queue " + std::to_string(owner) +
                               "; this client owns queue " + std::to_string(cl.queue));
                break;
              }
              if (wr && probe.access_of(off) == 0) {  // (another queue's: EPERM above)
                send_error(c, h.req_id, NPU_EINVAL, "register " + probe.name_of(off) + " is read-only");
                break;
              }
              // Before HELLO only the identity registers answer; after it, a client reaches its
              // own context, and in it only its own queue's registers.
              if (!cl.dev && (wr || off >= NPU_REG_CTRL)) {
                send_error(c, h.req_id, NPU_EPERM,
                           "register " + (probe.name_of(off).empty() ? std::to_string(off) : probe.name_of(off)) +
                               " before HELLO (only the identity registers below CTRL can be read)");
                break;
              }
              Device& dev = cl.dev ? *cl.dev : probe;
              if (!wr) {
                v = dev.read(off);
                if (cl.dev) log(ctx + "read_reg " + std::to_string(off) + " " + std::to_string(v));
                send_msg(c, NPU_MSG_MMIO_READ_RESP, h.req_id, &v, 4);
                break;
              }
              if (record.is_open() && probe.name_of(off).find("SQ_DOORBELL") != std::string::npos)
                for (auto& [a, r] : mem.regions) {  // what the job will see, where it changed
                  if (r.owner != c) continue;
                  const uint64_t now_print = fingerprint(r.ptr, r.size);
                  if (now_print == r.recorded) continue;
                  r.recorded = now_print;
                  log(ctx + "load_mem " + std::to_string(a) + " " + hex_bytes(r.ptr, r.size));
                }
              log(ctx + "write_reg " + std::to_string(off) + " " + std::to_string(v));
              const uint64_t writes_before = cl.mem ? cl.mem->writes : 0;
              dev.write(off, v);
              if (record.is_open() && cl.mem && cl.mem->writes != writes_before)
                for (auto& [a, r] : mem.regions)  // the replay's device writes the same bytes: track them
                  if (r.owner == c && r.recorded) r.recorded = fingerprint(r.ptr, r.size);
              ack();
              break;
            }
            case NPU_MSG_SYNC: {
              if (!need(8)) break;
              uint64_t until;
              std::memcpy(&until, p.data(), 8);
              if (!cl.dev) {  // device time is a context's: a client has none before HELLO
                send_error(c, h.req_id, NPU_EINVAL, "SYNC before HELLO");
                break;
              }
              if (until > cl.dev->cycles()) {
                log(ctx + "idle " + std::to_string(until - cl.dev->cycles()));
                cl.dev->idle(until - cl.dev->cycles());
              }
              ack();
              break;
            }
            case NPU_MSG_PERF: {
              if (!need(8)) break;
              uint64_t s;
              std::memcpy(&s, p.data(), 8);
              JobCounters k;
              if (!cl.dev || !cl.dev->counters(s, k)) {  // seqnos are per context: only this client's jobs
                send_error(c, h.req_id, NPU_ENOENT, "no counters for seqno " + std::to_string(s));
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
              send_msg(c, NPU_MSG_PERF_RESP, h.req_id, r, sizeof r);
              break;
            }
            case NPU_MSG_BYE:
              ack();
              cl.doomed = true;
              break;
            default:
              send_error(c, h.req_id, NPU_EINVAL, "unknown message type " + std::to_string(h.type));
              cl.doomed = true;
          }
        } catch (const std::exception& e) {  // a bug in the device model: this client hears of it, the server stays up
          std::fprintf(stderr, "npusim serve: internal error on message type %u: %s\n", h.type, e.what());
          send_error(c, h.req_id, NPU_EIO, std::string("internal error: ") + e.what());
        }
        if (passed >= 0) ::close(passed);  // mapped (or refused): the descriptor is no longer needed
        notify_irq();
      }
      cl.in.erase(cl.in.begin(), cl.in.begin() + static_cast<std::ptrdiff_t>(pos));
      cl.in_offset += pos;
    }
    // Protocol errors, BYE, idle clients and clients that stopped reading: what can be sent goes,
    // then the socket closes.
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
  // Unlinked only while it is still the socket this server made (not one a later server put there).
  struct stat st {};
  if (::lstat(opts.socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == socket_inode)
    ::unlink(opts.socket_path.c_str());
  return 0;
}

namespace {

/// Host memory rebuilt from a trace's mem_add / load_mem lines, each buffer with its context.
class ReplayMemory {
 public:
  struct Buffer {
    std::vector<uint8_t> bytes;
    int owner;  ///< context (queue) that added it; -1 in a trace without contexts
  };
  std::map<uint64_t, Buffer> regions;
  uint8_t* at(int owner, uint64_t addr, uint64_t len) {
    auto it = regions.upper_bound(addr);
    if (it == regions.begin()) return nullptr;
    --it;
    if ((owner >= 0 && it->second.owner != owner) || addr + len < addr ||
        addr + len > it->first + it->second.bytes.size())
      return nullptr;
    return it->second.bytes.data() + (addr - it->first);
  }
};

/// One context's view, as ClientMemory is in the server (owner -1: every buffer, for traces
/// recorded before contexts existed).
class ReplayView final : public HostMemory {
 public:
  ReplayView(ReplayMemory& all, int owner) : all_(all), owner_(owner) {}
  bool backed(uint64_t addr, uint64_t len) override { return !len || all_.at(owner_, addr, len) != nullptr; }
  bool read(uint64_t addr, void* dst, uint64_t len) override {
    uint8_t* p = len ? all_.at(owner_, addr, len) : nullptr;
    if (p) std::memcpy(dst, p, len);
    return p || !len;
  }
  bool write(uint64_t addr, const void* src, uint64_t len) override {
    uint8_t* p = len ? all_.at(owner_, addr, len) : nullptr;
    if (p) std::memcpy(p, src, len);
    return p || !len;
  }
  uint64_t shared_bytes() override {
    if (owner_ < 0) return UINT64_MAX;
    uint64_t n = 0;
    for (const auto& [a, b] : all_.regions)
      if (b.owner == owner_) n += b.bytes.size();
    return n;
  }

 private:
  ReplayMemory& all_;
  int owner_;
};

}  // namespace

int replay(const config::NpuConfig& cfg, const std::string& trace_path, uint64_t max_memory_bytes) {
  require_input_file(trace_path, "register trace");  // a directory or a FIFO is refused, not replayed as empty
  std::ifstream in(trace_path);
  if (!in) throw std::runtime_error(trace_path + ": cannot open");
  ReplayMemory mem;
  // "die own" (recorded without --shared-die): each context has a die of its own; otherwise, and
  // in traces recorded before the line existed, every context runs on this one.
  bool own_dies = false;
  const auto die = std::make_shared<Die>(cfg);
  const auto faults = std::make_shared<FaultSchedule>();  // the device's, as the server's
  uint64_t latest_cycle = 0;                              // the furthest device time any context reached
  struct Context {
    std::unique_ptr<ReplayView> view;
    std::unique_ptr<Device> dev;
  };
  std::map<int, Context> contexts;  ///< by queue; -1: the one context of a trace without contexts
  auto open_context = [&](int q) {
    Context& c = contexts[q];
    c.view = std::make_unique<ReplayView>(mem, q);
    c.dev = std::make_unique<Device>(cfg, *c.view, nullptr, own_dies ? nullptr : die, faults);
  };
  std::string line;
  size_t n = 0, reads = 0, writes = 0, n_ops = 0;
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
    // "qN OP ...": the operation of context (queue) N; without the prefix, of the trace's one context.
    int q = -1;
    if (op.size() > 1 && op[0] == 'q') {
      if (op.size() > 2 || op[1] < '0' || op[1] >= static_cast<char>('0' + NPU_QUEUES))
        malformed("'" + op + "': expected a context q0 to q" + std::to_string(NPU_QUEUES - 1));
      q = op[1] - '0';
      if (!(is >> op)) malformed("expected an operation after the context");
    }
    if (op == "die") {
      std::string mode;
      if (q >= 0 || !(is >> mode) || !ends() || (mode != "own" && mode != "shared"))
        malformed("expected die own or die shared");
      if (n_ops > 0) malformed("'die' must come before the trace's first operation");
      own_dies = mode == "own";
      continue;
    }
    ++n_ops;
    if (op == "open" || op == "close") {
      if (q < 0 || !ends()) malformed("expected qN " + op);
      if ((op == "open") == (contexts.count(q) > 0))
        malformed("context q" + std::to_string(q) + (op == "open" ? " is already open" : " is not open"));
      if (op == "open") {
        open_context(q);
      } else {
        latest_cycle = std::max(latest_cycle, contexts[q].dev->cycles());
        contexts.erase(q);
        for (auto it = mem.regions.begin(); it != mem.regions.end();)  // its buffers go with it
          it = it->second.owner == q ? mem.regions.erase(it) : std::next(it);
      }
      continue;
    }
    // Register operations go to the line's context; a trace without contexts has one of its own.
    auto context = [&]() -> Device& {
      if (q < 0 && !contexts.count(-1)) open_context(-1);
      auto it = contexts.find(q);
      if (it == contexts.end()) malformed("context q" + std::to_string(q) + " is not open");
      return *it->second.dev;
    };
    if (op == "mem_add") {
      uint64_t a, size;
      if (!(is >> a >> size) || !ends() || size == 0 || size > (uint64_t{1} << 30) || a + size < a)
        malformed("expected mem_add ADDR SIZE (1 to 2^30 bytes)");
      if (q >= 0 && !contexts.count(q)) malformed("context q" + std::to_string(q) + " is not open");
      uint64_t total = size;
      for (const auto& [b, r] : mem.regions) {
        if (b != a && a < b + r.bytes.size() && b < a + size)
          malformed("mem_add overlaps the buffer at " + std::to_string(b));
        if (b != a) total += r.bytes.size();
      }
      if (total > max_memory_bytes)
        malformed("the trace's buffers need " + std::to_string(total) + " bytes, over the replay's limit of " +
                  std::to_string(max_memory_bytes));
      mem.regions[a] = {std::vector<uint8_t>(size, 0), q};
    } else if (op == "schedule_fault") {
      ScheduledFault f;
      if (!(is >> f.type >> f.arg >> f.count >> f.at_job) || !ends() || enum_name("fault_injection", f.type).empty() ||
          f.count < 1 || f.count > 255)
        malformed("expected schedule_fault TYPE ARG COUNT JOB (a fault_injection value, COUNT 1..255)");
      if (!faults->schedule(f)) context().schedule_fault(f);  // due already: armed in the line's context
    } else if (op == "mem_remove") {
      uint64_t a;
      if (!(is >> a) || !ends()) malformed("expected mem_remove ADDR");
      auto it = mem.regions.find(a);
      if (it == mem.regions.end() || (q >= 0 && it->second.owner != q))
        malformed("mem_remove of " + std::to_string(a) + ": no buffer was added there");
      mem.regions.erase(it);
    } else if (op == "load_mem") {
      uint64_t a;
      std::string hex;
      if (!(is >> a >> hex) || !ends() || hex.size() % 2) malformed("expected load_mem ADDR HEX");
      auto it = mem.regions.find(a);
      if (it == mem.regions.end() || it->second.bytes.size() != hex.size() / 2 || (q >= 0 && it->second.owner != q))
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
        it->second.bytes[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    } else if (op == "write_reg") {
      uint32_t off, v;
      if (!(is >> off >> v) || !ends()) malformed("expected write_reg OFFSET VALUE");
      context().write(off, v);
      ++writes;
    } else if (op == "read_reg") {
      uint32_t off, want;
      if (!(is >> off >> want) || !ends()) malformed("expected read_reg OFFSET VALUE");
      Device& dev = context();
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
      if (q < 0 && !own_dies)
        die->idle(k);  // the shared die, whether or not a context is open
      else
        context().idle(k);
    } else {
      malformed("unknown operation '" + op +
                "' (expected die, open, close, mem_add, mem_remove, load_mem, write_reg, read_reg, idle or "
                "schedule_fault)");
    }
  }
  latest_cycle = std::max(latest_cycle, die->cycles());
  for (const auto& [at, c] : contexts) latest_cycle = std::max(latest_cycle, c.dev->cycles());
  std::printf("%s: replayed %zu writes and %zu reads, every read as recorded; device at cycle %llu\n",
              trace_path.c_str(), writes, reads, static_cast<unsigned long long>(latest_cycle));
  return 0;
}

}  // namespace npusim::device
