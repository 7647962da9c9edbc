// Program model: names of enums, and the semantic checks shared by the reader and the assembler.
#include "isa/program.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <set>

#include "isa/diag.h"
#include "isa_ops.h"

namespace npusim::isa {
namespace {

constexpr const char* kTensorTypeNames[kTensorTypeCount] = {"i8", "u8", "i16", "i32", "fp16", "bf16", "fp32"};
constexpr unsigned kTensorTypeBytes[kTensorTypeCount] = {1, 1, 2, 4, 2, 2, 4};
constexpr const char* kRoleNames[kRegionRoleCount] = {"input", "output", "scratch", "const"};

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llX", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

const char* tensor_type_name(TensorType t) {
  const auto i = static_cast<size_t>(t);
  return i < kTensorTypeCount ? kTensorTypeNames[i] : "?";
}

bool tensor_type_from_name(std::string_view s, TensorType& out) {
  for (int i = 0; i < kTensorTypeCount; ++i)
    if (s == kTensorTypeNames[i]) {
      out = static_cast<TensorType>(i);
      return true;
    }
  return false;
}

unsigned tensor_type_bytes(TensorType t) {
  const auto i = static_cast<size_t>(t);
  return i < kTensorTypeCount ? kTensorTypeBytes[i] : 0;
}

const char* region_role_name(RegionRole r) {
  const auto i = static_cast<size_t>(r);
  return i < kRegionRoleCount ? kRoleNames[i] : "?";
}

bool region_role_from_name(std::string_view s, RegionRole& out) {
  for (int i = 0; i < kRegionRoleCount; ++i)
    if (s == kRoleNames[i]) {
      out = static_cast<RegionRole>(i);
      return true;
    }
  return false;
}

namespace {
constexpr const char* kHostTypeNames[kHostTypeCount] = {"device", "f32", "i64", "bool"};
}  // namespace

const char* host_type_name(HostType t) {
  const auto i = static_cast<size_t>(t);
  return i < kHostTypeCount ? kHostTypeNames[i] : "?";
}

bool host_type_from_name(std::string_view s, HostType& out) {
  for (int i = 0; i < kHostTypeCount; ++i)
    if (s == kHostTypeNames[i]) {
      out = static_cast<HostType>(i);
      return true;
    }
  return false;
}

bool Target::operator==(const Target& o) const {
  return mxu_rows == o.mxu_rows && mxu_cols == o.mxu_cols && spad_bytes == o.spad_bytes && acc_bytes == o.acc_bytes &&
         line_bytes == o.line_bytes && dtype_mask == o.dtype_mask && vpu_lanes == o.vpu_lanes &&
         config_hash == o.config_hash;
}

bool Program::operator==(const Program& o) const {
  auto desc_eq = [](const TensorDesc& a, const TensorDesc& b) {
    return a.name == b.name && a.region == b.region && a.dtype == b.dtype && a.rank == b.rank &&
           a.zero_point == b.zero_point && a.offset == b.offset && a.box == b.box && a.stride == b.stride;
  };
  auto io_eq = [](const IoTensor& a, const IoTensor& b) {
    return a.name == b.name && a.region == b.region && a.dtype == b.dtype && a.rank == b.rank && a.dims == b.dims &&
           a.offset == b.offset && std::memcmp(&a.scale, &b.scale, 4) == 0 && a.zero_point == b.zero_point &&
           a.host_type == b.host_type && a.host_nchw == b.host_nchw;
  };
  if (!(target == o.target) || text != o.text || markers != o.markers) return false;
  if (descs.size() != o.descs.size() || params.size() != o.params.size() || regions.size() != o.regions.size() ||
      io.size() != o.io.size() || sems.size() != o.sems.size() || labels.size() != o.labels.size())
    return false;
  for (size_t i = 0; i < descs.size(); ++i)
    if (!desc_eq(descs[i], o.descs[i])) return false;
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].name != o.params[i].name || params[i].bytes != o.params[i].bytes) return false;
  for (size_t i = 0; i < regions.size(); ++i) {
    const auto &a = regions[i], &b = o.regions[i];
    if (a.name != b.name || a.role != b.role || a.size != b.size || a.align != b.align || a.init != b.init)
      return false;
  }
  for (size_t i = 0; i < io.size(); ++i)
    if (!io_eq(io[i], o.io[i])) return false;
  for (size_t i = 0; i < sems.size(); ++i)
    if (sems[i].name != o.sems[i].name || sems[i].consumer != o.sems[i].consumer || sems[i].init != o.sems[i].init)
      return false;
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i].name != o.labels[i].name || labels[i].index != o.labels[i].index) return false;
  return true;
}

SemUse sem_use(const Instruction& inst) {
  SemUse u;
  u.wait = inst.get(header::wait_en);
  u.wait_sem = static_cast<uint8_t>(inst.get(header::wait_sem));
  u.wait_n = static_cast<uint8_t>(inst.get(header::wait_cnt) + 1);
  u.signal = inst.get(header::sig_en);
  u.sig_sem = static_cast<uint8_t>(inst.get(header::sig_sem));
  return u;
}

std::string check_instruction(const Instruction& inst, const Program& prog) {
  const InstrSpec* in = find_instr(inst.opcode());
  if (!in) return "unknown opcode " + hex(inst.opcode());
  for (int wi = 0; wi < 4; ++wi) {
    const uint32_t stray = inst.w[wi] & ~in->defined_bits[wi];
    if (stray) return std::string(in->name) + ": reserved bits set in w" + std::to_string(wi) + " (" + hex(stray) + ")";
  }
  const std::string op = in->name;
  const SemUse u = sem_use(inst);
  if (!u.wait && (inst.get(header::wait_sem) || inst.get(header::wait_cnt)))
    return op + ": wait_sem/wait_cnt set without wait_en";
  if (!u.signal && inst.get(header::sig_sem)) return op + ": sig_sem set without sig_en";
  if (u.wait) {
    if (u.wait_sem >= prog.sems.size())
      return op + ": waits on semaphore " + std::to_string(u.wait_sem) + " but only " +
             std::to_string(prog.sems.size()) + " are declared";
    if (prog.sems[u.wait_sem].consumer != in->engine)
      return op + ": waits on semaphore '" + prog.sems[u.wait_sem].name + "' whose declared consumer is " +
             engine_name(prog.sems[u.wait_sem].consumer) + ", not " + engine_name(in->engine);
  }
  if (u.signal && u.sig_sem >= prog.sems.size())
    return op + ": signals semaphore " + std::to_string(u.sig_sem) + " but only " + std::to_string(prog.sems.size()) +
           " are declared";
  for (int i = 0; i < in->field_count; ++i) {
    const FieldSpec& f = in->fields[i];
    const uint32_t v = inst.get(f.bits);
    const std::string where = op + ": field " + f.name + " = " + std::to_string(v);
    switch (f.kind) {
      case FieldKind::Count:
        if (v == 0) return op + ": field " + f.name + " must be at least 1";
        break;
      case FieldKind::Enum:
        if (v >= f.enum_count) return where + " is not a valid value (max " + std::to_string(f.enum_count - 1) + ")";
        break;
      case FieldKind::Sem:
        if (v >= prog.sems.size())
          return where + ": no such semaphore (" + std::to_string(prog.sems.size()) + " declared)";
        break;
      case FieldKind::Desc:
        if (v >= prog.descs.size())
          return where + ": descriptor id out of range (" + std::to_string(prog.descs.size()) + " in DESC)";
        break;
      case FieldKind::Region:
        if (v >= prog.regions.size())
          return where + ": region id out of range (" + std::to_string(prog.regions.size()) + " in REGIONS)";
        break;
      case FieldKind::Marker:
        if (v >= prog.markers.size())
          return where + ": marker id out of range (" + std::to_string(prog.markers.size()) + " in DEBUG)";
        break;
      case FieldKind::Param:
        if (f.optional && v == kNoParam) break;
        if (v >= prog.params.size())
          return where + ": parameter id out of range (" + std::to_string(prog.params.size()) + " in PARAM)";
        if (f.param_kind >= 0) {
          const ParamKindSpec& want = spec().params[f.param_kind];
          if (prog.params[v].kind() != want.kind)
            return op + ": field " + f.name + " names parameter '" + prog.params[v].name + "', which is not a " +
                   want.name + " entry";
        }
        break;
      case FieldKind::EngineMask:
        if (v == 0) return op + ": field " + f.name + " names no engine";
        if (v >> kEngineCount) return where + ": names engines that do not exist";
        break;
      default: break;
    }
  }
  if (inst.opcode() == static_cast<uint8_t>(Opcode::Sfu) && inst.get(fields::sfu::dtype) <= fields::sfu::dtype_u8)
    return op + ": special functions take fp16 or bf16 tiles, not " +
           std::string(inst.get(fields::sfu::dtype) ? "u8" : "i8");
  if (inst.opcode() == static_cast<uint8_t>(Opcode::Select) &&
      inst.get(fields::select::src_acc) != inst.get(fields::select::dst_acc))
    return op + ": src and dst must be in the same SRAM (both scratchpad or both accumulator)";
  if (inst.opcode() == static_cast<uint8_t>(Opcode::Gather) && prog.descs[inst.get(fields::gather::desc)].rank != 2)
    return op + ": descriptor '" + prog.descs[inst.get(fields::gather::desc)].name +
           "' must have rank 2 (row elements, table rows)";
  // Quantizing (an fp32 accumulator to an integer output) is defined only for fp32-mode entries.
  if (inst.opcode() == static_cast<uint8_t>(Opcode::Requant) &&
      inst.get(fields::requant::acc_type) == fields::requant::acc_type_fp32 &&
      inst.get(fields::requant::dtype) <= fields::requant::dtype_u8) {
    const Param& p = prog.params[inst.get(fields::requant::q)];
    if (p.bytes[params::requant::mode] != params::requant::mode_fp32)
      return op + ": acc_type=fp32 with an integer output needs a requant entry in fp32 mode ('" + p.name + "' is not)";
  }
  if (inst.opcode() == static_cast<uint8_t>(Opcode::Requant)) {
    const Param& p = prog.params[inst.get(fields::requant::q)];
    const uint64_t col0 = inst.get(fields::requant::col0);
    if (col0 && !p.bytes[params::requant::per_channel])
      return op + ": col0 applies to a per-channel requant entry ('" + p.name + "' is per-tensor)";
    uint32_t table = 0;
    std::memcpy(&table, &p.bytes[params::requant::table], 4);
    // The tile's entries, col0 .. col0 + cols, 8 bytes each, within the 32-bit table offsets.
    const uint64_t end = table + 8 * (col0 + inst.get(fields::requant::cols));
    if (p.bytes[params::requant::per_channel] && end > UINT32_MAX)
      return op + ": per-channel table entries " + std::to_string(col0) + ".." +
             std::to_string(col0 + inst.get(fields::requant::cols)) + " of '" + p.name +
             "' end past byte 2^32 of its region";
  }
  return "";
}

bool is_identifier(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')) return false;
  return true;
}

namespace {

void check_name(const std::string& what, size_t i, const std::string& name, std::set<std::string>& seen) {
  if (!is_identifier(name))
    throw InputError(what + " entry " + std::to_string(i) + ": name '" + name +
                     "' is not an identifier ([A-Za-z_][A-Za-z0-9_.]*)");
  if (!seen.insert(name).second)
    throw InputError(what + " entry " + std::to_string(i) + ": duplicate name '" + name + "'");
}

bool is_pow2(uint64_t v) {
  return v && !(v & (v - 1));
}

/// Largest byte size or offset in any table (what the assembler can write: a signed 64-bit value).
constexpr uint64_t kMaxByteOffset = static_cast<uint64_t>(INT64_MAX);

void check_param(const Param& p, size_t i, size_t region_count) {
  const std::string where = "PARAM entry " + std::to_string(i) + " ('" + p.name + "')";
  const ParamKindSpec* k = find_param_kind_by_value(p.kind());
  if (!k) throw InputError(where + ": unknown kind " + std::to_string(p.kind()));
  for (int b = 0; b < 28; ++b)
    if (!k->defined_bytes[b] && p.bytes[b])
      throw InputError(where + ": reserved byte " + std::to_string(b) + " is not zero");
  for (int fi = 0; fi < k->field_count; ++fi) {
    const ParamFieldSpec& f = k->fields[fi];
    if (f.type == ParamType::Enum && p.bytes[f.offset] >= f.enum_count)
      throw InputError(where + ": field " + f.name + " = " + std::to_string(p.bytes[f.offset]) +
                       " is not a valid value");
    // A region field may stay 0 while unused; any other value must name a region.
    if (f.type == ParamType::Region && p.bytes[f.offset] != 0 && p.bytes[f.offset] >= region_count)
      throw InputError(where + ": field " + f.name + " = " + std::to_string(p.bytes[f.offset]) +
                       ": region id out of range (" + std::to_string(region_count) + " in REGIONS)");
  }
}

}  // namespace

void validate_program(const Program& prog) {
  const IsaSpec& isa = spec();
  const Target& t = prog.target;
  if (!is_pow2(t.line_bytes) || t.line_bytes > 4096)
    throw InputError("target: line_bytes = " + std::to_string(t.line_bytes) + " must be a power of two in 1..4096");
  if ((t.mxu_rows == 0) != (t.mxu_cols == 0))
    throw InputError("target: mxu rows and cols must both be set or both be 0 (any)");
  if (t.dtype_mask >> isa.dtype_count) throw InputError("target: dtype mask names unknown dtypes");
  if (prog.regions.size() > isa.max_regions)
    throw InputError("REGIONS: " + std::to_string(prog.regions.size()) + " regions, at most " +
                     std::to_string(isa.max_regions));
  if (prog.descs.size() > isa.max_descriptors)
    throw InputError("DESC: " + std::to_string(prog.descs.size()) + " descriptors, at most " +
                     std::to_string(isa.max_descriptors));
  if (prog.params.size() > isa.max_params)
    throw InputError("PARAM: " + std::to_string(prog.params.size()) + " entries, at most " +
                     std::to_string(isa.max_params));
  if (prog.sems.size() > isa.max_semaphores)
    throw InputError("SEMS: " + std::to_string(prog.sems.size()) + " semaphores, at most " +
                     std::to_string(isa.max_semaphores));

  std::set<std::string> names;
  for (size_t i = 0; i < prog.regions.size(); ++i) {
    const Region& r = prog.regions[i];
    check_name("REGIONS", i, r.name, names);
    const std::string where = "REGIONS entry " + std::to_string(i) + " ('" + r.name + "')";
    if (r.size == 0 || r.size > kMaxByteOffset)
      throw InputError(where + ": size " + std::to_string(r.size) + " not in 1..2^63-1");
    if (!is_pow2(r.align)) throw InputError(where + ": align = " + std::to_string(r.align) + " is not a power of two");
    if (r.init.size() > r.size)
      throw InputError(where + ": initial contents (" + std::to_string(r.init.size()) + " bytes) exceed the size");
    if (!r.init.empty() && r.role != RegionRole::Const && r.role != RegionRole::Scratch)
      throw InputError(where + ": only const and scratch regions have initial contents");
  }
  names.clear();
  for (size_t i = 0; i < prog.descs.size(); ++i) {
    const TensorDesc& d = prog.descs[i];
    check_name("DESC", i, d.name, names);
    const std::string where = "DESC entry " + std::to_string(i) + " ('" + d.name + "')";
    if (d.region >= prog.regions.size())
      throw InputError(where + ": region " + std::to_string(d.region) + " out of range");
    if (static_cast<int>(d.dtype) >= kTensorTypeCount)
      throw InputError(where + ": invalid dtype " + std::to_string(int(d.dtype)));
    if (d.rank < 1 || d.rank > 4) throw InputError(where + ": rank " + std::to_string(d.rank) + " not in 1..4");
    if (d.offset > kMaxByteOffset) throw InputError(where + ": offset " + std::to_string(d.offset) + " exceeds 2^63-1");
    for (int k = 0; k < 4; ++k) {
      if (k < d.rank && d.box[k] == 0) throw InputError(where + ": box[" + std::to_string(k) + "] is 0");
      if (k >= d.rank && d.box[k] != 0) throw InputError(where + ": box[" + std::to_string(k) + "] set beyond rank");
    }
    for (int k = 0; k < 3; ++k) {
      if (k + 1 < d.rank && d.stride[k] < 0)
        throw InputError(where + ": stride[" + std::to_string(k) + "] is negative");
      if (k + 1 >= d.rank && d.stride[k] != 0)
        throw InputError(where + ": stride[" + std::to_string(k) + "] set beyond rank");
    }
  }
  names.clear();
  for (size_t i = 0; i < prog.params.size(); ++i) {
    check_name("PARAM", i, prog.params[i].name, names);
    check_param(prog.params[i], i, prog.regions.size());
    const Param& p = prog.params[i];
    const std::string where = "PARAM entry " + std::to_string(i) + " ('" + p.name + "')";
    auto i32_at = [&p](uint8_t off) {
      int32_t v;
      std::memcpy(&v, p.bytes.data() + off, 4);
      return v;
    };
    if (p.kind() == params::requant::kKind) {
      const uint8_t mode = p.bytes[params::requant::mode];
      const int32_t shift = i32_at(params::requant::shift);
      if (mode == params::requant::mode_tflite && (shift < -31 || shift > 31))
        throw InputError(where + ": shift " + std::to_string(shift) + " outside [-31, 31] for mode tflite");
      if (mode == params::requant::mode_rhu && (shift < -31 || shift > 32))
        throw InputError(where + ": shift " + std::to_string(shift) + " outside [-31, 32] for mode rhu");
      if (i32_at(params::requant::min) > i32_at(params::requant::max)) throw InputError(where + ": min exceeds max");
    }
    if (p.kind() == params::pool::kKind) {
      namespace pp = params::pool;
      const auto& b = p.bytes;
      const unsigned ih = b[pp::in_h] | (b[pp::in_h + 1] << 8), iw = b[pp::in_w] | (b[pp::in_w + 1] << 8);
      if (!b[pp::kh] || !b[pp::kw] || !b[pp::sh] || !b[pp::sw] || !ih || !iw)
        throw InputError(where + ": kh, kw, sh, sw, in_h and in_w must be at least 1");
      if (ih + b[pp::pad_top] + b[pp::pad_bottom] < b[pp::kh] || iw + b[pp::pad_left] + b[pp::pad_right] < b[pp::kw])
        throw InputError(where + ": the window is larger than the padded input");
      if (b[pp::pad_top] >= b[pp::kh] || b[pp::pad_bottom] >= b[pp::kh] || b[pp::pad_left] >= b[pp::kw] ||
          b[pp::pad_right] >= b[pp::kw])
        throw InputError(where + ": padding must be smaller than the window");
      if (b[pp::count_pad] > 1) throw InputError(where + ": count_pad must be 0 or 1");
    }
    if (p.kind() == params::requant::kKind && p.bytes[params::requant::per_channel] > 1)
      throw InputError("PARAM entry " + std::to_string(i) + " ('" + p.name + "'): per_channel must be 0 or 1");
    if (p.kind() == params::requant::kKind && p.bytes[params::requant::per_channel] &&
        p.bytes[params::requant::region] >= prog.regions.size())
      throw InputError("PARAM entry " + std::to_string(i) + " ('" + p.name + "'): table region out of range");
  }
  names.clear();
  for (size_t i = 0; i < prog.io.size(); ++i) {
    const IoTensor& t2 = prog.io[i];
    check_name("IO", i, t2.name, names);
    const std::string where = "IO entry " + std::to_string(i) + " ('" + t2.name + "')";
    if (t2.region >= prog.regions.size())
      throw InputError(where + ": region " + std::to_string(t2.region) + " out of range");
    const RegionRole role = prog.regions[t2.region].role;
    if (role != RegionRole::Input && role != RegionRole::Output)
      throw InputError(where + ": region '" + prog.regions[t2.region].name + "' is neither input nor output");
    if (static_cast<int>(t2.dtype) >= kTensorTypeCount) throw InputError(where + ": invalid dtype");
    if (t2.rank < 1 || t2.rank > 4) throw InputError(where + ": rank " + std::to_string(t2.rank) + " not in 1..4");
    if (t2.offset > kMaxByteOffset)
      throw InputError(where + ": offset " + std::to_string(t2.offset) + " exceeds 2^63-1");
    uint64_t bytes = tensor_type_bytes(t2.dtype);
    for (int k = 0; k < 4; ++k) {
      if (k < t2.rank && t2.dims[k] == 0) throw InputError(where + ": dims[" + std::to_string(k) + "] is 0");
      if (k >= t2.rank && t2.dims[k] != 0)
        throw InputError(where + ": dims[" + std::to_string(k) + "] set beyond rank");
      if (k < t2.rank) bytes *= t2.dims[k];
    }
    const uint64_t rsize = prog.regions[t2.region].size;
    if (t2.offset > rsize || bytes > rsize - t2.offset)
      throw InputError(where + ": tensor (" + std::to_string(bytes) + " bytes at offset " + std::to_string(t2.offset) +
                       ") exceeds region '" + prog.regions[t2.region].name + "' (" + std::to_string(rsize) + " bytes)");
    if (!std::isfinite(t2.scale) || t2.scale <= 0) throw InputError(where + ": scale must be finite and positive");
  }
  names.clear();
  for (size_t i = 0; i < prog.sems.size(); ++i) {
    check_name("SEMS", i, prog.sems[i].name, names);
    if (static_cast<int>(prog.sems[i].consumer) >= kEngineCount)
      throw InputError("SEMS entry " + std::to_string(i) + ": invalid consumer engine " +
                       std::to_string(int(prog.sems[i].consumer)));
  }
  names.clear();
  for (size_t i = 0; i < prog.labels.size(); ++i) {
    check_name("DEBUG label", i, prog.labels[i].name, names);
    if (i && prog.labels[i].index < prog.labels[i - 1].index)
      throw InputError("DEBUG label '" + prog.labels[i].name + "': labels must be sorted by instruction index");
  }
  names.clear();
  for (size_t i = 0; i < prog.markers.size(); ++i) check_name("DEBUG marker", i, prog.markers[i], names);
  for (size_t i = 0; i < prog.labels.size(); ++i)
    if (prog.labels[i].index >= prog.text.size())
      throw InputError("DEBUG label '" + prog.labels[i].name + "': instruction index " +
                       std::to_string(prog.labels[i].index) + " beyond TEXT (" + std::to_string(prog.text.size()) +
                       " instructions)");
  if (prog.text.empty()) throw InputError("TEXT: no instructions (a program ends with finish)");
  for (size_t i = 0; i < prog.text.size(); ++i) {
    const std::string err = check_instruction(prog.text[i], prog);
    if (!err.empty()) throw InputError("TEXT instruction #" + std::to_string(i) + ": " + err);
    const bool is_finish = prog.text[i].opcode() == static_cast<uint8_t>(Opcode::Finish);
    if (is_finish && i + 1 != prog.text.size())
      throw InputError("TEXT instruction #" + std::to_string(i) + ": finish before the end of the program");
    if (!is_finish && i + 1 == prog.text.size())
      throw InputError("TEXT instruction #" + std::to_string(i) + ": the program does not end with finish");
  }
}

}  // namespace npusim::isa
