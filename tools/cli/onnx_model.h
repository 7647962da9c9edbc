// An ONNX model as `npusim run` and `npusim compile` build it: imported, optionally quantized after
// training on calibration samples, and compiled for a configuration.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "compiler/compile.h"
#include "compiler/quantize.h"
#include "sim/npu_config.h"
#include "tools/cli/args.h"

namespace npusim::cli {

/// A model as the CLI compiled it: the float graph (the accuracy baseline) and the program.
struct BuiltModel {
  compiler::Graph graph;                   ///< the model as imported (float)
  compiler::CompiledModel m;               ///< what runs
  bool int8 = false;                       ///< post-training quantized (--precision int8)
  compiler::QuantizeSummary quantization;  ///< which nodes became integer operators
  size_t calibration_samples = 0;          ///< samples the ranges came from
};

/// How to build it (the options --precision, --no-fallback, --calibrate, --dim).
struct BuildOptions {
  std::string precision = "fp16";        ///< fp16, bf16 or int8
  bool fallback = true;                  ///< operators without an NPU lowering run on the host
  std::optional<std::string> calibrate;  ///< folder of calibration samples (int8 only, required there)
  std::map<std::string, int64_t> dims;   ///< named dynamic dimensions fixed (--dim NAME=VALUE)
};

/// The build options of a command line (run and compile declare the same ones).
BuildOptions build_options(const Args& a);

/// Imports `path` and compiles it for `cfg`; int8 quantizes it on the calibration samples first.
BuiltModel compile_model(const std::string& path, const config::NpuConfig& cfg, const BuildOptions& o);

}  // namespace npusim::cli
