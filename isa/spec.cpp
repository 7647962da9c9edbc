// Lookups over the generated ISA tables (isa_tables.inc, derived from isa/isa.yaml).
#include "isa/spec.h"

#include <array>
#include <cstring>

#include "isa_tables.inc"

namespace npusim::isa {

const IsaSpec& spec() {
  return kSpec;
}

const InstrSpec* find_instr(uint8_t opcode) {
  // 256-entry index built once; opcodes are unique (isa_gen checks).
  static const std::array<const InstrSpec*, 256> by_opcode = [] {
    std::array<const InstrSpec*, 256> t{};
    for (const auto& in : kInstrs) t[in.opcode] = &in;
    return t;
  }();
  return by_opcode[opcode];
}

const InstrSpec* find_instr(std::string_view mnemonic) {
  for (const auto& in : kInstrs)
    if (mnemonic == in.name) return &in;
  return nullptr;
}

const ParamKindSpec* find_param_kind(std::string_view name) {
  for (const auto& k : kParams)
    if (name == k.name) return &k;
  return nullptr;
}

const ParamKindSpec* find_param_kind_by_value(uint8_t kind) {
  for (const auto& k : kParams)
    if (kind == k.kind) return &k;
  return nullptr;
}

const FieldSpec* find_field(const InstrSpec& instr, std::string_view name) {
  for (int i = 0; i < instr.field_count; ++i)
    if (name == instr.fields[i].name) return &instr.fields[i];
  return nullptr;
}

const char* engine_name(Engine e) {
  const auto i = static_cast<size_t>(e);
  return i < static_cast<size_t>(kEngineCount) ? kEngines[i].name : "?";
}

bool engine_from_name(std::string_view name, Engine& out) {
  for (const auto& e : kEngines)
    if (name == e.name) {
      out = e.id;
      return true;
    }
  return false;
}

}  // namespace npusim::isa
