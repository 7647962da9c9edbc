// The C API (include/npusim/npu.h) over the in-process transport: a user-mode driver for
// device::Device. Buffer objects are host memory at device addresses the device reaches by DMA;
// every queue gets a 64-entry submission ring, a 64-entry completion ring and a fence.
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "isa/npub.h"
#include "npusim/npu.h"
#include "sim/config/npu_config.h"
#include "sim/device/device.h"

namespace {

constexpr uint32_t kRingEntries = 64;

struct Bo {
  uint64_t addr = 0;           ///< device address
  std::vector<uint8_t> bytes;  ///< contents
};

/// Host memory: the buffer objects, by device address.
class BoMemory final : public npusim::device::HostMemory {
 public:
  std::map<uint32_t, Bo> bos;  ///< by handle
  uint8_t* at(uint64_t addr, uint64_t len) {
    for (auto& [h, b] : bos)
      if (addr >= b.addr && addr + len <= b.addr + b.bytes.size() && addr + len >= addr)
        return b.bytes.data() + (addr - b.addr);
    return nullptr;
  }
  bool read(uint64_t addr, void* dst, uint64_t len) override {
    if (len == 0) return true;
    uint8_t* p = at(addr, len);
    if (!p) return false;
    std::memcpy(dst, p, len);
    return true;
  }
  bool write(uint64_t addr, const void* src, uint64_t len) override {
    if (len == 0) return true;
    uint8_t* p = at(addr, len);
    if (!p) return false;
    std::memcpy(p, src, len);
    return true;
  }
};

}  // namespace

struct npu_device {
  npusim::config::NpuConfig cfg;
  BoMemory mem;
  std::unique_ptr<npusim::device::Device> dev;
  uint32_t next_handle = 1;
  uint64_t next_addr = 0x10000000;
  uint64_t next_seqno = 1;
  uint32_t sq_bo[NPU_QUEUES] = {}, cq_bo[NPU_QUEUES] = {}, fence_bo = 0;
  uint32_t sq_tail[NPU_QUEUES] = {}, cq_head[NPU_QUEUES] = {};
  uint8_t cq_phase[NPU_QUEUES] = {};
  std::map<uint64_t, npu_result> done;   ///< completed jobs
  std::map<uint64_t, uint32_t> pending;  ///< submitted, not completed: seqno -> queue

  uint32_t create(uint64_t size, uint64_t* addr) {
    Bo b;
    b.addr = next_addr;
    b.bytes.assign(size, 0);
    next_addr += (size + 4095) / 4096 * 4096 + 4096;  // a guard page between objects
    const uint32_t h = next_handle++;
    if (addr) *addr = b.addr;
    mem.bos.emplace(h, std::move(b));
    return h;
  }
  uint64_t addr_of(uint32_t h) { return mem.bos.at(h).addr; }
  void w(uint32_t off, uint32_t v) { dev->write(off, v); }
  /// The driver's ring set-up (at open and after a hard reset).
  void init_rings() {
    for (uint32_t q = 0; q < NPU_QUEUES; ++q) {
      const uint64_t sq = addr_of(sq_bo[q]), cq = addr_of(cq_bo[q]), fence = addr_of(fence_bo) + 8 * q;
      w(NPU_Q_SQ_BASE_LO(q), static_cast<uint32_t>(sq));
      w(NPU_Q_SQ_BASE_HI(q), static_cast<uint32_t>(sq >> 32));
      w(NPU_Q_SQ_SIZE(q), kRingEntries);
      w(NPU_Q_CQ_BASE_LO(q), static_cast<uint32_t>(cq));
      w(NPU_Q_CQ_BASE_HI(q), static_cast<uint32_t>(cq >> 32));
      w(NPU_Q_CQ_SIZE(q), kRingEntries);
      w(NPU_Q_FENCE_LO(q), static_cast<uint32_t>(fence));
      w(NPU_Q_FENCE_HI(q), static_cast<uint32_t>(fence >> 32));
      w(NPU_Q_Q_CTRL(q), 1);
      sq_tail[q] = cq_head[q] = 0;
      cq_phase[q] = 1;
      std::fill(mem.bos.at(cq_bo[q]).bytes.begin(), mem.bos.at(cq_bo[q]).bytes.end(), 0);
    }
    w(NPU_REG_INT_ENABLE, 0xFF);
    w(NPU_REG_CTRL, NPU_CTRL_ENABLE_MASK);
  }
  /// Consumes new completion entries (phase bit), then tells the device with the CQ doorbell.
  void drain() {
    for (uint32_t q = 0; q < NPU_QUEUES; ++q) {
      bool any = false;
      for (;;) {
        npu_completion_entry c;
        std::memcpy(&c, mem.bos.at(cq_bo[q]).bytes.data() + cq_head[q] * sizeof c, sizeof c);
        if (c.phase != cq_phase[q]) break;
        done[c.seqno] = {c.status, c.err_code, c.err_insn, c.err_engine, c.cycles};
        pending.erase(c.seqno);
        cq_head[q] = (cq_head[q] + 1) % kRingEntries;
        if (cq_head[q] == 0) cq_phase[q] ^= 1;
        any = true;
      }
      if (any) w(NPU_DB_CQ_DOORBELL(q), cq_head[q]);
    }
    w(NPU_REG_INT_STATUS, 0xFFFFFFFF);  // acknowledge
  }
  uint64_t time_ns() const { return static_cast<uint64_t>(static_cast<double>(dev->cycles()) / cfg.clock_hz * 1e9); }
};

extern "C" {

int npu_open(const char* uri, npu_device** out) {
  if (!uri || !out) return NPU_EINVAL;
  const std::string u = uri;
  if (u.rfind("sim:", 0) != 0) return NPU_ENOENT;
  auto d = std::make_unique<npu_device>();
  try {
    d->cfg = npusim::config::load_npu_config(u.substr(4));
  } catch (const std::exception&) {
    return NPU_ENOENT;
  }
  d->dev = std::make_unique<npusim::device::Device>(d->cfg, d->mem, nullptr);
  for (uint32_t q = 0; q < NPU_QUEUES; ++q) {
    d->sq_bo[q] = d->create(kRingEntries * sizeof(npu_job_entry), nullptr);
    d->cq_bo[q] = d->create(kRingEntries * sizeof(npu_completion_entry), nullptr);
  }
  d->fence_bo = d->create(8 * NPU_QUEUES, nullptr);
  d->init_rings();
  *out = d.release();
  return NPU_OK;
}

void npu_close(npu_device* dev) {
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
  auto r = [&](uint32_t off) { return dev->dev->read(off); };
  id.dev_id = r(NPU_REG_DEV_ID), id.version = r(NPU_REG_VERSION), id.platform = r(NPU_REG_PLATFORM);
  id.config0 = r(NPU_REG_CONFIG0), id.config1 = r(NPU_REG_CONFIG1), id.config2 = r(NPU_REG_CONFIG2);
  id.features = r(NPU_REG_FEATURES);
  id.config_hash = (uint64_t{r(NPU_REG_CONFIG_HASH_HI)} << 32) | r(NPU_REG_CONFIG_HASH_LO);
  id.clock_hz = static_cast<uint64_t>(dev->cfg.clock_hz);
  std::memcpy(buf, &id, sizeof id);
  *size = sizeof id;
  return NPU_OK;
}

int npu_bo_create(npu_device* dev, uint64_t size, uint32_t* handle, uint64_t* dev_addr) {
  if (!dev || !handle || size == 0) return NPU_EINVAL;
  if (size > (uint64_t{1} << 32)) return NPU_ENOMEM;  // 4 GiB per object in this transport
  *handle = dev->create(size, dev_addr);
  return NPU_OK;
}

void* npu_bo_map(npu_device* dev, uint32_t handle) {
  if (!dev) return nullptr;
  auto it = dev->mem.bos.find(handle);
  return it == dev->mem.bos.end() ? nullptr : it->second.bytes.data();
}

int npu_bo_sync(npu_device* dev, uint32_t handle) {
  return dev && dev->mem.bos.count(handle) ? NPU_OK : NPU_EINVAL;
}

int npu_bo_destroy(npu_device* dev, uint32_t handle) {
  if (!dev || !dev->mem.bos.count(handle)) return NPU_EINVAL;
  for (uint32_t q = 0; q < NPU_QUEUES; ++q)
    if (handle == dev->sq_bo[q] || handle == dev->cq_bo[q]) return NPU_EINVAL;  // the driver's own
  if (handle == dev->fence_bo) return NPU_EINVAL;
  dev->mem.bos.erase(handle);
  return NPU_OK;
}

int npu_submit(npu_device* dev, uint32_t queue, const npu_job* job, uint64_t* seqno) {
  if (!dev || !job || !seqno || queue >= NPU_QUEUES || job->struct_size != sizeof(npu_job) || job->region_count > 16 ||
      job->reserved != 0 || (job->flags & ~NPU_JOB_FLAG_IRQ_ON_DONE))
    return NPU_EINVAL;
  auto prog = dev->mem.bos.find(job->program_bo);
  if (prog == dev->mem.bos.end() || job->program_offset + job->program_bytes > prog->second.bytes.size() ||
      job->program_bytes > UINT32_MAX)
    return NPU_EINVAL;
  dev->drain();
  const uint32_t head = dev->dev->read(NPU_Q_SQ_HEAD(queue));
  if ((dev->sq_tail[queue] + 1) % kRingEntries == head) return NPU_EBUSY;
  // The region table: 16 x {u64 address, u64 size}.
  uint64_t table_addr = 0;
  const uint32_t table = dev->create(16 * 16, &table_addr);
  auto* t = static_cast<uint8_t*>(npu_bo_map(dev, table));
  for (uint32_t i = 0; i < job->region_count; ++i) {
    uint64_t a = 0, n = 0;
    if (job->region_bo[i]) {
      auto it = dev->mem.bos.find(job->region_bo[i]);
      if (it == dev->mem.bos.end() || job->region_offset[i] > it->second.bytes.size()) return NPU_EINVAL;
      a = it->second.addr + job->region_offset[i];
      n = it->second.bytes.size() - job->region_offset[i];
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
  std::memcpy(static_cast<uint8_t*>(npu_bo_map(dev, dev->sq_bo[queue])) + dev->sq_tail[queue] * sizeof e, &e, sizeof e);
  dev->sq_tail[queue] = (dev->sq_tail[queue] + 1) % kRingEntries;
  dev->pending[e.seqno] = queue;
  *seqno = e.seqno;
  dev->w(NPU_DB_SQ_DOORBELL(queue), dev->sq_tail[queue]);  // the device runs it now
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
    if (deadline_ns > now)
      dev->dev->idle(static_cast<uint64_t>(static_cast<double>(deadline_ns - now) * dev->cfg.clock_hz / 1e9));
    return NPU_ETIMEDOUT;
  }
  if (result) *result = it->second;
  return it->second.status == NPU_JOB_OK ? NPU_OK : NPU_EIO;
}

int npu_perf(npu_device* dev, uint64_t seqno, npu_perf_counts* out) {
  if (!dev || !out) return NPU_EINVAL;
  npusim::device::JobCounters k;
  if (!dev->dev->counters(seqno, k)) return NPU_ENOENT;
  *out = {k.cycles,   k.instructions, k.macs,       k.dram_read_bytes, k.dram_write_bytes, k.mxu_busy,
          k.vpu_busy, k.load_busy,    k.store_busy, k.sem_wait,        k.energy_j};
  return NPU_OK;
}

int npu_reset(npu_device* dev, uint32_t kind) {
  if (!dev || (kind != NPU_RESET_KIND_SOFT && kind != NPU_RESET_KIND_HARD)) return NPU_EINVAL;
  dev->w(NPU_REG_RESET, kind == NPU_RESET_KIND_HARD ? NPU_RESET_HARD_MASK : NPU_RESET_SOFT_MASK);
  if (dev->dev->read(NPU_REG_STATUS) & NPU_STATUS_RESET_PENDING_MASK) return NPU_ETIMEDOUT;
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
  *value = dev->dev->read(offset);
  return NPU_OK;
}

int npu_mmio_write(npu_device* dev, uint32_t offset, uint32_t value) {
  if (!dev || offset >= NPU_MMIO_WINDOW_BYTES || (offset & 3)) return NPU_EINVAL;
  dev->dev->write(offset, value);
  return NPU_OK;
}

int npu_irq_level(npu_device* dev) {
  return dev && dev->dev->irq_level() ? 1 : 0;
}

int npu_program_regions(const void* npub, size_t bytes, npu_region_info* out, uint32_t* count) {
  if (!npub || !count) return NPU_EINVAL;
  npusim::isa::Program p;
  try {
    p = npusim::isa::read_npub(static_cast<const uint8_t*>(npub), bytes);
  } catch (const std::exception&) {
    return NPU_EINVAL;
  }
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

const char* npu_strerror(int code) {
  switch (code) {
    case NPU_OK: return "ok";
    case NPU_EINVAL: return "invalid argument";
    case NPU_ENOENT: return "no such device, seqno or buffer";
    case NPU_ENOMEM: return "out of device memory";
    case NPU_ETIMEDOUT: return "timed out";
    case NPU_EIO: return "the job failed on the device";
    case NPU_EBUSY: return "submission ring full";
    default: return "unknown error";
  }
}

}  // extern "C"
