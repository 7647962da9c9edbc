// Timing models against their closed forms: MXU (SCALE-Sim), DRAM (peak bandwidth, row hit vs
// miss at the boundary, refresh), DMA (outstanding limit), SRAM (bank conflicts).
#include <gtest/gtest.h>

#include "arch/mxu_timing.h"
#include "arch/power.h"
#include "arch/thermal.h"
#include "arch/vpu_timing.h"
#include "memory/dma.h"
#include "memory/dram.h"
#include "memory/sram.h"
#include "sim/npu_config.h"

namespace npusim {
namespace {

using arch::Dataflow;
using arch::MatmulShape;

/// Independent restatement of DESIGN section 2 for the tests.
uint64_t expected_cycles(uint64_t R, uint64_t C, Dataflow f, uint64_t M, uint64_t N, uint64_t K) {
  uint64_t sr = K, sc = N, t = M;
  if (f == Dataflow::OutputStationary) sr = M, sc = N, t = K;
  if (f == Dataflow::InputStationary) sr = K, sc = M, t = N;
  const uint64_t folds = ((sr + R - 1) / R) * ((sc + C - 1) / C);
  const uint64_t per = (f == Dataflow::OutputStationary ? R : 2 * R) + C + t - 2;
  return folds * per - 1;
}

std::unique_ptr<arch::MxuTiming> mxu(uint32_t r, uint32_t c, const char* flow, bool overlap = false) {
  arch::MxuConfig cfg;
  cfg.impl = "analytical";
  cfg.rows = r;
  cfg.cols = c;
  cfg.dataflow = flow;
  cfg.fold_overlap = overlap;
  return arch::MxuRegistry::make(cfg);
}

TEST(MxuTiming, HandComputedExamples) {
  // 16x16 WS, 16x16x16: one fold of 2*16 + 16 + 16 - 2 = 62 cycles; SCALE-Sim reports 62 - 1.
  EXPECT_EQ(mxu(16, 16, "ws")->tile({16, 16, 16}).cycles, 61u);
  // OS, same shape: 16 + 16 + 16 - 2 - 1 = 45.
  EXPECT_EQ(mxu(16, 16, "os")->tile({16, 16, 16}).cycles, 45u);
  // WS 64x64x64 on 16x16: folds = 4*4 = 16, per fold 2*16+16+64-2 = 110 → 1759.
  EXPECT_EQ(mxu(16, 16, "ws")->tile({64, 64, 64}).cycles, 1759u);
  EXPECT_EQ(mxu(16, 16, "ws")->tile({64, 64, 64}).folds, 16u);
}

TEST(MxuTiming, ClosedFormForAllDataflowsAndShapes) {
  for (const char* flow : {"ws", "os", "is"}) {
    const Dataflow f = std::string(flow) == "ws"   ? Dataflow::WeightStationary
                       : std::string(flow) == "os" ? Dataflow::OutputStationary
                                                   : Dataflow::InputStationary;
    for (uint32_t r : {4u, 16u, 32u})
      for (uint32_t m : {1u, 7u, 16u, 33u, 64u, 100u})
        for (uint32_t n : {1u, 16u, 31u, 48u})
          for (uint32_t k : {3u, 16u, 17u, 256u}) {
            const auto t = mxu(r, r, flow)->tile({m, n, k});
            EXPECT_EQ(t.cycles, expected_cycles(r, r, f, m, n, k))
                << flow << " R=" << r << " " << m << "x" << n << "x" << k;
            EXPECT_GT(t.mapping_efficiency, 0.0);
            EXPECT_LE(t.mapping_efficiency, 1.0);
          }
  }
}

TEST(MxuTiming, MappingEfficiencyOfEdgeFolds) {
  // WS: SR = K = 24, SC = N = 16 on 16x16: folds 2, used 24*16 of 2*256 PEs = 0.75.
  EXPECT_DOUBLE_EQ(mxu(16, 16, "ws")->tile({8, 16, 24}).mapping_efficiency, 0.75);
}

TEST(MxuTiming, FoldOverlapPaysFillAndDrainOnce) {
  // WS 16x16, M=64 N=32 K=32: 4 folds of T=64; first fold 2*16+16+64-2 = 110, later folds max(T, R) = 64.
  EXPECT_EQ(mxu(16, 16, "ws", true)->tile({64, 32, 32}).cycles, 110u + 3 * 64 - 1);
  // Single fold: no change.
  EXPECT_EQ(mxu(16, 16, "ws", true)->tile({16, 16, 16}).cycles, 61u);
  // Short streams are bounded by the weight preload: T = 4 < R = 16.
  EXPECT_EQ(mxu(16, 16, "ws", true)->tile({4, 32, 16}).cycles, (2 * 16 + 16 + 4 - 2) + 16u - 1);
}

TEST(MxuTiming, ReuseBSkipsThePreloadOfOneFold) {
  MatmulShape s{16, 16, 16};
  s.reuse_b = true;
  EXPECT_EQ(mxu(16, 16, "ws")->tile(s).cycles, 61u - 16);
}

memory::DramConfig simple_dram(double bw, double lat) {
  memory::DramConfig c;
  c.impl = "simple";
  c.bandwidth = bw;
  c.latency_s = lat;
  return c;
}

TEST(Dram, SimpleStreamingReachesPeak) {
  auto d = memory::DramRegistry::make(simple_dram(12.8e9, 100e-9));
  Femtos end = 0;
  const uint64_t total = 16 << 20;
  for (uint64_t a = 0; a < total; a += 64) end = d->access(0, a, 64, false);
  const double achieved = total / (end / kFemtosPerSecond);
  EXPECT_NEAR(achieved / 12.8e9, 1.0, 0.02);
  // One isolated request: latency + 64 B at 12.8 GB/s = 100 ns + 5 ns.
  auto d2 = memory::DramRegistry::make(simple_dram(12.8e9, 100e-9));
  EXPECT_EQ(d2->access(0, 0, 64, false), seconds_to_fs(100e-9) + 5000000u);
}

memory::DramConfig banked(uint32_t channels, double refi = 0) {
  memory::DramConfig c;
  c.impl = "banked";
  c.channels = channels;
  c.banks = 8;
  c.bus_bits = 16;
  c.data_rate_mtps = 3200;  // 6.4 GB/s per channel
  c.row_bytes = 2048;
  c.interleave_bytes = 256;
  c.t_rcd_s = c.t_cl_s = c.t_rp_s = 18e-9;
  c.t_refi_s = refi;
  c.t_rfc_s = 280e-9;
  return c;
}

TEST(Dram, BankedRowHitVersusMissAtTheBoundary) {
  auto d = memory::DramRegistry::make(banked(1));
  const Femtos t_rcd = seconds_to_fs(18e-9), t_cl = t_rcd, t_rp = t_rcd;
  const Femtos burst64 = 10000000;  // 64 B at 6.4 GB/s = 10 ns
  // Empty bank: tRCD + tCL + transfer.
  Femtos t0 = 1000000000;  // 1 us, well clear of everything
  EXPECT_EQ(d->access(t0, 0, 64, false) - t0, t_rcd + t_cl + burst64);
  // Last chunk of the same row (row is 2 KiB; chunks of 256 B): a hit, tCL + transfer.
  t0 = 2000000000;
  EXPECT_EQ(d->access(t0, 2048 - 64, 64, false) - t0, t_cl + burst64);
  // First byte of the next row of the same bank: row = local / (8 chunks * 8 banks); the next row of
  // bank 0 starts at chunk 64 → byte 16384. A conflict: tRP + tRCD + tCL + transfer.
  t0 = 3000000000;
  EXPECT_EQ(d->access(t0, 16384, 64, false) - t0, t_rp + t_rcd + t_cl + burst64);
  EXPECT_EQ(d->stats().row_hits, 1u);
  EXPECT_EQ(d->stats().row_misses, 1u);
  EXPECT_EQ(d->stats().row_empty, 1u);
}

TEST(Dram, BankedStreamingReachesPeak) {
  auto d = memory::DramRegistry::make(banked(2));
  Femtos end = 0;
  const uint64_t total = 8 << 20;
  for (uint64_t a = 0; a < total; a += 64) end = std::max(end, d->access(0, a, 64, false));
  const double achieved = total / (end / kFemtosPerSecond);
  EXPECT_NEAR(achieved / d->peak_bandwidth(), 1.0, 0.02) << achieved;
  // Each 2 KiB row of a bank is opened once (empty bank or conflict), then hit 31 times.
  const uint64_t rows = total / 2048;
  EXPECT_EQ(d->stats().row_misses + d->stats().row_empty, rows);
  EXPECT_EQ(d->stats().row_hits, total / 64 - rows);
}

TEST(Dram, RefreshDelaysAndClosesRows) {
  auto d = memory::DramRegistry::make(banked(1, 3.9e-6));
  const Femtos refi = seconds_to_fs(3.9e-6), rfc = seconds_to_fs(280e-9);
  d->access(0, 0, 64, false);  // open row 0 of bank 0
  // A request arriving inside the first refresh window waits for its end and finds the row closed.
  const Femtos t = refi + 1000;
  const Femtos done = d->access(t, 64, 64, false);
  EXPECT_EQ(done, refi + rfc + seconds_to_fs(18e-9) * 2 + 10000000);
  EXPECT_EQ(d->stats().refresh_stalls, 1u);
}

TEST(Dma, OutstandingLimitBoundsThroughput) {
  // Latency 1 us, 64 B bursts, 4 outstanding: at most 4 * 64 B per us = 256 MB/s.
  auto dram = memory::DramRegistry::make(simple_dram(100e9, 1e-6));
  memory::DmaConfig c;
  c.impl = "earliest_free";
  c.channels = 1;
  c.burst_bytes = 64;
  c.outstanding = 4;
  c.setup_cycles = 0;
  memory::DirectDramPort port(*dram);
  memory::DmaModel dma(c, port, 1000000);
  const auto [ch, end] = dma.transfer(0, {{0, 64 * 400}}, false);
  EXPECT_EQ(ch, 0u);
  const double bw = 64.0 * 400 / (end / kFemtosPerSecond);
  EXPECT_NEAR(bw / 256e6, 1.0, 0.02) << bw;
}

TEST(Dma, StreamingReachesDramPeakWithEnoughOutstanding) {
  // The bundled edge config: LPDDR4-class 12.8 GB/s. Refresh takes the channel away for tRFC
  // every tREFI, so the sustainable peak is 12.8 GB/s x (1 - tRFC/tREFI).
  config::NpuConfig edge = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  const uint64_t bytes = 4 << 20;
  auto stream = [&](const config::NpuConfig& c) {
    auto dram = memory::DramRegistry::make(c.dram);
    memory::DirectDramPort port(*dram);
    memory::DmaModel dma(c.dma, port, period_fs(c.clock_hz));
    return bytes / (dma.transfer(0, {{0, bytes}}, false).second / kFemtosPerSecond);
  };
  const double refresh_share = edge.dram.t_rfc_s / edge.dram.t_refi_s;
  EXPECT_NEAR(stream(edge) / (12.8e9 * (1 - refresh_share)), 1.0, 0.02);
  edge.dram.t_refi_s = 0;  // refresh off: the full peak
  EXPECT_NEAR(stream(edge) / 12.8e9, 1.0, 0.02);
}

TEST(Sram, ConflictsSerialiseOnABank) {
  memory::SramConfig c;
  c.impl = "banked";
  c.banks = 4;
  c.bank_width_bytes = 64;
  c.line_bytes = 64;
  c.ports = 1;
  c.latency_cycles = 2;
  auto s = memory::make_sram(c, 1000);
  // 8 lines over 4 banks: 2 cycles + 2 latency.
  EXPECT_EQ(s->access(0, 0, 8), 4000u);
  // Same banks again at t=0: waits for them (conflict), 2 more cycles.
  EXPECT_EQ(s->access(0, 0, 8), 6000u);
  EXPECT_EQ(s->stats().bank_conflict_cycles, 8u);  // 4 banks x 2 cycles waited
  EXPECT_EQ(s->stats().bytes, 16u * 64);
  // Two ports halve the time; a 16-byte bank width quadruples the beats per 64-byte line.
  c.ports = 2;
  EXPECT_EQ(memory::make_sram(c, 1000)->access(0, 0, 8), 3000u);
  c.ports = 1;
  c.bank_width_bytes = 16;
  EXPECT_EQ(memory::make_sram(c, 1000)->access(0, 0, 8), 10000u);
}

TEST(Sram, IdealHasOnlyLatency) {
  memory::SramConfig c;
  c.impl = "ideal";
  c.latency_cycles = 3;
  auto s = memory::make_sram(c, 1000);
  EXPECT_EQ(s->access(0, 0, 4096), 3000u);
  EXPECT_EQ(s->access(0, 0, 4096), 3000u);
  EXPECT_EQ(s->stats().bank_conflict_cycles, 0u);
}

TEST(Dma, ArbitrationPolicies) {
  auto dram = memory::DramRegistry::make(simple_dram(100e9, 0));
  memory::DirectDramPort port(*dram);
  memory::DmaConfig c;
  c.channels = 4;
  c.setup_cycles = 0;
  auto channels = [&](const char* impl, std::initializer_list<isa::Engine> who) {
    c.impl = impl;
    memory::DmaModel dma(c, port, 1000);
    std::vector<uint32_t> out;
    for (isa::Engine e : who) out.push_back(dma.transfer(0, {{0, 6400}}, e == isa::Engine::Store, e).first);
    return out;
  };
  using E = isa::Engine;
  // earliest_free: every channel is busy after its transfer, so new ones go to the idle channels in order.
  EXPECT_EQ(channels("earliest_free", {E::Load, E::Load, E::Load, E::Load, E::Load}),
            (std::vector<uint32_t>{0, 1, 2, 3, 0}));
  EXPECT_EQ(channels("round_robin", {E::Load, E::Store, E::Load, E::Load, E::Load}),
            (std::vector<uint32_t>{0, 1, 2, 3, 0}));
  EXPECT_EQ(channels("per_engine", {E::Load, E::Store, E::Load, E::Store, E::Load}),
            (std::vector<uint32_t>{0, 1, 2, 3, 0}));
  EXPECT_EQ(channels("per_engine", {E::Store, E::Store, E::Store}), (std::vector<uint32_t>{1, 3, 1}));
}

// VPU timing (vpu.impl lanes): latency + ceil(elements / lanes), probed at the lane boundary.
TEST(VpuTiming, LanesIsLatencyPlusOnePassPerLaneWidth) {
  arch::VpuConfig c;
  c.lanes = 16;
  c.latency_cycles = 4;
  const auto vpu = arch::VpuRegistry::make(c);
  EXPECT_EQ(vpu->cycles({isa::Opcode::Add, 0}), 4u);
  EXPECT_EQ(vpu->cycles({isa::Opcode::Add, 16}), 5u);
  EXPECT_EQ(vpu->cycles({isa::Opcode::Add, 17}), 6u);
  EXPECT_EQ(vpu->cycles({isa::Opcode::Requant, 1600}), 104u);
}

// The swappable blocks without an impl: key before (VPU timing, energy model, thermal solver) are
// chosen from their registries: an unknown name is an error listing the registered ones.
TEST(Registries, UnknownImplementationsNameTheChoices_bad) {
  const std::string base = "name: t\ndram: {bandwidth: 10GB/s}\n";
  for (const auto& [yaml, choices] :
       std::vector<std::pair<std::string, std::string>>{{"vpu: {impl: systolic}\n", "[lanes]"},
                                                        {"power: {impl: cacti}\n", "[per_action]"},
                                                        {"thermal: {solver: rk4}\n", "[euler, zoh]"}}) {
    try {
      config::load_npu_config_text(base + yaml, "t.yaml");
      ADD_FAILURE() << "accepted " << yaml;
    } catch (const config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("expected one of " + choices), std::string::npos) << e.what();
    }
  }
}

// Forward Euler and the exact zero-order hold agree for a step far below the fastest time constant.
TEST(ThermalSolver, EulerApproachesTheExactStepForSmallSteps) {
  arch::ThermalConfig c;
  const auto zoh = arch::ThermalSolverRegistry::make("zoh", c), euler = arch::ThermalSolverRegistry::make("euler", c);
  Eigen::MatrixXd a(2, 2);
  a << -2.0, 1.0, 1.0, -3.0;
  Eigen::VectorXd b(2);
  b << 1.0, 0.0;
  const double dt = 1e-6;
  const auto s1 = zoh->discretize(a, b, dt), s2 = euler->discretize(a, b, dt);
  EXPECT_NEAR((s1.phi - s2.phi).norm(), 0, 1e-10);
  EXPECT_NEAR((s1.gamma - s2.gamma).norm(), 0, 1e-10);
}

}  // namespace
}  // namespace npusim
