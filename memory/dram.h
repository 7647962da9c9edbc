// DRAM timing: one interface, implementations chosen by `dram: {impl: ...}` and registered in
// their own files (dram_simple.cpp, dram_banked.cpp).
//
// Contract: access() is called with non-decreasing arrival times per caller but possibly
// interleaved between callers; it returns when the last byte has been transferred, books the
// resources it used (channel bus, bank, row buffer) so later requests see the contention, and is
// deterministic. It does not move data (the functional model does).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/schema.h"
#include "base/stats.h"
#include "base/time.h"

namespace npusim::memory {

/// Parameters of every DRAM implementation (each declares and reads its own).
struct DramConfig {
  std::string impl;  ///< registered implementation
  // simple
  double latency_s = 0;  ///< fixed access latency
  double bandwidth = 0;  ///< peak bytes/s
  // banked
  uint32_t channels = 1;            ///< independent channels
  uint32_t banks = 8;               ///< banks per channel
  uint32_t bus_bits = 32;           ///< data bus width per channel
  double data_rate_mtps = 3200;     ///< transfers per second per pin, in MT/s
  uint64_t row_bytes = 2048;        ///< row (page) size per bank
  uint64_t interleave_bytes = 256;  ///< channel interleaving granularity
  double t_rcd_s = 0;               ///< activate to read/write
  double t_cl_s = 0;                ///< read/write to data
  double t_rp_s = 0;                ///< precharge
  double t_refi_s = 0;              ///< refresh interval (0: no refresh)
  double t_rfc_s = 0;               ///< refresh cycle time
};

/// Counters every implementation keeps (stats.json `memory.dram`).
struct DramStats {
  uint64_t reads = 0;           ///< read requests
  uint64_t writes = 0;          ///< write requests
  uint64_t bytes_read = 0;      ///< bytes read
  uint64_t bytes_written = 0;   ///< bytes written
  uint64_t row_hits = 0;        ///< banked: chunk accesses to the open row (simple: zero)
  uint64_t row_misses = 0;      ///< banked: chunk accesses that closed another row first
  uint64_t row_empty = 0;       ///< banked: chunk accesses that activated a row in an idle bank
  uint64_t refresh_stalls = 0;  ///< banked: chunk accesses delayed to the end of a refresh window
  Femtos busy_fs = 0;           ///< data-bus busy time summed over channels

  /// Declares these counters into `g`, with the bandwidths derived from them: `seconds` is the
  /// run's length, `peak_bytes_per_s` the model's peak (both read when the tree is written).
  void declare(stats::Group& g, const double& seconds, const double& peak_bytes_per_s) const;
};

class DramModel {
 public:
  virtual ~DramModel() = default;
  /// Serves `bytes` at `addr` arriving at `t`; returns the completion time.
  virtual Femtos access(Femtos t, uint64_t addr, uint64_t bytes, bool write) = 0;
  /// Peak data bandwidth (bytes/s) over all channels.
  virtual double peak_bandwidth() const = 0;
  virtual uint32_t channel_count() const = 0;
  /// Channel that serves `addr` (for traces).
  virtual uint32_t channel_of(uint64_t addr) const = 0;
  const DramStats& stats() const { return stats_; }

 protected:
  DramStats stats_;  ///< updated by access()
};

using DramRegistry = config::Registry<DramConfig, DramModel>;

/// Declares the `dram` section (impl choice and the chosen implementation's parameters).
void describe_dram(config::Section& s, DramConfig& c);

}  // namespace npusim::memory
