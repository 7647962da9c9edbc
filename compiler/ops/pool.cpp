// Pooling: MaxPool, AveragePool, GlobalMaxPool and GlobalAveragePool with the ISA's pool
// instruction: 2-D on NHWC images, 1-D and 3-D as per-axis passes over row-major views.
#include <numeric>

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
  return L.add_param(p, "pool");
}

/// Element strides of a pool_image view with W = OW = 1 (one residue class of a dilated pass):
/// between rows and batches of the input and of the output, and where each starts.
struct RowStrides {
  int64_t in_row = 0, in_batch = 0, in_off = 0, out_row = 0, out_batch = 0, out_off = 0;
};

/// One pooling pass over an NHWC image [N, H, W, C] at `lx` into [N, OH, OW, C] at `ly` (row-major
/// tensors are pooled through such views, see pool_rows): bands of output rows (with their input
/// halo) and channel tiles that fit the scratchpad, one load, pool and store each.
void pool_image(Lowering& L, const Node& n, const Location& lx, const Location& ly, int64_t N, int64_t C, int64_t H,
                int64_t W, int64_t OH, int64_t OW, const Window& win, bool avg, bool count_pad,
                const RowStrides* rs = nullptr) {
  if (win.kh > 255 || win.kw > 255 || win.sh > 255 || win.sw > 255 || W > 65535)
    throw CompileError(where(n) + ": window, stride or image too large for the pool parameters");
  if (win.pt >= win.kh || win.pb >= win.kh || win.pl >= win.kw || win.pr >= win.kw)
    throw CompileError(where(n) + ": padding as large as the window is not supported");
  if (H + win.pt + win.pb < win.kh || W + win.pl + win.pr < win.kw)
    throw CompileError(where(n) + ": the window is larger than the padded input");
  if ((win.pt + win.pb + H - win.kh) / win.sh + 1 != OH || (win.pl + win.pr + W - win.kw) / win.sw + 1 != OW)
    throw CompileError(where(n) + ": the output size does not follow from the window");
  const unsigned es = bytes_of(lx.type);
  int64_t tc = std::min<int64_t>(C, 4095), th = OH;
  auto in_rows = [&](int64_t rows) { return std::min<int64_t>(H, (rows - 1) * win.sh + win.kh); };
  auto fits = [&] {
    return in_rows(th) <= 65535 &&  // the pool parameters' in_h
           uint64_t{L.lines(in_rows(th) * W, tc, es) + L.lines(th * OW, tc, es)} * L.t_.line_bytes <= L.t_.spad_bytes;
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
        const int64_t in_row = rs ? rs->in_row : W * C;
        l.set(f::load::desc, L.desc_nd(lx.region, lx.type, lx.offset,
                                       {cc, static_cast<uint32_t>(W), static_cast<uint32_t>(ih)}, {C, in_row}));
        l.set(f::load::off, static_cast<uint32_t>(rs ? b * rs->in_batch + y0 * rs->in_row + rs->in_off + c0
                                                     : (b * H + y0) * W * C + c0));
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
        st.set(f::store::desc,
               L.desc(ly.region, ly.type, ly.offset, cc, static_cast<uint32_t>(rows * OW), rs ? rs->out_row : C));
        st.set(f::store::off, static_cast<uint32_t>(rs ? b * rs->out_batch + oh0 * rs->out_row + rs->out_off + c0
                                                       : ((b * OH + oh0) * OW) * C + c0));
        L.emit(st, kV2S, 1, kGo);
      }
}

/// One spatial axis of an N-D pool: kernel, stride, pads (ceil_mode's overhang included).
struct AxisWindow {
  int64_t k = 1, s = 1, d = 1, begin = 0, end = 0;
};

/// The per-axis windows of a pool over X's spatial axes 2.. with output Y (kernel_shape, strides,
/// pads, auto_pad, dilations, ceil_mode), or the whole axes for the global pools.
std::vector<AxisWindow> axis_windows(const Node& n, const Tensor& x, const Tensor& y, bool global) {
  const size_t r = x.shape.size() - 2;
  std::vector<AxisWindow> w(r);
  if (global) {
    for (size_t a = 0; a < r; ++a) w[a].k = x.shape[2 + a];
    return w;
  }
  auto ints = [&](const char* k) {
    auto it = n.attrs.find(k);
    return it == n.attrs.end() ? std::vector<int64_t>{} : it->second.ints;
  };
  const auto ks = ints("kernel_shape"), st = ints("strides"), pads = ints("pads"), dil = ints("dilations");
  if (ks.size() != r)
    throw CompileError(where(n) + ": kernel_shape must have " + std::to_string(r) + " values, got " + shape_text(ks));
  if (!dil.empty() && dil.size() != r)
    throw CompileError(where(n) + ": dilations must have " + std::to_string(r) + " values");
  const auto it = n.attrs.find("auto_pad");
  const std::string ap = it == n.attrs.end() ? "NOTSET" : it->second.s;
  if (ap != "NOTSET" && ap != "VALID" && ap != "SAME_UPPER" && ap != "SAME_LOWER")
    throw CompileError(where(n) + ": auto_pad '" + ap + "' is not supported");
  for (size_t a = 0; a < r; ++a) {
    const int64_t D = x.shape[2 + a], O = y.shape[2 + a];
    AxisWindow& aw = w[a];
    aw.k = ks[a];
    if (st.size() == r) aw.s = st[a];
    if (dil.size() == r) aw.d = dil[a];
    if (aw.s < 1 || aw.d < 1) throw CompileError(where(n) + ": strides and dilations must be positive");
    const int64_t extent = (aw.k - 1) * aw.d + 1;  // the dilated window
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      const int64_t total = std::max<int64_t>((O - 1) * aw.s + extent - D, 0);
      aw.begin = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      aw.end = total - aw.begin;
    } else if (ap == "NOTSET" && pads.size() == 2 * r) {
      aw.begin = pads[a], aw.end = pads[r + a];
      if (aw.begin < 0 || aw.end < 0)
        throw CompileError(where(n) + ": pads must not be negative, got " + shape_text(pads));
    }
    if (n.attr_i("ceil_mode", 0))  // the last window's overhang past the padded input: more end padding
      aw.end += std::max<int64_t>(0, (O - 1) * aw.s + extent - (D + aw.begin + aw.end));
  }
  return w;
}

/// One axis of a separable pool: [outer, D, inner] (row-major) at `in` to [outer, O, inner] at
/// `out`. Undilated, a (k x 1) window over the view [outer, D, 1, inner] (or, for inner = 1, a
/// (1 x k) window over [1, outer, D, 1]). Dilated by d, output o reads rows o s - begin + i d,
/// which all have one residue modulo d: outputs o_r, o_r + T, ... (T = d / gcd(s, d)) are an
/// undilated pool with stride s / gcd(s, d) over the rows of that residue, loaded and stored with
/// row strides d and T (RowStrides).
void pool_axis(Lowering& L, const Node& n, const Location& in, const Location& out, int64_t outer, int64_t D,
               int64_t inner, int64_t O, const AxisWindow& aw, bool avg, bool count_pad) {
  Window win;
  if (aw.d == 1 && inner == 1) {  // [1, outer, D, 1]: the window runs along the row
    win.kw = aw.k, win.sw = aw.s, win.pl = aw.begin, win.pr = aw.end;
    pool_image(L, n, in, out, 1, 1, outer, D, outer, O, win, avg, count_pad);
    return;
  }
  win.kh = aw.k;
  if (aw.d == 1) {  // [outer, D, 1, inner]: inner elements as channels
    win.sh = aw.s, win.pt = aw.begin, win.pb = aw.end;
    pool_image(L, n, in, out, outer, inner, D, 1, O, 1, win, avg, count_pad);
    return;
  }
  const int64_t g = std::gcd(aw.s, aw.d), T = aw.d / g;
  win.sh = aw.s / g;
  for (int64_t o_r = 0; o_r < std::min(T, O); ++o_r) {
    const int64_t first = o_r * aw.s - aw.begin;  // input row of output o_r's first tap
    const int64_t r = first - floor_div(first, aw.d) * aw.d, j0 = floor_div(first, aw.d);
    const int64_t Or = (O - o_r + T - 1) / T;  // outputs o_r, o_r + T, ...
    // Rows r, r + d, ... of the input, from the first any window reads: j0 (before it, padding).
    const int64_t skip = std::max<int64_t>(0, j0), pt = std::max<int64_t>(0, -j0);
    const int64_t avail = (D - r + aw.d - 1) / aw.d - skip;  // rows of that residue from there
    const int64_t need = (Or - 1) * win.sh + aw.k - pt;      // rows the windows span past the padding
    const int64_t Dr = std::min(avail, need);
    if (Dr < 1) throw CompileError(where(n) + ": a dilated window sees only padding");
    win.pt = pt, win.pb = need - Dr;
    const RowStrides rs{aw.d * inner, D * inner, (r + skip * aw.d) * inner, T * inner, O * inner, o_r * inner};
    pool_image(L, n, in, out, outer, inner, Dr, 1, Or, 1, win, avg, count_pad, &rs);
  }
}

/// A separable pool over the axes `axes` of a row-major `shape` (1-D and 3-D pooling on [N, C, D1,
/// ..], dilated 2-D pooling on NHWC [N, H, W, C]) into `out_shape`: one pool_axis pass per axis.
/// Max and sum are separable, and so is the average: a box's valid (or, with count_include_pad,
/// padded) element count is the product of its per-axis counts.
void pool_axes(Lowering& L, const Node& n, Location cur, const Location& ly, std::vector<int64_t> shape,
               const std::vector<size_t>& axes, const std::vector<AxisWindow>& w, const std::vector<int64_t>& out_shape,
               bool avg, bool count_pad) {
  for (size_t a = 0; a < axes.size(); ++a) {
    const size_t axis = axes[a];
    const int64_t D = shape[axis], O = out_shape[axis];
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < axis; ++i) outer *= shape[i];
    for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
    shape[axis] = O;
    const Location out = a + 1 == axes.size() ? ly : L.scratch(cur.type, outer * O * inner);
    pool_axis(L, n, cur, out, outer, D, inner, O, w[a], avg, count_pad);
    cur = out;
  }
}

/// MaxPool, AveragePool, GlobalMaxPool and GlobalAveragePool with the ISA's pool instruction:
/// 2-D on NHWC images, a whole image per channel tile; 1-D, 3-D and dilated pools as separable
/// per-axis passes (pool_axes).
void pool(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  if (n.outputs.size() > 1 && !n.outputs[1].empty())
    throw CompileError(where(n) + ": the Indices output is not supported");
  const bool global = n.op == "GlobalAveragePool" || n.op == "GlobalMaxPool";
  const bool avg = n.op == "AveragePool" || n.op == "GlobalAveragePool";
  const bool count_pad = avg && n.attr_i("count_include_pad", 0) != 0;
  if (count_pad && n.attr_i("ceil_mode", 0))
    // ceil_mode's overhang is padding left out of an average; counting padding in is not.
    throw CompileError(where(n) + ": ceil_mode=1 with count_include_pad=1 is not supported");
  if (avg && !is_float_type(L.type_of(x, "input")))
    throw CompileError(where(n) + ": average pooling needs a float input");
  if (x.shape.size() != 4) {
    if (x.shape.size() < 3 || x.shape.size() != y.shape.size())
      throw CompileError(where(n) + ": X must be [N, C, D1, ...] with Y of the same rank");
    std::vector<size_t> axes;
    for (size_t a = 2; a < x.shape.size(); ++a) axes.push_back(a);
    pool_axes(L, n, L.input(n, 0), L.output(n), x.shape, axes, axis_windows(n, x, y, global), y.shape, avg, count_pad);
    return;
  }
  if (!L.is_spatial(x) || !L.is_spatial(y)) throw CompileError(where(n) + ": only 2-D pooling (4-D X) is supported");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], OH = y.shape[2], OW = y.shape[3];
  Window win;
  if (global) {
    win.kh = H, win.kw = W;
  } else {
    auto it = n.attrs.find("kernel_shape");
    if (it == n.attrs.end() || it->second.ints.size() != 2)
      throw CompileError(where(n) + ": kernel_shape must have two values");
    win = window(n, H, W, OH, OW, it->second.ints[0], it->second.ints[1]);
    if (win.dh != 1 || win.dw != 1) {
      // Dilated: separable passes over H and W of the NHWC image, viewed row-major [N, H, W, C].
      const std::vector<AxisWindow> w = axis_windows(n, x, y, false);
      pool_axes(L, n, L.input(n, 0), L.output(n), {N, H, W, C}, {1, 2}, w, {N, OH, OW, C}, avg, count_pad);
      return;
    }
    if (n.attr_i("ceil_mode", 0)) {
      // ceil_mode: the last window may run past the padded input; the overhang is more padding
      // at the bottom and right (never part of a maximum; left out of an average).
      win.pb += std::max<int64_t>(0, (OH - 1) * win.sh + win.kh - (H + win.pt + win.pb));
      win.pr += std::max<int64_t>(0, (OW - 1) * win.sw + win.kw - (W + win.pl + win.pr));
    }
  }
  if (H > 65535) throw CompileError(where(n) + ": image too tall for the pool parameters");
  pool_image(L, n, L.input(n, 0), L.output(n), N, C, H, W, OH, OW, win, avg, count_pad);
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
  r.add("GlobalMaxPool", lowering::lower_pool, kImage);
}

}  // namespace npusim::compiler
