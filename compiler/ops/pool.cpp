// Pooling: MaxPool, AveragePool and GlobalAveragePool on NHWC images (the ISA's pool instruction).
#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

/// A pool parameter entry for one band (deduplicated).
uint32_t pool_param(Lowering& L, const Window& win, int64_t in_h, int64_t in_w, int64_t pt, int64_t pb,
                    bool count_pad) {
  namespace pp = isa::params::pool;
  isa::Param p;
  p.bytes[0] = pp::kKind;
  p.bytes[pp::kh] = static_cast<uint8_t>(win.kh);
  p.bytes[pp::kw] = static_cast<uint8_t>(win.kw);
  p.bytes[pp::sh] = static_cast<uint8_t>(win.sh);
  p.bytes[pp::sw] = static_cast<uint8_t>(win.sw);
  p.bytes[pp::pad_top] = static_cast<uint8_t>(pt);
  p.bytes[pp::pad_bottom] = static_cast<uint8_t>(pb);
  p.bytes[pp::pad_left] = static_cast<uint8_t>(win.pl);
  p.bytes[pp::pad_right] = static_cast<uint8_t>(win.pr);
  p.bytes[pp::count_pad] = count_pad ? 1 : 0;
  p.bytes[pp::in_h] = static_cast<uint8_t>(in_h);
  p.bytes[pp::in_h + 1] = static_cast<uint8_t>(in_h >> 8);
  p.bytes[pp::in_w] = static_cast<uint8_t>(in_w);
  p.bytes[pp::in_w + 1] = static_cast<uint8_t>(in_w >> 8);
  for (size_t i = 0; i < L.p_.params.size(); ++i)
    if (L.p_.params[i].bytes == p.bytes) return static_cast<uint32_t>(i);
  p.name = "pool" + std::to_string(L.p_.params.size());
  L.p_.params.push_back(p);
  return static_cast<uint32_t>(L.p_.params.size() - 1);
}

/// MaxPool, AveragePool and GlobalAveragePool on NHWC images with the ISA's pool instruction,
/// a whole image per channel tile.
void pool(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  if (!L.is_spatial(x) || !L.is_spatial(y)) throw CompileError(where(n) + ": only 2-D pooling (4-D X) is supported");
  if (n.outputs.size() > 1 && !n.outputs[1].empty())
    throw CompileError(where(n) + ": the Indices output is not supported");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], OH = y.shape[2], OW = y.shape[3];
  const bool global = n.op == "GlobalAveragePool", avg = n.op != "MaxPool";
  Window win;
  if (global) {
    win.kh = H, win.kw = W;
  } else {
    auto it = n.attrs.find("kernel_shape");
    if (it == n.attrs.end() || it->second.ints.size() != 2)
      throw CompileError(where(n) + ": kernel_shape must have two values");
    win = window(n, H, W, OH, OW, it->second.ints[0], it->second.ints[1]);
    if (win.dh != 1 || win.dw != 1) throw CompileError(where(n) + ": dilations are not supported");
    if (n.attr_i("ceil_mode", 0)) {
      // ceil_mode: the last window may run past the padded input; the overhang is more padding
      // at the bottom and right (never part of a maximum; left out of an average, which is why
      // counting padding in averages is not allowed with it).
      if (avg && n.attr_i("count_include_pad", 0))
        throw CompileError(where(n) + ": ceil_mode=1 with count_include_pad=1 is not supported");
      win.pb += std::max<int64_t>(0, (OH - 1) * win.sh + win.kh - (H + win.pt + win.pb));
      win.pr += std::max<int64_t>(0, (OW - 1) * win.sw + win.kw - (W + win.pl + win.pr));
    }
  }
  if (win.kh > 255 || win.kw > 255 || win.sh > 255 || win.sw > 255 || H > 65535 || W > 65535)
    throw CompileError(where(n) + ": window, stride or image too large for the pool parameters");
  if (win.pt >= win.kh || win.pb >= win.kh || win.pl >= win.kw || win.pr >= win.kw)
    throw CompileError(where(n) + ": padding as large as the window is not supported");
  if (H + win.pt + win.pb < win.kh || W + win.pl + win.pr < win.kw)
    throw CompileError(where(n) + ": the window is larger than the padded input");
  if ((win.pt + win.pb + H - win.kh) / win.sh + 1 != OH || (win.pl + win.pr + W - win.kw) / win.sw + 1 != OW)
    throw CompileError(where(n) + ": output size " + shape_text(y.shape) + " does not follow from the window");
  const bool count_pad = n.attr_i("count_include_pad", 0) != 0;
  const Location lx = L.input(n, 0), ly = L.output(n);
  if (avg && !is_float_type(lx.type)) throw CompileError(where(n) + ": average pooling needs a float input");
  const unsigned es = bytes_of(lx.type);
  // Bands of output rows (with their input halo) and channel tiles that fit the scratchpad.
  int64_t tc = std::min<int64_t>(C, 4095), th = OH;
  auto in_rows = [&](int64_t rows) { return std::min<int64_t>(H, (rows - 1) * win.sh + win.kh); };
  auto fits = [&] {
    return uint64_t{L.lines(in_rows(th) * W, tc, es) + L.lines(th * OW, tc, es)} * L.t_.line_bytes <= L.t_.spad_bytes;
  };
  while (!fits() && (th > 1 || tc > 1)) {
    if (th > 1)
      th = (th + 1) / 2;
    else
      tc = (tc + 1) / 2;
  }
  if (!fits())
    throw CompileError(where(n) + ": one output row of a " + std::to_string(W) +
                       "-wide image does not fit the scratchpad");
  for (int64_t b = 0; b < N; ++b)
    for (int64_t oh0 = 0; oh0 < OH; oh0 += th)
      for (int64_t c0 = 0; c0 < C; c0 += tc) {
        const int64_t rows = std::min(th, OH - oh0);
        // Input rows of this band; padding only where the band meets the image's edge.
        const int64_t y_lo = oh0 * win.sh - win.pt, y_hi = (oh0 + rows - 1) * win.sh - win.pt + win.kh - 1;
        const int64_t band_pt = std::max<int64_t>(0, -y_lo), band_pb = std::max<int64_t>(0, y_hi - (H - 1));
        const int64_t y0 = std::max<int64_t>(0, y_lo), ih = std::min<int64_t>(H - 1, y_hi) - y0 + 1;
        const uint32_t param = pool_param(L, win, ih, W, band_pt, band_pb, count_pad);
        const auto cc = static_cast<uint32_t>(std::min(tc, C - c0));
        const uint32_t dst = L.lines(in_rows(th) * W, tc, es);
        Instruction l = make(Opcode::Load);
        l.set(f::load::desc, L.desc_nd(lx.region, lx.type, lx.offset,
                                       {cc, static_cast<uint32_t>(W), static_cast<uint32_t>(ih)}, {C, W * C}));
        l.set(f::load::off, static_cast<uint32_t>((b * H + y0) * W * C + c0));
        L.emit(l, kGo, 1, kL2V);
        Instruction pl = make(Opcode::Pool);
        pl.set(f::pool::dst, dst);
        pl.set(f::pool::src, 0);
        pl.set(f::pool::channels, cc);
        pl.set(f::pool::window, param);
        pl.set(f::pool::avg, avg ? 1 : 0);
        pl.set(f::pool::dtype, L.code(lx.type, n));
        L.emit(pl, kL2V, 1, kV2S);
        Instruction st = make(Opcode::Store);
        st.set(f::store::src, dst);
        st.set(f::store::desc, L.desc(ly.region, ly.type, ly.offset, cc, static_cast<uint32_t>(rows * OW), C));
        st.set(f::store::off, static_cast<uint32_t>(((b * OH + oh0) * OW) * C + c0));
        L.emit(st, kV2S, 1, kGo);
      }
}

bool lower_pool(Lowering& L, const Node& n, const OpInfo&) {
  pool(L, n);
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_pool_ops(OpRegistry& r) {
  r.add("MaxPool", lowering::lower_pool, kImage);
  r.add("AveragePool", lowering::lower_pool, kFloatOnly | kImage);
  r.add("GlobalAveragePool", lowering::lower_pool, kFloatOnly | kImage);
}

}  // namespace npusim::compiler
