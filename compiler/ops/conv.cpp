// Convolution: Conv (2-D, strides, pads, dilations, auto_pad, groups) on the shared tiled
// convolution (Lowering::emit_conv), and depthwise Conv on the VPU.
#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

void depthwise(Lowering& L, const Node& n, const Window& win);

/// 2-D convolution on NHWC activations: for each band of output rows and tile of output
/// channels, the sum over kernel taps (kh, kw) and input-channel chunks of
/// X_tap[pixels x Cin] . W_tap[Cin x Cout]. Each X_tap is one strided load whose padding supplies
/// the zeros outside the image, so no im2col buffer exists.
void conv(Lowering& L, const Node& n) {
  const Tensor& w = L.g_.tensor(n.inputs.at(1));
  ConvPlan plan = L.conv_shapes(n, L.g_.tensor(n.inputs.at(0)), w, L.g_.tensor(n.outputs.at(0)));
  const int64_t C = plan.C, Co = plan.Co, KH = plan.KH, KW = plan.KW, G = plan.G, Cg = C / G, Cog = Co / G;
  if (G == C && Co == C) return depthwise(L, n, plan.win);
  // Weights per group and tap: [G][KH][KW][Cg][Cog] in the device type.
  std::vector<double> taps(static_cast<size_t>(KH * KW * Cg * Co));
  for (int64_t g = 0; g < G; ++g)
    for (int64_t co = 0; co < Cog; ++co)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw)
            taps[(((g * KH + kh) * KW + kw) * Cg + c) * Cog + co] =
                w.values[(((g * Cog + co) * Cg + c) * KH + kh) * KW + kw];
  const uint64_t taps_off = L.put_device(taps);
  int64_t bias_off = -1;
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor& b = L.g_.tensor(n.inputs[2]);
    if (!b.is_const || b.elements() != Co)
      throw CompileError(where(n) + ": the bias must be a constant of " + std::to_string(Co) + " values");
    bias_off = static_cast<int64_t>(L.put_fp32(std::vector<float>(b.values.begin(), b.values.end())));
  }
  plan.x = L.input(n, 0);
  plan.y = L.output(n);
  plan.w = {L.weights_region_, taps_off, 0, 0, L.dev_};
  plan.mm_dtype = L.elem_;
  plan.bias_type = isa::TensorType::FP32;
  plan.bias_for_band = [bias_off](const std::vector<Tap>&) { return bias_off; };
  const uint32_t rq = L.to_device_param(1.0f);
  plan.requant_for = [rq](int64_t) { return rq; };
  L.emit_conv(n, plan);
}

/// Depthwise convolution (group = channels, multiplier 1) on the VPU: for each kernel tap, the
/// shifted window (one padded strided load, as for Conv) times the tap's weight row, in fp32,
/// accumulated into the output in the accumulator: Y[p, c] = b[c] + sum_tap X_tap[p, c] * w[c, tap].
void depthwise(Lowering& L, const Node& n, const Window& win) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& w = L.g_.tensor(n.inputs.at(1));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], OH = y.shape[2], OW = y.shape[3];
  const int64_t KH = w.shape[2], KW = w.shape[3];
  std::vector<double> taps(static_cast<size_t>(KH * KW * C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < KH * KW; ++t) taps[t * C + c] = w.values[c * KH * KW + t];
  const uint64_t taps_off = L.put_device(taps);
  std::vector<float> bias(static_cast<size_t>(C), 0.0f);  // the accumulator starts at the bias (or 0)
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor& b = L.g_.tensor(n.inputs[2]);
    if (!b.is_const || b.elements() != C)
      throw CompileError(where(n) + ": the bias must be a constant of " + std::to_string(C) + " values");
    bias.assign(b.values.begin(), b.values.end());
  }
  const uint64_t bias_off = L.put_fp32(bias);
  const Location lx = L.input(n, 0), ly = L.output(n);
  if (OW > 4095) throw CompileError(where(n) + ": output width " + std::to_string(OW) + " exceeds 4095");
  const unsigned es = bytes_of(L.dev_);
  int64_t tc = std::min<int64_t>(C, 4095), toh = std::max<int64_t>(1, std::min<int64_t>(OH, 4095 / OW));
  auto fits = [&] {
    const int64_t P = toh * OW;
    return uint64_t{2 * L.lines(P, tc, 4)} * L.t_.line_bytes <= L.t_.acc_bytes &&
           uint64_t{2 * L.lines(P, tc, es) + L.lines(1, tc, es)} * L.t_.line_bytes <= L.t_.spad_bytes;
  };
  while (!fits() && (toh > 1 || tc > 1)) {
    if (toh > 1)
      toh = (toh + 1) / 2;
    else
      tc = (tc + 1) / 2;
  }
  if (!fits()) throw CompileError(where(n) + ": no tile fits the scratchpad and accumulator");
  for (int64_t b = 0; b < N; ++b)
    for (int64_t oh0 = 0; oh0 < OH; oh0 += toh)
      for (int64_t c0 = 0; c0 < C; c0 += tc) {
        const int64_t th = std::min(toh, OH - oh0), P = th * OW;
        const auto cc = static_cast<uint32_t>(std::min(tc, C - c0));
        const uint32_t a_line = 0, w_line = L.lines(P, tc, es), y_line = w_line + L.lines(1, tc, es);
        const uint32_t c_acc = 0, t_acc = L.lines(P, tc, 4);
        Instruction l = make(Opcode::Load);
        l.set(f::load::dst_acc, 1);
        l.set(f::load::dst, c_acc);
        l.set(f::load::desc,
              L.desc(L.weights_region_, isa::TensorType::FP32, bias_off, cc, static_cast<uint32_t>(P), 0));
        l.set(f::load::off, static_cast<uint32_t>(c0));
        L.emit(l, kGo, 1, kL2V);
        const std::vector<Tap> valid = taps_for_band(win, KH, KW, H, W, OW, oh0, th);
        for (size_t i = 0; i < valid.size(); ++i) {
          const Tap& t = valid[i];
          const Instruction la = L.window_load(n, lx, win, t, oh0, th, OW, H, W, C, b, c0, cc, a_line);
          L.emit(la, i > 0 ? kM2L : -1, 1, kL2V);  // after the previous tap's VPU work read the buffers
          Instruction lw = make(Opcode::Load);
          lw.set(f::load::dst, w_line);
          lw.set(f::load::desc, L.desc(L.weights_region_, L.dev_, taps_off, cc, 1, C));
          lw.set(f::load::off, static_cast<uint32_t>((t.kh * KW + t.kw) * C + c0));
          L.emit(lw, -1, 1, kL2V);
          Instruction mul = make(Opcode::Mul);  // T = X_tap * w_tap, fp32 in the accumulator
          mul.set(f::mul::dst_acc, 1);
          mul.set(f::mul::dst, t_acc);
          mul.set(f::mul::src0, a_line);
          mul.set(f::mul::src1, w_line);
          mul.set(f::mul::bcast, 1);
          mul.set(f::mul::rows, static_cast<uint32_t>(P));
          mul.set(f::mul::cols, cc);
          mul.set(f::mul::dtype, L.elem_);
          mul.set(f::mul::q, isa::kNoParam);
          L.emit(mul, kL2V, i == 0 ? 3 : 2, -1);
          Instruction add = make(Opcode::Add);  // C += T
          add.set(f::add::dst_acc, 1);
          add.set(f::add::src0_acc, 1);
          add.set(f::add::src1_acc, 1);
          add.set(f::add::dst, c_acc);
          add.set(f::add::src0, c_acc);
          add.set(f::add::src1, t_acc);
          add.set(f::add::rows, static_cast<uint32_t>(P));
          add.set(f::add::cols, cc);
          add.set(f::add::dtype, L.elem_);
          add.set(f::add::q, isa::kNoParam);
          L.emit(add, -1, 1, i + 1 < valid.size() ? kM2L : -1);
        }
        Instruction rq = make(Opcode::Requant);
        rq.set(f::requant::dst, y_line);
        rq.set(f::requant::src, c_acc);
        rq.set(f::requant::rows, static_cast<uint32_t>(P));
        rq.set(f::requant::cols, cc);
        rq.set(f::requant::dtype, L.elem_);
        rq.set(f::requant::q, L.to_device_param(1.0f));
        L.emit(rq, valid.empty() ? kL2V : -1, 1, kV2S);
        Instruction st = make(Opcode::Store);
        st.set(f::store::src, y_line);
        st.set(f::store::desc, L.desc(ly.region, L.dev_, ly.offset, cc, static_cast<uint32_t>(P), C));
        st.set(f::store::off, static_cast<uint32_t>(((b * OH + oh0) * OW) * C + c0));
        L.emit(st, kV2S, 1, kGo);
      }
}

bool lower_conv(Lowering& L, const Node& n, const OpInfo&) {
  conv(L, n);
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_conv_ops(OpRegistry& r) {
  r.add("Conv", lowering::lower_conv, kFloatOnly | kImage);
}

}  // namespace npusim::compiler
