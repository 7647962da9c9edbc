// Element-wise operators: Relu and Clip (VPU clamps), Add/Sub/Mul (same shape, a broadcast row or
// per channel), and the special functions on the VPU's `sfu` (Exp, Log, Reciprocal, Sqrt, Tanh,
// Sigmoid, Erf: one instruction per row tile, float tensors).
#include <cmath>

#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

void special(Lowering& L, const Node& n, uint32_t fn) {
  const Location in = L.input(n, 0), out = L.output(n);
  L.rows_op(n, {in}, {false}, out, [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
    Instruction i = make(Opcode::Sfu);
    i.set(f::sfu::dst, dst);
    i.set(f::sfu::src, src[0]);
    i.set(f::sfu::rows, rows);
    i.set(f::sfu::cols, cols);
    i.set(f::sfu::dtype, L.code(in.type, n));
    i.set(f::sfu::fn, fn);
    return i;
  });
}

void binary_op(Lowering& L, const Node& n, const Location& la, const Location& lb, bool bcast) {
  const Opcode op = n.op == "Add" ? Opcode::Add : n.op == "Sub" ? Opcode::Sub : Opcode::Mul;
  L.rows_binary(n, la, lb, bcast, L.output(n), op);
}

void binary(Lowering& L, const Node& n) {
  const Tensor& a = L.g_.tensor(n.inputs.at(0));
  const Tensor& b = L.g_.tensor(n.inputs.at(1));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  // Same shape, or B a row (its elements equal the last dimension) broadcast over rows.
  bool bcast = false;
  if (L.is_spatial(y) && b.shape != y.shape) {
    // Per-channel operand ([C, 1, 1] or [1, C, 1, 1]): a row of C in NHWC.
    const int64_t C = y.shape[1];
    if (b.elements() != C || (b.shape.size() >= 3 && b.shape[b.shape.size() - 3] != C))
      throw CompileError(where(n) + ": broadcasting " + shape_text(b.shape) + " to " + shape_text(y.shape) +
                         " is not supported (same shape or per channel)");
    if (a.shape != y.shape) throw CompileError(where(n) + ": the first input must have the output's shape");
    const Location la = L.input(n, 0);
    Location lb;
    if (b.is_const && !L.loc_.count(b.name)) {
      lb = {L.weights_region_, L.put_device(b.values), 1, C, L.dev_};
      L.loc_[b.name] = lb;
    } else {
      lb = L.input(n, 1);
    }
    return binary_op(L, n, la, lb, true);
  }
  if (a.shape != y.shape)
    throw CompileError(where(n) + ": broadcasting the first input " + shape_text(a.shape) + " to " +
                       shape_text(y.shape) + " is not supported");
  if (b.shape != y.shape) {
    if (b.elements() == (y.shape.empty() ? 1 : y.shape.back()) && (b.shape.empty() || b.shape.back() == b.elements()))
      bcast = true;
    else
      throw CompileError(where(n) + ": broadcasting " + shape_text(b.shape) + " to " + shape_text(y.shape) +
                         " is not supported (same shape or a row)");
  }
  // B is placed (when constant) before A: the order in which the weights have always been laid out.
  const Location lb = L.input(n, 1);
  const Location la = L.input(n, 0);
  binary_op(L, n, la, lb, bcast);
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

bool lower_binary(Lowering& L, const Node& n, const OpInfo&) {
  // Add and Mul commute: the operand that broadcasts goes second (a squeeze-excitation block's
  // Mul(scale[1, C, 1, 1], image) is Mul(image, scale)).
  const Tensor& a = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  if ((n.op == "Add" || n.op == "Mul") && a.shape != y.shape && L.g_.tensor(n.inputs.at(1)).shape == y.shape) {
    Node swapped = n;
    std::swap(swapped.inputs[0], swapped.inputs[1]);
    binary(L, swapped);
    return true;
  }
  binary(L, n);
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
  r.add("Exp", lower_special, kFloatOnly | kElementwise, sfu::fn_exp);
  r.add("Log", lower_special, kFloatOnly | kElementwise, sfu::fn_log);
  r.add("Reciprocal", lower_special, kFloatOnly | kElementwise, sfu::fn_recip);
  r.add("Sqrt", lower_special, kFloatOnly | kElementwise, sfu::fn_sqrt);
  r.add("Tanh", lower_special, kFloatOnly | kElementwise, sfu::fn_tanh);
  r.add("Sigmoid", lower_special, kFloatOnly | kElementwise, sfu::fn_sigmoid);
  r.add("Erf", lower_special, kFloatOnly | kElementwise, sfu::fn_erf);
}

}  // namespace npusim::compiler
