// The C API (include/npusim/npu.h): a user-mode driver over a transport that reaches the device's
// registers and shares host memory with it. "sim:CONFIG.yaml": device::Device in this process;
// "unix:PATH": `npusim serve` over the socket protocol of include/npusim/wire.h, buffer objects as
// memfds the server maps. Every queue gets a 64-entry submission ring, a 64-entry completion ring
// and a fence.
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <Eigen/Core>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "isa/npub.h"
#include "npusim/npu.h"
#include "npusim/wire.h"
#include "sim/npu_config.h"
#include "tools/device/device.h"
#include "tools/device/wire_io.h"

namespace {

/// Why the last failing call on this thread failed (npu_last_error).
thread_local std::string t_last_error;

constexpr uint32_t kRingEntries = 64;

/// What the driver logic needs from a device: registers, shared memory, time, counters.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual uint32_t read(uint32_t off) = 0;
  virtual void write(uint32_t off, uint32_t v) = 0;
  virtual bool irq() = 0;
  virtual uint64_t cycles() = 0;
  virtual void idle(uint64_t cycles) = 0;
  virtual bool counters(uint64_t seqno, npu_perf_counts& out) = 0;
  /// NPU_E* of the last read or write the device refused (NPU_OK when it was served).
  virtual int last_access_error() { return NPU_OK; }
  /// Memory the device sees at [addr, addr + size); nullptr on failure.
  virtual uint8_t* map(uint64_t addr, uint64_t size) = 0;
  virtual void unmap(uint64_t addr, uint8_t* ptr, uint64_t size) = 0;
  virtual double clock_hz() = 0;
  virtual uint64_t config_hash() = 0;
  /// The ring pairs this client may use, and where its buffers go in device address space.
  virtual std::vector<uint32_t> queues() = 0;
  virtual uint64_t window_base() = 0;
};

/// In-process: the device and its host memory live here.
class LocalTransport final : public Transport, public npusim::device::HostMemory {
 public:
  explicit LocalTransport(const npusim::config::NpuConfig& cfg)
      : cfg_(cfg), dev_(std::make_unique<npusim::device::Device>(cfg_, *this, nullptr)) {}
  uint32_t read(uint32_t off) override { return dev_->read(off); }
  void write(uint32_t off, uint32_t v) override { dev_->write(off, v); }
  bool irq() override { return dev_->irq_level(); }
  uint64_t cycles() override { return dev_->cycles(); }
  void idle(uint64_t c) override { dev_->idle(c); }
  bool counters(uint64_t seqno, npu_perf_counts& out) override {
    npusim::device::JobCounters k;
    if (!dev_->counters(seqno, k)) return false;
    out = {k.cycles,   k.instructions, k.macs,       k.dram_read_bytes, k.dram_write_bytes, k.mxu_busy,
           k.vpu_busy, k.load_busy,    k.store_busy, k.sem_wait,        k.energy_j};
    return true;
  }
  uint8_t* map(uint64_t addr, uint64_t size) override {
    auto& v = mem_[addr];
    v.assign(size, 0);
    return v.data();
  }
  void unmap(uint64_t addr, uint8_t*, uint64_t) override { mem_.erase(addr); }
  double clock_hz() override { return cfg_.clock_hz; }
  uint64_t config_hash() override { return cfg_.hash(); }
  std::vector<uint32_t> queues() override { return {0, 1, 2, 3}; }
  uint64_t window_base() override { return 0x10000000; }
  // Device-side DMA.
  uint64_t shared_bytes() override {
    uint64_t n = 0;
    for (const auto& [a, v] : mem_) n += v.size();
    return n;
  }
  bool backed(uint64_t addr, uint64_t len) override { return !len || at(addr, len) != nullptr; }
  bool read(uint64_t addr, void* dst, uint64_t len) override {
    uint8_t* p = at(addr, len);
    if (p && len) std::memcpy(dst, p, len);
    return p || !len;
  }
  bool write(uint64_t addr, const void* src, uint64_t len) override {
    uint8_t* p = at(addr, len);
    if (p && len) std::memcpy(p, src, len);
    return p || !len;
  }

 private:
  uint8_t* at(uint64_t addr, uint64_t len) {
    auto it = mem_.upper_bound(addr);
    if (it == mem_.begin() || !len) return nullptr;
    --it;
    if (addr + len < addr || addr + len > it->first + it->second.size()) return nullptr;
    return it->second.data() + (addr - it->first);
  }
  npusim::config::NpuConfig cfg_;
  std::map<uint64_t, std::vector<uint8_t>> mem_;
  std::unique_ptr<npusim::device::Device> dev_;
};

/// Out of process: `npusim serve` over its socket; buffers are memfds shared with the server.
class SocketTransport final : public Transport {
 public:
  /// Connects and says HELLO; NPU_OK, or an NPU_E* code with t_last_error saying why.
  int connect_to(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) {
      t_last_error = "unix:" + path + ": socket path longer than " + std::to_string(sizeof a.sun_path - 1) + " bytes";
      return NPU_EINVAL;
    }
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      t_last_error =
          "unix:" + path + ": " + std::strerror(errno) + " (is `npusim serve --socket " + path + "` running?)";
      return NPU_ENOENT;
    }
    connected_ = true;
    const uint32_t v = NPU_WIRE_VERSION;
    std::vector<uint8_t> r;
    if (!call(NPU_MSG_HELLO, &v, 4, -1, r) || r.size() != 48) return last_code_ ? last_code_ : NPU_EIO;
    std::memcpy(&hash_, r.data() + 8, 8);
    std::memcpy(&queue_, r.data() + 24, 4);
    std::memcpy(&base_, r.data() + 32, 8);
    uint64_t hz;
    std::memcpy(&hz, r.data() + 16, 8);
    hz_ = static_cast<double>(hz);
    return NPU_OK;
  }
  ~SocketTransport() override {
    if (fd_ < 0) return;
    if (connected_) {  // a polite goodbye, which must not replace the reason of a failed open
      const std::string reason = t_last_error;
      std::vector<uint8_t> r;
      call(NPU_MSG_BYE, nullptr, 0, -1, r);
      t_last_error = reason;
    }
    ::close(fd_);
  }
  uint32_t read(uint32_t off) override {
    std::vector<uint8_t> r;
    uint32_t v = 0;
    if (call(NPU_MSG_MMIO_READ, &off, 4, -1, r) && r.size() == 4) std::memcpy(&v, r.data(), 4);
    return v;
  }
  void write(uint32_t off, uint32_t v) override {
    const uint32_t p[2] = {off, v};
    std::vector<uint8_t> r;
    call(NPU_MSG_MMIO_WRITE, p, 8, -1, r);
  }
  bool irq() override { return level_; }
  int last_access_error() override { return last_code_ == NPU_EPERM ? NPU_EPERM : NPU_OK; }
  uint64_t cycles() override { return cycle_; }
  void idle(uint64_t c) override {
    const uint64_t until = c > UINT64_MAX - cycle_ ? UINT64_MAX : cycle_ + c;  // saturating
    std::vector<uint8_t> r;
    call(NPU_MSG_SYNC, &until, 8, -1, r);
  }
  bool counters(uint64_t seqno, npu_perf_counts& out) override {
    std::vector<uint8_t> r;
    if (!call(NPU_MSG_PERF, &seqno, 8, -1, r) || r.size() != 88) return false;
    uint64_t v[11];
    std::memcpy(v, r.data(), sizeof v);
    out = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], static_cast<double>(v[10]) * 1e-12};
    return true;
  }
  uint8_t* map(uint64_t addr, uint64_t size) override {
    const int m = ::memfd_create("npusim-bo", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m < 0 || ::ftruncate(m, static_cast<off_t>(size)) != 0) return nullptr;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    const uint64_t payload[2] = {addr, size};
    std::vector<uint8_t> r;
    const bool ok = p != MAP_FAILED && call(NPU_MSG_MEM_ADD, payload, 16, m, r);
    ::close(m);
    if (!ok) {
      if (p != MAP_FAILED) ::munmap(p, size);
      return nullptr;
    }
    return static_cast<uint8_t*>(p);
  }
  void unmap(uint64_t addr, uint8_t* ptr, uint64_t size) override {
    std::vector<uint8_t> r;
    call(NPU_MSG_MEM_REMOVE, &addr, 8, -1, r);
    ::munmap(ptr, size);
  }
  double clock_hz() override { return hz_; }
  uint64_t config_hash() override { return hash_; }
  std::vector<uint32_t> queues() override { return {queue_}; }
  uint64_t window_base() override { return base_; }

 private:
  /// One request and its reply (IRQ messages on the way update the line). False on ERROR or a
  /// broken connection.
  bool call(uint16_t type, const void* payload, uint32_t len, int pass_fd, std::vector<uint8_t>& reply) {
    const uint64_t req = ++req_;
    last_code_ = 0;
    auto lost = [&] {
      t_last_error = "the connection to npusim serve was lost";
      last_code_ = NPU_EIO;
      return false;
    };
    if (!npusim::device::wire_send(fd_, type, req, 0, payload, len, pass_fd)) return lost();
    for (;;) {
      npu_wire_header r;
      if (!recv_all(&r, sizeof r)) return lost();
      reply.assign(r.len, 0);
      if (r.len && !recv_all(reply.data(), r.len)) return lost();
      cycle_ = r.device_cycle;
      if (r.type == NPU_MSG_IRQ) {
        if (reply.size() == 4) level_ = reply[0] != 0;
        continue;
      }
      if (r.type == NPU_MSG_ERROR) {  // the server's reason, for npu_last_error
        t_last_error = "npusim serve: " + (reply.size() > 4 ? std::string(reply.begin() + 4, reply.end()) : "error");
        if (reply.size() >= 4) std::memcpy(&last_code_, reply.data(), 4);
        if (std::getenv("NPUSIM_DEBUG")) std::fprintf(stderr, "%s\n", t_last_error.c_str());
      }
      return r.req_id == req && r.type != NPU_MSG_ERROR;
    }
  }
  bool recv_all(void* d, size_t len) {
    char* p = static_cast<char*>(d);
    while (len) {
      const ssize_t n = ::recv(fd_, p, len, 0);
      if (n < 0 && errno == EINTR) continue;  // a signal in the driver process is no error
      if (n <= 0) return false;
      p += n, len -= static_cast<size_t>(n);
    }
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;  ///< connect() succeeded
  int32_t last_code_ = 0;   ///< NPU_E* of the last ERROR reply (0: none)
  uint32_t queue_ = 0;
  uint64_t req_ = 0, cycle_ = 0, hash_ = 0, base_ = 0;
  double hz_ = 1e9;
  bool level_ = false;
};

struct Bo {
  uint64_t addr = 0, size = 0;  ///< device address, bytes
  uint8_t* ptr = nullptr;       ///< mapped here
};

}  // namespace

struct npu_device {
  std::unique_ptr<Transport> t;
  std::map<uint32_t, Bo> bos;  ///< by handle
  uint32_t next_handle = 1;
  uint64_t next_addr = 0;    ///< next buffer's device address (in the transport's window)
  std::vector<uint32_t> hw;  ///< the device queues this handle uses (logical queue i -> hw[i])
  uint64_t next_seqno = 1;
  uint32_t sq_bo[NPU_QUEUES] = {}, cq_bo[NPU_QUEUES] = {}, fence_bo = 0;
  uint32_t sq_tail[NPU_QUEUES] = {}, cq_head[NPU_QUEUES] = {};
  uint8_t cq_phase[NPU_QUEUES] = {};
  std::map<uint64_t, npu_result> done;   ///< completed jobs
  std::map<uint64_t, uint32_t> pending;  ///< submitted, not completed: seqno -> queue

  uint32_t create(uint64_t size, uint64_t* addr) {
    Bo b;
    b.addr = next_addr;
    b.size = size;
    b.ptr = t->map(b.addr, size);
    if (!b.ptr) return 0;
    next_addr += (size + 4095) / 4096 * 4096 + 4096;  // a guard page between objects
    const uint32_t h = next_handle++;
    if (addr) *addr = b.addr;
    bos.emplace(h, b);
    return h;
  }
  uint8_t* ptr(uint32_t h) { return bos.at(h).ptr; }
  uint64_t addr_of(uint32_t h) { return bos.at(h).addr; }
  void w(uint32_t off, uint32_t v) { t->write(off, v); }
  /// The driver's ring set-up (at open and after a hard reset).
  void init_rings() {
    for (uint32_t q = 0; q < hw.size(); ++q) {
      const uint32_t d = hw[q];
      const uint64_t sq = addr_of(sq_bo[q]), cq = addr_of(cq_bo[q]), fence = addr_of(fence_bo) + 8 * q;
      w(NPU_Q_SQ_BASE_LO(d), static_cast<uint32_t>(sq));
      w(NPU_Q_SQ_BASE_HI(d), static_cast<uint32_t>(sq >> 32));
      w(NPU_Q_SQ_SIZE(d), kRingEntries);
      w(NPU_Q_CQ_BASE_LO(d), static_cast<uint32_t>(cq));
      w(NPU_Q_CQ_BASE_HI(d), static_cast<uint32_t>(cq >> 32));
      w(NPU_Q_CQ_SIZE(d), kRingEntries);
      w(NPU_Q_FENCE_LO(d), static_cast<uint32_t>(fence));
      w(NPU_Q_FENCE_HI(d), static_cast<uint32_t>(fence >> 32));
      w(NPU_Q_Q_CTRL(d), 1);
      sq_tail[q] = cq_head[q] = 0;
      cq_phase[q] = 1;
      std::memset(ptr(cq_bo[q]), 0, kRingEntries * sizeof(npu_completion_entry));
    }
    w(NPU_REG_INT_ENABLE, 0xFF);
    w(NPU_REG_CTRL, NPU_CTRL_ENABLE_MASK);
  }
  /// Consumes new completion entries (phase bit), then tells the device with the CQ doorbell.
  void drain() {
    for (uint32_t q = 0; q < hw.size(); ++q) {
      bool any = false;
      for (;;) {
        npu_completion_entry c;
        std::memcpy(&c, ptr(cq_bo[q]) + cq_head[q] * sizeof c, sizeof c);
        if (c.phase != cq_phase[q]) break;
        done[c.seqno] = {c.status, c.err_code, c.err_insn, c.err_engine, c.cycles};
        pending.erase(c.seqno);
        cq_head[q] = (cq_head[q] + 1) % kRingEntries;
        if (cq_head[q] == 0) cq_phase[q] ^= 1;
        any = true;
      }
      if (any) w(NPU_DB_CQ_DOORBELL(hw[q]), cq_head[q]);
    }
    w(NPU_REG_INT_STATUS, 0xFFFFFFFF);  // acknowledge
  }
  uint64_t time_ns() { return static_cast<uint64_t>(static_cast<double>(t->cycles()) / t->clock_hz() * 1e9); }
};

extern "C" {

int npu_open(const char* uri, npu_device** out) {
  if (!uri || !out) return NPU_EINVAL;
  const std::string u = uri;
  auto d = std::make_unique<npu_device>();
  t_last_error.clear();
  if (u.rfind("sim:", 0) == 0) {
    const std::string path = u.substr(4);
    if (::access(path.c_str(), R_OK) != 0) {
      t_last_error = path + ": " + std::strerror(errno);
      return NPU_ENOENT;
    }
    try {
      d->t = std::make_unique<LocalTransport>(npusim::config::load_npu_config(path));
    } catch (const std::exception& e) {  // a config the schema rejects: its file:line and key
      t_last_error = e.what();
      return NPU_EINVAL;
    }
  } else if (u.rfind("unix:", 0) == 0) {
    auto s = std::make_unique<SocketTransport>();
    if (const int rc = s->connect_to(u.substr(5)); rc != NPU_OK) return rc;
    d->t = std::move(s);
  } else {
    t_last_error = "'" + u + "': expected sim:CONFIG.yaml or unix:SOCKET";
    return NPU_ENOENT;
  }
  d->hw = d->t->queues();
  d->next_addr = d->t->window_base();
  for (uint32_t q = 0; q < d->hw.size(); ++q) {
    d->sq_bo[q] = d->create(kRingEntries * sizeof(npu_job_entry), nullptr);
    d->cq_bo[q] = d->create(kRingEntries * sizeof(npu_completion_entry), nullptr);
    if (!d->sq_bo[q] || !d->cq_bo[q]) return NPU_ENOMEM;
  }
  d->fence_bo = d->create(8 * NPU_QUEUES, nullptr);
  d->init_rings();
  *out = d.release();
  return NPU_OK;
}

void npu_close(npu_device* dev) {
  if (!dev) return;
  for (auto& [h, b] : dev->bos) dev->t->unmap(b.addr, b.ptr, b.size);
  delete dev;
}

int npu_query(npu_device* dev, uint32_t what, void* buf, size_t* size) {
  if (!dev || !size) return NPU_EINVAL;
  if (what != NPU_QUERY_IDENTITY) return NPU_EINVAL;
  if (!buf || *size < sizeof(npu_identity)) {
    *size = sizeof(npu_identity);
    return buf ? NPU_EINVAL : NPU_OK;
  }
  npu_identity id{};
  auto r = [&](uint32_t off) { return dev->t->read(off); };
  id.dev_id = r(NPU_REG_DEV_ID), id.version = r(NPU_REG_VERSION), id.platform = r(NPU_REG_PLATFORM);
  id.config0 = r(NPU_REG_CONFIG0), id.config1 = r(NPU_REG_CONFIG1), id.config2 = r(NPU_REG_CONFIG2);
  id.features = r(NPU_REG_FEATURES);
  id.queues = static_cast<uint32_t>(dev->hw.size());
  id.config_hash = (uint64_t{r(NPU_REG_CONFIG_HASH_HI)} << 32) | r(NPU_REG_CONFIG_HASH_LO);
  id.clock_hz = static_cast<uint64_t>(dev->t->clock_hz());
  std::memcpy(buf, &id, sizeof id);
  *size = sizeof id;
  return NPU_OK;
}

int npu_bo_create(npu_device* dev, uint64_t size, uint32_t* handle, uint64_t* dev_addr) {
  if (!dev || !handle || size == 0) return NPU_EINVAL;
  if (size > (uint64_t{1} << 32)) return NPU_ENOMEM;  // 4 GiB per object in this transport
  *handle = dev->create(size, dev_addr);
  return *handle ? NPU_OK : NPU_ENOMEM;
}

void* npu_bo_map(npu_device* dev, uint32_t handle) {
  if (!dev) return nullptr;
  auto it = dev->bos.find(handle);
  return it == dev->bos.end() ? nullptr : it->second.ptr;
}

int npu_bo_sync(npu_device* dev, uint32_t handle) {
  return dev && dev->bos.count(handle) ? NPU_OK : NPU_EINVAL;
}

int npu_bo_destroy(npu_device* dev, uint32_t handle) {
  if (!dev || !dev->bos.count(handle)) return NPU_EINVAL;
  for (uint32_t q = 0; q < NPU_QUEUES; ++q)
    if (handle == dev->sq_bo[q] || handle == dev->cq_bo[q]) return NPU_EINVAL;  // the driver's own
  if (handle == dev->fence_bo) return NPU_EINVAL;
  const Bo b = dev->bos.at(handle);
  dev->t->unmap(b.addr, b.ptr, b.size);
  dev->bos.erase(handle);
  return NPU_OK;
}

int npu_submit(npu_device* dev, uint32_t queue, const npu_job* job, uint64_t* seqno) {
  if (!dev || !job || !seqno || queue >= dev->hw.size() || job->struct_size != sizeof(npu_job) ||
      job->region_count > 16 || job->reserved != 0 || (job->flags & ~NPU_JOB_FLAG_IRQ_ON_DONE))
    return NPU_EINVAL;
  auto prog = dev->bos.find(job->program_bo);
  if (prog == dev->bos.end() || job->program_offset + job->program_bytes > prog->second.size ||
      job->program_bytes > UINT32_MAX)
    return NPU_EINVAL;
  dev->drain();
  const uint32_t head = dev->t->read(NPU_Q_SQ_HEAD(dev->hw[queue]));
  if ((dev->sq_tail[queue] + 1) % kRingEntries == head) return NPU_EBUSY;
  // The region table: 16 x {u64 address, u64 size}.
  uint64_t table_addr = 0;
  const uint32_t table = dev->create(16 * 16, &table_addr);
  if (!table) return NPU_ENOMEM;
  uint8_t* t = dev->ptr(table);
  for (uint32_t i = 0; i < job->region_count; ++i) {
    uint64_t a = 0, n = 0;
    if (job->region_bo[i]) {
      auto it = dev->bos.find(job->region_bo[i]);
      if (it == dev->bos.end() || job->region_offset[i] > it->second.size) return NPU_EINVAL;
      a = it->second.addr + job->region_offset[i];
      n = it->second.size - job->region_offset[i];
    }
    std::memcpy(t + 16 * i, &a, 8);
    std::memcpy(t + 16 * i + 8, &n, 8);
  }
  npu_job_entry e{};
  e.magic = NPU_JOB_MAGIC;
  e.flags = job->flags;
  e.seqno = dev->next_seqno++;
  e.program_addr = prog->second.addr + job->program_offset;
  e.program_bytes = static_cast<uint32_t>(job->program_bytes);
  e.timeout_cycles = job->timeout_cycles;
  e.region_table_addr = table_addr;
  e.region_count = job->region_count;
  std::memcpy(dev->ptr(dev->sq_bo[queue]) + dev->sq_tail[queue] * sizeof e, &e, sizeof e);
  dev->sq_tail[queue] = (dev->sq_tail[queue] + 1) % kRingEntries;
  dev->pending[e.seqno] = queue;
  *seqno = e.seqno;
  dev->w(NPU_DB_SQ_DOORBELL(dev->hw[queue]), dev->sq_tail[queue]);  // the device runs it now
  return NPU_OK;
}

uint64_t npu_time_ns(npu_device* dev) {
  return dev ? dev->time_ns() : 0;
}

int npu_wait(npu_device* dev, uint64_t seqno, uint64_t deadline_ns, npu_result* result) {
  if (!dev) return NPU_EINVAL;
  dev->drain();
  auto it = dev->done.find(seqno);
  if (it == dev->done.end()) {
    if (!dev->pending.count(seqno)) return NPU_ENOENT;
    // Not done (hung, or a halted queue): device time passes until the deadline.
    const uint64_t now = dev->time_ns();
    if (deadline_ns > now) {  // (an "infinite" deadline saturates at 2^63 cycles)
      const double cycles = static_cast<double>(deadline_ns - now) * dev->t->clock_hz() / 1e9;
      dev->t->idle(cycles < 0x1p63 ? static_cast<uint64_t>(cycles) : uint64_t{1} << 63);
    }
    return NPU_ETIMEDOUT;
  }
  if (result) *result = it->second;
  return it->second.status == NPU_JOB_OK ? NPU_OK : NPU_EIO;
}

int npu_perf(npu_device* dev, uint64_t seqno, npu_perf_counts* out) {
  if (!dev || !out) return NPU_EINVAL;
  return dev->t->counters(seqno, *out) ? NPU_OK : NPU_ENOENT;
}

int npu_reset(npu_device* dev, uint32_t kind) {
  if (!dev || (kind != NPU_RESET_KIND_SOFT && kind != NPU_RESET_KIND_HARD)) return NPU_EINVAL;
  dev->w(NPU_REG_RESET, kind == NPU_RESET_KIND_HARD ? NPU_RESET_HARD_MASK : NPU_RESET_SOFT_MASK);
  if (dev->t->read(NPU_REG_STATUS) & NPU_STATUS_RESET_PENDING_MASK) return NPU_ETIMEDOUT;
  if (kind == NPU_RESET_KIND_HARD) {
    // Every register is back at reset: the driver sets up its rings again; jobs in flight are lost.
    for (auto& [s, q] : dev->pending) dev->done[s] = {NPU_JOB_ABORTED, 0, 0xFFFFFFFF, 0, 0};
    dev->pending.clear();
    dev->init_rings();
  } else {
    dev->drain();  // the ABORTED completions
  }
  return NPU_OK;
}

int npu_fault_inject(npu_device* dev, uint32_t type, uint32_t count, uint32_t arg) {
  if (!dev || type == 0 || type > NPU_FI_STUCK_RESET || count > 255) return NPU_EINVAL;
  dev->w(NPU_REG_FI_ARG, arg);
  dev->w(NPU_REG_FI_CTRL, (type << NPU_FI_CTRL_TYPE_SHIFT) | (count << NPU_FI_CTRL_COUNT_SHIFT));
  return NPU_OK;
}

int npu_mmio_read(npu_device* dev, uint32_t offset, uint32_t* value) {
  if (!dev || !value || offset >= NPU_MMIO_WINDOW_BYTES || (offset & 3)) return NPU_EINVAL;
  *value = dev->t->read(offset);
  return dev->t->last_access_error();
}

int npu_mmio_write(npu_device* dev, uint32_t offset, uint32_t value) {
  if (!dev || offset >= NPU_MMIO_WINDOW_BYTES || (offset & 3)) return NPU_EINVAL;
  dev->t->write(offset, value);
  return dev->t->last_access_error();
}

int npu_irq_level(npu_device* dev) {
  return dev && dev->t->irq() ? 1 : 0;
}

// Parses a .npub image for the program-inspection calls; false when it is not a valid program.
static bool parse_npub(const void* npub, size_t bytes, npusim::isa::Program& p) {
  try {
    p = npusim::isa::read_npub(static_cast<const uint8_t*>(npub), bytes);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

int npu_program_regions(const void* npub, size_t bytes, npu_region_info* out, uint32_t* count) {
  if (!npub || !count) return NPU_EINVAL;
  npusim::isa::Program p;
  if (!parse_npub(npub, bytes, p)) return NPU_EINVAL;
  const auto n = static_cast<uint32_t>(p.regions.size());
  for (uint32_t i = 0; i < std::min(n, *count) && out; ++i) {
    const auto& r = p.regions[i];
    out[i] = {};
    out[i].size = r.size;
    out[i].role = r.role == npusim::isa::RegionRole::Input    ? NPU_REGION_INPUT
                  : r.role == npusim::isa::RegionRole::Output ? NPU_REGION_OUTPUT
                  : r.role == npusim::isa::RegionRole::Const  ? NPU_REGION_CONST
                                                              : NPU_REGION_SCRATCH;
    std::strncpy(out[i].name, r.name.c_str(), sizeof out[i].name - 1);
  }
  *count = n;
  return NPU_OK;
}

int npu_program_io(const void* npub, size_t bytes, npu_io_info* out, uint32_t* count) {
  if (!npub || !count) return NPU_EINVAL;
  npusim::isa::Program p;
  if (!parse_npub(npub, bytes, p)) return NPU_EINVAL;
  const auto n = static_cast<uint32_t>(p.io.size());
  for (uint32_t i = 0; i < std::min(n, *count) && out; ++i) {
    const auto& t = p.io[i];
    out[i] = {};
    std::strncpy(out[i].name, t.name.c_str(), sizeof out[i].name - 1);
    out[i].region = t.region;
    out[i].role = p.regions[t.region].role == npusim::isa::RegionRole::Input ? NPU_REGION_INPUT : NPU_REGION_OUTPUT;
    out[i].dtype = static_cast<uint32_t>(t.dtype);
    out[i].host_type = static_cast<uint32_t>(t.host_type);
    out[i].host_nchw = t.host_nchw ? 1 : 0;
    out[i].rank = t.rank;
    for (int k = 0; k < 4; ++k) out[i].dims[k] = t.dims[k];
    out[i].offset = t.offset;
  }
  *count = n;
  return NPU_OK;
}

namespace {

/// Bytes of one device element of NPU_DTYPE `d` (0 for none).
size_t device_element_bytes(uint32_t d) {
  return d <= NPU_DTYPE_U8 ? 1 : d == NPU_DTYPE_I16 || d == NPU_DTYPE_FP16 || d == NPU_DTYPE_BF16 ? 2 : d <= 6 ? 4 : 0;
}

/// Bytes of one user element of `io`.
size_t user_element_bytes(const npu_io_info& io) {
  switch (io.host_type) {
    case NPU_HOST_F32: return 4;
    case NPU_HOST_I64: return 8;
    case NPU_HOST_BOOL: return 1;
    default: return device_element_bytes(io.dtype);
  }
}

/// Elements of `io` (0 for a malformed entry).
uint64_t io_elements(const npu_io_info& io) {
  if (io.rank < 1 || io.rank > 4 || (io.host_nchw && io.rank != 4)) return 0;
  uint64_t n = 1;
  for (uint32_t k = 0; k < io.rank; ++k) n *= io.dims[k];
  return n;
}

/// The device index of user element `i`: NCHW to NHWC when the entry says so.
uint64_t device_index(const npu_io_info& io, uint64_t i) {
  if (!io.host_nchw) return i;
  const uint64_t h = io.dims[1], w = io.dims[2], c = io.dims[3];                       // device dims: N, H, W, C
  const uint64_t x = i % w, y = i / w % h, ch = i / (w * h) % c, b = i / (w * h * c);  // user: N, C, H, W
  return ((b * h + y) * w + x) * c + ch;
}

}  // namespace

int npu_io_to_device(const npu_io_info* io, const void* user, size_t user_bytes, void* device, size_t device_bytes) {
  if (!io || !user || !device) return NPU_EINVAL;
  const uint64_t n = io_elements(*io);
  const size_t ds = device_element_bytes(io->dtype), us = user_element_bytes(*io);
  if (n == 0 || ds == 0 || user_bytes != n * us || device_bytes != n * ds) return NPU_EINVAL;
  const auto* u = static_cast<const uint8_t*>(user);
  auto* d = static_cast<uint8_t*>(device);
  const bool fp = io->dtype == NPU_DTYPE_FP16 || io->dtype == NPU_DTYPE_BF16;
  for (uint64_t i = 0; i < n; ++i) {
    uint8_t* to = d + ds * device_index(*io, i);
    const uint8_t* from = u + us * i;
    if (io->host_type == NPU_HOST_F32 && fp) {  // round to nearest even, as the host's conversions
      float v;
      std::memcpy(&v, from, 4);
      const uint16_t b = io->dtype == NPU_DTYPE_FP16 ? Eigen::numext::bit_cast<uint16_t>(Eigen::half(v))
                                                     : Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(v));
      std::memcpy(to, &b, 2);
    } else if (io->host_type == NPU_HOST_I64 && io->dtype == NPU_DTYPE_I32) {
      int64_t v;
      std::memcpy(&v, from, 8);
      if (v < INT32_MIN || v > INT32_MAX) return NPU_EINVAL;
      const auto x = static_cast<int32_t>(v);
      std::memcpy(to, &x, 4);
    } else if (io->host_type == NPU_HOST_BOOL) {
      *to = *from != 0;
    } else if (us == ds) {
      std::memcpy(to, from, ds);
    } else {
      return NPU_EINVAL;  // a host type this device type does not convert from
    }
  }
  return NPU_OK;
}

int npu_io_from_device(const npu_io_info* io, const void* device, size_t device_bytes, void* user, size_t user_bytes) {
  if (!io || !user || !device) return NPU_EINVAL;
  const uint64_t n = io_elements(*io);
  const size_t ds = device_element_bytes(io->dtype), us = user_element_bytes(*io);
  if (n == 0 || ds == 0 || user_bytes != n * us || device_bytes != n * ds) return NPU_EINVAL;
  const auto* d = static_cast<const uint8_t*>(device);
  auto* u = static_cast<uint8_t*>(user);
  const bool fp = io->dtype == NPU_DTYPE_FP16 || io->dtype == NPU_DTYPE_BF16;
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t* from = d + ds * device_index(*io, i);
    uint8_t* to = u + us * i;
    if (io->host_type == NPU_HOST_F32 && fp) {
      uint16_t b;
      std::memcpy(&b, from, 2);
      const float v = io->dtype == NPU_DTYPE_FP16 ? static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(b))
                                                  : static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(b));
      std::memcpy(to, &v, 4);
    } else if (io->host_type == NPU_HOST_I64 && io->dtype == NPU_DTYPE_I32) {
      int32_t x;
      std::memcpy(&x, from, 4);
      const int64_t v = x;
      std::memcpy(to, &v, 8);
    } else if (io->host_type == NPU_HOST_BOOL) {
      *to = *from != 0;
    } else if (us == ds) {
      std::memcpy(to, from, ds);
    } else {
      return NPU_EINVAL;
    }
  }
  return NPU_OK;
}

const char* npu_strerror(int code) {
  switch (code) {
    case NPU_OK: return "ok";
    case NPU_EINVAL: return "invalid argument";
    case NPU_ENOENT: return "no such device, seqno or buffer";
    case NPU_ENOMEM: return "out of device memory";
    case NPU_ETIMEDOUT: return "timed out";
    case NPU_EIO: return "the job failed on the device";
    case NPU_EBUSY: return "busy (submission ring full, or every queue taken)";
    case NPU_EPERM: return "not permitted (another client's register)";
    default: return "unknown error";
  }
}

const char* npu_last_error(void) {
  return t_last_error.c_str();
}

}  // extern "C"
