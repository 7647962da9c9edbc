// On-chip SRAM (scratchpad or accumulator) timing: banks with ports, lines interleaved across
// banks. Contract as for DRAM: access() books the banks it uses and returns when the last line is
// through; deterministic; moves no data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/config/schema.h"
#include "sim/time.h"

namespace npusim::memory {

struct SramConfig {
  uint64_t size_bytes = 0;       ///< capacity
  uint32_t banks = 8;            ///< independent banks
  uint32_t bank_width_bytes = 64;///< bytes a bank port moves per cycle
  uint32_t ports = 1;            ///< ports per bank (accesses per bank per cycle)
  uint32_t line_bytes = 64;      ///< line size (the unit of ISA addresses)
  uint32_t latency_cycles = 2;   ///< access latency
};

/// Declares an SRAM section; `default_size` differs between scratchpad and accumulator.
void describe_sram(config::Section& s, SramConfig& c, uint64_t default_size);

/// Bank/port timelines of one SRAM.
class SramModel {
 public:
  SramModel(const SramConfig& c, Femtos period);
  /// `lines` lines starting at `line`, arriving at `t`; returns when the last one is done.
  /// Line i lives in bank (line + i) mod banks; each bank serves `ports` bank-width beats per cycle.
  Femtos access(Femtos t, uint64_t line, uint64_t lines);
  /// Cycles the accesses waited for busy banks (conflicts).
  uint64_t conflict_cycles() const { return conflict_cycles_; }
  uint64_t accesses() const { return accesses_; }
  void set_period(Femtos p) { period_ = p; }

 private:
  SramConfig c_;                    ///< parameters
  Femtos period_;                   ///< clock period
  uint32_t beats_per_line_;         ///< bank-width beats per line
  std::vector<Femtos> bank_free_;   ///< per bank: free from
  uint64_t conflict_cycles_ = 0;    ///< waiting on busy banks
  uint64_t accesses_ = 0;           ///< access() calls
};

}  // namespace npusim::memory
