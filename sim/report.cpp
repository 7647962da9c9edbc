// stats.json (from the statistics tree), the list of every statistic, and the human summary of a run.
#include <cstdio>
#include <sstream>

#include "base/text.h"
#include "base/units.h"
#include "sim/simulator.h"

namespace npusim {
namespace {

std::string num(double v) {  // this output's precision
  return format_g(v, 6);
}

/// stats.json: its header (what ran, on what, how it ended), then what the model counted.
void declare_report(stats::Group& root, const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                    const std::string& program_name) {
  root.counter(
      "stats_version", [] { return kStatsVersion; }, "",
      "layout of this file: bumped when a key is renamed, moved or removed");
  root.text(
      "program", [&program_name] { return program_name; }, "the program (or model) file that ran");
  stats::Group& c = root.group("config", "the NPU configuration");
  c.text(
      "name", [&cfg] { return cfg.name; }, "its name");
  c.text(
      "file", [&cfg] { return cfg.source; }, "the file it was loaded from");
  c.text(
      "hash",
      [&cfg] {
        char hash[24];
        std::snprintf(hash, sizeof hash, "0x%016llx", static_cast<unsigned long long>(cfg.hash()));
        return std::string(hash);
      },
      "the design point's hash (.target hash=, CONFIG_HASH)");
  c.value("clock_hz", cfg.clock_hz, "Hz", "NPU clock");
  root.text(
      "status", [&r] { return std::string(r.ok ? "ok" : arch::fault_name(r.fault_code)); },
      "ok, or the fault class (BUS_ERROR, DEADLOCK, WATCHDOG, ...)");
  root.text(
      "fault", [&r] { return r.fault_message; }, "the fault message (only when the run faulted)",
      [&r] { return !r.ok; });
  declare_run_stats(root, r, cfg, prog);
}

}  // namespace

std::string stats_json(const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                       const std::string& program_name) {
  stats::Group root;
  declare_report(root, r, cfg, prog, program_name);
  return stats::json_text(root);
}

std::string stats_reference() {
  const RunResult r;
  const config::NpuConfig cfg;
  const isa::Program prog;
  stats::Group root;  // declared over an empty run: listed, never written
  declare_report(root, r, cfg, prog, "");
  return stats::reference_text(root.entries());
}

std::string run_summary(const RunResult& r, const config::NpuConfig& cfg) {
  std::ostringstream os;
  os << (r.ok ? "finished" : "FAULT") << " on " << cfg.name << " ("
     << r.engines[0].instructions + r.engines[1].instructions + r.engines[2].instructions + r.engines[3].instructions +
            r.engines[4].instructions
     << " instructions): " << r.total_cycles << " cycles, " << config::time_text(r.seconds) << " at "
     << config::frequency_text(cfg.clock_hz) << "\n";
  os << "  MXU: " << r.macs << " MACs, utilization " << num(100 * r.mxu_utilization) << "%\n";
  os << "  DRAM: " << r.dram.bytes_read << " B read, " << r.dram.bytes_written << " B written";
  if (r.seconds > 0)
    os << ", " << config::bandwidth_text((r.dram.bytes_read + r.dram.bytes_written) / r.seconds) << " of "
       << config::bandwidth_text(r.dram_peak_bandwidth);
  os << "\n  engine   instr    busy  sem-wait  mem-stall\n";
  for (int e = 0; e < isa::kEngineCount; ++e) {
    const auto& s = r.engines[e];
    char b[128];
    std::snprintf(b, sizeof b, "  %-6s %7llu %7llu %9llu %10llu\n", isa::engine_name(static_cast<isa::Engine>(e)),
                  static_cast<unsigned long long>(s.instructions), static_cast<unsigned long long>(s.busy_cycles),
                  static_cast<unsigned long long>(s.sem_wait_cycles),
                  static_cast<unsigned long long>(s.mem_stall_cycles));
    os << b;
  }
  for (const auto& [name, cycles] : r.marker_cycles) os << "  operator " << name << ": " << cycles << " cycles\n";
  if (!r.ok) os << r.fault_message << "\n";
  return os.str();
}

}  // namespace npusim
