// Transposed convolution: ConvTranspose (2-D and 1-D, groups, strides, pads, dilations,
// output_padding, output_shape, auto_pad) as a convolution (Lowering::emit_conv) over a
// zero-inserted input; 1-D as the 2-D one of height 1 on channels-last data (as Conv1d).
#include "compiler/ops/layout.h"

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

/// ConvTranspose: Y = conv(Z, W') with Z the zero-inserted X, W'[g][kh][kw][c][co] =
/// W[g Cg + c][co][KH-1-kh][KW-1-kw] (the kernel flipped, its channel axes swapped within each
/// group of Cg = C/G input and Cog = Co/G output channels), stride 1, the same dilations, and
/// padding d (K - 1) - pad_begin before; after, what makes the output OH x OW
/// (d (K - 1) - pad_end + output_padding). 1-D (X [N, C, L], W [C, Co/G, K]): the attributes of
/// the width of a 2-D one with H = 1, X turned to [N, L, C] first and Y back from [N, OL, Co].
void conv_transpose(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& w = L.g_.tensor(n.inputs.at(1));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const bool one_d = x.shape.size() == 3 && w.shape.size() == 3 && y.shape.size() == 3;
  if (!one_d && (!L.is_spatial(x) || !L.is_spatial(y) || w.shape.size() != 4))
    throw CompileError(where(n) + ": only 1-D and 2-D transposed convolutions (3-D or 4-D X, W and Y) are supported");
  if (!w.is_const) throw CompileError(where(n) + ": the weights must be constant");
  const int64_t G = n.attr_i("group", 1);
  const int64_t N = x.shape[0], C = x.shape[1], H = one_d ? 1 : x.shape[2], W = one_d ? x.shape[2] : x.shape[3];
  const int64_t Co = y.shape[1], OH = one_d ? 1 : y.shape[2], OW = one_d ? y.shape[2] : y.shape[3];
  const int64_t KH = one_d ? 1 : w.shape[2], KW = one_d ? w.shape[2] : w.shape[3];
  if (G < 1 || C % G || Co % G)
    throw CompileError(where(n) + ": attribute 'group' " + std::to_string(G) + " does not divide the " +
                       std::to_string(C) + " input and " + std::to_string(Co) + " output channels");
  const int64_t Cg = C / G, Cog = Co / G;
  if (w.shape[0] != C || w.shape[1] != Cog)
    throw CompileError(where(n) + ": weights " + shape_text(w.shape) + " do not match the input and output channels");
  // The attributes per axis (height, width); a 1-D one's are the width's, the height's neutral.
  auto ints = [&](const char* k, std::vector<int64_t> def) {
    auto it = n.attrs.find(k);
    std::vector<int64_t> v = it == n.attrs.end() || it->second.ints.empty() ? def : it->second.ints;
    const size_t want = (std::string(k) == "pads" ? 2u : 1u) * (one_d ? 1u : 2u);
    if (v.size() != want && !(std::string(k) == "pads" && v.empty()))
      throw CompileError(where(n) + ": attribute '" + k + "' " + shape_text(v) + " must have " + std::to_string(want) +
                         " values for a " + (one_d ? "1" : "2") + "-D kernel");
    if (one_d && std::string(k) == "pads" && !v.empty()) return std::vector<int64_t>{0, v[0], 0, v[1]};
    if (one_d && std::string(k) != "pads")
      return std::vector<int64_t>{std::string(k) == "output_padding" ? 0 : 1, v[0]};
    return v;
  };
  const std::vector<int64_t> one(one_d ? 1 : 2, 1), zero(one_d ? 1 : 2, 0);
  const auto s = ints("strides", one), d = ints("dilations", one), op = ints("output_padding", zero);
  const auto it = n.attrs.find("auto_pad");
  const std::string ap = it == n.attrs.end() ? "NOTSET" : it->second.s;
  if (ap != "NOTSET" && ap != "VALID" && ap != "SAME_UPPER" && ap != "SAME_LOWER")
    throw CompileError(where(n) + ": attribute 'auto_pad' '" + ap + "' is not supported");
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
  plan.Co = Co, plan.OH = OH, plan.OW = OW, plan.KH = KH, plan.KW = KW, plan.G = G;
  Window& win = plan.win;
  win.kh = KH, win.kw = KW, win.dh = d[0], win.dw = d[1];
  win.pt = d[0] * (KH - 1) - begin[0], win.pl = d[1] * (KW - 1) - begin[1];
  win.pb = OH - plan.H - win.pt + d[0] * (KH - 1), win.pr = OW - plan.W - win.pl + d[1] * (KW - 1);
  if (win.pt < 0 || win.pl < 0 || win.pb < 0 || win.pr < 0)
    throw CompileError(where(n) + ": attribute 'pads' larger than the dilated kernel (cropping) is not supported");
  // W'[g][kh][kw][c][co] = W[g Cg + c][co][KH-1-kh][KW-1-kw], in the device type.
  std::vector<double> taps(static_cast<size_t>(KH * KW * C * Cog));
  for (int64_t g = 0; g < G; ++g)
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t co = 0; co < Cog; ++co)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw)
            taps[(((g * KH + kh) * KW + kw) * Cg + c) * Cog + co] =
                w.values[(((g * Cg + c) * Cog + co) * KH + (KH - 1 - kh)) * KW + (KW - 1 - kw)];
  const uint64_t taps_off = L.put_device(taps);
  int64_t bias_off = -1;
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor& b = L.g_.tensor(n.inputs[2]);
    if (!b.is_const || b.elements() != Co)
      throw CompileError(where(n) + ": the bias must be a constant of " + std::to_string(Co) + " values");
    bias_off = static_cast<int64_t>(L.put_fp32(std::vector<float>(b.values.begin(), b.values.end())));
  }
  Location lx = L.input(n, 0);
  const Location ly = L.output(n);
  Location yt = ly;
  if (one_d) {  // channels-last: X as [N, L, C], Y as [N, OL, Co]
    Location xt = L.scratch(L.dev_, x.elements());
    xt.rows = N * W, xt.cols = C;
    if (const std::string why = permute(L, n, lx, x.shape, {0, 2, 1}, xt); !why.empty())
      throw CompileError(where(n) + ": X " + shape_text(x.shape) + " cannot be turned channels-last: " + why);
    lx = xt;
    yt = L.scratch(L.dev_, y.elements());
    yt.rows = N * OW, yt.cols = Co;
  }
  plan.x = s[0] == 1 && s[1] == 1 ? lx : zero_inserted(L, n, lx, N, C, H, W, s[0], s[1]);
  plan.y = yt;
  plan.w = {L.weights_region_, taps_off, 0, 0, L.dev_};
  plan.mm_dtype = L.elem_;
  plan.bias_type = isa::TensorType::FP32;
  plan.bias_for_band = [bias_off](const std::vector<Tap>&) { return bias_off; };
  const uint32_t rq = L.to_device_param(1.0f);
  plan.requant_for = [rq](int64_t) { return rq; };
  L.emit_conv(n, plan);
  if (one_d)
    if (const std::string why = permute(L, n, yt, {N, OW, Co}, {0, 2, 1}, ly); !why.empty())
      throw CompileError(where(n) + ": Y " + shape_text(y.shape) + " cannot be turned back from channels-last: " + why);
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
