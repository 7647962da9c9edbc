// Element-wise operators, each a tiled VPU sequence through rows_op: Relu and Clip (VPU clamps),
// the binary Add/Sub/Mul/Div/Pow/Max/Min and the variadic Sum/Mean/Max/Min (NumPy broadcasting,
// see operands()), the special functions on the VPU's `sfu` (Exp, Log, Reciprocal, Sqrt, Tanh,
// Sigmoid, Erf), and the activations built from them (Neg, Abs, LeakyRelu, Elu, HardSigmoid,
// HardSwish). Intermediate values of a sequence stay in the accumulator (fp32) where the ISA
// allows, so most operators round once, to the device type, at the end.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>

#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

Tile spad(uint32_t line) {
  return {line, false};
}
Tile acc(uint32_t line) {
  return {line, true};
}

/// A unary VPU instruction (copy, clamp, sfu: the unary format, clamp's field layout).
Instruction vun(Opcode op, uint32_t dtype, Tile dst, Tile src, uint32_t rows, uint32_t cols) {
  Instruction i = make(op);
  i.set(f::clamp::dst, dst.line);
  i.set(f::clamp::dst_acc, dst.acc ? 1 : 0);
  i.set(f::clamp::src, src.line);
  i.set(f::clamp::src_acc, src.acc ? 1 : 0);
  i.set(f::clamp::rows, rows);
  i.set(f::clamp::cols, cols);
  i.set(f::clamp::dtype, dtype);
  return i;
}
Instruction vsfu(uint32_t fn, uint32_t dtype, Tile dst, Tile src, uint32_t rows, uint32_t cols) {
  Instruction i = vun(Opcode::Sfu, dtype, dst, src, rows, cols);
  i.set(f::sfu::fn, fn);
  return i;
}
Instruction vclamp(uint32_t bounds, uint32_t dtype, Tile dst, Tile src, uint32_t rows, uint32_t cols) {
  Instruction i = vun(Opcode::Clamp, dtype, dst, src, rows, cols);
  i.set(f::clamp::bounds, bounds);
  return i;
}
/// dst (scratchpad, device type) = round(src (accumulator, fp32) x scale), the product in binary32:
/// the requant entry `q` from Lowering::to_device_param.
Instruction vscale(uint32_t q, uint32_t dtype, uint32_t dst, uint32_t src_acc, uint32_t rows, uint32_t cols) {
  Instruction i = make(Opcode::Requant);
  i.set(f::requant::dst, dst);
  i.set(f::requant::src, src_acc);
  i.set(f::requant::rows, rows);
  i.set(f::requant::cols, cols);
  i.set(f::requant::dtype, dtype);
  i.set(f::requant::q, q);
  return i;
}

/// The one value of a constant whose elements are all equal (a scalar or a splat), if it is one.
std::optional<double> uniform_const(const Tensor& t) {
  if (!t.is_const || t.values.empty()) return std::nullopt;
  for (double v : t.values)
    if (!(v == t.values[0])) return std::nullopt;
  return t.values[0];
}

/// The sequence of a unary operator on one tile: dst (scratchpad) from src (scratchpad), the
/// accumulator from line 0 free for intermediates when the operator asks for it.
using UnarySeq =
    std::function<std::vector<Instruction>(uint32_t dtype, uint32_t dst, uint32_t src, uint32_t rows, uint32_t cols)>;
void unary_seq(Lowering& L, const Node& n, const UnarySeq& seq, bool uses_acc) {
  const Location in = L.input(n, 0), out = L.output(n);
  RowsWalk w;
  w.uses_acc = uses_acc;
  const uint32_t dtype = L.code(in.type, n);
  L.rows_op(
      n, {in}, {false}, out,
      [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
        return seq(dtype, dst, src[0], rows, cols);
      },
      w);
}

// ------------------------------------------------------------------ NumPy broadcasting
/// An operand of an element-wise operator as rows_op reads it against the output's device view.
struct Operand {
  Location loc;      ///< where it lives
  bool row = false;  ///< one row read for every output row (else the output's rows x cols)
};

/// Tensor t's element strides per ONNX dimension in its device layout (row-major; NHWC images).
std::vector<int64_t> layout_strides(const Lowering& L, const Tensor& t) {
  const auto& s = t.shape;
  if (L.is_spatial(t)) return {s[1] * s[2] * s[3], 1, s[3] * s[1], s[1]};
  std::vector<int64_t> st(s.size());
  int64_t a = 1;
  for (size_t d = s.size(); d-- > 0;) st[d] = a, a *= s[d];
  return st;
}

/// Tensor t's ONNX dimensions in device order, outermost first (N, H, W, C for images).
std::vector<size_t> layout_order(const Lowering& L, const Tensor& t) {
  if (L.is_spatial(t)) return {0, 2, 3, 1};
  std::vector<size_t> o(t.shape.size());
  for (size_t d = 0; d < o.size(); ++d) o[d] = d;
  return o;
}

/// Whether t broadcasts to y as one device row: a row of y's last dimension (row-major y) or of
/// its channels (an image), every other dimension 1.
bool is_row_of(const Lowering& L, const Tensor& t, const Tensor& y) {
  const int64_t cols = L.view(y).second;
  if (t.elements() != cols || t.shape.size() > y.shape.size()) return false;
  const size_t off = y.shape.size() - t.shape.size();
  const size_t col_dim = L.is_spatial(y) ? 1 : y.shape.size() - 1;
  for (size_t d = 0; d < t.shape.size(); ++d)
    if (t.shape[d] != 1 && d + off != col_dim) return false;
  return true;
}

/// The values of constant t (optionally transformed) broadcast to y's shape, in y's device order.
std::vector<double> expand_const(const Lowering& L, const Tensor& t, const Tensor& y,
                                 const std::function<double(double)>& fn) {
  const size_t r = y.shape.size(), off = r - t.shape.size();
  Tensor e = y;  // y's name, so device_order() takes y's layout
  e.values.assign(static_cast<size_t>(y.elements()), 0.0);
  std::vector<int64_t> tst(t.shape.size());
  for (int64_t a = 1, d = static_cast<int64_t>(t.shape.size()) - 1; d >= 0; --d) tst[d] = a, a *= t.shape[d];
  for (int64_t i = 0; i < y.elements(); ++i) {
    int64_t rem = i, src = 0;
    for (size_t d = r; d-- > 0;) {
      const int64_t idx = rem % y.shape[d];
      rem /= y.shape[d];
      if (d >= off && t.shape[d - off] != 1) src += idx * tst[d - off];
    }
    const double v = t.values[static_cast<size_t>(src)];
    e.values[static_cast<size_t>(i)] = fn ? fn(v) : v;
  }
  return L.device_order(e);
}

/// Copies computed input i of n, NumPy-broadcast to y's shape, into fresh activation space in y's
/// device layout: the output walked in device order as rows of `box0` elements (the innermost
/// dimension when the input is dense along it, else single elements), merged dimensions as
/// descriptor dimensions with the input's strides (0 where it broadcasts), in chunks that fit the
/// scratchpad: a `load` of each chunk and a dense `store` of it.
Location materialise(Lowering& L, const Node& n, size_t i, const Tensor& y) {
  const Tensor& t = L.g_.tensor(n.inputs.at(i));
  const Location src = L.input(n, i);
  const size_t r = y.shape.size(), off = r - t.shape.size();
  const std::vector<int64_t> tst = layout_strides(L, t);
  struct Dim {
    int64_t extent, stride;  ///< elements of the output, the input's element stride along them
  };
  std::vector<Dim> dims;  // innermost first
  const std::vector<size_t> order = layout_order(L, y);
  for (size_t k = r; k-- > 0;) {
    const size_t d = order[k];
    if (y.shape[d] == 1) continue;
    const bool bc = d < off || t.shape[d - off] == 1;
    const Dim dim{y.shape[d], bc ? 0 : tst[d - off]};
    if (!dims.empty() && dim.stride == dims.back().stride * dims.back().extent)
      dims.back() = {dims.back().extent * dim.extent, dims.back().stride};  // merge with the inner one
    else
      dims.push_back(dim);
  }
  int64_t box0 = 1;
  if (!dims.empty() && dims[0].stride == 1) {
    box0 = dims[0].extent;
    dims.erase(dims.begin());
    for (int64_t b = std::min<int64_t>(box0, 4095);; --b)  // rows of at most 4095 elements
      if (box0 % b == 0) {
        if (b != box0) dims.insert(dims.begin(), Dim{box0 / b, b});
        box0 = b;
        break;
      }
  }
  const unsigned es = bytes_of(src.type);
  const uint64_t row_l = L.lines(1, static_cast<uint64_t>(box0), es);
  const int64_t max_rows =
      std::max<int64_t>(1, std::min<int64_t>(static_cast<int64_t>(L.t_.spad_bytes / L.t_.line_bytes / row_l), 4095));
  // Full dimensions [0, k) and a chunk of dimension k form one box (at most 3 dimensions after box0).
  size_t k = 0;
  int64_t inner = 1;
  while (k < dims.size() && k < 3 && inner * dims[k].extent <= max_rows) inner *= dims[k++].extent;
  const bool partial = k < dims.size() && k < 3;
  const int64_t chunk = partial ? std::min(dims[k].extent, max_rows / inner) : 1;
  const size_t outer_from = partial ? k + 1 : k;
  const Location dst = L.scratch(src.type, y.elements());
  int64_t outer_count = 1;
  for (size_t d = outer_from; d < dims.size(); ++d) outer_count *= dims[d].extent;
  const int64_t part_extent = partial ? dims[k].extent : 1;
  int64_t walked_rows = 0;  // rows of box0 stored so far (the dense output's row index)
  for (int64_t o = 0; o < outer_count; ++o) {
    int64_t rem = o, src_off = 0;
    for (size_t d = outer_from; d < dims.size(); ++d) {
      src_off += (rem % dims[d].extent) * dims[d].stride;
      rem /= dims[d].extent;
    }
    for (int64_t c0 = 0; c0 < part_extent; c0 += chunk) {
      const int64_t cc = std::min(chunk, part_extent - c0);
      std::vector<uint32_t> box{static_cast<uint32_t>(box0)};
      std::vector<int64_t> strides;
      for (size_t d = 0; d < k; ++d)
        box.push_back(static_cast<uint32_t>(dims[d].extent)), strides.push_back(dims[d].stride);
      if (partial) box.push_back(static_cast<uint32_t>(cc)), strides.push_back(dims[k].stride);
      if (box.size() == 1) box.push_back(1), strides.push_back(0);
      const int64_t rows = inner * cc;
      Instruction ld = make(Opcode::Load);
      ld.set(f::load::dst, 0);
      ld.set(f::load::desc, L.desc_nd(src.region, src.type, src.offset, box, strides));
      ld.set(f::load::off, static_cast<uint32_t>(src_off + (partial ? c0 * dims[k].stride : 0)));
      L.emit(ld, kGo, 1, kV2S);
      Instruction st = make(Opcode::Store);
      st.set(f::store::src, 0);
      st.set(f::store::desc,
             L.desc(dst.region, dst.type, dst.offset, static_cast<uint32_t>(box0), static_cast<uint32_t>(rows), box0));
      st.set(f::store::off, static_cast<uint32_t>(walked_rows * box0));
      L.emit(st, kV2S, 1, kGo);
      walked_rows += rows;
    }
  }
  const auto [rows, cols] = L.view(y);
  return {dst.region, dst.offset, rows, cols, src.type};
}

/// Input i of n as an operand of an element-wise operator with output y: the tensor itself when
/// it has y's shape and layout, a row when it broadcasts as one, else (NumPy broadcasting) the
/// constant expanded at compile time or the computed tensor materialised in y's layout. `fn`
/// transforms a constant's values (Div's reciprocals); constants are placed in the device's float
/// type.
Operand operand(Lowering& L, const Node& n, size_t i, const Tensor& y, const std::function<double(double)>& fn = {},
                bool allow_row = true) {
  const Tensor& t = L.g_.tensor(n.inputs.at(i));
  const bool same = t.shape == y.shape && (t.shape.size() != 4 || L.is_spatial(t) == L.is_spatial(y));
  const int64_t cols = L.view(y).second;
  const isa::TensorType ty = L.type_of(y, where(n) + ": output");  // constants are placed in it
  if (t.is_const && (fn || !same)) {
    if (same || (allow_row && (is_row_of(L, t, y) || t.elements() == 1))) {
      // A row: the constant's values (a scalar repeated over the row).
      Tensor row = t;
      if (t.elements() == 1) row.values.assign(static_cast<size_t>(cols), t.values[0]);
      if (!same) row.name.clear(), row.shape = {static_cast<int64_t>(row.values.size())};
      if (fn)
        for (double& v : row.values) v = fn(v);
      const std::vector<double> v = same ? L.device_order(row) : row.values;
      const auto [rows, c] = L.view(y);
      return {{L.weights_region_, L.put_typed(v, ty), same ? rows : 1, c, ty}, !same};
    }
    const auto [rows, c] = L.view(y);  // any other broadcast of a constant: expanded at compile time
    return {{L.weights_region_, L.put_typed(expand_const(L, t, y, fn), ty), rows, c, ty}, false};
  }
  if (same) return {L.input(n, i), false};
  if (allow_row && is_row_of(L, t, y)) return {L.input(n, i), true};
  return {materialise(L, n, i, y), false};
}

/// The operands of a binary operator as rows_op tiles: A with the output's shape and layout, B
/// with them too or one row broadcast over every row (`bcast`), the VPU's binary broadcast. A
/// first operand that would be a row is swapped with B when the operator commutes, else
/// materialised; `b_values` transforms a constant B.
struct Operands {
  Location a, b;        ///< where A and B live
  bool bcast = false;   ///< B is one row
  bool column = false;  ///< B is one element per row of A (computed; see column_seq)
};

/// Whether computed t is a column of row-major y: y's shape with the last dimension 1.
bool is_column_of(const Lowering& L, const Tensor& t, const Tensor& y) {
  if (t.is_const || L.is_spatial(y) || L.is_spatial(t) || y.shape.size() < 2 || y.shape.back() == 1) return false;
  std::vector<int64_t> s = t.shape;
  s.insert(s.begin(), y.shape.size() - std::min(y.shape.size(), s.size()), 1);
  if (s.size() != y.shape.size() || s.back() != 1) return false;
  for (size_t d = 0; d + 1 < s.size(); ++d)
    if (s[d] != y.shape[d]) return false;
  return true;
}
Operands operands(Lowering& L, const Node& n, const std::function<double(double)>& b_values = {},
                  bool commutes = false) {
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const bool one_row = L.view(y).first == 1;
  const Tensor& a = L.g_.tensor(n.inputs.at(0));
  if (commutes && !b_values && a.shape != y.shape && L.g_.tensor(n.inputs.at(1)).shape == y.shape) {
    Node m = n;  // the operand that broadcasts goes second: Mul(scale[1, C, 1, 1], image) is Mul(image, scale)
    std::swap(m.inputs[0], m.inputs[1]);
    return operands(L, m, b_values, false);
  }
  const Tensor& b = L.g_.tensor(n.inputs.at(1));
  if (a.shape == y.shape && !one_row && is_column_of(L, b, y) && L.view(y).first <= 4095)
    return {L.input(n, 0), L.input(n, 1), true, true};
  // B is placed (when constant) before A: the order in which the weights have always been laid out.
  const Operand ob = operand(L, n, 1, y, b_values, !one_row);
  const Operand oa = operand(L, n, 0, y, {}, false);
  return {oa.loc, ob.loc, ob.row};
}

/// The sequence of a binary operator on one tile: dst (scratchpad) from a and b (scratchpad; b
/// one row when `bcast`), the accumulator from line 0 free for intermediates when asked for.
using BinarySeq = std::function<std::vector<Instruction>(uint32_t dtype, uint32_t dst, uint32_t a, uint32_t b,
                                                         bool bcast, uint32_t rows, uint32_t cols)>;
/// A binary operator with a column B ([.., R, 1] over [.., R, D]): per tile of rows, A is
/// transposed on the VPU (`copy transpose`), so that B's elements, loaded as one row, are the
/// VPU's broadcast row; the sequence runs on the D x rows transpose and a second transpose
/// restores the rows (instead of materialising B one element a line).
void column_seq(Lowering& L, const Node& n, const Operands& o, const BinarySeq& seq, bool uses_acc) {
  const Location out = L.output(n);
  const int64_t R = out.rows, D = out.cols;
  if (D > 4095) throw CompileError(where(n) + ": last dimension " + std::to_string(D) + " exceeds 4095 elements");
  const unsigned es = bytes_of(out.type);
  const auto spad_lines = [&](int64_t tr) { return L.lines(tr, D, es) + L.lines(D, tr, es) + L.lines(1, tr, es); };
  int64_t tr = std::min<int64_t>(R, 4095);
  while ((uint64_t{spad_lines(tr)} * L.t_.line_bytes > L.t_.spad_bytes ||
          (uses_acc && uint64_t{L.lines(D, tr, 4)} * L.t_.line_bytes > L.t_.acc_bytes)) &&
         tr > 1)
    tr = (tr + 1) / 2;
  const uint32_t at = L.lines(tr, D, es), bl = at + L.lines(D, tr, es);  // lines of A^T and of B's row
  const uint32_t dtype = L.code(o.a.type, n);
  const auto transpose = [&](uint32_t dst, uint32_t src, uint32_t rows, uint32_t cols) {
    Instruction c = vun(Opcode::Copy, dtype, spad(dst), spad(src), rows, cols);
    c.set(f::copy::transpose, 1);
    return c;
  };
  for (int64_t r0 = 0; r0 < R; r0 += tr) {
    const auto rr = static_cast<uint32_t>(std::min(tr, R - r0));
    L.emit(L.tile_load(0, o.a, 0, r0, 0, rr, static_cast<uint32_t>(D), D), kGo, 1, kL2V);
    Instruction lb = make(Opcode::Load);
    lb.set(f::load::dst, bl);
    lb.set(f::load::desc, L.desc(o.b.region, o.b.type, o.b.offset, rr, 1, rr));
    lb.set(f::load::off, static_cast<uint32_t>(r0));
    L.emit(lb, -1, 1, kL2V);
    std::vector<Instruction> v{transpose(at, 0, rr, static_cast<uint32_t>(D))};
    for (const Instruction& i : seq(dtype, at, at, bl, true, static_cast<uint32_t>(D), rr)) v.push_back(i);
    v.push_back(transpose(0, at, static_cast<uint32_t>(D), rr));
    for (size_t k = 0; k < v.size(); ++k) L.emit(v[k], k == 0 ? kL2V : -1, 2, k + 1 == v.size() ? kV2S : -1);
    Instruction st = make(Opcode::Store);
    st.set(f::store::src, 0);
    st.set(f::store::desc, L.desc(out.region, out.type, out.offset, static_cast<uint32_t>(D), rr, D));
    st.set(f::store::off, static_cast<uint32_t>(r0 * D));
    L.emit(st, kV2S, 1, kGo);
  }
}

void binary_seq(Lowering& L, const Node& n, const Operands& o, const BinarySeq& seq, bool uses_acc) {
  if (o.column) return column_seq(L, n, o, seq, uses_acc);
  RowsWalk w;
  w.uses_acc = uses_acc;
  const uint32_t dtype = L.code(o.a.type, n);
  L.rows_op(
      n, {o.a, o.b}, {false, o.bcast}, L.output(n),
      [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
        return seq(dtype, dst, src[0], src[1], o.bcast, rows, cols);
      },
      w);
}

/// One VPU binary instruction (Add, Sub, Mul, Max, Min).
BinarySeq single(Opcode op) {
  return [op](uint32_t dt, uint32_t dst, uint32_t a, uint32_t b, bool bc, uint32_t rows, uint32_t cols) {
    return std::vector<Instruction>{vpu_binary(op, dt, spad(dst), spad(a), spad(b), bc, rows, cols)};
  };
}

Opcode binary_opcode(const std::string& op) {
  return op == "Add"   ? Opcode::Add
         : op == "Sub" ? Opcode::Sub
         : op == "Mul" ? Opcode::Mul
         : op == "Max" ? Opcode::Max
                       : Opcode::Min;
}

bool lower_binary(Lowering& L, const Node& n, const OpInfo&) {
  binary_seq(L, n, operands(L, n, {}, n.op != "Sub"), single(binary_opcode(n.op)), false);
  return true;
}

/// The float value `v` as a binary32 scale for a requant entry.
float as_scale(const Node& n, double v, const char* what) {
  const auto s = static_cast<float>(v);
  if (!std::isfinite(s))
    throw CompileError(where(n) + ": " + what + " " + std::to_string(v) + " is not a finite binary32 value");
  return s;
}

/// Div. By a constant scalar c: x into the accumulator, then a requant by 1/c (binary32, then one
/// rounding to the device type: within one ulp of a correctly rounded division, exact for powers
/// of two). By a constant tensor: Mul by its reciprocals, rounded to the device type (up to one ulp
/// more). By a computed divisor: sfu recip into the accumulator (fp32) times A, one rounding. A
/// constant scalar numerator c / x is sfu recip then a requant by c.
bool lower_div(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& a = L.g_.tensor(n.inputs.at(0));
  const Tensor& b = L.g_.tensor(n.inputs.at(1));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  if (const auto c = uniform_const(b); c && a.shape == y.shape) {
    const uint32_t q = L.to_device_param(as_scale(n, 1.0 / *c, "the reciprocal of the divisor"));
    unary_seq(
        L, n,
        [q](uint32_t dt, uint32_t dst, uint32_t src, uint32_t rows, uint32_t cols) {
          return std::vector<Instruction>{vun(Opcode::Copy, dt, acc(0), spad(src), rows, cols),
                                          vscale(q, dt, dst, 0, rows, cols)};
        },
        true);
    return true;
  }
  if (const auto c = uniform_const(a); c && b.shape == y.shape) {
    const uint32_t q = L.to_device_param(as_scale(n, *c, "the numerator"));
    Node m = n;
    std::swap(m.inputs[0], m.inputs[1]);
    unary_seq(
        L, m,
        [q](uint32_t dt, uint32_t dst, uint32_t src, uint32_t rows, uint32_t cols) {
          return std::vector<Instruction>{vsfu(f::sfu::fn_recip, dt, acc(0), spad(src), rows, cols),
                                          vscale(q, dt, dst, 0, rows, cols)};
        },
        true);
    return true;
  }
  if (b.is_const) {
    binary_seq(L, n, operands(L, n, [](double v) { return 1.0 / v; }), single(Opcode::Mul), false);
    return true;
  }
  binary_seq(
      L, n, operands(L, n),
      [](uint32_t dt, uint32_t dst, uint32_t a0, uint32_t b0, bool bc, uint32_t rows, uint32_t cols) {
        return std::vector<Instruction>{vsfu(f::sfu::fn_recip, dt, acc(0), spad(b0), bc ? 1 : rows, cols),
                                        vpu_binary(Opcode::Mul, dt, spad(dst), spad(a0), acc(0), bc, rows, cols)};
      },
      true);
  return true;
}

/// x^k for a constant integer 2 <= |k| <= kMaxPowMul by repeated multiplication: the partial
/// products in the accumulator (fp32; x*x is exact there), one rounding at the end; negative k
/// takes the reciprocal last (sfu recip from the accumulator).
constexpr int kMaxPowMul = 16;

/// Pow. Constant exponents: 1 → a copy, 2..16 (and their negatives) → repeated mul, 0.5 → sqrt,
/// -1 → recip, -0.5 → rsqrt, 0 → 1; any other constant y → exp(y · log x), valid for x > 0: for
/// x < 0 ONNX (NumPy) gives NaN with a non-integer exponent, and so does log here; x = 0 gives
/// exp(±inf) = 0 or inf, as ONNX. Computed exponents: exp(y · log x) too (the product in fp32),
/// so a negative base is NaN even where y holds an integer (ONNX would give the real power).
bool lower_pow(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& a = L.g_.tensor(n.inputs.at(0));
  const Tensor& b = L.g_.tensor(n.inputs.at(1));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const auto k = uniform_const(b);
  if (!b.is_const && !is_float_type(L.type_of(b, where(n) + ": exponent")))
    throw CompileError(where(n) + ": a computed exponent must be a float tensor, '" + b.name + "' is " +
                       dtype_name(b.dtype));
  if (k && a.shape != y.shape)
    throw CompileError(where(n) + ": the base " + shape_text(a.shape) + " must have the output's shape " +
                       shape_text(y.shape) + " with a constant exponent");
  if (k) {
    const double e = *k;
    if (e == 1) {
      L.unary(n, L.clamp_param(-INFINITY, INFINITY));
      return true;
    }
    if (e == 0) {  // x^0 = 1 for every x, NaN included: a clamp to [1, 1]
      L.unary(n, L.clamp_param(1, 1));
      return true;
    }
    const auto sfu_for = [&]() -> std::optional<uint32_t> {
      if (e == 0.5) return f::sfu::fn_sqrt;
      if (e == -1) return f::sfu::fn_recip;
      if (e == -0.5) return f::sfu::fn_rsqrt;
      return std::nullopt;
    }();
    if (sfu_for) {
      const uint32_t fn = *sfu_for;
      unary_seq(
          L, n,
          [fn](uint32_t dt, uint32_t dst, uint32_t src, uint32_t rows, uint32_t cols) {
            return std::vector<Instruction>{vsfu(fn, dt, spad(dst), spad(src), rows, cols)};
          },
          false);
      return true;
    }
    if (e == std::trunc(e) && std::fabs(e) <= kMaxPowMul) {
      const int m = static_cast<int>(std::fabs(e));
      const bool negative = e < 0;
      unary_seq(
          L, n,
          [m, negative](uint32_t dt, uint32_t dst, uint32_t src, uint32_t rows, uint32_t cols) {
            std::vector<Instruction> v;
            if (m == 2 && !negative)
              return std::vector<Instruction>{
                  vpu_binary(Opcode::Mul, dt, spad(dst), spad(src), spad(src), false, rows, cols)};
            v.push_back(vpu_binary(Opcode::Mul, dt, acc(0), spad(src), spad(src), false, rows, cols));
            for (int i = 2; i < m; ++i)
              v.push_back(vpu_binary(Opcode::Mul, dt, (i + 1 == m && !negative) ? spad(dst) : acc(0), acc(0), spad(src),
                                     false, rows, cols));
            if (negative) v.push_back(vsfu(f::sfu::fn_recip, dt, spad(dst), acc(0), rows, cols));
            return v;
          },
          true);
      return true;
    }
    const uint32_t q = L.to_device_param(as_scale(n, e, "the exponent"));
    unary_seq(
        L, n,
        [q](uint32_t dt, uint32_t dst, uint32_t src, uint32_t rows, uint32_t cols) {
          return std::vector<Instruction>{vsfu(f::sfu::fn_log, dt, acc(0), spad(src), rows, cols),
                                          vscale(q, dt, dst, 0, rows, cols),
                                          vsfu(f::sfu::fn_exp, dt, spad(dst), spad(dst), rows, cols)};
        },
        true);
    return true;
  }
  binary_seq(
      L, n, operands(L, n, [](double v) { return v; }),
      [](uint32_t dt, uint32_t dst, uint32_t a0, uint32_t b0, bool bc, uint32_t rows, uint32_t cols) {
        return std::vector<Instruction>{vsfu(f::sfu::fn_log, dt, acc(0), spad(a0), rows, cols),
                                        vpu_binary(Opcode::Mul, dt, acc(0), acc(0), spad(b0), bc, rows, cols),
                                        vsfu(f::sfu::fn_exp, dt, spad(dst), acc(0), rows, cols)};
      },
      true);
  return true;
}

/// A row of `cols` copies of v in the weights (the device type), read by rows_op as a broadcast row.
Location const_row(Lowering& L, double v, int64_t cols) {
  return {L.weights_region_, L.put_device(std::vector<double>(static_cast<size_t>(cols), v)), 1, cols, L.dev_};
}

/// The sequence of an activation on one tile: dst from src (src may be overwritten), with a
/// constant row of `row_value` at `row` when the operator asks for one (nullopt: none).
using ActSeq = std::function<std::vector<Instruction>(uint32_t dtype, uint32_t dst, uint32_t src, uint32_t row,
                                                      uint32_t rows, uint32_t cols)>;
void activation(Lowering& L, const Node& n, std::optional<double> row_value, const ActSeq& seq) {
  const Location in = L.input(n, 0), out = L.output(n);
  std::vector<Location> ins{in};
  if (row_value) ins.push_back(const_row(L, *row_value, out.cols));
  RowsWalk w;
  w.uses_acc = true;
  const uint32_t dtype = L.code(in.type, n);
  L.rows_op(
      n, ins, {false, true}, out,
      [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
        return seq(dtype, dst, src[0], src.size() > 1 ? src[1] : 0, rows, cols);
      },
      w);
}

/// Neg: x into the accumulator, a requant by -1 (exact).
bool lower_neg(Lowering& L, const Node& n, const OpInfo&) {
  const uint32_t q = L.to_device_param(-1.0f);
  activation(L, n, std::nullopt, [q](uint32_t dt, uint32_t dst, uint32_t src, uint32_t, uint32_t rows, uint32_t cols) {
    return std::vector<Instruction>{vun(Opcode::Copy, dt, acc(0), spad(src), rows, cols),
                                    vscale(q, dt, dst, 0, rows, cols)};
  });
  return true;
}

/// Abs: max(x, -x) (exact).
bool lower_abs(Lowering& L, const Node& n, const OpInfo&) {
  const uint32_t q = L.to_device_param(-1.0f);
  activation(L, n, std::nullopt, [q](uint32_t dt, uint32_t dst, uint32_t src, uint32_t, uint32_t rows, uint32_t cols) {
    return std::vector<Instruction>{vun(Opcode::Copy, dt, acc(0), spad(src), rows, cols),
                                    vscale(q, dt, dst, 0, rows, cols),
                                    vpu_binary(Opcode::Max, dt, spad(dst), spad(src), spad(dst), false, rows, cols)};
  });
  return true;
}

/// LeakyRelu: max(x, 0) + round(alpha · min(x, 0)) (one of the two is zero; the product in
/// binary32, rounded once: exact against float32 arithmetic rounded to the device type).
bool lower_leaky_relu(Lowering& L, const Node& n, const OpInfo&) {
  const uint32_t q = L.to_device_param(as_scale(n, n.attr_f("alpha", 0.01f), "alpha"));
  const uint32_t neg = L.clamp_param(-INFINITY, 0), pos = L.clamp_param(0, INFINITY);
  activation(L, n, std::nullopt, [=](uint32_t dt, uint32_t dst, uint32_t src, uint32_t, uint32_t rows, uint32_t cols) {
    return std::vector<Instruction>{vclamp(neg, dt, acc(0), spad(src), rows, cols), vscale(q, dt, dst, 0, rows, cols),
                                    vclamp(pos, dt, spad(src), spad(src), rows, cols),
                                    vpu_binary(Opcode::Add, dt, spad(dst), spad(src), spad(dst), false, rows, cols)};
  });
  return true;
}

/// Elu: max(x, 0) + alpha · (exp(min(x, 0)) - 1), exp and the subtraction in fp32 in the
/// accumulator, the product by alpha rounded once.
bool lower_elu(Lowering& L, const Node& n, const OpInfo&) {
  const uint32_t q = L.to_device_param(as_scale(n, n.attr_f("alpha", 1.0f), "alpha"));
  const uint32_t neg = L.clamp_param(-INFINITY, 0), pos = L.clamp_param(0, INFINITY);
  activation(L, n, 1.0, [=](uint32_t dt, uint32_t dst, uint32_t src, uint32_t one, uint32_t rows, uint32_t cols) {
    return std::vector<Instruction>{vclamp(neg, dt, acc(0), spad(src), rows, cols),
                                    vsfu(f::sfu::fn_exp, dt, acc(0), acc(0), rows, cols),
                                    vpu_binary(Opcode::Sub, dt, acc(0), acc(0), spad(one), true, rows, cols),
                                    vscale(q, dt, dst, 0, rows, cols),
                                    vclamp(pos, dt, spad(src), spad(src), rows, cols),
                                    vpu_binary(Opcode::Add, dt, spad(dst), spad(src), spad(dst), false, rows, cols)};
  });
  return true;
}

/// HardSigmoid: clamp(round(alpha · x) + beta, 0, 1), the sum in fp32 (beta rounded to the device
/// type); HardSwish: x times that with alpha 1/6, beta 0.5, the product rounded once.
void hard_sigmoid(Lowering& L, const Node& n, float alpha, float beta, bool swish) {
  const uint32_t q = L.to_device_param(as_scale(n, alpha, "alpha"));
  const uint32_t unit = L.clamp_param(0, 1);
  activation(L, n, beta, [=](uint32_t dt, uint32_t dst, uint32_t src, uint32_t b, uint32_t rows, uint32_t cols) {
    std::vector<Instruction> v{vun(Opcode::Copy, dt, acc(0), spad(src), rows, cols), vscale(q, dt, dst, 0, rows, cols),
                               vpu_binary(Opcode::Add, dt, acc(0), spad(dst), spad(b), true, rows, cols)};
    if (!swish) {
      v.push_back(vclamp(unit, dt, spad(dst), acc(0), rows, cols));
    } else {
      v.push_back(vclamp(unit, dt, acc(0), acc(0), rows, cols));
      v.push_back(vpu_binary(Opcode::Mul, dt, spad(dst), spad(src), acc(0), false, rows, cols));
    }
    return v;
  });
}
bool lower_hard_sigmoid(Lowering& L, const Node& n, const OpInfo&) {
  hard_sigmoid(L, n, n.attr_f("alpha", 0.2f), n.attr_f("beta", 0.5f), false);
  return true;
}
bool lower_hard_swish(Lowering& L, const Node& n, const OpInfo&) {
  hard_sigmoid(L, n, 1.0f / 6, 0.5f, true);
  return true;
}

/// Max, Min, Sum, Mean over one or more inputs (NumPy-broadcast): the first input with the
/// output's shape leads, the others follow as tiles or broadcast rows; partial results stay in
/// the accumulator (exact for Max/Min; Sum in fp32 rounded once; Mean a requant by 1/N last).
bool lower_variadic(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  std::vector<size_t> idx;
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (!n.inputs[i].empty()) idx.push_back(i);
  if (idx.empty()) throw CompileError(where(n) + ": needs at least one input");
  const auto lead =
      std::find_if(idx.begin(), idx.end(), [&](size_t i) { return L.g_.tensor(n.inputs[i]).shape == y.shape; });
  if (lead != idx.end()) std::rotate(idx.begin(), lead, lead + 1);
  std::vector<Location> ins;
  std::vector<bool> rows_of;
  const bool one_row = L.view(y).first == 1;
  for (size_t k = 0; k < idx.size(); ++k) {
    const Operand o = operand(L, n, idx[k], y, {}, k > 0 && !one_row);
    ins.push_back(o.loc);
    rows_of.push_back(o.row);
  }
  const Opcode op = n.op == "Max" ? Opcode::Max : n.op == "Min" ? Opcode::Min : Opcode::Add;
  const bool mean = n.op == "Mean";
  const uint32_t q = mean ? L.to_device_param(1.0f / static_cast<float>(idx.size())) : 0;
  const uint32_t dtype = L.code(ins[0].type, n);
  RowsWalk w;
  w.uses_acc = true;
  L.rows_op(
      n, ins, rows_of, L.output(n),
      [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
        std::vector<Instruction> v;
        if (src.size() == 1)
          return std::vector<Instruction>{vun(Opcode::Copy, dtype, spad(dst), spad(src[0]), rows, cols)};
        for (size_t k = 1; k < src.size(); ++k) {
          const bool last = k + 1 == src.size() && !mean;
          v.push_back(vpu_binary(op, dtype, last ? spad(dst) : acc(0), k == 1 ? spad(src[0]) : acc(0), spad(src[k]),
                                 rows_of[k], rows, cols));
        }
        if (mean) v.push_back(vscale(q, dtype, dst, 0, rows, cols));
        return v;
      },
      w);
  return true;
}

void special(Lowering& L, const Node& n, uint32_t fn) {
  unary_seq(
      L, n,
      [fn](uint32_t dt, uint32_t dst, uint32_t src, uint32_t rows, uint32_t cols) {
        return std::vector<Instruction>{vsfu(fn, dt, spad(dst), spad(src), rows, cols)};
      },
      false);
}

bool lower_relu(Lowering& L, const Node& n, const OpInfo&) {
  L.unary(n, L.clamp_param(0, INFINITY));
  return true;
}

bool lower_clip(Lowering& L, const Node& n, const OpInfo&) {
  float lo = -INFINITY, hi = INFINITY;
  if (L.g_.opset < 11) {  // opset 6-10: bounds are attributes
    lo = n.attr_f("min", -3.402823466e38f), hi = n.attr_f("max", 3.402823466e38f);
  } else {
    if (n.inputs.size() > 1 && !n.inputs[1].empty()) lo = static_cast<float>(L.const_scalar(n, 1));
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) hi = static_cast<float>(L.const_scalar(n, 2));
  }
  if (std::isnan(lo) || std::isnan(hi)) throw CompileError(where(n) + ": a NaN bound (min or max) is not supported");
  L.unary(n, L.clamp_param(lo, hi));
  return true;
}

bool lower_special(Lowering& L, const Node& n, const OpInfo& op) {
  special(L, n, *op.sfu_fn);
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_eltwise_ops(OpRegistry& r) {
  namespace sfu = isa::fields::sfu;
  using lowering::lower_special;
  r.add("Relu", lowering::lower_relu, kElementwise);
  r.add("Clip", lowering::lower_clip, kElementwise);
  r.add("Add", lowering::lower_binary, kFloatOnly | kElementwise);
  r.add("Sub", lowering::lower_binary, kFloatOnly | kElementwise);
  r.add("Mul", lowering::lower_binary, kFloatOnly | kElementwise);
  r.add("Div", lowering::lower_div, kFloatOnly | kElementwise);
  r.add("Pow", lowering::lower_pow, kFloatOnly | kElementwise);
  r.add("Neg", lowering::lower_neg, kFloatOnly | kElementwise);
  r.add("Abs", lowering::lower_abs, kFloatOnly | kElementwise);
  r.add("LeakyRelu", lowering::lower_leaky_relu, kFloatOnly | kElementwise);
  r.add("Elu", lowering::lower_elu, kFloatOnly | kElementwise);
  r.add("HardSigmoid", lowering::lower_hard_sigmoid, kFloatOnly | kElementwise);
  r.add("HardSwish", lowering::lower_hard_swish, kFloatOnly | kElementwise);
  r.add("Max", lowering::lower_variadic, kElementwise);
  r.add("Min", lowering::lower_variadic, kElementwise);
  r.add("Sum", lowering::lower_variadic, kFloatOnly | kElementwise);
  r.add("Mean", lowering::lower_variadic, kFloatOnly | kElementwise);
  r.add("Exp", lower_special, kFloatOnly | kElementwise, sfu::fn_exp);
  r.add("Log", lower_special, kFloatOnly | kElementwise, sfu::fn_log);
  r.add("Reciprocal", lower_special, kFloatOnly | kElementwise, sfu::fn_recip);
  r.add("Sqrt", lower_special, kFloatOnly | kElementwise, sfu::fn_sqrt);
  r.add("Tanh", lower_special, kFloatOnly | kElementwise, sfu::fn_tanh);
  r.add("Sigmoid", lower_special, kFloatOnly | kElementwise, sfu::fn_sigmoid);
  r.add("Erf", lower_special, kFloatOnly | kElementwise, sfu::fn_erf);
}

}  // namespace npusim::compiler
