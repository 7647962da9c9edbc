#include "sim/workload.h"

#include "arch/thermal.h"
#include "compiler/graph.h"
#include "isa/assembler.h"
#include "isa/diag.h"
#include "isa/npub.h"
#include "sim/power.h"
#include "sim/topology.h"

namespace npusim {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

compiler::TargetInfo target_info(const config::NpuConfig& c) {
  compiler::TargetInfo t;
  t.line_bytes = c.spad.line_bytes;
  t.mxu_rows = c.mxu.rows;
  t.mxu_cols = c.mxu.cols;
  t.spad_bytes = c.spad.size_bytes;
  t.acc_bytes = c.acc.size_bytes;
  t.mxu_dtypes = c.mxu.dtypes;
  return t;
}

isa::Program load_program(const std::string& path) {
  if (ends_with(path, ".npus")) return isa::assemble_file(path).program;
  return isa::load_npub_file(path);
}

RunResult timing_run(const config::NpuConfig& cfg, const isa::Program& prog) {
  std::map<std::string, std::vector<uint8_t>> in;
  for (const auto& io : prog.io) {
    if (prog.regions[io.region].role != isa::RegionRole::Input) continue;
    uint64_t bytes = isa::tensor_type_bytes(io.dtype);
    for (int k = 0; k < io.rank; ++k) bytes *= io.dims[k];
    in[io.name].assign(bytes, 0);
  }
  RunOptions o;
  o.timing_only = true;
  RunResult r = simulate(cfg, prog, in, o);
  if (!r.ok) throw isa::InputError("the program faults: " + r.fault_message);
  return r;
}

Evaluation evaluate(const config::NpuConfig& cfg, const std::string& workload, const EvalOptions& o) {
  Evaluation e;
  const double pes = static_cast<double>(cfg.mxu.rows) * cfg.mxu.cols;
  if (ends_with(workload, ".csv")) {
    e.kind = "topology";
    topology::LayerMemory mem = topology::memory_of(cfg);
    mem.ideal = o.ideal_memory;
    const auto rs = topology::run_layers(cfg, mem, topology::load_topology(workload));
    for (const auto& r : rs)
      e.cycles += r.total_cycles, e.seconds += r.seconds, e.energy_j += r.energy_j, e.macs += r.macs,
          e.dram_bytes += r.dram_bytes;
    e.layers = static_cast<uint32_t>(rs.size());
  } else {
    isa::Program prog;
    if (ends_with(workload, ".onnx")) {
      e.kind = "onnx";
      compiler::CompileOptions co;
      co.precision = o.precision;
      prog = compiler::compile(compiler::import_onnx(workload), target_info(cfg), co).program;
    } else if (ends_with(workload, ".npub") || ends_with(workload, ".npus")) {
      e.kind = "program";
      prog = load_program(workload);
    } else {
      throw isa::InputError(workload + ": unknown workload kind (expected .onnx, .npub, .npus or a topology .csv)");
    }
    const RunResult r = timing_run(cfg, prog);
    arch::ThermalNetwork net(cfg.thermal, cfg.thermal.step_s);
    const PowerReport p = power_of_run(cfg, r, net);
    e.cycles = r.total_cycles, e.seconds = r.seconds, e.energy_j = arch::total(p.energy), e.macs = r.macs;
    e.dram_bytes = r.dram.bytes_read + r.dram.bytes_written;
    e.layers = static_cast<uint32_t>(r.marker_cycles.size());
  }
  e.average_power_w = e.seconds > 0 ? e.energy_j / e.seconds : 0;
  e.utilization = e.cycles ? static_cast<double>(e.macs) / (static_cast<double>(e.cycles) * pes) : 0;
  return e;
}

double mxu_area_cells(uint32_t rows, uint32_t cols) {
  const double r = rows, c = cols;
  return 1058.09375 * r * c + 1082.0625 * (r + c) - 164;
}

}  // namespace npusim
