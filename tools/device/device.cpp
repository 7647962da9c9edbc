#include "tools/device/device.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "arch/thermal.h"
#include "isa/diag.h"
#include "isa/npub.h"
#include "npusim/regs.h"
#include "sim/run_power.h"

namespace npusim::device {

enum class Access { RO, RW, W1C, WO };

/// One register of arch/regs.yaml (arrays expanded).
struct Device::Reg {
  std::string name;
  uint32_t offset;
  Access access;
  bool config_reset;
  uint32_t reset;
  uint32_t value = 0;
};

namespace {

/// A const region left to the container (address 0) is zero-filled past its initial bytes: bounded,
/// since a container may declare any size.
constexpr uint64_t kMaxUnboundConstBytes = uint64_t{1} << 30;

struct RegDef {
  const char* name;
  uint32_t offset;
  Access access;
  bool config_reset;
  uint32_t reset;
  uint32_t count, stride;
};
const RegDef kRegs[] = {
#include "regs_table.inc"
};

/// One value of an enum of arch/regs.yaml.
struct EnumDef {
  const char* kind;
  const char* name;
  uint32_t value;
  const char* description;
};
const EnumDef kEnums[] = {
#include "regs_enums.inc"
};

uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

Device::Device(const config::NpuConfig& cfg, HostMemory& mem, std::function<void(bool)> irq, std::shared_ptr<Die> die,
               std::shared_ptr<FaultSchedule> faults)
    : cfg_(cfg),
      mem_(mem),
      irq_(std::move(irq)),
      die_(die ? std::move(die) : std::make_shared<Die>(cfg_)),
      faults_(faults ? std::move(faults) : std::make_shared<FaultSchedule>()) {
  for (const RegDef& d : kRegs)
    for (uint32_t i = 0; i < d.count; ++i) {
      const std::string name = d.count > 1 ? std::string(d.name) + "_" + std::to_string(i) : d.name;
      by_offset_[d.offset + i * d.stride] = regs_.size();
      by_name_[name] = regs_.size();
      regs_.push_back({name, d.offset + i * d.stride, d.access, d.config_reset, d.reset, 0});
    }
  reset_registers();
}

int Device::queue_of(uint32_t offset) {
  if (offset >= NPU_Q_SQ_BASE_LO(0) && offset < NPU_Q_SQ_BASE_LO(NPU_QUEUES))
    return static_cast<int>((offset - NPU_Q_SQ_BASE_LO(0)) / (NPU_Q_SQ_BASE_LO(1) - NPU_Q_SQ_BASE_LO(0)));
  if (offset >= NPU_DB_SQ_DOORBELL(0) && offset < NPU_DB_SQ_DOORBELL(NPU_QUEUES))
    return static_cast<int>((offset - NPU_DB_SQ_DOORBELL(0)) / (NPU_DB_SQ_DOORBELL(1) - NPU_DB_SQ_DOORBELL(0)));
  return -1;
}

Die::Die(const config::NpuConfig& cfg)
    : cfg_(cfg),
      net_(std::make_unique<arch::ThermalNetwork>(cfg.thermal, cfg.thermal.step_s)),
      gov_(arch::make_governor(cfg.governor)) {
  setting_ = gov_->initial();  // power-on: the die at ambient, the fastest operating point
  next_poll_s_ = cfg.governor.poll_s;
  temp_c_ = net_->max_temperature();
}

Die::~Die() = default;

void Die::idle(uint64_t cycles) {
  cycles = std::min(cycles, UINT64_MAX - cycle_);  // the counter saturates rather than wraps
  cycle_ += cycles;
  // Waiting costs leakage only; the die cools toward ambient.
  const double seconds = static_cast<double>(cycles) / setting_.hz;
  const arch::EnergyModel model(cfg_.power);
  advance(seconds, model.leakage_w(setting_.volts, net_->heat_node_temperature()) * seconds);
}

void Die::ran(uint64_t cycles, double seconds) {
  cycle_ += std::min(cycles, UINT64_MAX - cycle_);
  time_s_ += seconds;
  advance(0, 0);
}

void Die::advance(double seconds, double joules) {
  if (seconds > 0) {
    ThermalIntegrator heat(*net_);
    heat.feed(seconds, joules);
    heat.flush();
    time_s_ += seconds;
  }
  temp_c_ = net_->max_temperature();
  // The governor polls on its period of simulated time (jobs are far shorter than a poll).
  if (time_s_ >= next_poll_s_) {  // one poll however long the stretch was (it saw one temperature)
    setting_ = gov_->poll(temp_c_, setting_);
    next_poll_s_ = (std::floor(time_s_ / cfg_.governor.poll_s) + 1) * cfg_.governor.poll_s;
  }
}

std::vector<ScheduledFault> FaultSchedule::start_job() {
  ++jobs_started_;
  std::vector<ScheduledFault> due;
  for (auto it = scheduled_.begin(); it != scheduled_.end();)
    if (it->at_job == jobs_started_) {
      due.push_back(*it);
      it = scheduled_.erase(it);
    } else {
      ++it;
    }
  return due;
}

bool FaultSchedule::schedule(const ScheduledFault& f) {
  if (f.at_job <= jobs_started_) return false;
  scheduled_.push_back(f);
  return true;
}

Device::~Device() = default;

std::string enum_name(const std::string& kind, uint32_t value) {
  for (const EnumDef& e : kEnums)
    if (kind == e.kind && e.value == value) return e.name;
  return "";
}

ScheduledFault parse_fault(const std::string& spec) {
  std::vector<std::string> parts;
  for (size_t at = 0;;) {
    const size_t colon = spec.find(':', at);
    parts.push_back(spec.substr(at, colon == std::string::npos ? std::string::npos : colon - at));
    if (colon == std::string::npos) break;
    at = colon + 1;
  }
  std::string type = parts[0], names;
  for (char& c : type) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ScheduledFault f;
  for (const EnumDef& e : kEnums) {
    if (std::string(e.kind) != "fault_injection" || e.value == NPU_FI_NONE) continue;
    std::string lower = e.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    names += (names.empty() ? "" : ", ") + lower;
    if (type == e.name) f.type = e.value;
  }
  if (!f.type) throw std::invalid_argument("fault '" + parts[0] + "': expected one of " + names);
  const bool takes_insn = f.type == NPU_FI_BUS_ERROR || f.type == NPU_FI_ECC || f.type == NPU_FI_HANG_ENGINE;
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t eq = parts[i].find('=');
    const std::string key = parts[i].substr(0, eq);
    const std::string text = eq == std::string::npos ? "" : parts[i].substr(eq + 1);
    char* end = nullptr;
    const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end || text[0] == '-')
      throw std::invalid_argument("fault '" + spec + "': '" + parts[i] + "' expected KEY=N with N a whole number");
    if (key == "insn" && takes_insn && v <= UINT32_MAX) {
      f.arg = static_cast<uint32_t>(v);
    } else if (key == "factor" && f.type == NPU_FI_SLOW_DRAM && v >= 1 && v <= UINT32_MAX) {
      f.arg = static_cast<uint32_t>(v);
    } else if (key == "count" && v >= 1 && v <= 255) {
      f.count = static_cast<uint32_t>(v);
    } else if (key == "job") {
      f.at_job = v;
    } else {
      throw std::invalid_argument("fault '" + spec + "': '" + parts[i] + "': expected " +
                                  (takes_insn                   ? "insn=N, "
                                   : f.type == NPU_FI_SLOW_DRAM ? "factor=N (>= 1), "
                                                                : "") +
                                  "count=N (1..255) or job=N");
    }
  }
  if (f.type == NPU_FI_SLOW_DRAM && f.arg == 0) f.arg = 2;  // a slow-down needs a factor: twice as slow
  return f;
}

void Device::schedule_fault(const ScheduledFault& f) {
  if (faults_->schedule(f)) return;
  write(NPU_REG_FI_ARG, f.arg);
  write(NPU_REG_FI_CTRL,
        f.type << NPU_FI_CTRL_TYPE_SHIFT | (f.count << NPU_FI_CTRL_COUNT_SHIFT & NPU_FI_CTRL_COUNT_MASK));
}

void Device::idle(uint64_t cycles) {
  die_->idle(cycles);
}

uint32_t& Device::reg(const char* name) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw std::logic_error(std::string("no register ") + name);
  return regs_[it->second].value;
}

void Device::reset_registers() {
  const uint64_t hash = cfg_.hash();
  const bool rtl = cfg_.mxu.impl == "rtl";
  uint32_t dtype_mask = 0;
  const char* names[] = {"i8", "u8", "fp16", "bf16"};
  for (uint32_t i = 0; i < 4; ++i)
    if (std::find(cfg_.mxu.dtypes.begin(), cfg_.mxu.dtypes.end(), names[i]) != cfg_.mxu.dtypes.end())
      dtype_mask |= 1u << i;
  for (auto& r : regs_) {
    r.value = r.reset;
    if (!r.config_reset) continue;
    if (r.name == "PLATFORM")
      r.value = (rtl ? 2u : 1u) | ((rtl ? 1000u : 1u) << 16);  // wall us per 1000 device cycles: a hint
    else if (r.name == "CONFIG0")
      r.value = ((cfg_.mxu.rows - 1) & 0xFF) | (((cfg_.mxu.cols - 1) & 0xFF) << 8) | (0x1Fu << 16) | (dtype_mask << 24);
    else if (r.name == "CONFIG1")
      r.value = static_cast<uint32_t>(std::min<uint64_t>(cfg_.spad.size_bytes / 1024, 0xFFFF)) |
                (static_cast<uint32_t>(std::min<uint64_t>(cfg_.acc.size_bytes / 1024, 0xFFFF)) << 16);
    else if (r.name == "CONFIG2")
      r.value = ((cfg_.spad.line_bytes / 8) & 0xFF) | (NPU_QUEUES << 8) | (4u << 12) |
                (static_cast<uint32_t>(std::min(cfg_.clock_hz / 1e6, 65535.0)) << 16);
    else if (r.name == "FEATURES")
      r.value = 1u | (1u << 3) | (rtl ? 1u << 4 : 0u);
    else if (r.name == "CONFIG_HASH_LO")
      r.value = static_cast<uint32_t>(hash);
    else if (r.name == "CONFIG_HASH_HI")
      r.value = static_cast<uint32_t>(hash >> 32);
  }
  for (int q = 0; q < 8; ++q) sq_tail_[q] = cq_head_[q] = 0, cq_phase_[q] = 1, halted_[q] = false;
  hung_ = false;
  energy_j_ = 0;
  update_irq();
}

int Device::access_of(uint32_t offset) const {
  auto it = by_offset_.find(offset);
  return it == by_offset_.end() ? -1 : static_cast<int>(regs_[it->second].access);
}

std::string Device::name_of(uint32_t offset) const {
  auto it = by_offset_.find(offset);
  return it == by_offset_.end() ? std::string() : regs_[it->second].name;
}

bool Device::irq_level() const {
  return irq_line_;
}

void Device::update_irq() {
  const bool level = (reg("INT_STATUS") & reg("INT_ENABLE")) != 0;
  if (level != irq_line_) {
    irq_line_ = level;
    if (irq_) irq_(level);
  }
}

void Device::raise(uint32_t cause) {
  reg("INT_STATUS") |= cause;
  update_irq();
}

uint32_t Device::read(uint32_t offset) {
  auto it = by_offset_.find(offset);
  if (it == by_offset_.end()) return 0;
  Reg& r = regs_[it->second];
  if (r.access == Access::WO) return 0;
  if (r.name == "SCRATCH") return ~r.value;
  if (r.name == "CYCLE_LO") {
    cycle_hi_latch_ = static_cast<uint32_t>(die_->cycles() >> 32);
    return static_cast<uint32_t>(die_->cycles());
  }
  // The die's state, shared by every context.
  if (r.name == "TEMP_MC") return static_cast<uint32_t>(std::lround(std::max(0.0, die_->temperature_c()) * 1000));
  if (r.name == "THROTTLE_LEVEL") return static_cast<uint32_t>(die_->setting().level);
  if (r.name == "CYCLE_HI") return cycle_hi_latch_;
  if (r.name == "STATUS") {
    uint32_t s = r.value & ~(NPU_STATUS_BUSY_MASK | NPU_STATUS_IDLE_MASK | NPU_STATUS_HALTED_MASK);
    bool idle = !hung_, halted = false;
    for (uint32_t q = 0; q < NPU_QUEUES; ++q) {
      halted = halted || halted_[q];
      idle = idle && reg(("Q" + std::to_string(q) + "_SQ_HEAD").c_str()) == sq_tail_[q];
    }
    s = die_->setting().level > 0 ? s | NPU_STATUS_THROTTLED_MASK : s & ~NPU_STATUS_THROTTLED_MASK;
    return s | (hung_ ? NPU_STATUS_BUSY_MASK : 0) | (idle ? NPU_STATUS_IDLE_MASK : 0) |
           (halted ? NPU_STATUS_HALTED_MASK : 0);
  }
  return r.value;
}

void Device::write(uint32_t offset, uint32_t value) {
  auto it = by_offset_.find(offset);
  if (it == by_offset_.end()) return;
  Reg& r = regs_[it->second];
  switch (r.access) {
    case Access::RO: return;
    case Access::W1C:
      r.value &= ~value;
      update_irq();
      return;
    case Access::RW:
      if (r.name == "PMCR") {
        if (value & NPU_PMCR_P_MASK)
          for (int i = 0; i < 4; ++i) {
            reg(("PMEVCNTR_LO_" + std::to_string(i)).c_str()) = 0;
            reg(("PMEVCNTR_HI_" + std::to_string(i)).c_str()) = 0;
          }
        if (value & NPU_PMCR_C_MASK) reg("PMCCNTR_LO") = reg("PMCCNTR_HI") = 0;
        r.value = value & NPU_PMCR_E_MASK;
        return;
      }
      r.value = value;
      if (r.name == "INT_ENABLE") update_irq();
      if (r.name.size() > 3 && r.name[0] == 'Q' && r.name.find("_SIZE") != std::string::npos) {
        // Setting a ring's size (re)initializes it: indices to 0, the completion phase to 1.
        const int q = r.name[1] - '0';
        const std::string p = r.name.substr(0, 3);
        if (r.name.find("SQ_SIZE") != std::string::npos) {
          reg((p + "SQ_HEAD").c_str()) = 0;
          sq_tail_[q] = 0;
        } else {
          reg((p + "CQ_TAIL").c_str()) = 0;
          cq_head_[q] = 0;
          cq_phase_[q] = 1;
        }
      }
      if (r.name == "FI_CTRL") {
        const uint32_t type = (value & NPU_FI_CTRL_TYPE_MASK) >> NPU_FI_CTRL_TYPE_SHIFT;
        const uint32_t count = std::max(1u, (value & NPU_FI_CTRL_COUNT_MASK) >> NPU_FI_CTRL_COUNT_SHIFT);
        if (type == NPU_FI_SPURIOUS_IRQ) {  // now, with no completion behind it
          r.value = 0;
          raise(NPU_INT_STATUS_JOB_DONE_MASK);
        } else if (type == NPU_FI_DROP_IRQ) {
          r.value = 0;
          drop_next_irq_ = true;
        } else if (type == NPU_FI_STUCK_RESET) {
          r.value = 0;
          stuck_resets_ = count;
        } else if (type == NPU_FI_SLOW_DRAM) {
          r.value = 0;
          slow_dram_jobs_ = count;
          slow_dram_factor_ = std::max(1u, reg("FI_ARG"));
        }
      }
      if (r.name == "CTRL") run_queues();
      return;
    case Access::WO:
      if (r.name == "RESET") {
        if (value & NPU_RESET_HARD_MASK) {
          stuck_resets_ = 0;
          reset_registers();
          raise(NPU_INT_STATUS_RESET_DONE_MASK);
        } else if (value & NPU_RESET_SOFT_MASK) {
          soft_reset();
        }
      } else if (r.name == "INT_SET") {
        raise(value);
      } else if (r.name.size() > 3 && r.name[0] == 'Q') {
        const int q = r.name[1] - '0';
        if (r.name.find("SQ_DOORBELL") != std::string::npos) {
          sq_tail_[q] = value;
          run_queues();
        } else {
          cq_head_[q] = value;
          run_queues();  // room in the completion ring again
        }
      }
      return;
  }
}

void Device::soft_reset() {
  if (stuck_resets_ > 0) {  // fault injection: the reset never completes
    --stuck_resets_;
    reg("STATUS") |= NPU_STATUS_RESET_PENDING_MASK;
    return;
  }
  reg("STATUS") &= ~NPU_STATUS_RESET_PENDING_MASK;
  // Abort what is queued or hung: ABORTED completions in submission order.
  for (uint32_t q = 0; q < NPU_QUEUES; ++q) {
    const std::string p = "Q" + std::to_string(q) + "_";
    uint32_t& head = reg((p + "SQ_HEAD").c_str());
    const uint32_t size = reg((p + "SQ_SIZE").c_str());
    const uint64_t base = (uint64_t{reg((p + "SQ_BASE_HI").c_str())} << 32) | reg((p + "SQ_BASE_LO").c_str());
    while (size && head != sq_tail_[q] % size) {
      uint8_t e[64] = {};
      mem_.read(base + uint64_t{head} * 64, e, 64);
      complete(static_cast<int>(q), load64(e + 8), NPU_JOB_ABORTED, 0, 0xFFFFFFFF, 0, 0);
      head = (head + 1) % size;
    }
    halted_[q] = false;
  }
  hung_ = false;
  reg("ERR_STATUS") = 0;
  reg("ERR_INFO0") = 0;
  reg("ERR_INSN") = 0xFFFFFFFF;
  reg("ERR_SEQNO_LO") = reg("ERR_SEQNO_HI") = 0;
  raise(NPU_INT_STATUS_RESET_DONE_MASK);
}

void Device::run_queues() {
  if (!(reg("CTRL") & NPU_CTRL_ENABLE_MASK)) return;
  for (;;) {
    if (hung_ || (reg("STATUS") & NPU_STATUS_RESET_PENDING_MASK)) return;
    int best = -1;
    uint32_t best_prio = 0;
    for (uint32_t q = 0; q < NPU_QUEUES; ++q) {
      const std::string p = "Q" + std::to_string(q) + "_";
      const uint32_t ctrl = reg((p + "Q_CTRL").c_str()), size = reg((p + "SQ_SIZE").c_str());
      const uint32_t cq_size = reg((p + "CQ_SIZE").c_str());
      if (!(ctrl & 1) || !size || !cq_size || halted_[q]) continue;
      if (reg((p + "SQ_HEAD").c_str()) == sq_tail_[q] % size) continue;
      if (!ring_ok(static_cast<int>(q))) continue;
      if ((reg((p + "CQ_TAIL").c_str()) + 1) % cq_size == cq_head_[q] % cq_size) continue;  // completion ring full
      const uint32_t prio = (ctrl >> 1) & 7;
      if (best < 0 || prio > best_prio) best = static_cast<int>(q), best_prio = prio;
    }
    if (best < 0) break;
    if (!run_one(best)) return;
  }
  raise(NPU_INT_STATUS_QUEUE_IDLE_MASK);
}

bool Device::ring_ok(int q) {
  const std::string p = "Q" + std::to_string(q) + "_";
  const uint32_t sizes[2] = {reg((p + "SQ_SIZE").c_str()), reg((p + "CQ_SIZE").c_str())};
  const uint64_t bases[2] = {(uint64_t{reg((p + "SQ_BASE_HI").c_str())} << 32) | reg((p + "SQ_BASE_LO").c_str()),
                             (uint64_t{reg((p + "CQ_BASE_HI").c_str())} << 32) | reg((p + "CQ_BASE_LO").c_str())};
  const uint64_t entry_bytes[2] = {sizeof(npu_job_entry), sizeof(npu_completion_entry)};
  for (int i = 0; i < 2; ++i) {
    // A ring is a power of two of at most kMaxRingEntries entries, 64-byte aligned, in memory this
    // context's buffers back: anything else would make one doorbell walk billions of entries.
    uint32_t code = 0;
    if (sizes[i] > kMaxRingEntries || (sizes[i] & (sizes[i] - 1)) || (bases[i] & 63))
      code = NPU_ERR_JOB_INVALID;
    else if (!mem_.backed(bases[i], uint64_t{sizes[i]} * entry_bytes[i]))
      code = NPU_ERR_BUS_ERROR;
    if (!code) continue;
    record_error(q, 0, code, 0xFFFFFFFF, 0, 0, bases[i]);
    halted_[q] = true;  // until a soft reset
    raise(NPU_INT_STATUS_ERROR_MASK);
    return false;
  }
  return true;
}

void Device::record_error(int q, uint64_t seqno, uint32_t code, uint32_t insn, uint32_t engine, uint32_t opcode,
                          uint64_t address) {
  uint32_t& st = reg("ERR_STATUS");
  if (st & ~0x80000000u)
    st |= 0x80000000u;  // more than one error since the last clear
  else {
    reg("ERR_INFO0") = (code & 0xFF) | ((engine & 7) << 8) | ((opcode & 0xFF) << 16) | (static_cast<uint32_t>(q) << 24);
    reg("ERR_INSN") = insn;
    reg("ERR_ADDR_LO") = static_cast<uint32_t>(address);
    reg("ERR_ADDR_HI") = static_cast<uint32_t>(address >> 32);
    reg("ERR_SEQNO_LO") = static_cast<uint32_t>(seqno);
    reg("ERR_SEQNO_HI") = static_cast<uint32_t>(seqno >> 32);
  }
  st |= 1u << (code & 31);
}

void Device::complete(int q, uint64_t seqno, uint32_t status, uint32_t err, uint32_t insn, uint16_t engine,
                      uint64_t cycles) {
  const std::string p = "Q" + std::to_string(q) + "_";
  uint32_t& tail = reg((p + "CQ_TAIL").c_str());
  const uint32_t size = reg((p + "CQ_SIZE").c_str());
  const uint64_t base = (uint64_t{reg((p + "CQ_BASE_HI").c_str())} << 32) | reg((p + "CQ_BASE_LO").c_str());
  npu_completion_entry c{};
  c.seqno = seqno;
  c.status = status;
  c.err_code = err;
  c.err_insn = insn;
  c.err_engine = engine;
  c.phase = cq_phase_[q];
  c.cycles = cycles;
  if (size) {
    mem_.write(base + uint64_t{tail} * sizeof c, &c, sizeof c);
    tail = (tail + 1) % size;
    if (tail == 0) cq_phase_[q] ^= 1;
  }
  const uint64_t fence = (uint64_t{reg((p + "FENCE_HI").c_str())} << 32) | reg((p + "FENCE_LO").c_str());
  if (fence && !mem_.write(fence, &seqno, 8)) {  // a fence this context's buffers do not back
    record_error(q, seqno, NPU_ERR_BUS_ERROR, 0xFFFFFFFF, 0, 0, fence);
    raise(NPU_INT_STATUS_ERROR_MASK);
  }
}

bool Device::run_one(int q) {
  const std::string p = "Q" + std::to_string(q) + "_";
  uint32_t& head = reg((p + "SQ_HEAD").c_str());
  const uint32_t size = reg((p + "SQ_SIZE").c_str());
  const uint64_t base = (uint64_t{reg((p + "SQ_BASE_HI").c_str())} << 32) | reg((p + "SQ_BASE_LO").c_str());
  // Faults scheduled for this job are armed before it is read, as a driver's FI writes would be.
  for (const ScheduledFault& f : faults_->start_job()) schedule_fault(f);
  npu_job_entry job{};
  const bool fetched = mem_.read(base + uint64_t{head} * sizeof job, &job, sizeof job);
  head = (head + 1) % size;
  isa::Program prog;
  uint64_t fault_address = 0;  // the device address a run's fault blames, once known
  auto fail = [&](uint32_t code, uint32_t insn, uint32_t engine, uint64_t cycles, uint32_t status) {
    const uint32_t opcode = insn < prog.text.size() ? prog.text[insn].opcode() : 0;
    record_error(q, job.seqno, code, insn, engine, opcode, fault_address);
    complete(q, job.seqno, status, code, insn, static_cast<uint16_t>(engine), cycles);
    raise(NPU_INT_STATUS_ERROR_MASK | (status == NPU_JOB_TIMEOUT ? NPU_INT_STATUS_WATCHDOG_MASK : 0));
    if (reg("CTRL") & NPU_CTRL_HALT_ON_ERROR_MASK) halted_[q] = true;
    return true;
  };
  if (!fetched) return fail(NPU_ERR_BUS_ERROR, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
  if (job.magic != NPU_JOB_MAGIC || (job.flags & ~NPU_JOB_FLAG_IRQ_ON_DONE) || job.region_count > 16)
    return fail(NPU_ERR_JOB_INVALID, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
  // The program and its region bindings. Sizes come from host memory and from the container, so
  // each is checked against what host memory backs before anything is allocated: a hostile job
  // gets an error, not the simulator's memory.
  if (!mem_.backed(job.program_addr, job.program_bytes)) {
    fault_address = job.program_addr;
    return fail(NPU_ERR_BUS_ERROR, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
  }
  std::vector<uint8_t> bytes(job.program_bytes);
  if (!mem_.read(job.program_addr, bytes.data(), bytes.size()))
    return fail(NPU_ERR_BUS_ERROR, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
  try {
    prog = isa::read_npub(bytes);
  } catch (const std::exception&) {
    return fail(NPU_ERR_JOB_INVALID, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
  }
  if (job.region_count != prog.regions.size()) return fail(NPU_ERR_BAD_BINDING, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
  std::vector<uint8_t> table(size_t{job.region_count} * 16);
  if (!mem_.read(job.region_table_addr, table.data(), table.size()))
    return fail(NPU_ERR_BUS_ERROR, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
  std::vector<std::vector<uint8_t>> regions(prog.regions.size());
  std::vector<uint64_t> addr(prog.regions.size());
  // What the job's regions take in the server's memory, bounded before anything is allocated: bound
  // regions by the bytes this context's buffers hold (one buffer bound sixteen times is refused),
  // unbound constant regions by kMaxUnboundConstBytes in all.
  uint64_t bound_bytes = 0, unbound_bytes = 0;
  for (size_t i = 0; i < prog.regions.size(); ++i) {
    const auto& r = prog.regions[i];
    addr[i] = load64(&table[16 * i]);
    const uint64_t bound = load64(&table[16 * i + 8]);
    if (addr[i] == 0 && r.role == isa::RegionRole::Const) {  // the container's data (zeros past its init)
      unbound_bytes += r.size;
      if (r.size > kMaxUnboundConstBytes || unbound_bytes > kMaxUnboundConstBytes)
        return fail(NPU_ERR_JOB_INVALID, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
      regions[i].assign(r.size, 0);
      std::copy(r.init.begin(), r.init.end(), regions[i].begin());
      continue;
    }
    if (addr[i] == 0 || bound < r.size) return fail(NPU_ERR_BAD_BINDING, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
    if (!mem_.backed(addr[i], r.size)) {
      fault_address = addr[i];
      return fail(NPU_ERR_BUS_ERROR, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
    }
    bound_bytes += r.size;
    if (bound_bytes > mem_.shared_bytes()) return fail(NPU_ERR_BAD_BINDING, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
    regions[i].assign(r.size, 0);
    if (!mem_.read(addr[i], regions[i].data(), r.size)) {
      fault_address = addr[i];
      return fail(NPU_ERR_BUS_ERROR, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
    }
  }
  // Options: the watchdog, and armed faults.
  RunOptions o;
  const uint64_t budget = job.timeout_cycles ? job.timeout_cycles : reg("WATCHDOG");
  o.watchdog_cycles = budget ? budget : (uint64_t{1} << 40);
  o.wall_limit_s = job_wall_limit_s_;
  config::NpuConfig c = cfg_;
  const uint32_t fi = reg("FI_CTRL"), fi_type = (fi & NPU_FI_CTRL_TYPE_MASK) >> NPU_FI_CTRL_TYPE_SHIFT;
  if (fi_type == NPU_FI_BUS_ERROR || fi_type == NPU_FI_ECC || fi_type == NPU_FI_HANG_ENGINE) {
    o.inject_at = reg("FI_ARG");
    o.inject_fault = fi_type == NPU_FI_ECC ? arch::FaultCode::Ecc : arch::FaultCode::BusError;
    o.inject_hang = fi_type == NPU_FI_HANG_ENGINE;
    const uint32_t left = std::max(1u, (fi & NPU_FI_CTRL_COUNT_MASK) >> NPU_FI_CTRL_COUNT_SHIFT) - 1;
    reg("FI_CTRL") = left ? (fi & ~NPU_FI_CTRL_COUNT_MASK) | (left << NPU_FI_CTRL_COUNT_SHIFT) : 0;
    if (o.inject_hang && !budget) {  // no watchdog: the job hangs until a reset
      hung_ = true;
      hung_queue_ = q;
      --head;  // still the job in flight: a soft reset aborts it
      head %= size;
      return false;
    }
  }
  // Thermal shutdown: at or above governor.critical the device runs nothing (the job completes
  // with THERMAL_CRITICAL) until the die has cooled; resets do not cool it, waiting does.
  if (die_->temperature_c() >= cfg_.governor.critical_c)
    return fail(NPU_ERR_THERMAL_CRITICAL, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
  c.clock_hz = die_->setting().hz;  // the governor's clock (DVFS feeds back into the job's timing)
  if (slow_dram_jobs_) {
    --slow_dram_jobs_;
    c.dram.bandwidth /= slow_dram_factor_;
    c.dram.data_rate_mtps /= slow_dram_factor_;
  }
  RunResult r;
  try {
    r = simulate_regions(c, prog, regions, o);
  } catch (const isa::InputError&) {
    return fail(NPU_ERR_TARGET_MISMATCH, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
  } catch (const std::exception&) {  // whatever else a hostile program provokes: still one completion
    return fail(NPU_ERR_JOB_INVALID, 0xFFFFFFFF, 0, 0, NPU_JOB_ERROR);
  }
  // Results back to host memory (what the program wrote, fault or not).
  for (size_t i = 0; i < prog.regions.size(); ++i)
    if (addr[i] && prog.regions[i].role != isa::RegionRole::Const)
      mem_.write(addr[i], regions[i].data(), regions[i].size());
  die_->ran(r.total_cycles, r.ok ? r.seconds : 0);
  // Counters, power, temperature.
  JobCounters k;
  k.cycles = r.total_cycles;
  for (const auto& e : r.engines) k.instructions += e.instructions, k.sem_wait += e.sem_wait_cycles;
  k.macs = r.macs;
  k.dram_read_bytes = r.dram.bytes_read;
  k.dram_write_bytes = r.dram.bytes_written;
  k.load_busy = r.engines[static_cast<size_t>(isa::Engine::Load)].busy_cycles;
  k.store_busy = r.engines[static_cast<size_t>(isa::Engine::Store)].busy_cycles;
  k.mxu_busy = r.engines[static_cast<size_t>(isa::Engine::Mxu)].busy_cycles;
  k.vpu_busy = r.engines[static_cast<size_t>(isa::Engine::Vpu)].busy_cycles;
  if (r.ok) {
    // The job heats the persistent network at the clock it ran at; then the governor may move.
    const PowerReport pw = power_of_run(c, r, die_->network());
    k.energy_j = arch::total(pw.energy);
    energy_j_ += k.energy_j;
    reg("POWER_MW") = static_cast<uint32_t>(std::lround(pw.avg_w * 1000));
    const auto uj = static_cast<uint64_t>(energy_j_ * 1e6);
    reg("ENERGY_UJ_LO") = static_cast<uint32_t>(uj), reg("ENERGY_UJ_HI") = static_cast<uint32_t>(uj >> 32);
  }
  if (counters_.size() >= 1024) counters_.erase(counters_.begin());
  counters_[job.seqno] = k;
  if (reg("PMCR") & NPU_PMCR_E_MASK) {
    auto add64 = [&](const std::string& lo, const std::string& hi, uint64_t v) {
      const uint64_t now = ((uint64_t{reg(hi.c_str())} << 32) | reg(lo.c_str())) + v;
      reg(lo.c_str()) = static_cast<uint32_t>(now), reg(hi.c_str()) = static_cast<uint32_t>(now >> 32);
    };
    add64("PMCCNTR_LO", "PMCCNTR_HI", k.cycles);
    for (int i = 0; i < 4; ++i) {
      const uint32_t ev = reg(("PMEVTYPER_" + std::to_string(i)).c_str());
      const uint64_t v = ev == NPU_PMU_CYCLES              ? k.cycles
                         : ev == NPU_PMU_INSTRUCTIONS      ? k.instructions
                         : ev == NPU_PMU_MXU_MACS          ? k.macs
                         : ev == NPU_PMU_DRAM_READ_BYTES   ? k.dram_read_bytes
                         : ev == NPU_PMU_DRAM_WRITE_BYTES  ? k.dram_write_bytes
                         : ev == NPU_PMU_MXU_BUSY_CYCLES   ? k.mxu_busy
                         : ev == NPU_PMU_VPU_BUSY_CYCLES   ? k.vpu_busy
                         : ev == NPU_PMU_LOAD_BUSY_CYCLES  ? k.load_busy
                         : ev == NPU_PMU_STORE_BUSY_CYCLES ? k.store_busy
                         : ev == NPU_PMU_SEM_WAIT_CYCLES   ? k.sem_wait
                         : ev == NPU_PMU_JOBS              ? 1
                                                           : 0;
      add64("PMEVCNTR_LO_" + std::to_string(i), "PMEVCNTR_HI_" + std::to_string(i), v);
    }
  }
  if (!r.ok) {
    const auto code = static_cast<uint32_t>(r.fault_code);
    const uint32_t insn = r.fault_index >= 0 ? static_cast<uint32_t>(r.fault_index) : 0xFFFFFFFF;
    if (r.fault_index >= 0) reg(("ENGINE_PC_" + std::to_string(static_cast<int>(r.fault_engine))).c_str()) = insn;
    // The access to blame, as a device address: the region's buffer (the container's own data for
    // an unbound constant region has none) plus the offset.
    if (r.fault_region >= 0 && static_cast<size_t>(r.fault_region) < addr.size() && addr[r.fault_region])
      fault_address = addr[r.fault_region] + r.fault_offset;
    return fail(code, insn, static_cast<uint32_t>(r.fault_engine), r.total_cycles,
                r.fault_code == arch::FaultCode::Watchdog ? NPU_JOB_TIMEOUT : NPU_JOB_ERROR);
  }
  complete(q, job.seqno, NPU_JOB_OK, 0, 0xFFFFFFFF, 0, r.total_cycles);
  if (job.flags & NPU_JOB_FLAG_IRQ_ON_DONE) {
    if (drop_next_irq_)
      drop_next_irq_ = false;  // fault injection: this completion raises nothing
    else
      raise(NPU_INT_STATUS_JOB_DONE_MASK);
  }
  return true;
}

void Device::release_queue(uint32_t q) {
  const std::string p = "Q" + std::to_string(q) + "_";
  for (const char* r : {"Q_CTRL", "SQ_SIZE", "CQ_SIZE", "SQ_HEAD", "CQ_TAIL", "SQ_BASE_LO", "SQ_BASE_HI", "CQ_BASE_LO",
                        "CQ_BASE_HI", "FENCE_LO", "FENCE_HI"})
    reg((p + r).c_str()) = 0;
  sq_tail_[q] = cq_head_[q] = 0;
  cq_phase_[q] = 1;
  halted_[q] = false;
  if (hung_ && hung_queue_ == static_cast<int>(q)) hung_ = false;  // its job goes with it
  run_queues();
}

bool Device::counters(uint64_t seqno, JobCounters& out) const {
  auto it = counters_.find(seqno);
  if (it == counters_.end()) return false;
  out = it->second;
  return true;
}

}  // namespace npusim::device
