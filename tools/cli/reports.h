// What a run writes besides its summary: stats.json (with power, and the fallback and accuracy of
// compiled models), the trace and the co-simulation report.
#pragma once

#include <string>

#include "compiler/reference.h"
#include "isa/program.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/cli/args.h"
#include "tools/cli/onnx_model.h"

namespace npusim::cli {

/// Writes `text` to `file` (an input error when it cannot).
void write_text_file(const std::string& file, const std::string& text);

/// The files of one run that `a` asks for: --stats (stats.json; its power from ambient, and
/// `extra_json` members), --trace and --cosim-report.
void write_run_reports(const Args& a, const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                       const std::string& path, const std::string& extra_json = "");

/// The names of the host operators of `m`, quoted and comma-separated.
std::string host_operator_names(const compiler::CompiledModel& m);

/// The "fallback" stats entry: operators (and their MACs) on the host vs on the NPU.
std::string fallback_json(const compiler::CompiledModel& m, const RunResult& r);

/// The "accuracy" stats entry: each output against the float reference.
std::string accuracy_json(const BuiltModel& b, const compiler::TensorValues& inputs,
                          const compiler::TensorValues& outputs);

}  // namespace npusim::cli
