// Transposed convolution: ConvTranspose (2-D, group 1, strides, pads, dilations, output_padding,
// output_shape, auto_pad) as a convolution (Lowering::emit_conv) over a zero-inserted input.
#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

/// Z, X with (s - 1) zeros between neighbouring pixels ([N, (H-1) sh + 1, (W-1) sw + 1, C], NHWC),
/// built in fresh activation space: zeros stored from a filled scratchpad stretch, then every
/// band of X's rows loaded densely and stored with strides (sw C, sh Zw C) into it.
Location zero_inserted(Lowering& L, const Node& n, const Location& lx, int64_t N, int64_t C, int64_t H, int64_t W,
                       int64_t sh, int64_t sw) {
  const int64_t Zh = (H - 1) * sh + 1, Zw = (W - 1) * sw + 1;
  const unsigned es = bytes_of(lx.type);
  const Location z = L.scratch(lx.type, N * Zh * Zw * C);
  const uint64_t pixel_lines = L.lines(1, C, es), spad_lines = L.t_.spad_bytes / L.t_.line_bytes;
  if (pixel_lines > spad_lines) throw CompileError(where(n) + ": one pixel of X does not fit the scratchpad");
  // Zeros: the whole of Z, in chunks of pixels that fit the scratchpad.
  const int64_t chunk = static_cast<int64_t>(std::min<uint64_t>(spad_lines / pixel_lines, 65535));
  for (int64_t p0 = 0; p0 < N * Zh * Zw; p0 += chunk) {
    const int64_t pixels = std::min(chunk, N * Zh * Zw - p0);
    Instruction fill = make(Opcode::Fill);
    fill.set(f::fill::dst, 0);
    fill.set(f::fill::lines, static_cast<uint32_t>(pixels * pixel_lines));
    fill.set(f::fill::value, 0);
    L.emit(fill, kGo, 1, kV2S);
    Instruction st = make(Opcode::Store);
    st.set(f::store::src, 0);
    st.set(f::store::desc,
           L.desc(z.region, z.type, z.offset, static_cast<uint32_t>(C), static_cast<uint32_t>(pixels), C));
    st.set(f::store::off, static_cast<uint32_t>(p0 * C));
    L.emit(st, kV2S, 1, kGo);
  }
  // X's pixels at every (sh, sw)-th position: bands of whole rows.
  const int64_t th = std::max<int64_t>(1, std::min<int64_t>(H, static_cast<int64_t>(spad_lines / (pixel_lines * W))));
  if (static_cast<uint64_t>(W) * pixel_lines > spad_lines)
    throw CompileError(where(n) + ": one row of X does not fit the scratchpad");
  for (int64_t b = 0; b < N; ++b)
    for (int64_t h0 = 0; h0 < H; h0 += th) {
      const int64_t rows = std::min(th, H - h0);
      Instruction ld = make(Opcode::Load);
      ld.set(f::load::dst, 0);
      ld.set(f::load::desc,
             L.desc(lx.region, lx.type, lx.offset, static_cast<uint32_t>(C), static_cast<uint32_t>(rows * W), C));
      ld.set(f::load::off, static_cast<uint32_t>((b * H + h0) * W * C));
      L.emit(ld, kGo, 1, kV2S);
      Instruction st = make(Opcode::Store);
      st.set(f::store::src, 0);
      st.set(f::store::desc,
             L.desc_nd(z.region, z.type, z.offset,
                       {static_cast<uint32_t>(C), static_cast<uint32_t>(W), static_cast<uint32_t>(rows)},
                       {sw * C, sh * Zw * C}));
      st.set(f::store::off, static_cast<uint32_t>(((b * Zh + h0 * sh) * Zw) * C));
      L.emit(st, kV2S, 1, kGo);
    }
  return z;
}

/// ConvTranspose: Y = conv(Z, W') with Z the zero-inserted X, W'[co][c][kh][kw] =
/// W[c][co][KH-1-kh][KW-1-kw] (the kernel flipped, its channel axes swapped), stride 1, the
/// same dilations, and padding d (K - 1) - pad_begin before; after, what makes the output OH x OW
/// (d (K - 1) - pad_end + output_padding).
void conv_transpose(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& w = L.g_.tensor(n.inputs.at(1));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  if (!L.is_spatial(x) || !L.is_spatial(y) || w.shape.size() != 4)
    throw CompileError(where(n) + ": only 2-D transposed convolution (4-D X and W) is supported");
  if (!w.is_const) throw CompileError(where(n) + ": the weights must be constant");
  if (n.attr_i("group", 1) != 1) throw CompileError(where(n) + ": only group 1 is supported");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t Co = y.shape[1], OH = y.shape[2], OW = y.shape[3], KH = w.shape[2], KW = w.shape[3];
  if (w.shape[0] != C || w.shape[1] != Co)
    throw CompileError(where(n) + ": weights " + shape_text(w.shape) + " do not match the input and output channels");
  auto ints = [&](const char* k, std::vector<int64_t> def) {
    auto it = n.attrs.find(k);
    return it == n.attrs.end() ? def : it->second.ints;
  };
  const auto s = ints("strides", {1, 1}), d = ints("dilations", {1, 1}), op = ints("output_padding", {0, 0});
  if (s.size() != 2 || d.size() != 2 || op.size() != 2)
    throw CompileError(where(n) + ": strides, dilations and output_padding must have two values");
  const auto it = n.attrs.find("auto_pad");
  const std::string ap = it == n.attrs.end() ? "NOTSET" : it->second.s;
  if (ap != "NOTSET" && ap != "VALID" && ap != "SAME_UPPER" && ap != "SAME_LOWER")
    throw CompileError(where(n) + ": auto_pad '" + ap + "' is not supported");
  // Padding before each axis (the padding after follows from the output size).
  int64_t begin[2] = {0, 0};
  const auto pads = ints("pads", {});
  const int64_t in[2] = {H, W}, out[2] = {OH, OW}, k[2] = {KH, KW};
  for (int a = 0; a < 2; ++a) {
    if (n.attrs.count("output_shape") || ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      // The ONNX operator's rule: total = s (in - 1) + output_padding + (k - 1) d + 1 - out,
      // SAME_UPPER puts total / 2 before, otherwise total - total / 2. An output_shape larger
      // than the full output (total < 0) is padded at the end, as output_padding would.
      const int64_t total = s[a] * (in[a] - 1) + op[a] + (k[a] - 1) * d[a] + 1 - out[a];
      begin[a] = total < 0 ? 0 : ap == "SAME_UPPER" ? total / 2 : total - total / 2;
    } else if (pads.size() == 4) {
      begin[a] = pads[a];
    }
  }
  ConvPlan plan;
  plan.N = N, plan.C = C, plan.H = (H - 1) * s[0] + 1, plan.W = (W - 1) * s[1] + 1;
  plan.Co = Co, plan.OH = OH, plan.OW = OW, plan.KH = KH, plan.KW = KW, plan.G = 1;
  Window& win = plan.win;
  win.kh = KH, win.kw = KW, win.dh = d[0], win.dw = d[1];
  win.pt = d[0] * (KH - 1) - begin[0], win.pl = d[1] * (KW - 1) - begin[1];
  win.pb = OH - plan.H - win.pt + d[0] * (KH - 1), win.pr = OW - plan.W - win.pl + d[1] * (KW - 1);
  if (win.pt < 0 || win.pl < 0 || win.pb < 0 || win.pr < 0)
    throw CompileError(where(n) + ": pads larger than the dilated kernel (cropping) are not supported");
  // W'[kh][kw][c][co] = W[c][co][KH-1-kh][KW-1-kw], in the device type.
  std::vector<double> taps(static_cast<size_t>(KH * KW * C * Co));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t co = 0; co < Co; ++co)
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw)
          taps[((kh * KW + kw) * C + c) * Co + co] =
              w.values[((c * Co + co) * KH + (KH - 1 - kh)) * KW + (KW - 1 - kw)];
  const uint64_t taps_off = L.put_device(taps);
  int64_t bias_off = -1;
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor& b = L.g_.tensor(n.inputs[2]);
    if (!b.is_const || b.elements() != Co)
      throw CompileError(where(n) + ": the bias must be a constant of " + std::to_string(Co) + " values");
    bias_off = static_cast<int64_t>(L.put_fp32(std::vector<float>(b.values.begin(), b.values.end())));
  }
  const Location lx = L.input(n, 0);
  plan.x = s[0] == 1 && s[1] == 1 ? lx : zero_inserted(L, n, lx, N, C, H, W, s[0], s[1]);
  plan.y = L.output(n);
  plan.w = {L.weights_region_, taps_off, 0, 0, L.dev_};
  plan.mm_dtype = L.elem_;
  plan.bias_type = isa::TensorType::FP32;
  plan.bias_for_band = [bias_off](const std::vector<Tap>&) { return bias_off; };
  const uint32_t rq = L.to_device_param(1.0f);
  plan.requant_for = [rq](int64_t) { return rq; };
  L.emit_conv(n, plan);
}

bool lower_conv_transpose(Lowering& L, const Node& n, const OpInfo&) {
  conv_transpose(L, n);
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_deconv_ops(OpRegistry& r) {
  r.add("ConvTranspose", lowering::lower_conv_transpose, kFloatOnly | kImage);
}

}  // namespace npusim::compiler
