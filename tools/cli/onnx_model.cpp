// Importing, quantizing and compiling an ONNX model for the CLI.
#include "tools/cli/onnx_model.h"

#include <algorithm>
#include <cstdlib>

#include "tools/cli/args.h"
#include "tools/cli/inputs.h"
#include "tools/workload/workload.h"

namespace npusim::cli {

BuildOptions build_options(const Args& a) {
  BuildOptions o;
  o.precision = a.value("--precision", "fp16");
  o.fallback = !a.flag("--no-fallback");
  if (a.has("--calibrate")) o.calibrate = a.value("--calibrate");
  for (const std::string& d : a.values("--dim")) {
    const auto eq = d.find('=');
    char* end = nullptr;
    const long long v = eq == std::string::npos ? 0 : std::strtoll(d.c_str() + eq + 1, &end, 10);
    if (eq == std::string::npos || eq == 0 || end == d.c_str() + eq + 1 || *end || v < 1 || v > (1ll << 31))
      throw UsageError("--dim expects NAME=VALUE with VALUE from 1 to 2^31 (e.g. --dim batch=1), got '" + d + "'");
    if (!o.dims.emplace(d.substr(0, eq), v).second) throw UsageError("--dim " + d.substr(0, eq) + " is given twice");
  }
  return o;
}

BuiltModel compile_model(const std::string& path, const config::NpuConfig& cfg, const BuildOptions& bo) {
  BuiltModel b;
  compiler::ImportOptions io;
  io.dims = bo.dims;
  b.graph = compiler::import_onnx(path, io);
  compiler::CompileOptions o;
  o.precision = bo.precision;
  o.fallback = bo.fallback;
  if (o.precision == "int8") {
    // Post-training quantization: ranges from the float reference on the calibration samples;
    // operators left in float run in fp16.
    if (!bo.calibrate) throw UsageError("--precision int8 needs --calibrate DIR (sample inputs as .npy)");
    const auto samples = load_calibration(*bo.calibrate, b.graph);
    const compiler::Calibration cal = compiler::calibrate(b.graph, samples);
    const auto& dt = cfg.mxu.dtypes;  // uint8 activations need the u8 x i8 mode; else int8
    const bool signed_act = std::find(dt.begin(), dt.end(), "u8") == dt.end();
    b.m = compiler::compile(compiler::quantize_graph(b.graph, cal, &b.quantization, signed_act), target_info(cfg),
                            compiler::CompileOptions{"fp16", o.fallback});
    b.int8 = true;
    b.calibration_samples = cal.samples;
    return b;
  }
  if (bo.calibrate) throw UsageError("--calibrate applies to --precision int8");
  b.m = compiler::compile(b.graph, target_info(cfg), o);
  return b;
}

}  // namespace npusim::cli
