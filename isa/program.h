// The in-memory form of an npusim program: what a `.npub` container holds and what the assembler
// produces, the disassembler prints and the simulator loads. Byte layouts live in npub.cpp
// (documented in docs/npub-format.md); field meanings in docs/isa.md.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "isa/spec.h"

namespace npusim::isa {

/// One 128-bit instruction: four little-endian words.
struct Instruction {
  std::array<uint32_t, 4> w{};  ///< w0..w3
  uint8_t opcode() const { return static_cast<uint8_t>(w[0] & 0xFF); }
  Engine engine() const { return static_cast<Engine>(opcode() >> 5); }
  uint32_t get(const BitRange& r) const { return r.get(w); }
  void set(const BitRange& r, uint32_t v) { r.set(w, v); }
  bool operator==(const Instruction& o) const { return w == o.w; }
};

/// Decoded semaphore header of an instruction.
struct SemUse {
  bool wait = false;     ///< wait_en
  uint8_t wait_sem = 0;  ///< semaphore waited on
  uint8_t wait_n = 0;    ///< amount consumed (1..8)
  bool signal = false;   ///< sig_en
  uint8_t sig_sem = 0;   ///< semaphore signalled on completion
};
SemUse sem_use(const Instruction& inst);

/// Element types of tensor descriptors and I/O tensors (a superset of the dtype enum fields).
enum class TensorType : uint8_t { I8 = 0, U8 = 1, I16 = 2, I32 = 3, FP16 = 4, BF16 = 5, FP32 = 6 };
inline constexpr int kTensorTypeCount = 7;
const char* tensor_type_name(TensorType t);
bool tensor_type_from_name(std::string_view s, TensorType& out);
unsigned tensor_type_bytes(TensorType t);

/// The element type of an I/O tensor on the user's side when the host converts it (a compiled
/// model's float32, int64 or bool tensors); Device: the user gives and gets the device type itself.
enum class HostType : uint8_t { Device = 0, F32 = 1, I64 = 2, Bool = 3 };
inline constexpr int kHostTypeCount = 4;
/// "device", "f32", "i64", "bool".
const char* host_type_name(HostType t);
bool host_type_from_name(std::string_view s, HostType& out);

/// What the host binds to a region.
enum class RegionRole : uint8_t { Input = 0, Output = 1, Scratch = 2, Const = 3 };
inline constexpr int kRegionRoleCount = 4;
const char* region_role_name(RegionRole r);
bool region_role_from_name(std::string_view s, RegionRole& out);

/// Hardware a program was compiled for; the device refuses to run it on a mismatching config.
struct Target {
  uint16_t mxu_rows = 0;     ///< systolic rows the tiling assumes (0: any)
  uint16_t mxu_cols = 0;     ///< systolic cols (0: any)
  uint32_t spad_bytes = 0;   ///< minimum scratchpad size (bytes)
  uint32_t acc_bytes = 0;    ///< minimum accumulator size (bytes)
  uint32_t line_bytes = 0;   ///< SRAM line size every line address assumes (required, power of two)
  uint8_t dtype_mask = 0;    ///< bit per ElemType the MXU must support
  uint16_t vpu_lanes = 0;    ///< VPU lanes assumed (0: any)
  uint64_t config_hash = 0;  ///< if non-zero, the exact config the program needs
  bool operator==(const Target& o) const;
};

/// A DRAM region the host binds at run time.
struct Region {
  std::string name;           ///< unique name
  RegionRole role{};          ///< input/output/scratch/const
  uint64_t size = 0;          ///< bytes (>= 1)
  uint32_t align = 1;         ///< required base alignment (power of two)
  std::vector<uint8_t> init;  ///< initial bytes (const/scratch; trailing zeros trimmed)
};

/// A tensor descriptor: where one box of a tensor lives in a region and how to walk it.
struct TensorDesc {
  std::string name;                 ///< unique name
  uint8_t region = 0;               ///< region id
  TensorType dtype{};               ///< element type
  uint8_t rank = 1;                 ///< 1..4 box dimensions
  int32_t zero_point = 0;           ///< used by load's pad_zp
  uint64_t offset = 0;              ///< byte origin of the walk within the region
  std::array<uint32_t, 4> box{};    ///< elements per dimension, innermost first (unused: 0)
  std::array<int64_t, 3> stride{};  ///< bytes between elements of dims 1..3 (unused: 0)
};

/// A parameter-table entry (32 bytes, laid out by its kind; see docs/isa.md "Parameter tables").
struct Param {
  std::string name;                 ///< unique name
  std::array<uint8_t, 32> bytes{};  ///< raw entry; byte 0 = kind; bytes 28..31 written by the container
  uint8_t kind() const { return bytes[0]; }
};

/// A tensor the host passes in or reads back.
struct IoTensor {
  std::string name;                       ///< name used for .npy files and bindings
  uint8_t region = 0;                     ///< region id (input or output role)
  TensorType dtype{};                     ///< element type
  uint8_t rank = 1;                       ///< 1..4
  std::array<uint32_t, 4> dims{};         ///< shape, outermost first (unused: 0)
  uint64_t offset = 0;                    ///< byte offset in the region (dense row-major)
  float scale = 1.0f;                     ///< quantization scale (1 for unquantized)
  int32_t zero_point = 0;                 ///< quantization zero point
  HostType host_type = HostType::Device;  ///< the element type the user's side holds (compiled models)
  bool host_nchw = false;  ///< rank 4: the user's [N, C, H, W] is stored as `dims` [N, H, W, C] on the device
};

/// A semaphore declaration.
struct SemDecl {
  std::string name;   ///< unique name
  Engine consumer{};  ///< the only engine allowed to wait on it
  uint16_t init = 0;  ///< value at program start
};

/// A label: a name for an instruction index (also the start of a DEBUG span in reports).
struct Label {
  std::string name;    ///< label text
  uint32_t index = 0;  ///< instruction index
};

/// Everything in one `.npub`.
struct Program {
  Target target;                     ///< hardware requirements
  std::vector<Instruction> text;     ///< TEXT
  std::vector<TensorDesc> descs;     ///< DESC
  std::vector<Param> params;         ///< PARAM
  std::vector<Region> regions;       ///< REGIONS (+ CONST contents)
  std::vector<IoTensor> io;          ///< IO
  std::vector<SemDecl> sems;         ///< SEMS
  std::vector<Label> labels;         ///< DEBUG labels, ordered by index then declaration
  std::vector<std::string> markers;  ///< DEBUG marker names; id = position
  bool operator==(const Program& o) const;
};

/// True for names the assembler can read back: [A-Za-z_][A-Za-z0-9_.]*.
bool is_identifier(std::string_view s);

/// Checks one instruction against the ISA and the program's tables. Returns an empty string when
/// valid, else what is wrong (without the index; callers add it).
std::string check_instruction(const Instruction& inst, const Program& prog);

/// Checks a whole program's cross references (every table and instruction; finish last).
/// Throws InputError naming the entry or instruction index.
void validate_program(const Program& prog);

/// Bytes of a region's initial contents the program provides (others are zero).
inline uint64_t region_init_size(const Region& r) {
  return r.init.size();
}

}  // namespace npusim::isa
