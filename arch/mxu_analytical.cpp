// `mxu: {impl: analytical}`: the closed form of a weight-, output- or input-stationary systolic
// array (SCALE-Sim v2, verified against its runs; DESIGN section 2).
#include <algorithm>
#include <stdexcept>

#include "arch/mxu_timing.h"

namespace npusim::arch {

MxuTile scalesim_closed_form(uint32_t rows, uint32_t cols, Dataflow flow, const MatmulShape& s) {
  // Spatial rows SR, spatial columns SC and temporal length T per dataflow.
  uint64_t sr, sc, t;
  switch (flow) {
    case Dataflow::WeightStationary: sr = s.k, sc = s.n, t = s.m; break;
    case Dataflow::OutputStationary: sr = s.m, sc = s.n, t = s.k; break;
    default: sr = s.k, sc = s.m, t = s.n; break;
  }
  const uint64_t r = rows, c = cols;
  const uint64_t row_folds = (sr + r - 1) / r, col_folds = (sc + c - 1) / c;
  MxuTile out;
  out.folds = row_folds * col_folds;
  // WS/IS preload the stationary operand (R cycles), then skewed fill + stream + drain.
  const uint64_t per_fold = (flow == Dataflow::OutputStationary ? r : 2 * r) + c + t - 2;
  out.cycles = out.folds * per_fold - 1;
  // Mapping efficiency: PEs holding real data, averaged over folds (edge folds are partial).
  const double used = static_cast<double>(sr) * static_cast<double>(sc);
  out.mapping_efficiency = used / (static_cast<double>(out.folds) * static_cast<double>(r * c));
  return out;
}

namespace {

class AnalyticalMxu final : public MxuTiming {
 public:
  explicit AnalyticalMxu(const MxuConfig& c) : c_(c) {}
  MxuTile tile(const MatmulShape& s) const override {
    MxuTile t = scalesim_closed_form(c_.rows, c_.cols, c_.flow(), s);
    const bool stationary_preload = c_.flow() != Dataflow::OutputStationary;
    // reuse_b (weight-stationary): B is already in the array, so a single fold skips its R-cycle preload.
    if (s.reuse_b && c_.flow() == Dataflow::WeightStationary && t.folds == 1) t.cycles -= c_.rows;
    if (c_.fold_overlap && t.folds > 1) {
      // Folds pipelined: the skewed fill/drain (R + C - 2) is paid once; each later fold costs its
      // stream length T, or the next preload R when that is longer (double-buffered stationary PEs).
      const uint64_t per_fold = t.cycles / t.folds + 1;  // exact: total = folds * per_fold - 1
      const uint64_t fill_drain = (stationary_preload ? 2ull * c_.rows : c_.rows) + c_.cols - 2;
      const uint64_t stream = per_fold - fill_drain;  // T
      const uint64_t later = std::max<uint64_t>(stream, stationary_preload ? c_.rows : 0);
      t.cycles = per_fold + (t.folds - 1) * later - 1;
    }
    return t;
  }

 private:
  MxuConfig c_;  ///< parameters
};

const bool registered = MxuRegistry::add({"analytical", "SCALE-Sim closed form per tile (exact for ideal memory)",
                                          [](config::Section&, MxuConfig&) {},
                                          [](const MxuConfig& c) { return std::make_unique<AnalyticalMxu>(c); }});

}  // namespace

void describe_mxu(config::Section& s, MxuConfig& c) {
  config::impl_choice<MxuConfig, MxuTiming>(s, c, "MXU timing model", "analytical");
  s.integer("rows", c.rows, "PEs", "systolic array rows (R)", 16, 1, 4096);
  s.integer("cols", c.cols, "PEs", "systolic array columns (C)", 16, 1, 4096);
  s.choice("dataflow", c.dataflow, {"ws", "os", "is"}, "stationary operand: weights, outputs or inputs",
           std::string("ws"));
  s.choice_list("dtypes", c.dtypes, {"i8", "u8", "fp16", "bf16"}, "matmul data types the array supports",
                std::vector<std::string>{"i8", "u8"});
  s.boolean("fold_overlap", c.fold_overlap, "pipeline consecutive folds (fill/drain paid once)", false);
}

}  // namespace npusim::arch
