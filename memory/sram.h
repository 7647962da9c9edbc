// On-chip SRAM (scratchpad or accumulator) timing: one interface, implementations chosen by
// `scratchpad: {impl: ...}` / `accumulator: {impl: ...}` and registered in their own files
// (sram_banked.cpp, sram_ideal.cpp).
//
// Contract: access() books the resources it uses and returns when the last line is through
// (including the access latency); deterministic; moves no data (the functional model does).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/schema.h"
#include "base/stats.h"
#include "base/time.h"

namespace npusim::memory {

struct SramConfig {
  std::string impl;                ///< registered implementation
  uint64_t size_bytes = 0;         ///< capacity
  uint32_t line_bytes = 64;        ///< line size (the unit of ISA addresses)
  uint32_t latency_cycles = 2;     ///< access latency
  uint32_t banks = 8;              ///< banked: independent banks
  uint32_t bank_width_bytes = 64;  ///< banked: bytes a bank port moves per cycle
  uint32_t ports = 1;              ///< banked: ports per bank
};

/// Counters every implementation keeps (stats.json `memory.scratchpad`, `memory.accumulator`).
struct SramStats {
  uint64_t accesses = 0;              ///< access() calls
  uint64_t bytes = 0;                 ///< bytes moved
  uint64_t bank_conflict_cycles = 0;  ///< cycles accesses waited for busy banks or ports

  /// Declares these counters into `g`, with the bandwidth over `seconds`, the run's length (read
  /// when the tree is written).
  void declare(stats::Group& g, const double& seconds) const;
};

class SramModel {
 public:
  virtual ~SramModel() = default;
  /// `lines` lines starting at `line`, arriving at `t`; returns when the last one is done.
  virtual Femtos access(Femtos t, uint64_t line, uint64_t lines) = 0;
  /// Follows DVFS: the clock period the model converts cycles with.
  void set_period(Femtos p) { period_ = p; }
  const SramStats& stats() const { return stats_; }

 protected:
  SramModel(const SramConfig& c, Femtos period) : c_(c), period_(period) {}
  void count(uint64_t lines) {
    ++stats_.accesses;
    stats_.bytes += lines * c_.line_bytes;
  }
  SramConfig c_;     ///< parameters
  Femtos period_;    ///< clock period
  SramStats stats_;  ///< updated by access()
};

/// Builds the configured implementation for a clock period.
std::unique_ptr<SramModel> make_sram(const SramConfig& c, Femtos period);

/// Declares an SRAM section; `default_size` differs between scratchpad and accumulator.
void describe_sram(config::Section& s, SramConfig& c, uint64_t default_size);

/// Registry: the factory receives the config; the period is set right after construction.
using SramRegistry = config::Registry<SramConfig, SramModel>;

}  // namespace npusim::memory
