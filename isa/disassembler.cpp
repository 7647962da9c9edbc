// Disassembler: prints every declaration and instruction so that `asm` reproduces the same bytes.
#include "isa/disassembler.h"

#include <cinttypes>
#include <cmath>
#include <cstring>
#include <sstream>

#include "isa_ops.h"

namespace npusim::isa {
namespace {

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIX64, v);
  return b;
}

/// Bytes with a binary suffix when exact (4096 → 4KiB), else decimal.
std::string size_text(uint64_t v) {
  if (v && v % (1ull << 30) == 0) return std::to_string(v >> 30) + "GiB";
  if (v && v % (1ull << 20) == 0) return std::to_string(v >> 20) + "MiB";
  if (v && v % (1ull << 10) == 0) return std::to_string(v >> 10) + "KiB";
  return std::to_string(v);
}

/// Shortest text that parses back to the same binary32 value.
std::string float_text(float f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "1e39" : "-1e39";  // reads back (strtof) as +-infinity
  char b[32];
  for (int prec = 6; prec <= 9; ++prec) {
    std::snprintf(b, sizeof b, "%.*g", prec, static_cast<double>(f));
    if (std::strtof(b, nullptr) == f) break;
  }
  std::string s = b;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

uint32_t get32(const Param& p, int off) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p.bytes[off + i]) << (8 * i);
  return v;
}

template <typename T>
std::string list(const T* v, int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string field_text(const Instruction& inst, const InstrSpec& in, const FieldSpec& f, const Program& prog) {
  const uint32_t v = inst.get(f.bits);
  switch (f.kind) {
    case FieldKind::Uint:
    case FieldKind::Count: return std::to_string(v);
    case FieldKind::Sint: return std::to_string(f.bits.get_signed(inst.w));
    case FieldKind::Flag: return std::to_string(v);
    case FieldKind::Enum: return f.enum_values[v];
    case FieldKind::Line: {
      const bool acc = f.space == Space::Acc || (f.space == Space::ByFlag && inst.get(in.fields[f.space_flag].bits));
      return std::string(acc ? "acc[" : "s[") + hex(v) + "]";
    }
    case FieldKind::Sem: return prog.sems[v].name;
    case FieldKind::Desc: return prog.descs[v].name;
    case FieldKind::Param: return prog.params[v].name;
    case FieldKind::Region: return prog.regions[v].name;
    case FieldKind::Marker: return prog.markers[v];
    case FieldKind::EngineMask: {
      if (v == (1u << kEngineCount) - 1) return "all";
      std::string s;
      for (int e = 0; e < kEngineCount; ++e)
        if (v & (1u << e)) s += (s.empty() ? "" : "|") + std::string(engine_name(static_cast<Engine>(e)));
      return s;
    }
  }
  return "?";
}

}  // namespace

std::string disassemble_instruction(const Instruction& inst, const Program& prog) {
  const InstrSpec* in = find_instr(inst.opcode());
  if (!in) return ".word " + hex(inst.w[0]) + ", " + hex(inst.w[1]) + ", " + hex(inst.w[2]) + ", " + hex(inst.w[3]);
  std::string s = in->name;
  bool first = true;
  auto sep = [&] {
    s += first ? " " : ", ";
    first = false;
  };
  std::vector<bool> printed(in->field_count, false);
  for (int i = 0; i < in->syntax_count; ++i) {
    sep();
    s += field_text(inst, *in, in->fields[in->syntax[i]], prog);
    printed[in->syntax[i]] = true;
  }
  for (int i = 0; i < in->field_count; ++i) {
    const FieldSpec& f = in->fields[i];
    if (printed[i] || f.implied) continue;
    const uint32_t v = inst.get(f.bits);
    if (f.kind == FieldKind::Param && f.optional && v == kNoParam) continue;
    if (f.kind == FieldKind::Enum && f.optional && v == 0) continue;  // an optional enum's default
    const bool always = f.kind == FieldKind::Count || f.kind == FieldKind::Desc || f.kind == FieldKind::Param ||
                        f.kind == FieldKind::Enum || f.kind == FieldKind::EngineMask;
    if (!always && v == 0) continue;  // zero is the default of every other field
    sep();
    if (f.kind == FieldKind::Flag) {
      s += f.name;
    } else {
      s += std::string(f.name) + "=" + field_text(inst, *in, f, prog);
    }
  }
  const SemUse u = sem_use(inst);
  if (u.wait) {
    s += " !wait(" + prog.sems[u.wait_sem].name;
    if (u.wait_n != 1) s += "," + std::to_string(u.wait_n);
    s += ")";
  }
  if (u.signal) s += " !sig(" + prog.sems[u.sig_sem].name + ")";
  if (inst.get(header::irq)) s += " !irq";
  return s;
}

std::string disassemble(const Program& prog) {
  std::ostringstream os;
  os << ".npus " << spec().version_major << "." << spec().version_minor << "\n";
  const Target& t = prog.target;
  os << ".target";
  if (t.mxu_rows) os << " mxu=" << t.mxu_rows << "x" << t.mxu_cols;
  if (t.spad_bytes) os << " spad=" << size_text(t.spad_bytes);
  if (t.acc_bytes) os << " acc=" << size_text(t.acc_bytes);
  os << " line=" << t.line_bytes;
  if (t.dtype_mask) {
    os << " dtypes=";
    bool f = true;
    for (int i = 0; i < spec().dtype_count; ++i)
      if (t.dtype_mask & (1u << i)) {
        os << (f ? "" : "|") << spec().dtypes[i].name;
        f = false;
      }
  }
  if (t.vpu_lanes) os << " lanes=" << t.vpu_lanes;
  if (t.config_hash) os << " hash=" << hex(t.config_hash);
  os << "\n";

  if (!prog.regions.empty()) os << "\n";
  for (const auto& r : prog.regions) {
    os << ".region " << r.name << " role=" << region_role_name(r.role) << " size=" << size_text(r.size);
    if (r.align != 1) os << " align=" << r.align;
    os << "\n";
    // Initial contents in 32-byte chunks, all-zero chunks skipped (they are implied).
    constexpr size_t kChunk = 32;
    for (size_t off = 0; off < r.init.size(); off += kChunk) {
      const size_t n = std::min(kChunk, r.init.size() - off);
      bool zero = true;
      for (size_t i = 0; i < n; ++i) zero = zero && r.init[off + i] == 0;
      if (zero) continue;
      os << ".data " << r.name << " at=" << hex(off) << " hex \"";
      char b[3];
      for (size_t i = 0; i < n; ++i) {
        std::snprintf(b, sizeof b, "%02x", r.init[off + i]);
        os << b;
      }
      os << "\"\n";
    }
  }
  if (!prog.descs.empty()) os << "\n";
  for (const auto& d : prog.descs) {
    os << ".desc " << d.name << " region=" << prog.regions[d.region].name << " dtype=" << tensor_type_name(d.dtype)
       << " box=" << list(d.box.data(), d.rank);
    if (d.rank > 1) os << " stride=" << list(d.stride.data(), d.rank - 1);
    if (d.offset) os << " offset=" << d.offset;
    if (d.zero_point) os << " zp=" << d.zero_point;
    os << "\n";
  }
  if (!prog.params.empty()) os << "\n";
  for (const auto& p : prog.params) {
    const ParamKindSpec* k = find_param_kind_by_value(p.kind());
    os << ".param " << p.name << " " << k->name;
    const bool fp32_mode =
        p.kind() == params::requant::kKind && p.bytes[params::requant::mode] == params::requant::mode_fp32;
    for (int i = 0; i < k->field_count; ++i) {
      const ParamFieldSpec& f = k->fields[i];
      const uint32_t raw =
          f.type == ParamType::U8 || f.type == ParamType::Enum || f.type == ParamType::Region ? p.bytes[f.offset]
          : f.type == ParamType::U16 ? static_cast<uint32_t>(p.bytes[f.offset] | (p.bytes[f.offset + 1] << 8))
                                     : get32(p, f.offset);
      if (raw == 0 && !(f.type == ParamType::Enum && i == 0)) continue;
      os << " ";
      if (fp32_mode && f.offset == params::requant::multiplier) {
        float fl;
        std::memcpy(&fl, &raw, 4);
        os << "scale=" << float_text(fl);
        continue;
      }
      os << f.name << "=";
      switch (f.type) {
        case ParamType::U8:
        case ParamType::U16:
        case ParamType::U32: os << raw; break;
        case ParamType::I32: os << static_cast<int32_t>(raw); break;
        case ParamType::F32: {
          float fl;
          std::memcpy(&fl, &raw, 4);
          os << float_text(fl);
          break;
        }
        case ParamType::Enum: os << f.enum_values[raw]; break;
        case ParamType::Region: os << prog.regions[raw].name; break;
      }
    }
    os << "\n";
  }
  if (!prog.io.empty()) os << "\n";
  for (const auto& io : prog.io) {
    os << ".io " << io.name << " region=" << prog.regions[io.region].name << " dtype=" << tensor_type_name(io.dtype)
       << " shape=" << list(io.dims.data(), io.rank);
    if (io.offset) os << " offset=" << io.offset;
    if (io.scale != 1.0f) os << " scale=" << float_text(io.scale);
    if (io.zero_point) os << " zp=" << io.zero_point;
    if (io.host_type != HostType::Device) os << " host=" << host_type_name(io.host_type);
    if (io.host_nchw) os << " layout=nchw";
    os << "\n";
  }
  if (!prog.sems.empty()) os << "\n";
  for (const auto& s : prog.sems) {
    os << ".sem " << s.name << " consumer=" << engine_name(s.consumer);
    if (s.init) os << " init=" << s.init;
    os << "\n";
  }
  if (!prog.markers.empty()) os << "\n";
  for (const auto& m : prog.markers) os << ".marker " << m << "\n";
  os << "\n";
  size_t li = 0;
  for (size_t i = 0; i < prog.text.size(); ++i) {
    while (li < prog.labels.size() && prog.labels[li].index == i) os << prog.labels[li++].name << ":\n";
    std::string line = "        " + disassemble_instruction(prog.text[i], prog);
    if (line.size() < 72) line.resize(72, ' ');
    os << line << " ; #" << i << " @" << hex(i * 16) << "\n";
  }
  return os.str();
}

}  // namespace npusim::isa
