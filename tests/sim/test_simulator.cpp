// The SystemC simulator: cycles against closed forms (MXU with ideal memory, double buffering as
// max(compute, memory)), determinism, timing-only equivalence, and one `_bad` test per fault.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "arch/mxu_timing.h"
#include "fork_run.h"
#include "isa/assembler.h"
#include "sim/simulator.h"

namespace npusim {
namespace {

using testing::in_child;

/// Options of a timing-only run.
RunOptions timing() {
  RunOptions o;
  o.timing_only = true;
  return o;
}

config::NpuConfig cfg_from(const std::string& extra) {
  return config::load_npu_config_text(
      "name: t\nclock: 1GHz\ndram: {impl: simple, latency: 100ns, bandwidth: 12.8GB/s}\n" + extra, "t.yaml");
}

isa::Program prog_from(const std::string& body, bool check = true) {
  return isa::assemble(".npus 1.0\n.target line=64\n" + body + "\nfinish\n", "t.npus", {check, 0, 20}).program;
}

/// Runs in a child; returns "cycles=N" or "fault=CODE message".
std::string run(const config::NpuConfig& c, const isa::Program& p, RunOptions o = {},
                std::map<std::string, std::vector<uint8_t>> in = {}) {
  return in_child([&] {
    const RunResult r = simulate(c, p, in, o);
    if (!r.ok) return "fault=" + std::string(arch::fault_name(r.fault_code)) + " " + r.fault_message;
    std::ostringstream os;
    os << "cycles=" << r.total_cycles;
    for (const auto& [k, v] : r.outputs) os << " " << k << "=" << std::string(v.begin(), v.end()).size();
    return os.str();
  });
}

config::NpuConfig load_edge() {
  return config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
}

uint64_t cycles_of(const std::string& s) {
  EXPECT_EQ(s.rfind("cycles=", 0), 0u) << s;
  return s.rfind("cycles=", 0) == 0 ? std::stoull(s.substr(7)) : 0;
}

TEST(Simulator, MxuCyclesEqualTheClosedFormWithIdealMemory) {
  // Operands already in SRAM: the run is exactly one matmul; finish adds no cycles.
  for (const char* flow : {"ws", "os", "is"})
    for (auto [m, n, k] : {std::tuple{16, 16, 16}, {64, 48, 40}, {7, 33, 100}, {128, 16, 64}}) {
      const auto c = cfg_from(std::string("mxu: {dataflow: ") + flow + "}\n");
      char body[160];
      std::snprintf(body, sizeof body, "matmul acc[0], s[0], s[0x400], m=%d, n=%d, k=%d, dtype=i8", m, n, k);
      const uint64_t want =
          arch::scalesim_closed_form(16, 16, c.mxu.flow(),
                                     {static_cast<uint32_t>(m), static_cast<uint32_t>(n), static_cast<uint32_t>(k)})
              .cycles;
      EXPECT_EQ(cycles_of(run(c, prog_from(body), timing())), want) << flow << " " << m << "x" << n << "x" << k;
    }
}

/// N weight tiles of `tile_bytes` streamed through two buffers while the MXU multiplies.
std::string double_buffered(int tiles, int m) {
  std::ostringstream os;
  os << ".region w role=const size=" << tiles * 4096 << "\n.desc W region=w dtype=i8 box=[64, 64]\n"
     << ".sem free consumer=load init=2\n.sem full consumer=mxu\n";
  for (int i = 0; i < tiles; ++i) {
    const int buf = (i % 2) * 64;
    os << "load s[" << buf << "], W, off=" << i * 4096 << " !wait(free) !sig(full)\n";
    if (i >= 1)
      os << "matmul acc[0], s[0x100], s[" << ((i - 1) % 2) * 64 << "], m=" << m
         << ", n=64, k=64, dtype=i8, accumulate !wait(full) !sig(free)\n";
  }
  os << "matmul acc[0], s[0x100], s[" << ((tiles - 1) % 2) * 64 << "], m=" << m
     << ", n=64, k=64, dtype=i8, accumulate !wait(full) !sig(free)";
  return os.str();
}

TEST(Simulator, DoubleBufferedGemmTakesMaxOfComputeAndMemory) {
  const auto c = cfg_from("dma: {channels: 1, setup: 20, outstanding: 64}\n");
  const double period = 1e-9;
  // Memory per tile: setup + 4096 B / 12.8 GB/s + latency (the last burst's). Compute per tile:
  // the closed form for M x 64 x 64 on 16x16 WS.
  const double mem_s = 20 * period + 4096 / 12.8e9 + 100e-9;
  for (int m : {16, 256}) {  // memory-bound, then compute-bound
    const int tiles = 24;
    const double comp_s =
        arch::scalesim_closed_form(16, 16, arch::Dataflow::WeightStationary, {static_cast<uint32_t>(m), 64, 64})
            .cycles *
        period;
    // Steady state is the slower stage; the faster one shows once at the start or the end.
    const double want = tiles * std::max(comp_s, mem_s) + std::min(comp_s, mem_s);
    const double got = static_cast<double>(cycles_of(run(c, prog_from(double_buffered(tiles, m)), timing()))) * period;
    EXPECT_NEAR(got / want, 1.0, 0.02) << "m=" << m << " compute " << comp_s << " memory " << mem_s;
  }
}

TEST(Simulator, RepeatedRunsAndTimingOnlyGiveIdenticalCycles) {
  const auto c = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  const isa::Program p = isa::assemble_file(std::string(NPUSIM_TRACES) + "/gemm_i8_db.npus").program;
  std::map<std::string, std::vector<uint8_t>> in{{"A", std::vector<uint8_t>(64 * 256, 3)}};
  const std::string a = run(c, p, {}, in), b = run(c, p, {}, in), t = run(c, p, timing(), in);
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find(" C=4096"), std::string::npos) << a;  // the output came back
  EXPECT_EQ(cycles_of(a), cycles_of(t));
}

TEST(Simulator, EngineSpansCoverEachEnginesBusyTime) {
  // The busy stretches (for traces such as npusim load's) add up to each engine's busy cycles and
  // never overlap on one engine; asking for them changes no cycle.
  const auto c = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  const isa::Program p = isa::assemble_file(std::string(NPUSIM_TRACES) + "/gemm_i8_db.npus").program;
  std::map<std::string, std::vector<uint8_t>> in{{"A", std::vector<uint8_t>(64 * 256, 3)}};
  RunOptions o;
  o.engine_spans = true;
  const RunResult r = simulate(c, p, in, o), plain = simulate(c, p, in, {});
  EXPECT_EQ(r.total_cycles, plain.total_cycles);
  EXPECT_TRUE(plain.engine_spans.empty());
  for (size_t e = 0; e < isa::kEngineCount; ++e) {
    double busy_s = 0, last_end = -1;
    for (const EngineSpan& sp : r.engine_spans) {
      if (static_cast<size_t>(sp.engine) != e) continue;
      EXPECT_GT(sp.start_s, last_end) << "engine " << e << ": stretches overlap or touch";
      EXPECT_LE(sp.end_s, r.seconds + 1e-15);
      busy_s += sp.end_s - sp.start_s;
      last_end = sp.end_s;
    }
    // busy_cycles truncates each instruction's time to whole cycles: at most one cycle each.
    const double busy_cycles = busy_s * c.clock_hz;
    EXPECT_GE(busy_cycles + 1e-6, static_cast<double>(r.engines[e].busy_cycles)) << "engine " << e;
    EXPECT_LE(busy_cycles, static_cast<double>(r.engines[e].busy_cycles + r.engines[e].instructions) + 1e-6)
        << "engine " << e;
  }
}

TEST(Simulator, TraceIsJsonWithTrackNamesThenOneCompleteEventPerSpan) {
  // The Chrome trace is a tree (stats::json_text writes it): a config name with quotes stays a
  // string; ts and dur are microseconds within the run; each marker has one span on track 300.
  auto c = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  c.name = "edge \"quoted\"";
  const isa::Program p = isa::assemble_file(std::string(NPUSIM_TRACES) + "/mlp_i8.npus").program;
  RunOptions o = timing();
  o.trace = true;
  const RunResult r = simulate(c, p, {{"x", std::vector<uint8_t>(16 * 128, 1)}}, o);
  ASSERT_TRUE(r.ok) << r.fault_message;
  const auto j = nlohmann::ordered_json::parse(r.trace_json);
  EXPECT_EQ(j.begin().key(), "displayTimeUnit");
  EXPECT_EQ(j["displayTimeUnit"], "ns");
  const auto& ev = j["traceEvents"];
  ASSERT_GT(ev.size(), 1u);
  EXPECT_EQ(ev[0]["name"], "process_name");
  EXPECT_EQ(ev[0]["args"]["name"], "npusim edge \"quoted\"");
  size_t spans = 0, markers = 0;
  bool past_names = false;
  for (const auto& e : ev) {
    if (e["ph"] == "M") {
      EXPECT_FALSE(past_names) << "a track name after the spans: " << e.dump();
      continue;
    }
    past_names = true;
    ASSERT_EQ(e["ph"], "X") << e.dump();
    ASSERT_TRUE(e["ts"].is_number() && e["dur"].is_number()) << e.dump();
    EXPECT_GE(e["dur"].get<double>(), 0) << e.dump();
    EXPECT_LE(e["ts"].get<double>() + e["dur"].get<double>(), r.seconds * 1e6 + 2e-6) << e.dump();
    ++spans;
    markers += e["tid"] == 300;
  }
  EXPECT_GT(spans, markers);
  EXPECT_EQ(markers, p.markers.size());
}

TEST(Simulator, RunsManyTimesInOneProcess) {
  // Every simulate() gets a fresh SystemC context: the same process runs a program, another one
  // (with a fault), and the first again, each from time 0 with the cycles a fresh process gives.
  const std::string out = in_child([] {
    const auto c = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
    const isa::Program gemm = isa::assemble_file(std::string(NPUSIM_TRACES) + "/gemm_i8_db.npus").program;
    const isa::Program mlp = isa::assemble_file(std::string(NPUSIM_TRACES) + "/mlp_i8.npus").program;
    std::map<std::string, std::vector<uint8_t>> in{{"A", std::vector<uint8_t>(64 * 256, 3)}};
    std::map<std::string, std::vector<uint8_t>> bad{{"A", std::vector<uint8_t>(1, 3)}};
    std::ostringstream os;
    const RunResult a = simulate(c, gemm, in, {});
    try {
      simulate(c, mlp, bad, {});
    } catch (const std::exception&) {
      os << "rejected ";
    }
    const RunResult m = simulate(c, mlp, {{"x", std::vector<uint8_t>(16 * 128, 1)}}, {});
    const RunResult b = simulate(c, gemm, in, {});
    os << a.ok << m.ok << b.ok << " " << a.total_cycles << " " << b.total_cycles << " " << (a.outputs == b.outputs);
    return os.str();
  });
  const std::string fresh =
      run(load_edge(), isa::assemble_file(std::string(NPUSIM_TRACES) + "/gemm_i8_db.npus").program, {},
          {{"A", std::vector<uint8_t>(64 * 256, 3)}});
  const uint64_t cycles = cycles_of(fresh);
  EXPECT_EQ(out, "rejected 111 " + std::to_string(cycles) + " " + std::to_string(cycles) + " 1");
}

TEST(Simulator, RegionBoundsFault_bad) {
  const auto r =
      run(cfg_from(""),
          prog_from(".region x role=input size=64\n.desc D region=x dtype=i8 box=[64]\nnop\nload s[0], D, off=8"),
          timing());
  EXPECT_NE(r.find("fault=REGION_BOUNDS REGION_BOUNDS: instruction #1 (load on load): descriptor 'D' row 0 reaches "
                   "bytes [8, 72)"),
            std::string::npos)
      << r;
}

TEST(Simulator, GatherIsTimedAsALoadOfTheSameRows) {
  // The indices (loaded first, all 5 on both programs' scratchpads) pick row 5 of a 64 x 128 i8
  // table eight times; the load walks the same eight rows with a zero row stride. Same DRAM runs,
  // same cycles (docs/isa.md "Gather"); a timing-only run assumes rows 0..7 (one contiguous burst).
  const std::string decls =
      ".region t role=input size=8KiB\n.region i role=input size=64\n"
      ".desc T region=t dtype=i8 box=[128, 64] stride=[128]\n.desc R region=t dtype=i8 box=[128, 8] stride=[0] "
      "offset=640\n.desc I region=i dtype=i32 box=[8]\n.io t region=t dtype=i8 shape=[8192]\n"
      ".io i region=i dtype=i32 shape=[16]\n";
  std::vector<uint8_t> idx(64, 0);
  for (int j = 0; j < 8; ++j) idx[4 * j] = 5;
  const std::map<std::string, std::vector<uint8_t>> in{{"t", std::vector<uint8_t>(8192, 1)}, {"i", idx}};
  const auto c = load_edge();
  const uint64_t gather = cycles_of(run(c, prog_from(decls + "load s[0], I\ngather s[4], T, s[0], count=8"), {}, in));
  const uint64_t load = cycles_of(run(c, prog_from(decls + "load s[0], I\nload s[4], R"), {}, in));
  EXPECT_EQ(gather, load);
  EXPECT_GT(gather, 0u);
}

TEST(Simulator, GatherIndexFault_bad) {
  const std::string decls =
      ".region t role=input size=1KiB\n.region i role=input size=64\n"
      ".desc T region=t dtype=i8 box=[16, 64] stride=[16]\n.desc I region=i dtype=i32 box=[2]\n"
      ".io t region=t dtype=i8 shape=[1024]\n.io i region=i dtype=i32 shape=[16]\n";
  std::vector<uint8_t> idx(64, 0);
  idx[4] = 64;  // index 1 = 64: one past the table
  const auto r = run(cfg_from(""), prog_from(decls + "load s[0], I\ngather s[4], T, s[0], count=2, wrap"), {},
                     {{"t", std::vector<uint8_t>(1024, 0)}, {"i", idx}});
  EXPECT_NE(r.find("fault=REGION_BOUNDS REGION_BOUNDS: instruction #1 (gather on load): gather index 1 is 64, outside "
                   "the 64 rows of table 'T' (valid: [-64, 64))"),
            std::string::npos)
      << r;
}

TEST(Simulator, SramOverflowFault_bad) {
  const auto r = run(cfg_from(""), prog_from("fill acc[0x7F0], lines=32"), timing());
  EXPECT_NE(r.find("fault=SRAM_BOUNDS SRAM_BOUNDS: instruction #0 (fill on load): fill destination: lines [2032, 2064) "
                   "exceed the accumulator"),
            std::string::npos)
      << r;
}

TEST(Simulator, SemaphoreOverflowFault_bad) {
  const auto r = run(cfg_from(""), prog_from(".sem s consumer=vpu init=65535\nnop !sig(s)"), timing());
  EXPECT_NE(r.find("fault=SEM_OVERFLOW SEM_OVERFLOW: instruction #0 (ctrl) signals semaphore 's' past 65535"),
            std::string::npos)
      << r;
}

TEST(Simulator, DeadlockFaultReportsEveryEngine_bad) {
  const isa::Program p = prog_from(
      ".region r role=input size=64\n.desc D region=r dtype=i8 box=[64]\n.sem a consumer=load\n.sem b consumer=mxu\n"
      "load s[0], D !wait(a) !sig(b)\nmatmul acc[0], s[0], s[0], m=1, n=1, k=1, dtype=i8 !wait(b) !sig(a)",
      false);
  const auto r = run(cfg_from(""), p, timing(), {{"r", {}}});
  EXPECT_NE(r.find("EXCEPTION"), std::string::npos) << r;  // 'r' has no IO entry: input error first
  const auto d = run(cfg_from(""), p, timing());
  EXPECT_NE(d.find("fault=DEADLOCK"), std::string::npos) << d;
  EXPECT_NE(d.find("load: pc #0 (load) waits for semaphore 'a' >= 1"), std::string::npos) << d;
  EXPECT_NE(d.find("mxu: pc #1 (matmul) waits for semaphore 'b' >= 1"), std::string::npos) << d;
  EXPECT_NE(d.find("ctrl: pc #2 (finish) waits for the engines it drains"), std::string::npos) << d;
  EXPECT_NE(d.find("semaphores: a=0 b=0"), std::string::npos) << d;
}

TEST(Simulator, WatchdogFault_bad) {
  RunOptions o = timing();
  o.watchdog_cycles = 100;
  const auto r = run(cfg_from(""), prog_from("matmul acc[0], s[0], s[0], m=512, n=16, k=16, dtype=i8"), o);
  EXPECT_NE(r.find("fault=WATCHDOG WATCHDOG: no finish after 100 cycles"), std::string::npos) << r;
  EXPECT_NE(r.find("mxu: pc #0 (matmul)"), std::string::npos) << r;
}

TEST(Simulator, TargetMismatchIsAnInputError_bad) {
  const isa::Program p = isa::assemble(".target line=32\nfinish\n", "t.npus").program;
  const auto r = run(cfg_from(""), p);
  EXPECT_NE(r.find("EXCEPTION program does not fit config 't': it uses 32-byte lines, the config 64-byte lines"),
            std::string::npos)
      << r;
  const isa::Program f = prog_from("matmul acc[0], s[0], s[0], m=1, n=1, k=1, dtype=fp16");
  EXPECT_NE(run(cfg_from(""), f).find("multiplies fp16, which the config's mxu.dtypes lacks"), std::string::npos);
}

TEST(Simulator, StatsJsonHasTheDocumentedFields) {
  const auto c = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  const isa::Program p = isa::assemble_file(std::string(NPUSIM_TRACES) + "/mlp_i8.npus").program;
  const std::string json = in_child([&] {
    const RunResult r = simulate(c, p, {{"x", std::vector<uint8_t>(16 * 128, 1)}}, RunOptions{});
    return stats_json(r, c, p, "mlp_i8.npus");
  });
  for (const char* key :
       {"\"total_cycles\"", "\"seconds\"", "\"macs\": 163840", "\"mxu_utilization\"", "\"busy_cycles\"",
        "\"sem_wait_cycles\"", "\"mem_stall_cycles\"", "\"bandwidth_bytes_per_s\"", "\"row_hits\"", "\"row_misses\"",
        "\"fc1\": {\"cycles\"", "\"fc2\": {\"cycles\"", "\"status\": \"ok\""})
    EXPECT_NE(json.find(key), std::string::npos) << key << "\n" << json;
}

}  // namespace
}  // namespace npusim
