// isa_gen: derives everything ISA-shaped from isa/isa.yaml.
//
//   isa_gen <isa.yaml> <out_dir>
//
// writes <out_dir>/isa_tables.inc (the FieldSpec/InstrSpec/... tables behind isa/spec.h),
// <out_dir>/isa_ops.h (opcode constants, typed field accessors and, per instruction, format and
// parameter kind, a `Fields` struct with a `decode()` that reads every field once)
// and <out_dir>/isa.md (the reference docs/isa.md must equal). It checks the definition as it goes:
// opcode collisions, engine bits, overlapping or out-of-range fields, dangling references.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Field {
  std::string name, kind, description, space, space_flag, param_kind;
  int word = 0, lo = 0, width = 0;
  bool optional = false, implied = false;
  std::vector<std::string> values;
};

struct Instr {
  std::string name, engine, summary, format;
  int opcode = 0;
  std::vector<Field> fields;
  std::vector<std::string> syntax;
};

struct ParamField {
  std::string name, type, description;
  int offset = 0;
  std::vector<std::string> values;
};

struct ParamKind {
  std::string name, summary;
  int kind = 0;
  std::vector<ParamField> fields;
};

[[noreturn]] void fail(const std::string& msg) {
  throw std::runtime_error("isa.yaml: " + msg);
}

/// Parses "w1[19:0]" or "w0[26]".
void parse_bits(const std::string& s, Field& f) {
  int w = -1, hi = -1, lo = -1;
  if (std::sscanf(s.c_str(), "w%d[%d:%d]", &w, &hi, &lo) == 3) {
  } else if (std::sscanf(s.c_str(), "w%d[%d]", &w, &hi) == 2) {
    lo = hi;
  } else {
    fail("field " + f.name + ": bad bit range '" + s + "' (expected wN[hi:lo])");
  }
  if (w < 0 || w > 3 || lo < 0 || hi > 31 || hi < lo) fail("field " + f.name + ": bit range out of bounds: " + s);
  f.word = w;
  f.lo = lo;
  f.width = hi - lo + 1;
}

std::string str(const YAML::Node& n, const char* key, bool required = true) {
  if (!n[key]) {
    if (required) fail(std::string("missing key '") + key + "'");
    return "";
  }
  return n[key].as<std::string>();
}

Field parse_field(const YAML::Node& n) {
  Field f;
  f.name = str(n, "name");
  f.kind = str(n, "kind");
  f.description = str(n, "description");
  parse_bits(str(n, "bits"), f);
  f.space = str(n, "space", false);
  f.space_flag = str(n, "space_flag", false);
  f.param_kind = str(n, "param_kind", false);
  f.optional = n["optional"] && n["optional"].as<bool>();
  if (n["values"])
    for (const auto& v : n["values"]) f.values.push_back(v.as<std::string>());
  static const std::set<std::string> kinds = {"uint", "sint", "count", "flag",   "enum",   "line",
                                              "sem",  "desc", "param", "region", "marker", "engine_mask"};
  if (!kinds.count(f.kind)) fail("field " + f.name + ": unknown kind '" + f.kind + "'");
  if (f.kind == "enum" && (f.values.empty() || f.values.size() > (1u << f.width)))
    fail("field " + f.name + ": enum needs 1.." + std::to_string(1u << f.width) + " values");
  if (f.kind == "flag" && f.width != 1) fail("field " + f.name + ": a flag is one bit");
  if (f.kind == "line" && f.space.empty() == f.space_flag.empty())
    fail("field " + f.name + ": a line field needs exactly one of space/space_flag");
  if (f.kind == "param" && f.width != 12) fail("field " + f.name + ": param ids are 12 bits");
  return f;
}

std::string cident(const std::string& s) {
  std::string out;
  for (char c : s) out += (c == '.' ? '_' : c);
  return out;
}

std::string camel(const std::string& s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (c == '.' || c == '_') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string bits_text(const Field& f) {
  std::string s = "w" + std::to_string(f.word) + "[";
  if (f.width == 1) return s + std::to_string(f.lo) + "]";
  return s + std::to_string(f.lo + f.width - 1) + ":" + std::to_string(f.lo) + "]";
}

std::string field_kind_enum(const std::string& k) {
  static const std::map<std::string, std::string> m = {
      {"uint", "Uint"},   {"sint", "Sint"},     {"count", "Count"},   {"flag", "Flag"},
      {"enum", "Enum"},   {"line", "Line"},     {"sem", "Sem"},       {"desc", "Desc"},
      {"param", "Param"}, {"region", "Region"}, {"marker", "Marker"}, {"engine_mask", "EngineMask"}};
  return "FieldKind::" + m.at(k);
}

/// Writes a file only when its content changed (keeps rebuilds incremental).
void write_file(const std::string& path, const std::string& content) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream old;
    old << in.rdbuf();
    if (old.str() == content) return;
  }
  std::ofstream out(path, std::ios::binary);
  if (!out) fail("cannot write " + path);
  out << content;
}

/// Names the generated decoders use for themselves (instruction fields: `w`; parameter fields: `b`,
/// `out`); no field may take them.
void check_decoder_name(const std::string& where, const std::string& name, bool param) {
  static const std::set<std::string> instr = {"Fields", "decode", "w"}, par = {"Fields", "decode", "b", "out"};
  if ((param ? par : instr).count(name)) fail(where + ": field name '" + name + "' is reserved for the decoder");
}

/// C++ type of an instruction field in its decoded struct.
std::string field_ctype(const Field& f) {
  if (f.kind == "flag") return "bool";
  if (f.kind == "sint") return "int64_t";
  return "uint32_t";
}

/// isa_ops.h text of one field namespace's body: the bit ranges and enum values of `fields`, then
/// `struct Fields` (one member per field) and `decode()`, which extracts every field from the words.
std::string field_namespace_body(const std::string& what, const std::vector<Field>& fields) {
  std::ostringstream ops;
  for (const auto& f : fields) {
    check_decoder_name(what, f.name, false);
    ops << "inline constexpr BitRange " << f.name << "{" << f.word << ", " << f.lo << ", " << f.width << "};  ///< "
        << f.description << "\n";
    for (size_t v = 0; v < f.values.size(); ++v)
      ops << "inline constexpr uint32_t " << f.name << "_" << f.values[v] << " = " << v << ";\n";
  }
  ops << "/// Every field of " << what << ", decoded (decode()).\nstruct Fields {\n";
  for (const auto& f : fields) ops << "  " << field_ctype(f) << " " << f.name << ";  ///< " << f.description << "\n";
  ops << "};\n/// Reads every field of " << what << " from the instruction words `w`.\n"
      << "inline constexpr Fields decode(const std::array<uint32_t, 4>& w) {\n  return Fields{\n";
  for (const auto& f : fields)
    ops << "      " << f.name
        << (f.kind == "flag"   ? ".get(w) != 0"
            : f.kind == "sint" ? ".get_signed(w)"
                               : ".get(w)")
        << ",\n";
  ops << "  };\n}\n";
  return ops.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: isa_gen <isa.yaml> <out_dir>\n";
    return 2;
  }
  try {
    const YAML::Node root = YAML::LoadFile(argv[1]);
    const int vmaj = root["isa_version"]["major"].as<int>();
    const int vmin = root["isa_version"]["minor"].as<int>();

    std::vector<std::pair<std::string, std::string>> engines;  // name, description (ordered by id)
    for (const auto& e : root["engines"]) {
      if (e["id"].as<int>() != static_cast<int>(engines.size())) fail("engines must be listed in id order");
      engines.emplace_back(str(e, "name"), str(e, "description"));
    }
    auto engine_id = [&](const std::string& n) {
      for (size_t i = 0; i < engines.size(); ++i)
        if (engines[i].first == n) return static_cast<int>(i);
      fail("unknown engine '" + n + "'");
    };

    std::vector<Field> header;
    for (const auto& f : root["header"]) header.push_back(parse_field(f));

    std::map<std::string, std::pair<std::vector<Field>, std::vector<std::string>>> formats;
    for (const auto& kv : root["formats"]) {
      auto& fmt = formats[kv.first.as<std::string>()];
      for (const auto& f : kv.second["fields"]) fmt.first.push_back(parse_field(f));
      for (const auto& s : kv.second["syntax"]) fmt.second.push_back(s.as<std::string>());
    }

    std::vector<ParamKind> params;
    for (const auto& p : root["params"]) {
      ParamKind k;
      k.name = str(p, "name");
      k.kind = p["kind"].as<int>();
      k.summary = str(p, "summary");
      for (const auto& f : p["fields"]) {
        ParamField pf;
        pf.name = str(f, "name");
        pf.type = str(f, "type");
        pf.description = str(f, "description");
        pf.offset = f["offset"].as<int>();
        if (f["values"])
          for (const auto& v : f["values"]) pf.values.push_back(v.as<std::string>());
        k.fields.push_back(pf);
      }
      params.push_back(k);
    }
    auto param_index = [&](const std::string& n) {
      for (size_t i = 0; i < params.size(); ++i)
        if (params[i].name == n) return static_cast<int>(i);
      fail("unknown param kind '" + n + "'");
    };

    std::vector<Instr> instrs;
    std::set<int> opcodes;
    std::set<std::string> names;
    for (const auto& n : root["instructions"]) {
      Instr in;
      in.name = str(n, "name");
      in.opcode = n["opcode"].as<int>();
      in.engine = str(n, "engine");
      in.summary = str(n, "summary");
      if (n["format"]) {
        const auto it = formats.find(n["format"].as<std::string>());
        if (it == formats.end()) fail(in.name + ": unknown format");
        in.format = it->first;
        in.fields = it->second.first;
        in.syntax = it->second.second;
      }
      if (n["fields"])
        for (const auto& f : n["fields"]) in.fields.push_back(parse_field(f));
      if (n["syntax"]) {
        in.syntax.clear();
        for (const auto& s : n["syntax"]) in.syntax.push_back(s.as<std::string>());
      }
      if (in.opcode < 0 || in.opcode > 255) fail(in.name + ": opcode out of range");
      if ((in.opcode >> 5) != engine_id(in.engine)) fail(in.name + ": opcode[7:5] must equal the engine id");
      if (!opcodes.insert(in.opcode).second) fail(in.name + ": duplicate opcode");
      if (!names.insert(in.name).second) fail(in.name + ": duplicate mnemonic");
      instrs.push_back(in);
    }

    // Checks and derived facts per instruction.
    std::ostringstream tables;
    tables << "// Generated by isa_gen from isa/isa.yaml. Do not edit.\n";
    tables << "namespace {\nusing namespace npusim::isa;\n";
    auto emit_enum_values = [&](const std::string& id, const std::vector<std::string>& vals) {
      if (vals.empty()) return std::string("nullptr");
      tables << "const char* const " << id << "[] = {";
      for (const auto& v : vals) tables << quote(v) << ", ";
      tables << "};\n";
      return id;
    };
    auto emit_fields = [&](const std::string& id, const std::vector<Field>& fields) {
      if (fields.empty()) return;
      std::vector<std::string> ev;
      for (const auto& f : fields) ev.push_back(emit_enum_values(id + "_" + cident(f.name) + "_values", f.values));
      tables << "const FieldSpec " << id << "[] = {\n";
      for (size_t i = 0; i < fields.size(); ++i) {
        const Field& f = fields[i];
        int flag_index = -1;
        if (!f.space_flag.empty()) {
          for (size_t j = 0; j < fields.size(); ++j)
            if (fields[j].name == f.space_flag) flag_index = static_cast<int>(j);
          if (flag_index < 0 || fields[flag_index].kind != "flag")
            fail("field " + f.name + ": space_flag '" + f.space_flag + "' is not a flag of the same instruction");
        }
        bool implied = false;
        for (const auto& g : fields)
          if (g.space_flag == f.name) implied = true;
        std::string space = "Space::None";
        if (f.kind == "line")
          space = f.space_flag.empty() ? (f.space == "acc" ? "Space::Acc" : "Space::Spad") : "Space::ByFlag";
        if (f.kind == "line" && f.space_flag.empty() && f.space != "acc" && f.space != "spad")
          fail("field " + f.name + ": space must be spad or acc");
        tables << "    {" << quote(f.name) << ", {" << f.word << ", " << f.lo << ", " << f.width << "}, "
               << field_kind_enum(f.kind) << ", " << space << ", " << flag_index << ", " << (implied ? "true" : "false")
               << ", " << ev[i] << ", " << f.values.size() << ", "
               << (f.param_kind.empty() ? -1 : param_index(f.param_kind)) << ", " << (f.optional ? "true" : "false")
               << ", " << quote(f.description) << "},\n";
      }
      tables << "};\n";
    };

    emit_fields("kHeader", header);
    std::array<uint32_t, 4> header_mask{};
    for (const auto& f : header) {
      const uint32_t m = (f.width >= 32 ? 0xFFFFFFFFu : ((1u << f.width) - 1u)) << f.lo;
      header_mask[f.word] |= m;
    }

    std::vector<std::array<uint32_t, 4>> masks;
    for (const auto& in : instrs) {
      std::array<uint32_t, 4> mask = header_mask;
      std::set<std::string> fnames;
      for (const auto& f : in.fields) {
        if (!fnames.insert(f.name).second) fail(in.name + ": duplicate field " + f.name);
        const uint32_t m = (f.width >= 32 ? 0xFFFFFFFFu : ((1u << f.width) - 1u)) << f.lo;
        if (mask[f.word] & m) fail(in.name + ": field " + f.name + " overlaps another field");
        mask[f.word] |= m;
      }
      for (const auto& s : in.syntax)
        if (!fnames.count(s)) fail(in.name + ": syntax names unknown field " + s);
      masks.push_back(mask);
      const std::string id = "kFields_" + cident(in.name);
      emit_fields(id, in.fields);
      tables << "const uint8_t kSyntax_" << cident(in.name) << "[] = {";
      for (const auto& s : in.syntax)
        for (size_t j = 0; j < in.fields.size(); ++j)
          if (in.fields[j].name == s) tables << j << ", ";
      tables << "0};\n";
    }
    tables << "const InstrSpec kInstrs[] = {\n";
    for (size_t i = 0; i < instrs.size(); ++i) {
      const Instr& in = instrs[i];
      char op[8];
      std::snprintf(op, sizeof op, "0x%02X", in.opcode);
      tables << "    {" << quote(in.name) << ", " << op << ", static_cast<Engine>(" << engine_id(in.engine) << "), "
             << quote(in.summary) << ", " << (in.fields.empty() ? "nullptr" : "kFields_" + cident(in.name)) << ", "
             << in.fields.size() << ", kSyntax_" << cident(in.name) << ", " << in.syntax.size() << ", {";
      for (uint32_t m : masks[i]) tables << "0x" << std::hex << m << std::dec << "u, ";
      tables << "}},\n";
    }
    tables << "};\n";

    struct PType {
      std::string id;     // ParamType enumerator
      int bytes;          // size in the entry
      std::string ctype;  // C++ type of the decoded field
    };
    static const std::map<std::string, PType> ptypes = {
        {"u8", {"U8", 1, "uint8_t"}},        {"u16", {"U16", 2, "uint16_t"}}, {"i32", {"I32", 4, "int32_t"}},
        {"u32", {"U32", 4, "uint32_t"}},     {"f32", {"F32", 4, "float"}},    {"enum", {"Enum", 1, "uint8_t"}},
        {"region", {"Region", 1, "uint8_t"}}};
    for (const auto& k : params) {
      std::array<uint8_t, 32> used{};
      used[0] = 1;
      for (int b = 28; b < 32; ++b) used[b] = 1;
      std::vector<std::string> ev;
      for (const auto& f : k.fields) {
        const auto t = ptypes.find(f.type);
        if (t == ptypes.end()) fail("param " + k.name + "." + f.name + ": unknown type " + f.type);
        for (int b = f.offset; b < f.offset + t->second.bytes; ++b) {
          if (b < 1 || b > 27 || used[b]) fail("param " + k.name + "." + f.name + ": overlaps or out of bytes 1..27");
          used[b] = 1;
        }
        if (f.type == "i32" || f.type == "u32" || f.type == "f32") {
          if (f.offset % 4) fail("param " + k.name + "." + f.name + ": 32-bit fields are 4-byte aligned");
        }
        if (f.type == "u16" && f.offset % 2) fail("param " + k.name + "." + f.name + ": u16 fields are 2-byte aligned");
        ev.push_back(emit_enum_values("kParam_" + k.name + "_" + f.name + "_values", f.values));
      }
      tables << "const ParamFieldSpec kParamFields_" << k.name << "[] = {\n";
      for (size_t i = 0; i < k.fields.size(); ++i) {
        const auto& f = k.fields[i];
        tables << "    {" << quote(f.name) << ", " << f.offset << ", ParamType::" << ptypes.at(f.type).id << ", "
               << ev[i] << ", " << f.values.size() << ", " << quote(f.description) << "},\n";
      }
      tables << "};\n";
      tables << "const std::array<uint8_t, 32> kParamUsed_" << k.name << " = {";
      for (auto u : used) tables << int(u) << ",";
      tables << "};\n";
    }
    tables << "const ParamKindSpec kParams[] = {\n";
    for (const auto& k : params)
      tables << "    {" << quote(k.name) << ", " << k.kind << ", " << quote(k.summary) << ", kParamFields_" << k.name
             << ", " << k.fields.size() << ", kParamUsed_" << k.name << "},\n";
    tables << "};\n";

    tables << "const EngineSpec kEngines[] = {\n";
    for (size_t i = 0; i < engines.size(); ++i)
      tables << "    {" << quote(engines[i].first) << ", static_cast<Engine>(" << i << "), " << quote(engines[i].second)
             << "},\n";
    tables << "};\n";
    std::vector<std::string> dtype_names;
    tables << "const DTypeSpec kDTypes[] = {\n";
    for (const auto& d : root["dtypes"]) {
      dtype_names.push_back(str(d, "name"));
      tables << "    {" << quote(str(d, "name")) << ", " << d["bytes"].as<int>() << ", " << quote(str(d, "acc")) << ", "
             << quote(str(d, "description")) << "},\n";
    }
    tables << "};\n";
    const YAML::Node lim = root["limits"];
    tables << "const IsaSpec kSpec = {" << vmaj << ", " << vmin << ", kEngines, kHeader, " << header.size()
           << ", kInstrs, " << instrs.size() << ", kParams, " << params.size() << ", kDTypes, " << dtype_names.size()
           << ", " << lim["semaphores"].as<int>() << ", " << lim["semaphore_max"].as<int>() << ", "
           << lim["regions"].as<int>() << ", " << lim["descriptors"].as<int>() << ", " << lim["params"].as<int>()
           << "};\n";
    tables << "}  // namespace\n";

    // isa_ops.h: opcode constants and typed accessors.
    std::ostringstream ops;
    ops << "// Generated by isa_gen from isa/isa.yaml. Do not edit.\n#pragma once\n#include <array>\n#include "
           "<cstdint>\n#include <cstring>\n\n#include \"isa/spec.h\"\n\n"
        << "namespace npusim::isa {\n\n"
        << "inline constexpr uint16_t kIsaVersionMajor = " << vmaj << ";\n"
        << "inline constexpr uint16_t kIsaVersionMinor = " << vmin << ";\n\n"
        << "/// Every opcode of the ISA.\nenum class Opcode : uint8_t {\n";
    for (const auto& in : instrs) {
      char op[8];
      std::snprintf(op, sizeof op, "0x%02X", in.opcode);
      ops << "  " << camel(in.name) << " = " << op << ",  ///< " << in.summary << "\n";
    }
    ops << "};\n\n/// Bit ranges of the common header.\nnamespace header {\n";
    for (const auto& f : header)
      ops << "inline constexpr BitRange " << f.name << "{" << f.word << ", " << f.lo << ", " << f.width << "};  ///< "
          << f.description << "\n";
    ops << "}  // namespace header\n\n/// Bit ranges of each instruction's fields.\nnamespace fields {\n";
    for (const auto& in : instrs) {
      if (in.fields.empty()) continue;
      ops << "namespace " << cident(in.name) << " {\n"
          << field_namespace_body("one `" + in.name + "`", in.fields) << "}  // namespace " << cident(in.name) << "\n";
    }
    ops << "}  // namespace fields\n\n/// The fields shared by the instructions of each format (e.g. the binary VPU "
           "ops), "
           "decoded alike.\nnamespace formats {\n";
    for (const auto& [name, fmt] : formats)
      ops << "namespace " << name << " {\n"
          << field_namespace_body("an instruction of the `" + name + "` format", fmt.first) << "}  // namespace "
          << name << "\n";
    ops << "}  // namespace formats\n\n/// Parameter kinds (byte 0 of a PARAM entry) and byte offsets of their "
           "fields.\n"
        << "namespace params {\n";
    for (const auto& k : params) {
      ops << "namespace " << k.name << " {\ninline constexpr uint8_t kKind = " << k.kind << ";\n";
      for (const auto& f : k.fields) {
        check_decoder_name("param " + k.name, f.name, true);
        ops << "inline constexpr uint8_t " << f.name << " = " << f.offset << ";  ///< " << f.type << ": "
            << f.description << "\n";
        for (size_t v = 0; v < f.values.size(); ++v)
          ops << "inline constexpr uint8_t " << f.name << "_" << f.values[v] << " = " << v << ";\n";
      }
      // The decoded entry: one member per field (multi-byte fields little-endian, as the container).
      ops << "/// Every field of a `" << k.name << "` entry, decoded (decode()).\nstruct Fields {\n";
      for (const auto& f : k.fields)
        ops << "  " << ptypes.at(f.type).ctype << " " << f.name << ";  ///< " << f.description << "\n";
      ops << "};\n/// Reads every field of a `" << k.name << "` entry from its 32 bytes `b`.\n"
          << "inline Fields decode(const std::array<uint8_t, 32>& b) {\n  Fields out{};\n";
      for (const auto& f : k.fields) {
        const int size = ptypes.at(f.type).bytes;
        if (size == 1)
          ops << "  out." << f.name << " = b[" << f.name << "];\n";
        else if (size == 2)
          ops << "  out." << f.name << " = static_cast<uint16_t>(b[" << f.name << "] | (b[" << f.name
              << " + 1] << 8));\n";
        else
          ops << "  std::memcpy(&out." << f.name << ", b.data() + " << f.name << ", 4);\n";
      }
      ops << "  return out;\n}\n}  // namespace " << k.name << "\n";
    }
    ops << "}  // namespace params\n\n/// Element types nameable by dtype fields, in enum order.\n"
        << "enum class ElemType : uint8_t {";
    for (size_t i = 0; i < dtype_names.size(); ++i) ops << (i ? ", " : " ") << camel(dtype_names[i]) << " = " << i;
    ops << " };\n\n}  // namespace npusim::isa\n";

    // isa.md
    std::ostringstream md;
    md << "<!-- Generated by isa_gen from isa/isa.yaml; `ninja -C build docs` refreshes it and the test\n"
          "     isa_docs_current fails when it is stale. Edit isa/isa.yaml, not this file. -->\n";
    md << "# npusim instruction set, version " << vmaj << "." << vmin << "\n\n";
    md << root["overview"].as<std::string>() << "\n";
    md << "## Engines\n\n| id | engine | role |\n|---|---|---|\n";
    for (size_t i = 0; i < engines.size(); ++i)
      md << "| " << i << " | `" << engines[i].first << "` | " << engines[i].second << " |\n";
    md << "\n## Common header (w0)\n\n| bits | field | meaning |\n|---|---|---|\n";
    for (const auto& f : header) md << "| " << bits_text(f) << " | `" << f.name << "` | " << f.description << " |\n";
    md << "\nIn `.npus` the header is written as suffixes: `!wait(sem)` or `!wait(sem,n)`, `!sig(sem)`, `!irq`.\n"
          "When `wait_en` is 0, `wait_sem` and `wait_cnt` must be 0; when `sig_en` is 0, `sig_sem` must be 0.\n";
    md << "\n## Element types\n\n| dtype | bytes | accumulator | meaning |\n|---|---|---|---|\n";
    for (const auto& d : root["dtypes"])
      md << "| `" << str(d, "name") << "` | " << d["bytes"].as<int>() << " | " << str(d, "acc") << " | "
         << str(d, "description") << " |\n";
    md << "\n## Instructions\n\n| opcode | mnemonic | engine | summary |\n|---|---|---|---|\n";
    for (const auto& in : instrs) {
      char op[8];
      std::snprintf(op, sizeof op, "0x%02X", in.opcode);
      md << "| " << op << " | [`" << in.name << "`](#" << cident(in.name) << ") | " << in.engine << " | " << in.summary
         << " |\n";
    }
    for (size_t i = 0; i < instrs.size(); ++i) {
      const Instr& in = instrs[i];
      char op[8];
      std::snprintf(op, sizeof op, "0x%02X", in.opcode);
      md << "\n### <a id=\"" << cident(in.name) << "\"></a>`" << in.name << "` (" << op << ", " << in.engine << ")\n\n"
         << in.summary << "\n\n";
      md << "Syntax: `" << in.name;
      bool first = true;
      for (const auto& s : in.syntax) {
        md << (first ? " " : ", ") << "<" << s << ">";
        first = false;
      }
      for (const auto& f : in.fields) {
        if (std::find(in.syntax.begin(), in.syntax.end(), f.name) != in.syntax.end()) continue;
        bool implied = false;
        for (const auto& g : in.fields)
          if (g.space_flag == f.name) implied = true;
        if (implied) continue;
        md << (first ? " " : ", ") << (f.kind == "flag" ? "[" + f.name + "]" : "[" + f.name + "=…]");
        first = false;
      }
      md << "`\n\n";
      if (!in.fields.empty()) {
        md << "| bits | field | kind | meaning |\n|---|---|---|---|\n";
        for (const auto& f : in.fields) {
          std::string kind = f.kind;
          if (f.kind == "enum") {
            kind += ": ";
            for (size_t v = 0; v < f.values.size(); ++v)
              kind += (v ? ", " : "") + std::to_string(v) + "=" + f.values[v];
          }
          if (f.kind == "line")
            kind += f.space_flag.empty() ? " (" + f.space + ")" : " (spad or acc by " + f.space_flag + ")";
          if (f.kind == "param") kind += " (" + f.param_kind + (f.optional ? ", optional" : "") + ")";
          md << "| " << bits_text(f) << " | `" << f.name << "` | " << kind << " | " << f.description << " |\n";
        }
        md << "\n";
      }
      char mbuf[80];
      std::snprintf(mbuf, sizeof mbuf, "%08X %08X %08X %08X", masks[i][0], masks[i][1], masks[i][2], masks[i][3]);
      md << "Defined-bit mask (w0 w1 w2 w3): `" << mbuf << "`; every other bit must be zero.\n";
    }
    md << "\n## Parameter tables\n\nEach PARAM entry is 32 bytes: byte 0 the kind, bytes 28..31 the name (STRTAB "
          "offset), "
          "multi-byte fields little-endian. Bytes no field claims must be zero.\n";
    for (const auto& k : params) {
      md << "\n### `" << k.name << "` (kind " << k.kind << ")\n\n"
         << k.summary << "\n\n| byte | field | type | meaning |\n|---|---|---|---|\n";
      for (const auto& f : k.fields) {
        std::string t = f.type;
        if (!f.values.empty()) {
          t += ": ";
          for (size_t v = 0; v < f.values.size(); ++v) t += (v ? ", " : "") + std::to_string(v) + "=" + f.values[v];
        }
        md << "| " << f.offset << " | `" << f.name << "` | " << t << " | " << f.description << " |\n";
      }
    }
    for (const auto& s : root["semantics"])
      md << "\n## " << s["title"].as<std::string>() << "\n\n" << s["text"].as<std::string>();

    const std::string out = argv[2];
    write_file(out + "/isa_tables.inc", tables.str());
    write_file(out + "/isa_ops.h", ops.str());
    write_file(out + "/isa.md", md.str());
  } catch (const std::exception& e) {
    std::cerr << "isa_gen: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
