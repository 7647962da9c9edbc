#include "tools/sweep/sweep.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/uuid/detail/sha1.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "base/input_file.h"
#include "base/json.h"
#include "base/stats.h"
#include "base/text.h"
#include "base/units.h"
#include "base/version.h"
#include "isa/diag.h"

extern char** environ;

namespace npusim::sweep {
namespace fs = std::filesystem;
namespace {

std::string read_file(const std::string& path) {
  return read_input_file(path, "sweep input");  // regular files only, bounded
}

void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw isa::InputError(path + ": cannot write");
    out << text;
  }
  fs::rename(tmp, path);  // readers never see a half-written file
}

std::string sha1_hex(const std::string& bytes) {
  boost::uuids::detail::sha1 h;
  h.process_bytes(bytes.data(), bytes.size());
  boost::uuids::detail::sha1::digest_type d;
  h.get_digest(d);
  char out[41];
  for (int i = 0; i < 5; ++i) std::snprintf(out + 8 * i, 9, "%08x", d[i]);
  return std::string(out, 40);
}

std::string num(double v) {  // this output's precision
  return format_g(v, 10);
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

/// Uniform double in [0, 1) from the generator's raw bits (the same on every standard library).
double uniform01(std::mt19937_64& g) {
  return static_cast<double>(g() >> 11) * (1.0 / 9007199254740992.0);
}

/// Fisher-Yates with uniform01 (std::shuffle's sequence differs between standard libraries).
std::vector<size_t> permutation(size_t n, std::mt19937_64& g) {
  std::vector<size_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = i;
  for (size_t i = n; i > 1; --i) std::swap(p[i - 1], p[static_cast<size_t>(uniform01(g) * static_cast<double>(i))]);
  return p;
}

/// The value of a range axis at u in [0, 1).
std::string range_value(const Axis& a, double u) {
  double v = a.log ? a.lo * std::pow(a.hi / a.lo, u) : a.lo + u * (a.hi - a.lo);
  if (a.integer) return std::to_string(static_cast<long long>(std::llround(v)));
  return num(v);
}

}  // namespace

namespace {

/// A scalar of the sweep file as T, or an InputError at `at` saying what `what` expects.
template <typename T>
T scalar_as(const YAML::Node& n, const std::string& at, const std::string& what, const char* expects) {
  if (n.IsScalar()) {
    try {
      return n.as<T>();
    } catch (const YAML::Exception&) {
    }
  }
  throw isa::InputError(at + ": " + what + " expects " + expects + ", got " +
                        (n.IsScalar() ? "'" + n.Scalar() + "'" : std::string(n.IsMap() ? "a mapping" : "a list")));
}

/// A mapping key as text (keys are names; a list or mapping as a key is an error).
std::string key_of(const YAML::Node& k, const std::string& at) {
  if (!k.IsScalar()) throw isa::InputError(at + ": expected a name as the key, got a list or mapping");
  return k.Scalar();
}

}  // namespace

Spec load_spec(const std::string& path) {
  Spec s;
  s.file = path;
  YAML::Node root;
  try {
    root = YAML::Load(read_input_file(path, "sweep file", uint64_t{16} << 20));
  } catch (const YAML::Exception& e) {
    throw isa::InputError(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) throw isa::InputError(path + ": expected a mapping (base, axes, workloads, ...)");
  auto resolve = [&](const std::string& p) { return path_beside(path, p); };
  auto where = [&](const YAML::Node& n) { return path + ":" + std::to_string(n.Mark().line + 1); };
  static const std::set<std::string> keys = {"base",      "axes",      "sample",       "points", "seed",
                                             "workloads", "precision", "ideal_memory", "output"};
  for (const auto& kv : root) {
    const std::string k = key_of(kv.first, where(kv.first));
    if (!keys.count(k))
      throw isa::InputError(
          where(kv.first) + ": unknown key '" + k +
          "' (expected base, axes, sample, points, seed, workloads, precision, ideal_memory, output)");
  }
  if (!root["base"] || !root["base"].IsScalar()) throw isa::InputError(path + ": 'base' (a config YAML) is required");
  s.base = resolve(root["base"].Scalar());
  try {
    s.base_node = YAML::Load(read_input_file(s.base, "base config", uint64_t{16} << 20));
  } catch (const InputError& e) {
    throw isa::InputError(where(root["base"]) + ": " + e.what());
  } catch (const YAML::Exception& e) {
    throw isa::InputError(where(root["base"]) + ": base '" + s.base + "': " + e.msg);
  }
  if (root["axes"]) {
    if (!root["axes"].IsMap()) throw isa::InputError(where(root["axes"]) + ": 'axes' maps config keys to values");
    for (const auto& kv : root["axes"]) {
      Axis a;
      a.key = key_of(kv.first, where(kv.first));
      const YAML::Node v = kv.second;
      if (v.IsSequence()) {
        if (v.size() == 0) throw isa::InputError(where(v) + ": axis '" + a.key + "' has no values");
        for (const auto& x : v) a.values.push_back(x);
      } else if (v.IsMap()) {
        a.range = true;
        static const std::set<std::string> rk = {"min", "max", "log", "integer", "steps"};
        for (const auto& r : v)
          if (!rk.count(key_of(r.first, where(r.first))))
            throw isa::InputError(where(r.first) + ": axis '" + a.key + "': unknown key '" + r.first.Scalar() +
                                  "' (expected min, max, log, integer, steps)");
        if (!v["min"] || !v["max"]) throw isa::InputError(where(v) + ": axis '" + a.key + "' needs min and max");
        const std::string axis = "axis '" + a.key + "': ";
        a.lo = scalar_as<double>(v["min"], where(v["min"]), axis + "min", "a number");
        a.hi = scalar_as<double>(v["max"], where(v["max"]), axis + "max", "a number");
        a.log = v["log"] && scalar_as<bool>(v["log"], where(v["log"]), axis + "log", "true or false");
        a.integer =
            v["integer"] && scalar_as<bool>(v["integer"], where(v["integer"]), axis + "integer", "true or false");
        a.steps =
            v["steps"] ? scalar_as<uint32_t>(v["steps"], where(v["steps"]), axis + "steps", "a whole number >= 1") : 0;
        if (v["steps"] && a.steps == 0)
          throw isa::InputError(where(v["steps"]) + ": " + axis + "steps expects a whole number >= 1, got 0");
        if (!(a.hi >= a.lo) || (a.log && !(a.lo > 0)))
          throw isa::InputError(where(v) + ": axis '" + a.key + "': expected min <= max (and min > 0 with log)");
      } else {
        throw isa::InputError(where(v) + ": axis '" + a.key + "' expects a list of values or {min, max}");
      }
      if (a.key.find('.') == std::string::npos && !s.base_node[a.key])
        throw isa::InputError(where(kv.first) + ": axis '" + a.key + "' is not a key of the base config");
      s.axes.push_back(a);
    }
  }
  if (root["sample"]) s.sample = root["sample"].Scalar();
  if (s.sample != "grid" && s.sample != "random" && s.sample != "lhs")
    throw isa::InputError(where(root["sample"]) + ": sample expects grid, random or lhs, got '" + s.sample + "'");
  if (root["points"])
    s.points = scalar_as<uint64_t>(root["points"], where(root["points"]), "points", "a whole number >= 1");
  if (root["seed"]) s.seed = scalar_as<uint64_t>(root["seed"], where(root["seed"]), "seed", "a whole number");
  if (root["ideal_memory"])
    s.eval.ideal_memory =
        scalar_as<bool>(root["ideal_memory"], where(root["ideal_memory"]), "ideal_memory", "true or false");
  if (s.sample != "grid" && s.points == 0)
    throw isa::InputError(path + ": sample " + s.sample + " needs points (how many designs to draw)");
  if (s.sample == "grid")
    for (const Axis& a : s.axes)
      if (a.range && a.steps == 0)
        throw isa::InputError(path + ": axis '" + a.key + "' is a range: a grid needs its steps");
  // Every design's configuration is built and checked before anything runs, so the count is
  // bounded first (a 1000 x 1000 x 1000 grid would otherwise exhaust memory while expanding).
  uint64_t designs = 1;
  std::string factors;
  if (s.sample == "grid") {
    for (const Axis& a : s.axes) {
      const uint64_t n = a.range ? a.steps : a.values.size();
      designs = n && designs > kMaxDesigns / n ? kMaxDesigns + 1 : designs * n;
      factors += (factors.empty() ? "" : " x ") + std::to_string(n);
    }
  } else {
    designs = s.points;
  }
  if (designs > kMaxDesigns)
    throw isa::InputError(path + ": " +
                          (s.sample == "grid" ? "the grid (" + factors + ") has more than "
                                              : std::to_string(s.points) + " points are more than ") +
                          std::to_string(kMaxDesigns) +
                          " designs: narrow the axes, or draw fewer random or Latin-hypercube points");
  if (root["precision"]) s.eval.precision = root["precision"].Scalar();
  if (s.eval.precision != "fp16" && s.eval.precision != "bf16")
    throw isa::InputError(path + ": precision expects fp16 or bf16 in sweeps");
  if (!root["workloads"] || !root["workloads"].IsSequence() || root["workloads"].size() == 0)
    throw isa::InputError(path + ": 'workloads' (a list of .onnx, .npub, .npus or topology .csv files) is required");
  for (const auto& w : root["workloads"]) {
    const std::string p = resolve(w.Scalar());
    if (!fs::exists(p)) throw isa::InputError(where(w) + ": workload '" + p + "' does not exist");
    try {  // a regular, readable file (a FIFO would block the sweep's first read)
      require_input_file(p, "workload");
    } catch (const InputError& e) {
      throw isa::InputError(where(w) + ": " + e.what());
    }
    s.workloads.push_back(p);
  }
  s.output = resolve(root["output"] ? root["output"].Scalar() : fs::path(path).stem().string() + "_out");
  return s;
}

std::vector<Point> expand(const Spec& s) {
  // Values per point, as YAML nodes, per axis.
  std::vector<std::vector<YAML::Node>> rows;
  auto grid_values = [](const Axis& a) {
    std::vector<YAML::Node> v = a.values;
    if (a.range)
      for (uint32_t i = 0; i < a.steps; ++i)
        v.push_back(YAML::Node(range_value(a, a.steps == 1 ? 0.0 : static_cast<double>(i) / (a.steps - 1))));
    return v;
  };
  if (s.sample == "grid") {
    rows.emplace_back();
    for (const Axis& a : s.axes) {
      std::vector<std::vector<YAML::Node>> next;
      for (const auto& r : rows)
        for (const auto& v : grid_values(a)) {
          next.push_back(r);
          next.back().push_back(v);
        }
      rows = std::move(next);
    }
  } else {
    std::mt19937_64 g(s.seed);
    const size_t n = s.points;
    std::vector<std::vector<size_t>> strata;  // lhs: a permutation of the n strata per axis
    if (s.sample == "lhs")
      for (size_t i = 0; i < s.axes.size(); ++i) strata.push_back(permutation(n, g));
    for (size_t p = 0; p < n; ++p) {
      std::vector<YAML::Node> r;
      for (size_t i = 0; i < s.axes.size(); ++i) {
        const Axis& a = s.axes[i];
        // lhs: one draw inside stratum strata[i][p] of n equal strata; random: anywhere.
        const double u = s.sample == "lhs" ? (static_cast<double>(strata[i][p]) + uniform01(g)) / static_cast<double>(n)
                                           : uniform01(g);
        if (a.range)
          r.push_back(YAML::Node(range_value(a, u)));
        else
          r.push_back(
              a.values[std::min(a.values.size() - 1, static_cast<size_t>(u * static_cast<double>(a.values.size())))]);
      }
      rows.push_back(r);
    }
  }
  std::vector<Point> out;
  std::set<std::string> seen;
  for (const auto& r : rows) {
    Point p;
    YAML::Node cfg = YAML::Clone(s.base_node);
    std::string label;
    for (size_t i = 0; i < s.axes.size(); ++i) {
      p.values.push_back(scalar_text(r[i]));
      label += (i ? ", " : "") + s.axes[i].key + "=" + p.values.back();
      // Walk the dotted key, creating nothing the base lacks except the last component.
      const std::string& key = s.axes[i].key;
      std::vector<std::string> parts;
      std::stringstream ks(key);
      for (std::string part; std::getline(ks, part, '.');) parts.push_back(part);
      std::vector<YAML::Node> chain{cfg};
      for (size_t k = 0; k + 1 < parts.size(); ++k) {
        YAML::Node next = chain.back()[parts[k]];
        if (!next.IsDefined() || !next.IsMap())
          throw isa::InputError(s.file + ": axis '" + key + "': the base config has no section '" + parts[k] + "'");
        chain.push_back(next);
      }
      // A clone: assigning r[i] itself would merge every point's node memory into the rows'
      // (yaml-cpp shares one memory pool between trees linked this way), so no point's tree
      // would ever be freed (a 100,000-point random sweep grew to 8 GB).
      chain.back()[parts.back()] = YAML::Clone(r[i]);
    }
    YAML::Emitter e;
    e << cfg;
    p.config_yaml = std::string(e.c_str()) + "\n";
    if (!seen.insert(p.config_yaml).second) continue;  // random draws may repeat a design: load it once
    try {
      p.config = config::load_npu_config_text(p.config_yaml, s.file + " point (" + label + ")");
    } catch (const std::exception& ex) {
      throw isa::InputError(ex.what());
    }
    out.push_back(std::move(p));
  }
  return out;
}

namespace {
/// SHA-1 of a workload file's bytes, read and hashed once per process (a 100 MB model was re-read
/// and re-hashed for every design of a sweep).
const std::string& workload_digest(const std::string& path) {
  static std::map<std::string, std::string> digests;
  auto it = digests.find(path);
  if (it == digests.end()) it = digests.emplace(path, sha1_hex(read_file(path))).first;
  return it->second;
}
}  // namespace

std::string cache_key(const Point& p, const std::string& workload, const EvalOptions& o) {
  const std::string text = std::string("npusim ") + kVersion + "\n" + config::npu_config_identity(p.config) + "\n" +
                           workload_digest(workload) + "\n" + o.precision + (o.ideal_memory ? " ideal" : "");
  return sha1_hex(text);
}

namespace {
/// An evaluation as a JSON object (this output's precision: 10 significant digits).
nlohmann::ordered_json evaluation_object(const Evaluation& e) {
  nlohmann::ordered_json j;
  j["kind"] = e.kind;
  j["cycles"] = e.cycles;
  j["seconds"] = json_g(e.seconds, 10);
  j["energy_j"] = json_g(e.energy_j, 10);
  j["average_power_w"] = json_g(e.average_power_w, 10);
  j["macs"] = e.macs;
  j["utilization"] = json_g(e.utilization, 10);
  j["dram_bytes"] = e.dram_bytes;
  j["layers"] = e.layers;
  return j;
}
}  // namespace

std::string evaluation_json(const Evaluation& e) {
  return stats::json_text(evaluation_object(e));
}

Evaluation parse_evaluation(const std::string& json) {
  Evaluation e;
  try {
    const nlohmann::json n = nlohmann::json::parse(json);
    auto real = [&n](const char* key) {  // null: a figure that was not finite
      const nlohmann::json& v = n.at(key);
      return v.is_null() ? std::nan("") : v.get<double>();
    };
    e.kind = n.at("kind").get<std::string>();
    e.cycles = n.at("cycles").get<uint64_t>();
    e.seconds = real("seconds");
    e.energy_j = real("energy_j");
    e.average_power_w = real("average_power_w");
    e.macs = n.at("macs").get<uint64_t>();
    e.utilization = real("utilization");
    e.dram_bytes = n.at("dram_bytes").get<uint64_t>();
    e.layers = n.at("layers").get<uint32_t>();
  } catch (const nlohmann::json::exception& ex) {
    throw isa::InputError(std::string("malformed point result: ") + ex.what());
  }
  return e;
}

namespace {

struct Job {
  size_t point = 0, workload = 0;
  std::string key, result, config_file, log;
  bool cached = false, failed = false;
  std::string error;
  Evaluation eval;
};

std::vector<std::string> point_argv(const RunOptions& o, const Spec& s, const Job& j) {
  std::vector<std::string> v = {o.self_exe,    "sweep-point",           "--config", j.config_file,
                                "--workload",  s.workloads[j.workload], "--out",    j.result,
                                "--precision", s.eval.precision};
  if (s.eval.ideal_memory) v.push_back("--ideal-memory");
  return v;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

std::string clock_text(double s) {
  const long t = static_cast<long>(s + 0.5);
  char b[32];
  std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  return b;
}

/// The progress line: a bar, counts, elapsed time and the ETA from the rate of points run so far.
/// `printed_decile`: the last tenth of the sweep a log line was printed for (non-terminals).
void progress(size_t done, size_t cached, size_t failed, size_t total, double elapsed, bool tty, bool last,
              size_t& printed_decile) {
  const size_t ran = done - cached;
  const double eta = ran ? elapsed / static_cast<double>(ran) * static_cast<double>(total - done) : 0;
  const int width = 30, fill = total ? static_cast<int>(width * done / total) : width;
  char line[200];
  std::snprintf(line, sizeof line, "[%.*s%.*s] %zu/%zu points (%zu cached, %zu failed), %s elapsed, ETA %s", fill,
                "==============================", width - fill, "                              ", done, total, cached,
                failed, clock_text(elapsed).c_str(), ran || done == total ? clock_text(eta).c_str() : "?");
  if (tty) {
    std::fprintf(stderr, "\r%s%s", line, last ? "\n" : "");
  } else if (last || (total && done * 10 / total > printed_decile)) {  // a line per 10% in logs
    printed_decile = total ? done * 10 / total : 10;
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

}  // namespace

int run(const Spec& s, const RunOptions& o) {
  const std::vector<Point> points = expand(s);
  // The output folder is the sweep's own: a new or empty folder, or one an earlier sweep wrote
  // (it holds the marker). Anything else may be someone's files that results.csv would overwrite.
  const std::string marker = s.output + "/.npusim-sweep";
  std::error_code ec;
  if (fs::exists(s.output, ec) && !fs::is_directory(s.output, ec))
    throw isa::InputError(s.output + ": the sweep's output must be a folder, and this is not one");
  if (fs::is_directory(s.output, ec) && !fs::is_empty(s.output, ec) && !fs::exists(marker, ec))
    throw isa::InputError(s.output + ": the sweep's output folder holds files npusim sweep did not write; choose " +
                          "another output (the sweep file's output: key) or empty it");
  // Every workload is read (and hashed) before the output folder is made: a bad one leaves nothing behind.
  for (const std::string& w : s.workloads) workload_digest(w);
  fs::create_directories(s.output + "/cache");
  write_file(marker, "npusim sweep output (results.csv, results.json, cache/, points/, logs/)\n");
  fs::create_directories(s.output + "/points");
  fs::create_directories(s.output + "/logs");
  std::vector<Job> jobs;
  for (size_t p = 0; p < points.size(); ++p)
    for (size_t w = 0; w < s.workloads.size(); ++w) {
      Job j;
      j.point = p, j.workload = w;
      j.key = cache_key(points[p], s.workloads[w], s.eval);
      j.result = s.output + "/cache/" + j.key + ".json";
      j.config_file = s.output + "/points/" + j.key + ".yaml";
      j.log = s.output + "/logs/" + j.key + ".log";
      j.cached = !o.no_cache && fs::exists(j.result);
      if (!j.cached) write_file(j.config_file, points[p].config_yaml);
      jobs.push_back(j);
    }
  if (!o.plan_file.empty()) {
    // The jobs an external executor (Dask, a cluster) runs; `npusim sweep` then assembles them.
    nlohmann::ordered_json plan;
    plan["sweep"] = s.file;
    plan["output"] = s.output;
    plan["jobs"] = nlohmann::ordered_json::array();
    for (const Job& j : jobs) {
      if (j.cached) continue;
      nlohmann::ordered_json job;
      job["key"] = j.key, job["result"] = j.result, job["log"] = j.log, job["argv"] = point_argv(o, s, j);
      plan["jobs"].push_back(std::move(job));
    }
    write_file(o.plan_file, stats::json_text(plan));
    return 0;
  }
  // The pool: up to `jobs` point processes at a time.
  const unsigned width = o.jobs ? o.jobs : std::max(1u, std::thread::hardware_concurrency());
  const bool tty = o.progress && ::isatty(2);
  const auto t0 = std::chrono::steady_clock::now();
  size_t done = 0, cached = 0, failed = 0;
  for (const Job& j : jobs) done += j.cached, cached += j.cached;
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  std::map<pid_t, size_t> running;
  std::map<pid_t, double> started;  ///< elapsed() when each point process started
  std::set<pid_t> timed_out;        ///< killed for running past o.point_timeout_s
  size_t next = 0;
  size_t printed_decile = 0;
  if (o.progress) progress(done, cached, failed, jobs.size(), 0, tty, done == jobs.size(), printed_decile);
  while (done < jobs.size()) {
    while (running.size() < width && next < jobs.size()) {
      Job& j = jobs[next++];
      if (j.cached) continue;
      const pid_t pid = spawn(point_argv(o, s, j), j.log);
      if (pid < 0) {
        j.failed = true, j.error = "cannot start " + o.self_exe;
        ++done, ++failed;
        continue;
      }
      running[pid] = static_cast<size_t>(&j - jobs.data());
      started[pid] = elapsed();
    }
    if (running.empty()) break;
    int status = 0;
    pid_t pid;
    if (o.point_timeout_s > 0) {  // poll, killing points past their time
      pid = ::waitpid(-1, &status, WNOHANG);
      if (pid == 0) {
        // Kill what is past its time; then sleep until the next deadline (at most 10 ms), so a
        // short timeout is enforced as given rather than at the next 10 ms poll.
        double next_deadline_s = 0.01;
        for (const auto& [p, idx] : running) {
          if (timed_out.count(p)) continue;
          const double left = o.point_timeout_s - (elapsed() - started[p]);
          if (left < 0) {
            ::kill(p, SIGKILL);
            timed_out.insert(p);
          } else {
            next_deadline_s = std::min(next_deadline_s, left);
          }
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(std::max(next_deadline_s, 1e-4)));
        continue;
      }
    } else {
      pid = ::waitpid(-1, &status, 0);
    }
    if (pid < 0) break;
    auto it = running.find(pid);
    if (it == running.end()) continue;
    Job& j = jobs[it->second];
    running.erase(it);
    ++done;
    if (timed_out.count(pid)) {
      j.failed = true, ++failed;
      j.error = "timed out after " + config::time_text(o.point_timeout_s) + " (--point-timeout)";
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !fs::exists(j.result)) {
      j.failed = true, ++failed;
      std::string log;
      try {
        log = read_file(j.log);
      } catch (const isa::InputError&) {
      }
      while (!log.empty() && log.back() == '\n') log.pop_back();
      j.error = log.substr(log.rfind('\n') == std::string::npos ? 0 : log.rfind('\n') + 1);
      if (j.error.empty())
        j.error = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status)) : "failed";
    }
    if (o.progress) progress(done, cached, failed, jobs.size(), elapsed(), tty, done == jobs.size(), printed_decile);
  }
  // Results, with the latency/energy Pareto front per workload.
  for (Job& j : jobs)
    if (!j.failed) j.eval = parse_evaluation(read_file(j.result));
  // Pareto fronts per workload: latency and energy; and latency, energy and the design's area
  // (mm^2, arch::area_of: every part, docs/power.md). The MXU's yosys cell count stays beside it.
  auto cells_of = [&](const Job& j) {
    return mxu_area_cells(points[j.point].config.mxu.rows, points[j.point].config.mxu.cols);
  };
  auto area_of = [&](const Job& j) { return arch::area_total(arch::area_of(points[j.point].config.power)); };
  auto front = [&](bool with_area) {
    std::vector<bool> on(jobs.size(), false);
    for (size_t a = 0; a < jobs.size(); ++a) {
      if (jobs[a].failed) continue;
      bool dominated = false;
      for (size_t b = 0; b < jobs.size() && !dominated; ++b) {
        if (b == a || jobs[b].failed || jobs[b].workload != jobs[a].workload) continue;
        const Evaluation &x = jobs[a].eval, &y = jobs[b].eval;
        const double ax = with_area ? area_of(jobs[a]) : 0, ay = with_area ? area_of(jobs[b]) : 0;
        dominated = y.seconds <= x.seconds && y.energy_j <= x.energy_j && ay <= ax &&
                    (y.seconds < x.seconds || y.energy_j < x.energy_j || ay < ax);
      }
      on[a] = !dominated;
    }
    return on;
  };
  const std::vector<bool> pareto = front(false), pareto_area = front(true);
  std::string csv = "point,workload";
  for (const Axis& a : s.axes) csv += "," + csv_cell(a.key);
  csv +=
      ",status,cycles,seconds,energy_j,average_power_w,utilization,macs,dram_bytes,mxu_area_cells,area_mm2,sram_bytes,"
      "pareto,pareto_area,cached,key,error\n";
  nlohmann::ordered_json json;
  json["sweep"] = s.file;
  json["npusim"] = kVersion;
  json["points"] = points.size();
  json["workloads"] = s.workloads.size();
  json["results"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& j = jobs[i];
    const Point& p = points[j.point];
    const Evaluation& e = j.eval;
    const double area = area_of(j);
    const uint64_t sram = p.config.spad.size_bytes + p.config.acc.size_bytes;
    const std::string wl = fs::path(s.workloads[j.workload]).filename().string();
    csv += std::to_string(j.point) + "," + csv_cell(wl);
    for (const auto& v : p.values) csv += "," + csv_cell(v);
    csv += std::string(",") + (j.failed ? "failed" : "ok") + "," + std::to_string(e.cycles) + "," + num(e.seconds) +
           "," + num(e.energy_j) + "," + num(e.average_power_w) + "," + num(e.utilization) + "," +
           std::to_string(e.macs) + "," + std::to_string(e.dram_bytes) + "," + num(cells_of(j)) + "," + num(area) +
           "," + std::to_string(sram) + "," + (pareto[i] ? "1" : "0") + "," + (pareto_area[i] ? "1" : "0") + "," +
           (j.cached ? "1" : "0") + "," + j.key + "," + csv_cell(j.error) + "\n";
    nlohmann::ordered_json axes = nlohmann::ordered_json::object();
    for (size_t k = 0; k < s.axes.size(); ++k) axes[s.axes[k].key] = p.values[k];
    nlohmann::ordered_json one;
    one["point"] = j.point;
    one["workload"] = wl;
    one["axes"] = std::move(axes);
    one["status"] = j.failed ? "failed" : "ok";
    one["result"] = j.failed ? nlohmann::ordered_json() : evaluation_object(e);
    one["mxu_area_cells"] = json_g(cells_of(j), 10);
    one["area_mm2"] = json_g(area, 6);
    one["sram_bytes"] = sram;
    one["pareto"] = static_cast<bool>(pareto[i]);
    one["pareto_area"] = static_cast<bool>(pareto_area[i]);
    one["cached"] = j.cached;
    one["key"] = j.key;
    if (j.failed) one["error"] = j.error;
    json["results"].push_back(std::move(one));
  }
  write_file(s.output + "/results.csv", csv);
  write_file(s.output + "/results.json", stats::json_text(json));
  if (!o.plot_script.empty()) {
    const std::vector<std::string> argv = {"/usr/bin/python3", o.plot_script, s.output + "/results.csv", "-o",
                                           s.output + "/pareto.png"};
    const pid_t pid = spawn(argv, s.output + "/logs/plot.log");
    int status = 1;
    if (pid < 0 || ::waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      std::fprintf(stderr, "npusim sweep: the Pareto plot failed (see %s/logs/plot.log)\n", s.output.c_str());
  }
  for (const Job& j : jobs)
    if (j.failed)
      std::fprintf(stderr, "npusim sweep: point %zu (%s) failed: %s\n", j.point,
                   fs::path(s.workloads[j.workload]).filename().c_str(), j.error.c_str());
  return failed ? 1 : 0;
}

}  // namespace npusim::sweep
