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
  expect_error("c2.cfg", t, "c2.cfg:14: Dataflow expects one of ws,os,is, got 'rs'");
  t = good;
  t.replace(t.find("InterfaceBandwidth: CALC"), 24, "InterfaceBandwidth: FAST");
  expect_error("c3.cfg", t, "InterfaceBandwidth expects one of USER,CALC, got 'FAST'");
  t = good;
  t.replace(t.find("ArrayHeight:    32"), 18, "ArrayHeight:    0");
  expect_error("c4.cfg", t, "c4.cfg:5: ArrayHeight expects a positive integer, got '0'");
  expect_error("c5.cfg", "[general]\nrun_name = x\n", "missing arrayheight in [architecture_presets]");
  expect_error("c6.cfg", "[misc]\n", "unknown section [misc]; SCALE-Sim's sections are general, architecture_presets");
  expect_error("c7.cfg", "ArrayHeight: 4\n", "a key before the first [section]");
  expect_error("c8.cfg", "[general\n", "expected ']' to close the section name");
}

// --- SCALE-Sim v2 and v3 file compatibility (files written here in SCALE-Sim's formats) ---

/// A v3 config with every section and key SCALE-Sim v2 and v3 (main) define, spelled and laid out
/// as SCALE-Sim's own files are (mixed ':' and '=' delimiters, spaces before ':', a trailing
/// space, a comment, a quoted topology path).
const char* kEveryKeyCfg =
    "# a SCALE-Sim v3 configuration\n"
    "[general]\n"
    "run_name = every_key_32x32_ws\n"
    "\n"
    "[architecture_presets]\n"
    "ArrayHeight:    32\n"
    "ArrayWidth:     32\n"
    "IfmapSramSzkB:   64 \n"
    "FilterSramSzkB:  64\n"
    "OfmapSramSzkB:   64\n"
    "IfmapOffset:    0\n"
    "FilterOffset:   10000000\n"
    "OfmapOffset:    20000000\n"
    "Bandwidth : 10,10,10\n"
    "Dataflow : ws\n"
    "MemoryBanks:   1\n"
    "OnChipMemoryBanks:   1\n"
    "OnChipMemoryBankPorts:   2\n"
    "ReadRequestBuffer: 32\n"
    "WriteRequestBuffer: 32\n"
    "\n"
    "[layout]\n"
    "IfmapCustomLayout: False\n"
    "IfmapSRAMBankBandwidth: 10\n"
    "IfmapSRAMBankNum: 10\n"
    "IfmapSRAMBankPort: 2\n"
    "FilterCustomLayout: False\n"
    "FilterSRAMBankBandwidth: 10\n"
    "FilterSRAMBankNum: 10\n"
    "FilterSRAMBankPort: 2\n"
    "\n"
    "[sparsity]\n"
    "SparsitySupport : false\n"
    "SparseRep : ellpack_block\n"
    "OptimizedMapping : false\n"
    "BlockSize : 8\n"
    "RandomNumberGeneratorSeed : 40\n"
    "\n"
    "[run_presets]\n"
    "InterfaceBandwidth: CALC\n"
    "UseRamulatorTrace: False\n"
    "\n"
    "[network_presets]\n"
    "TopologyCsvLoc = \"./topologies/conv_nets/alexnet_part.csv\"\n";

bool has_note(const std::vector<std::string>& notes, const std::string& what) {
  for (const auto& n : notes)
    if (n.find(what) != std::string::npos) return true;
  return false;
}

TEST(TopologyCompat, AV3ConfigWithEverySectionAndKeyRunsDenseLayersAsV2) {
  // Every key is accepted; the dense layer keeps SCALE-Sim v2's golden figures (see
  // MatchesScaleSimGoldenReport), and each key that changes nothing npusim computes is noted once.
  LayerMemory mem;
  std::string name;
  std::vector<std::string> notes;
  const config::NpuConfig cfg = load_scalesim_cfg(write_temp("every.cfg", kEveryKeyCfg), mem, &name, &notes);
  EXPECT_EQ(name, "every_key_32x32_ws");
  EXPECT_EQ(cfg.mxu.rows, 32u);
  EXPECT_EQ(cfg.mxu.dataflow, "ws");
  EXPECT_TRUE(mem.ideal);
  EXPECT_FALSE(mem.sparsity_support);
  const auto rs = run_layers(cfg, mem, load_topology(write_temp("alex_every.csv", kAlexConv1)));
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].total_cycles, 112283u);
  EXPECT_EQ(rs[0].ifmap_sram_reads, 3294225u);
  EXPECT_EQ(rs[0].filter_sram_reads, 34848u);
  EXPECT_EQ(rs[0].ofmap_sram_writes, 3484800u);
  for (const char* key : {"IfmapOffset: SCALE-Sim adds the offsets", "MemoryBanks:", "OnChipMemoryBanks:",
                          "ReadRequestBuffer: SCALE-Sim v3 sizes its DRAM read and write request queues",
                          "IfmapCustomLayout: SCALE-Sim v3 models SRAM banks", "UseRamulatorTrace: when True",
                          "TopologyCsvLoc: SCALE-Sim's topology when -t is not given"})
    EXPECT_TRUE(has_note(notes, key)) << key;
  EXPECT_EQ(notes.size(), 7u);  // one per group, not per key
  // SparsitySupport true is read, and said not to be modelled yet.
  std::string sparse = kEveryKeyCfg;
  sparse.replace(sparse.find("SparsitySupport : false"), 23, "SparsitySupport : true");
  notes.clear();
  load_scalesim_cfg(write_temp("sparse.cfg", sparse), mem, nullptr, &notes);
  EXPECT_TRUE(mem.sparsity_support);
  EXPECT_TRUE(has_note(notes, "weights are compressed as SCALE-Sim v3 maps them in the WS dataflow"));
}

TEST(TopologyCompat, AV2ConfigWithoutTheV3SectionsIsReadToo) {
  // SCALE-Sim v2's layout: [general], [architecture_presets] (with MemoryBanks), [run_presets].
  LayerMemory mem;
  std::vector<std::string> notes;
  const config::NpuConfig cfg =
      load_scalesim_cfg(write_temp("v2.cfg", scalesim_cfg("os", "USER")), mem, nullptr, &notes);
  EXPECT_EQ(cfg.mxu.dataflow, "os");
  EXPECT_FALSE(mem.ideal);
  EXPECT_DOUBLE_EQ(mem.dram_bytes_per_cycle, 10.0);
  EXPECT_TRUE(has_note(notes, "MemoryBanks:"));
}

TEST(TopologyCompat, TyposInScaleSimConfigsAreErrorsWithASuggestion_bad) {
  auto expect_error = [](const std::string& name, const std::string& from, const std::string& to,
                         const std::string& what) {
    std::string t = kEveryKeyCfg;
    const size_t at = t.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    t.replace(at, from.size(), to);
    LayerMemory mem;
    try {
      load_scalesim_cfg(write_temp(name, t), mem);
      ADD_FAILURE() << "accepted " << name;
    } catch (const isa::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error("t1.cfg", "IfmapSRAMBankNum", "IfmapSRAMBankNm",
               "t1.cfg:25: unknown key 'ifmapsrambanknm' in [layout] (did you mean 'IfmapSRAMBankNum'?)");
  expect_error("t2.cfg", "[sparsity]", "[sparsty]", "t2.cfg:32: unknown section [sparsty] (did you mean [sparsity]?)");
  expect_error("t3.cfg", "UseRamulatorTrace: False", "UseRamulatorTrace: False\nDataflow: os",
               "unknown key 'dataflow' in [run_presets] (SCALE-Sim reads it in [architecture_presets])");
  expect_error("t4.cfg", "BlockSize : 8", "BlockSize : 8\nblocksize = 4",
               "t4.cfg:37: BlockSize appears twice in [sparsity] (first at line 36)");
  expect_error("t5.cfg", "SparsitySupport : false", "SparsitySupport : maybe",
               "SparsitySupport expects True or False, got 'maybe'");
  expect_error("t6.cfg", "SparseRep : ellpack_block", "SparseRep : coo",
               "SparseRep expects one of ellpack_block,csr,csc, got 'coo'");
  expect_error("t7.cfg", "ReadRequestBuffer: 32", "ReadRequestBuffer: many",
               "ReadRequestBuffer expects a positive integer, got 'many'");
  expect_error("t8.cfg", "Bandwidth : 10,10,10", "Bandwidth : 10,x", "Bandwidth expects words per cycle");
  expect_error("t9.cfg", "[layout]", "[layout]\n[sparsity]\n[layout]", "section [layout] appears twice");
  // SCALE-Sim's own check: the block of an optimized mapping fits the array's rows.
  std::string t = kEveryKeyCfg;
  t.replace(t.find("SparsitySupport : false"), 23, "SparsitySupport : true");
  t.replace(t.find("OptimizedMapping : false"), 24, "OptimizedMapping : true");
  t.replace(t.find("BlockSize : 8"), 13, "BlockSize : 64");
  LayerMemory mem;
  try {
    load_scalesim_cfg(write_temp("t10.cfg", t), mem);
    ADD_FAILURE() << "accepted a block larger than the array";
  } catch (const isa::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t10.cfg:36: BlockSize (64) must not exceed ArrayHeight (32)"),
              std::string::npos)
        << e.what();
  }
}

TEST(TopologyCompat, TopologiesFollowScaleSimsRules) {
  // A conv file as SCALE-Sim's repository writes them: a byte-order mark, a blank line after the
  // header, `#dw` comments after the last comma, a row without its trailing comma, a heading row,
  // a row of empty cells, and rows indented with a tab.
  std::vector<std::string> notes;
  const auto l = load_topology(
      write_temp("mobile.csv",
                 "\xEF\xBB\xBFLayer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num "
                 "Filter, Strides,\n"
                 "\n"
                 "MobileNet,\n"
                 "Conv1, 224, 224, 3, 3, 3, 32, 2,\n"
                 "Conv2_dw, 112, 112, 3, 3, 1, 1, 1,#dw\n"
                 ",,,,,,,,\n"
                 "\tConv3, 112, 112, 1, 1, 32, 64, 1,\n"
                 "FC, 1, 1, 1, 1, 1024, 1000, 2\n"),
      Format::Auto, &notes);
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0].name, "Conv1");
  EXPECT_EQ(l[0].stride_h, 2u);
  EXPECT_EQ(l[0].stride_w, 2u);
  EXPECT_EQ(l[1].name, "Conv2_dw");
  EXPECT_EQ(l[1].stride_h, 1u);
  EXPECT_EQ(l[2].name, "Conv3");
  EXPECT_EQ(l[3].stride_h, 2u);  // the value after the last comma, written without it
  EXPECT_EQ(l[0].sparsity_n, 1u);
  EXPECT_TRUE(has_note(notes, "mobile.csv:5: text after a row's last comma is a comment ('#dw' here)"));
  EXPECT_TRUE(has_note(notes, "mobile.csv:3: 'MobileNet' (and any later row with a name and no values) is a heading"));
  // The column after Strides: a v2 stride width by number or by name, a v3 sparsity; other named
  // columns and anything after are comments.
  notes.clear();
  const auto c = load_topology(
      write_temp(
          "cols.csv",
          "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,,,Eh,Ew\n"
          "a,9,9,3,3,4,8,1,2,,7,7,\n"
          "b,9,9,3,3,4,8,1,2:4,\n"),
      Format::Auto, &notes);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].stride_w, 2u);
  EXPECT_EQ(gemm_of(c[0]).ofmap_w, 4u);  // ceil((9 - 3 + 2) / 2)
  EXPECT_EQ(c[1].stride_w, 1u);
  EXPECT_EQ(c[1].sparsity_n, 2u);
  EXPECT_EQ(c[1].sparsity_m, 4u);
  EXPECT_TRUE(has_note(notes, "columns after the 9th are comments"));
  const auto named = load_topology(
      write_temp("named.csv",
                 "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Stride "
                 "height, Stride width,\nr,9,9,3,3,4,8,1,3,\n"));
  EXPECT_EQ(named[0].stride_w, 3u);
  notes.clear();
  const auto batch = load_topology(
      write_temp("batch.csv",
                 "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, "
                 "Batch Size,\nq,512,512,1,1,64,16,1,4,\n"),
      Format::Auto, &notes);
  EXPECT_EQ(batch[0].stride_w, 1u);
  EXPECT_TRUE(has_note(notes, "column 'Batch Size' is neither Stride width (SCALE-Sim v2) nor Sparsity (v3): ignored"));
  // v3's GEMM form with its Sparsity column, and the header variants.
  const auto g =
      load_topology(write_temp("gs.csv", "Layer Name, M, N, K, Sparsity,\nG1, 3, 5, 16, 3:4,\nG2, 1, 5, 16, 1:4,"));
  ASSERT_EQ(g.size(), 2u);
  EXPECT_TRUE(g[0].gemm);
  EXPECT_EQ(gemm_of(g[1]).k, 16u);
  EXPECT_EQ(g[1].sparsity_n, 1u);
  EXPECT_EQ(g[1].sparsity_m, 4u);
  EXPECT_EQ(load_topology(write_temp("l.csv", "L,M,N,K,\nx,4,5,6,\n"))[0].gemm, true);
  // A tab-separated file (SCALE-Sim's UNet_maestro.csv is one; SCALE-Sim itself cannot read it).
  notes.clear();
  const auto tab = load_topology(
      write_temp("tab.csv",
                 "Layer name\t IFMAP Height\t IFMAP Width\t Filter Height\t Filter Width\t Channels\t Num Filter\t "
                 "Strides\t \nConv1_1\t572\t572\t3\t3\t1\t64\t1\t\n"),
      Format::Auto, &notes);
  ASSERT_EQ(tab.size(), 1u);
  EXPECT_EQ(gemm_of(tab[0]).m, 570u * 570u);
  EXPECT_TRUE(has_note(notes, "tab-separated"));
}

TEST(TopologyCompat, MalformedSparsityColumns_bad) {
  const std::string h =
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, Sparsity,\n";
  expect_topology_error("s1.csv", h + "c,8,8,3,3,4,4,1,3:2,\n",
                        "s1.csv:2: layer 'c': Sparsity expects N:M with 1 <= N <= M, got '3:2'");
  expect_topology_error("s2.csv", h + "c,8,8,3,3,4,4,1,half,\n", "Sparsity expects N:M with 1 <= N <= M, got 'half'");
  expect_topology_error("s3.csv", "Layer, M, N, K, Sparsity,\ng,4,4,4,0:4,\n", "got '0:4'");
  const std::string plain =
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n";
  expect_topology_error("s4.csv", plain + "c,8,8,3,3,4,4,1,0,\n",
                        "layer 'c': Stride width expects a positive integer, got '0'");
}

TEST(TopologyCompat, SparseLayersGiveScaleSimV3sCyclesInWs) {
  // Three sparse layers on a 32x32 WS array, stall-free, in both of v3's mappings. Expected
  // figures from SCALE-Sim v3 (main, fab89b7) run on the same files (docs/topology.md):
  // COMPUTE_REPORT "Total Cycles" and DETAILED_ACCESS_REPORT SRAM filter reads and ofmap writes.
  const auto layers = load_topology(write_temp(
      "sparse_layers.csv",
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, Sparsity,\n"
      "A24,7,7,3,3,64,16,1,2:4,\nA14,7,7,3,3,64,40,1,1:4,\nB13,9,9,3,3,11,8,1,1:3,\n"));
  auto cfg_text = [](const char* optimized) {
    return std::string(
               "[general]\nrun_name = sparse32\n\n[architecture_presets]\nArrayHeight : 32\nArrayWidth :  32\n"
               "IfmapSramSzkB:   256\nFilterSramSzkB:  256\nOfmapSramSzkB:   256\nIfmapOffset:    0\n"
               "FilterOffset:   100\nOfmapOffset:    200\nBandwidth : 50\nDataflow : ws\n\n[sparsity]\n"
               "SparsitySupport : true\nSparseRep : ellpack_block\nOptimizedMapping : ") +
           optimized + "\nBlockSize : 8\nRandomNumberGeneratorSeed : 40\n\n[run_presets]\nInterfaceBandwidth: CALC\n";
  };
  LayerMemory mem;
  const auto lw = run_layers(load_scalesim_cfg(write_temp("lw.cfg", cfg_text("false")), mem), mem, layers);
  // Layer-wise: 288, 144 and 33 filter rows of 576, 576 and 99 (dense: 2141, 2141 and 571 cycles).
  const uint64_t lw_cycles[] = {1070, 1189, 285}, lw_filter[] = {4608, 5760, 264}, ofmap[] = {3600, 5000, 784};
  const uint64_t lw_ifmap[] = {14400, 28800, 4851};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lw[i].compute_cycles, lw_cycles[i]) << i;
    EXPECT_EQ(lw[i].filter_sram_reads, lw_filter[i]) << i;
    EXPECT_EQ(lw[i].ofmap_sram_writes, ofmap[i]) << i;
    EXPECT_EQ(lw[i].ifmap_sram_reads, lw_ifmap[i]) << i;
  }
  EXPECT_NEAR(100 * lw[1].overall_util, 47.30866274179983, 1e-9);
  EXPECT_NEAR(100 * lw[1].mapping_efficiency, 56.25, 1e-12);
  EXPECT_NEAR(100 * lw[2].compute_util, 3.6301185344827585, 1e-9);
  // Optimized mapping, BlockSize 8: ceil(K / 16) x 8 rows whatever the layer's ratio.
  const auto opt = run_layers(load_scalesim_cfg(write_temp("opt.cfg", cfg_text("true")), mem), mem, layers);
  const uint64_t opt_cycles[] = {1070, 2141, 285}, opt_filter[] = {4608, 11520, 448}, opt_ofmap[] = {3600, 9000, 784};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(opt[i].compute_cycles, opt_cycles[i]) << i;
    EXPECT_EQ(opt[i].filter_sram_reads, opt_filter[i]) << i;
    EXPECT_EQ(opt[i].ofmap_sram_writes, opt_ofmap[i]) << i;
  }
  EXPECT_NEAR(100 * opt[1].overall_util, 26.272769733769266, 1e-9);
  // Without SparsitySupport the Sparsity column changes nothing (v3 ignores it then).
  std::string off = cfg_text("false");
  off.replace(off.find("SparsitySupport : true"), 22, "SparsitySupport : false");
  const auto dense = run_layers(load_scalesim_cfg(write_temp("off.cfg", off), mem), mem, layers);
  EXPECT_EQ(dense[0].compute_cycles, 2141u);
  EXPECT_EQ(dense[2].compute_cycles, 571u);
}

}  // namespace
}  // namespace npusim::topology
