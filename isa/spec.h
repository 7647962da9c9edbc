// The instruction-set tables, as C++ data. The tables themselves are generated from isa/isa.yaml
// (isa_gen writes isa_tables.inc and isa_ops.h); this header declares their shape and lookups.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace npusim::isa {

/// Engines (queue ids) of the NPU; the value is opcode[7:5].
enum class Engine : uint8_t { Ctrl = 0, Load = 1, Store = 2, Mxu = 3, Vpu = 4 };
inline constexpr int kEngineCount = 5;

/// How an instruction field's value is interpreted and written in `.npus`.
enum class FieldKind : uint8_t {
  Uint,        ///< unsigned integer
  Sint,        ///< two's-complement signed integer
  Count,       ///< unsigned, must be >= 1
  Flag,        ///< one bit, written as a bare word
  Enum,        ///< named values
  Line,        ///< SRAM line address, written s[N] or acc[N]
  Sem,         ///< semaphore id
  Desc,        ///< tensor-descriptor id
  Param,       ///< parameter-table id
  Region,      ///< region id
  Marker,      ///< DEBUG marker id
  EngineMask,  ///< bit per engine
};

/// Which SRAM a Line field addresses.
enum class Space : uint8_t { None, Spad, Acc, ByFlag };

/// A bit range inside a 128-bit instruction.
struct BitRange {
  uint8_t word;   ///< 0..3
  uint8_t lo;     ///< lowest bit within the word
  uint8_t width;  ///< 1..32
  constexpr uint32_t mask() const { return width >= 32 ? 0xFFFFFFFFu : ((1u << width) - 1u); }
  constexpr uint32_t get(const std::array<uint32_t, 4>& w) const { return (w[word] >> lo) & mask(); }
  constexpr void set(std::array<uint32_t, 4>& w, uint32_t v) const {
    w[word] = (w[word] & ~(mask() << lo)) | ((v & mask()) << lo);
  }
  /// Sign-extended value (for Sint fields).
  constexpr int64_t get_signed(const std::array<uint32_t, 4>& w) const {
    const uint32_t v = get(w);
    if (width >= 32) return static_cast<int32_t>(v);
    const uint32_t sign = 1u << (width - 1);
    return static_cast<int64_t>(v ^ sign) - static_cast<int64_t>(sign);
  }
};

/// One field of an instruction (or of the common header).
struct FieldSpec {
  const char* name;                ///< name used in `.npus` and docs
  BitRange bits;                   ///< where it lives
  FieldKind kind;                  ///< interpretation
  Space space;                     ///< for Line fields: which SRAM
  int8_t space_flag;               ///< for Space::ByFlag: index of the flag field in the same list
  bool implied;                    ///< a space flag: written through its Line operand, never alone
  const char* const* enum_values;  ///< for Enum fields
  uint8_t enum_count;              ///< number of enum_values
  int8_t param_kind;               ///< for Param fields: required param kind index (-1: any)
  bool optional;                   ///< for Param fields: 0xFFF means "none"
  const char* description;         ///< one line for docs and `npusim info --isa`
};

/// One instruction.
struct InstrSpec {
  const char* name;                      ///< mnemonic
  uint8_t opcode;                        ///< full 8-bit opcode
  Engine engine;                         ///< executing engine (opcode[7:5])
  const char* summary;                   ///< one line of semantics
  const FieldSpec* fields;               ///< op-specific fields
  uint8_t field_count;                   ///< number of fields
  const uint8_t* syntax;                 ///< indexes of positional operands, in order
  uint8_t syntax_count;                  ///< number of positional operands
  std::array<uint32_t, 4> defined_bits;  ///< header + fields; all other bits are reserved
};

/// Element type of one parameter-table field.
enum class ParamType : uint8_t { U8, U16, I32, U32, F32, Enum, Region };

/// One field of a parameter-table entry.
struct ParamFieldSpec {
  const char* name;                ///< name used in `.param`
  uint8_t offset;                  ///< byte offset in the 32-byte entry
  ParamType type;                  ///< storage and interpretation
  const char* const* enum_values;  ///< for Enum fields
  uint8_t enum_count;              ///< number of enum_values
  const char* description;         ///< one line
};

/// One kind of parameter-table entry.
struct ParamKindSpec {
  const char* name;                       ///< e.g. "requant"
  uint8_t kind;                           ///< value of byte 0
  const char* summary;                    ///< one line
  const ParamFieldSpec* fields;           ///< its fields
  uint8_t field_count;                    ///< number of fields
  std::array<uint8_t, 32> defined_bytes;  ///< 1 where a field (or kind/name) lives
};

/// One element type nameable by dtype fields.
struct DTypeSpec {
  const char* name;         ///< i8, u8, fp16, bf16
  uint8_t bytes;            ///< element size
  const char* acc;          ///< accumulator type used with it
  const char* description;  ///< one line
};

/// Engine description.
struct EngineSpec {
  const char* name;         ///< e.g. "mxu"
  Engine id;                ///< queue id
  const char* description;  ///< one line
};

/// The whole generated ISA.
struct IsaSpec {
  uint16_t version_major;       ///< container checks: equal
  uint16_t version_minor;       ///< container checks: <= ours
  const EngineSpec* engines;    ///< kEngineCount entries
  const FieldSpec* header;      ///< common w0 fields
  uint8_t header_count;         ///< number of header fields
  const InstrSpec* instrs;      ///< every instruction
  uint8_t instr_count;          ///< number of instructions
  const ParamKindSpec* params;  ///< every parameter kind
  uint8_t param_count;          ///< number of parameter kinds
  const DTypeSpec* dtypes;      ///< dtype enum names in order
  uint8_t dtype_count;          ///< number of dtypes
  uint16_t max_semaphores;      ///< semaphores per program
  uint32_t semaphore_max;       ///< largest counter value
  uint16_t max_regions;         ///< regions per program
  uint16_t max_descriptors;     ///< descriptors per program
  uint16_t max_params;          ///< parameter entries per program
};

/// The ISA built into this binary.
const IsaSpec& spec();
/// Instruction with this opcode, or nullptr.
const InstrSpec* find_instr(uint8_t opcode);
/// Instruction with this mnemonic, or nullptr.
const InstrSpec* find_instr(std::string_view mnemonic);
/// Parameter kind by name or by byte-0 value, or nullptr.
const ParamKindSpec* find_param_kind(std::string_view name);
const ParamKindSpec* find_param_kind_by_value(uint8_t kind);
/// Field of an instruction by name, or nullptr.
const FieldSpec* find_field(const InstrSpec& instr, std::string_view name);
/// Engine name ("ctrl"...), and lookup by name (false if unknown).
const char* engine_name(Engine e);
bool engine_from_name(std::string_view name, Engine& out);

/// Param id meaning "none" in optional Param fields.
inline constexpr uint32_t kNoParam = 0xFFF;

}  // namespace npusim::isa
