// Matrix products: Gemm, 2-D MatMul and batched MatMul (NumPy broadcasting over the batch), on
// the shared tiled matrix multiply (Lowering::emit_gemm).
#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

void batched_matmul(Lowering& L, const Node& n);

/// Gemm (Y = alpha * A x B' + beta * C, B' = B or B^T) and 2-D MatMul. Constant B: converted at
/// compile time with alpha folded in. Computed B: read in place (transposed through the matmul's
/// trans_b) and alpha applied by the requant scale. Constant C: fp32 in the weights, loaded into
/// the accumulator. Computed C: loaded in the device type and turned into fp32 accumulator
/// values by a VPU mul with a constant row of beta/alpha.
/// `batch_mkn`: for one batch of a batched MatMul, its M, K and N (B is then read in place).
void gemm(Lowering& L, const Node& n, const int64_t* batch_mkn = nullptr) {
  const bool is_gemm = n.op == "Gemm";
  const Tensor& a = L.g_.tensor(n.inputs.at(0));
  const Tensor& b = L.g_.tensor(n.inputs.at(1));
  const bool trans_a = is_gemm && n.attr_i("transA", 0);  // A stored as K rows of M
  const bool trans_b = is_gemm && n.attr_i("transB", 0);
  const float alpha = is_gemm ? n.attr_f("alpha", 1.0f) : 1.0f, beta = is_gemm ? n.attr_f("beta", 1.0f) : 1.0f;
  if (!is_gemm && !batch_mkn && b.shape.size() > 2) return batched_matmul(L, n);
  if (!batch_mkn && b.shape.size() != 2)
    throw CompileError(where(n) + ": B must be 2-D, got rank " + std::to_string(b.shape.size()));
  if (L.is_spatial(a)) throw CompileError(where(n) + ": a 4-D A is not supported (flatten it first)");
  if (a.shape.empty() || (trans_a && a.shape.size() != 2))
    throw CompileError(where(n) + ": A must be 2-D (rank >= 1 for MatMul)");
  const int64_t K = batch_mkn ? batch_mkn[1] : trans_a ? a.shape[0] : a.shape.back();
  const int64_t M = batch_mkn ? batch_mkn[0] : a.elements() / K;
  const int64_t N = batch_mkn ? batch_mkn[2] : trans_b ? b.shape[0] : b.shape[1];
  if (!batch_mkn && (trans_b ? b.shape[1] : b.shape[0]) != K)
    throw CompileError(where(n) + ": inner dimensions differ");
  const Location la = L.input(n, 0);
  Location lb;
  bool b_transposed = false;  // B stored as N rows of K
  float scale = 1.0f;         // applied by the requant
  if (b.is_const && !L.loc_.count(b.name) && !batch_mkn) {
    std::vector<double> w(static_cast<size_t>(K * N));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) w[k * N + j] = alpha * (trans_b ? b.values[j * K + k] : b.values[k * N + j]);
    lb = {L.weights_region_, L.put_device(w), K, N, L.dev_};
  } else {
    lb = L.input(n, 1);
    b_transposed = trans_b;
    scale = alpha;
    if (alpha == 0.0f) throw CompileError(where(n) + ": alpha = 0 with a computed B is not supported");
  }
  // C: constant (fp32 into the accumulator) or computed (device type, converted by the VPU).
  Bias bias = Bias::None;
  uint64_t bias_off = 0, ratio_off = 0;
  Location lc;
  if (is_gemm && n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor& c = L.g_.tensor(n.inputs[2]);
    const bool row = c.elements() == N && (c.shape.empty() || c.shape.back() == N),
               full = c.elements() == M * N && !row;
    if (c.is_const) {
      // The requant multiplies everything by `scale`: store beta * C / scale.
      std::vector<float> v;
      const double k = beta / scale;
      if (c.elements() == 1)
        v.assign(static_cast<size_t>(N), static_cast<float>(k * c.values[0]));
      else if (row || full)
        for (double d : c.values) v.push_back(static_cast<float>(k * d));
      else
        throw CompileError(where(n) + ": C of shape " + shape_text(c.shape) + " does not broadcast to " +
                           shape_text({M, N}));
      bias_off = L.put_fp32(v);
      bias = full ? Bias::ConstFull : Bias::ConstRow;
    } else {
      if (!row && !full)
        throw CompileError(where(n) + ": a computed C of shape " + shape_text(c.shape) +
                           " is not supported (a row of N or the full M x N)");
      lc = L.input(n, 2);
      ratio_off = L.put_device(std::vector<double>(static_cast<size_t>(N), beta / scale));
      bias = full ? Bias::DynFull : Bias::DynRow;
    }
  }
  GemmPlan plan;
  plan.a = la;
  plan.b = lb;
  plan.c = lc;
  plan.y = L.output(n);
  plan.trans_a = trans_a;
  plan.b_transposed = b_transposed;
  plan.M = M, plan.K = K, plan.N = N;
  plan.bias = bias;
  plan.bias_type = isa::TensorType::FP32;
  plan.bias_off = bias_off;
  plan.ratio_off = ratio_off;
  plan.mm_dtype = L.elem_;
  const uint32_t rq = L.to_device_param(scale);
  plan.requant_for = [rq](int64_t) { return rq; };
  L.emit_gemm(n, plan);
}

/// MatMul with batch dimensions ([..., M, K] x [..., K, N], NumPy broadcasting over the batch):
/// one 2-D MatMul per output batch, addressed by element offsets into the same tensors.
void batched_matmul(Lowering& L, const Node& n) {
  const Tensor& a = L.g_.tensor(n.inputs.at(0));
  const Tensor& b = L.g_.tensor(n.inputs.at(1));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  if (a.shape.size() < 2) throw CompileError(where(n) + ": a batched MatMul needs A of rank >= 2");
  const int64_t M = a.shape[a.shape.size() - 2], K = a.shape.back(), N = b.shape.back();
  if (y.shape.size() < 3) throw CompileError(where(n) + ": unexpected output rank");
  const BatchMap bm(a.shape, b.shape, y.shape);
  // Each batch as a 2-D MatMul on views of the same storage.
  L.input(n, 0);
  L.input(n, 1);
  L.output(n);
  for (int64_t bi = 0; bi < bm.count; ++bi) {
    const auto [ia, ib] = bm.operands(bi);
    L.batch_ = {ia * M * K, ib * K * N, bi * M * N};
    const int64_t mkn[3] = {M, K, N};
    gemm(L, n, mkn);
  }
  L.batch_ = {};
}

bool lower_gemm(Lowering& L, const Node& n, const OpInfo&) {
  gemm(L, n);
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_matmul_ops(OpRegistry& r) {
  r.add("Gemm", lowering::lower_gemm, kFloatOnly);
  r.add("MatMul", lowering::lower_gemm, kFloatOnly);
}

}  // namespace npusim::compiler
