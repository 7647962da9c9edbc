// npusim: one executable, one subcommand per job. Exit codes (docs/cli.md):
//   0 success, 1 a simulation/runtime fault, 2 a usage or input error.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "compiler/compile.h"
#include "compiler/op_registry.h"
#include "compiler/quantize.h"
#include "compiler/reference.h"
#ifdef NPUSIM_HAS_RTL
#include "rtl/calibrate.h"
#endif
#include "base/text.h"
#include "base/units.h"
#include "base/version.h"
#include "isa/assembler.h"
#include "isa/diag.h"
#include "isa/disassembler.h"
#include "isa/npub.h"
#include "isa/summary.h"
#include "npusim/regs.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/cli/args.h"
#include "tools/device/server.h"
#include "tools/load/load.h"
#include "tools/load/metrics_server.h"
#include "tools/longrun/long_run.h"
#include "tools/sweep/sweep.h"
#include "tools/topology/topology.h"
#include "tools/workload/npy.h"
#include "tools/workload/workload.h"

namespace npusim::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFault = 1;
constexpr int kExitInput = 2;

/// One subcommand.
struct Command {
  const char* name;                                         ///< word after `npusim`
  const char* summary;                                      ///< one line for `npusim --help`
  const char* usage;                                        ///< full help text
  std::function<int(const std::vector<std::string>&)> run;  ///< body; returns the exit code
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int cmd_asm(const std::vector<std::string>& argv) {
  const Args a(argv, {"-o", "--queue-depth"}, {"--no-deadlock-check"});
  if (a.positional().size() != 1) throw UsageError("asm needs exactly one input file");
  const std::string in = a.positional()[0];
  std::string out = a.value("-o");
  if (out.empty()) out = (ends_with(in, ".npus") ? in.substr(0, in.size() - 5) : in) + ".npub";
  isa::AssembleOptions opts;
  opts.check_deadlock = !a.flag("--no-deadlock-check");
  opts.queue_depth = static_cast<unsigned>(a.number("--queue-depth", 0));
  const auto result = isa::assemble_file(in, opts);
  const auto bytes = isa::write_npub(result.program);
  isa::write_file_bytes(out, bytes);
  std::printf("%s: %zu instructions, %zu bytes -> %s\n", in.c_str(), result.program.text.size(), bytes.size(),
              out.c_str());
  return kExitOk;
}

int cmd_disasm(const std::vector<std::string>& argv) {
  const Args a(argv, {"-o"}, {});
  if (a.positional().size() != 1) throw UsageError("disasm needs exactly one input file");
  const isa::Program prog = isa::load_npub_file(a.positional()[0]);
  const std::string text = isa::disassemble(prog);
  if (a.has("-o")) {
    std::ofstream out(a.value("-o"), std::ios::binary);
    if (!out) throw isa::InputError(a.value("-o") + ": cannot write");
    out << text;
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return kExitOk;
}

int cmd_info(const std::vector<std::string>& argv) {
  const Args a(argv, {}, {"--isa", "--version", "--config", "--operators", "--stats"});
  if (a.flag("--config")) {
    if (a.positional().empty()) {
      std::fputs(config::npu_config_reference().c_str(), stdout);
      return kExitOk;
    }
    for (const auto& path : a.positional()) {
      const config::NpuConfig c = config::load_npu_config(path);
      std::printf("# %s (hash 0x%016llx)\n%s", path.c_str(), static_cast<unsigned long long>(c.hash()),
                  config::npu_config_summary(c).c_str());
    }
    return kExitOk;
  }
  if (a.flag("--version")) {
    std::printf("npusim %s (ISA %d.%d, .npub %d.%d)\n", kVersion, isa::spec().version_major, isa::spec().version_minor,
                isa::kNpubVersionMajor, isa::kNpubVersionMinor);
    return kExitOk;
  }
  if (a.flag("--isa")) {
    std::fputs(isa::isa_listing().c_str(), stdout);
    return kExitOk;
  }
  if (a.flag("--operators")) {
    std::fputs(compiler::operators_table().c_str(), stdout);
    return kExitOk;
  }
  if (a.flag("--stats")) {
    std::fputs(stats_reference().c_str(), stdout);
    return kExitOk;
  }
  if (a.positional().size() == 1) {
    const std::string path = a.positional()[0];
    const isa::Program prog = load_program(path);
    std::printf("%s\n%s", path.c_str(), isa::program_summary(prog).c_str());
    return kExitOk;
  }
  throw UsageError("info needs --isa, --config, --operators, --stats, --version or one program file");
}

/// Input tensors from --input NAME=file.npy (checked against the program's IO table), and
/// deterministic random data for the rest when --random-inputs SEED is given.
std::map<std::string, std::vector<uint8_t>> gather_inputs(const Args& a, const isa::Program& prog) {
  std::map<std::string, std::vector<uint8_t>> inputs;
  for (const std::string& spec : a.values("--input")) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--input expects NAME=file.npy, got '" + spec + "'");
    const std::string name = spec.substr(0, eq), path = spec.substr(eq + 1);
    const isa::IoTensor* io = nullptr;
    for (const auto& t : prog.io)
      if (t.name == name && prog.regions[t.region].role == isa::RegionRole::Input) io = &t;
    if (!io) {
      std::string names;
      for (const auto& t : prog.io)
        if (prog.regions[t.region].role == isa::RegionRole::Input) names += (names.empty() ? "" : ", ") + t.name;
      throw isa::InputError("--input " + name + ": the program has no input tensor of that name (inputs: " + names +
                            ")");
    }
    NpyArray arr = read_npy(path);
    if (arr.descr != npy_descr(io->dtype))
      throw isa::InputError(path + ": dtype '" + arr.descr + "' does not match input '" + name + "' (" +
                            isa::tensor_type_name(io->dtype) + ", numpy '" + npy_descr(io->dtype) + "')");
    std::vector<uint64_t> want(io->dims.begin(), io->dims.begin() + io->rank);
    if (arr.shape != want) {
      auto shape = [](const std::vector<uint64_t>& v) {
        std::string s = "(";
        for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
        return s + ")";
      };
      throw isa::InputError(path + ": shape " + shape(arr.shape) + " does not match input '" + name + "' " +
                            shape(want));
    }
    inputs[name] = std::move(arr.data);
  }
  if (a.has("--random-inputs")) {
    std::mt19937_64 rng(a.number("--random-inputs", 0));
    for (const auto& t : prog.io) {
      if (prog.regions[t.region].role != isa::RegionRole::Input || inputs.count(t.name)) continue;
      uint64_t bytes = isa::tensor_type_bytes(t.dtype);
      for (int k = 0; k < t.rank; ++k) bytes *= t.dims[k];
      std::vector<uint8_t> data(bytes);
      const bool fp = t.dtype == isa::TensorType::FP16 || t.dtype == isa::TensorType::BF16;
      for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(rng());
      if (fp)  // keep floats finite and modest: sign, exponent within [-8, 0] of the bias
        for (size_t i = 1; i < data.size(); i += 2)
          data[i] = static_cast<uint8_t>((data[i] & 0x80) | (t.dtype == isa::TensorType::FP16 ? 0x30 : 0x3C) |
                                         (data[i] & 0x03));
      inputs[t.name] = std::move(data);
    }
  }
  return inputs;
}

/// --stats and --trace files of a run.
void write_reports(const Args& a, const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                   const std::string& path, const std::string& extra_json = "") {
  if (a.has("--stats")) {
    std::ofstream out(a.value("--stats"));
    if (!out) throw isa::InputError(a.value("--stats") + ": cannot write");
    std::string json = stats_json(r, cfg, prog, path);
    // Energy, power and temperature of this run, from ambient (docs/power.md).
    if (r.ok) {
      arch::ThermalNetwork net(cfg.thermal, cfg.thermal.step_s);
      json.insert(json.rfind('}'), "  ,\"power\": " + power_json(power_of_run(cfg, r, net)) + "\n");
    }
    // Compiled models add top-level keys (the fallback ratio, the accuracy of int8 models).
    if (!extra_json.empty()) json.insert(json.rfind('}'), "  ," + extra_json + "\n");
    out << json;
  }
  if (a.has("--trace")) {
    std::ofstream out(a.value("--trace"));
    if (!out) throw isa::InputError(a.value("--trace") + ": cannot write");
    out << r.trace_json;
  }
  if (a.has("--cosim-report")) {  // mxu impl rtl: RTL and analytical cycles per matmul
    std::ofstream out(a.value("--cosim-report"));
    if (!out) throw isa::InputError(a.value("--cosim-report") + ": cannot write");
    out << "instruction,m,n,k,a_type,folds,rtl_cycles,analytical_cycles,deviation,mismatches\n";
    for (const auto& c : r.cosim) {
      const double dev = c.model_cycles
                             ? (static_cast<double>(c.analytical_cycles) - static_cast<double>(c.model_cycles)) /
                                   static_cast<double>(c.model_cycles)
                             : 0;
      out << c.index << "," << c.m << "," << c.n << "," << c.k << "," << (c.a_unsigned ? "u8" : "i8") << "," << c.folds
          << "," << c.model_cycles << "," << c.analytical_cycles << "," << dev << "," << c.mismatches << "\n";
    }
    if (r.cosim.empty() && cfg.mxu.impl != "rtl")
      std::fprintf(stderr, "note: --cosim-report lists matmuls run through mxu impl rtl; this config uses '%s'\n",
                   cfg.mxu.impl.c_str());
  }
}

/// A model as the CLI compiled it: the float graph (the accuracy baseline) and the program.
struct BuiltModel {
  compiler::Graph graph;                   ///< the model as imported (float)
  compiler::CompiledModel m;               ///< what runs
  bool int8 = false;                       ///< post-training quantized (--precision int8)
  compiler::QuantizeSummary quantization;  ///< which nodes became integer operators
  size_t calibration_samples = 0;          ///< samples the ranges came from
};

/// Reads a float32 .npy for model input `t` (shape must match) as doubles in ONNX layout.
std::vector<double> read_float_npy(const std::string& file, const compiler::Tensor& t) {
  const NpyArray arr = read_npy(file);
  std::vector<uint64_t> want(t.shape.begin(), t.shape.end());
  if (arr.shape != want) throw isa::InputError(file + ": shape does not match input '" + t.name + "'");
  if (arr.descr != "<f4") throw isa::InputError(file + ": dtype '" + arr.descr + "' (expected float32 '<f4')");
  std::vector<double> v(arr.data.size() / 4);
  for (size_t i = 0; i < v.size(); ++i) {
    float f;
    std::memcpy(&f, &arr.data[4 * i], 4);
    v[i] = f;
  }
  return v;
}

/// Calibration samples: every .npy in `dir` (sorted by name) is one sample of the model's only input.
std::vector<compiler::TensorValues> load_calibration(const std::string& dir, const compiler::Graph& g) {
  if (g.inputs.size() != 1)
    throw isa::InputError("--calibrate: the model has " + std::to_string(g.inputs.size()) +
                          " inputs; calibration directories hold samples of a single input");
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw isa::InputError("--calibrate " + dir + ": not a readable directory");
  std::vector<std::string> files;
  while (const dirent* e = ::readdir(d)) {
    const std::string f = e->d_name;
    if (ends_with(f, ".npy")) files.push_back(dir + "/" + f);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  if (files.empty()) throw isa::InputError("--calibrate " + dir + ": no .npy files");
  std::vector<compiler::TensorValues> samples;
  for (const auto& f : files) samples.push_back({{g.inputs[0], read_float_npy(f, g.tensor(g.inputs[0]))}});
  return samples;
}

BuiltModel compile_model(const std::string& path, const config::NpuConfig& cfg, const Args& a) {
  BuiltModel b;
  b.graph = compiler::import_onnx(path);
  compiler::CompileOptions o;
  o.precision = a.value("--precision", "fp16");
  o.fallback = !a.flag("--no-fallback");
  if (o.precision == "int8") {
    // Post-training quantization: ranges from the float reference on the calibration samples;
    // operators left in float run in fp16.
    if (!a.has("--calibrate")) throw UsageError("--precision int8 needs --calibrate DIR (sample inputs as .npy)");
    const auto samples = load_calibration(a.value("--calibrate"), b.graph);
    const compiler::Calibration cal = compiler::calibrate(b.graph, samples);
    const auto& dt = cfg.mxu.dtypes;  // uint8 activations need the u8 x i8 mode; else int8
    const bool signed_act = std::find(dt.begin(), dt.end(), "u8") == dt.end();
    b.m = compiler::compile(compiler::quantize_graph(b.graph, cal, &b.quantization, signed_act), target_info(cfg),
                            compiler::CompileOptions{"fp16", o.fallback});
    b.int8 = true;
    b.calibration_samples = cal.samples;
    return b;
  }
  if (a.has("--calibrate")) throw UsageError("--calibrate applies to --precision int8");
  b.m = compiler::compile(b.graph, target_info(cfg), o);
  return b;
}

/// A program's latency on `cfg` (timing only; inputs as zeros) and its cold start: the time to
/// stream its constant regions (weights) from DRAM at the configuration's peak bandwidth.
struct ProgramTiming {
  double seconds = 0, cold_start_s = 0;  ///< latency; weights from DRAM at peak bandwidth
  std::vector<MarkerSpan> operators;     ///< operator timeline
  std::vector<EngineSpan> engines;       ///< engine busy stretches
};
ProgramTiming program_timing(const config::NpuConfig& cfg, const isa::Program& prog) {
  const RunResult r = timing_run(cfg, prog, /*engine_spans=*/true);
  uint64_t weights = 0;
  for (const auto& reg : prog.regions)
    if (reg.role == isa::RegionRole::Const) weights += reg.size;
  return {r.seconds, r.dram_peak_bandwidth > 0 ? static_cast<double>(weights) / r.dram_peak_bandwidth : 0.0,
          r.marker_spans, r.engine_spans};
}

/// One tenant's options from CLI flags or a tenants.yaml entry (key -> text). `programs` (optional)
/// receives its compiled program per batch size (one entry for a .npub: batch b runs it b times).
Tenant make_tenant(const config::NpuConfig& cfg, const std::map<std::string, std::string>& kv, const std::string& where,
                   std::vector<isa::Program>* programs = nullptr) {
  static const std::set<std::string> keys = {"name",      "model",     "rate",     "arrivals", "on",
                                             "off",       "max_batch", "max_wait", "priority", "seed",
                                             "precision", "duration",  "slice"};
  for (const auto& [k, v] : kv)
    if (!keys.count(k)) throw isa::InputError(where + ": unknown key '" + k + "'");
  auto get = [&](const std::string& k, const std::string& def) {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  };
  Tenant t;
  t.name = get("name", "default");
  // Names label report entries, trace tracks and Prometheus series: printable, no quotes or backslashes.
  if (t.name.empty() || std::any_of(t.name.begin(), t.name.end(), [](char c) {
        return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
      }))
    throw isa::InputError(where + ": name '" + t.name +
                          "' must be non-empty printable text without quotes or backslashes");
  const std::string model = get("model", "");
  if (model.empty()) throw isa::InputError(where + ": no model");
  LoadOptions& o = t.load;
  std::string rate = get("rate", "100/s");
  if (ends_with(rate, "/s")) rate = rate.substr(0, rate.size() - 2);
  char* end = nullptr;
  o.rate_per_s = std::strtod(rate.c_str(), &end);
  if (rate.empty() || *end || !(o.rate_per_s > 0))
    throw isa::InputError(where + ": rate expects requests per second such as 300/s");
  auto time_of = [&](const char* k, double& field, const char* def) {
    const std::string v = get(k, def);
    if (!config::parse_time(v, field))
      throw isa::InputError(where + ": " + k + " expects a time such as 60s or 2ms, got '" + v + "'");
  };
  time_of("duration", o.duration_s, "10s");
  time_of("max_wait", o.max_wait_s, "0s");
  time_of("on", o.on_s, "1s");
  time_of("off", o.off_s, "1s");
  if (!(o.on_s > 0)) throw isa::InputError(where + ": on expects a burst longer than 0s");
  time_of("slice", t.slice_s, "0s");
  unsigned long long n = 0;
  if (!config::parse_unsigned(get("max_batch", "1"), n) || n < 1 || n > 64)
    throw isa::InputError(where + ": max_batch expects 1 to 64");
  o.max_batch = static_cast<uint32_t>(n);
  if (!config::parse_unsigned(get("seed", "1"), n)) throw isa::InputError(where + ": seed expects an integer");
  o.seed = n;
  {
    const std::string pr = get("priority", "0");
    char* pe = nullptr;
    const long v = std::strtol(pr.c_str(), &pe, 10);
    if (pr.empty() || *pe || v < -1000 || v > 1000)
      throw isa::InputError(where + ": priority expects an integer from -1000 to 1000, got '" + pr + "'");
    t.priority = static_cast<int>(v);
  }
  o.arrivals = get("arrivals", "poisson");
  if (o.arrivals.rfind("trace:", 0) == 0) {
    const std::string file = o.arrivals.substr(6);
    std::ifstream in(file);
    if (!in) throw isa::InputError(file + ": cannot open");
    // One arrival per line: a time in seconds from the start, in the first column (further
    // columns are ignored); an optional header line first; any order (they are sorted).
    std::string line;
    size_t k = 0, beyond = 0;
    bool header_allowed = true;
    while (std::getline(in, line)) {
      ++k;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      const std::string first = line.substr(0, line.find(','));
      char* e = nullptr;
      const double x = std::strtod(first.c_str(), &e);
      const bool number = !first.empty() && e != first.c_str() &&
                          std::all_of(static_cast<const char*>(e), first.c_str() + first.size(),
                                      [](char c) { return c == ' ' || c == '\t'; });
      if (!number && header_allowed) {  // a header such as "timestamp" or "time_s,request"
        header_allowed = false;
        continue;
      }
      header_allowed = false;
      if (!number || !std::isfinite(x) || x < 0)
        throw isa::InputError(file + ":" + std::to_string(k) +
                              ": expected an arrival time in seconds (a finite number >= 0), got '" + first + "'");
      if (x >= o.duration_s) ++beyond;
      o.trace.push_back(x);
    }
    if (o.trace.empty()) throw isa::InputError(file + ": no arrival times (one time in seconds per line)");
    if (beyond == o.trace.size())
      throw isa::InputError(file + ": every arrival is at or after the duration (" + config::time_text(o.duration_s) +
                            "); raise --duration");
    if (beyond)
      std::fprintf(stderr, "note: %s: %zu of %zu arrivals come at or after the duration (%s) and are left out\n",
                   file.c_str(), beyond, o.trace.size(), config::time_text(o.duration_s).c_str());
    o.rate_per_s = static_cast<double>(o.trace.size() - beyond) / o.duration_s;  // offered: what the trace holds
    o.arrivals = "trace";
  } else if (o.arrivals != "poisson" && o.arrivals != "onoff") {
    throw isa::InputError(where + ": arrivals expects poisson, onoff or trace:FILE.csv");
  }
  // Service time of a batch of b: the model compiled for batch b (ONNX), else b runs back to back.
  const bool onnx = ends_with(model, ".onnx");
  if (const std::string p = get("precision", "fp16"); onnx && p != "fp16" && p != "bf16")
    throw isa::InputError(where + ": precision expects fp16 or bf16 for an ONNX model, got '" + p +
                          "' (for int8, serve the .npub of `npusim compile --precision int8 --calibrate DIR`)");
  for (uint32_t b = 1; b <= o.max_batch; ++b) {
    if (onnx) {
      compiler::CompileOptions co;
      co.precision = get("precision", "fp16");
      const compiler::CompiledModel m = compiler::compile(compiler::import_onnx(model, b), target_info(cfg), co);
      ProgramTiming pt = program_timing(cfg, m.program);
      t.service_s.push_back(pt.seconds);
      t.operators.push_back(std::move(pt.operators));
      t.engines.push_back(std::move(pt.engines));
      if (b == 1) t.cold_start_s = pt.cold_start_s;
      if (programs) programs->push_back(m.program);
    } else if (b == 1) {
      const isa::Program prog = load_program(model);
      ProgramTiming pt = program_timing(cfg, prog);
      t.service_s.push_back(pt.seconds);
      t.operators.push_back(std::move(pt.operators));
      t.engines.push_back(std::move(pt.engines));
      t.cold_start_s = pt.cold_start_s;
      if (programs) programs->push_back(prog);
    } else {
      t.service_s.push_back(b * t.service_s[0]);
      // b runs back to back: the first run's timelines repeated, each shifted by one service time.
      const auto repeated = [&](auto spans) {
        decltype(spans) all;
        for (uint32_t k = 0; k < b; ++k)
          for (auto sp : spans) {
            sp.start_s += k * t.service_s[0], sp.end_s += k * t.service_s[0];
            all.push_back(sp);
          }
        return all;
      };
      t.operators.push_back(repeated(t.operators[0]));
      t.engines.push_back(repeated(t.engines[0]));
    }
  }
  return t;
}

/// `npusim load`: request streams against the NPU with dynamic batching (tools/load/load.h).
int cmd_load(const std::vector<std::string>& argv) {
  const Args a(argv,
               {"--config",
                "--rate",
                "--duration",
                "--arrivals",
                "--on",
                "--off",
                "--max-batch",
                "--max-wait",
                "--seed",
                "--report",
                "--metrics",
                "--queue-csv",
                "--precision",
                "--tenants",
                "--trace",
                "--latency-csv",
                "--priority",
                "--thermal-csv",
                "--metrics-port",
                "--metrics-linger",
                "--metrics-port-file"},
               {"--quiet", "--no-cold-start", "--thermal"});
  if (!a.has("--config")) throw UsageError("load needs --config CONFIG.yaml");
  if (a.positional().size() != 1 && !a.has("--tenants"))
    throw UsageError("load needs one MODEL (.onnx, .npub or .npus) or --tenants TENANTS.yaml");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  const bool thermal = a.flag("--thermal") || a.has("--thermal-csv");
  std::vector<Tenant> ts;
  std::vector<std::vector<isa::Program>> programs;  // per tenant, per batch size (with --thermal)
  if (a.has("--tenants")) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(a.value("--tenants"));
    } catch (const YAML::Exception& e) {
      throw isa::InputError(a.value("--tenants") + ": " + e.msg);
    }
    if (!root["tenants"] || !root["tenants"].IsSequence())
      throw isa::InputError(a.value("--tenants") + ": expected a list under 'tenants'");
    for (size_t i = 0; i < root["tenants"].size(); ++i) {
      const YAML::Node e = root["tenants"][i];
      const std::string where = a.value("--tenants") + ": tenant " + std::to_string(i);
      if (!e.IsMap()) throw isa::InputError(where + ": expected a mapping");
      std::map<std::string, std::string> kv;
      for (const auto& p : e) {
        if (!p.first.IsScalar()) throw isa::InputError(where + ": expected a name as the key, got a list or mapping");
        if (!p.second.IsScalar()) throw isa::InputError(where + ": '" + p.first.Scalar() + "' must be a scalar");
        kv[p.first.Scalar()] = p.second.Scalar();
      }
      // Files named in a tenants file are relative to it (as a sweep file's are).
      auto resolve = [&](const std::string& f) { return path_beside(a.value("--tenants"), f); };
      if (kv.count("model")) kv["model"] = resolve(kv["model"]);
      if (kv.count("arrivals") && kv["arrivals"].rfind("trace:", 0) == 0)
        kv["arrivals"] = "trace:" + resolve(kv["arrivals"].substr(6));
      if (!kv.count("duration") && a.has("--duration")) kv["duration"] = a.value("--duration");
      programs.emplace_back();
      ts.push_back(make_tenant(cfg, kv, where, thermal ? &programs.back() : nullptr));
      for (size_t j = 0; j + 1 < ts.size(); ++j)  // names label the reports' and metrics' series
        if (ts[j].name == ts.back().name)
          throw isa::InputError(where + ": name '" + ts.back().name + "' is taken by tenant " + std::to_string(j));
    }
    if (ts.empty()) throw isa::InputError(a.value("--tenants") + ": 'tenants' lists no tenant");
  } else {
    std::map<std::string, std::string> kv{{"model", a.positional()[0]}, {"name", a.positional()[0]}};
    const std::pair<const char*, const char*> flags[] = {{"--rate", "rate"},
                                                         {"--duration", "duration"},
                                                         {"--arrivals", "arrivals"},
                                                         {"--on", "on"},
                                                         {"--off", "off"},
                                                         {"--max-batch", "max_batch"},
                                                         {"--max-wait", "max_wait"},
                                                         {"--seed", "seed"},
                                                         {"--precision", "precision"},
                                                         {"--priority", "priority"}};
    for (const auto& [flag, key] : flags)
      if (a.has(flag)) kv[key] = a.value(flag);
    programs.emplace_back();
    ts.push_back(make_tenant(cfg, kv, "options", thermal ? &programs.back() : nullptr));
  }
  if (a.flag("--no-cold-start"))
    for (auto& t : ts) t.cold_start_s = 0;
  const auto t0 = std::chrono::steady_clock::now();
  // Power in the loop: a batch's time and dynamic energy at the governor's clock, simulated once per
  // (tenant, batch size, clock) the run visits.
  PowerLoop loop;
  std::map<std::tuple<size_t, uint32_t, double>, std::pair<double, double>> at_clock;  // -> (s, J at 1 V)
  const arch::EnergyModel energy(cfg.power);
  if (thermal) {
    loop.cfg = &cfg;
    loop.batch = [&](size_t t, uint32_t b, double hz, double volts) {
      const bool per_batch = programs[t].size() >= b;  // compiled for this batch size, else b runs
      const auto key = std::make_tuple(t, per_batch ? b : 1u, hz);
      auto it = at_clock.find(key);
      if (it == at_clock.end()) {
        config::NpuConfig c = cfg;
        c.clock_hz = hz;
        const RunResult run = timing_run(c, programs[t][per_batch ? b - 1 : 0]);
        arch::Activity act = run.activity.total();
        act.cycles = run.seconds * hz;
        it = at_clock.emplace(key, std::make_pair(run.seconds, arch::total(energy.dynamic(act, 1.0)))).first;
      }
      // Dynamic energy scales with V^2 (CV^2 switching); a .npub batch of b is b runs.
      const double k = per_batch ? 1.0 : b;
      return std::make_pair(k * it->second.first, k * it->second.second * volts * volts);
    };
  }
  const TenantsResult r = run_tenants(ts, thermal ? &loop : nullptr);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto write = [](const std::string& file, const std::string& text) {
    std::ofstream out(file);
    if (!out) throw isa::InputError(file + ": cannot write");
    out << text;
  };
  std::string json = "{\"config\": \"" + cfg.name + "\", \"makespan_s\": " + std::to_string(r.makespan_s) +
                     ", \"utilization\": " + std::to_string(r.utilization()) + ", \"tenants\": [";
  const std::string prom = load_prometheus(r, ts, thermal);
  std::string queue = "tenant,time_s,queue_length\n", lat = "tenant,arrival_s,latency_s\n";
  for (size_t i = 0; i < ts.size(); ++i) {
    const LoadResult& t = r.tenants[i];
    std::string one = load_json(t, ts[i].service_s, ts[i].load);
    size_t cold = 0;  // the requests of the tenant's first batch (the one that loaded its weights)
    for (const auto& sp : r.spans)
      if (sp.tenant == i) {
        cold = sp.size;
        break;
      }
    char cold_text[200];
    std::snprintf(cold_text, sizeof cold_text,
                  ", \"cold_start_s\": %.9g, \"cold_requests\": %zu, \"cold_start_ratio\": %.9g, \"slice_s\": %.9g, ",
                  ts[i].cold_start_s, cold, t.requests ? static_cast<double>(cold) / t.requests : 0.0, ts[i].slice_s);
    one.insert(
        1, "\"name\": " + json_string(ts[i].name) + ", \"priority\": " + std::to_string(ts[i].priority) + cold_text);
    json += std::string(i ? ", " : "") + one;
    for (const auto& [tm, n] : t.queue_length)
      queue += ts[i].name + "," + std::to_string(tm) + "," + std::to_string(n) + "\n";
    for (size_t k = 0; k < t.latency_s.size(); ++k)
      lat += ts[i].name + "," + std::to_string(r.arrival_s[i][k]) + "," + std::to_string(t.latency_s[k]) + "\n";
  }
  json += "]";
  if (thermal) {
    char b[256];
    std::snprintf(b, sizeof b,
                  ", \"power\": {\"energy_j\": %.9g, \"average_w\": %.9g, \"max_temp_c\": %.6g, "
                  "\"first_throttle_s\": %.9g, \"critical\": %s, \"energy_per_inference_j\": [",
                  r.energy_j, r.makespan_s > 0 ? r.energy_j / r.makespan_s : 0.0, r.max_temp_c, r.first_throttle_s,
                  r.critical ? "true" : "false");
    json += b;
    for (size_t i = 0; i < ts.size(); ++i) {
      const uint64_t n = r.tenants[i].requests;
      std::snprintf(b, sizeof b, "%s%.9g", i ? ", " : "", n ? r.tenant_energy_j[i] / n : 0.0);
      json += b;
    }
    json += "], \"clock_changes\": [";
    double hz = 0;
    bool first = true;
    for (const ThermalSample& s : r.thermal) {
      if (s.hz == hz) continue;
      std::snprintf(b, sizeof b, "%s{\"t_s\": %.9g, \"hz\": %.9g, \"temp_c\": %.6g}", first ? "" : ", ", s.t_s, s.hz,
                    s.temp_c);
      json += b, hz = s.hz, first = false;
    }
    json += "]}";
  }
  json += "}";
  if (a.has("--thermal-csv")) {
    std::string csv = "time_s,temp_c,clock_hz,power_w\n";
    for (const ThermalSample& s : r.thermal) {
      char b[128];
      std::snprintf(b, sizeof b, "%.9g,%.6g,%.9g,%.6g\n", s.t_s, s.temp_c, s.hz, s.power_w);
      csv += b;
    }
    write(a.value("--thermal-csv"), csv);
  }
  if (a.has("--report")) write(a.value("--report"), json + "\n");
  if (a.has("--metrics")) write(a.value("--metrics"), prom);
  if (a.has("--queue-csv")) write(a.value("--queue-csv"), queue);
  if (a.has("--latency-csv")) write(a.value("--latency-csv"), lat);
  if (a.has("--trace")) write(a.value("--trace"), tenants_trace(r, ts));
  if (!a.flag("--quiet")) {
    std::printf("load on %s: NPU busy %.1f%% of %.6g s (%.3g s of wall time for the queueing simulation)\n",
                cfg.name.c_str(), 100 * r.utilization(), r.span_s, wall);
    for (size_t i = 0; i < ts.size(); ++i) {
      const LoadResult& t = r.tenants[i];
      const auto& l = t.latency_s;
      std::printf(
          "  %s: %llu requests (%s, %.6g/s offered, priority %d), throughput %.6g/s; latency p50 %.6g s, "
          "p95 %.6g s, p99 %.6g s, max %.6g s; service %.6g s alone, cold start %.3g s\n",
          ts[i].name.c_str(), static_cast<unsigned long long>(t.requests), ts[i].load.arrivals.c_str(),
          ts[i].load.rate_per_s, ts[i].priority, t.throughput_per_s(), percentile_of(l, 0.5), percentile_of(l, 0.95),
          percentile_of(l, 0.99), l.empty() ? 0.0 : *std::max_element(l.begin(), l.end()), ts[i].service_s[0],
          ts[i].cold_start_s);
      if (thermal && t.requests)
        std::printf("    energy %.6g J per inference (dynamic, at the clocks the governor chose)\n",
                    r.tenant_energy_j[i] / static_cast<double>(t.requests));
    }
    if (thermal) {
      std::printf("  power: %.6g J in all (leakage included), hottest %.4g C, ", r.energy_j, r.max_temp_c);
      if (r.first_throttle_s >= 0)
        std::printf("first clock change at %.6g s\n", r.first_throttle_s);
      else
        std::printf("no throttling\n");
    }
  }
  if (r.critical) std::fprintf(stderr, "npusim load: %s\n", r.fault.c_str());
  if (a.has("--metrics-port")) {
    // The finished run's metrics stay up for Prometheus to scrape (the simulation itself takes
    // well under the usual 15 s scrape interval).
    MetricsServerOptions mo;
    unsigned long long port = 0;
    if (!config::parse_unsigned(a.value("--metrics-port"), port) || port > 65535)
      throw UsageError("--metrics-port expects a TCP port (0 to 65535)");
    mo.port = static_cast<int>(port);
    if (a.has("--metrics-linger") && !config::parse_time(a.value("--metrics-linger"), mo.linger_s))
      throw UsageError("--metrics-linger expects a time such as 30s");
    mo.port_file = a.value("--metrics-port-file");
    mo.announce = !a.flag("--quiet");
    try {
      serve_metrics(mo, [&] { return prom; });
    } catch (const std::runtime_error& e) {
      throw isa::InputError(e.what());
    }
  }
  return r.critical ? kExitFault : kExitOk;
}

/// `npusim sweep`: design points x workloads on a local process pool (tools/sweep/sweep.h).
int cmd_sweep(const std::vector<std::string>& argv) {
  const Args a(argv, {"-j", "--plan", "--point-timeout"}, {"--no-cache", "--plot", "--quiet"});
  if (a.positional().size() != 1) throw UsageError("sweep needs one sweep file (sweep.yaml)");
  const sweep::Spec spec = sweep::load_spec(a.positional()[0]);
  sweep::RunOptions o;
  if (a.has("--point-timeout") &&
      (!config::parse_time(a.value("--point-timeout"), o.point_timeout_s) || !(o.point_timeout_s > 0)))
    throw UsageError("--point-timeout expects a time such as 10min or 30s, got '" + a.value("--point-timeout") + "'");
  o.jobs = static_cast<unsigned>(a.number("-j", 0));
  o.no_cache = a.flag("--no-cache");
  o.plan_file = a.value("--plan");
  o.progress = !a.flag("--quiet");
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw isa::InputError("cannot find the npusim executable (/proc/self/exe)");
  o.self_exe.assign(exe, static_cast<size_t>(n));
  if (a.flag("--plot")) {
    o.plot_script = std::string(NPUSIM_SCRIPTS_DIR) + "/plot_sweep.py";
    if (::access(o.plot_script.c_str(), R_OK) != 0) throw UsageError("--plot: " + o.plot_script + " is not there");
  }
  const int rc = sweep::run(spec, o);
  if (!a.flag("--quiet") && o.plan_file.empty())
    std::printf("results: %s/results.csv, %s/results.json%s\n", spec.output.c_str(), spec.output.c_str(),
                o.plot_script.empty() ? "" : (", " + spec.output + "/pareto.png").c_str());
  return rc;
}

/// `npusim sweep-point`: one (configuration, workload) of a sweep, run by the pool or an external
/// executor; writes the evaluation JSON to --out (atomically).
int cmd_sweep_point(const std::vector<std::string>& argv) {
  const Args a(argv, {"--config", "--workload", "--out", "--precision"}, {"--ideal-memory"});
  if (!a.has("--config") || !a.has("--workload") || !a.has("--out"))
    throw UsageError("sweep-point needs --config, --workload and --out");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  EvalOptions eo;
  eo.precision = a.value("--precision", "fp16");
  eo.ideal_memory = a.flag("--ideal-memory");
  const Evaluation e = evaluate(cfg, a.value("--workload"), eo);
  const std::string out = a.value("--out"), tmp = out + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp);
    if (!f) throw isa::InputError(out + ": cannot write");
    f << sweep::evaluation_json(e);
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) throw isa::InputError(out + ": cannot write");
  return kExitOk;
}

/// `npusim serve`: the device behind a UNIX socket (docs/wire-protocol.md).
int cmd_serve(const std::vector<std::string>& argv) {
  const Args a(argv, {"--config", "--socket", "--record", "--fault"}, {"--exit-when-idle"});
  if (!a.has("--config") || !a.has("--socket")) throw UsageError("serve needs --config CONFIG.yaml and --socket PATH");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  device::ServeOptions o;
  o.socket_path = a.value("--socket");
  o.record_path = a.value("--record");
  o.exit_when_idle = a.flag("--exit-when-idle");
  for (const std::string& spec : a.values("--fault")) {
    try {
      o.faults.push_back(device::parse_fault(spec));
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--") + e.what());
    }
  }
  try {
    return device::serve(cfg, o);
  } catch (const std::runtime_error& e) {
    throw isa::InputError(e.what());
  }
}

/// `npusim replay`: a recorded register trace against a fresh device.
int cmd_replay(const std::vector<std::string>& argv) {
  const Args a(argv, {"--config"}, {});
  if (a.positional().size() != 1 || !a.has("--config"))
    throw UsageError("replay needs TRACE.rtrace and --config CONFIG.yaml");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  try {
    return device::replay(cfg, a.positional()[0]) == 0 ? kExitOk : kExitFault;
  } catch (const std::runtime_error& e) {
    throw isa::InputError(e.what());
  }
}

/// `npusim calibrate`: the RTL latency table for a config's array.
int cmd_calibrate(const std::vector<std::string>& argv) {
  const Args a(argv, {"--config", "-o"}, {});
  if (!a.has("--config") || !a.has("-o")) throw UsageError("calibrate needs --config CONFIG.yaml and -o TABLE.yaml");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
#ifdef NPUSIM_HAS_RTL
  rtl::CalibrationStats st;
  arch::LatencyTable t;
  try {
    t = rtl::calibrate(cfg.mxu, &st);
  } catch (const std::invalid_argument& e) {
    throw isa::InputError(a.value("--config") + ": " + e.what());
  }
  std::ofstream out(a.value("-o"));
  if (!out) throw isa::InputError(a.value("-o") + ": cannot write");
  out << t.to_yaml();
  std::printf(
      "%s: %llu tile shapes on the %ux%u %s RTL array (%llu RTL cycles in %.3g s, %.3g Mcycles/s); "
      "fitted per-fold cost %.6g cycles; analytical model within %.4g%% of the RTL on every shape\n",
      a.value("-o").c_str(), static_cast<unsigned long long>(st.tiles), cfg.mxu.rows, cfg.mxu.cols,
      cfg.mxu.dataflow.c_str(), static_cast<unsigned long long>(st.rtl_cycles), st.wall_s,
      st.rtl_cycles / st.wall_s / 1e6, t.fold_cost, 100 * st.max_deviation);
  return kExitOk;
#else
  (void)cfg;
  throw UsageError("this npusim was built without Verilator (NPUSIM_RTL=OFF): no RTL to calibrate");
#endif
}

int cmd_compile(const std::vector<std::string>& argv) {
  const Args a(argv, {"--config", "-o", "--precision", "--calibrate"}, {"--no-fallback"});
  if (a.positional().size() != 1) throw UsageError("compile needs exactly one model.onnx");
  if (!a.has("--config")) throw UsageError("compile needs --config CONFIG.yaml");
  const std::string in = a.positional()[0];
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  const BuiltModel built = compile_model(in, cfg, a);
  const compiler::CompiledModel& m = built.m;
  if (!m.host_ops.empty()) {
    std::string nodes;
    for (const auto& h : m.host_ops) nodes += (nodes.empty() ? "" : ", ") + h.node.name + " (" + h.node.op + ")";
    throw isa::InputError(in + ": " + std::to_string(m.host_ops.size()) +
                          " operator(s) would run on the host: " + nodes +
                          "; an .npub cannot carry host kernels, so run the model directly (npusim run model.onnx), or "
                          "see --no-fallback");
  }
  std::string out = a.value("-o");
  if (out.empty()) out = (ends_with(in, ".onnx") ? in.substr(0, in.size() - 5) : in) + ".npub";
  const auto bytes = isa::write_npub(m.program);
  isa::write_file_bytes(out, bytes);
  std::printf("%s: %zu operators -> %zu instructions, %zu bytes -> %s\n", in.c_str(), m.operators.size(),
              m.program.text.size(), bytes.size(), out.c_str());
  return kExitOk;
}

/// `--repeat N` / `--duration T`: the program back to back under the thermal model and the
/// governor (tools/longrun/long_run.h); each clock the governor picks is simulated once, in a child process.
int run_long_mode(const Args& a, const config::NpuConfig& cfg, const isa::Program& prog,
                  const std::map<std::string, std::vector<uint8_t>>& inputs) {
  LongRunOptions o;
  o.repeat = a.number("--repeat", 0);
  if (a.has("--duration") && !config::parse_time(a.value("--duration"), o.duration_s))
    throw UsageError("--duration expects a time such as 120s or 500ms, got '" + a.value("--duration") + "'");
  if (a.has("--sample-interval") && !config::parse_time(a.value("--sample-interval"), o.sample_s))
    throw UsageError("--sample-interval expects a time such as 10ms, got '" + a.value("--sample-interval") + "'");
  if (o.repeat == 0 && !(o.duration_s > 0))
    throw UsageError("--repeat needs a positive count, --duration a positive time");
  const auto t0 = std::chrono::steady_clock::now();
  const LongRunResult r = run_long(
      cfg, [&](double hz) { return profile_in_child(cfg, prog, inputs, hz); }, o);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto write = [](const std::string& file, const std::string& text) {
    std::ofstream out(file);
    if (!out) throw isa::InputError(file + ": cannot write");
    out << text;
  };
  if (a.has("--power-csv")) write(a.value("--power-csv"), long_run_csv(r));
  if (a.has("--trace")) write(a.value("--trace"), long_run_trace(r));
  if (a.has("--stats"))
    write(a.value("--stats"), "{\"config\": \"" + cfg.name + "\", \"wall_s\": " + std::to_string(wall) +
                                  ", \"long_run\": " + long_run_json(r) + "}\n");
  if (!a.flag("--quiet") || r.critical) {
    const auto& l = r.latencies_s;
    char buf[1024];
    std::snprintf(buf, sizeof buf,
                  "long run on %s: %llu inferences in %.6g s simulated (%.3g s wall, %zu clock(s) simulated)\n"
                  "  energy %.6g J (%.6g J per inference), average %.4g W, hottest node %.4g C\n"
                  "  latency first %.6g s, last %.6g s; %zu clock change(s)\n",
                  cfg.name.c_str(), static_cast<unsigned long long>(r.inferences), r.seconds, wall,
                  r.simulated_hz.size(), arch::total(r.energy),
                  r.inferences ? arch::total(r.energy) / static_cast<double>(r.inferences) : 0.0,
                  r.seconds > 0 ? arch::total(r.energy) / r.seconds : 0.0, r.max_temp_c, l.empty() ? 0.0 : l.front(),
                  l.empty() ? 0.0 : l.back(), r.events.size());
    std::fputs(buf, stdout);
    if (r.critical) std::fprintf(stderr, "%s\n", r.fault.c_str());
  }
  return r.critical ? kExitFault : kExitOk;
}

bool long_run_requested(const Args& a) {
  return a.has("--repeat") || a.has("--duration");
}

/// An output's device bytes as doubles in ONNX layout.
std::vector<double> output_values(const compiler::IoBinding& b, const isa::IoTensor& io,
                                  const std::vector<uint8_t>& dev) {
  const unsigned es = isa::tensor_type_bytes(io.dtype);
  const auto shape = model_shape(io, b.nhwc);
  std::vector<double> v(dev.size() / es);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint64_t j = b.nhwc ? nhwc_index(i, shape) : i;  // NHWC → NCHW
    const uint8_t* p = &dev[es * j];
    switch (io.dtype) {
      case isa::TensorType::FP16:
      case isa::TensorType::BF16: v[i] = from_device(static_cast<uint16_t>(p[0] | (p[1] << 8)), io.dtype); break;
      case isa::TensorType::I8: v[i] = static_cast<int8_t>(p[0]); break;
      case isa::TensorType::U8: v[i] = p[0]; break;
      default: {
        int32_t x;
        std::memcpy(&x, p, 4);
        v[i] = x;
      }
    }
  }
  return v;
}

/// The "accuracy" stats entry: each output against the float reference.
std::string accuracy_json(const BuiltModel& b, const compiler::TensorValues& inputs,
                          const compiler::TensorValues& outputs) {
  std::string j = "{\"precision\": \"int8\", \"calibration_samples\": " + std::to_string(b.calibration_samples) +
                  ", \"quantized_operators\": " + std::to_string(b.quantization.quantized.size()) +
                  ", \"float_operators\": " + std::to_string(b.quantization.float_ops.size()) + ", \"outputs\": {";
  bool first = true;
  for (const auto& acc : compiler::compare_to_reference(b.graph, inputs, outputs)) {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s\"%s\": {\"max_abs_err\": %.6g, \"mean_abs_err\": %.6g, \"cosine_similarity\": %.8f, "
                  "\"top1_agreement\": %.6g, \"rows\": %lld}",
                  first ? "" : ", ", acc.output.c_str(), acc.max_abs_err, acc.mean_abs_err, acc.cosine, acc.top1,
                  static_cast<long long>(acc.rows));
    j += buf;
    first = false;
  }
  return j + "}}";
}

/// `npusim run --fault`: the faults one run can take (bus_error, ecc or hang_engine at an
/// instruction; slow_dram) applied to its options and configuration. Interrupt and reset faults,
/// and faults at a later job, need the device (`npusim serve --fault`).
config::NpuConfig with_run_faults(const Args& a, const config::NpuConfig& cfg, RunOptions& opts) {
  config::NpuConfig c = cfg;
  for (const std::string& spec : a.values("--fault")) {
    device::ScheduledFault f;
    try {
      f = device::parse_fault(spec);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--") + e.what());
    }
    if (f.at_job > 1) throw UsageError("--fault " + spec + ": job=N needs the device: npusim serve --fault");
    switch (f.type) {
      case NPU_FI_BUS_ERROR:
      case NPU_FI_ECC:
      case NPU_FI_HANG_ENGINE:
        opts.inject_at = f.arg;
        opts.inject_fault = f.type == NPU_FI_ECC ? arch::FaultCode::Ecc : arch::FaultCode::BusError;
        opts.inject_hang = f.type == NPU_FI_HANG_ENGINE;
        break;
      case NPU_FI_SLOW_DRAM:  // as the device does it
        c.dram.bandwidth /= f.arg;
        c.dram.data_rate_mtps /= f.arg;
        break;
      default:
        throw UsageError("--fault " + spec + ": " + device::enum_name("fault_injection", f.type) +
                         " acts on the device's interrupts or resets: use npusim serve --fault");
    }
  }
  return c;
}

int run_onnx(const Args& a, const config::NpuConfig& cfg, const std::string& path) {
  const BuiltModel built = compile_model(path, cfg, a);
  const compiler::CompiledModel& m = built.m;
  compiler::TensorValues ref_inputs;         // the float inputs, for the accuracy report
  std::map<std::string, std::string> given;  // io name -> .npy path
  for (const std::string& spec : a.values("--input")) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--input expects NAME=file.npy, got '" + spec + "'");
    const std::string name = spec.substr(0, eq);
    std::string io;
    for (const auto& b : m.inputs)
      if (b.onnx_name == name || b.io_name == name) io = b.io_name;
    if (io.empty()) {
      std::string names;
      for (const auto& b : m.inputs) names += (names.empty() ? "" : ", ") + b.onnx_name;
      throw isa::InputError("--input " + name + ": the model has no input of that name (inputs: " + names + ")");
    }
    given[io] = spec.substr(eq + 1);
  }
  std::map<std::string, std::vector<uint8_t>> inputs;
  std::mt19937_64 rng(a.number("--random-inputs", 0));
  for (const auto& b : m.inputs) {
    const isa::IoTensor& io = io_entry(m.program, b.io_name);
    uint64_t count = 1;
    for (int k = 0; k < io.rank; ++k) count *= io.dims[k];
    const unsigned es = isa::tensor_type_bytes(io.dtype);
    const bool is_float = io.dtype == isa::TensorType::FP16 || io.dtype == isa::TensorType::BF16;
    const auto shape = model_shape(io, b.nhwc);
    std::vector<uint8_t> model_order(count * es);  // device-type elements in the model's (NCHW) order
    auto it = given.find(b.io_name);
    if (it != given.end()) {
      model_order = host_to_device_elements(b, io, read_npy(it->second), it->second);
    } else if (a.has("--random-inputs")) {
      std::uniform_real_distribution<float> u(-1, 1);
      for (uint64_t i = 0; i < count; ++i) {
        if (is_float) {
          const uint16_t h = to_device(u(rng), io.dtype);
          model_order[2 * i] = static_cast<uint8_t>(h);
          model_order[2 * i + 1] = static_cast<uint8_t>(h >> 8);
        } else {
          const uint64_t r = rng();
          for (unsigned k = 0; k < es; ++k) model_order[es * i + k] = static_cast<uint8_t>(r >> (8 * k));
        }
      }
    } else {
      throw isa::InputError("no data for input '" + b.onnx_name + "' (use --input " + b.onnx_name +
                            "=FILE.npy or --random-inputs SEED)");
    }
    if (built.int8) {  // the float reference sees the user's float32 values, or the random ones as stored
      const bool f32 = it != given.end() && read_npy(it->second).descr == "<f4";
      ref_inputs[b.onnx_name] =
          f32 ? read_float_npy(it->second, built.graph.tensor(b.onnx_name))
              : output_values(compiler::IoBinding{b.onnx_name, b.io_name, b.host_dtype, false}, io, model_order);
    }
    inputs[b.io_name] = to_device_layout(b, io, model_order);
  }
  if (long_run_requested(a)) return run_long_mode(a, cfg, m.program, inputs);
  RunOptions opts;
  opts.timing_only = a.flag("--timing-only");
  opts.watchdog_cycles = a.number("--watchdog-cycles", opts.watchdog_cycles);
  opts.trace = a.has("--trace");
  opts.irq_handler = host_fallback(m);
  const RunResult r = simulate(with_run_faults(a, cfg, opts), m.program, inputs, opts);
  if (a.has("--output-dir") && r.ok && !opts.timing_only) {
    const std::string dir = a.value("--output-dir");
    ::mkdir(dir.c_str(), 0755);
    for (const auto& b : m.outputs)  // floats leave as float32, integers in their own type
      write_npy(dir + "/" + b.io_name + ".npy",
                device_to_host(b, io_entry(m.program, b.io_name), r.outputs.at(b.io_name)));
  }
  // Fallback ratio: operators (and their MACs) on the host vs on the NPU.
  std::string host_names;
  for (const auto& h : m.host_ops) host_names += (host_names.empty() ? "\"" : ", \"") + h.node.name + "\"";
  char fb[512];
  std::snprintf(
      fb, sizeof fb,
      "{\"npu_operators\": %zu, \"host_operators\": %zu, \"host_ratio\": %.4g, \"npu_macs\": %llu, \"host_macs\": 0, "
      "\"host\": [",
      m.operators.size() - m.host_ops.size(), m.host_ops.size(),
      m.operators.empty() ? 0.0 : static_cast<double>(m.host_ops.size()) / m.operators.size(),
      static_cast<unsigned long long>(r.macs));
  std::string extra = "\"fallback\": " + std::string(fb) + host_names + "]}";
  if (built.int8 && r.ok && !opts.timing_only) {
    compiler::TensorValues outs;
    for (const auto& b : m.outputs)
      outs[b.onnx_name] = output_values(b, io_entry(m.program, b.io_name), r.outputs.at(b.io_name));
    extra += ", \"accuracy\": " + accuracy_json(built, ref_inputs, outs);
  }
  write_reports(a, r, cfg, m.program, path, extra);
  if (!a.flag("--quiet") || !r.ok) {
    std::string summary = run_summary(r, cfg);
    if (!m.host_ops.empty())
      summary += "  fallback: " + std::to_string(m.host_ops.size()) + " of " + std::to_string(m.operators.size()) +
                 " operators ran on the host (" + host_names + "); their time is not modelled\n";
    std::fputs(summary.c_str(), r.ok ? stdout : stderr);
  }
  return r.ok ? kExitOk : kExitFault;
}

/// Loads --config: an npusim YAML, or a SCALE-Sim .cfg (with its layer memory).
config::NpuConfig load_any_config(const std::string& path, topology::LayerMemory* mem) {
  if (ends_with(path, ".cfg")) {
    topology::LayerMemory m;
    config::NpuConfig cfg = topology::load_scalesim_cfg(path, m);
    if (mem) *mem = m;
    return cfg;
  }
  config::NpuConfig cfg = config::load_npu_config(path);
  if (mem) *mem = topology::memory_of(cfg);
  return cfg;
}

/// `npusim run --topology layers.csv`: SCALE-Sim layer lists, layer by layer (tools/topology/topology.h).
int run_topology(const Args& a) {
  if (!a.positional().empty()) throw UsageError("run --topology takes no program");
  if (!a.has("--config")) throw UsageError("run --topology needs --config (npusim .yaml or SCALE-Sim .cfg)");
  topology::LayerMemory mem;
  const config::NpuConfig cfg = load_any_config(a.value("--config"), &mem);
  if (a.flag("--ideal-memory")) mem.ideal = true;
  const std::string f = a.value("--topology-format", "auto");
  if (f != "auto" && f != "conv" && f != "gemm") throw UsageError("--topology-format expects auto, conv or gemm");
  const auto t0 = std::chrono::steady_clock::now();
  const auto layers = topology::load_topology(a.value("--topology"), f == "conv"   ? topology::Format::Conv
                                                                     : f == "gemm" ? topology::Format::Gemm
                                                                                   : topology::Format::Auto);
  const auto rs = topology::run_layers(cfg, mem, layers);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto write = [](const std::string& file, const std::string& text) {
    std::ofstream out(file);
    if (!out) throw isa::InputError(file + ": cannot write");
    out << text;
  };
  if (a.has("--stats")) write(a.value("--stats"), topology::topology_json(cfg, mem, rs));
  if (a.has("--report-dir")) {
    const std::string dir = a.value("--report-dir");
    ::mkdir(dir.c_str(), 0755);
    write(dir + "/COMPUTE_REPORT.csv", topology::compute_report_csv(rs));
    write(dir + "/BANDWIDTH_REPORT.csv", topology::bandwidth_report_csv(rs));
    write(dir + "/DETAILED_ACCESS_REPORT.csv", topology::access_report_csv(rs));
  }
  if (!a.flag("--quiet")) {
    uint64_t cycles = 0, compute = 0, macs = 0;
    double joules = 0;
    std::printf("%-24s %10s %10s %10s %12s %12s %8s %8s %12s\n", "layer", "M", "N", "K", "compute cyc", "total cyc",
                "util %", "map %", "DRAM bytes");
    for (const auto& r : rs) {
      std::printf("%-24s %10llu %10llu %10llu %12llu %12llu %8.2f %8.2f %12llu\n", r.name.c_str(),
                  static_cast<unsigned long long>(r.gemm.m), static_cast<unsigned long long>(r.gemm.n),
                  static_cast<unsigned long long>(r.gemm.k), static_cast<unsigned long long>(r.compute_cycles),
                  static_cast<unsigned long long>(r.total_cycles), 100 * r.overall_util, 100 * r.mapping_efficiency,
                  static_cast<unsigned long long>(r.dram_bytes));
      cycles += r.total_cycles, compute += r.compute_cycles, macs += r.macs, joules += r.energy_j;
    }
    std::printf(
        "%zu layers on %s (%ux%u %s%s): %llu cycles (%llu compute), %.6g s at %s, utilization %.2f%%, %.6g J; "
        "%.3g ms of wall time\n",
        rs.size(), cfg.name.c_str(), cfg.mxu.rows, cfg.mxu.cols, cfg.mxu.dataflow.c_str(),
        mem.ideal ? ", ideal memory" : "", static_cast<unsigned long long>(cycles),
        static_cast<unsigned long long>(compute), static_cast<double>(cycles) / cfg.clock_hz,
        config::frequency_text(cfg.clock_hz).c_str(),
        cycles ? 100.0 * static_cast<double>(macs) / (static_cast<double>(cycles) * cfg.mxu.rows * cfg.mxu.cols) : 0.0,
        joules, 1e3 * wall);
  }
  return kExitOk;
}

int cmd_run(const std::vector<std::string>& argv) {
  const Args a(argv,
               {"--config", "--input", "--output-dir", "--stats", "--trace", "--watchdog-cycles", "--random-inputs",
                "--precision", "--calibrate", "--repeat", "--duration", "--power-csv", "--sample-interval",
                "--cosim-report", "--topology", "--topology-format", "--report-dir", "--fault"},
               {"--timing-only", "--quiet", "--no-fallback", "--ideal-memory"});
  if (a.has("--topology")) return run_topology(a);
  if (a.has("--fault") && long_run_requested(a))
    throw UsageError("--fault applies to a single run, not to --repeat or --duration");
  if (a.positional().size() != 1) throw UsageError("run needs exactly one program (.npub, .npus or .onnx)");
  if (!a.has("--config")) throw UsageError("run needs --config CONFIG.yaml (e.g. configs/edge.yaml)");
  const std::string path = a.positional()[0];
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  if (ends_with(path, ".onnx")) return run_onnx(a, cfg, path);
  const isa::Program prog = load_program(path);
  RunOptions opts;
  opts.timing_only = a.flag("--timing-only");
  opts.watchdog_cycles = a.number("--watchdog-cycles", opts.watchdog_cycles);
  opts.trace = a.has("--trace");
  const auto inputs = gather_inputs(a, prog);
  const config::NpuConfig run_cfg = with_run_faults(a, cfg, opts);
  if (long_run_requested(a)) return run_long_mode(a, cfg, prog, inputs);
  const RunResult r = simulate(run_cfg, prog, inputs, opts);
  if (a.has("--output-dir") && r.ok && !opts.timing_only) {
    const std::string dir = a.value("--output-dir");
    ::mkdir(dir.c_str(), 0755);
    for (const auto& io : prog.io) {
      auto it = r.outputs.find(io.name);
      if (it == r.outputs.end()) continue;
      NpyArray arr{npy_descr(io.dtype), std::vector<uint64_t>(io.dims.begin(), io.dims.begin() + io.rank), it->second};
      write_npy(dir + "/" + io.name + ".npy", arr);
    }
  }
  write_reports(a, r, cfg, prog, path);
  if (!a.flag("--quiet") || !r.ok) std::fputs(run_summary(r, cfg).c_str(), r.ok ? stdout : stderr);
  return r.ok ? kExitOk : kExitFault;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> cmds = {
      {"run", "run a program on a configured NPU (exact outputs, cycles, stats, trace)",
       "usage: npusim run --config CONFIG.yaml PROGRAM.(npub|npus|onnx) [options]\n"
       "       npusim run --topology LAYERS.csv --config CONFIG.(yaml|cfg) [--ideal-memory]\n"
       "                  [--topology-format auto|conv|gemm] [--report-dir DIR] [--stats FILE]\n"
       "\n"
       "Runs PROGRAM on the NPU that CONFIG describes, in SystemC, at tile level: exact outputs,\n"
       "deterministic cycles. A .npus program is assembled first; an .onnx model is compiled first\n"
       "(see npusim compile; --precision applies) and its float32 inputs and outputs are converted\n"
       "to and from the device type by the host.\n"
       "\n"
       "  --input NAME=FILE.npy   data of input tensor NAME (repeat per input; dtype and shape must match)\n"
       "  --random-inputs SEED    deterministic random data for inputs not given with --input\n"
       "  --output-dir DIR        write each output tensor as DIR/<name>.npy\n"
       "  --stats FILE            statistics as JSON (cycles, utilization, per engine, memory, operators)\n"
       "  --trace FILE            Chrome/Perfetto trace JSON (open in ui.perfetto.dev)\n"
       "  --timing-only           skip the arithmetic: same cycles, no outputs\n"
       "  --watchdog-cycles N     fault with WATCHDOG if the program has not finished after N cycles\n"
       "  --fault TYPE[:insn=N][:factor=N]  inject a fault (device fault-injection names): bus_error, ecc\n"
       "                          or hang_engine at instruction N, or slow_dram (bandwidth / factor);\n"
       "                          the run then exits 1 with the device's error\n"
       "  --quiet                 no summary unless the run faults\n"
       "  --no-fallback           (.onnx) operators without an NPU lowering are errors, not host kernels\n"
       "  --precision P           (.onnx) fp16 (default), bf16, or int8 (post-training quantization)\n"
       "  --calibrate DIR         (.onnx, int8) calibration samples: every DIR/*.npy is one input sample;\n"
       "                          stats.json then reports the accuracy against the float reference\n"
       "  --repeat N              run N times back to back under the thermal model and governor\n"
       "  --duration T            run back to back for T of simulated time (e.g. 300s)\n"
       "  --power-csv FILE        (long runs) time series: power, temperatures, clock, throttle level\n"
       "  --sample-interval T     (long runs) time-series interval (default: thermal step, <= 20000 rows)\n"
       "  --cosim-report FILE     (mxu impl rtl) CSV of RTL and analytical cycles per matmul\n"
       "Every run's stats.json has `power` (energy by component and operator, average and peak\n"
       "power, temperature); long runs write `long_run` (latencies, energy, throttle events) and,\n"
       "with --trace, counter tracks of power, temperature and clock (docs/power.md).\n"
       "\n"
       "With --topology, runs a SCALE-Sim layer list (conv or M,N,K form) layer by layer on the\n"
       "configured array, with an npusim YAML or a SCALE-Sim .cfg: compute cycles of the MXU model\n"
       "(SCALE-Sim's closed form), SCALE-Sim's SRAM counts, npusim's DRAM model, energy; --report-dir\n"
       "writes COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv\n"
       "(docs/topology.md).\n"
       "\n"
       "Exit code 1 when the device faults (bounds, semaphore overflow, deadlock, watchdog): the\n"
       "message names the instruction index and engine, and for deadlocks every engine's PC and\n"
       "the semaphore values.\n",
       cmd_run},
      {"load", "serve a request stream with dynamic batching: latency percentiles and throughput",
       "usage: npusim load --config CONFIG.yaml MODEL.(onnx|npub|npus) [--rate 300/s] [--duration 60s]\n"
       "                   [--arrivals poisson|onoff|trace:FILE.csv] [--on 1s --off 1s] [--max-batch N]\n"
       "                   [--max-wait 2ms] [--seed S] [--priority P] [--report R.json] [--metrics M.prom]\n"
       "                   [--queue-csv Q.csv] [--latency-csv L.csv] [--trace T.json] [--no-cold-start]\n"
       "                   [--thermal] [--thermal-csv TH.csv] [--metrics-port P [--metrics-linger 30s]]\n"
       "       npusim load --config CONFIG.yaml --tenants TENANTS.yaml [--duration 60s] [outputs]\n"
       "\n"
       "Requests arrive (Poisson, bursty on/off at the same mean rate, or the timestamps of a CSV) and\n"
       "are served first come first served, a batch at a time: a batch goes when max-batch requests\n"
       "wait or the oldest has waited max-wait. A batch of b takes the simulated latency of the model\n"
       "compiled for batch b (ONNX; a .npub runs b times back to back). Reports p50/p95/p99/max latency,\n"
       "throughput and utilization; --metrics writes a Prometheus text file, --trace a Perfetto trace of\n"
       "requests and batches. Several tenants (--tenants) share the device by priority; each tenant's\n"
       "first batch pays its cold start (weights from DRAM). --thermal puts power and temperature in the\n"
       "loop: each batch runs at the clock the governor picks, its energy heats the thermal network, and\n"
       "the report gains energy per inference, the hottest temperature and the clock changes\n"
       "(--thermal-csv: temperature, clock and power per governor poll); THERMAL_CRITICAL exits 1.\n"
       "--metrics-port serves the metrics at http://127.0.0.1:P/metrics after the run, until\n"
       "interrupted or for --metrics-linger.\n"
       "docs/serving.md.\n",
       cmd_load},
      {"sweep", "design-space sweep: configs x workloads on a process pool, cached, Pareto front",
       "usage: npusim sweep SWEEP.yaml [-j N] [--no-cache] [--plot] [--plan PLAN.json] [--quiet]\n"
       "                    [--point-timeout T]\n"
       "\n"
       "SWEEP.yaml names a base config, axes (dotted config keys with lists of values, or {min, max,\n"
       "log, integer, steps} ranges), a sampling (grid, random or lhs with points and seed) and\n"
       "workloads (.onnx, .npub, .npus, topology .csv). Every (point, workload) runs as its own\n"
       "process, -j at a time (default: all cores); results are cached by content (config,\n"
       "workload bytes, npusim version) under OUTPUT/cache, so a rerun skips finished points.\n"
       "Writes OUTPUT/results.csv and results.json (cycles, seconds, energy, power, utilization,\n"
       "DRAM bytes, MXU area proxy, SRAM bytes, Pareto flag); --plot draws OUTPUT/pareto.png;\n"
       "--point-timeout kills a point that runs longer (it is marked failed, the others go on);\n"
       "--plan writes the uncached jobs as JSON for an external executor (scripts/sweep_dask.py)\n"
       "instead of running them. Exit 1 when a point failed (each failure is listed). docs/sweep.md.\n",
       cmd_sweep},
      {"sweep-point", "one point of a sweep (used by npusim sweep and external executors)",
       "usage: npusim sweep-point --config C.yaml --workload W --out RESULT.json [--precision P]\n"
       "                          [--ideal-memory]\n",
       cmd_sweep_point},
      {"serve", "serve the device on a UNIX socket for drivers in other processes",
       "usage: npusim serve --config CONFIG.yaml --socket PATH [--record RUN.rtrace] [--exit-when-idle]\n"
       "                    [--fault TYPE[:insn=N][:factor=N][:count=N][:job=N] ...]\n"
       "\n"
       "Runs the register-level device (docs/device.md) behind a UNIX socket speaking the protocol of\n"
       "include/npusim/wire.h (docs/wire-protocol.md); clients share host memory as memfds. Jobs run when\n"
       "their doorbell is written, so sessions are deterministic. --record writes a register trace for\n"
       "npusim replay; --exit-when-idle stops when the last client has gone.\n"
       "--fault arms a fault when the device starts job N (default 1; 0: at once), as a driver's\n"
       "FI_ARG/FI_CTRL writes would: bus_error, ecc or hang_engine at instruction insn (default 0),\n"
       "drop_irq, spurious_irq, slow_dram (DRAM bandwidth / factor, default 2) or stuck_reset, for\n"
       "count jobs (or resets). E.g. --fault bus_error:insn=1:job=3 fails the third job.\n",
       cmd_serve},
      {"replay", "replay a recorded register trace and check every read",
       "usage: npusim replay RUN.rtrace --config CONFIG.yaml\n"
       "\n"
       "Replays the register writes, memory contents and idle time of a trace recorded by\n"
       "npusim serve --record against a fresh device and checks that every register read returns\n"
       "what was recorded (exit 1 naming the first line that differs).\n",
       cmd_replay},
      {"calibrate", "measure MXU tile latencies on the RTL array and write a latency table",
       "usage: npusim calibrate --config CONFIG.yaml -o TABLE.yaml\n"
       "\n"
       "Runs a sweep of matmul tile shapes through the Verilated systolic array (rtl/systolic_array.v)\n"
       "of CONFIG's size and dataflow (4x4, 8x8 or 16x16; ws or os) and writes their cycles as a\n"
       "latency table that `mxu: {impl: table, file: TABLE.yaml}` loads (docs/rtl.md).\n",
       cmd_calibrate},
      {"compile", "compile an ONNX model for a configuration",
       "usage: npusim compile MODEL.onnx --config CONFIG.yaml [-o OUT.npub] [--precision fp16|bf16|int8]\n"
       "                      [--calibrate DIR] [--no-fallback]\n"
       "\n"
       "Lowers an ONNX model (opsets 10-17, static shapes) to an npusim program for the NPU that\n"
       "CONFIG describes: every operator tiled to its scratchpad and accumulator, one DEBUG marker per\n"
       "node (stats and traces are per operator). Float activations and weights use --precision\n"
       "(default fp16); integer tensors keep their type, so quantized models run bit-exact.\n"
       "--precision int8 quantizes a float model after training: activation ranges from the float\n"
       "reference on the samples in --calibrate DIR (each .npy one input), uint8 activations (int8\n"
       "where the MXU has no u8 mode), int8 per-channel weights. Supported operators: Gemm, MatMul,\n"
       "Conv, MaxPool, AveragePool, GlobalAveragePool, BatchNormalization, Concat, Relu, Clip,\n"
       "Add/Sub/Mul, Flatten, Reshape, Identity, Transpose, Softmax, LogSoftmax, Exp, Log, Reciprocal,\n"
       "Sqrt, Tanh, Sigmoid, Erf, QuantizeLinear, DequantizeLinear, QLinearMatMul, QLinearConv,\n"
       "MatMulInteger, ConvInteger; anything else runs on the host with a reference kernel when one\n"
       "exists (LeakyRelu, Softplus, Elu, Neg, Abs, Div, Pow, Max, Min, ...; npusim run model.onnx only, since an "
       ".npub\n"
       "cannot carry host kernels) and is otherwise an error naming the node. --no-fallback makes\n"
       "every operator without an NPU lowering an error.\n",
       cmd_compile},
      {"asm", "assemble .npus text into an .npub container",
       "usage: npusim asm IN.npus [-o OUT.npub] [--queue-depth N] [--no-deadlock-check]\n"
       "\n"
       "Assembles IN.npus (docs/npus-syntax.md) into an .npub container (docs/npub-format.md).\n"
       "Errors read FILE:LINE:COL: error: MESSAGE. The program is proved free of deadlock by an\n"
       "abstract run over its semaphores (engine queues of N entries; default unbounded) unless\n"
       "--no-deadlock-check is given. -o defaults to IN with the extension .npub.\n",
       cmd_asm},
      {"disasm", "print an .npub container as .npus text",
       "usage: npusim disasm IN.npub [-o OUT.npus]\n"
       "\n"
       "Reads IN.npub with the strict reader and prints it as .npus text; assembling that text gives\n"
       "the identical .npub. Each instruction line ends with '; #index @byte-offset'.\n",
       cmd_disasm},
      {"info", "describe the ISA, this build, or a program",
       "usage: npusim info --isa | --config [CONFIG.yaml...] | --operators | --stats | --version | "
       "PROGRAM.(npub|npus)\n"
       "\n"
       "  --isa       every instruction, field and parameter kind, from the ISA definition\n"
       "  --config    every config parameter (type, unit, default, description); with files:\n"
       "              load and check them, print the effective values and the config hash\n"
       "  --operators the ONNX operators the compiler lowers to the NPU, with their family and\n"
       "              properties (docs/compiler.md holds the same table)\n"
       "  --stats     every statistic of stats.json (path, kind, unit, description; docs/stats.md)\n"
       "  --version   simulator, ISA and container versions\n"
       "  PROGRAM     target, tables, instruction mix, MACs, DRAM traffic, deadlock proof\n",
       cmd_info},
  };
  return cmds;
}

void print_help() {
  std::printf(
      "npusim %s: a cycle-approximate NPU simulator\n\nusage: npusim COMMAND [ARGS...]   (npusim COMMAND --help for "
      "details)\n\ncommands:\n",
      kVersion);
  for (const auto& c : commands()) std::printf("  %-8s %s\n", c.name, c.summary);
  std::printf(
      "\nexit codes: 0 success, 1 simulation/runtime fault, 2 usage or input error\n"
      "docs: docs/ (isa.md, npub-format.md, npus-syntax.md, cli.md)\n");
}

}  // namespace
}  // namespace npusim::cli

int main(int argc, char** argv) {
  using namespace npusim::cli;
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);  // the SystemC banner is noise on a CLI
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (args.size() >= 2)
      args = {args[1], "--help"};
    else {
      print_help();
      return args.empty() ? kExitInput : kExitOk;
    }
  }
  if (args[0] == "--version") args = {"info", "--version"};
  const std::string name = args[0];
  for (const auto& c : commands()) {
    if (name != c.name) continue;
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const auto& r : rest)
      if (r == "--help" || r == "-h") {
        std::fputs(c.usage, stdout);
        return kExitOk;
      }
    try {
      return c.run(rest);
    } catch (const UsageError& e) {
      std::fprintf(stderr, "npusim %s: %s\n%s", c.name, e.what(), c.usage);
      return kExitInput;
    } catch (const npusim::compiler::CompileError& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return kExitInput;
    } catch (const npusim::config::ConfigError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return kExitInput;
    } catch (const npusim::isa::InputError& e) {
      const std::string msg = e.what();
      // Assembler messages already carry "file:line:col: error:"; others get a prefix.
      if (msg.find(": error: ") != std::string::npos)
        std::fprintf(stderr, "%s\n", msg.c_str());
      else
        std::fprintf(stderr, "error: %s\n", msg.c_str());
      return kExitInput;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "error: out of memory\n");
      return kExitInput;
    } catch (const std::exception& e) {  // a bug if it happens: still a message, never an abort
      std::fprintf(stderr, "npusim %s: internal error: %s\n", c.name, e.what());
      return kExitInput;
    }
  }
  std::fprintf(stderr, "npusim: unknown command '%s' (see npusim --help)\n", name.c_str());
  return kExitInput;
}
