#include "rtl/calibrate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <vector>

#include "rtl/systolic_rtl.h"

namespace npusim::rtl {

arch::LatencyTable calibrate(const arch::MxuConfig& mxu, CalibrationStats* stats) {
  const auto t0 = std::chrono::steady_clock::now();
  auto array = make_systolic_rtl(mxu.rows, mxu.cols);
  const uint32_t R = mxu.rows, C = mxu.cols;
  std::set<uint32_t> dims = {1, std::max(1u, R / 2), std::max(1u, R - 1), R, R + 1, 2 * R, 3 * R + 5, 100};
  for (uint32_t d : {std::max(1u, C / 2), C, C + 1, 3 * C + 5}) dims.insert(d);
  arch::LatencyTable t;
  t.rows = R, t.cols = C, t.dataflow = mxu.dataflow;
  t.source = "rtl/systolic_array.v (Verilator), " + std::to_string(R) + "x" + std::to_string(C) + " " + mxu.dataflow;
  CalibrationStats st;
  std::vector<uint8_t> a, b;
  for (uint32_t m : dims)
    for (uint32_t n : dims)
      for (uint32_t k : dims)
        for (bool reuse : {false, true}) {
          const arch::MatmulShape s{m, n, k, reuse};
          if (reuse && (mxu.flow() != arch::Dataflow::WeightStationary || k > R || n > C)) continue;
          a.assign(size_t{m} * k, 0);
          b.assign(size_t{k} * n, 0);
          const TileRun r = run_tile(*array, mxu.flow(), s, a.data(), b.data(), false);
          t.cycles[{m, n, k, reuse}] = r.cycles;
          ++st.tiles;
          arch::MxuTile want = arch::scalesim_closed_form(R, C, mxu.flow(), s);
          if (reuse && want.folds == 1) want.cycles -= R;
          st.max_deviation =
              std::max(st.max_deviation, std::abs(static_cast<double>(r.cycles) - static_cast<double>(want.cycles)) /
                                             static_cast<double>(r.cycles));
        }
  t.fit();
  st.rtl_cycles = array->simulated_cycles();
  st.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (stats) *stats = st;
  return t;
}

}  // namespace npusim::rtl
