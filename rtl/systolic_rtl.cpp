#include "rtl/systolic_rtl.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "Vsystolic_16x16.h"
#include "Vsystolic_16x16_systolic_array.h"
#include "Vsystolic_4x4.h"
#include "Vsystolic_4x4_systolic_array.h"
#include "Vsystolic_8x8.h"
#include "Vsystolic_8x8_systolic_array.h"
#include "verilated.h"

namespace npusim::rtl {
namespace {

/// One Verilated size. The operand buffers are filled through the model's public arrays (a
/// back door: what the write ports would do one element per cycle), then the fold is clocked.
template <class Model, uint32_t R, uint32_t C>
class VerilatedArray final : public SystolicRtl {
 public:
  VerilatedArray() : ctx_(std::make_unique<VerilatedContext>()), m_(std::make_unique<Model>(ctx_.get())) {
    m_->rst = 1;
    tick();
    tick();
    m_->rst = 0;
  }
  ~VerilatedArray() override { m_->final(); }
  uint32_t rows() const override { return R; }
  uint32_t cols() const override { return C; }
  uint32_t max_t() const override { return kTmax; }
  uint64_t simulated_cycles() const override { return cycles_; }

  uint64_t run_fold(bool os, bool a_unsigned, bool skip_preload, uint32_t t_len, const std::vector<uint8_t>& a_lanes,
                    const std::vector<uint8_t>& b, std::vector<int32_t>& out) override {
    auto& arr = *m_->systolic_array;
    for (uint32_t r = 0; r < R; ++r)
      for (uint32_t t = 0; t < t_len; ++t) arr.a_buf[r][t] = a_lanes[r * kTmax + t];
    const uint32_t b_rows = os ? t_len : R;
    for (uint32_t row = 0; row < b_rows; ++row)
      for (uint32_t c = 0; c < C; ++c) arr.b_buf[row][c] = b[row * C + c];
    m_->os_mode = os;
    m_->a_unsigned = a_unsigned;
    m_->skip_preload = skip_preload;
    m_->t_len = static_cast<uint16_t>(t_len);
    m_->start = 1;
    tick();  // the start edge: busy from here, cycle 0 of the fold
    m_->start = 0;
    uint64_t busy = 0;
    while (m_->busy) {
      ++busy;
      tick();
    }
    tick();  // the done cycle: the last weight-stationary output is captured
    if (os) {
      out.assign(size_t{R} * C, 0);
      for (uint32_t r = 0; r < R; ++r)
        for (uint32_t c = 0; c < C; ++c) {
          m_->rd_row = static_cast<uint16_t>(r);
          m_->rd_col = static_cast<uint8_t>(c);
          m_->eval();
          out[r * C + c] = static_cast<int32_t>(m_->rd_data);
        }
    } else {
      out.assign(size_t{t_len} * C, 0);
      for (uint32_t t = 0; t < t_len; ++t)
        for (uint32_t c = 0; c < C; ++c) out[t * C + c] = static_cast<int32_t>(arr.c_buf[t][c]);
    }
    return busy;
  }

 private:
  static constexpr uint32_t kTmax = 1024;  ///< the TMAX the models are built with (rtl/CMakeLists.txt)
  void tick() {
    m_->clk = 0;
    m_->eval();
    m_->clk = 1;
    m_->eval();
    ++cycles_;
  }
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Model> m_;
  uint64_t cycles_ = 0;
};

}  // namespace

std::vector<uint32_t> available_sizes() {
  return {4, 8, 16};
}

std::unique_ptr<SystolicRtl> make_systolic_rtl(uint32_t rows, uint32_t cols) {
  if (rows == 4 && cols == 4) return std::make_unique<VerilatedArray<Vsystolic_4x4, 4, 4>>();
  if (rows == 8 && cols == 8) return std::make_unique<VerilatedArray<Vsystolic_8x8, 8, 8>>();
  if (rows == 16 && cols == 16) return std::make_unique<VerilatedArray<Vsystolic_16x16, 16, 16>>();
  throw std::invalid_argument("no RTL model of a " + std::to_string(rows) + "x" + std::to_string(cols) +
                              " array is built (4x4, 8x8 and 16x16 are)");
}

TileRun run_tile(SystolicRtl& rtl, arch::Dataflow flow, const arch::MatmulShape& s, const uint8_t* a, const uint8_t* b,
                 bool a_unsigned) {
  if (flow == arch::Dataflow::InputStationary)
    throw std::invalid_argument("the RTL array implements the ws and os dataflows, not is");
  const bool os = flow == arch::Dataflow::OutputStationary;
  const uint32_t R = rtl.rows(), C = rtl.cols(), tmax = rtl.max_t();
  TileRun run;
  run.c.assign(size_t{s.m} * s.n, 0);
  std::vector<uint8_t> lanes(size_t{R} * tmax), bb;
  std::vector<int32_t> out;
  uint64_t busy = 0;
  // Spatial rows (WS: k, OS: m) by R, columns (n) by C, the streamed dimension (WS: m, OS: k) by TMAX.
  const uint32_t sr = os ? s.m : s.k, tlen = os ? s.k : s.m;
  uint64_t folds = 0;
  for (uint32_t r0 = 0; r0 < sr; r0 += R)
    for (uint32_t n0 = 0; n0 < s.n; n0 += C) ++folds;
  for (uint32_t r0 = 0; r0 < sr; r0 += R)
    for (uint32_t n0 = 0; n0 < s.n; n0 += C)
      for (uint32_t t0 = 0; t0 < tlen; t0 += tmax) {
        const uint32_t rr = std::min(R, sr - r0), nn = std::min(C, s.n - n0), tt = std::min(tmax, tlen - t0);
        std::fill(lanes.begin(), lanes.end(), 0);
        bb.assign(size_t{os ? tt : R} * C, 0);
        for (uint32_t r = 0; r < rr; ++r)
          for (uint32_t t = 0; t < tt; ++t)  // WS lane r = A[:, k0 + r]; OS lane r = A[m0 + r, :]
            lanes[r * tmax + t] = os ? a[size_t{r0 + r} * s.k + t0 + t] : a[size_t{t0 + t} * s.k + r0 + r];
        if (os) {
          for (uint32_t t = 0; t < tt; ++t)
            for (uint32_t c = 0; c < nn; ++c) bb[t * C + c] = b[size_t{t0 + t} * s.n + n0 + c];
        } else {
          for (uint32_t r = 0; r < rr; ++r)
            for (uint32_t c = 0; c < nn; ++c) bb[r * C + c] = b[size_t{r0 + r} * s.n + n0 + c];
        }
        const bool skip = !os && s.reuse_b && folds == 1;
        busy += rtl.run_fold(os, a_unsigned, skip, tt, lanes, bb, out);
        ++run.folds;
        for (uint32_t i = 0; i < (os ? rr : tt); ++i)
          for (uint32_t c = 0; c < nn; ++c) {
            const size_t at = os ? size_t{r0 + i} * s.n + n0 + c : size_t{t0 + i} * s.n + n0 + c;
            run.c[at] = static_cast<int32_t>(static_cast<uint32_t>(run.c[at]) + static_cast<uint32_t>(out[i * C + c]));
          }
      }
  run.cycles = busy ? busy - 1 : 0;
  return run;
}

}  // namespace npusim::rtl
