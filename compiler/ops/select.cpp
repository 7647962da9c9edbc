// Masks and selection: Equal, Less, Greater, LessOrEqual, GreaterOrEqual (VPU `cmp`), Not, And,
// Or, Xor, Where (`select`) and Cast (`cvt`), all with NumPy broadcasting (Expand is a layout
// operator: compiler/ops/pad.cpp).
//
// Device types: floats in the compiled precision (scratchpad), int32 and int64 (narrowed) as i32
// in the accumulator, bool as u8 0/1 in the scratchpad. Each result is exact:
//  * comparisons are made in the accumulator type (fp32 holds every fp16/bf16 value, i32 every
//    i32), with IEEE semantics for NaN, and write u8 0/1;
//  * And = min, Or = max on 0/1 values; Xor = (a != b); Not = (a == 0);
//  * Where loads y into the result tile and lets `select` overwrite the elements where the
//    condition is set with x's bits (infinities and NaN move unchanged: masked_fill(-inf) is exact);
//  * Cast converts with `cvt` (floats to integers truncate toward zero; a bool result is x != 0).
// Broadcasting: the output's dimensions are merged where every operand is contiguous or broadcast
// alike; the innermost dimension is the tiles' row, the next one the tiles' rows (a broadcast
// operand is loaded with a zero row stride), the outer ones are walked one tile per index. A constant
// operand broadcast along the innermost dimension is expanded along it at compile time; a computed
// one makes each element its own row (slow but exact).
#include <algorithm>
#include <cmath>

#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

/// One operand of a broadcast operation.
struct Operand {
  Location loc;                 ///< where it lives in DRAM
  std::vector<int64_t> stride;  ///< element stride per output dimension (0: broadcast)
};

/// Where a tile sits in SRAM.
struct TileRef {
  uint32_t line = 0;  ///< first line
  bool acc = false;   ///< in the accumulator (i32), else the scratchpad
};

/// The VPU work of one tile: its instructions (in order) and the tile the store reads.
struct VpuWork {
  std::vector<Instruction> instrs;  ///< first waits for the loads, last signals the store
  TileRef out;                      ///< the result tile
};

bool in_acc(isa::TensorType t) {
  return t == isa::TensorType::I32;
}

/// The 2-bit dtype code of a device type as an operand: i32 lives in the accumulator with an
/// integer code (i8).
uint32_t dtype_code(Lowering& L, isa::TensorType t, const Node& n) {
  return in_acc(t) ? 0 : L.code(t, n);
}

/// Right-aligned contiguous strides of `s` within output shape `y` (0 where s broadcasts).
std::vector<int64_t> strides_in(const std::vector<int64_t>& s, const std::vector<int64_t>& y) {
  std::vector<int64_t> st(y.size(), 0);
  int64_t run = 1;
  for (size_t k = 0; k < s.size(); ++k) {
    const size_t ds = s.size() - 1 - k, dy = y.size() - 1 - k;
    st[dy] = s[ds] == 1 && y[dy] != 1 ? 0 : run;
    run *= s[ds];
  }
  return st;
}

/// Operand i of n within output shape y. A constant broadcast along the last dimension is
/// expanded along it (so the tiles' rows need no element broadcast).
Operand operand(Lowering& L, const Node& n, size_t i, const std::vector<int64_t>& y) {
  const Tensor& t = L.g_.tensor(n.inputs.at(i));
  if (t.shape.size() > y.size())
    throw CompileError(where(n) + ": input '" + t.name + "' has a higher rank than the output");
  for (size_t k = 0; k < t.shape.size(); ++k) {
    const int64_t d = t.shape[t.shape.size() - 1 - k], yd = y[y.size() - 1 - k];
    if (d != yd && d != 1)
      throw CompileError(where(n) + ": input '" + t.name + "' " + shape_text(t.shape) + " does not broadcast to " +
                         shape_text(y));
  }
  if (L.is_spatial(t)) throw CompileError(where(n) + ": image (NHWC) operands are not supported by this operator");
  const int64_t last = y.empty() ? 1 : y.back();
  const bool last_bcast = last > 1 && (t.shape.empty() || t.shape.back() == 1);
  if (t.is_const && !L.loc_.count(t.name) && last_bcast) {
    std::vector<int64_t> s(y.size(), 1);  // t right-aligned, its last dimension widened to `last`
    for (size_t k = 0; k < t.shape.size(); ++k) s[y.size() - t.shape.size() + k] = t.shape[k];
    s.back() = last;
    std::vector<double> v;
    v.reserve(t.values.size() * static_cast<size_t>(last));
    for (double x : t.values) v.insert(v.end(), static_cast<size_t>(last), x);
    const isa::TensorType type = L.type_of(t, where(n) + ": constant");
    return {{L.weights_region_, L.put_typed(v, type), 0, 0, type}, strides_in(s, y)};
  }
  return {L.input(n, i), strides_in(t.shape, y)};
}

/// A constant operand of `type` holding `value` everywhere (a row of `cols`, broadcast).
Operand splat(Lowering& L, isa::TensorType type, double value, const std::vector<int64_t>& y) {
  const int64_t last = y.empty() ? 1 : y.back();
  std::vector<int64_t> st(y.size(), 0);
  if (!st.empty()) st.back() = 1;
  return {{L.weights_region_, L.put_typed(std::vector<double>(static_cast<size_t>(last), value), type), 1, last, type},
          st};
}

/// Tiles of out = f(operands) over output shape y (see the file comment). make_vpu(tiles, fresh, rows, cols)
/// gives the VPU work of one tile; `out_tile` says where the result tile goes (it may be an
/// operand's tile, which the VPU then writes in place).
template <typename Make>
void broadcast_op(Lowering& L, const Node& n, std::vector<Operand> ops, const std::vector<int64_t>& y,
                  const Location& out, Make make_vpu) {
  const Tensor& yt = L.g_.tensor(n.outputs.at(0));
  if (L.is_spatial(yt)) throw CompileError(where(n) + ": an image (NHWC) output is not supported by this operator");
  int64_t total = 1;
  for (int64_t d : y) total *= d;
  if (total == 0) return;
  // Merge dimensions (outermost first), dropping those of size 1; the output is operand `ops.size()`.
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> st(ops.size() + 1);
  const std::vector<int64_t> ys = strides_in(y, y);
  for (size_t d = 0; d < y.size(); ++d) {
    if (y[d] == 1) continue;
    auto stride_of = [&](size_t k) { return k < ops.size() ? ops[k].stride[d] : ys[d]; };
    bool merge = !dims.empty();
    for (size_t k = 0; merge && k <= ops.size(); ++k) merge = st[k].back() == stride_of(k) * y[d];
    if (merge) {
      dims.back() *= y[d];
      for (size_t k = 0; k <= ops.size(); ++k) st[k].back() = stride_of(k);
    } else {
      dims.push_back(y[d]);
      for (size_t k = 0; k <= ops.size(); ++k) st[k].push_back(stride_of(k));
    }
  }
  if (dims.empty()) {  // a single element
    dims = {1};
    for (auto& s : st) s = {1};
  }
  // The row: the innermost dimension when every operand is dense along it, else single elements.
  bool dense_last = true;
  for (size_t k = 0; k < ops.size(); ++k) dense_last = dense_last && st[k].back() == 1;
  const int64_t cols = dense_last ? dims.back() : 1;
  std::vector<int64_t> row_dims(dims.begin(), dims.end() - (dense_last ? 1 : 0));
  std::vector<std::vector<int64_t>> row_st;
  for (auto& s : st) row_st.emplace_back(s.begin(), s.end() - (dense_last ? 1 : 0));
  if (row_dims.empty()) {
    row_dims = {1};
    for (auto& s : row_st) s = {0};
  }
  const int64_t n1 = row_dims.back();  // the tiles' rows
  // Tile size: every operand's tile and the result tile fit their SRAMs.
  int64_t tc = std::min<int64_t>(cols, 4095), tr = std::min<int64_t>(n1, 4095);
  const uint64_t line = L.t_.line_bytes;
  auto fits = [&] {
    uint64_t spad = 0, acc = 0;
    for (const Operand& o : ops) (in_acc(o.loc.type) ? acc : spad) += L.lines(tr, tc, bytes_of(o.loc.type)) * line;
    (in_acc(out.type) ? acc : spad) += L.lines(tr, tc, bytes_of(out.type)) * line;
    return spad <= L.t_.spad_bytes && acc <= L.t_.acc_bytes;
  };
  while (!fits() && (tr > 1 || tc > 1)) {
    if (tr > 1)
      tr = (tr + 1) / 2;
    else
      tc = (tc + 1) / 2;
  }
  if (!fits()) throw CompileError(where(n) + ": no tile fits the SRAM");
  std::vector<TileRef> tiles;
  uint32_t spad_line = 0, acc_line = 0;
  for (const Operand& o : ops) {
    uint32_t& next = in_acc(o.loc.type) ? acc_line : spad_line;
    tiles.push_back({next, in_acc(o.loc.type)});
    next += L.lines(tr, tc, bytes_of(o.loc.type));
  }
  const TileRef fresh{in_acc(out.type) ? acc_line : spad_line, in_acc(out.type)};
  // Walk the outer dimensions (an odometer), the rows in chunks of tr, the row in chunks of tc.
  const size_t outer_n = row_dims.size() - 1;
  std::vector<int64_t> at(outer_n, 0);
  for (bool more = true; more;) {
    std::vector<int64_t> base(ops.size() + 1, 0);
    for (size_t k = 0; k <= ops.size(); ++k)
      for (size_t d = 0; d < outer_n; ++d) base[k] += at[d] * row_st[k][d];
    for (int64_t r0 = 0; r0 < n1; r0 += tr)
      for (int64_t c0 = 0; c0 < cols; c0 += tc) {
        const auto rr = static_cast<uint32_t>(std::min(tr, n1 - r0)),
                   cc = static_cast<uint32_t>(std::min(tc, cols - c0));
        for (size_t k = 0; k < ops.size(); ++k) {
          const Location& l = ops[k].loc;
          const int64_t rs = row_st[k].back();
          Instruction ld = make(Opcode::Load);
          ld.set(f::load::dst_acc, tiles[k].acc ? 1 : 0);
          ld.set(f::load::dst, tiles[k].line);
          ld.set(f::load::desc, L.desc(l.region, l.type, l.offset, cc, rr, rs));
          ld.set(f::load::off, static_cast<uint32_t>(base[k] + r0 * rs + c0));
          L.emit(ld, k == 0 ? kGo : -1, 1, kL2V);
        }
        const VpuWork w = make_vpu(tiles, fresh, rr, cc);
        for (size_t i = 0; i < w.instrs.size(); ++i)
          L.emit(w.instrs[i], i == 0 ? kL2V : -1, static_cast<uint32_t>(ops.size()),
                 i + 1 == w.instrs.size() ? kV2S : -1);
        const int64_t os = row_st[ops.size()].back();
        Instruction s = make(Opcode::Store);
        s.set(f::store::src_acc, w.out.acc ? 1 : 0);
        s.set(f::store::src, w.out.line);
        s.set(f::store::desc, L.desc(out.region, out.type, out.offset, cc, rr, os));
        s.set(f::store::off, static_cast<uint32_t>(base[ops.size()] + r0 * os + c0));
        L.emit(s, kV2S, 1, kGo);
      }
    more = false;
    for (size_t d = outer_n; d-- > 0;) {
      if (++at[d] < row_dims[d]) {
        more = true;
        break;
      }
      at[d] = 0;
    }
  }
}

Instruction cmp_instr(const TileRef& dst, const TileRef& a, const TileRef& b, uint32_t op, uint32_t dtype,
                      uint32_t rows, uint32_t cols) {
  Instruction i = make(Opcode::Cmp);
  i.set(f::cmp::dst, dst.line);
  i.set(f::cmp::src0, a.line);
  i.set(f::cmp::src0_acc, a.acc ? 1 : 0);
  i.set(f::cmp::src1, b.line);
  i.set(f::cmp::src1_acc, b.acc ? 1 : 0);
  i.set(f::cmp::op, op);
  i.set(f::cmp::dtype, dtype);
  i.set(f::cmp::rows, rows);
  i.set(f::cmp::cols, cols);
  return i;
}

const std::vector<int64_t>& out_shape(Lowering& L, const Node& n) {
  return L.g_.tensor(n.outputs.at(0)).shape;
}

/// Both operands of a binary operator, which must have one type.
std::vector<Operand> two(Lowering& L, const Node& n) {
  const auto& y = out_shape(L, n);
  std::vector<Operand> ops{operand(L, n, 0, y), operand(L, n, 1, y)};
  if (ops[0].loc.type != ops[1].loc.type)
    throw CompileError(where(n) + ": the inputs have different types (" +
                       std::string(dtype_name(L.g_.tensor(n.inputs[0]).dtype)) + ", " +
                       dtype_name(L.g_.tensor(n.inputs[1]).dtype) + ")");
  return ops;
}

bool lower_compare(Lowering& L, const Node& n, const OpInfo&) {
  namespace c = f::cmp;
  const uint32_t op = n.op == "Equal"            ? c::op_eq
                      : n.op == "Less"           ? c::op_lt
                      : n.op == "LessOrEqual"    ? c::op_le
                      : n.op == "Greater"        ? c::op_gt
                      : n.op == "GreaterOrEqual" ? c::op_ge
                                                 : c::op_ne;  // Xor on 0/1 values
  std::vector<Operand> ops = two(L, n);
  const uint32_t dt = dtype_code(L, ops[0].loc.type, n);
  const Location out = L.output(n);
  if (out.type != isa::TensorType::U8) throw CompileError(where(n) + ": the output must be bool");
  broadcast_op(L, n, ops, out_shape(L, n), out,
               [&](const std::vector<TileRef>& t, const TileRef& fresh, uint32_t rows, uint32_t cols) {
                 return VpuWork{{cmp_instr(fresh, t[0], t[1], op, dt, rows, cols)}, fresh};
               });
  return true;
}

bool lower_logical(Lowering& L, const Node& n, const OpInfo&) {
  std::vector<Operand> ops = two(L, n);
  const Location out = L.output(n);
  if (ops[0].loc.type != isa::TensorType::U8 || out.type != isa::TensorType::U8)
    throw CompileError(where(n) + ": the inputs and the output must be bool");
  const Opcode op = n.op == "And" ? Opcode::Min : Opcode::Max;  // on 0/1: And = min, Or = max
  broadcast_op(L, n, ops, out_shape(L, n), out,
               [&](const std::vector<TileRef>& t, const TileRef& fresh, uint32_t rows, uint32_t cols) {
                 Instruction i = make(op);
                 i.set(f::min::dst, fresh.line);
                 i.set(f::min::src0, t[0].line);
                 i.set(f::min::src1, t[1].line);
                 i.set(f::min::rows, rows);
                 i.set(f::min::cols, cols);
                 i.set(f::min::dtype, f::min::dtype_u8);
                 i.set(f::min::q, isa::kNoParam);
                 return VpuWork{{i}, fresh};
               });
  return true;
}

/// out = (x op 0) for Not (eq) and Cast to bool (ne).
void against_zero(Lowering& L, const Node& n, uint32_t op) {
  const auto& y = out_shape(L, n);
  Operand x = operand(L, n, 0, y);
  const Operand zero = splat(L, x.loc.type, 0, y);
  const uint32_t dt = dtype_code(L, x.loc.type, n);
  broadcast_op(L, n, {x, zero}, y, L.output(n),
               [&](const std::vector<TileRef>& t, const TileRef& fresh, uint32_t rows, uint32_t cols) {
                 return VpuWork{{cmp_instr(fresh, t[0], t[1], op, dt, rows, cols)}, fresh};
               });
}

bool lower_not(Lowering& L, const Node& n, const OpInfo&) {
  if (L.type_of(L.g_.tensor(n.inputs.at(0)), where(n)) != isa::TensorType::U8)
    throw CompileError(where(n) + ": the input must be bool");
  against_zero(L, n, f::cmp::op_eq);
  return true;
}

bool lower_where(Lowering& L, const Node& n, const OpInfo&) {
  const auto& y = out_shape(L, n);
  const Operand c = operand(L, n, 0, y), x = operand(L, n, 1, y), v = operand(L, n, 2, y);
  const Location out = L.output(n);
  if (c.loc.type != isa::TensorType::U8) throw CompileError(where(n) + ": the condition must be bool");
  if (x.loc.type != v.loc.type || x.loc.type != out.type)
    throw CompileError(where(n) + ": X, Y and the output must have one type");
  const uint32_t dt = dtype_code(L, out.type, n);
  // Y into the result tile, then X's elements where the condition is set.
  broadcast_op(L, n, {c, x, v}, y, out,
               [&](const std::vector<TileRef>& t, const TileRef&, uint32_t rows, uint32_t cols) {
                 Instruction i = make(Opcode::Select);
                 i.set(f::select::dst, t[2].line);
                 i.set(f::select::dst_acc, t[2].acc ? 1 : 0);
                 i.set(f::select::src, t[1].line);
                 i.set(f::select::src_acc, t[1].acc ? 1 : 0);
                 i.set(f::select::cond, t[0].line);
                 i.set(f::select::dtype, dt);
                 i.set(f::select::rows, rows);
                 i.set(f::select::cols, cols);
                 return VpuWork{{i}, t[2]};
               });
  return true;
}

bool lower_cast(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& yt = L.g_.tensor(n.outputs.at(0));
  if (yt.dtype == DType::Bool) {  // ONNX: non-zero (NaN included) is true
    against_zero(L, n, f::cmp::op_ne);
    return true;
  }
  const auto& y = out_shape(L, n);
  const Operand x = operand(L, n, 0, y);
  const Location out = L.output(n);
  const uint32_t st = dtype_code(L, x.loc.type, n), dt = dtype_code(L, out.type, n);
  broadcast_op(L, n, {x}, y, out,
               [&](const std::vector<TileRef>& t, const TileRef& fresh, uint32_t rows, uint32_t cols) {
                 Instruction i = make(Opcode::Cvt);
                 i.set(f::cvt::dst, fresh.line);
                 i.set(f::cvt::dst_acc, fresh.acc ? 1 : 0);
                 i.set(f::cvt::src, t[0].line);
                 i.set(f::cvt::src_acc, t[0].acc ? 1 : 0);
                 i.set(f::cvt::src_type, st);
                 i.set(f::cvt::dtype, dt);
                 i.set(f::cvt::rows, rows);
                 i.set(f::cvt::cols, cols);
                 return VpuWork{{i}, fresh};
               });
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_select_ops(OpRegistry& r) {
  using namespace lowering;
  for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Xor"})
    r.add(op, lower_compare, 0);
  r.add("Not", lower_not, 0);
  r.add("And", lower_logical, 0);
  r.add("Or", lower_logical, 0);
  r.add("Where", lower_where, 0);
  r.add("Cast", lower_cast, 0);
}

}  // namespace npusim::compiler
