// Report files of a run.
#include "tools/cli/reports.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "base/json.h"
#include "base/stats.h"
#include "isa/diag.h"
#include "sim/run_power.h"
#include "tools/cli/command.h"

namespace npusim::cli {

namespace {

/// Creates `file`'s parent folders.
void make_parents(const std::string& file) {
  const auto slash = file.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_output_dir(file.substr(0, slash));
}

}  // namespace

void make_output_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw isa::InputError(dir + ": cannot create the folder: " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) throw isa::InputError(dir + ": cannot write into it: not a folder");
  if (::access(dir.c_str(), W_OK) != 0)
    throw isa::InputError(dir + ": cannot write into the folder: " + std::strerror(errno));
}

void write_text_file(const std::string& file, const std::string& text) {
  make_parents(file);
  errno = 0;
  std::ofstream out(file);
  if (!out) throw isa::InputError(file + ": cannot write: " + std::strerror(errno ? errno : EIO));
  out << text;
  out.flush();
  if (!out) throw isa::InputError(file + ": write failed: " + std::strerror(errno ? errno : EIO));
}

void check_output_paths(const Args& a, const std::vector<std::string>& file_options,
                        const std::vector<std::string>& dir_options) {
  for (const std::string& o : dir_options)
    if (a.has(o)) make_output_dir(a.value(o));
  for (const std::string& o : file_options) {
    if (!a.has(o)) continue;
    const std::string file = a.value(o);
    make_parents(file);
    // Opened without truncating (an existing file keeps its contents until the run writes it);
    // a file this creates stays, empty, if the run then fails.
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT, 0644);
    if (fd < 0) throw isa::InputError(o + " " + file + ": cannot write: " + std::strerror(errno));
    ::close(fd);
  }
}

nlohmann::ordered_json parse_report(const std::string& text, const char* what) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::logic_error(std::string(what) + " is not valid JSON: " + e.what());
  }
}

nlohmann::ordered_json write_run_reports(const Args& a, const RunResult& r, const config::NpuConfig& cfg,
                                         const isa::Program& prog, const std::string& path,
                                         const std::string& precision, const nlohmann::ordered_json& extra) {
  nlohmann::ordered_json j =
      parse_report(stats_json(r, cfg, prog, RunIdentity{path, command_line(), precision}), "stats_json");
  // Energy, power and temperature of this run, from ambient (docs/power.md).
  if (r.ok) {
    arch::ThermalNetwork net(cfg.thermal, cfg.thermal.step_s);
    j["power"] = power_json(power_of_run(cfg, r, net));
  }
  // Compiled models add top-level keys (the fallback ratio, the accuracy of int8 models).
  for (const auto& [key, value] : extra.items()) j[key] = value;
  if (a.has("--stats")) {
    const std::string text = stats::json_text(j);
    write_text_file(a.value("--stats"), text);
    // NPUSIM_STATS_COPY_DIR: every stats.json is also written there, under a name of its own (CI
    // artifact collection; the test suite validates them all against docs/stats.schema.json).
    if (const char* dir = std::getenv("NPUSIM_STATS_COPY_DIR"); dir && *dir) {
      static unsigned copies = 0;
      write_text_file(
          std::string(dir) + "/stats-" + std::to_string(::getpid()) + "-" + std::to_string(copies++) + ".json", text);
    }
  }
  if (a.has("--trace")) write_text_file(a.value("--trace"), r.trace_json);
  if (a.has("--cosim-report")) {  // mxu impl rtl: RTL and analytical cycles per matmul
    std::ostringstream out;
    out << "instruction,m,n,k,a_type,folds,rtl_cycles,analytical_cycles,deviation,mismatches\n";
    for (const auto& c : r.cosim) {
      const double dev = c.model_cycles
                             ? (static_cast<double>(c.analytical_cycles) - static_cast<double>(c.model_cycles)) /
                                   static_cast<double>(c.model_cycles)
                             : 0;
      out << c.index << "," << c.m << "," << c.n << "," << c.k << "," << (c.a_unsigned ? "u8" : "i8") << "," << c.folds
          << "," << c.model_cycles << "," << c.analytical_cycles << "," << dev << "," << c.mismatches << "\n";
    }
    write_text_file(a.value("--cosim-report"), out.str());
    if (r.cosim.empty() && cfg.mxu.impl != "rtl")
      std::fprintf(stderr, "note: --cosim-report lists matmuls run through mxu impl rtl; this config uses '%s'\n",
                   cfg.mxu.impl.c_str());
  }
  return j;
}

std::string host_operator_names(const compiler::CompiledModel& m) {
  std::string host_names;
  for (const auto& h : m.host_ops) host_names += (host_names.empty() ? "\"" : ", \"") + h.node.name + "\"";
  return host_names;
}

nlohmann::ordered_json fallback_json(const compiler::CompiledModel& m, const RunResult& r) {
  nlohmann::ordered_json j;
  j["npu_operators"] = m.operators.size() - m.host_ops.size();
  j["host_operators"] = m.host_ops.size();
  j["host_ratio"] = json_g(m.operators.empty() ? 0.0 : static_cast<double>(m.host_ops.size()) / m.operators.size(), 4);
  j["npu_macs"] = r.macs;
  j["host_macs"] = 0;
  j["host"] = nlohmann::ordered_json::array();
  for (const auto& h : m.host_ops) j["host"].push_back(h.node.name);
  // The host cost model's time (sim/host_cost.h), per host operator run and in all: the device
  // waits for it, so it is part of the run's cycles.
  j["host_modelled_ns"] = json_f(r.host_total_s * 1e9, 3);
  j["host_time_ratio"] = json_g(r.seconds > 0 ? r.host_total_s / r.seconds : 0.0, 4);
  j["host_ops"] = nlohmann::ordered_json::array();
  for (const auto& h : r.host_ops) {
    nlohmann::ordered_json o;
    o["node"] = h.work.node;
    o["operator"] = h.work.op;
    o["elements"] = h.work.elements;
    o["read_bytes"] = h.work.read_bytes;
    o["write_bytes"] = h.work.write_bytes;
    o["ops_per_element"] = json_g(h.work.ops_per_element, 6);
    o["modelled_ns"] = json_f(h.modelled_s * 1e9, 3);
    o["start_ns"] = json_f(h.start_s * 1e9, 3);
    j["host_ops"].push_back(std::move(o));
  }
  return j;
}

nlohmann::ordered_json accuracy_json(const BuiltModel& b, const compiler::TensorValues& inputs,
                                     const compiler::TensorValues& outputs) {
  nlohmann::ordered_json j;
  j["precision"] = "int8";
  j["calibration_samples"] = b.calibration_samples;
  j["quantized_operators"] = b.quantization.quantized.size();
  j["float_operators"] = b.quantization.float_ops.size();
  j["outputs"] = nlohmann::ordered_json::object();
  for (const auto& acc : compiler::compare_to_reference(b.graph, inputs, outputs)) {
    nlohmann::ordered_json o;
    o["max_abs_err"] = json_g(acc.max_abs_err, 6);
    o["mean_abs_err"] = json_g(acc.mean_abs_err, 6);
    o["cosine_similarity"] = json_f(acc.cosine, 8);
    o["top1_agreement"] = json_g(acc.top1, 6);
    o["rows"] = static_cast<long long>(acc.rows);
    j["outputs"][acc.output] = std::move(o);
  }
  return j;
}

}  // namespace npusim::cli
