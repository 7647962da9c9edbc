// `npusim run`: a program (.npub, .npus) or an ONNX model on a configured NPU, once, back to back
// under the thermal model (--repeat, --duration), or a SCALE-Sim layer list (--topology).
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/stats.h"
#include "base/units.h"
#include "isa/diag.h"
#include "npusim/regs.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/cli/command.h"
#include "tools/cli/expect.h"
#include "tools/cli/inputs.h"
#include "tools/cli/onnx_model.h"
#include "tools/cli/reports.h"
#include "tools/device/server.h"
#include "tools/longrun/long_run.h"
#include "tools/topology/topology.h"
#include "tools/workload/npy.h"
#include "tools/workload/workload.h"

namespace npusim::cli {
namespace {

/// --random-inputs SEED, when given.
std::optional<uint64_t> random_seed(const Args& a) {
  if (!a.has("--random-inputs")) return std::nullopt;
  return a.number("--random-inputs", 0);
}

bool long_run_requested(const Args& a) {
  return a.has("--repeat") || a.has("--duration");
}

/// `--repeat N` / `--duration T`: the program back to back under the thermal model and the
/// governor (tools/longrun/long_run.h); each clock the governor picks is simulated once, in a child process.
int run_long_mode(const Args& a, const config::NpuConfig& cfg, const isa::Program& prog, const DeviceInputs& inputs) {
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
  if (a.has("--power-csv")) write_text_file(a.value("--power-csv"), long_run_csv(r));
  if (a.has("--trace")) write_text_file(a.value("--trace"), long_run_trace(r));
  if (a.has("--stats")) {
    nlohmann::ordered_json report;
    report["config"] = cfg.name;
    report["wall_s"] = json_f(wall, 6);
    report["long_run"] = long_run_json(r);
    write_text_file(a.value("--stats"), stats::json_text(report));
  }
  if (!a.flag("--quiet") || r.critical) {
    const auto& l = r.latencies_s;
    char buf[1024];
    std::snprintf(
        buf, sizeof buf,
        "long run on %s: %llu inferences in %.6g s simulated (%.3g s wall, %zu clock(s) simulated)\n"
        "  energy %.6g J (%.6g J per inference), average %.4g W, hottest node %.4g C\n"
        "  latency first %.6g s, last %.6g s; %zu clock change(s)\n",
        cfg.name.c_str(), static_cast<unsigned long long>(r.inferences), r.seconds, wall, r.simulated_hz.size(),
        arch::total(r.energy), r.inferences ? arch::total(r.energy) / static_cast<double>(r.inferences) : 0.0,
        r.seconds > 0 ? arch::total(r.energy) / r.seconds : 0.0, r.max_temp_c, l.front(), l.back(), r.events.size());
    std::fputs(buf, stdout);
    if (r.critical) std::fprintf(stderr, "%s\n", r.fault.c_str());
  }
  return r.critical ? kExitFault : kExitOk;
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

/// The simulation options a single run takes from the command line.
RunOptions run_options(const Args& a) {
  RunOptions opts;
  opts.timing_only = a.flag("--timing-only");
  opts.watchdog_cycles = a.number("--watchdog-cycles", opts.watchdog_cycles);
  opts.trace = a.has("--trace");
  if (a.has("--max-memory") &&
      (!config::parse_bytes(a.value("--max-memory"), opts.max_memory_bytes) || opts.max_memory_bytes == 0))
    throw UsageError("--max-memory expects a size such as 4GiB, got '" + a.value("--max-memory") + "'");
  return opts;
}

/// The files a single run writes, checked (and their folders created) before it simulates.
void check_run_outputs(const Args& a) {
  check_output_paths(a, {"--stats", "--trace", "--cosim-report", "--junit", "--record-expect"}, {"--output-dir"});
}

/// --expect, read (strictly) before the simulation so that a bad file costs no run.
std::optional<Expectations> expectations_before_run(const Args& a) {
  check_run_outputs(a);
  if (!a.has("--expect")) return std::nullopt;
  return load_expectations(a.value("--expect"));
}

/// After a single run: --output-dir, the reports, the summary, then --expect (the diff, exit 1
/// when an expectation fails), --junit and --record-expect. Returns the exit code.
int finish_run(const Args& a, const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
               const std::string& path, const std::string& precision, const nlohmann::ordered_json& extra,
               const std::map<std::string, NpyArray>& outputs, const std::string& summary,
               const std::optional<Expectations>& expect, std::chrono::steady_clock::time_point t0) {
  if (a.has("--output-dir"))
    for (const auto& [name, arr] : outputs) write_npy(a.value("--output-dir") + "/" + name + ".npy", arr);
  const nlohmann::ordered_json stats = write_run_reports(a, r, cfg, prog, path, precision, extra);
  // The summary goes to stdout; a fault's also to stderr, so that it shows where errors are read.
  if (!a.flag("--quiet") || !r.ok) std::fputs(summary.c_str(), r.ok ? stdout : stderr);
  bool passed = r.ok;
  if (expect || a.has("--junit")) {
    // The fault's first line names its class, instruction and engine ("BUS_ERROR: instruction #3 ...").
    const std::string fault = r.ok ? "" : r.fault_message.substr(0, r.fault_message.find('\n'));
    std::vector<Check> checks = expect ? check_expectations(*expect, r.ok, fault, stats, outputs)
                                       : std::vector<Check>{{"run", r.ok, r.ok ? "finished" : "FAULT " + fault}};
    for (const Check& c : checks) passed = passed && c.passed;
    if (expect && (!a.flag("--quiet") || !passed))
      std::fputs(("expectations " + a.value("--expect") + ":\n" + checks_text(checks)).c_str(),
                 passed ? stdout : stderr);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (a.has("--junit")) write_text_file(a.value("--junit"), junit_xml("npusim run " + path, checks, wall));
  }
  if (a.has("--record-expect")) {
    if (!r.ok) throw isa::InputError("--record-expect: the run faulted: nothing to record");
    record_expectations(a.value("--record-expect"), stats, outputs, 0.0);
  }
  return passed ? kExitOk : kExitFault;
}

int run_onnx(const Args& a, const config::NpuConfig& cfg, const std::string& path) {
  const BuiltModel built = compile_model(path, cfg, build_options(a));
  const compiler::CompiledModel& m = built.m;
  compiler::TensorValues ref_inputs;  // the float inputs, for the accuracy report
  // Timing needs no data (as for programs): a timing-only or long run fills inputs not given with
  // random data (seed 0) instead of refusing them.
  std::optional<uint64_t> seed = random_seed(a);
  if (!seed && (a.flag("--timing-only") || long_run_requested(a))) seed = 0;
  const DeviceInputs inputs =
      model_inputs(m, built.graph, a.values("--input"), seed, built.int8 ? &ref_inputs : nullptr);
  if (long_run_requested(a)) return run_long_mode(a, cfg, m.program, inputs);
  RunOptions opts = run_options(a);
  use_host_fallback(opts, m);
  const std::optional<Expectations> expect = expectations_before_run(a);
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = simulate(with_run_faults(a, cfg, opts), m.program, inputs, opts);
  std::map<std::string, NpyArray> outputs;  // floats leave as float32, integers in their own type
  if (r.ok && !opts.timing_only)
    for (const auto& b : m.outputs)
      outputs[b.io_name] = device_to_host(b, io_entry(m.program, b.io_name), r.outputs.at(b.io_name));
  nlohmann::ordered_json extra;
  extra["fallback"] = fallback_json(m, r);
  if (built.int8 && r.ok && !opts.timing_only) {
    compiler::TensorValues outs;
    for (const auto& b : m.outputs)
      outs[b.onnx_name] = output_values(b, io_entry(m.program, b.io_name), r.outputs.at(b.io_name));
    extra["accuracy"] = accuracy_json(built, ref_inputs, outs);
  }
  std::string summary = run_summary(r, cfg);
  if (!m.host_ops.empty())
    summary += "  fallback: " + std::to_string(m.host_ops.size()) + " of " + std::to_string(m.operators.size()) +
               " operators ran on the host (" + host_operator_names(m) + "), modelled " +
               config::time_text(r.host_total_s) + " of host time\n";
  return finish_run(a, r, cfg, m.program, path, build_options(a).precision, extra, outputs, summary, expect, t0);
}

/// Loads --config: an npusim YAML, or a SCALE-Sim .cfg (with its layer memory, and its notes on
/// keys that do not apply when `notes` is given).
config::NpuConfig load_any_config(const std::string& path, topology::LayerMemory* mem,
                                  std::vector<std::string>* notes = nullptr) {
  if (ends_with(path, ".cfg")) {
    topology::LayerMemory m;
    config::NpuConfig cfg = topology::load_scalesim_cfg(path, m, nullptr, notes);
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
  std::vector<std::string> notes;  // SCALE-Sim settings and columns that do not apply, said once each
  const config::NpuConfig cfg = load_any_config(a.value("--config"), &mem, &notes);
  if (a.flag("--ideal-memory")) mem.ideal = true;
  const std::string f = a.value("--topology-format", "auto");
  if (f != "auto" && f != "conv" && f != "gemm") throw UsageError("--topology-format expects auto, conv or gemm");
  const auto t0 = std::chrono::steady_clock::now();
  const auto layers = topology::load_topology(a.value("--topology"),
                                              f == "conv"   ? topology::Format::Conv
                                              : f == "gemm" ? topology::Format::Gemm
                                                            : topology::Format::Auto,
                                              &notes);
  if (!a.flag("--quiet"))
    for (const auto& n : notes) std::fprintf(stderr, "note: %s\n", n.c_str());
  const auto rs = topology::run_layers(cfg, mem, layers);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.has("--stats")) write_text_file(a.value("--stats"), topology::topology_json(cfg, mem, rs));
  if (a.has("--report-dir")) {
    const std::string dir = a.value("--report-dir");
    make_output_dir(dir);
    write_text_file(dir + "/COMPUTE_REPORT.csv", topology::compute_report_csv(rs));
    write_text_file(dir + "/BANDWIDTH_REPORT.csv", topology::bandwidth_report_csv(rs));
    write_text_file(dir + "/DETAILED_ACCESS_REPORT.csv", topology::access_report_csv(rs));
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

int cmd_run(const Args& a) {
  for (const char* o : {"--expect", "--junit", "--record-expect"})
    if (a.has(o) && (a.has("--topology") || long_run_requested(a)))
      throw UsageError(std::string(o) +
                       " applies to a single run of a program or model (not --topology, --repeat or "
                       "--duration)");
  if (a.has("--topology")) return run_topology(a);
  for (const char* o : {"--sample-interval", "--power-csv"})
    if (a.has(o) && !long_run_requested(a))
      throw UsageError(std::string(o) + " applies to long runs (--repeat or --duration)");
  if (a.has("--fault") && long_run_requested(a))
    throw UsageError("--fault applies to a single run, not to --repeat or --duration");
  if (a.positional().size() != 1) throw UsageError("run needs exactly one program (.npub, .npus or .onnx)");
  if (!a.has("--config")) throw UsageError("run needs --config CONFIG.yaml (e.g. configs/edge.yaml)");
  const std::string path = a.positional()[0];
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  if (ends_with(path, ".onnx")) return run_onnx(a, cfg, path);
  const isa::Program prog = load_program(path);
  RunOptions opts = run_options(a);
  const auto inputs = program_inputs(prog, a.values("--input"), random_seed(a));
  const config::NpuConfig run_cfg = with_run_faults(a, cfg, opts);
  if (long_run_requested(a)) return run_long_mode(a, cfg, prog, inputs);
  if (!opts.timing_only)  // timing (and a long run's profiles) needs no data
    for (const auto& io : prog.io)
      if (prog.regions[io.region].role == isa::RegionRole::Input && !inputs.count(io.name))
        throw isa::InputError(path + ": input tensor '" + io.name + "' has no data: give --input " + io.name +
                              "=FILE.npy, --random-inputs SEED, or run --timing-only");
  const std::optional<Expectations> expect = expectations_before_run(a);
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = simulate(run_cfg, prog, inputs, opts);
  std::map<std::string, NpyArray> outputs;  // as the IO table records them (float32 NCHW ...), else device format
  if (r.ok && !opts.timing_only)
    for (const auto& io : prog.io) {
      auto it = r.outputs.find(io.name);
      if (it != r.outputs.end()) outputs[io.name] = program_output_array(io, it->second);
    }
  return finish_run(a, r, cfg, prog, path, "", nlohmann::ordered_json::object(), outputs, run_summary(r, cfg), expect,
                    t0);
}

const bool registered = register_command({
    "run",
    10,
    "run a program on a configured NPU (exact outputs, cycles, stats, trace)",
    "usage: npusim run --config CONFIG.yaml PROGRAM.(npub|npus|onnx) [options]\n"
    "       npusim run --topology LAYERS.csv --config CONFIG.(yaml|cfg) [--ideal-memory]\n"
    "                  [--topology-format auto|conv|gemm] [--report-dir DIR] [--stats FILE]\n",
    "Runs PROGRAM on the NPU that CONFIG describes, in SystemC, at tile level: exact outputs,\n"
    "deterministic cycles. A .npus program is assembled first; an .onnx model is compiled first\n"
    "(see npusim compile; --precision applies) and its float32 inputs and outputs are converted\n"
    "to and from the device type by the host.\n",
    {
        valued("--config", "CONFIG.yaml", "the NPU (a SCALE-Sim .cfg also, with --topology)"),
        repeated("--input", "NAME=FILE.npy",
                 "data of input tensor NAME (repeat per input; dtype and shape must match)"),
        valued("--random-inputs", "SEED", "deterministic random data for inputs not given with --input"),
        valued("--output-dir", "DIR", "write each output tensor as DIR/<name>.npy"),
        valued("--stats", "FILE", "statistics as JSON (cycles, utilization, per engine, memory, operators)"),
        valued("--trace", "FILE", "Chrome/Perfetto trace JSON (open in ui.perfetto.dev)"),
        flag("--timing-only", "skip the arithmetic: same cycles, no outputs, no input data needed"),
        valued("--max-memory", "BYTES",
               "host memory a functional run may allocate for SRAMs and regions (default 1GiB)"),
        valued("--watchdog-cycles", "N", "fault with WATCHDOG if the program has not finished after N cycles"),
        repeated("--fault", "TYPE[:insn=N][:factor=N]",
                 "inject a fault (device fault-injection names): bus_error, ecc\n"
                 "or hang_engine at instruction N, or slow_dram (bandwidth / factor);\n"
                 "the run then exits 1 with the device's error"),
        flag("--quiet", "no summary unless the run faults (or an expectation fails)"),
        valued("--expect", "EXPECT.yaml",
               "check the run against expectations: output tolerances, bands on cycles,\n"
               "latency, energy and operators, a fallback policy (exit 1 with the diff)"),
        valued("--junit", "FILE", "JUnit XML: one test case per expectation (the run alone without --expect)"),
        valued("--record-expect", "EXPECT.yaml",
               "write expectations from this run (outputs as EXPECT.<name>.npy beside it)"),
        flag("--no-fallback", "(.onnx) operators without an NPU lowering are errors, not host kernels"),
        valued("--precision", "P", "(.onnx) fp16 (default), bf16, or int8 (post-training quantization)"),
        repeated("--dim", "NAME=VALUE", "(.onnx) fix the model's dynamic dimension NAME (batch, sequence ...)"),
        valued("--calibrate", "DIR",
               "(.onnx, int8) calibration samples: every DIR/*.npy is one input sample;\n"
               "stats.json then reports the accuracy against the float reference"),
        valued("--repeat", "N", "run N times back to back under the thermal model and governor"),
        valued("--duration", "T", "run back to back for T of simulated time (e.g. 300s)"),
        valued("--power-csv", "FILE", "(long runs) time series: power, temperatures, clock, throttle level"),
        valued("--sample-interval", "T", "(long runs) time-series interval (default: thermal step, <= 20000 rows)"),
        valued("--cosim-report", "FILE", "(mxu impl rtl) CSV of RTL and analytical cycles per matmul"),
        valued("--topology", "LAYERS.csv", "run a SCALE-Sim layer list instead of a program (below)"),
        valued("--topology-format", "auto|conv|gemm", "(--topology) the layer list's form (default auto)"),
        valued("--report-dir", "DIR",
               "(--topology) write SCALE-Sim's COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv\n"
               "and DETAILED_ACCESS_REPORT.csv there"),
        flag("--ideal-memory", "(--topology) no DRAM stalls: compute and SRAM only"),
    },
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
    cmd_run,
});

}  // namespace
}  // namespace npusim::cli
