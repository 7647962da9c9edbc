// Co-simulation of rtl/systolic_array.v under Verilator: the Verilated array (built for 4x4, 8x8
// and 16x16) stepped cycle by cycle in plain C++ (no SystemC clock: the MXU engine calls it once
// per matmul tile, a burst of hundreds of cycles), with tiles split into folds exactly as the
// analytical model counts them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "arch/mxu_timing.h"

namespace npusim::rtl {

/// One Verilated array size.
class SystolicRtl {
 public:
  virtual ~SystolicRtl() = default;
  virtual uint32_t rows() const = 0;
  virtual uint32_t cols() const = 0;
  virtual uint32_t max_t() const = 0;  ///< TMAX: longest streamed dimension per fold
  /// One fold. `a_lanes[r * max_t() + t]`: the element row r receives at stream time t (WS: A[t][r],
  /// OS: A[r][t]); `b[row * cols() + c]` (WS: weight B[row][c]; OS: B[t = row][c]); zeros elsewhere.
  /// Returns the busy cycles; `out[i * cols() + c]` gets the results (WS: C[t = i][c] for
  /// i < t_len; OS: the accumulator of PE(i, c) for i < rows()).
  virtual uint64_t run_fold(bool os, bool a_unsigned, bool skip_preload, uint32_t t_len,
                            const std::vector<uint8_t>& a_lanes, const std::vector<uint8_t>& b,
                            std::vector<int32_t>& out) = 0;
  /// Clock cycles simulated so far (for speed figures).
  virtual uint64_t simulated_cycles() const = 0;
};

/// The sizes built in (empty when npusim was built without Verilator).
std::vector<uint32_t> available_sizes();
/// The array for rows x cols; throws std::invalid_argument when no such model was built.
std::unique_ptr<SystolicRtl> make_systolic_rtl(uint32_t rows, uint32_t cols);

/// A whole tile through the RTL.
struct TileRun {
  std::vector<int32_t> c;  ///< m x n product (i32, wrap-around)
  uint64_t cycles = 0;     ///< sum of the folds' busy cycles - 1 (SCALE-Sim's count: the last cycle's index)
  uint64_t folds = 0;      ///< array passes
};

/// Splits C[m x n] = A[m x k] x B[k x n] (row-major, A int8 or uint8, B int8) into folds of the
/// array for dataflow ws or os (as scalesim_closed_form counts them; a streamed dimension longer
/// than max_t() adds folds), runs each and accumulates. `reuse_b` skips the weight preload of a
/// single-fold weight-stationary tile.
TileRun run_tile(SystolicRtl& rtl, arch::Dataflow flow, const arch::MatmulShape& s, const uint8_t* a, const uint8_t* b,
                 bool a_unsigned);

}  // namespace npusim::rtl
