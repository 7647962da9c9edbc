// `mxu: {impl: table, file: T.yaml}`: MXU latencies measured on an RTL array (`npusim calibrate`)
// and looked up per tile shape. The file format is defined here, once, for writer and reader:
//
//   # npusim MXU latency table
//   rows: 16
//   cols: 16
//   dataflow: ws
//   source: "rtl/systolic_array.v under Verilator 5"
//   entries:          # [m, n, k, reuse_b, cycles]
//     - [16, 16, 16, 0, 61]
//
// A shape not in the table gets the closed form's fold count times a per-fold cost fitted to the
// table: cycles = folds x (c0 + T) - 1 (T the streamed dimension; c0 the mean over the entries).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "arch/mxu_timing.h"

namespace npusim::arch {

struct LatencyTable {
  uint32_t rows = 0, cols = 0;                                                ///< array the table was measured on
  std::string dataflow;                                                       ///< ws | os | is
  std::string source;                                                         ///< what produced it
  std::map<std::tuple<uint32_t, uint32_t, uint32_t, bool>, uint64_t> cycles;  ///< (m, n, k, reuse_b) -> cycles
  double fold_cost = 0;                                                       ///< c0 of the fallback fit

  /// Reads and checks a table file; throws std::invalid_argument naming the file and the problem.
  static LatencyTable load(const std::string& path);
  /// The file text.
  std::string to_yaml() const;
  /// Fits fold_cost to the entries.
  void fit();
  /// Cycles of a tile (an entry, or the fit).
  uint64_t lookup(const MatmulShape& s) const;
};

}  // namespace npusim::arch
