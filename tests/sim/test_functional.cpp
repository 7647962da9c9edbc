// The functional model against independent references: Eigen (int64 GEMM), a plain
// sequential fp32 loop for fp16/bf16, exact-rational requantization, and straightforward
// loops for the VPU instructions, over random shapes including edges.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <cmath>
#include <cstring>
#include <random>

#include "arch/functional.h"
#include "isa/assembler.h"
#include "isa_ops.h"

namespace npusim::arch {
namespace {

constexpr uint32_t kLine = 64;
__extension__ typedef __int128 Int128;

/// A program with one instruction (plus finish) and fresh memories.
struct Fixture {
  isa::Program prog;
  Memories mem;
  std::mt19937 rng{42};
  explicit Fixture(const std::string& decls_and_instr) {
    prog = isa::assemble(".npus 1.0\n.target line=64\n" + decls_and_instr + "\nfinish\n", "t.npus", {false, 0, 20})
               .program;
    mem.spad.assign(256 * 1024, 0);
    mem.acc.assign(128 * 1024, 0);
    mem.spad_bytes = mem.spad.size();
    mem.acc_bytes = mem.acc.size();
    for (const auto& r : prog.regions) {
      mem.region_size.push_back(r.size);
      mem.regions.emplace_back(r.size, 0);
      std::copy(r.init.begin(), r.init.end(), mem.regions.back().begin());
      mem.region_base.push_back(mem.region_base.empty() ? 0 : mem.region_base.back() + (1 << 20));
    }
  }
  void run() {
    FunctionalModel fm(prog, kLine, mem);
    fm.plan(0);
    fm.execute(0);
  }
  void randomize(std::vector<uint8_t>& v) {
    for (auto& b : v) b = static_cast<uint8_t>(rng());
  }
};

uint64_t rl(uint64_t cols, unsigned es) {
  return (cols * es + kLine - 1) / kLine;
}

TEST(Functional, IntegerMatmulMatchesEigenForRandomShapes) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 40; ++trial) {
    const int m = 1 + rng() % 40, n = 1 + rng() % 70, k = 1 + rng() % 90;
    const bool u8 = trial % 2, ta = trial % 3 == 0, tb = trial % 5 == 0, accumulate = trial % 4 == 0;
    const uint32_t a_line = 0, b_line = 2048;
    char instr[256];
    std::snprintf(instr, sizeof instr, "matmul acc[0], s[%u], s[%u], m=%d, n=%d, k=%d, dtype=%s%s%s%s", a_line, b_line,
                  m, n, k, u8 ? "u8" : "i8", ta ? ", trans_a" : "", tb ? ", trans_b" : "",
                  accumulate ? ", accumulate" : "");
    Fixture fx(instr);
    fx.randomize(fx.mem.spad);
    fx.randomize(fx.mem.acc);
    // Independent reference in int64 with Eigen.
    Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic> A(m, k), B(k, n), C0(m, n);
    for (int i = 0; i < m; ++i)
      for (int kk = 0; kk < k; ++kk) {
        const uint8_t byte =
            ta ? fx.mem.spad[(a_line + kk * rl(m, 1)) * kLine + i] : fx.mem.spad[(a_line + i * rl(k, 1)) * kLine + kk];
        A(i, kk) = u8 ? byte : static_cast<int8_t>(byte);
      }
    for (int kk = 0; kk < k; ++kk)
      for (int j = 0; j < n; ++j) {
        const uint8_t byte =
            tb ? fx.mem.spad[(b_line + j * rl(k, 1)) * kLine + kk] : fx.mem.spad[(b_line + kk * rl(n, 1)) * kLine + j];
        B(kk, j) = static_cast<int8_t>(byte);
      }
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        int32_t v;
        std::memcpy(&v, &fx.mem.acc[(i * rl(n, 4)) * kLine + 4 * j], 4);
        C0(i, j) = accumulate ? v : 0;
      }
    const Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic> want = C0 + A * B;
    fx.run();
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        int32_t got;
        std::memcpy(&got, &fx.mem.acc[(i * rl(n, 4)) * kLine + 4 * j], 4);
        ASSERT_EQ(got, static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(want(i, j)))))
            << instr << " at " << i << "," << j;  // wrap-around of the accumulate add
      }
  }
}

TEST(Functional, FloatMatmulAccumulatesInFp32InKOrder) {
  for (const char* dt : {"fp16", "bf16"}) {
    const int m = 9, n = 33, k = 70;
    Fixture fx(std::string("matmul acc[0], s[0], s[1024], m=9, n=33, k=70, dtype=") + dt);
    std::uniform_real_distribution<float> u(-2, 2);
    auto enc = [&](float v) {
      return std::string(dt) == "fp16" ? Eigen::numext::bit_cast<uint16_t>(Eigen::half(v))
                                       : Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(v));
    };
    auto dec = [&](uint16_t b) {
      return std::string(dt) == "fp16" ? static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(b))
                                       : static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(b));
    };
    std::vector<float> A(m * k), B(k * n);
    for (int i = 0; i < m; ++i)
      for (int kk = 0; kk < k; ++kk) {
        const uint16_t b = enc(u(fx.rng));
        std::memcpy(&fx.mem.spad[(i * rl(k, 2)) * kLine + 2 * kk], &b, 2);
        A[i * k + kk] = dec(b);
      }
    for (int kk = 0; kk < k; ++kk)
      for (int j = 0; j < n; ++j) {
        const uint16_t b = enc(u(fx.rng));
        std::memcpy(&fx.mem.spad[(1024 + kk * rl(n, 2)) * kLine + 2 * j], &b, 2);
        B[kk * n + j] = dec(b);
      }
    fx.run();
    double max_rel_vs_double = 0;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        float want = 0;
        double exact = 0;
        for (int kk = 0; kk < k; ++kk) {
          want = want + A[i * k + kk] * B[kk * n + j];
          exact += static_cast<double>(A[i * k + kk]) * B[kk * n + j];
        }
        float got;
        std::memcpy(&got, &fx.mem.acc[(i * rl(n, 4)) * kLine + 4 * j], 4);
        ASSERT_EQ(Eigen::numext::bit_cast<uint32_t>(got), Eigen::numext::bit_cast<uint32_t>(want)) << dt;
        max_rel_vs_double = std::max(max_rel_vs_double, std::abs(got - exact) / std::max(1.0, std::abs(exact)));
      }
    EXPECT_LT(max_rel_vs_double, 1e-5) << dt;  // sanity against a double-precision sum
  }
}

/// Independent requantization reference in exact rational arithmetic.
/// round(num / den) with ties away from zero (den > 0).
int64_t round_half_away(Int128 num, Int128 den) {
  const Int128 a = num < 0 ? -num : num;
  const Int128 q = (2 * a + den) / (2 * den);
  return static_cast<int64_t>(num < 0 ? -q : q);
}
/// round(num / 2^31) with positive ties up and negative ties toward zero (gemmlowp's SRDHM).
int64_t round_srdhm(Int128 num) {
  const Int128 den = static_cast<Int128>(1) << 31;
  if (num >= 0) return static_cast<int64_t>((2 * num + den) / (2 * den));
  const Int128 a = -num;  // |num| / den rounded half down, negated
  return -static_cast<int64_t>((2 * a + den - 1) / (2 * den));
}

int32_t reference_tflite(int32_t x, int32_t m, int32_t s) {
  int64_t xs = x;
  if (s < 0) xs = std::clamp<int64_t>(xs * (int64_t{1} << -s), INT32_MIN, INT32_MAX);
  const int64_t h = (xs == INT32_MIN && m == INT32_MIN) ? INT32_MAX : round_srdhm(static_cast<Int128>(xs) * m);
  if (s <= 0) return static_cast<int32_t>(h);
  return static_cast<int32_t>(round_half_away(h, static_cast<Int128>(1) << s));
}

TEST(Functional, RequantizeTfliteMatchesExactRationalReference) {
  std::mt19937 rng(3);
  const int32_t edge_x[] = {0, 1, -1, 127, -128, INT32_MAX, INT32_MIN, 1 << 20, -(1 << 20), 3, -3};
  for (int trial = 0; trial < 200000; ++trial) {
    const int32_t x = trial < 11 * 8 ? edge_x[trial % 11] : static_cast<int32_t>(rng());
    const int32_t m = trial % 7 == 0 ? INT32_MIN : static_cast<int32_t>((1u << 30) + rng() % (1u << 30));
    const int32_t s = static_cast<int32_t>(rng() % 40) - 8;  // [-8, 31]
    ASSERT_EQ(requantize(x, m, s, isa::params::requant::mode_tflite), reference_tflite(x, m, s))
        << x << " " << m << " " << s;
  }
  // Ties in the doubling high multiply: 2.5 → 3 but -2.5 → -2 (gemmlowp's nudge) ...
  EXPECT_EQ(requantize(5, 1 << 30, 0, isa::params::requant::mode_tflite), 3);
  EXPECT_EQ(requantize(-5, 1 << 30, 0, isa::params::requant::mode_tflite), -2);
  // ... while the rounding shift rounds ties away from zero: -5 / 2 = -2.5 → -3.
  EXPECT_EQ(requantize(-5, INT32_MAX, 1, isa::params::requant::mode_tflite), -3);
}

TEST(Functional, RequantizeRhuAndFp32) {
  namespace q = isa::params::requant;
  // rhu: floor((x*M + 2^(30+S)) / 2^(31+S)) — ties go up: -2.5 → -2.
  EXPECT_EQ(requantize(5, 1 << 30, 0, q::mode_rhu), 3);
  EXPECT_EQ(requantize(-5, 1 << 30, 0, q::mode_rhu), -2);
  std::mt19937 rng(9);
  for (int i = 0; i < 100000; ++i) {
    const auto x = static_cast<int32_t>(rng()), m = static_cast<int32_t>(rng() >> 1);
    const int32_t s = static_cast<int32_t>(rng() % 20);
    const Int128 num = static_cast<Int128>(x) * m + (static_cast<Int128>(1) << (30 + s));
    Int128 want = num >> (31 + s);
    want = std::clamp<Int128>(want, INT32_MIN, INT32_MAX);
    ASSERT_EQ(requantize(x, m, s, q::mode_rhu), static_cast<int32_t>(want));
  }
  // fp32: round half to even of the binary32 product.
  const float scale = 0.5f;
  int32_t bits;
  std::memcpy(&bits, &scale, 4);
  EXPECT_EQ(requantize(5, bits, 0, q::mode_fp32), 2);  // 2.5 → 2
  EXPECT_EQ(requantize(7, bits, 0, q::mode_fp32), 4);  // 3.5 → 4
  EXPECT_EQ(requantize(-5, bits, 0, q::mode_fp32), -2);
}

TEST(Functional, RequantInstructionAddsZeroPointClampsAndSaturates) {
  Fixture fx(
      ".param q requant mode=tflite multiplier=1073741824 shift=1 zp=-5 min=-100 max=127\n"
      "requant s[0], acc[0], q, rows=3, cols=20, dtype=i8");
  std::uniform_int_distribution<int32_t> u(-2000, 2000);
  std::vector<int32_t> x(60);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 20; ++c) {
      x[r * 20 + c] = u(fx.rng);
      std::memcpy(&fx.mem.acc[(r * rl(20, 4)) * kLine + 4 * c], &x[r * 20 + c], 4);
    }
  fx.run();
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 20; ++c) {
      const int64_t y = std::clamp<int64_t>(reference_tflite(x[r * 20 + c], 1 << 30, 1) - 5, -100, 127);
      EXPECT_EQ(static_cast<int8_t>(fx.mem.spad[r * kLine + c]),
                static_cast<int8_t>(std::clamp<int64_t>(y, -128, 127)));
    }
}

TEST(Functional, RequantQuantizesFp32AccumulatorByDivision) {
  // acc_type=fp32 to u8: y = sat(nearbyint(x / 5) + 100). 12.5 / 5 = 2.5 rounds to even (2);
  // multiplying by the reciprocal 0.2f would give 2.50000004 and round to 3.
  Fixture fx(
      ".param q requant mode=fp32 scale=5 zp=100 min=0 max=255\n"
      "requant s[0], acc[0], q, rows=1, cols=6, dtype=u8, acc_type=fp32");
  const float x[6] = {12.5f, 17.5f, -12.5f, 1000.0f, -1000.0f, NAN};
  std::memcpy(fx.mem.acc.data(), x, sizeof x);
  fx.run();
  const uint8_t want[6] = {102, 104, 98, 255, 0, 100};  // 2, 4 (3.5 → 4), -2, 200 → sat, -200 → sat, NaN → 0
  for (int c = 0; c < 6; ++c) EXPECT_EQ(fx.mem.spad[c], want[c]) << c;
}

TEST(Functional, RequantDequantizesI32AccumulatorToFloat) {
  // acc_type=i32 to fp16: y = fp16(float(x) * 0.25); 2049 * 0.25 = 512.25 rounds to 512 in fp16.
  Fixture fx(
      ".param q requant mode=fp32 scale=0.25\n"
      "requant s[0], acc[0], q, rows=1, cols=4, dtype=fp16, acc_type=i32");
  const int32_t x[4] = {-7, 0, 2049, 100000};
  std::memcpy(fx.mem.acc.data(), x, sizeof x);
  fx.run();
  const float want[4] = {-1.75f, 0.0f, 512.0f, 24992.0f};  // 25000 is a tie between 24992 and 25008: even
  for (int c = 0; c < 4; ++c) {
    uint16_t h;
    std::memcpy(&h, &fx.mem.spad[2 * c], 2);
    EXPECT_EQ(static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(h)), want[c]) << c;
  }
}

TEST(Functional, SpecialFunctionsRoundOnceFromBinary64) {
  // Every function on fp16 inputs against the C library in double, rounded to float then fp16;
  // from the accumulator (fp32) to the accumulator (fp32) for exp.
  const char* names[] = {"exp", "log", "recip", "sqrt", "rsqrt", "tanh", "sigmoid", "erf"};
  for (uint32_t fn = 0; fn < 8; ++fn) {
    Fixture fx(std::string("sfu s[4], s[0], ") + names[fn] + ", rows=1, cols=8, dtype=fp16");
    const float xs[8] = {0.5f, 1.0f, 2.0f, 3.140625f, 0.0078125f, 7.5f, 0.25f, 10.0f};
    for (int c = 0; c < 8; ++c) {
      const uint16_t h = Eigen::numext::bit_cast<uint16_t>(Eigen::half(xs[c]));
      std::memcpy(&fx.mem.spad[2 * c], &h, 2);
    }
    fx.run();
    for (int c = 0; c < 8; ++c) {
      const double x = xs[c];
      const double want = fn == 0   ? std::exp(x)
                          : fn == 1 ? std::log(x)
                          : fn == 2 ? 1.0 / x
                          : fn == 3 ? std::sqrt(x)
                          : fn == 4 ? 1.0 / std::sqrt(x)
                          : fn == 5 ? std::tanh(x)
                          : fn == 6 ? 1.0 / (1.0 + std::exp(-x))
                                    : std::erf(x);
      uint16_t h;
      std::memcpy(&h, &fx.mem.spad[4 * kLine + 2 * c], 2);
      EXPECT_EQ(h, Eigen::numext::bit_cast<uint16_t>(Eigen::half(static_cast<float>(want))))
          << names[fn] << "(" << x << ")";
    }
  }
  Fixture fa("sfu acc[1], acc[0], exp, rows=1, cols=2, dtype=fp16");
  const float x[2] = {1.5f, -20.25f};
  std::memcpy(fa.mem.acc.data(), x, 8);
  fa.run();
  float y[2];
  std::memcpy(y, &fa.mem.acc[kLine], 8);
  EXPECT_EQ(y[0], static_cast<float>(std::exp(1.5)));
  EXPECT_EQ(y[1], static_cast<float>(std::exp(-20.25)));
}

TEST(Functional, PerChannelRequantReadsItsTable) {
  // Column c: multiplier 2^30 (x 0.5), shift c (divide by 2^c).
  std::string data = ".region t role=const size=64\n.data t hex \"";
  char b[32];
  for (int c = 0; c < 4; ++c) {
    std::snprintf(b, sizeof b, "00000040%02x000000", c);
    data += b;
  }
  Fixture fx(data +
             "\"\n.param q requant mode=tflite per_channel=1 region=t table=0 min=-128 max=127\n"
             "requant s[0], acc[0], q, rows=1, cols=4");
  for (int c = 0; c < 4; ++c) {
    const int32_t v = 1000;
    std::memcpy(&fx.mem.acc[4 * c], &v, 4);
  }
  fx.run();
  EXPECT_EQ(static_cast<int8_t>(fx.mem.spad[0]), 127);  // 500 saturates
  EXPECT_EQ(static_cast<int8_t>(fx.mem.spad[1]), 127);  // 250
  EXPECT_EQ(static_cast<int8_t>(fx.mem.spad[2]), 125);
  EXPECT_EQ(static_cast<int8_t>(fx.mem.spad[3]), 63);  // 62.5 → 63 (away from zero)
}

TEST(Functional, PerChannelRequantStartsAtItsTilesFirstColumn) {
  // The same table; a tile of 2 columns with col0=2 uses entries 2 and 3 (shifts 2 and 3).
  std::string data = ".region t role=const size=64\n.data t hex \"";
  char b[32];
  for (int c = 0; c < 4; ++c) {
    std::snprintf(b, sizeof b, "00000040%02x000000", c);
    data += b;
  }
  Fixture fx(data +
             "\"\n.param q requant mode=tflite per_channel=1 region=t table=0 min=-128 max=127\n"
             "requant s[0], acc[0], q, rows=1, cols=2, col0=2");
  for (int c = 0; c < 2; ++c) {
    const int32_t v = 1000;
    std::memcpy(&fx.mem.acc[4 * c], &v, 4);
  }
  fx.run();
  EXPECT_EQ(static_cast<int8_t>(fx.mem.spad[0]), 125);  // entry 2: 1000 / 2 / 4
  EXPECT_EQ(static_cast<int8_t>(fx.mem.spad[1]), 63);   // entry 3: 62.5 → 63
}

TEST(Functional, BinaryOpsSaturateWrapAndBroadcast) {
  for (const char* op : {"add", "sub", "mul", "max", "min"}) {
    Fixture fx(std::string(op) + " s[100], s[0], s[50], rows=5, cols=70, dtype=i8, bcast");
    fx.randomize(fx.mem.spad);
    std::vector<uint8_t> before = fx.mem.spad;
    fx.run();
    for (int r = 0; r < 5; ++r)
      for (int c = 0; c < 70; ++c) {
        const int a = static_cast<int8_t>(before[(r * 2) * kLine + c]),
                  bb = static_cast<int8_t>(before[50 * kLine + c]);
        const std::string o = op;
        const int y = o == "add"   ? a + bb
                      : o == "sub" ? a - bb
                      : o == "mul" ? a * bb
                      : o == "max" ? std::max(a, bb)
                                   : std::min(a, bb);
        ASSERT_EQ(static_cast<int8_t>(fx.mem.spad[(100 + r * 2) * kLine + c]), std::clamp(y, -128, 127)) << op;
      }
  }
  // Into the accumulator: i32 wrap-around.
  Fixture fx("add acc[0], acc[1], acc[2], rows=1, cols=1");
  const int32_t big = INT32_MAX;
  std::memcpy(&fx.mem.acc[1 * kLine], &big, 4);
  std::memcpy(&fx.mem.acc[2 * kLine], &big, 4);
  fx.run();
  int32_t got;
  std::memcpy(&got, &fx.mem.acc[0], 4);
  EXPECT_EQ(got, -2);
}

TEST(Functional, PoolMaxAndAverageWithPadding) {
  // 4x4 image, 1 channel, values 0..15; 3x3 window, stride 2, pad 1 on all sides → 2x2 output.
  Fixture fx(
      ".param p pool kh=3 kw=3 sh=2 sw=2 pad_top=1 pad_bottom=1 pad_left=1 pad_right=1 in_h=4 in_w=4\n"
      "pool s[100], s[0], p, channels=1, avg, dtype=u8");
  for (int i = 0; i < 16; ++i) fx.mem.spad[i * kLine] = static_cast<uint8_t>(i);
  fx.run();
  // Valid-count average: window at (0,0) covers pixels {0,1,4,5} → 10/4 = 2.5 → 3 (half away from zero).
  EXPECT_EQ(fx.mem.spad[100 * kLine], 3);
  // Window at (0,1) covers rows 0-1, cols 1-3: {1,2,3,5,6,7} = 24/6 = 4.
  EXPECT_EQ(fx.mem.spad[101 * kLine], 4);
  // (1,1): rows 1-3, cols 1-3: 5+6+7+9+10+11+13+14+15 = 90/9 = 10.
  EXPECT_EQ(fx.mem.spad[103 * kLine], 10);
  Fixture mx(".param p pool kh=2 kw=2 sh=2 sw=2 in_h=4 in_w=4\npool s[100], s[0], p, channels=1, dtype=i8");
  for (int i = 0; i < 16; ++i) mx.mem.spad[i * kLine] = static_cast<uint8_t>(static_cast<int8_t>(i - 8));
  mx.run();
  EXPECT_EQ(static_cast<int8_t>(mx.mem.spad[100 * kLine]), 5 - 8);
  EXPECT_EQ(static_cast<int8_t>(mx.mem.spad[103 * kLine]), 15 - 8);
}

TEST(Functional, LutCopyTransposeReduceClamp) {
  Fixture lut("lut s[10], s[0], s[20], rows=1, cols=4, dtype=i8");
  for (int i = 0; i < 256; ++i) lut.mem.spad[20 * kLine + i] = static_cast<uint8_t>(255 - i);
  const int8_t xs[4] = {-128, -1, 0, 127};
  std::memcpy(&lut.mem.spad[0], xs, 4);
  lut.run();
  EXPECT_EQ(lut.mem.spad[10 * kLine + 0], 255);  // table[-128 + 128]
  EXPECT_EQ(lut.mem.spad[10 * kLine + 1], 255 - 127);
  EXPECT_EQ(lut.mem.spad[10 * kLine + 3], 0);

  Fixture cp("copy s[100], s[0], rows=3, cols=5, dtype=u8, transpose");
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) cp.mem.spad[r * kLine + c] = static_cast<uint8_t>(10 * r + c);
  cp.run();
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) EXPECT_EQ(cp.mem.spad[(100 + c) * kLine + r], 10 * r + c);

  Fixture rd("reduce acc[0], s[0], rows=2, cols=100, dtype=i8, op=sum");
  int64_t want[2] = {0, 0};
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 100; ++c) {
      const auto v = static_cast<int8_t>(rd.rng());
      rd.mem.spad[(r * 2) * kLine + c] = static_cast<uint8_t>(v);
      want[r] += v;
    }
  rd.run();
  for (int r = 0; r < 2; ++r) {
    int32_t got;
    std::memcpy(&got, &rd.mem.acc[r * kLine], 4);
    EXPECT_EQ(got, want[r]);
  }

  Fixture cl(".param relu6 clamp min=0 max=6 fmin=0 fmax=6\nclamp s[10], s[0], relu6, rows=1, cols=3, dtype=fp16");
  const uint16_t vals[3] = {Eigen::numext::bit_cast<uint16_t>(Eigen::half(-1.5f)),
                            Eigen::numext::bit_cast<uint16_t>(Eigen::half(2.25f)),
                            Eigen::numext::bit_cast<uint16_t>(Eigen::half(9.0f))};
  std::memcpy(&cl.mem.spad[0], vals, 6);
  cl.run();
  uint16_t out[3];
  std::memcpy(out, &cl.mem.spad[10 * kLine], 6);
  EXPECT_EQ(static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(out[0])), 0.0f);
  EXPECT_EQ(static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(out[1])), 2.25f);
  EXPECT_EQ(static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(out[2])), 6.0f);
}

TEST(Functional, LoadWalksBoxStridesAndPadding) {
  // A 4x6 i8 image in DRAM; load a 2x3 box starting at (1,2) with one padding row on each side
  // of dimension 1 filled with the zero point.
  Fixture fx(
      ".region x role=input size=24\n.desc D region=x dtype=i8 box=[1, 3, 2] stride=[1, 6] zp=-7\n"
      "load s[0], D, off=8, pad_left=1, pad_right=1, pad_zp");
  for (int i = 0; i < 24; ++i) fx.mem.regions[0][i] = static_cast<uint8_t>(i);
  fx.run();
  // Rows: per dim-2 index (2 of them): pad, (r,2), (r,3), (r,4), pad.
  const int want[10] = {-7, 8, 9, 10, -7, -7, 14, 15, 16, -7};
  for (int j = 0; j < 10; ++j) EXPECT_EQ(static_cast<int8_t>(fx.mem.spad[j * kLine]), want[j]) << j;
}

TEST(Functional, FillRepeatsTheLittleEndianPattern) {
  for (const char* space : {"s", "acc"}) {
    Fixture fx(std::string("fill ") + space + "[3], lines=2, value=0x11223344");
    fx.randomize(fx.mem.spad);
    fx.randomize(fx.mem.acc);
    const Memories before = fx.mem;
    fx.run();
    const auto& mem = std::string(space) == "s" ? fx.mem.spad : fx.mem.acc;
    const auto& old = std::string(space) == "s" ? before.spad : before.acc;
    const uint8_t pattern[4] = {0x44, 0x33, 0x22, 0x11};
    for (size_t i = 0; i < 5 * kLine; ++i) {
      const bool filled = i >= 3 * kLine;
      EXPECT_EQ(mem[i], filled ? pattern[i % 4] : old[i]) << space << " byte " << i;
    }
    EXPECT_EQ(mem[5 * kLine], old[5 * kLine]);  // the line after is untouched
  }
}

TEST(Functional, StoreWritesTheDescriptorBox) {
  Fixture fx(".region y role=output size=64\n.desc Y region=y dtype=i8 box=[4, 3] stride=[10]\nstore Y, s[2], off=5");
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) fx.mem.spad[(2 + r) * kLine + c] = static_cast<uint8_t>(10 * r + c + 1);
  fx.run();
  for (int i = 0; i < 64; ++i) {
    const int rel = i - 5, r = rel / 10, c = rel % 10;
    const bool inside = rel >= 0 && r < 3 && c < 4;
    EXPECT_EQ(fx.mem.regions[0][i], inside ? 10 * r + c + 1 : 0) << "byte " << i;
  }
}

TEST(Functional, BoundsFaultsNameTheInstruction_bad) {
  Fixture region(".region x role=input size=16\n.desc D region=x dtype=i8 box=[16]\nload s[0], D, off=1");
  try {
    region.run();
    ADD_FAILURE();
  } catch (const Fault& f) {
    EXPECT_EQ(f.code(), FaultCode::RegionBounds);
    EXPECT_EQ(f.index(), 0);
    EXPECT_EQ(f.engine(), isa::Engine::Load);
    EXPECT_NE(std::string(f.what()).find("bytes [1, 17) outside region 'x' (16 bytes)"), std::string::npos) << f.what();
  }
  Fixture sram("matmul acc[2040], s[0], s[0], m=16, n=16, k=16, dtype=i8");
  try {
    sram.run();
    ADD_FAILURE();
  } catch (const Fault& f) {
    EXPECT_EQ(f.code(), FaultCode::SramBounds);
    EXPECT_NE(std::string(f.what()).find("matmul C: lines [2040, 2056) exceed the accumulator (2048 lines of 64 B)"),
              std::string::npos)
        << f.what();
  }
}

/// Writes `v` as fp16 at byte `at` of `mem`.
void put_half(std::vector<uint8_t>& mem, size_t at, float v) {
  const uint16_t h = Eigen::numext::bit_cast<uint16_t>(Eigen::half(v));
  std::memcpy(&mem[at], &h, 2);
}
float get_half(const std::vector<uint8_t>& mem, size_t at) {
  uint16_t h;
  std::memcpy(&h, &mem[at], 2);
  return static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(h));
}
void put_i32(std::vector<uint8_t>& mem, size_t at, int32_t v) {
  std::memcpy(&mem[at], &v, 4);
}
int32_t get_i32(const std::vector<uint8_t>& mem, size_t at) {
  int32_t v;
  std::memcpy(&v, &mem[at], 4);
  return v;
}

TEST(Functional, GatherReadsTheIndexedRowsAndWrapsNegativeIndices) {
  // A 5 x 6 fp16 table whose rows are 12 bytes apart, 2 elements (4 bytes) into the region.
  const std::string decls = ".region t role=input size=64\n.desc T region=t dtype=fp16 box=[6, 5] stride=[12]\n";
  Fixture fx(decls + "gather s[4], T, s[0], count=4, off=2, wrap");
  for (int i = 0; i < 32; ++i) put_half(fx.mem.regions[0], 2 * i, static_cast<float>(i));
  const int32_t idx[4] = {3, 0, -1, -5};  // rows 3, 0, 4, 0
  std::memcpy(fx.mem.spad.data(), idx, sizeof idx);
  FunctionalModel fm(fx.prog, kLine, fx.mem);
  const Footprint fp = fm.plan(0);
  EXPECT_EQ(fp.dram_bytes, 4u * 12u);
  ASSERT_EQ(fp.dram.size(), 4u);  // rows 3, 0, 4, 0: none contiguous with the one before
  EXPECT_EQ(fp.dram[0].first, 4u + 3u * 12u);
  EXPECT_EQ(fp.dram[2].first, 4u + 4u * 12u);
  fm.execute(0);
  const int want_row[4] = {3, 0, 4, 0};
  for (int j = 0; j < 4; ++j)
    for (int c = 0; c < 6; ++c)
      EXPECT_EQ(get_half(fx.mem.spad, (4 + j) * kLine + 2 * c), 2 + 6 * want_row[j] + c) << j << "," << c;
  // Into the accumulator (i32 rows), consecutive indices merge into one DRAM burst.
  Fixture acc(
      ".region t role=input size=64\n.desc T region=t dtype=i32 box=[2, 8] stride=[8]\n"
      "gather acc[1], T, s[0], count=3");
  for (int i = 0; i < 16; ++i) put_i32(acc.mem.regions[0], 4 * i, 100 + i);
  const int32_t seq[3] = {5, 6, 7};
  std::memcpy(acc.mem.spad.data(), seq, sizeof seq);
  FunctionalModel fa(acc.prog, kLine, acc.mem);
  const Footprint fpa = fa.plan(0);
  ASSERT_EQ(fpa.dram.size(), 1u);
  EXPECT_EQ(fpa.dram[0].second, 24u);
  fa.execute(0);
  for (int j = 0; j < 3; ++j)
    for (int c = 0; c < 2; ++c) EXPECT_EQ(get_i32(acc.mem.acc, (1 + j) * kLine + 4 * c), 100 + 2 * (5 + j) + c);
}

TEST(Functional, GatherIndexOutsideTheTableFaults_bad) {
  const std::string decls = ".region t role=input size=64\n.desc T region=t dtype=i8 box=[4, 5] stride=[4]\n";
  struct Case {
    std::string instr;
    int32_t index;
    std::string message;
  };
  for (const Case& k : {Case{"gather s[4], T, s[0], count=2", -1,
                             "gather index 1 is -1, outside the 5 rows of table 'T' (valid: [0, 5))"},
                        Case{"gather s[4], T, s[0], count=2, wrap", 5,
                             "gather index 1 is 5, outside the 5 rows of table 'T' (valid: [-5, 5))"},
                        Case{"gather s[4], T, s[0], count=2, wrap", -6, "gather index 1 is -6"},
                        Case{"gather s[4], T, s[0], count=2, off=50", 3, "outside region 't' (64 bytes)"}}) {
    Fixture fx(decls + k.instr);
    const int32_t idx[2] = {0, k.index};
    std::memcpy(fx.mem.spad.data(), idx, sizeof idx);
    fx.mem.spad[4 * kLine] = 0xAB;
    try {
      fx.run();
      ADD_FAILURE() << k.instr;
    } catch (const Fault& f) {
      EXPECT_EQ(f.code(), FaultCode::RegionBounds);
      EXPECT_EQ(f.index(), 0);
      EXPECT_EQ(f.engine(), isa::Engine::Load);
      EXPECT_NE(std::string(f.what()).find(k.message), std::string::npos) << f.what();
    }
    EXPECT_EQ(fx.mem.spad[4 * kLine], 0xAB) << "nothing is written before the fault";
  }
  // A table must be rank 2.
  try {
    Fixture(".region t role=input size=64\n.desc T region=t dtype=i8 box=[4]\ngather s[4], T, s[0], count=1");
    ADD_FAILURE() << "a rank-1 table was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("descriptor 'T' must have rank 2"), std::string::npos) << e.what();
  }
}

TEST(Functional, CmpComparesInTheAccumulatorTypeNaNUnordered) {
  const float a[5] = {1.0f, -2.0f, NAN, 0.5f, -0.0f}, b[5] = {1.0f, 3.0f, 1.0f, 0.25f, 0.0f};
  const char* ops[6] = {"eq", "ne", "lt", "le", "gt", "ge"};
  for (int o = 0; o < 6; ++o) {
    Fixture fx(std::string("cmp s[10], s[0], s[2], ") + ops[o] + ", rows=2, cols=5, dtype=fp16, bcast");
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 5; ++c) put_half(fx.mem.spad, r * kLine + 2 * c, r == 0 ? a[c] : b[c]);
    for (int c = 0; c < 5; ++c) put_half(fx.mem.spad, 2 * kLine + 2 * c, b[c]);
    fx.run();
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 5; ++c) {
        const float x = r == 0 ? a[c] : b[c], y = b[c];
        const bool want = o == 0   ? x == y
                          : o == 1 ? x != y
                          : o == 2 ? x < y
                          : o == 3 ? x <= y
                          : o == 4 ? x > y
                                   : x >= y;
        EXPECT_EQ(fx.mem.spad[(10 + r) * kLine + c], want ? 1 : 0) << ops[o] << " " << r << "," << c;
      }
  }
  // i32 in the accumulator against a u8 scratchpad operand.
  Fixture fi("cmp s[10], acc[0], s[0], lt, rows=1, cols=3, dtype=u8");
  const int32_t v[3] = {INT32_MIN, 200, 300};
  std::memcpy(fi.mem.acc.data(), v, sizeof v);
  fi.mem.spad[0] = 0, fi.mem.spad[1] = 255, fi.mem.spad[2] = 255;
  fi.run();
  EXPECT_EQ(fi.mem.spad[10 * kLine + 0], 1);
  EXPECT_EQ(fi.mem.spad[10 * kLine + 1], 1);
  EXPECT_EQ(fi.mem.spad[10 * kLine + 2], 0);
}

TEST(Functional, SelectReplacesWhereTheConditionIsSetAndKeepsTheBits) {
  Fixture fx("select s[4], s[2], s[0], rows=1, cols=4, dtype=fp16");
  const uint8_t cond[4] = {0, 1, 7, 0};
  std::memcpy(fx.mem.spad.data(), cond, 4);
  const float src[4] = {10, -INFINITY, NAN, 13}, dst[4] = {1, 2, 3, INFINITY};
  for (int c = 0; c < 4; ++c)
    put_half(fx.mem.spad, 2 * kLine + 2 * c, src[c]), put_half(fx.mem.spad, 4 * kLine + 2 * c, dst[c]);
  fx.run();
  EXPECT_EQ(get_half(fx.mem.spad, 4 * kLine + 0), 1.0f);
  EXPECT_EQ(get_half(fx.mem.spad, 4 * kLine + 2), -INFINITY);
  EXPECT_TRUE(std::isnan(get_half(fx.mem.spad, 4 * kLine + 4)));
  EXPECT_EQ(get_half(fx.mem.spad, 4 * kLine + 6), INFINITY);
  Fixture acc("select acc[4], acc[2], s[0], rows=2, cols=1, dtype=i8");
  acc.mem.spad[0] = 1, acc.mem.spad[kLine] = 0;
  put_i32(acc.mem.acc, 2 * kLine, 123456789), put_i32(acc.mem.acc, 3 * kLine, -5);
  put_i32(acc.mem.acc, 4 * kLine, 7), put_i32(acc.mem.acc, 5 * kLine, 8);
  acc.run();
  EXPECT_EQ(get_i32(acc.mem.acc, 4 * kLine), 123456789);
  EXPECT_EQ(get_i32(acc.mem.acc, 5 * kLine), 8);
  // src and dst in different SRAMs are rejected when the program is read.
  EXPECT_THROW(Fixture("select s[4], acc[2], s[0], rows=1, cols=1, dtype=fp16"), std::exception);
}

TEST(Functional, CvtTruncatesSaturatesAndRoundsToNearestEven) {
  // fp16 -> i32 (accumulator): truncation toward zero, NaN -> 0, saturation.
  Fixture fi("cvt acc[0], s[0], rows=1, cols=6, src_type=fp16, dtype=i8");
  const float in[6] = {2.75f, -2.75f, NAN, 65504.0f, -INFINITY, -0.5f};
  for (int c = 0; c < 6; ++c) put_half(fi.mem.spad, 2 * c, in[c]);
  fi.run();
  const int32_t want[6] = {2, -2, 0, 65504, INT32_MIN, 0};
  for (int c = 0; c < 6; ++c) EXPECT_EQ(get_i32(fi.mem.acc, 4 * c), want[c]) << c;
  // fp16 -> i8 in the scratchpad saturates; u8 -> fp16 is exact.
  Fixture f8("cvt s[2], s[0], rows=1, cols=3, src_type=fp16, dtype=i8");
  const float in8[3] = {300.0f, -1.5f, -1000.0f};
  for (int c = 0; c < 3; ++c) put_half(f8.mem.spad, 2 * c, in8[c]);
  f8.run();
  EXPECT_EQ(static_cast<int8_t>(f8.mem.spad[2 * kLine + 0]), 127);
  EXPECT_EQ(static_cast<int8_t>(f8.mem.spad[2 * kLine + 1]), -1);
  EXPECT_EQ(static_cast<int8_t>(f8.mem.spad[2 * kLine + 2]), -128);
  // i32 (accumulator) -> fp16: nearest even (2049 -> 2048, 2051 -> 2052), overflow to infinity.
  Fixture ff("cvt s[2], acc[0], rows=1, cols=4, src_type=i8, dtype=fp16");
  const int32_t ints[4] = {2049, 2051, -7, 1 << 20};
  std::memcpy(ff.mem.acc.data(), ints, sizeof ints);
  ff.run();
  EXPECT_EQ(get_half(ff.mem.spad, 2 * kLine + 0), 2048.0f);
  EXPECT_EQ(get_half(ff.mem.spad, 2 * kLine + 2), 2052.0f);
  EXPECT_EQ(get_half(ff.mem.spad, 2 * kLine + 4), -7.0f);
  EXPECT_EQ(get_half(ff.mem.spad, 2 * kLine + 6), INFINITY);
}

}  // namespace
}  // namespace npusim::arch
