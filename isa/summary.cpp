// Program summaries and the ISA listing, both computed from the one ISA definition.
#include "isa/summary.h"

#include <sstream>

#include "isa/deadlock.h"
#include "isa_ops.h"

namespace npusim::isa {

namespace {
uint64_t box_bytes(const TensorDesc& d) {
  uint64_t n = tensor_type_bytes(d.dtype);
  for (int k = 0; k < d.rank; ++k) n *= d.box[k];
  return n;
}
}  // namespace

ProgramStats program_stats(const Program& prog) {
  ProgramStats s;
  for (const auto& inst : prog.text) {
    ++s.instructions_per_engine[static_cast<int>(inst.engine())];
    switch (static_cast<Opcode>(inst.opcode())) {
      case Opcode::Matmul:
        s.macs += uint64_t{inst.get(fields::matmul::m)} * inst.get(fields::matmul::n) * inst.get(fields::matmul::k);
        break;
      case Opcode::Load: s.load_bytes += box_bytes(prog.descs[inst.get(fields::load::desc)]); break;
      case Opcode::Gather: {  // count rows of box[0] elements
        const TensorDesc& d = prog.descs[inst.get(fields::gather::desc)];
        s.load_bytes += uint64_t{inst.get(fields::gather::count)} * d.box[0] * tensor_type_bytes(d.dtype);
        break;
      }
      case Opcode::Store: s.store_bytes += box_bytes(prog.descs[inst.get(fields::store::desc)]); break;
      default: break;
    }
  }
  return s;
}

std::string program_summary(const Program& prog) {
  const ProgramStats s = program_stats(prog);
  std::ostringstream os;
  const Target& t = prog.target;
  os << "target:       ";
  if (t.mxu_rows) os << "mxu " << t.mxu_rows << "x" << t.mxu_cols << ", ";
  os << "line " << t.line_bytes << " B";
  if (t.spad_bytes) os << ", scratchpad >= " << t.spad_bytes << " B";
  if (t.acc_bytes) os << ", accumulator >= " << t.acc_bytes << " B";
  os << "\n";
  os << "tables:       " << prog.regions.size() << " regions, " << prog.descs.size() << " descriptors, "
     << prog.params.size() << " params, " << prog.sems.size() << " semaphores, " << prog.io.size() << " I/O tensors, "
     << prog.markers.size() << " markers\n";
  os << "instructions: " << prog.text.size() << " (";
  for (int e = 0; e < kEngineCount; ++e)
    os << (e ? ", " : "") << engine_name(static_cast<Engine>(e)) << " " << s.instructions_per_engine[e];
  os << ")\n";
  os << "work:         " << s.macs << " MACs, " << s.load_bytes << " B loaded, " << s.store_bytes << " B stored\n";
  for (const auto& io : prog.io) {
    os << "  " << (prog.regions[io.region].role == RegionRole::Input ? "input  " : "output ") << io.name << ": "
       << tensor_type_name(io.dtype) << "[";
    for (int k = 0; k < io.rank; ++k) os << (k ? "," : "") << io.dims[k];
    os << "]\n";
  }
  const auto dl = find_deadlock(prog);
  os << "deadlock:     " << (dl ? "YES\n" + dl->describe(prog) : std::string("free (proved by abstract run)\n"));
  return os.str();
}

std::string isa_listing() {
  const IsaSpec& isa = spec();
  std::ostringstream os;
  os << "npusim ISA " << isa.version_major << "." << isa.version_minor << ": 128-bit instructions, "
     << isa.max_semaphores << " semaphores, " << isa.max_regions << " regions\n\nheader (w0):\n";
  auto bits = [](const BitRange& b) {
    std::string s = "w" + std::to_string(b.word) + "[";
    if (b.width > 1) s += std::to_string(b.lo + b.width - 1) + ":";
    return s + std::to_string(b.lo) + "]";
  };
  char line[256];
  for (int i = 0; i < isa.header_count; ++i) {
    const FieldSpec& f = isa.header[i];
    std::snprintf(line, sizeof line, "  %-10s %-10s %s\n", bits(f.bits).c_str(), f.name, f.description);
    os << line;
  }
  for (int i = 0; i < isa.instr_count; ++i) {
    const InstrSpec& in = isa.instrs[i];
    std::snprintf(line, sizeof line, "\n0x%02X %-9s (%s) %s\n", in.opcode, in.name, engine_name(in.engine), in.summary);
    os << line;
    for (int j = 0; j < in.field_count; ++j) {
      const FieldSpec& f = in.fields[j];
      std::snprintf(line, sizeof line, "  %-10s %-11s %s\n", bits(f.bits).c_str(), f.name, f.description);
      os << line;
    }
  }
  os << "\nparameter kinds (32-byte PARAM entries):\n";
  for (int i = 0; i < isa.param_count; ++i) {
    const ParamKindSpec& k = isa.params[i];
    os << "  " << k.name << " (kind " << int(k.kind) << "): " << k.summary << "\n";
    for (int j = 0; j < k.field_count; ++j) {
      std::snprintf(line, sizeof line, "    byte %-3d %-12s %s\n", k.fields[j].offset, k.fields[j].name,
                    k.fields[j].description);
      os << line;
    }
  }
  return os.str();
}

}  // namespace npusim::isa
