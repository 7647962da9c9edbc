// stats.json (from the statistics tree), the list of every statistic, and the human summary of a run.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/schema.h"
#include "base/text.h"
#include "base/units.h"
#include "base/version.h"
#include "isa/npub.h"
#include "isa/spec.h"
#include "sim/simulator.h"

namespace npusim {
namespace {

std::string num(double v) {  // this output's precision
  return format_g(v, 6);
}

/// The MXU element types `prog` uses (its target's dtype mask), joined by '+' ("none" for none).
std::string program_precision(const isa::Program& prog) {
  static const char* const kNames[] = {"int8", "uint8", "fp16", "bf16"};  // mask bits 0..3 (npub-format.md)
  std::string s;
  for (int b = 0; b < 4; ++b)
    if (prog.target.dtype_mask & (1u << b)) s += (s.empty() ? "" : "+") + std::string(kNames[b]);
  return s.empty() ? "none" : s;
}

/// stats.json: its header (what ran, on what, with which build, how it ended), then what the
/// model counted.
void declare_report(stats::Group& root, const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                    const RunIdentity& id) {
  root.counter(
      "stats_version", [] { return kStatsVersion; }, "",
      "layout of this file: bumped when a key is renamed, moved or removed");
  root.counter(
      "schema_version", [] { return kStatsVersion; }, "",
      "the JSON Schema this file validates against (docs/stats.schema.json, its $id): equals stats_version");
  root.text(
      "npusim_version", [] { return std::string(kVersion); }, "the simulator's version (npusim --version)");
  root.text(
      "isa_version",
      [] { return std::to_string(isa::spec().version_major) + "." + std::to_string(isa::spec().version_minor); },
      "the ISA version of this build (isa/isa.yaml)");
  root.text(
      "program", [&id] { return id.program_name; }, "the program (or model) file that ran");
  root.text(
      "program_hash", [&prog] { return program_hash(prog); },
      "FNV-1a 64 of the program's .npub image (the compiled program for a model)");
  root.text(
      "precision", [&id, &prog] { return id.precision.empty() ? program_precision(prog) : id.precision; },
      "a model's --precision (fp16, bf16, int8); for a program, the MXU types it uses (int8+fp16, none ...)");
  root.text(
      "command_line", [&id] { return id.command_line; }, "the command that ran it (\"\" outside the CLI)");
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
      "content hash of every declared parameter (.target hash=, CONFIG_HASH): file layout and key order aside");
  c.value("clock_hz", cfg.clock_hz, "Hz", "NPU clock");
  root.text(
      "status", [&r] { return std::string(r.ok ? "ok" : arch::fault_name(r.fault_code)); },
      "ok, or the fault class (BUS_ERROR, DEADLOCK, WATCHDOG, ...)");
  stats::Group& f = root.group("fault", "the fault (only when the run faulted)", [&r] { return !r.ok; });
  f.text(
      "code", [&r] { return std::string(arch::fault_name(r.fault_code)); }, "the fault class, as status");
  f.text(
      "engine", [&r] { return std::string(isa::engine_name(r.fault_engine)); },
      "the engine of the instruction to blame (ctrl for a whole-device fault)");
  f.counter(
      "has_instruction", [&r] { return static_cast<uint64_t>(r.fault_index >= 0); }, "",
      "1 when an instruction is to blame (instruction holds its index), else 0");
  f.counter(
      "instruction", [&r] { return static_cast<uint64_t>(std::max<int64_t>(0, r.fault_index)); }, "",
      "the index of the instruction to blame (0 when has_instruction is 0)");
  f.text(
      "region",
      [&r, &prog] {
        return r.fault_region >= 0 && static_cast<size_t>(r.fault_region) < prog.regions.size()
                   ? prog.regions[r.fault_region].name
                   : std::string();
      },
      "the region of the access to blame (\"\" when none)");
  f.counter(
      "address", [&r] { return r.fault_region >= 0 ? r.fault_offset : 0; }, "bytes",
      "the access's byte offset in that region (0 when none)");
  f.text(
      "message", [&r] { return r.fault_message; }, "the full message (instruction, engine, every engine's state)");
  declare_run_stats(root, r, cfg, prog);
}

}  // namespace

std::string program_hash(const isa::Program& prog) {
  const std::vector<uint8_t> image = isa::write_npub(prog);
  return config::fnv1a64_hex(std::string(image.begin(), image.end()));
}

std::string stats_json(const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                       const RunIdentity& id) {
  stats::Group root;
  declare_report(root, r, cfg, prog, id);
  return stats::json_text(root);
}

std::string stats_json(const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                       const std::string& program_name) {
  return stats_json(r, cfg, prog, RunIdentity{program_name, "", ""});
}

namespace {

/// Every statistic, declared over an empty run: listed, never written.
std::vector<stats::Entry> report_entries() {
  const RunResult r;
  const config::NpuConfig cfg;
  const isa::Program prog;
  stats::Group root;
  declare_report(root, r, cfg, prog, RunIdentity{});
  return root.entries();
}

}  // namespace

std::string stats_reference() {
  return stats::reference_text(report_entries());
}

std::string stats_schema() {
  const std::string id = "https://npusim.dev/schema/stats-v" + std::to_string(kStatsVersion) + ".json";
  return stats::json_text(stats::json_schema(
      report_entries(), id, "npusim stats.json (npusim run --stats), layout version " + std::to_string(kStatsVersion),
      {{"power", "energy, power and temperature of the run (docs/power.md); absent when the run faulted"},
       {"fallback", "compiled models: operators and time on the host (docs/compiler.md)"},
       {"accuracy", "int8 models: each output against the float reference (docs/compiler.md)"}}));
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
