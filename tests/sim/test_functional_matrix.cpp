// Every VPU instruction x dtype x operand placement (scratchpad/accumulator, broadcast), random
// data and odd shapes, against a reference written here from docs/isa.md: values widened to
// double (exact for i32 and fp32), the op applied, then narrowed with the documented rule.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <random>

#include "arch/functional.h"
#include "isa/assembler.h"

namespace npusim::arch {
namespace {

constexpr uint32_t kLine = 64;

struct Space {
  bool acc;       ///< accumulator (i32/fp32) or scratchpad (dtype)
  uint32_t line;  ///< first line
};

class Matrix {
 public:
  Matrix(const std::string& dtype) : dt_(dtype), fp_(dtype == "fp16" || dtype == "bf16") {}
  unsigned esize(bool acc) const { return acc ? 4 : (fp_ ? 2 : 1); }
  uint64_t row_lines(uint64_t cols, bool acc) const { return (cols * esize(acc) + kLine - 1) / kLine; }
  uint8_t* at(Memories& m, Space s, uint64_t r, uint64_t c, uint64_t cols) const {
    return (s.acc ? m.acc.data() : m.spad.data()) + (s.line + r * row_lines(cols, s.acc)) * kLine + c * esize(s.acc);
  }
  double read(Memories& m, Space s, uint64_t r, uint64_t c, uint64_t cols) const {
    const uint8_t* p = at(m, s, r, c, cols);
    if (s.acc) {
      if (fp_) {
        float v;
        std::memcpy(&v, p, 4);
        return v;
      }
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    if (fp_) {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return dt_ == "fp16" ? static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(b))
                           : static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(b));
    }
    return dt_ == "i8" ? static_cast<int8_t>(*p) : *p;
  }
  /// The documented narrowing of a result to the destination.
  double narrow(double v, bool acc) const {
    if (fp_) {
      const auto f = static_cast<float>(v);
      if (acc) return f;
      return dt_ == "fp16" ? static_cast<float>(Eigen::half(f)) : static_cast<float>(Eigen::bfloat16(f));
    }
    if (acc) return static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(v)));  // i32 wrap
    return dt_ == "i8" ? std::clamp(v, -128.0, 127.0) : std::clamp(v, 0.0, 255.0);
  }
  void fill_random(Memories& m, Space s, uint64_t rows, uint64_t cols, std::mt19937& rng) const {
    std::uniform_real_distribution<float> u(-40, 40);
    for (uint64_t r = 0; r < rows; ++r)
      for (uint64_t c = 0; c < cols; ++c) {
        uint8_t* p = at(m, s, r, c, cols);
        if (fp_) {
          const float f = u(rng);
          if (s.acc)
            std::memcpy(p, &f, 4);
          else {
            const uint16_t b = dt_ == "fp16" ? Eigen::numext::bit_cast<uint16_t>(Eigen::half(f))
                                             : Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(f));
            std::memcpy(p, &b, 2);
          }
        } else if (s.acc) {
          const auto v = static_cast<int32_t>(rng());
          std::memcpy(p, &v, 4);
        } else {
          *p = static_cast<uint8_t>(rng());
        }
      }
  }
  bool fp() const { return fp_; }

 private:
  std::string dt_;
  bool fp_;
};

Memories fresh() {
  Memories m;
  m.spad.assign(128 * 1024, 0);
  m.acc.assign(128 * 1024, 0);
  m.spad_bytes = m.spad.size();
  m.acc_bytes = m.acc.size();
  return m;
}

void run(const std::string& body, Memories& m) {
  const isa::Program p = isa::assemble(".target line=64\n" + body + "\nfinish\n", "t.npus", {false, 0, 20}).program;
  FunctionalModel fm(p, kLine, m);
  fm.plan(0);
  fm.execute(0);
}

std::string addr(Space s) {
  return std::string(s.acc ? "acc[" : "s[") + std::to_string(s.line) + "]";
}

TEST(FunctionalMatrix, BinaryOpsEveryDtypeAndPlacement) {
  std::mt19937 rng(11);
  const char* ops[] = {"add", "sub", "mul", "max", "min"};
  int cases = 0;
  for (const char* dtype : {"i8", "u8", "fp16", "bf16"})
    for (const char* op : ops)
      for (int placement = 0; placement < 8; ++placement)
        for (bool bcast : {false, true}) {
          const Matrix mx(dtype);
          const uint64_t rows = 1 + rng() % 9, cols = 1 + rng() % 97;
          const Space s0{(placement & 1) != 0, 0}, s1{(placement & 2) != 0, 400}, d{(placement & 4) != 0, 800};
          Memories m = fresh();
          mx.fill_random(m, s0, rows, cols, rng);
          mx.fill_random(m, s1, bcast ? 1 : rows, cols, rng);
          Memories before = m;
          run(std::string(op) + " " + addr(d) + ", " + addr(s0) + ", " + addr(s1) + ", rows=" + std::to_string(rows) +
                  ", cols=" + std::to_string(cols) + ", dtype=" + dtype + (bcast ? ", bcast" : ""),
              m);
          const std::string o = op;
          for (uint64_t r = 0; r < rows; ++r)
            for (uint64_t c = 0; c < cols; ++c) {
              double a = mx.read(before, s0, r, c, cols), b = mx.read(before, s1, bcast ? 0 : r, c, cols);
              double y;
              if (mx.fp()) {  // fp32 arithmetic, one rounding
                const float fa = static_cast<float>(a), fb = static_cast<float>(b);
                y = o == "add"   ? fa + fb
                    : o == "sub" ? fa - fb
                    : o == "mul" ? fa * fb
                    : o == "max" ? std::max(fa, fb)
                                 : std::min(fa, fb);
              } else {  // i32 wrap-around
                const auto ia = static_cast<uint32_t>(static_cast<int32_t>(a)),
                           ib = static_cast<uint32_t>(static_cast<int32_t>(b));
                y = static_cast<int32_t>(o == "add"   ? ia + ib
                                         : o == "sub" ? ia - ib
                                         : o == "mul" ? ia * ib
                                         : o == "max" ? static_cast<uint32_t>(std::max<int32_t>(a, b))
                                                      : static_cast<uint32_t>(std::min<int32_t>(a, b)));
              }
              const double want = mx.narrow(y, d.acc), got = mx.read(m, d, r, c, cols);
              ASSERT_TRUE(want == got || (std::isnan(want) && std::isnan(got)))
                  << op << " " << dtype << " placement " << placement << (bcast ? " bcast" : "") << " at " << r << ","
                  << c << ": " << got << " vs " << want;
            }
          ++cases;
        }
  EXPECT_EQ(cases, 4 * 5 * 8 * 2);
}

TEST(FunctionalMatrix, CopyReduceClampEveryDtype) {
  std::mt19937 rng(12);
  for (const char* dtype : {"i8", "u8", "fp16", "bf16"})
    for (int placement = 0; placement < 4; ++placement) {
      const Matrix mx(dtype);
      const uint64_t rows = 1 + rng() % 7, cols = 1 + rng() % 70;
      const Space s{(placement & 1) != 0, 0}, d{(placement & 2) != 0, 600};
      for (const std::string kind : {"copy", "copy_t", "sum", "max", "min", "clamp"}) {
        Memories m = fresh();
        mx.fill_random(m, s, rows, cols, rng);
        Memories before = m;
        std::string body;
        if (kind == "clamp")
          body = ".param b clamp min=-20 max=30 fmin=-2.5 fmax=7.25\nclamp " + addr(d) + ", " + addr(s) + ", b";
        else if (kind.rfind("copy", 0) == 0)
          body = "copy " + addr(d) + ", " + addr(s);
        else
          body = "reduce " + addr(d) + ", " + addr(s);
        body += ", rows=" + std::to_string(rows) + ", cols=" + std::to_string(cols) + ", dtype=" + dtype;
        if (kind == "copy_t") body += ", transpose";
        if (kind == "sum" || kind == "max" || kind == "min") body += ", op=" + kind;
        run(body, m);
        for (uint64_t r = 0; r < rows; ++r) {
          if (kind == "sum" || kind == "max" || kind == "min") {
            double acc_v = kind == "sum" ? 0 : mx.read(before, s, r, 0, cols);
            float acc_f = 0;
            uint32_t acc_i = 0;
            for (uint64_t c = 0; c < cols; ++c) {
              const double v = mx.read(before, s, r, c, cols);
              if (kind == "sum") {
                acc_f += static_cast<float>(v);
                acc_i += static_cast<uint32_t>(static_cast<int32_t>(v));
              } else {
                acc_v = kind == "max" ? std::max(acc_v, v) : std::min(acc_v, v);
              }
            }
            if (kind == "sum")
              acc_v = mx.fp() ? static_cast<double>(acc_f) : static_cast<double>(static_cast<int32_t>(acc_i));
            ASSERT_EQ(mx.read(m, d, r, 0, 1), mx.narrow(acc_v, d.acc))
                << std::setprecision(17) << mx.read(m, d, r, 0, 1) << " " << mx.narrow(acc_v, d.acc) << " " << kind
                << " " << dtype << " placement " << placement << " row " << r;
            continue;
          }
          for (uint64_t c = 0; c < cols; ++c) {
            double v = mx.read(before, s, r, c, cols);
            if (kind == "clamp")
              v = mx.fp() ? std::min(std::max(static_cast<float>(v), -2.5f), 7.25f) : std::clamp(v, -20.0, 30.0);
            const bool t = kind == "copy_t";
            ASSERT_EQ(mx.read(m, d, t ? c : r, t ? r : c, t ? rows : cols), mx.narrow(v, d.acc))
                << kind << " " << dtype << " placement " << placement << " at " << r << "," << c;
          }
        }
      }
    }
}

TEST(FunctionalMatrix, LutBothIndexTypes) {
  for (const char* dtype : {"i8", "u8"}) {
    Memories m = fresh();
    std::mt19937 rng(13);
    for (int i = 0; i < 256; ++i) m.spad[100 * kLine + i] = static_cast<uint8_t>(rng());
    for (int i = 0; i < 3 * 64; ++i) m.spad[i] = static_cast<uint8_t>(rng());
    Memories before = m;
    run(std::string("lut s[10], s[0], s[100], rows=3, cols=64, dtype=") + dtype, m);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 64; ++c) {
        const uint8_t x = before.spad[r * kLine + c];
        const int idx = std::string(dtype) == "i8" ? static_cast<int8_t>(x) + 128 : x;
        ASSERT_EQ(m.spad[(10 + r) * kLine + c], before.spad[100 * kLine + idx]);
      }
  }
}

TEST(FunctionalMatrix, PoolEveryDtypeAgainstDirectLoops) {
  std::mt19937 rng(14);
  for (const char* dtype : {"i8", "u8", "fp16", "bf16"})
    for (bool avg : {false, true})
      for (int count_pad = 0; count_pad < 2; ++count_pad) {
        const Matrix mx(dtype);
        const int ih = 7, iw = 6, kh = 3, kw = 2, sh = 2, sw = 1, pt = 1, pb = 1, pl = 1, pr = 0, ch = 5;
        const int oh = (ih + pt + pb - kh) / sh + 1, ow = (iw + pl + pr - kw) / sw + 1;
        Memories m = fresh();
        const Space src{false, 0}, dst{false, 1000};
        mx.fill_random(m, src, ih * iw, ch, rng);
        Memories before = m;
        char body[256];
        std::snprintf(body, sizeof body,
                      ".param p pool kh=%d kw=%d sh=%d sw=%d pad_top=%d pad_bottom=%d pad_left=%d pad_right=%d "
                      "count_pad=%d in_h=%d in_w=%d\n"
                      "pool s[1000], s[0], p, channels=%d, dtype=%s%s",
                      kh, kw, sh, sw, pt, pb, pl, pr, count_pad, ih, iw, ch, dtype, avg ? ", avg" : "");
        run(body, m);
        for (int oy = 0; oy < oh; ++oy)
          for (int ox = 0; ox < ow; ++ox)
            for (int c = 0; c < ch; ++c) {
              double best = -INFINITY, sum = 0;
              float sum_f = 0;
              int n = 0;
              for (int ky = 0; ky < kh; ++ky)
                for (int kx = 0; kx < kw; ++kx) {
                  const int y = oy * sh + ky - pt, x = ox * sw + kx - pl;
                  if (y < 0 || y >= ih || x < 0 || x >= iw) continue;
                  const double v = mx.read(before, src, y * iw + x, c, ch);
                  best = std::max(best, v);
                  sum += v;
                  sum_f += static_cast<float>(v);
                  ++n;
                }
              const int div = count_pad ? kh * kw : n;
              double want;
              if (!avg)
                want = best;
              else if (mx.fp())
                want = sum_f / static_cast<float>(div);
              else
                want = (sum < 0 ? -1 : 1) * std::floor(std::abs(sum) / div + 0.5);  // half away from zero
              ASSERT_EQ(mx.read(m, dst, oy * ow + ox, c, ch), mx.narrow(want, false))
                  << dtype << (avg ? " avg" : " max") << " " << oy << "," << ox;
            }
      }
}

}  // namespace
}  // namespace npusim::arch
