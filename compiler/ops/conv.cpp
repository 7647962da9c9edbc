// Convolution: Conv (2-D, strides, pads, dilations, auto_pad, groups) on the shared tiled
// convolution (Lowering::emit_conv), depthwise Conv on the VPU, and 1-D Conv as a 2-D one with H = 1.
#include "compiler/ops/layout.h"

namespace npusim::compiler::lowering {
namespace {

void depthwise(Lowering& L, const Node& n, const Window& win);
void conv1d(Lowering& L, const Node& n);

/// The weights of a convolution as [G][KH][KW][Cg][Cog] (the ONNX layout is [Co][Cg][KH][KW]), in
/// the device type; returns their offset in the weights.
uint64_t conv_taps(Lowering& L, const Tensor& w, int64_t G, int64_t KH, int64_t KW) {
  const int64_t Co = w.shape[0], Cg = w.shape[1], Cog = Co / G;
  std::vector<double> taps(static_cast<size_t>(KH * KW * Cg * Co));
  for (int64_t g = 0; g < G; ++g)
    for (int64_t co = 0; co < Cog; ++co)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw)
            taps[(((g * KH + kh) * KW + kw) * Cg + c) * Cog + co] =
                w.values[(((g * Cog + co) * Cg + c) * KH + kh) * KW + kw];
  return L.put_device(taps);
}

/// The fp32 bias of a convolution with Co output channels in the weights (-1: none).
int64_t conv_bias(Lowering& L, const Node& n, int64_t Co) {
  if (n.inputs.size() <= 2 || n.inputs[2].empty()) return -1;
  const Tensor& b = L.g_.tensor(n.inputs[2]);
  if (!b.is_const || b.elements() != Co)
    throw CompileError(where(n) + ": the bias must be a constant of " + std::to_string(Co) + " values");
  return static_cast<int64_t>(L.put_fp32(std::vector<float>(b.values.begin(), b.values.end())));
}

/// 2-D convolution on NHWC activations: for each band of output rows and tile of output
/// channels, the sum over kernel taps (kh, kw) and input-channel chunks of
/// X_tap[pixels x Cin] . W_tap[Cin x Cout]. Each X_tap is one strided load whose padding supplies
/// the zeros outside the image, so no im2col buffer exists.
void conv(Lowering& L, const Node& n) {
  const Tensor& w = L.g_.tensor(n.inputs.at(1));
  if (L.g_.tensor(n.inputs.at(0)).shape.size() == 3) return conv1d(L, n);
  ConvPlan plan = L.conv_shapes(n, L.g_.tensor(n.inputs.at(0)), w, L.g_.tensor(n.outputs.at(0)));
  const int64_t C = plan.C, Co = plan.Co, KH = plan.KH, KW = plan.KW, G = plan.G;
  if (G == C && Co == C) return depthwise(L, n, plan.win);
  const uint64_t taps_off = conv_taps(L, w, G, KH, KW);
  const int64_t bias_off = conv_bias(L, n, Co);
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

/// 1-D convolution (X [N, C, L], W [Co, C/G, K]) as a 2-D one of height 1 on channels-last data:
/// X is turned to [N, L, C] (permute(), layout.h), convolved as the NHWC image [N, 1, L, C] by the
/// shared emitter (strides, pads, dilations, auto_pad and groups as attributes of the width), and
/// the [N, OL, Co] result turned back to [N, Co, OL].
void conv1d(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& w = L.g_.tensor(n.inputs.at(1));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  if (w.shape.size() != 3 || y.shape.size() != 3)
    throw CompileError(where(n) + ": a 1-D convolution needs 3-D W and Y, got W " + shape_text(w.shape));
  if (!w.is_const) throw CompileError(where(n) + ": the weights must be constant");
  ConvPlan p;
  p.N = x.shape[0], p.C = x.shape[1], p.H = 1, p.W = x.shape[2];
  p.Co = y.shape[1], p.OH = 1, p.OW = y.shape[2], p.KH = 1, p.KW = w.shape[2];
  p.G = n.attr_i("group", 1);
  if (p.G < 1 || p.C % p.G || p.Co % p.G)
    throw CompileError(where(n) + ": group " + std::to_string(p.G) + " does not divide the channels");
  if (w.shape[0] != p.Co || w.shape[1] != p.C / p.G)
    throw CompileError(where(n) + ": weights " + shape_text(w.shape) + " do not match the input and output channels");
  // The 1-D attributes as those of a 2-D window with a 1-row kernel.
  Node v = n;
  auto widen = [&](const char* key, std::vector<int64_t> (*to2d)(const std::vector<int64_t>&)) {
    auto it = v.attrs.find(key);
    if (it == v.attrs.end() || it->second.ints.empty()) return;
    if (it->second.ints.size() != (std::string(key) == "pads" ? 2u : 1u))
      throw CompileError(where(n) + ": '" + key + "' " + shape_text(it->second.ints) + " does not fit a 1-D kernel");
    it->second.ints = to2d(it->second.ints);
  };
  widen("strides", [](const std::vector<int64_t>& a) { return std::vector<int64_t>{1, a[0]}; });
  widen("dilations", [](const std::vector<int64_t>& a) { return std::vector<int64_t>{1, a[0]}; });
  widen("pads", [](const std::vector<int64_t>& a) { return std::vector<int64_t>{0, a[0], 0, a[1]}; });
  p.win = window(v, p.H, p.W, p.OH, p.OW, p.KH, p.KW);
  const uint64_t taps_off = conv_taps(L, w, p.G, 1, p.KW);
  const int64_t bias_off = conv_bias(L, n, p.Co);
  const Location lx = L.input(n, 0), ly = L.output(n);
  Location xt = L.scratch(L.dev_, x.elements()), yt = L.scratch(L.dev_, y.elements());
  xt.rows = p.N * p.W, xt.cols = p.C, yt.rows = p.N * p.OW, yt.cols = p.Co;
  if (const std::string why = permute(L, n, lx, x.shape, {0, 2, 1}, xt); !why.empty())
    throw CompileError(where(n) + ": X " + shape_text(x.shape) + " cannot be turned channels-last: " + why);
  p.x = xt;
  p.y = yt;
  p.w = {L.weights_region_, taps_off, 0, 0, L.dev_};
  p.mm_dtype = L.elem_;
  p.bias_type = isa::TensorType::FP32;
  p.bias_for_band = [bias_off](const std::vector<Tap>&) { return bias_off; };
  const uint32_t rq = L.to_device_param(1.0f);
  p.requant_for = [rq](int64_t) { return rq; };
  L.emit_conv(n, p);
  if (const std::string why = permute(L, n, yt, {p.N, p.OW, p.Co}, {0, 2, 1}, ly); !why.empty())
    throw CompileError(where(n) + ": Y " + shape_text(y.shape) + " cannot be turned back from channels-last: " + why);
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
