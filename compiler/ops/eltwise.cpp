// Element-wise operators, each a tiled VPU sequence through rows_op: Relu and Clip (VPU clamps),
// the binary Add/Sub/Mul/Div/Pow/Max/Min and the variadic Sum/Mean/Max/Min (NumPy broadcasting,
// see operands()), the special functions on the VPU's `sfu` (Exp, Log, Reciprocal, Sqrt, Tanh,
// Sigmoid, Erf), and the activations built from them (Neg, Abs, LeakyRelu, Elu, HardSigmoid,
// HardSwish). Intermediate values of a sequence stay in the accumulator (fp32) where the ISA
// allows, so most operators round once, to the device type, at the end.
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>

#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

/// A tile operand of a VPU instruction: its first line and whether it is in the accumulator.
struct Tile {
  uint32_t line = 0;  ///< first line
  bool acc = false;   ///< in the accumulator (fp32) rather than the scratchpad (device type)
};
Tile spad(uint32_t line) {
  return {line, false};
}
Tile acc(uint32_t line) {
  return {line, true};
}

/// A binary VPU instruction (add, sub, mul, max, min); `bcast`: b is one row for every row.
Instruction vbin(Opcode op, uint32_t dtype, Tile dst, Tile a, Tile b, bool bcast, uint32_t rows, uint32_t cols) {
  Instruction i = make(op);  // the binary format: every binary op has add's field layout
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

/// The operands of a binary operator as rows_op tiles: A with the output's shape, B with it too or
/// one row broadcast over every row (`bcast`).
struct Operands {
  Location a, b;       ///< where A and B live
  bool bcast = false;  ///< B is one row (a row of the last dimension, or of channels on an image)
};

/// B's location; a constant with `b_values` given is placed transformed (Div's reciprocal, Pow's
/// integer exponents as floats) in the device's float type.
Location place_b(Lowering& L, const Node& n, const std::function<double(double)>& b_values) {
  const Tensor& b = L.g_.tensor(n.inputs.at(1));
  if (!b.is_const || !b_values) return L.input(n, 1);
  Tensor t = b;
  for (double& v : t.values) v = b_values(v);
  const auto [rows, cols] = L.view(t);
  return {L.weights_region_, L.put_device(L.device_order(t)), rows, cols, L.dev_};
}

Operands operands(Lowering& L, const Node& n, const std::function<double(double)>& b_values = {}) {
  const Tensor& a = L.g_.tensor(n.inputs.at(0));
  const Tensor& b = L.g_.tensor(n.inputs.at(1));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  if (L.is_spatial(y) && b.shape != y.shape) {
    // Per-channel operand ([C, 1, 1] or [1, C, 1, 1]): a row of C in NHWC.
    const int64_t C = y.shape[1];
    if (b.elements() != C || (b.shape.size() >= 3 && b.shape[b.shape.size() - 3] != C))
      throw CompileError(where(n) + ": broadcasting " + shape_text(b.shape) + " to " + shape_text(y.shape) +
                         " is not supported (same shape or per channel)");
    if (a.shape != y.shape) throw CompileError(where(n) + ": the first input must have the output's shape");
    const Location la = L.input(n, 0);
    Location lb;
    if (b.is_const && b_values) {
      std::vector<double> v = b.values;
      for (double& x : v) x = b_values(x);
      lb = {L.weights_region_, L.put_device(v), 1, C, L.dev_};
    } else if (b.is_const && !L.loc_.count(b.name)) {
      lb = {L.weights_region_, L.put_device(b.values), 1, C, L.dev_};
      L.loc_[b.name] = lb;
    } else {
      lb = L.input(n, 1);
    }
    return {la, lb, true};
  }
  if (a.shape != y.shape)
    throw CompileError(where(n) + ": broadcasting the first input " + shape_text(a.shape) + " to " +
                       shape_text(y.shape) + " is not supported");
  bool bcast = false;
  if (b.shape != y.shape) {
    if (b.elements() == (y.shape.empty() ? 1 : y.shape.back()) && (b.shape.empty() || b.shape.back() == b.elements()))
      bcast = true;
    else
      throw CompileError(where(n) + ": broadcasting " + shape_text(b.shape) + " to " + shape_text(y.shape) +
                         " is not supported (same shape or a row)");
  }
  // B is placed (when constant) before A: the order in which the weights have always been laid out.
  const Location lb = place_b(L, n, b_values);
  const Location la = L.input(n, 0);
  return {la, lb, bcast};
}

/// The sequence of a binary operator on one tile: dst (scratchpad) from a and b (scratchpad; b
/// one row when `bcast`), the accumulator from line 0 free for intermediates when asked for.
using BinarySeq = std::function<std::vector<Instruction>(uint32_t dtype, uint32_t dst, uint32_t a, uint32_t b,
                                                         bool bcast, uint32_t rows, uint32_t cols)>;
void binary_seq(Lowering& L, const Node& n, const Operands& o, const BinarySeq& seq, bool uses_acc) {
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
    return std::vector<Instruction>{vbin(op, dt, spad(dst), spad(a), spad(b), bc, rows, cols)};
  };
}

Opcode binary_opcode(const std::string& op) {
  return op == "Add"   ? Opcode::Add
         : op == "Sub" ? Opcode::Sub
         : op == "Mul" ? Opcode::Mul
         : op == "Max" ? Opcode::Max
                       : Opcode::Min;
}

/// Commutative operators put the operand that broadcasts second (a squeeze-excitation block's
/// Mul(scale[1, C, 1, 1], image) is Mul(image, scale)).
Node commuted(const Lowering& L, const Node& n) {
  const Tensor& a = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  Node m = n;
  if (a.shape != y.shape && L.g_.tensor(n.inputs.at(1)).shape == y.shape) std::swap(m.inputs[0], m.inputs[1]);
  return m;
}

bool lower_binary(Lowering& L, const Node& n, const OpInfo&) {
  const bool commutes = n.op != "Sub";
  const Node m = commutes ? commuted(L, n) : n;
  binary_seq(L, m, operands(L, m), single(binary_opcode(n.op)), false);
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
                                        vbin(Opcode::Mul, dt, spad(dst), spad(a0), acc(0), bc, rows, cols)};
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
                  vbin(Opcode::Mul, dt, spad(dst), spad(src), spad(src), false, rows, cols)};
            v.push_back(vbin(Opcode::Mul, dt, acc(0), spad(src), spad(src), false, rows, cols));
            for (int i = 2; i < m; ++i)
              v.push_back(vbin(Opcode::Mul, dt, (i + 1 == m && !negative) ? spad(dst) : acc(0), acc(0), spad(src),
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
                                        vbin(Opcode::Mul, dt, acc(0), acc(0), spad(b0), bc, rows, cols),
                                        vsfu(f::sfu::fn_exp, dt, spad(dst), acc(0), rows, cols)};
      },
      true);
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
  r.add("Exp", lower_special, kFloatOnly | kElementwise, sfu::fn_exp);
  r.add("Log", lower_special, kFloatOnly | kElementwise, sfu::fn_log);
  r.add("Reciprocal", lower_special, kFloatOnly | kElementwise, sfu::fn_recip);
  r.add("Sqrt", lower_special, kFloatOnly | kElementwise, sfu::fn_sqrt);
  r.add("Tanh", lower_special, kFloatOnly | kElementwise, sfu::fn_tanh);
  r.add("Sigmoid", lower_special, kFloatOnly | kElementwise, sfu::fn_sigmoid);
  r.add("Erf", lower_special, kFloatOnly | kElementwise, sfu::fn_erf);
}

}  // namespace npusim::compiler
