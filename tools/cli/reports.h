// What a run writes besides its summary: stats.json (with power, and the fallback and accuracy of
// compiled models), the trace and the co-simulation report.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compiler/reference.h"
#include "isa/program.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/cli/args.h"
#include "tools/cli/onnx_model.h"

namespace npusim::cli {

/// Writes `text` to `file`, creating its parent folders; an input error naming the file and the
/// OS's reason when it cannot.
void write_text_file(const std::string& file, const std::string& text);
/// Creates `dir` and its parents (mkdir -p); an input error naming it and the OS's reason when
/// it cannot, or when it is not a writable folder.
void make_output_dir(const std::string& dir);
/// Checks, before a simulation, that every output file and folder `a` names can be written
/// (--stats, --trace, --output-dir, ...): parents are created, and a file that cannot be opened
/// for writing is an input error naming it and the reason, before any time is spent.
void check_output_paths(const Args& a, const std::vector<std::string>& file_options,
                        const std::vector<std::string>& dir_options);

/// `text`, JSON that a lower floor wrote as text (stats_json), as a tree to
/// extend; `what` names it if it is not JSON (a bug there).
nlohmann::ordered_json parse_report(const std::string& text, const char* what);

/// The files of one run that `a` asks for: --stats (stats.json; its power from ambient, and the
/// members of `extra`, an object), --trace and --cosim-report.
/// `precision` is a compiled model's --precision ("" for programs: derived from the program).
/// Returns the stats.json tree (written or not), for expectations.
nlohmann::ordered_json write_run_reports(const Args& a, const RunResult& r, const config::NpuConfig& cfg,
                                         const isa::Program& prog, const std::string& path,
                                         const std::string& precision = "",
                                         const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());

/// The names of the host operators of `m`, quoted and comma-separated.
std::string host_operator_names(const compiler::CompiledModel& m);

/// The "fallback" stats entry: operators (and their MACs) on the host vs on the NPU.
nlohmann::ordered_json fallback_json(const compiler::CompiledModel& m, const RunResult& r);

/// The "accuracy" stats entry: each output against the float reference.
nlohmann::ordered_json accuracy_json(const BuiltModel& b, const compiler::TensorValues& inputs,
                                     const compiler::TensorValues& outputs);

}  // namespace npusim::cli
