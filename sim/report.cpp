// stats.json and the human summary of a run.
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

}  // namespace

std::string stats_json(const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog,
                       const std::string& program_name) {
  std::ostringstream os;
  char hash[24];
  std::snprintf(hash, sizeof hash, "0x%016llx", static_cast<unsigned long long>(cfg.hash()));
  os << "{\n  \"program\": " << json_string(program_name) << ",\n  \"config\": {\"name\": " << json_string(cfg.name)
     << ", \"file\": " << json_string(cfg.source) << ", \"hash\": \"" << hash
     << "\", \"clock_hz\": " << num(cfg.clock_hz) << "},\n";
  os << "  \"status\": " << json_string(r.ok ? "ok" : arch::fault_name(r.fault_code)) << ",\n";
  if (!r.ok) os << "  \"fault\": " << json_string(r.fault_message) << ",\n";
  os << "  \"total_cycles\": " << r.total_cycles << ",\n  \"seconds\": " << num(r.seconds)
     << ",\n  \"instructions\": " << prog.text.size() << ",\n  \"macs\": " << r.macs
     << ",\n  \"mxu_utilization\": " << num(r.mxu_utilization) << ",\n  \"engines\": {\n";
  for (int e = 0; e < isa::kEngineCount; ++e) {
    const auto& s = r.engines[e];
    os << "    " << json_string(isa::engine_name(static_cast<isa::Engine>(e)))
       << ": {\"instructions\": " << s.instructions << ", \"busy_cycles\": " << s.busy_cycles
       << ", \"sem_wait_cycles\": " << s.sem_wait_cycles << ", \"mem_stall_cycles\": " << s.mem_stall_cycles
       << ", \"utilization\": " << num(r.total_cycles ? static_cast<double>(s.busy_cycles) / r.total_cycles : 0) << "}"
       << (e + 1 < isa::kEngineCount ? ",\n" : "\n");
  }
  const double secs = r.seconds > 0 ? r.seconds : 1;
  const uint64_t dram_bytes = r.dram.bytes_read + r.dram.bytes_written;
  os << "  },\n  \"memory\": {\n    \"dram\": {\"impl\": " << json_string(cfg.dram.impl)
     << ", \"bytes_read\": " << r.dram.bytes_read << ", \"bytes_written\": " << r.dram.bytes_written
     << ", \"bandwidth_bytes_per_s\": " << num(dram_bytes / secs)
     << ", \"peak_bytes_per_s\": " << num(r.dram_peak_bandwidth)
     << ", \"bandwidth_utilization\": " << num(dram_bytes / secs / r.dram_peak_bandwidth)
     << ", \"row_hits\": " << r.dram.row_hits << ", \"row_misses\": " << r.dram.row_misses
     << ", \"row_empty\": " << r.dram.row_empty << ", \"refresh_stalls\": " << r.dram.refreshes << "},\n";
  os << "    \"scratchpad\": {\"impl\": " << json_string(cfg.spad.impl) << ", \"accesses\": " << r.spad_accesses
     << ", \"bytes\": " << r.spad_bytes << ", \"bandwidth_bytes_per_s\": " << num(r.spad_bytes / secs)
     << ", \"bank_conflict_cycles\": " << r.spad_conflict_cycles << "},\n";
  os << "    \"accumulator\": {\"impl\": " << json_string(cfg.acc.impl) << ", \"accesses\": " << r.acc_accesses
     << ", \"bytes\": " << r.acc_bytes << ", \"bandwidth_bytes_per_s\": " << num(r.acc_bytes / secs)
     << ", \"bank_conflict_cycles\": " << r.acc_conflict_cycles << "}\n  },\n";
  os << "  \"operators\": {";
  for (size_t i = 0; i < r.marker_cycles.size(); ++i)
    os << (i ? ", " : "") << json_string(r.marker_cycles[i].first) << ": {\"cycles\": " << r.marker_cycles[i].second
       << "}";
  os << "}\n}\n";
  return os.str();
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
