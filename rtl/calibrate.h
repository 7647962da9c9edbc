// `npusim calibrate`: a sweep of tile shapes through the Verilated array, written as the latency
// table that `mxu: {impl: table}` reads (arch/mxu_table.h).
#pragma once

#include <cstdint>

#include "arch/mxu_table.h"

namespace npusim::rtl {

struct CalibrationStats {
  uint64_t tiles = 0;        ///< shapes measured
  uint64_t rtl_cycles = 0;   ///< clock cycles the RTL simulated
  double wall_s = 0;         ///< time taken
  double max_deviation = 0;  ///< largest |RTL - analytical| / RTL over the sweep
};

/// Measures tiles of every m, n, k in {1, R/2, R-1, R, R+1, 2R, 3R+5, 100} (and k, n up to 3C+5)
/// on the RTL of `mxu` (and, weight-stationary, the single-fold shapes with resident weights).
arch::LatencyTable calibrate(const arch::MxuConfig& mxu, CalibrationStats* stats);

}  // namespace npusim::rtl
