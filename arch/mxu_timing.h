// MXU (systolic array) timing: one interface, implementations chosen by `mxu: {impl: ...}`.
//
// Contract: cycles() is a pure function of the configuration and the tile shape (no state), so
// timing-only and functional runs agree and a result can be memoised per shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/schema.h"

namespace npusim::arch {

/// Which operand stays in the PEs (SCALE-Sim's naming).
enum class Dataflow { WeightStationary, OutputStationary, InputStationary };

struct MxuConfig {
  std::string impl;                 ///< registered implementation
  uint32_t rows = 16;               ///< PE rows (R)
  uint32_t cols = 16;               ///< PE columns (C)
  std::string dataflow = "ws";      ///< ws | os | is
  std::vector<std::string> dtypes;  ///< matmul dtypes the array supports (ISA names)
  bool fold_overlap = false;        ///< overlap consecutive folds (see analytical model)
  std::string table_file;           ///< impl table: the latency table (arch/mxu_table.h)
  Dataflow flow() const {
    return dataflow == "os"   ? Dataflow::OutputStationary
           : dataflow == "is" ? Dataflow::InputStationary
                              : Dataflow::WeightStationary;
  }
};

/// One matmul tile: C[m x n] (+)= A[m x k] x B[k x n].
struct MatmulShape {
  uint32_t m = 0, n = 0, k = 0;  ///< dimensions
  bool reuse_b = false;          ///< B already resident (skip the weight preload of a single fold)
};

/// Timing and mapping facts of one tile.
struct MxuTile {
  uint64_t cycles = 0;            ///< compute cycles
  uint64_t folds = 0;             ///< array passes
  double mapping_efficiency = 0;  ///< used PEs / (R x C), averaged over folds
};

class MxuTiming {
 public:
  virtual ~MxuTiming() = default;
  virtual MxuTile tile(const MatmulShape& s) const = 0;
  /// True for implementations that compute tiles (RTL co-simulation): the simulator then passes
  /// every int8 tile's operands to run() and compares its result with the functional model.
  virtual bool computes() const { return false; }
  /// C = A x B for A (m x k, uint8 when `a_unsigned`, else int8) and B (k x n, int8), row-major;
  /// the product goes to `c` (m x n, i32 wrap-around). Called only when computes().
  virtual MxuTile run(const MatmulShape& s, const uint8_t* a, const uint8_t* b, bool a_unsigned,
                      std::vector<int32_t>& c) const {
    (void)a, (void)b, (void)a_unsigned;
    c.clear();
    return tile(s);
  }
};

using MxuRegistry = config::Registry<MxuConfig, MxuTiming>;

/// Declares the `mxu` section.
void describe_mxu(config::Section& s, MxuConfig& c);

/// SCALE-Sim v2's stall-free closed form (DESIGN section 2), exposed for tests and the table impl:
/// SR, SC, T from the dataflow; folds = ceil(SR/R)*ceil(SC/C); per fold 2R+C+T-2 (WS, IS) or
/// R+C+T-2 (OS); total = folds * per_fold - 1.
MxuTile scalesim_closed_form(uint32_t rows, uint32_t cols, Dataflow flow, const MatmulShape& s);

}  // namespace npusim::arch
