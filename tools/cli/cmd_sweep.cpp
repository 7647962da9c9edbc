// `npusim sweep` (design points x workloads on a process pool, tools/sweep/sweep.h) and
// `npusim sweep-point` (one of its points, run by the pool or an external executor).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "base/units.h"
#include "isa/diag.h"
#include "sim/npu_config.h"
#include "tools/cli/command.h"
#include "tools/sweep/sweep.h"
#include "tools/workload/workload.h"

namespace npusim::cli {
namespace {

int cmd_sweep(const Args& a) {
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

/// Writes the evaluation JSON to --out atomically (a temporary file renamed).
int cmd_sweep_point(const Args& a) {
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

const bool registered_sweep = register_command({
    "sweep",
    30,
    "design-space sweep: configs x workloads on a process pool, cached, Pareto front",
    "usage: npusim sweep SWEEP.yaml [-j N] [--no-cache] [--plot] [--plan PLAN.json] [--quiet]\n"
    "                    [--point-timeout T]\n",
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
    {
        valued("-j", "N", "point processes at a time (default: all cores)"),
        flag("--no-cache", "rerun every point, cached or not"),
        flag("--plot", "draw OUTPUT/pareto.png (scripts/plot_sweep.py)"),
        valued("--plan", "PLAN.json", "write the uncached jobs for an external executor instead of running them"),
        flag("--quiet", "no progress and no closing line"),
        valued("--point-timeout", "T", "kill a point that runs longer than T (e.g. 10min); it is marked failed"),
    },
    "",
    cmd_sweep,
});

const bool registered_sweep_point = register_command({
    "sweep-point",
    40,
    "one point of a sweep (used by npusim sweep and external executors)",
    "usage: npusim sweep-point --config C.yaml --workload W --out RESULT.json [--precision P]\n"
    "                          [--ideal-memory]\n",
    "",
    {
        valued("--config", "C.yaml", "the design point's configuration"),
        valued("--workload", "W", "the workload (.onnx, .npub, .npus or a topology .csv)"),
        valued("--out", "RESULT.json", "where the evaluation goes (written atomically)"),
        valued("--precision", "P", "(.onnx) fp16 (default) or bf16"),
        flag("--ideal-memory", "(layer lists) stall-free memory"),
    },
    "",
    cmd_sweep_point,
});

}  // namespace
}  // namespace npusim::cli
