// Normalizations: inference BatchNormalization, Softmax and LogSoftmax.
#include <cmath>

#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

/// Inference BatchNormalization: y = x * s + t per channel, s = scale / sqrt(var + epsilon),
/// t = B - mean * s computed at compile time; two row-broadcast passes (mul, then add) through
/// an intermediate tensor. Channels are the rows' elements: NHWC images or [N, C] tensors.
void batch_norm(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  if (n.outputs.size() > 1) {
    for (size_t i = 1; i < n.outputs.size(); ++i)
      if (!n.outputs[i].empty()) throw CompileError(where(n) + ": training-mode outputs are not supported");
  }
  if (!(L.is_spatial(x) || x.shape.size() == 2))
    throw CompileError(where(n) + ": only [N, C] tensors and images are supported");
  const int64_t C = x.shape[1];
  std::vector<const Tensor*> prm;
  for (size_t i = 1; i <= 4; ++i) {
    const Tensor& t = L.g_.tensor(n.inputs.at(i));
    if (!t.is_const || t.elements() != C)
      throw CompileError(where(n) + ": scale, B, mean and var must be constants of " + std::to_string(C) + " values");
    prm.push_back(&t);
  }
  const double eps = n.attr_f("epsilon", 1e-5f);
  std::vector<double> sc(static_cast<size_t>(C)), sh(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    sc[c] = prm[0]->values[c] / std::sqrt(prm[3]->values[c] + eps);
    sh[c] = prm[1]->values[c] - prm[2]->values[c] * sc[c];
  }
  const Location lx = L.input(n, 0);
  const Location ls{L.weights_region_, L.put_device(sc), 1, C, L.dev_},
      lt{L.weights_region_, L.put_device(sh), 1, C, L.dev_};
  // Intermediate x * s among the activations.
  L.act_bytes_ = (L.act_bytes_ + 63) / 64 * 64;
  const Location tmp{L.act_region_, L.act_bytes_, lx.rows, lx.cols, L.dev_};
  L.act_bytes_ += static_cast<uint64_t>(x.elements()) * bytes_of(L.dev_);
  const Location out = L.output(n);
  L.rows_binary(n, lx, ls, true, tmp, Opcode::Mul);
  L.rows_binary(n, tmp, lt, true, out, Opcode::Add);
}

/// Softmax and LogSoftmax over the last axis (opset 13) or the 2-D coercion at `axis` (before):
/// per row tile, m = max (VPU reduce), M = m x ones (a k = 1 matmul broadcasts the column along
/// the row), D = X - M (fp32), E = exp(D) (sfu), s = sum E (fp32), then Softmax: Y = E x (1/s
/// broadcast the same way); LogSoftmax: Y = D - (log s broadcast). Returns false (host kernel)
/// for other axes, images, rows longer than 4095 or a target without a float MXU.
bool softmax(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const bool log = n.op == "LogSoftmax";
  const auto rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0 || L.is_spatial(x) || L.is_spatial(L.g_.tensor(n.outputs.at(0)))) return false;
  if (std::find(L.t_.mxu_dtypes.begin(), L.t_.mxu_dtypes.end(), L.precision_) == L.t_.mxu_dtypes.end()) return false;
  const bool coerce = L.g_.opset < 13;
  int64_t axis = n.attr_i("axis", coerce ? 1 : -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank || (!coerce && axis != rank - 1)) return false;
  int64_t R = 1, C = 1;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? R : C) *= x.shape[d];
  if (C > 4095 || C == 0) return false;
  Location lx = L.input(n, 0), ly = L.output(n);
  lx.rows = ly.rows = R, lx.cols = ly.cols = C;
  const Location ones{L.weights_region_, L.put_device(std::vector<double>(static_cast<size_t>(C), 1.0)), 1, C, L.dev_};
  const unsigned es = bytes_of(L.dev_);
  // Scratchpad: X, ones, E, Y (tr x C each but ones), m and r (tr x 1); accumulator: two tr x C
  // fp32 tiles and s (tr x 1).
  int64_t tr = std::min<int64_t>(R, 4095);
  auto fits = [&] {
    return uint64_t{3 * L.lines(tr, C, es) + L.lines(1, C, es) + 2 * L.lines(tr, 1, es)} * L.t_.line_bytes <=
               L.t_.spad_bytes &&
           uint64_t{2 * L.lines(tr, C, 4) + L.lines(tr, 1, 4)} * L.t_.line_bytes <= L.t_.acc_bytes;
  };
  while (!fits() && tr > 1) tr = (tr + 1) / 2;
  if (!fits()) return false;
  const uint32_t sx = 0, s_ones = L.lines(tr, C, es), se = s_ones + L.lines(1, C, es), sy = se + L.lines(tr, C, es),
                 sm = sy + L.lines(tr, C, es), sr = sm + L.lines(tr, 1, es);
  const uint32_t a0 = 0, a1 = L.lines(tr, C, 4), a2 = 2 * L.lines(tr, C, 4);
  const uint32_t dt = L.elem_;
  auto vpu_unary = [&](Opcode op, uint32_t dst, bool dst_acc, uint32_t src, bool src_acc, uint32_t rows,
                       uint32_t cols) {
    Instruction i = make(op);
    i.set(f::clamp::dst, dst);
    i.set(f::clamp::dst_acc, dst_acc ? 1 : 0);
    i.set(f::clamp::src, src);
    i.set(f::clamp::src_acc, src_acc ? 1 : 0);
    i.set(f::clamp::rows, rows);
    i.set(f::clamp::cols, cols);
    i.set(f::clamp::dtype, dt);
    return i;
  };
  auto broadcast = [&](uint32_t column, uint32_t rows) {  // acc[a0] = column (rows x 1) x ones (1 x C)
    Instruction m = make(Opcode::Matmul);
    m.set(f::matmul::c, a0);
    m.set(f::matmul::a, column);
    m.set(f::matmul::b, s_ones);
    m.set(f::matmul::m, rows);
    m.set(f::matmul::n, static_cast<uint32_t>(C));
    m.set(f::matmul::k, 1);
    m.set(f::matmul::dtype, dt);
    L.emit(m, kV2M, 1, kM2V);
  };
  for (int64_t r0 = 0; r0 < R; r0 += tr) {
    const auto rr = static_cast<uint32_t>(std::min(tr, R - r0)), cc = static_cast<uint32_t>(C);
    L.emit(L.tile_load(sx, lx, 0, r0, 0, rr, cc, C), kGo, 1, kL2V);
    Instruction lo = make(Opcode::Load);
    lo.set(f::load::dst, s_ones);
    lo.set(f::load::desc, L.desc(ones.region, ones.type, ones.offset, cc, 1, C));
    L.emit(lo, -1, 1, kL2V);
    Instruction mx = vpu_unary(Opcode::Reduce, sm, false, sx, false, rr, cc);
    mx.set(f::reduce::op, f::reduce::op_max);
    L.emit(mx, kL2V, 2, kV2M);
    broadcast(sm, rr);
    Instruction d = make(Opcode::Sub);  // D = X - M, fp32 in the accumulator
    d.set(f::sub::dst, a1);
    d.set(f::sub::dst_acc, 1);
    d.set(f::sub::src0, sx);
    d.set(f::sub::src1, a0);
    d.set(f::sub::src1_acc, 1);
    d.set(f::sub::rows, rr);
    d.set(f::sub::cols, cc);
    d.set(f::sub::dtype, dt);
    d.set(f::sub::q, isa::kNoParam);
    L.emit(d, kM2V, 1, -1);
    Instruction e = vpu_unary(Opcode::Sfu, se, false, a1, true, rr, cc);
    e.set(f::sfu::fn, f::sfu::fn_exp);
    L.emit(e, -1, 1, -1);
    Instruction s = vpu_unary(Opcode::Reduce, a2, true, se, false, rr, cc);
    s.set(f::reduce::op, f::reduce::op_sum);
    L.emit(s, -1, 1, -1);
    Instruction inv = vpu_unary(Opcode::Sfu, sr, false, a2, true, rr, 1);
    inv.set(f::sfu::fn, log ? f::sfu::fn_log : f::sfu::fn_recip);
    L.emit(inv, -1, 1, kV2M);
    broadcast(sr, rr);
    Instruction y = make(log ? Opcode::Sub : Opcode::Mul);  // D - log s, or E x 1/s
    y.set(f::mul::dst, sy);
    y.set(f::mul::src0, log ? a1 : se);
    y.set(f::mul::src0_acc, log ? 1 : 0);
    y.set(f::mul::src1, a0);
    y.set(f::mul::src1_acc, 1);
    y.set(f::mul::rows, rr);
    y.set(f::mul::cols, cc);
    y.set(f::mul::dtype, dt);
    y.set(f::mul::q, isa::kNoParam);
    L.emit(y, kM2V, 1, kV2S);
    Instruction st = make(Opcode::Store);
    st.set(f::store::src, sy);
    st.set(f::store::desc, L.desc(ly.region, ly.type, ly.offset, cc, rr, C));
    st.set(f::store::off, static_cast<uint32_t>(r0 * C));
    L.emit(st, kV2S, 1, kGo);
  }
  return true;
}

bool lower_batch_norm(Lowering& L, const Node& n, const OpInfo&) {
  batch_norm(L, n);
  return true;
}

bool lower_softmax(Lowering& L, const Node& n, const OpInfo&) {
  return softmax(L, n);
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_normalize_ops(OpRegistry& r) {
  r.add("BatchNormalization", lowering::lower_batch_norm, kFloatOnly | kImage | kElementwise);
  r.add("Softmax", lowering::lower_softmax, kFloatOnly);
  r.add("LogSoftmax", lowering::lower_softmax, kFloatOnly);
}

}  // namespace npusim::compiler
