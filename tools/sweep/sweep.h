// Design-space sweeps (`npusim sweep sweep.yaml`, docs/sweep.md): a base configuration, parameter
// axes sampled as a grid, at random or by Latin hypercube, and workloads; each (point, workload)
// runs as its own process on a local pool, results are cached by content, and the table comes out
// as CSV and JSON with the latency/energy Pareto front marked.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tools/workload/workload.h"

namespace npusim::sweep {

/// One swept parameter: a dotted config key and either explicit values or a range.
struct Axis {
  std::string key;                 ///< e.g. mxu.rows
  std::vector<YAML::Node> values;  ///< explicit values (any sampling)
  bool range = false;              ///< {min, max[, log][, integer][, steps]} instead of values
  double lo = 0, hi = 0;           ///< range bounds
  bool log = false;                ///< sample the range log-uniformly
  bool integer = false;            ///< round range samples to integers
  uint32_t steps = 0;              ///< grid over a range: this many evenly spaced values
};

struct Spec {
  std::string file;                    ///< the sweep file
  std::string base;                    ///< base configuration (YAML), resolved path
  YAML::Node base_node;                ///< its contents
  std::vector<Axis> axes;              ///< in file order
  std::string sample = "grid";         ///< grid | random | lhs
  uint64_t points = 0;                 ///< random / lhs: how many
  uint64_t seed = 1;                   ///< random / lhs: stream
  std::vector<std::string> workloads;  ///< resolved paths (.onnx, .npub, .npus, topology .csv)
  EvalOptions eval;                    ///< precision, ideal memory
  std::string output;                  ///< output folder, resolved
};

/// Designs a sweep may have (grid product or sampled points): checked when the file is read.
constexpr uint64_t kMaxDesigns = 100000;

/// Reads and checks a sweep file: unknown keys, bad samplings and missing files are errors naming
/// the file and key (isa::InputError). Relative paths are relative to the sweep file.
Spec load_spec(const std::string& path);

/// One design point: the chosen value of every axis and the configuration it makes.
struct Point {
  std::vector<std::string> values;  ///< per axis, as text
  std::string config_yaml;          ///< base with the axes applied
  config::NpuConfig config;         ///< loaded and checked
};

/// The design points of `s` (grid: the Cartesian product in axis order; random / lhs: `points`
/// samples from `seed`, duplicates dropped). Each configuration is loaded strictly: a value the
/// schema rejects is an error naming the point and axis values.
std::vector<Point> expand(const Spec& s);

/// Content address of one evaluation: SHA-1 of the npusim version, the effective configuration,
/// the workload file's bytes and the evaluation options.
std::string cache_key(const Point& p, const std::string& workload, const EvalOptions& o);

/// An evaluation as a flat JSON object (what a point process writes), and back.
std::string evaluation_json(const Evaluation& e);
Evaluation parse_evaluation(const std::string& json);

struct RunOptions {
  unsigned jobs = 0;           ///< concurrent point processes (0: all cores)
  std::string self_exe;        ///< the npusim executable to spawn
  bool progress = true;        ///< progress bar on stderr
  bool no_cache = false;       ///< re-run cached points
  std::string plan_file;       ///< write the missing jobs here instead of running them
  std::string plot_script;     ///< when set: python script drawing the Pareto plot
  double point_timeout_s = 0;  ///< a point process running longer is killed and marked failed (0: no limit)
};

/// Runs the sweep (or writes its plan) and writes results.csv and results.json (and pareto.png)
/// to s.output. Returns the exit code: 0 when every point ran, 1 when some failed.
int run(const Spec& s, const RunOptions& o);

}  // namespace npusim::sweep
