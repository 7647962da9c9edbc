// Lowering of ONNX operators to npusim instructions: the shared machinery. Float activations live
// in DRAM regions in the compiled precision (fp16 or bf16); integer tensors (int8, uint8, int32)
// keep their type, so quantized models run bit-exact. Every operator is tiled to the SRAM sizes and
// runs as a chain of LOAD → (MXU) → VPU → STORE instructions ordered by seven semaphores, so the
// next tile (and the next operator) starts when the previous store has completed; inside Gemm and
// Conv tiles the A/B loads are double-buffered. The order is correct by construction and
// `validate_program`/the deadlock proof check it. Weights are converted at compile time (floats to
// the precision with Gemm's alpha folded in; quantized weights minus their zero points, as int8
// passes).
//
// `Lowering` holds the program being built and the helpers every operator uses (tensor locations,
// constants, descriptors, parameters, instructions, the tiled element-wise, matmul and
// convolution emitters); the operators themselves live in compiler/ops/<family>.cpp, registered in
// compiler/op_registry.h. lowering.cpp defines the storage and dispatch, tiling.cpp the emitters.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "compiler/compile.h"
#include "isa_ops.h"

namespace npusim::compiler::lowering {

namespace f = isa::fields;
using isa::Instruction;
using isa::Opcode;

/// Where a tensor lives in DRAM, viewed as rows x cols of the device type.
struct Location {
  uint8_t region = 0;                            ///< region id
  uint64_t offset = 0;                           ///< byte offset in the region
  int64_t rows = 0;                              ///< leading dimensions collapsed
  int64_t cols = 0;                              ///< last dimension
  isa::TensorType type = isa::TensorType::FP16;  ///< device element type
  int32_t zp = 0;                                ///< zero point (what padded loads of a quantized tensor insert)
};

/// How rows_op walks its operands when they are not dense out.rows x out.cols matrices.
struct RowsWalk {
  int64_t out_stride = -1;  ///< elements between output rows (-1: out.cols)
  int64_t out_col0 = 0;     ///< first output column (element offset added to the store)
  int64_t in_stride = -1;   ///< elements between rows of the non-broadcast inputs (-1: out.cols)
  int64_t in_col0 = 0;      ///< element offset added to their loads
  bool uses_acc = false;    ///< the VPU sequence keeps a tile of i32/fp32 in the accumulator at line 0
};

/// Semaphore ids (see the Lowering constructor).
inline constexpr int kGo = 0, kL2M = 1, kM2L = 2, kM2V = 3, kL2V = 4, kV2S = 5, kM2S = 6, kV2M = 7;

/// A tile's requantization: its PARAM entry and, with a per-channel entry, the table entry of the
/// tile's first column (the instruction's col0), so one entry serves every channel tile of a layer.
struct RequantRef {
  uint32_t q = 0;     ///< PARAM entry
  uint32_t col0 = 0;  ///< first per-channel table entry of the tile (0 for a per-tensor entry)
  RequantRef(uint32_t entry = 0, uint32_t first_col = 0) : q(entry), col0(first_col) {}  // an entry id converts
};

/// A tiled matrix multiply to emit: Y[M x N] = A[M x K] . B[K x N] on top of an initial
/// accumulator (bias), then an epilogue (requant to Y's type, or the i32 accumulator stored as is).
enum class Bias { None, ConstRow, ConstFull, DynRow, DynFull };
struct GemmPlan {
  Location a, b, c, y;                                ///< A, B, a computed C, Y
  bool trans_a = false;                               ///< A stored as K rows of M
  bool b_transposed = false;                          ///< B stored as N rows of K
  int64_t M = 0, K = 0, N = 0;                        ///< problem size
  int passes = 1;                                     ///< B holds `passes` K x N matrices whose products add up
  Bias bias = Bias::None;                             ///< how the accumulator starts
  isa::TensorType bias_type = isa::TensorType::FP32;  ///< constant bias type in the weights (FP32 or I32)
  uint64_t bias_off = 0, ratio_off = 0;               ///< constant bias; beta/alpha row for a computed C
  uint32_t mm_dtype = 2;                              ///< matmul dtype code
  std::function<RequantRef(int64_t n0)> requant_for;  ///< epilogue of the tile at column n0; none: store i32
};

/// The batches of a batched matrix product, NumPy-broadcast: output batch bi reads batch ia of
/// A and ib of B (leading dimensions right-aligned to the output's; size-1 dimensions repeat).
struct BatchMap {
  std::vector<int64_t> y, a, b;  ///< batch dimensions of Y, and of A and B padded to Y's rank
  int64_t count = 1;             ///< output batches
  BatchMap(const std::vector<int64_t>& as, const std::vector<int64_t>& bs, const std::vector<int64_t>& ys)
      : y(ys.begin(), ys.end() - 2), a(pad(as)), b(pad(bs)) {
    for (int64_t d : y) count *= d;
  }
  std::vector<int64_t> pad(const std::vector<int64_t>& s) const {
    std::vector<int64_t> d(s.begin(), s.end() - 2);
    d.insert(d.begin(), y.size() - d.size(), 1);
    return d;
  }
  std::pair<int64_t, int64_t> operands(int64_t bi) const {
    int64_t rem = bi, ia = 0, ib = 0, sa = 1, sb = 1;
    for (size_t d = y.size(); d-- > 0;) {
      const int64_t idx = rem % y[d];
      rem /= y[d];
      ia += (a[d] == 1 ? 0 : idx) * sa;
      ib += (b[d] == 1 ? 0 : idx) * sb;
      sa *= a[d];
      sb *= b[d];
    }
    return {ia, ib};
  }
};

/// Element offsets of the current batch of a batched MatMul (zero otherwise).
struct BatchOffsets {
  int64_t a = 0, b = 0, y = 0;
};

/// Padding and stride of a 2-D window operator (Conv, pools): pads [top, left] after auto_pad.
struct Window {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
};

/// One kernel tap's view of a band of output rows: the output rows and columns whose input pixel
/// (out * stride + tap * dilation - pad) lies inside the image.
struct Tap {
  int64_t kh, kw, oh_lo, oh_hi, ow_lo, ow_hi;
};

/// A tiled 2-D convolution to emit (Conv, QLinearConv, ConvInteger): weights as
/// [pass][G][KH][KW][Cg][Cog], an initial accumulator per band, an epilogue per channel tile.
struct ConvPlan {
  Location x, y, w;  ///< input, output, weights (offset of pass 0)
  Window win;        ///< strides, dilations, padding
  int64_t N = 0, C = 0, H = 0, W = 0, Co = 0, OH = 0, OW = 0, KH = 0, KW = 0, G = 1;  ///< shapes
  int passes = 1;                                     ///< weight passes whose products add up
  uint32_t mm_dtype = 2;                              ///< matmul dtype code
  isa::TensorType bias_type = isa::TensorType::FP32;  ///< bias type (FP32 or I32), Co values
  /// Byte offset of the bias for a band whose contributing taps are given (-1: none).
  std::function<int64_t(const std::vector<Tap>&)> bias_for_band;
  std::function<RequantRef(int64_t c0)> requant_for;  ///< epilogue for output channels from c0; none: store i32
};

// ------------------------------------------------------------------ free helpers
/// "node 'NAME' (OP)", how errors name a node.
std::string where(const Node& n);
std::string shape_text(const std::vector<int64_t>& s);
inline bool is_float_type(isa::TensorType t) {
  return t == isa::TensorType::FP16 || t == isa::TensorType::BF16;
}
inline unsigned bytes_of(isa::TensorType t) {
  return isa::tensor_type_bytes(t);
}
inline Instruction make(Opcode op) {
  Instruction i;
  i.w[0] = static_cast<uint32_t>(op);
  return i;
}
/// A tile operand of a VPU instruction: its first line and whether it is in the accumulator.
struct Tile {
  uint32_t line = 0;  ///< first line
  bool acc = false;   ///< in the accumulator (i32/fp32) rather than the scratchpad (device type)
};
/// A VPU instruction of the binary format (add, sub, mul, max, min) without requantization;
/// `bcast`: b is one row used for every row.
inline Instruction vpu_binary(Opcode op, uint32_t dtype, Tile dst, Tile a, Tile b, bool bcast, uint32_t rows,
                              uint32_t cols) {
  Instruction i = make(op);  // every binary op has add's field layout
  i.set(f::add::dst, dst.line);
  i.set(f::add::dst_acc, dst.acc ? 1 : 0);
  i.set(f::add::src0, a.line);
  i.set(f::add::src0_acc, a.acc ? 1 : 0);
  i.set(f::add::src1, b.line);
  i.set(f::add::src1_acc, b.acc ? 1 : 0);
  i.set(f::add::bcast, bcast ? 1 : 0);
  i.set(f::add::rows, rows);
  i.set(f::add::cols, cols);
  i.set(f::add::dtype, dtype);
  i.set(f::add::q, isa::kNoParam);
  return i;
}
inline std::vector<Instruction> as_list(Instruction i) {
  return {i};
}
inline std::vector<Instruction> as_list(std::vector<Instruction> v) {
  return v;
}

inline int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
inline int64_t ceil_div(int64_t a, int64_t b) {
  return -floor_div(-a, b);
}

/// The window of a 2-D window operator with a kh x kw kernel (strides, dilations, pads, auto_pad).
Window window(const Node& n, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t kh, int64_t kw);
/// The taps of a KH x KW window that see the image for output rows [oh0, oh0 + th); the others
/// only see padding there and add zero.
std::vector<Tap> taps_for_band(const Window& win, int64_t KH, int64_t KW, int64_t H, int64_t W, int64_t OW, int64_t oh0,
                               int64_t th);

// ------------------------------------------------------------------ the lowering
class Lowering {
 public:
  Lowering(const Graph& g, const TargetInfo& t, const CompileOptions& o);
  /// Lowers every node in order and checks the program.
  CompiledModel run();

  // ---------------------------------------------------------------- storage (lowering.cpp)
  /// The device type of a tensor: float tensors in the compiled precision, integers as they are.
  isa::TensorType type_of(const Tensor& t, const std::string& role) const;
  /// The ISA's 2-bit element-type code (i8, u8, fp16, bf16) of VPU and MXU instructions.
  uint32_t code(isa::TensorType t, const Node& n) const;
  /// Rank-4 tensors ([N, C, H, W] in ONNX) live as NHWC on the device: pixels as rows, channels
  /// along the row, the layout the ISA's padded loads and pool instruction work on.
  /// Whether a tensor is an image on the device (NHWC). Decided once for the graph by
  /// mark_spatial(): the inputs and outputs of image operators (kImage), and everything connected
  /// to them through element-wise ones (kElementwise); other rank-4 tensors stay row-major.
  bool is_spatial(const Tensor& t) const { return t.shape.size() == 4 && spatial_.count(t.name) > 0; }
  void mark_spatial();
  /// The device view of a tensor: rows x cols (NHWC: N*H*W pixels x C channels).
  std::pair<int64_t, int64_t> view(const Tensor& t) const;
  /// Constant values in device order (NCHW → NHWC for rank 4).
  std::vector<double> device_order(const Tensor& t) const;
  std::string io_region(const Tensor& t, isa::RegionRole role);
  /// Location of a tensor an operator reads: an activation already placed, or a constant
  /// placed now in the weights region (converted to the device type).
  Location input(const Node& n, size_t i);
  /// Output location: the graph output's region, or fresh space among the activations.
  Location output(const Node& n, size_t i = 0);
  /// Fresh space among the activations for `elements` of `type`.
  Location scratch(isa::TensorType type, int64_t elements);
  uint64_t align64(std::vector<uint8_t>& v);
  /// Appends values in the device type (round to nearest even) to the weights; returns the offset.
  uint64_t put_device(const std::vector<double>& values);
  /// Appends values in `type` (integers must be in range); returns the offset.
  uint64_t put_typed(const std::vector<double>& values, isa::TensorType type);
  /// Appends i32 values (accumulator-side integer biases); returns the offset.
  uint64_t put_i32(const std::vector<int32_t>& values);
  /// Appends fp32 values (accumulator-side biases); returns the offset.
  uint64_t put_fp32(const std::vector<float>& values);
  /// Input i of n as a constant scalar.
  double const_scalar(const Node& n, size_t i);

  // ---------------------------------------------------------------- instructions (lowering.cpp)
  std::string unique_marker(const std::string& name);
  void emit_mark(uint32_t marker, bool end);
  /// Appends `i`, waiting for `wait_n` on `wait_sem` and signalling `sig_sem` (-1: neither).
  void emit(Instruction i, int wait_sem, uint32_t wait_n, int sig_sem);
  /// A load of the rows x cols tile at (row0, col0) of a row-major matrix with `row_elems` elements
  /// per row that starts `base_elems` elements into `l`, into the scratchpad at `dst`.
  Instruction tile_load(uint32_t dst, const Location& l, int64_t base_elems, int64_t row0, int64_t col0, uint32_t rows,
                        uint32_t cols, int64_t row_elems);
  /// Descriptor of a rows x cols box with a row stride of `stride_elems` elements (0: broadcast row).
  uint32_t desc(uint8_t region, isa::TensorType dt, uint64_t base, uint32_t cols, uint32_t rows, int64_t stride_elems);
  /// Descriptor of a box (innermost first) with element strides for dimensions 1... Returns a
  /// pending handle for the instruction's desc field: emit() resolves it (resolve_desc).
  uint32_t desc_nd(uint8_t region, isa::TensorType dt, uint64_t base, const std::vector<uint32_t>& box,
                   const std::vector<int64_t>& stride_elems, int32_t zero_point = 0);
  /// Replaces the pending handle in a load/store/gather by a table entry keyed without the base
  /// offset: the base folds into the instruction's element offset (address = desc offset + off *
  /// element bytes is unchanged), so the table holds one entry per distinct box, strides and type.
  /// A base that is not a whole number of elements, or whose fold leaves the 32-bit off field,
  /// stays in the entry.
  void resolve_desc(Instruction& i, const isa::BitRange& desc_field, const isa::BitRange& off_field);
  uint32_t lines(uint64_t rows, uint64_t cols, unsigned es) const {
    return static_cast<uint32_t>(rows * ((cols * es + t_.line_bytes - 1) / t_.line_bytes));
  }

  // ---------------------------------------------------------------- parameters (lowering.cpp)
  /// fp32-mode requant entry converting accumulators to the device type, times `scale`.
  uint32_t to_device_param(float scale);
  /// Clamp bounds for float tiles and, rounded inward, for integer ones.
  uint32_t clamp_param(float lo, float hi);
  /// Adds a parameter entry named prefix + index, or returns an equal one's index.
  uint32_t add_param(isa::Param p, const std::string& prefix);

  // ---------------------------------------------------------------- dispatch (lowering.cpp)
  /// Lowers one node: its registered lowering, else its host kernel, else an error.
  void lower(const Node& n);
  /// A lowering leaving node n to the host says why (the error names it when no host kernel may
  /// run it); returns false, what the lowering then returns.
  bool decline(const Node& n, std::string why) {
    declined_ = where(n) + ": " + std::move(why);
    return false;
  }
  /// An operator left to the host: `barrier all` (every earlier instruction has completed),
  /// `irq kHostIrqBase + index` (the runner runs the reference kernel when it completes),
  /// `barrier ctrl` (nothing later is dispatched before that). Tensors stay row-major.
  void host(const Node& n);

  // ---------------------------------------------------------------- emitters (tiling.cpp)
  /// Row tiles of an element-wise operation: loads of the inputs, a VPU sequence (one instruction
  /// or several in order: the first waits for the loads, the last signals the store), a store.
  template <typename MakeVpu>
  void rows_op(const Node& n, const std::vector<Location>& ins, const std::vector<bool>& bcast_row, const Location& out,
               MakeVpu make_vpu, const RowsWalk& walk = {});
  /// out = la (op) lb row by row; `bcast`: lb is one row for every row.
  void rows_binary(const Node& n, const Location& la, const Location& lb, bool bcast, const Location& out, Opcode op);
  /// The input through a clamp (parameter entry `clamp`) into the output.
  void unary(const Node& n, uint32_t clamp);
  void emit_gemm(const Node& n, const GemmPlan& g);
  /// The shapes, groups and window of a 2-D convolution (Conv, QLinearConv, ConvInteger), checked.
  /// Groups: group g maps input channels [g*Cg, (g+1)*Cg) to output channels [g*Cog, (g+1)*Cog);
  /// each group is an ordinary convolution on channel slices, addressed by element offsets.
  ConvPlan conv_shapes(const Node& n, const Tensor& x, const Tensor& w, const Tensor& y);
  void emit_conv(const Node& n, const ConvPlan& cp);
  /// The load of one tap's window for a band: `cc` channels from `c_off` of image `b` (NHWC, C
  /// channels), strided by the convolution's strides and zero-padded where the tap leaves the image.
  Instruction window_load(const Node& n, const Location& lx, const Window& win, const Tap& t, int64_t oh0, int64_t th,
                          int64_t OW, int64_t H, int64_t W, int64_t C, int64_t b, int64_t c_off, uint32_t cc,
                          uint32_t dst);

  // ---------------------------------------------------------------- state
  const Graph& g_;                               ///< the model
  TargetInfo t_;                                 ///< the hardware
  std::string precision_;                        ///< fp16 | bf16
  isa::TensorType dev_;                          ///< device type of float tensors
  uint32_t elem_ = 2;                            ///< ISA dtype enum value of dev_
  isa::Program p_;                               ///< being built
  std::map<std::string, Location> loc_;          ///< where each tensor lives
  uint8_t weights_region_ = 0, act_region_ = 0;  ///< region ids
  std::vector<uint8_t> weights_;                 ///< contents of the weights region
  uint64_t act_bytes_ = 0;                       ///< activation space used
  std::map<std::tuple<uint8_t, int, uint8_t, int32_t, uint64_t, std::array<uint32_t, 4>, std::array<int64_t, 3>>,
           uint32_t>
      descs_;  ///< table entry of each distinct descriptor (region, type, rank, zero point, offset, box, strides)
  /// A descriptor made by desc_nd and not yet resolved by emit(): `live` until its instruction is emitted.
  struct PendingDesc {
    isa::TensorDesc d;  ///< with its base offset
    bool live = false;  ///< handed out, its instruction not yet emitted
  };
  std::vector<PendingDesc> pending_descs_;   ///< by handle (the 12-bit desc field: at most 4096)
  uint32_t next_pending_ = 0;                ///< next handle to try
  std::string lowering_where_;               ///< where(n) of the node being lowered (table-limit errors)
  BatchOffsets batch_;                       ///< the current batch of a batched MatMul
  std::map<float, uint32_t> to_dev_params_;  ///< fp32 → device requant entries by scale
  bool fallback_ = true;                     ///< host kernels allowed
  std::vector<HostOp> host_ops_;             ///< operators left to the host
  std::set<std::string> spatial_;            ///< tensors stored NHWC (see mark_spatial)
  std::set<std::string> marker_names_;       ///< for unique markers
  std::string declined_;                     ///< why the last lowering left its node to the host (decline)
};

template <typename MakeVpu>
void Lowering::rows_op(const Node& n, const std::vector<Location>& ins, const std::vector<bool>& bcast_row,
                       const Location& out, MakeVpu make_vpu, const RowsWalk& walk) {
  const int64_t R = out.rows, C = out.cols;
  if (C > 4095) throw CompileError(where(n) + ": last dimension " + std::to_string(C) + " exceeds 4095 elements");
  unsigned es = bytes_of(out.type);  // the widest element sizes the rows
  for (const Location& l : ins) es = std::max(es, bytes_of(l.type));
  const uint32_t row_l = lines(1, static_cast<uint64_t>(C), es);
  int64_t tr = std::min<int64_t>(R, 4095);
  while (uint64_t{row_l} * tr * (ins.size() + 1) * t_.line_bytes > t_.spad_bytes && tr > 1) tr = (tr + 1) / 2;
  while (walk.uses_acc && uint64_t{lines(tr, C, 4)} * t_.line_bytes > t_.acc_bytes && tr > 1) tr = (tr + 1) / 2;
  const int64_t istride = walk.in_stride < 0 ? C : walk.in_stride;
  for (int64_t r0 = 0; r0 < R; r0 += tr) {
    const auto rr = static_cast<uint32_t>(std::min(tr, R - r0));
    std::vector<uint32_t> src_lines;
    for (size_t i = 0; i < ins.size(); ++i) {
      const uint32_t line = static_cast<uint32_t>(i) * row_l * static_cast<uint32_t>(tr);
      src_lines.push_back(line);
      Instruction l = make(Opcode::Load);
      l.set(f::load::dst, line);
      if (bcast_row[i]) {
        l.set(f::load::desc, desc(ins[i].region, ins[i].type, ins[i].offset, static_cast<uint32_t>(C), 1, C));
      } else {
        l.set(f::load::desc, desc(ins[i].region, ins[i].type, ins[i].offset, static_cast<uint32_t>(C), rr, istride));
        l.set(f::load::off, static_cast<uint32_t>(r0 * istride + walk.in_col0));
      }
      emit(l, i == 0 ? kGo : -1, 1, kL2V);
    }
    const uint32_t dst = static_cast<uint32_t>(ins.size()) * row_l * static_cast<uint32_t>(tr);
    const std::vector<Instruction> vs = as_list(make_vpu(dst, src_lines, rr, static_cast<uint32_t>(C)));
    for (size_t k = 0; k < vs.size(); ++k)
      emit(vs[k], k == 0 ? kL2V : -1, static_cast<uint32_t>(ins.size()), k + 1 == vs.size() ? kV2S : -1);
    Instruction st = make(Opcode::Store);
    st.set(f::store::src, dst);
    const int64_t ostride = walk.out_stride < 0 ? C : walk.out_stride;
    st.set(f::store::desc, desc(out.region, out.type, out.offset, static_cast<uint32_t>(C), rr, ostride));
    st.set(f::store::off, static_cast<uint32_t>(r0 * ostride + walk.out_col0));
    emit(st, kV2S, 1, kGo);
  }
}

}  // namespace npusim::compiler::lowering
