// The Verilated systolic array (rtl/systolic_array.v) against an independent int64 reference and
// against the analytical model's closed form: random tiles on 4x4, 8x8 and 16x16 arrays in both
// dataflows, int8 and uint8 activations, one fold and many.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "arch/mxu_timing.h"
#include "rtl/systolic_rtl.h"

namespace npusim {
namespace {

/// C = A x B in int64, truncated to i32 (A uint8 or int8, B int8).
std::vector<int32_t> reference(const arch::MatmulShape& s, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b,
                               bool a_unsigned) {
  std::vector<int32_t> c(size_t{s.m} * s.n);
  for (uint32_t i = 0; i < s.m; ++i)
    for (uint32_t j = 0; j < s.n; ++j) {
      int64_t acc = 0;
      for (uint32_t k = 0; k < s.k; ++k) {
        const int64_t x = a_unsigned ? a[size_t{i} * s.k + k] : static_cast<int8_t>(a[size_t{i} * s.k + k]);
        acc += x * static_cast<int8_t>(b[size_t{k} * s.n + j]);
      }
      c[size_t{i} * s.n + j] = static_cast<int32_t>(static_cast<uint32_t>(acc));
    }
  return c;
}

size_t mismatches(const std::vector<int32_t>& x, const std::vector<int32_t>& y) {
  size_t n = x.size() == y.size() ? 0 : std::max(x.size(), y.size());
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) n += x[i] != y[i];
  return n;
}

struct Case {
  uint32_t size;
  arch::Dataflow flow;
};

class RandomTiles : public ::testing::TestWithParam<Case> {};

TEST_P(RandomTiles, MatchTheReferenceAndTheClosedForm) {
  const auto [size, flow] = GetParam();
  auto rtl = rtl::make_systolic_rtl(size, size);
  std::mt19937 rng(1000 + size + static_cast<unsigned>(flow));
  std::uniform_int_distribution<uint32_t> dim(1, 3 * size + 3), byte(0, 255);
  double worst = 0;
  size_t bad = 0;
  for (int trial = 0; trial < 24; ++trial) {
    arch::MatmulShape s{dim(rng), dim(rng), dim(rng), false};
    if (trial == 0) s = {1, 1, 1, false};
    if (trial == 1) s = {size, size, size, false};
    if (trial == 2) s = {300, size, size, false};  // a long stream
    const bool a_unsigned = trial % 2 == 1;
    std::vector<uint8_t> a(size_t{s.m} * s.k), b(size_t{s.k} * s.n);
    for (auto& v : a) v = static_cast<uint8_t>(byte(rng));
    for (auto& v : b) v = static_cast<uint8_t>(byte(rng));
    const rtl::TileRun r = rtl::run_tile(*rtl, flow, s, a.data(), b.data(), a_unsigned);
    bad += mismatches(r.c, reference(s, a, b, a_unsigned));
    const arch::MxuTile want = arch::scalesim_closed_form(size, size, flow, s);
    EXPECT_EQ(r.folds, want.folds) << s.m << "x" << s.n << "x" << s.k;
    const double dev =
        std::abs(static_cast<double>(r.cycles) - static_cast<double>(want.cycles)) / static_cast<double>(r.cycles);
    worst = std::max(worst, dev);
    EXPECT_LE(dev, 0.02) << s.m << "x" << s.n << "x" << s.k << ": RTL " << r.cycles << ", analytical " << want.cycles;
  }
  EXPECT_EQ(bad, 0u);
  std::printf("%ux%u %s: 24 tiles, 0 mismatches expected (%zu), worst cycle deviation %.4f%%\n", size, size,
              flow == arch::Dataflow::OutputStationary ? "os" : "ws", bad, 100 * worst);
}

INSTANTIATE_TEST_SUITE_P(
    Rtl, RandomTiles,
    ::testing::Values(Case{4, arch::Dataflow::WeightStationary}, Case{4, arch::Dataflow::OutputStationary},
                      Case{8, arch::Dataflow::WeightStationary}, Case{8, arch::Dataflow::OutputStationary},
                      Case{16, arch::Dataflow::WeightStationary}, Case{16, arch::Dataflow::OutputStationary}),
    [](const auto& p) {
      return std::to_string(p.param.size) + "x" + std::to_string(p.param.size) +
             (p.param.flow == arch::Dataflow::OutputStationary ? "_os" : "_ws");
    });

TEST(Rtl, ResidentWeightsSkipThePreload) {
  auto rtl = rtl::make_systolic_rtl(8, 8);
  const arch::MatmulShape s{20, 8, 8, true};
  std::vector<uint8_t> a(20 * 8, 3), b(8 * 8, 2);
  // First with the preload (the weights enter the PEs), then again with them resident.
  const rtl::TileRun fresh =
      rtl::run_tile(*rtl, arch::Dataflow::WeightStationary, {20, 8, 8, false}, a.data(), b.data(), false);
  const rtl::TileRun reuse = rtl::run_tile(*rtl, arch::Dataflow::WeightStationary, s, a.data(), b.data(), false);
  EXPECT_EQ(fresh.cycles - reuse.cycles, 8u);  // the R-cycle weight preload
  EXPECT_EQ(mismatches(reuse.c, fresh.c), 0u);
}

TEST(Rtl, ABrokenReferenceIsCaught_bad) {
  // The comparison must be able to fail: a reference that reads uint8 activations as int8 (a
  // plausible bug) disagrees with the RTL wherever an activation is >= 128.
  auto rtl = rtl::make_systolic_rtl(4, 4);
  const arch::MatmulShape s{6, 5, 7, false};
  std::vector<uint8_t> a(6 * 7), b(7 * 5);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(100 + 13 * i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(7 * i);
  const rtl::TileRun r = rtl::run_tile(*rtl, arch::Dataflow::OutputStationary, s, a.data(), b.data(), true);
  EXPECT_EQ(mismatches(r.c, reference(s, a, b, true)), 0u);
  EXPECT_GT(mismatches(r.c, reference(s, a, b, false)), 10u);
}

}  // namespace
}  // namespace npusim
