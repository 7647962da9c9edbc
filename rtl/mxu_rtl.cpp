// `mxu: {impl: rtl}`: every int8 matmul tile runs through the Verilated systolic array
// (rtl/systolic_array.v). The simulator compares each product with the functional model
// (COSIM_MISMATCH on any difference) and uses the RTL's cycles as the tile's timing; `npusim run
// --cosim-report` lists RTL and analytical cycles per instruction.
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

#include "arch/mxu_timing.h"
#include "rtl/systolic_rtl.h"

namespace npusim::arch {
namespace {

class RtlMxu final : public MxuTiming {
 public:
  explicit RtlMxu(const MxuConfig& c) : c_(c), rtl_(rtl::make_systolic_rtl(c.rows, c.cols)) {}

  /// Timing without operands: the RTL's schedule does not depend on the data, so a tile of zeros
  /// gives the cycles (memoised per shape).
  MxuTile tile(const MatmulShape& s) const override {
    const auto key = std::make_tuple(s.m, s.n, s.k, s.reuse_b);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    const std::vector<uint8_t> a(size_t{s.m} * s.k, 0), b(size_t{s.k} * s.n, 0);
    std::vector<int32_t> c;
    const MxuTile t = run(s, a.data(), b.data(), false, c);
    memo_.emplace(key, t);
    return t;
  }

  bool computes() const override { return true; }

  MxuTile run(const MatmulShape& s, const uint8_t* a, const uint8_t* b, bool a_unsigned,
              std::vector<int32_t>& c) const override {
    const rtl::TileRun r = rtl::run_tile(*rtl_, c_.flow(), s, a, b, a_unsigned);
    c = r.c;
    MxuTile t = scalesim_closed_form(c_.rows, c_.cols, c_.flow(), s);
    t.cycles = r.cycles;
    t.folds = r.folds;
    return t;
  }

 private:
  MxuConfig c_;
  mutable std::unique_ptr<rtl::SystolicRtl> rtl_;  ///< stateful: clocked on every call
  mutable std::map<std::tuple<uint32_t, uint32_t, uint32_t, bool>, MxuTile> memo_;
};

const bool registered = MxuRegistry::add(
    {"rtl", "Verilated rtl/systolic_array.v co-simulation (int8; 4x4, 8x8 or 16x16; ws or os)",
     [](config::Section& s, MxuConfig& c) {
       s.check([&c] {
         const auto sizes = rtl::available_sizes();
         if (c.rows != c.cols || std::find(sizes.begin(), sizes.end(), c.rows) == sizes.end())
           throw std::invalid_argument("impl rtl: RTL models exist for 4x4, 8x8 and 16x16 arrays, not " +
                                       std::to_string(c.rows) + "x" + std::to_string(c.cols));
         if (c.dataflow == "is") throw std::invalid_argument("impl rtl: the RTL array implements ws and os, not is");
         for (const auto& d : c.dtypes)
           if (d != "i8" && d != "u8")
             throw std::invalid_argument("impl rtl: the RTL array multiplies int8 (i8, u8); dtypes lists " + d);
       });
     },
     [](const MxuConfig& c) { return std::make_unique<RtlMxu>(c); }});

}  // namespace
}  // namespace npusim::arch
