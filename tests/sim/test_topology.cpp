// Layer-level workloads (sim/topology.h): SCALE-Sim topology and .cfg files, the closed form,
// SCALE-Sim's report quantities, the DRAM model and malformed files.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "arch/mxu_timing.h"
#include "isa/diag.h"
#include "sim/npu_config.h"
#include "tools/topology/topology.h"

namespace npusim::topology {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

/// A SCALE-Sim .cfg: a 32x32 array, 64 KiB per SRAM, stall-free bandwidth (CALC).
std::string scalesim_cfg(const std::string& df, const std::string& mode = "CALC") {
  return "[general]\nrun_name = t_" + df +
         "\n\n[architecture_presets]\nArrayHeight:    32\nArrayWidth:     32\nIfmapSramSzkB:   64\n"
         "FilterSramSzkB:  64\nOfmapSramSzkB:   64\nIfmapOffset:    0\nFilterOffset:   10000000\n"
         "OfmapOffset:    20000000\nBandwidth : 10\nDataflow : " +
         df + "\nMemoryBanks:   1\n\n[run_presets]\nInterfaceBandwidth: " + mode + "\n";
}

const char* kAlexConv1 =
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    "Conv1,  224, 224,    11, 11,    3,      96,     4,\n";

TEST(Topology, MatchesScaleSimGoldenReport) {
  // SCALE-Sim v2's own regression (test/golden_trace: configs/scale.cfg with Dataflow ws,
  // topologies/conv_nets/alexnet_part.csv): COMPUTE_REPORT "0, 112283, 0, 91.68309650614964,
  // 94.53125, 90.78000992063492" and DETAILED_ACCESS_REPORT SRAM reads 3294225 (ifmap), 34848
  // (filter), SRAM writes 3484800 (ofmap).
  LayerMemory mem;
  const config::NpuConfig cfg = load_scalesim_cfg(write_temp("ws.cfg", scalesim_cfg("ws")), mem);
  const auto rs = run_layers(cfg, mem, load_topology(write_temp("alex.csv", kAlexConv1)));
  ASSERT_EQ(rs.size(), 1u);
  const LayerResult& r = rs[0];
  EXPECT_EQ(r.gemm.m, 55u * 55u);  // ceil((224 - 11 + 4) / 4) = 55
  EXPECT_EQ(r.gemm.k, 11u * 11u * 3u);
  EXPECT_EQ(r.gemm.n, 96u);
  EXPECT_EQ(r.total_cycles, 112283u);
  EXPECT_EQ(r.stall_cycles, 0u);
  EXPECT_NEAR(100 * r.overall_util, 91.68309650614964, 1e-9);
  EXPECT_NEAR(100 * r.mapping_efficiency, 94.53125, 1e-12);
  EXPECT_NEAR(100 * r.compute_util, 90.78000992063492, 1e-9);
  EXPECT_EQ(r.ifmap_sram_reads, 3294225u);
  EXPECT_EQ(r.filter_sram_reads, 34848u);
  EXPECT_EQ(r.ofmap_sram_writes, 3484800u);
}

TEST(Topology, ComputeCyclesEqualTheClosedFormInEveryDataflow) {
  // Layers of several shapes, none a multiple of the array; the closed form per dataflow:
  // folds * (2R + C + T - 2) - 1 (WS, IS) or folds * (R + C + T - 2) - 1 (OS).
  const std::string csv =
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
      "c1,229,229,7,7,3,64,2,\nc2,58,58,3,3,64,64,1,\nc3,14,14,1,1,1024,256,1,\nc4,9,9,3,3,512,512,1,\n";
  const auto layers = load_topology(write_temp("shapes.csv", csv));
  for (const char* df : {"ws", "os", "is"}) {
    LayerMemory mem;
    const config::NpuConfig cfg = load_scalesim_cfg(write_temp(std::string(df) + ".cfg", scalesim_cfg(df)), mem);
    const auto rs = run_layers(cfg, mem, layers);
    for (const LayerResult& r : rs) {
      const uint64_t M = r.gemm.m, N = r.gemm.n, K = r.gemm.k, R = 32, C = 32;
      uint64_t sr = K, sc = N, t = M, per = 2 * R + C;
      if (std::string(df) == "os") sr = M, sc = N, t = K, per = R + C;
      if (std::string(df) == "is") sr = K, sc = M, t = N;
      const uint64_t folds = ((sr + R - 1) / R) * ((sc + C - 1) / C);
      EXPECT_EQ(r.compute_cycles, folds * (per + t - 2) - 1) << df << " " << r.name;
      EXPECT_EQ(r.total_cycles, r.compute_cycles);  // CALC: stall-free
    }
  }
  // c1: 112 x 112 outputs (the extent (112 - 1) * 2 + 7 = 229 covers them exactly).
  EXPECT_EQ(gemm_of(layers[0]).m, 112u * 112u);
}

TEST(Topology, SramCountsFollowTheDataflow) {
  // alexnet conv1 (M 3025, N 96, K 363) on 32x32: OS streams ifmap once per column fold (3) and
  // filters once per row fold (95); IS keeps inputs stationary (read once) and streams filters per
  // column fold of M (95). OS ofmap writes include SCALE-Sim v2's R + C per fold.
  LayerMemory mem;
  const auto layers = load_topology(write_temp("alex2.csv", kAlexConv1));
  auto os = run_layers(load_scalesim_cfg(write_temp("os.cfg", scalesim_cfg("os")), mem), mem, layers)[0];
  EXPECT_EQ(os.ifmap_sram_reads, 3u * 363u * 3025u);
  EXPECT_EQ(os.filter_sram_reads, 95u * 363u * 96u);
  EXPECT_EQ(os.ofmap_sram_writes, 3025u * 96u + 95u * 3u * 64u);
  auto is = run_layers(load_scalesim_cfg(write_temp("is.cfg", scalesim_cfg("is")), mem), mem, layers)[0];
  EXPECT_EQ(is.ifmap_sram_reads, 363u * 3025u);
  EXPECT_EQ(is.filter_sram_reads, 95u * 96u * 363u);
  EXPECT_EQ(is.ofmap_sram_writes, 12u * 96u * 3025u);
}

TEST(Topology, GemmFormAndDepthwiseRows) {
  const auto g = load_topology(write_temp("mnk.csv", "Layer,M,N,K,\nQKT,1024,1024,64,\n\nQKTV,1024,64,1024,\n"));
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(gemm_of(g[0]).m, 1024u);
  EXPECT_EQ(gemm_of(g[0]).n, 1024u);
  EXPECT_EQ(gemm_of(g[0]).k, 64u);
  EXPECT_EQ(gemm_of(g[1]).k, 1024u);
  const auto d = load_topology(
      write_temp("dw.csv",
                 "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                 "conv_DP,16,16,3,3,4,1,1,\n"));
  ASSERT_EQ(d.size(), 4u);  // one single-channel layer per channel
  EXPECT_EQ(d[3].name, "conv_DPChannel_3");
  EXPECT_EQ(gemm_of(d[0]).k, 9u);
}

TEST(Topology, DramModelCountsOperandsOnceWhenTheyFitAndStallsWhenBandwidthIsShort) {
  // A 1x1 conv (M 64, N 32, K 32) on a 32x32 WS array with 64 KiB buffers: every operand fits, so
  // DRAM moves 64*32 + 32*32 + 64*32 bytes once. At 1 byte/cycle that is 5120 cycles against 157
  // compute cycles (one fold of 2R + C + T - 2 = 158, minus 1), so the layer is memory-bound.
  const auto layers = load_topology(
      write_temp("small.csv",
                 "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                 "pw,8,8,1,1,32,32,1,\n"));
  std::string cfg_text = scalesim_cfg("ws", "USER");
  cfg_text.replace(cfg_text.find("Bandwidth : 10"), 14, "Bandwidth : 1");
  LayerMemory mem;
  const config::NpuConfig cfg = load_scalesim_cfg(write_temp("slow.cfg", cfg_text), mem);
  EXPECT_FALSE(mem.ideal);
  EXPECT_DOUBLE_EQ(mem.dram_bytes_per_cycle, 1.0);
  const LayerResult r = run_layers(cfg, mem, layers)[0];
  EXPECT_EQ(r.ifmap_dram_reads, 64u * 32u);
  EXPECT_EQ(r.filter_dram_reads, 32u * 32u);
  EXPECT_EQ(r.ofmap_dram_writes, 64u * 32u);
  EXPECT_EQ(r.psum_dram_bytes, 0u);
  EXPECT_EQ(r.dram_bytes, 5120u);
  EXPECT_EQ(r.compute_cycles, 157u);
  // Stall: the first fold's 32x32 weights (1024 cycles) plus the DRAM time not hidden by compute.
  EXPECT_EQ(r.stall_cycles, 1024u + (5120u - r.compute_cycles));
  // Ideal memory: no stall, same compute.
  mem.ideal = true;
  EXPECT_EQ(run_layers(cfg, mem, layers)[0].stall_cycles, 0u);
  // A layer whose inputs outgrow the input buffer streams them once per column fold. Its partial
  // sums (M x 32 live, 4 bytes: 492 KB) outgrow the 64 KiB output buffer; spilling them would
  // move 2 x 17 x M x N x 4 bytes (67 MB), while splitting M into chunks of 512 rows (512 x 32 x 4
  // = 64 KiB) re-reads the 72 KiB of weights (larger than their 64 KiB buffer) once per extra
  // chunk: 8 chunks, 7 x 73,728 bytes more. The cheaper plan wins.
  const auto big = load_topology(
      write_temp("big.csv",
                 "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                 "big,64,64,3,3,64,128,1,\n"));
  mem.ideal = false;
  const LayerResult b = run_layers(cfg, mem, big)[0];
  const uint64_t M = 62 * 62, K = 9 * 64, N = 128;
  EXPECT_EQ(b.ifmap_dram_reads, 64u * 64u * 64u * 4u);  // 256 KiB > 64 KiB: 4 column folds
  EXPECT_EQ((M + 511) / 512, 8u);
  EXPECT_EQ(b.filter_dram_reads, 8 * K * N);
  EXPECT_EQ(b.psum_dram_bytes, 0u);
  // With 1 MiB for weights they stay resident: chunking costs nothing, weights move once.
  std::string roomy = cfg_text;
  roomy.replace(roomy.find("FilterSramSzkB:  64"), 19, "FilterSramSzkB:  1024");
  LayerMemory mem2;
  const config::NpuConfig cfg2 = load_scalesim_cfg(write_temp("roomy.cfg", roomy), mem2);
  const LayerResult b2 = run_layers(cfg2, mem2, big)[0];
  EXPECT_EQ(b2.filter_dram_reads, K * N);
  EXPECT_EQ(b2.psum_dram_bytes, 0u);
  // Spilling wins when chunks get small and the weights are large: a 64x64 WS array with a 1 KiB
  // output buffer (4 rows of 64 sums per chunk, 1024 chunks) and 128 KiB of weights (over their
  // 64 KiB buffer): re-reading them per chunk would move 134 MB, spilling moves
  // 2 x (512/64 - 1) x M x N x 4 = 58.7 MB.
  std::string wide = cfg_text;
  wide.replace(wide.find("ArrayHeight:    32"), 18, "ArrayHeight:    64");
  wide.replace(wide.find("ArrayWidth:     32"), 18, "ArrayWidth:     64");
  LayerMemory mem3;
  const config::NpuConfig cfg3 = load_scalesim_cfg(write_temp("wide.cfg", wide), mem3);
  mem3.ofmap_sram_bytes = 1024;  // below what a config may declare (one output tile): the layer model only
  const auto g = load_topology(write_temp("g.csv", "Layer,M,N,K,\nfc,4096,256,512,\n"));
  const LayerResult s = run_layers(cfg3, mem3, g)[0];
  EXPECT_EQ(s.psum_dram_bytes, 2u * (512 / 64 - 1) * 4096u * 256u * 4u);
  EXPECT_EQ(s.filter_dram_reads, 512u * 256u);
}

TEST(Topology, NpusimConfigGivesTheLayerMemory) {
  const config::NpuConfig cfg = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  const LayerMemory mem = memory_of(cfg);
  EXPECT_EQ(mem.ifmap_sram_bytes + mem.filter_sram_bytes, cfg.spad.size_bytes);
  EXPECT_EQ(mem.ofmap_sram_bytes, cfg.acc.size_bytes);
  EXPECT_NEAR(mem.dram_bytes_per_cycle, 12.8, 1e-9);  // 12.8 GB/s at 1 GHz
  EXPECT_FALSE(mem.ideal);
}

TEST(Topology, TheReportsHaveScaleSimsColumns) {
  LayerMemory mem;
  const config::NpuConfig cfg = load_scalesim_cfg(write_temp("ws2.cfg", scalesim_cfg("ws")), mem);
  const auto rs = run_layers(cfg, mem, load_topology(write_temp("alex3.csv", kAlexConv1)));
  const std::string c = compute_report_csv(rs);
  EXPECT_EQ(c.substr(0, c.find('\n')),
            "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,");
  EXPECT_NE(c.find("0, 112283, 0, 91.68309650614964, 94.53125, 90.78000992063492,"), std::string::npos) << c;
  EXPECT_NE(bandwidth_report_csv(rs).find("Avg IFMAP SRAM BW"), std::string::npos);
  EXPECT_NE(topology_json(cfg, mem, rs).find("\"total_cycles\": 112283"), std::string::npos);
}

TEST(Topology, TheJsonStaysValidWithQuotedNamesAndNonFiniteFigures) {
  // topology_json is a tree (stats::json_text writes it): names are escaped, NaN is null, and real
  // numbers keep 16 significant digits.
  LayerMemory mem;
  const config::NpuConfig cfg = load_scalesim_cfg(write_temp("ws3.cfg", scalesim_cfg("ws")), mem);
  auto rs = run_layers(cfg, mem, load_topology(write_temp("alex4.csv", kAlexConv1)));
  ASSERT_EQ(rs.size(), 1u);
  rs[0].name = "conv \"1\"";
  rs[0].energy_j = std::numeric_limits<double>::quiet_NaN();
  const auto j = nlohmann::ordered_json::parse(topology_json(cfg, mem, rs));
  EXPECT_EQ(j["layers"][0]["name"], "conv \"1\"");
  EXPECT_TRUE(j["layers"][0]["energy_j"].is_null());
  EXPECT_EQ(j["layers"][0]["total_cycles"], 112283);
  EXPECT_EQ(j["layers"][0]["overall_util"], 0.9168309650614964);
  EXPECT_EQ(j["array"], nlohmann::ordered_json::array({32, 32}));
}

void expect_topology_error(const std::string& name, const std::string& text, const std::string& what) {
  try {
    load_topology(write_temp(name, text));
    ADD_FAILURE() << "accepted " << name;
  } catch (const isa::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(Topology, MalformedTopologies_bad) {
  const std::string h =
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n";
  expect_topology_error("e1.csv", "", "empty topology file");
  expect_topology_error("e2.csv", h, "no layers");
  expect_topology_error("e3.csv", h + "c,224,224,3,3,64,x,1,\n",
                        "e3.csv:2: layer 'c': Num Filter expects a positive integer, got 'x'");
  expect_topology_error("e4.csv", h + "c,224,224,3,3,64,\n", "layer 'c' has 5 values; expected 7");
  expect_topology_error("e5.csv", h + "c,2,2,3,3,64,64,1,\n", "the filter (3x3) is larger than the input (2x2)");
  expect_topology_error("e6.csv", h + "c,8,8,3,3,0,64,1,\n", "Channels expects a positive integer, got '0'");
  expect_topology_error("e7.csv", "c1,8,8,3,3,4,4,1,\n", "expected a header line");
  expect_topology_error("e8.csv", h + ",8,8,3,3,4,4,1,\n", "the layer has no name");
  expect_topology_error("e9.csv", "Layer,M,N,K,\nq,16,,4,\n", "N is empty");
  expect_topology_error("e10.csv", h + "c,8,8,3,3,4,4,-1,\n", "Strides expects a positive integer");
}

TEST(Topology, MalformedScaleSimConfigs_bad) {
  auto expect_error = [](const std::string& name, const std::string& text, const std::string& what) {
    LayerMemory mem;
    try {
      load_scalesim_cfg(write_temp(name, text), mem);
      ADD_FAILURE() << "accepted " << name;
    } catch (const isa::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  std::string good = scalesim_cfg("ws");
  std::string t = good;
  t.replace(t.find("ArrayWidth"), 10, "ArrayWdth");
  expect_error("c1.cfg", t, "c1.cfg:6: unknown key 'arraywdth' in [architecture_presets]");
  t = good;
  t.replace(t.find("Dataflow : ws"), 13, "Dataflow : rs");
  expect_error("c2.cfg", t, "Dataflow expects ws, os or is, got 'rs'");
  t = good;
  t.replace(t.find("InterfaceBandwidth: CALC"), 24, "InterfaceBandwidth: FAST");
  expect_error("c3.cfg", t, "InterfaceBandwidth expects USER or CALC");
  t = good;
  t.replace(t.find("ArrayHeight:    32"), 18, "ArrayHeight:    0");
  expect_error("c4.cfg", t, "arrayheight expects a positive integer, got '0'");
  expect_error("c5.cfg", "[general]\nrun_name = x\n", "missing arrayheight in [architecture_presets]");
  expect_error("c6.cfg", "[misc]\n", "unknown section [misc]");
  expect_error("c7.cfg", "ArrayHeight: 4\n", "a key before the first [section]");
  expect_error("c8.cfg", "[general\n", "expected ']' to close the section name");
}

}  // namespace
}  // namespace npusim::topology
