// The device a driver talks to (DESIGN section 7, docs/registers.md): the register file of
// arch/regs.yaml, submission/completion rings in host memory, a level interrupt, resets, first-error
// capture, a watchdog, PMU counters and fault injection, in front of the simulator. A job is an
// .npub container in host memory plus a table binding its regions to host memory; the device runs
// it with simulate() (one fresh SystemC context per job) and advances its cycle counter by the
// job's simulated cycles. Single-threaded and deterministic: jobs run when their doorbell is
// written, in queue-priority order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "arch/governor.h"
#include "arch/thermal.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"

namespace npusim::device {

/// Host memory as the device sees it: byte addresses it can read and write by DMA. In the socket
/// server each client's context gets a view of that client's buffers only, so a job, a ring or a
/// fence can reach nothing another client shared.
class HostMemory {
 public:
  virtual ~HostMemory() = default;
  /// False when [addr, addr + len) is not backed (a bus error for the device).
  virtual bool read(uint64_t addr, void* dst, uint64_t len) = 0;
  virtual bool write(uint64_t addr, const void* src, uint64_t len) = 0;
  /// Whether [addr, addr + len) is backed, asked before the device allocates len bytes for it.
  virtual bool backed(uint64_t addr, uint64_t len) = 0;
  /// Bytes of every buffer this memory holds: a job may bind at most this much in all (its
  /// regions are copied, so binding one buffer many times must not multiply the server's memory).
  virtual uint64_t shared_bytes() { return UINT64_MAX; }
};

/// Per-job counters (the PMU events of docs/registers.md), kept per seqno.
struct JobCounters {
  uint64_t cycles = 0, instructions = 0, macs = 0, dram_read_bytes = 0, dram_write_bytes = 0;
  uint64_t mxu_busy = 0, vpu_busy = 0, load_busy = 0, store_busy = 0, sem_wait = 0;
  double energy_j = 0;  ///< dynamic + leakage
};

/// A fault the device arms by itself when it starts job number `at_job` (1-based, counted since the
/// device was created; 0: at once), exactly as if the driver had then written FI_ARG = arg and
/// FI_CTRL = type | count << 8: `npusim serve --fault` tests a driver's error handling unmodified.
struct ScheduledFault {
  uint32_t type = 0;    ///< NPU_FI_* (arch/regs.yaml, enum fault_injection)
  uint32_t arg = 0;     ///< FI_ARG: instruction index (BUS_ERROR, ECC, HANG_ENGINE) or factor (SLOW_DRAM)
  uint32_t count = 1;   ///< jobs (or resets, STUCK_RESET) it applies to, 1..255
  uint64_t at_job = 1;  ///< when to arm it
};

/// Parses `TYPE[:insn=N][:factor=N][:count=N][:job=N]` (TYPE a fault_injection name of
/// arch/regs.yaml, any case, '-' or '_'); throws std::invalid_argument saying what was expected.
ScheduledFault parse_fault(const std::string& spec);

/// The name of value `value` of enum `kind` of arch/regs.yaml ("" when none), e.g. ("error_codes", 17)
/// -> "BUS_ERROR".
std::string enum_name(const std::string& kind, uint32_t value);

/// Device time and heat: the cycle counter, the die's temperature and the governor's operating
/// point. Contexts that share one (`npusim serve --shared-die`, as the virtual functions of one chip
/// do) see each other's device time, and one's jobs heat the die and slow everyone's clock; by
/// default each context has its own. Everything else (registers, queues, errors, counters, energy)
/// is always per context.
class Die {
 public:
  explicit Die(const config::NpuConfig& cfg);
  ~Die();
  uint64_t cycles() const { return cycle_; }
  /// Time passes with the device idle: leakage only, the die cools toward ambient.
  void idle(uint64_t cycles);
  /// A job ran for `cycles` at the current setting; `seconds` of it, heating the network (already fed
  /// by power_of_run); then the governor may move.
  void ran(uint64_t cycles, double seconds);
  double temperature_c() const { return temp_c_; }
  const arch::Setting& setting() const { return setting_; }
  arch::ThermalNetwork& network() { return *net_; }

 private:
  void advance(double seconds, double joules);  ///< heat (or cool) and poll the governor

  const config::NpuConfig& cfg_;
  uint64_t cycle_ = 0;                         ///< device cycle counter (saturates)
  std::unique_ptr<arch::ThermalNetwork> net_;  ///< the configuration's RC network
  std::unique_ptr<arch::Governor> gov_;        ///< picks the clock from the temperature
  arch::Setting setting_;                      ///< current operating point (jobs run at its clock)
  double temp_c_ = 0;                          ///< hottest thermal node
  double time_s_ = 0, next_poll_s_ = 0;        ///< simulated time; the governor's next poll
};

/// Faults scheduled at the device's N-th job (`npusim serve --fault ...:job=N`), counted over every
/// context that shares the schedule (all of a server's), whichever die each runs on.
class FaultSchedule {
 public:
  /// Counts a started job and returns the scheduled faults due at it (in schedule order).
  std::vector<ScheduledFault> start_job();
  /// Keeps `f` for its job; false when that job has already started (arm it now instead).
  bool schedule(const ScheduledFault& f);

 private:
  uint64_t jobs_started_ = 0;              ///< jobs fetched by the contexts sharing this since power-on
  std::vector<ScheduledFault> scheduled_;  ///< faults still to arm
};

/// One context of the device (a virtual function): its own register file, ring pairs, interrupt
/// line, error capture, PMU counters, fault injection and resets, over its own view of host memory.
/// In-process (the C API's sim: transport) one context owns the whole device; `npusim serve` gives
/// each client one, each with a Die of its own (or all on one), all sharing one FaultSchedule.
class Device {
 public:
  /// `irq(level)` is called whenever the interrupt line changes. Without `die` the context has a
  /// die of its own, without `faults` a fault schedule of its own.
  Device(const config::NpuConfig& cfg, HostMemory& mem, std::function<void(bool)> irq,
         std::shared_ptr<Die> die = nullptr, std::shared_ptr<FaultSchedule> faults = nullptr);
  ~Device();

  uint32_t read(uint32_t offset);
  void write(uint32_t offset, uint32_t value);
  bool irq_level() const;
  /// Access type of the register at `offset`: 0 RO, 1 RW, 2 W1C, 3 WO; -1 when none is there.
  int access_of(uint32_t offset) const;
  /// Register name at `offset` ("" when none).
  std::string name_of(uint32_t offset) const;
  uint64_t cycles() const { return die_->cycles(); }
  /// Advances device time with nothing to do (a driver waiting); a hung job never completes.
  void idle(uint64_t cycles);
  /// Forgets queue q (its driver went away): ring registers to zero, its hung job dropped.
  void release_queue(uint32_t q);
  /// Queue whose registers (ring pair or doorbell page) are at `offset`, or -1 for any other.
  static int queue_of(uint32_t offset);
  /// Longest ring a queue may have (SQ_SIZE, CQ_SIZE): one doorbell walks at most this many entries.
  static constexpr uint32_t kMaxRingEntries = 4096;
  /// Wall-clock seconds one job may run (0: unbounded); past it the job ends with WATCHDOG.
  void set_job_wall_limit(double seconds) { job_wall_limit_s_ = seconds; }
  /// Arms `f` when its job starts (at once when f.at_job is 0 or already past).
  void schedule_fault(const ScheduledFault& f);
  /// Counters of a completed job (false when unknown or evicted: the last 1024 are kept).
  bool counters(uint64_t seqno, JobCounters& out) const;
  const config::NpuConfig& config() const { return cfg_; }

 private:
  struct Reg;
  void reset_registers();
  uint32_t& reg(const char* name);
  void update_irq();
  void raise(uint32_t cause);
  void run_queues();
  bool run_one(int q);
  void complete(int q, uint64_t seqno, uint32_t status, uint32_t err, uint32_t insn, uint16_t engine, uint64_t cycles);
  void record_error(int q, uint64_t seqno, uint32_t code, uint32_t insn, uint32_t engine, uint32_t opcode,
                    uint64_t address = 0);
  void soft_reset();

  bool ring_ok(int q);  ///< queue q's rings are well formed and backed (else an error, the queue halts)

  config::NpuConfig cfg_;
  HostMemory& mem_;
  std::function<void(bool)> irq_;
  std::shared_ptr<Die> die_;                            ///< its device time and heat (perhaps shared)
  std::shared_ptr<FaultSchedule> faults_;               ///< the device's scheduled faults (perhaps shared)
  std::vector<Reg> regs_;                               ///< arch/regs.yaml, expanded
  std::map<uint32_t, size_t> by_offset_;                ///< offset -> index in regs_
  std::map<std::string, size_t> by_name_;               ///< name -> index
  uint32_t cycle_hi_latch_ = 0;                         ///< CYCLE_HI as latched by reading CYCLE_LO
  bool irq_line_ = false;                               ///< current interrupt level
  uint32_t sq_tail_[8] = {}, cq_head_[8] = {};          ///< doorbell values per queue
  uint8_t cq_phase_[8] = {};                            ///< phase bit of the next completion entry per queue
  bool halted_[8] = {};                                 ///< queue halted on an error
  bool hung_ = false;                                   ///< a job is hung (HANG_ENGINE with no watchdog)
  int hung_queue_ = -1;                                 ///< its queue
  uint32_t stuck_resets_ = 0;                           ///< STUCK_RESET still to apply
  uint32_t slow_dram_jobs_ = 0, slow_dram_factor_ = 1;  ///< SLOW_DRAM
  bool drop_next_irq_ = false;                          ///< DROP_IRQ
  std::map<uint64_t, JobCounters> counters_;            ///< per seqno (bounded)
  double energy_j_ = 0;                                 ///< this context's jobs
  double job_wall_limit_s_ = 0;                         ///< set_job_wall_limit
};

}  // namespace npusim::device
