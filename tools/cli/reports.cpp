// Report files of a run.
#include "tools/cli/reports.h"

#include <cstdio>
#include <fstream>

#include "isa/diag.h"
#include "sim/run_power.h"

namespace npusim::cli {

void write_text_file(const std::string& file, const std::string& text) {
  std::ofstream out(file);
  if (!out) throw isa::InputError(file + ": cannot write");
  out << text;
}

void write_run_reports(const Args& a, const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                       const std::string& path, const std::string& extra_json) {
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

std::string host_operator_names(const compiler::CompiledModel& m) {
  std::string host_names;
  for (const auto& h : m.host_ops) host_names += (host_names.empty() ? "\"" : ", \"") + h.node.name + "\"";
  return host_names;
}

std::string fallback_json(const compiler::CompiledModel& m, const RunResult& r) {
  char fb[512];
  std::snprintf(
      fb, sizeof fb,
      "{\"npu_operators\": %zu, \"host_operators\": %zu, \"host_ratio\": %.4g, \"npu_macs\": %llu, \"host_macs\": 0, "
      "\"host\": [",
      m.operators.size() - m.host_ops.size(), m.host_ops.size(),
      m.operators.empty() ? 0.0 : static_cast<double>(m.host_ops.size()) / m.operators.size(),
      static_cast<unsigned long long>(r.macs));
  return "\"fallback\": " + std::string(fb) + host_operator_names(m) + "]}";
}

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

}  // namespace npusim::cli
