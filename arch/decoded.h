// One decoded form per instruction, read by both halves of the functional model and by the engines.
//
// decode() reads an instruction's fields once (through the generated isa::fields::<instr>::decode()
// and isa::params::<kind>::decode()), resolves its descriptor and parameter entries and derives the
// SRAM tiles it names. FunctionalModel decodes a whole program when it is built; plan() (what the
// instruction touches, bounds faults), execute() (the data) and the SystemC engines (timing,
// co-simulation, semaphores) all read that form instead of the raw bits. Decoding never faults: the
// bounds checks belong to plan(), which knows the memories.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "isa/program.h"
#include "isa_ops.h"

namespace npusim::arch {

/// Bytes of one accumulator element (i32 or fp32).
inline constexpr uint8_t kAccBytes = 4;

/// Lines one row of `cols` elements of `esize` bytes takes (rows start on line boundaries).
inline uint64_t row_lines_for(uint64_t cols, unsigned esize, uint32_t line) {
  return (cols * esize + line - 1) / line;
}

/// Where an operand lives in one SRAM: row r at line `line + r * row_lines`.
struct TileSpan {
  bool acc = false;        ///< in the accumulator, else in the scratchpad
  uint8_t esize = 0;       ///< element bytes
  uint32_t line = 0;       ///< first line
  uint64_t row_lines = 0;  ///< lines from one row to the next
  uint64_t lines = 0;      ///< lines the operand covers (what plan() checks and the SRAM timing sees)
};

/// nop and finish's data side: nothing to do (finish's draining is FenceOp).
struct NoOp {};

/// sem.set: sets a semaphore.
struct SemSetOp {
  uint32_t sem = 0;    ///< semaphore id
  uint32_t value = 0;  ///< its new value
};

/// barrier and finish: stop dispatch until the engines of the mask have drained.
struct FenceOp {
  uint32_t engines = 0;  ///< bit per engine to drain (finish: every engine)
  bool finish = false;   ///< finish: the program ends when it completes
};

/// irq: raises the user interrupt.
struct IrqOp {
  uint32_t code = 0;  ///< user code for IRQ_CODE
};

/// mark: begins or ends a marker span.
struct MarkOp {
  bool begin = false;   ///< begins the span, else ends it
  uint32_t marker = 0;  ///< marker id
};

/// wr.imm and perf.snap: a small write at a byte offset of a region.
struct RegionWriteOp {
  bool perf_snap = false;  ///< perf.snap (the engine writes the counters), else wr.imm
  uint32_t region = 0;     ///< region id
  uint64_t offset = 0;     ///< byte offset in the region
  uint64_t bytes = 0;      ///< bytes written (4 for wr.imm, 64 for perf.snap)
  uint32_t value = 0;      ///< wr.imm's immediate
  const char* what = "";   ///< name in bounds faults
};

/// load and store: one descriptor box between a DRAM region and SRAM.
struct DmaOp {
  bool is_load = false;                   ///< load (DRAM to SRAM), else store
  const isa::TensorDesc* desc = nullptr;  ///< the descriptor walked
  int64_t elem_off = 0;                   ///< element offset added to the descriptor's origin
  uint32_t pad_top = 0;                   ///< padding rows before box dimension 2 (load)
  uint32_t pad_bottom = 0;                ///< padding rows after box dimension 2 (load)
  uint32_t pad_left = 0;                  ///< padding rows before box dimension 1 (load)
  uint32_t pad_right = 0;                 ///< padding rows after box dimension 1 (load)
  bool pad_zp = false;                    ///< padding holds the descriptor's zero point (load)
  unsigned esize = 0;                     ///< element bytes of the descriptor's dtype
  uint64_t row_elems = 0;                 ///< elements per row (box[0])
  uint64_t row_bytes = 0;                 ///< bytes per row
  uint64_t rows = 0;                      ///< rows of the walk, padding included
  TileSpan sram;                          ///< the SRAM side: row j at sram.line + j * sram.row_lines
};

/// gather: the rows of a rank-2 descriptor table named by i32 indices in the scratchpad.
struct GatherOp {
  const isa::TensorDesc* desc = nullptr;  ///< the table: box[0] elements per row, box[1] rows stride[0] bytes apart
  int64_t elem_off = 0;                   ///< element offset added to the descriptor's origin
  bool wrap = false;                      ///< a negative index i reads row i + box[1] (else it faults)
  unsigned esize = 0;                     ///< element bytes of the descriptor's dtype
  uint64_t row_elems = 0;                 ///< elements per row (box[0])
  uint64_t row_bytes = 0;                 ///< bytes per row
  uint64_t table_rows = 0;                ///< rows of the table (box[1])
  uint64_t count = 0;                     ///< rows gathered
  TileSpan idx;                           ///< the indices: count packed i32 from idx.line
  TileSpan sram;                          ///< the destination: row j at sram.line + j * sram.row_lines
};

/// fill: a 32-bit pattern over SRAM lines.
struct FillOp {
  TileSpan dst;        ///< lines written (rows of one line, elements of the 4-byte pattern)
  uint32_t value = 0;  ///< pattern, little-endian
};

/// matmul: C (+)= A x B.
struct MatmulOp {
  isa::ElemType dtype{};    ///< operand type
  uint32_t m = 0;           ///< rows of A and C
  uint32_t n = 0;           ///< columns of B and C
  uint32_t k = 0;           ///< columns of A, rows of B
  bool trans_a = false;     ///< A stored as k rows of m
  bool trans_b = false;     ///< B stored as n rows of k
  bool accumulate = false;  ///< add to C
  bool reuse_b = false;     ///< B already resident in the array (timing only)
  TileSpan a;               ///< A in the scratchpad
  TileSpan b;               ///< B in the scratchpad
  TileSpan c;               ///< C in the accumulator
  /// i8 or u8 operands (integer MACs), else fp16/bf16.
  bool integer() const { return dtype == isa::ElemType::I8 || dtype == isa::ElemType::U8; }
};

/// requant: accumulator values to a scratchpad type.
struct RequantOp {
  isa::ElemType dtype{};             ///< output type
  uint32_t acc_type = 0;             ///< how the accumulator is read (isa::fields::requant::acc_type_*)
  uint64_t rows = 0;                 ///< rows of the tile
  uint64_t cols = 0;                 ///< elements per row
  TileSpan src;                      ///< input in the accumulator
  TileSpan dst;                      ///< output in the scratchpad
  isa::params::requant::Fields q{};  ///< the requant parameter
};

/// add, sub, mul, max, min: element-wise on two tiles.
struct BinaryOp {
  isa::Opcode op{};                  ///< which operation
  isa::ElemType dtype{};             ///< type of scratchpad operands
  uint64_t rows = 0;                 ///< rows of the tile
  uint64_t cols = 0;                 ///< elements per row
  bool bcast = false;                ///< src1 is one row used for every row
  TileSpan src0;                     ///< first operand
  TileSpan src1;                     ///< second operand (one row with bcast)
  TileSpan dst;                      ///< result
  bool has_q = false;                ///< an integer scratchpad result is requantized by q (else saturated)
  isa::params::requant::Fields q{};  ///< the requant parameter when has_q
};

/// clamp, copy, sfu, reduce: one source tile to one destination tile.
struct UnaryOp {
  isa::Opcode op{};                     ///< which operation
  isa::ElemType dtype{};                ///< type of scratchpad operands
  uint64_t rows = 0;                    ///< rows of the source
  uint64_t cols = 0;                    ///< elements per source row
  TileSpan src;                         ///< source
  TileSpan dst;                         ///< destination (cols x rows with transpose, rows x 1 for reduce)
  bool transpose = false;               ///< copy: write the transpose
  uint32_t fn = 0;                      ///< sfu: the function (isa::fields::sfu::fn_*)
  uint32_t reduction = 0;               ///< reduce: sum, max or min (isa::fields::reduce::op_*)
  isa::params::clamp::Fields bounds{};  ///< clamp: the bounds
};

/// cmp: element-wise comparison into a u8 0/1 tile.
struct CmpOp {
  isa::ElemType dtype{};  ///< type of scratchpad operands
  uint32_t cmp = 0;       ///< the comparison (isa::fields::cmp::op_*)
  uint64_t rows = 0;      ///< rows of the tile
  uint64_t cols = 0;      ///< elements per row
  bool bcast = false;     ///< src1 is one row used for every row
  TileSpan src0;          ///< first operand
  TileSpan src1;          ///< second operand (one row with bcast)
  TileSpan dst;           ///< u8 result
};

/// select: dst = cond ? src : dst.
struct SelectOp {
  uint64_t rows = 0;  ///< rows of the tile
  uint64_t cols = 0;  ///< elements per row
  TileSpan src;       ///< values where cond is true
  TileSpan cond;      ///< u8 condition
  TileSpan dst;       ///< read and written (same SRAM and element size as src)
};

/// cvt: element type conversion.
struct CvtOp {
  isa::ElemType src_type{};  ///< source element type (i32/fp32 when src.acc)
  isa::ElemType dtype{};     ///< destination element type (i32/fp32 when dst.acc)
  uint64_t rows = 0;         ///< rows of the tile
  uint64_t cols = 0;         ///< elements per row
  TileSpan src;              ///< source
  TileSpan dst;              ///< destination
};

/// pool: 2-D max or average pooling of an HWC tile.
struct PoolOp {
  isa::ElemType dtype{};               ///< element type
  bool avg = false;                    ///< average, else max
  uint64_t channels = 0;               ///< elements per row (pixel)
  isa::params::pool::Fields window{};  ///< window, strides, padding and input size
  uint64_t out_h = 0;                  ///< output height
  uint64_t out_w = 0;                  ///< output width
  TileSpan src;                        ///< input, in_h * in_w rows
  TileSpan dst;                        ///< output, out_h * out_w rows
};

/// lut: table lookup of 8-bit elements.
struct LutOp {
  isa::ElemType dtype{};  ///< index type (i8 or u8)
  uint64_t rows = 0;      ///< rows of the tile
  uint64_t cols = 0;      ///< elements per row
  TileSpan src;           ///< indices
  TileSpan dst;           ///< results
  TileSpan table;         ///< the 256-byte table
};

/// One instruction, decoded: its header and its family's operands.
struct Decoded {
  isa::Opcode op{};      ///< opcode
  isa::Engine engine{};  ///< executing engine
  isa::SemUse sem;       ///< wait/signal header
  /// The operands, by instruction family.
  std::variant<NoOp, SemSetOp, FenceOp, IrqOp, MarkOp, RegionWriteOp, DmaOp, GatherOp, FillOp, MatmulOp, RequantOp,
               BinaryOp, UnaryOp, PoolOp, LutOp, CmpOp, SelectOp, CvtOp>
      ops;
};

/// Decodes instruction `inst` of validated program `prog` for SRAM lines of `line_bytes`.
Decoded decode(const isa::Instruction& inst, const isa::Program& prog, uint32_t line_bytes);

/// Every instruction of `prog`, decoded, by index.
std::vector<Decoded> decode_program(const isa::Program& prog, uint32_t line_bytes);

}  // namespace npusim::arch
