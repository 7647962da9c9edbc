// Running a program on a configured NPU: the one entry point the CLI, tests and benchmarks use.
// SystemC stays behind this header (sim/npu_top.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "arch/fault.h"
#include "arch/functional.h"
#include "arch/power.h"
#include "base/stats.h"
#include "isa/program.h"
#include "memory/dma.h"
#include "memory/dram.h"
#include "memory/sram.h"
#include "sim/host_cost.h"
#include "sim/npu_config.h"

namespace npusim {

struct RunOptions {
  bool timing_only = false;               ///< skip the math (same cycles, no outputs)
  uint64_t watchdog_cycles = 1ull << 40;  ///< WATCHDOG fault past this many cycles
  bool trace = false;                     ///< collect Chrome/Perfetto trace events
  /// Called when an `irq` instruction completes (functional runs only), with its user code and the
  /// device memories: the host side of a job, e.g. a reference kernel for an operator the compiler
  /// left to the host. The program orders it with barriers; its time is host_work's.
  std::function<void(uint32_t code, arch::Memories& mem)> irq_handler;
  /// The host's work for irq `code` (nullopt: the host answers it at once). The irq then completes
  /// host_seconds(cfg.host, work) after it issues: the ctrl engine stalls while the host works, in
  /// functional and timing-only runs alike (RunResult::host_ops records each).
  std::function<std::optional<HostWork>(uint32_t code)> host_work;
  /// Fault injection (the device model's FI registers): from instruction index `inject_at` on, the
  /// first instruction that fits raises `inject_fault` (BusError: a load or store; Ecc: any
  /// instruction of the load, store, MXU or VPU engines), or with `inject_hang` never completes.
  int64_t inject_at = -1;
  arch::FaultCode inject_fault = arch::FaultCode::BusError;
  bool inject_hang = false;
  bool engine_spans = false;  ///< collect each engine's busy stretches (RunResult::engine_spans)
  /// Host memory a functional run may allocate for the SRAMs and the program's regions: a program
  /// declaring more (a few bytes of .npub can declare gigabytes of scratch) is an input error
  /// before anything is allocated. Timing-only runs allocate no data and are not limited.
  uint64_t max_memory_bytes = uint64_t{1} << 30;
  /// Wall-clock seconds the run may take (0: no limit). Checked before each instruction issues;
  /// past it the run ends with a WATCHDOG fault at that instruction (its cycles are those simulated
  /// so far). The device server bounds each job with it, so one client cannot hold the others up.
  double wall_limit_s = 0;
};

/// A stretch of time one engine was busy: back-to-back instructions merged, so gaps are waits.
struct EngineSpan {
  isa::Engine engine{};           ///< which engine
  double start_s = 0, end_s = 0;  ///< simulated seconds from the start of the run
};

/// One matmul run through a computing MXU model (RTL co-simulation), beside the analytical model.
struct CosimRow {
  uint32_t index = 0;              ///< instruction index
  uint32_t m = 0, n = 0, k = 0;    ///< tile
  bool a_unsigned = false;         ///< u8 x i8
  uint64_t folds = 0;              ///< array passes
  uint64_t model_cycles = 0;       ///< the computing model's (RTL) cycles
  uint64_t analytical_cycles = 0;  ///< the closed form's
  uint64_t mismatches = 0;         ///< elements that differ from the functional model
};

/// One operator (DEBUG marker) on the time axis: its first instruction's issue to its last's end.
struct MarkerSpan {
  std::string name;               ///< the marker (ONNX node)
  double start_s = 0, end_s = 0;  ///< simulated seconds from the start of the run
};

/// Per-engine counters (stats.json `engines.<engine>`).
struct EngineStats {
  uint64_t instructions = 0;      ///< completed instructions
  uint64_t busy_cycles = 0;       ///< from issue to completion
  uint64_t sem_wait_cycles = 0;   ///< blocked on a semaphore wait or a barrier
  uint64_t mem_stall_cycles = 0;  ///< busy beyond the engine's own compute time (memory-bound)

  /// Declares these counters into `g`, with the utilization over `total_cycles` (the run's; read
  /// when the tree is written).
  void declare(stats::Group& g, const uint64_t& total_cycles) const;
};

/// One irq the host answered with modelled work (RunOptions::host_work), on the time axis.
struct HostOpTime {
  uint32_t code = 0;              ///< the irq's code
  HostWork work;                  ///< what the host did
  double modelled_s = 0;          ///< host_seconds(cfg.host, work)
  double start_s = 0, end_s = 0;  ///< the host's stretch (the irq raised to the device resumed), simulated s
};

struct RunResult {
  bool ok = false;                                       ///< reached finish without a fault
  arch::FaultCode fault_code{};                          ///< when !ok
  std::string fault_message;                             ///< when !ok: the full message (instruction, engine, state)
  int64_t fault_index = -1;                              ///< when !ok: the instruction, if one is to blame
  int32_t fault_region = -1;                             ///< when !ok: the region of the access to blame (-1: none)
  uint64_t fault_offset = 0;                             ///< its byte offset in that region
  isa::Engine fault_engine = isa::Engine::Ctrl;          ///< its engine
  uint64_t total_cycles = 0;                             ///< cycles until finish completed
  double seconds = 0;                                    ///< simulated seconds
  uint64_t macs = 0;                                     ///< matmul multiply-accumulates
  double mxu_utilization = 0;                            ///< macs / (total_cycles x rows x cols)
  std::array<EngineStats, isa::kEngineCount> engines{};  ///< per engine
  memory::DramStats dram;                                ///< DRAM counters
  double dram_peak_bandwidth = 0;                        ///< bytes/s
  memory::SramStats spad;                                ///< scratchpad counters
  memory::SramStats acc;                                 ///< accumulator counters
  memory::DmaStats dma;                                  ///< DMA counters
  std::vector<std::pair<std::string, uint64_t>> marker_cycles;  ///< per DEBUG marker (operator)
  std::vector<MarkerSpan> marker_spans;  ///< each marker's first issue to last completion (operator timeline)
  std::vector<EngineSpan> engine_spans;  ///< with RunOptions::engine_spans: busy stretches, by engine, in time order
  arch::ActivityTimeline activity;       ///< action counts over time (power)
  std::vector<std::pair<std::string, arch::Activity>> marker_activity;  ///< action counts per DEBUG marker
  std::map<std::string, std::vector<uint8_t>> outputs;                  ///< output tensors by IO name
  std::string trace_json;                                               ///< Chrome trace (when requested)
  std::vector<CosimRow> cosim;                                          ///< per co-simulated matmul (mxu impl rtl)
  std::vector<HostOpTime> host_ops;  ///< per irq with modelled host work, in completion order
  double host_total_s = 0;           ///< their modelled host time, summed
};

/// Checks that `prog` can run on `cfg` (line size, array shape, SRAM sizes, dtypes, config hash).
/// Throws isa::InputError naming the mismatch.
void check_target(const config::NpuConfig& cfg, const isa::Program& prog);

/// Runs `prog` once. `inputs`: bytes per input IO tensor name (dense, row-major). Each call gets a
/// fresh SystemC context, so a process may run many programs one after another.
RunResult simulate(const config::NpuConfig& cfg, const isa::Program& prog,
                   const std::map<std::string, std::vector<uint8_t>>& inputs, const RunOptions& opts);

/// Runs `prog` on region contents given by the caller (one vector per program region, each exactly
/// the region's size; a device binding its regions to host memory); afterwards they hold the final
/// contents. Functional runs only.
RunResult simulate_regions(const config::NpuConfig& cfg, const isa::Program& prog,
                           std::vector<std::vector<uint8_t>>& regions, const RunOptions& opts);

/// Declares what the model counted in a run, read from `r` when the tree is written: the totals,
/// the MXU's, every engine's, the memory models' and every operator's statistics (stats.json below
/// its header). `r`, `cfg` and `prog` must outlive the tree.
void declare_run_stats(stats::Group& root, const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog);

/// stats.json's layout version: bumped when a key is renamed, moved or removed (not when one is
/// added). 2: `fault` became an object (code, engine, instruction, region, offset, message).
inline constexpr uint64_t kStatsVersion = 2;

/// What a stats.json names besides the run itself: where the program came from and how it ran.
struct RunIdentity {
  std::string program_name;  ///< the program (or model) file
  std::string command_line;  ///< the command that ran it ("" when not run from the command line)
  std::string precision;     ///< a compiled model's --precision; "" derives it from the program's MXU types
};

/// stats.json text: the header (versions, program and config with their hashes, status, fault)
/// and declare_run_stats' tree.
std::string stats_json(const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                       const RunIdentity& id);
/// The same with only the program's name.
std::string stats_json(const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                       const std::string& program_name);

/// The JSON Schema stats.json validates against (docs/stats.schema.json), from the same
/// declarations as stats_reference(); the top-level keys `npusim run` appends (power, fallback,
/// accuracy) are listed as objects.
std::string stats_schema();

/// FNV-1a 64 of the program's .npub image ("0x" and 16 hex digits): equal programs, whether
/// assembled, compiled or read, hash equal.
std::string program_hash(const isa::Program& prog);

/// Every statistic stats_json writes (path, kind, unit, description), from the same declarations:
/// `npusim info --stats` and docs/stats.md.
std::string stats_reference();

/// Short human summary.
std::string run_summary(const RunResult& r, const config::NpuConfig& cfg);

}  // namespace npusim
