// Sweep specs (sim/sweep.h): sampling, strict checking and content addresses.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>

#include "isa/diag.h"
#include "tools/sweep/sweep.h"

namespace npusim::sweep {
namespace {

const std::string kConfigs = NPUSIM_CONFIGS;
const std::string kTopology = std::string(NPUSIM_TRACES) + "/topologies/resnet50_conv.csv";

std::string write_spec(const std::string& name, const std::string& body) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << "base: " << kConfigs << "/edge.yaml\nworkloads: [" << kTopology << "]\n" << body;
  return path;
}

TEST(Sweep, AGridIsTheCartesianProductInAxisOrder) {
  const Spec s = load_spec(write_spec(
      "g.yaml", "axes:\n  mxu.rows: [8, 16]\n  mxu.dataflow: [ws, os, is]\n  scratchpad.size: [256KiB, 1MiB]\n"));
  const auto pts = expand(s);
  ASSERT_EQ(pts.size(), 12u);
  EXPECT_EQ(pts[0].values, (std::vector<std::string>{"8", "ws", "256KiB"}));
  EXPECT_EQ(pts[1].values, (std::vector<std::string>{"8", "ws", "1MiB"}));
  EXPECT_EQ(pts[11].values, (std::vector<std::string>{"16", "is", "1MiB"}));
  EXPECT_EQ(pts[11].config.mxu.rows, 16u);
  EXPECT_EQ(pts[11].config.mxu.dataflow, "is");
  EXPECT_EQ(pts[11].config.spad.size_bytes, 1u << 20);
  EXPECT_EQ(pts[0].config.mxu.cols, 16u);  // untouched keys keep the base's value
}

TEST(Sweep, RangesGiveGridStepsAndLogSpacing) {
  const Spec s =
      load_spec(write_spec("r.yaml", "axes:\n  mxu.rows: {min: 4, max: 64, log: true, integer: true, steps: 5}\n"));
  std::vector<uint32_t> rows;
  for (const auto& p : expand(s)) rows.push_back(p.config.mxu.rows);
  EXPECT_EQ(rows, (std::vector<uint32_t>{4, 8, 16, 32, 64}));
}

TEST(Sweep, LatinHypercubeCoversEveryStratumOfEveryAxisOnce) {
  // Ten points, two integer axes split into ten equal strata each: every stratum of every axis
  // gets one point (rounding to integers may move a draw across an edge, so allow one miss).
  const Spec lanes =
      load_spec(write_spec("lhs3.yaml",
                           "sample: lhs\npoints: 10\nseed: 3\naxes:\n  vpu.lanes: {min: 1, max: 1001, integer: true}\n"
                           "  mxu.rows: {min: 1, max: 101, integer: true}\n"));
  const auto a = expand(lanes), b = expand(lanes);
  ASSERT_EQ(a.size(), 10u);
  std::set<uint32_t> s1, s2;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].config_yaml, b[i].config_yaml);  // same seed, same designs
    s1.insert((a[i].config.vpu.lanes - 1) / 100);   // strata of width 100
    s2.insert((a[i].config.mxu.rows - 1) / 10);     // strata of width 10
  }
  // Rounding can move a sample across a stratum edge by at most one: nearly all strata are hit.
  EXPECT_GE(s1.size(), 9u);
  EXPECT_GE(s2.size(), 9u);
  const Spec other = load_spec(write_spec(
      "lhs4.yaml", "sample: lhs\npoints: 10\nseed: 4\naxes:\n  vpu.lanes: {min: 1, max: 1001, integer: true}\n"));
  EXPECT_NE(expand(other)[0].config_yaml, a[0].config_yaml);
}

TEST(Sweep, RandomSamplingIsSeededAndDropsRepeats) {
  const Spec s = load_spec(write_spec("rnd.yaml", "sample: random\npoints: 50\nseed: 9\naxes:\n  mxu.rows: [8, 16]\n"));
  const auto pts = expand(s);
  EXPECT_EQ(pts.size(), 2u);  // 50 draws of two designs
}

TEST(Sweep, TheCacheKeyFollowsTheContent) {
  const Spec s = load_spec(write_spec("k.yaml", "axes:\n  mxu.rows: [8, 16]\n"));
  const auto pts = expand(s);
  const EvalOptions o;
  const std::string k0 = cache_key(pts[0], s.workloads[0], o);
  EXPECT_EQ(k0.size(), 40u);
  EXPECT_EQ(k0, cache_key(pts[0], s.workloads[0], o));
  EXPECT_NE(k0, cache_key(pts[1], s.workloads[0], o));
  EvalOptions ideal;
  ideal.ideal_memory = true;
  EXPECT_NE(k0, cache_key(pts[0], s.workloads[0], ideal));
}

TEST(Sweep, EvaluationJsonRoundTrips) {
  Evaluation e;
  e.kind = "topology", e.cycles = 123456789012ull, e.seconds = 0.123, e.energy_j = 4.5e-3, e.macs = 42;
  e.average_power_w = 0.0366, e.utilization = 0.75, e.dram_bytes = 1ull << 40, e.layers = 53;
  const Evaluation b = parse_evaluation(evaluation_json(e));
  EXPECT_EQ(b.kind, e.kind);
  EXPECT_EQ(b.cycles, e.cycles);
  EXPECT_DOUBLE_EQ(b.seconds, e.seconds);
  EXPECT_DOUBLE_EQ(b.energy_j, e.energy_j);
  EXPECT_EQ(b.dram_bytes, e.dram_bytes);
  EXPECT_EQ(b.layers, 53u);
}

void expect_spec_error(const std::string& name, const std::string& text, const std::string& what, bool raw = false) {
  try {
    const std::string path = raw ? ::testing::TempDir() + name : write_spec(name, text);
    if (raw) std::ofstream(path) << text;
    expand(load_spec(path));
    ADD_FAILURE() << "accepted " << name;
  } catch (const isa::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(Sweep, MalformedSpecs_bad) {
  expect_spec_error("b1.yaml", "colour: red\n", "unknown key 'colour'");
  expect_spec_error("b2.yaml", "sample: sobol\n", "sample expects grid, random or lhs");
  expect_spec_error("b3.yaml", "sample: lhs\naxes:\n  mxu.rows: [8]\n", "needs points");
  expect_spec_error("b4.yaml", "axes:\n  mxu.rows: {min: 4, max: 64}\n", "a grid needs its steps");
  expect_spec_error("b5.yaml", "axes:\n  mxu.rows: []\n", "has no values");
  expect_spec_error("b6.yaml", "axes:\n  mxu.rows: [0]\n", "point (mxu.rows=0)");
  expect_spec_error("b7.yaml", "axes:\n  mxu.colour: [1]\n", "colour");
  expect_spec_error("b8.yaml", "axes:\n  nosuch.rows: [1]\n", "the base config has no section 'nosuch'");
  expect_spec_error("b9.yaml", "axes:\n  mxu.rows: {min: 8, max: 4, steps: 2}\n", "expected min <= max");
  expect_spec_error("b10.yaml", "base: x.yaml\nworkloads: [a.onnx]\n", "x.yaml: cannot read base config: No such file", true);
  expect_spec_error("b11.yaml", "base: " + kConfigs + "/edge.yaml\nworkloads: [nothere.onnx]\n", "does not exist",
                    true);
  expect_spec_error("b12.yaml", "base: " + kConfigs + "/edge.yaml\n", "'workloads'", true);
  // Values of the wrong type name the key and what it expects.
  expect_spec_error("b15.yaml", "axes:\n  clock: {min: fast, max: 2, steps: 2}\n",
                    "axis 'clock': min expects a number, got 'fast'");
  expect_spec_error("b16.yaml", "axes:\n  clock: {min: 1, max: 2, steps: -1}\n",
                    "steps expects a whole number >= 1, got '-1'");
  expect_spec_error("b17.yaml", "sample: lhs\npoints: many\naxes:\n  clock: [1]\n",
                    "points expects a whole number >= 1, got 'many'");
  expect_spec_error("b18.yaml", "axes:\n  [1, 2]: [3]\n", "expected a name as the key");
  // Too many designs: refused when read, before any configuration is built.
  expect_spec_error("b13.yaml",
                    "axes:\n  clock: {min: 500, max: 1500, steps: 1000}\n  mxu.rows: {min: 4, max: 64, steps: 1000}\n"
                    "  mxu.cols: {min: 4, max: 64, steps: 1000}\n",
                    "the grid (1000 x 1000 x 1000) has more than 100000 designs");
  expect_spec_error("b14.yaml", "sample: random\npoints: 10000000000\naxes:\n  clock: {min: 500, max: 1500}\n",
                    "10000000000 points are more than 100000 designs");
}

}  // namespace
}  // namespace npusim::sweep
