// Resize (opsets 11 to 17) on images: nearest, with every coordinate_transformation_mode but
// tf_crop_and_resize and every nearest_mode, as DMA gathers (`load`s whose descriptors repeat a
// pixel with a zero stride and step over the source row, `store`s of whole output rows); linear
// and cubic (separable over H and W) as two passes of VPU weighted sums: rows, then columns. Scales or sizes
// must be constants and leave N and C unchanged. The coordinate mapping follows the ONNX
// reference (onnx/backend/test/case/node/resize.py): per axis, x_original from the output
// coordinate, then for nearest the rounded index and for linear the two neighbours
// floor(x_original) and the next one with weights 1 - r and r, indices clamped to the input.
#include <algorithm>
#include <array>
#include <cmath>

#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

/// One axis of a resize: for every output coordinate, its source index (nearest) or its two
/// neighbours and the second one's weight (linear).
struct AxisMap {
  std::vector<int64_t> i0, i1;  ///< source indices (i1 = i0 for nearest)
  std::vector<double> r;        ///< weight of i1 (1 - r for i0); 0 for nearest
  bool identity() const {
    for (size_t o = 0; o < i0.size(); ++o)
      if (i0[o] != static_cast<int64_t>(o) || (r[o] != 0 && i1[o] != i0[o])) return false;
    return true;
  }
};

/// The mapping of an axis of `in` elements to `out` with scale `scale` (out / in when sizes were
/// given), as the ONNX reference computes it (in binary64).
AxisMap axis_map(const Node& n, int64_t in, int64_t out, double scale, bool linear, const std::string& ctm,
                 const std::string& nearest_mode) {
  AxisMap m;
  const double out_width = scale * static_cast<double>(in);  // the reference's output_width (not floored)
  for (int64_t x = 0; x < out; ++x) {
    const auto xd = static_cast<double>(x);
    double xo;
    if (ctm == "half_pixel") {
      xo = (xd + 0.5) / scale - 0.5;
    } else if (ctm == "pytorch_half_pixel") {
      xo = out_width == 1 ? -0.5 : (xd + 0.5) / scale - 0.5;
    } else if (ctm == "align_corners") {
      xo = out_width == 1 ? 0.0 : xd * static_cast<double>(in - 1) / (out_width - 1);
    } else if (ctm == "asymmetric") {
      xo = xd / scale;
    } else if (ctm == "tf_half_pixel_for_nn") {
      xo = (xd + 0.5) / scale;
    } else {
      throw CompileError(where(n) + ": coordinate_transformation_mode '" + ctm +
                         "' is not supported (half_pixel, pytorch_half_pixel, align_corners, asymmetric, "
                         "tf_half_pixel_for_nn)");
    }
    const double fl = std::floor(xo);
    const double ratio = xo == fl ? 1.0 : xo - fl;  // the reference's ratio is in (0, 1]
    // Neighbours floor(xo) and floor(xo) + 1, or xo - 1 and xo when xo is an integer (ratio 1).
    int64_t lo = static_cast<int64_t>(fl), hi = lo + 1;
    if (xo == fl) lo -= 1, hi -= 1;
    const auto clampi = [in](int64_t i) { return std::min<int64_t>(std::max<int64_t>(i, 0), in - 1); };
    if (linear) {
      m.i0.push_back(clampi(lo));
      m.i1.push_back(clampi(hi));
      m.r.push_back(ratio == 1.0 ? 0.0 : ratio);
      if (ratio == 1.0) m.i0.back() = clampi(hi);  // an integer coordinate: that sample alone
      continue;
    }
    bool take_hi;
    if (ratio == 1.0)
      take_hi = true;
    else if (nearest_mode == "round_prefer_floor")
      take_hi = ratio > 0.5;
    else if (nearest_mode == "round_prefer_ceil")
      take_hi = ratio >= 0.5;
    else if (nearest_mode == "floor")
      take_hi = false;
    else if (nearest_mode == "ceil")
      take_hi = true;
    else
      throw CompileError(where(n) + ": nearest_mode '" + nearest_mode +
                         "' is not supported (round_prefer_floor, round_prefer_ceil, floor, ceil)");
    m.i0.push_back(clampi(take_hi ? hi : lo));
    m.i1.push_back(m.i0.back());
    m.r.push_back(0.0);
  }
  return m;
}

/// A run of output pixels gathered by one descriptor walk: `count` groups of `rep` copies of
/// source pixels ix0, ix0 + step, ...
struct Segment {
  int64_t ox0, ix0, rep, count, step;
};

/// The segments of a source-index sequence (consecutive equal indices are one group; groups of
/// equal length with a constant step are one segment). An integer upscale is one segment.
std::vector<Segment> segments(const std::vector<int64_t>& idx) {
  struct Run {
    int64_t ox0, ix, len;
  };
  std::vector<Run> runs;
  for (size_t o = 0; o < idx.size(); ++o)
    if (!runs.empty() && runs.back().ix == idx[o])
      ++runs.back().len;
    else
      runs.push_back({static_cast<int64_t>(o), idx[o], 1});
  std::vector<Segment> segs;
  for (const Run& r : runs) {
    if (!segs.empty()) {
      Segment& s = segs.back();
      const int64_t last_ix = s.ix0 + (s.count - 1) * s.step;
      if (s.rep == r.len && (s.count == 1 || r.ix - last_ix == s.step)) {
        if (s.count == 1) s.step = r.ix - s.ix0;
        ++s.count;
        continue;
      }
    }
    segs.push_back({r.ox0, r.ix, r.len, 1, 0});
  }
  return segs;
}

/// One axis of a cubic resize: for every output coordinate, four source indices (clamped: the
/// reference pads the edge) and their weights (the reference's cubic_coeffs with coefficient A;
/// exclude_outside zeroes the taps outside the input and renormalises).
struct CubicMap {
  std::vector<std::array<int64_t, 4>> idx;  ///< source indices per output coordinate
  std::vector<std::array<double, 4>> w;     ///< their weights
};

CubicMap cubic_map(const Node& n, int64_t in, int64_t out, double scale, const std::string& ctm, double A,
                   bool exclude_outside) {
  CubicMap m;
  const double out_width = scale * static_cast<double>(in);
  for (int64_t x = 0; x < out; ++x) {
    const auto xd = static_cast<double>(x);
    double xo;
    if (ctm == "half_pixel")
      xo = (xd + 0.5) / scale - 0.5;
    else if (ctm == "pytorch_half_pixel")
      xo = out_width == 1 ? -0.5 : (xd + 0.5) / scale - 0.5;
    else if (ctm == "align_corners")
      xo = out_width == 1 ? 0.0 : xd * static_cast<double>(in - 1) / (out_width - 1);
    else if (ctm == "asymmetric")
      xo = xd / scale;
    else if (ctm == "tf_half_pixel_for_nn")
      xo = (xd + 0.5) / scale;
    else
      throw CompileError(where(n) + ": coordinate_transformation_mode '" + ctm + "' is not supported for cubic");
    const double fl = std::floor(xo);
    const bool whole = xo == fl;
    const double r = whole ? 1.0 : xo - fl;
    const int64_t base = static_cast<int64_t>(fl) - (whole ? 1 : 0);  // taps base - 1 .. base + 2
    // cubic_coeffs(r, A) of the ONNX reference, term by term.
    const double r1 = r + 1, s = 1 - r, s1 = s + 1;
    std::array<double, 4> w{((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A, ((A + 2) * r - (A + 3)) * r * r + 1,
                            ((A + 2) * s - (A + 3)) * s * s + 1, ((A * s1 - 5 * A) * s1 + 8 * A) * s1 - 4 * A};
    std::array<int64_t, 4> idx{};
    double sum = 0;
    for (int k = 0; k < 4; ++k) {
      const int64_t i = base - 1 + k;
      if (exclude_outside && (i < 0 || i >= in)) w[static_cast<size_t>(k)] = 0;
      sum += w[static_cast<size_t>(k)];
      idx[static_cast<size_t>(k)] = std::min<int64_t>(std::max<int64_t>(i, 0), in - 1);
    }
    if (exclude_outside)
      for (double& v : w) v /= sum;
    m.idx.push_back(idx);
    m.w.push_back(w);
  }
  return m;
}

/// The resize's shapes and per-axis mappings (H and W), checked.
struct ResizePlan {
  int64_t N, C, H, W, OH, OW;  ///< input and output sizes
  AxisMap ys, xs;              ///< the row and column mappings (nearest, linear)
  bool linear;                 ///< linear (else nearest or cubic)
  bool cubic = false;          ///< cubic: the mappings below
  CubicMap cys, cxs;           ///< cubic row and column mappings
};

ResizePlan plan(Lowering& L, const Node& n) {
  if (L.g_.opset < 11)
    throw CompileError(where(n) + ": Resize of opset " + std::to_string(L.g_.opset) +
                       " is not supported (opsets 11 to 17: roi, scales, sizes inputs)");
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  if (x.shape.size() != 4 || !L.is_spatial(x) || !L.is_spatial(y))
    throw CompileError(where(n) + ": Resize takes an image [N, C, H, W]; got " + shape_text(x.shape));
  const std::string mode = n.attr_s("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    throw CompileError(where(n) + ": mode '" + mode + "' is not supported (nearest, linear, cubic)");
  const std::string ctm = n.attr_s("coordinate_transformation_mode", "half_pixel");
  const std::string nearest_mode = n.attr_s("nearest_mode", "round_prefer_floor");
  if (ctm == "tf_crop_and_resize")
    throw CompileError(where(n) + ": coordinate_transformation_mode 'tf_crop_and_resize' is not supported");
  if (n.attr_i("exclude_outside", 0) != 0 && mode == "linear")
    throw CompileError(where(n) + ": exclude_outside = 1 is not supported with linear");
  std::vector<double> scales;
  const auto input_const = [&](size_t i) -> const Tensor* {
    if (i >= n.inputs.size() || n.inputs[i].empty()) return nullptr;
    const Tensor& t = L.g_.tensor(n.inputs[i]);
    if (t.elements() == 0) return nullptr;
    if (!t.is_const)
      throw CompileError(where(n) + ": input " + std::to_string(i) + " ('" + t.name + "') must be a constant");
    return &t;
  };
  if (const Tensor* s = input_const(3)) {  // sizes: scale = out / in
    if (s->values.size() != 4) throw CompileError(where(n) + ": sizes must have 4 values");
    for (size_t d = 0; d < 4; ++d) scales.push_back(s->values[d] / static_cast<double>(x.shape[d]));
  } else if (const Tensor* sc = input_const(2)) {
    if (sc->values.size() != 4) throw CompileError(where(n) + ": scales must have 4 values");
    for (double v : sc->values) scales.push_back(static_cast<double>(static_cast<float>(v)));
  } else {
    throw CompileError(where(n) + ": needs constant scales or sizes");
  }
  if (y.shape[0] != x.shape[0] || y.shape[1] != x.shape[1])
    throw CompileError(where(n) + ": resizing N or C is not supported (" + shape_text(x.shape) + " to " +
                       shape_text(y.shape) + ")");
  ResizePlan p{x.shape[0], x.shape[1], x.shape[2],       x.shape[3], y.shape[2], y.shape[3],
               {},         {},         mode == "linear", false,      {},         {}};
  if (mode == "cubic") {
    p.cubic = true;
    const double A = n.attr_f("cubic_coeff_a", -0.75f);
    const bool excl = n.attr_i("exclude_outside", 0) != 0;
    p.cys = cubic_map(n, p.H, p.OH, scales[2], ctm, A, excl);
    p.cxs = cubic_map(n, p.W, p.OW, scales[3], ctm, A, excl);
    return p;
  }
  p.ys = axis_map(n, p.H, p.OH, scales[2], p.linear, ctm, nearest_mode);
  p.xs = axis_map(n, p.W, p.OW, scales[3], p.linear, ctm, nearest_mode);
  return p;
}

/// out[n, oy, :, :] = in[n, ys(oy), xs(:), :] (NHWC, C elements a pixel) for every image and output row:
/// rows with the same source row go in one walk (a zero stride repeats it), each column segment
/// is one `load` (pixels repeated with a zero stride, stepped by `step` pixels) and one `store`,
/// in chunks that fit the scratchpad.
void gather(Lowering& L, const Node& n, const Location& src, const Location& dst, int64_t N, int64_t C, int64_t H,
            int64_t W, int64_t OH, int64_t OW, const std::vector<int64_t>& ys, const std::vector<int64_t>& xs) {
  const unsigned es = bytes_of(src.type);
  const uint64_t row_l = L.lines(1, static_cast<uint64_t>(C), es);
  const int64_t max_rows = static_cast<int64_t>(L.t_.spad_bytes / L.t_.line_bytes / row_l);
  if (C > 4095 || max_rows < 1)
    throw CompileError(where(n) + ": " + std::to_string(C) + " channels do not fit a scratchpad row");
  const std::vector<Segment> segs = segments(xs);
  for (int64_t b = 0; b < N; ++b)
    for (int64_t oy0 = 0; oy0 < OH;) {
      int64_t vrep = 1;  // output rows from the same source row
      while (oy0 + vrep < OH && ys[static_cast<size_t>(oy0 + vrep)] == ys[static_cast<size_t>(oy0)]) ++vrep;
      const int64_t iy = ys[static_cast<size_t>(oy0)];
      for (const Segment& s : segs) {
        if (s.rep > max_rows)
          throw CompileError(where(n) + ": an upscale factor of " + std::to_string(s.rep) +
                             " does not fit the scratchpad");
        const int64_t per_chunk = std::min<int64_t>(s.count, max_rows / s.rep);
        for (int64_t c0 = 0; c0 < s.count; c0 += per_chunk) {
          const int64_t cc = std::min(per_chunk, s.count - c0), pixels = s.rep * cc;
          const int64_t rows_per = std::max<int64_t>(1, max_rows / pixels);
          for (int64_t v0 = 0; v0 < vrep; v0 += rows_per) {
            const int64_t vv = std::min(rows_per, vrep - v0);
            Instruction ld = make(Opcode::Load);
            ld.set(f::load::dst, 0);
            ld.set(f::load::desc, L.desc_nd(src.region, src.type, src.offset,
                                            {static_cast<uint32_t>(C), static_cast<uint32_t>(s.rep),
                                             static_cast<uint32_t>(cc), static_cast<uint32_t>(vv)},
                                            {0, s.step * C, 0}));
            ld.set(f::load::off, static_cast<uint32_t>(((b * H + iy) * W + s.ix0 + c0 * s.step) * C));
            L.emit(ld, kGo, 1, kV2S);
            Instruction st = make(Opcode::Store);
            st.set(f::store::src, 0);
            st.set(f::store::desc,
                   L.desc_nd(dst.region, dst.type, dst.offset,
                             {static_cast<uint32_t>(C), static_cast<uint32_t>(pixels), static_cast<uint32_t>(vv)},
                             {C, OW * C}));
            st.set(f::store::off, static_cast<uint32_t>(((b * OH + oy0 + v0) * OW + s.ox0 + c0 * s.rep) * C));
            L.emit(st, kV2S, 1, kGo);
          }
        }
      }
      oy0 += vrep;
    }
}

/// A binary VPU instruction (add, sub, mul: the binary format, add's field layout).
Instruction vbin(Opcode op, uint32_t dtype, uint32_t dst, bool dst_acc, uint32_t a, bool a_acc, uint32_t b, bool b_acc,
                 bool bcast, uint32_t rows, uint32_t cols) {
  return vpu_binary(op, dtype, {dst, dst_acc}, {a, a_acc}, {b, b_acc}, bcast, rows, cols);
}

/// out = a + w · (b - a) over rows x C tiles: the difference and product in fp32 in the
/// accumulator, one rounding at the end (`w` a broadcast row or a full tile of weights).
std::vector<Instruction> lerp(uint32_t dt, uint32_t dst, uint32_t a, uint32_t b, uint32_t w, bool w_row, uint32_t rows,
                              uint32_t cols) {
  return {vbin(Opcode::Sub, dt, 0, true, b, false, a, false, false, rows, cols),
          vbin(Opcode::Mul, dt, 0, true, 0, true, w, false, w_row, rows, cols),
          vbin(Opcode::Add, dt, dst, false, 0, true, a, false, false, rows, cols)};
}

/// Location of `rows` rows of C elements starting at pixel `pixel` of an NHWC tensor at `l`.
Location rows_at(const Location& l, int64_t pixel, int64_t rows, int64_t C) {
  Location r = l;
  r.offset += static_cast<uint64_t>(pixel * C) * bytes_of(l.type);
  r.rows = rows;
  r.cols = C;
  return r;
}

/// Linear: rows first (V[n, oy] = X[n, y0] + wy · (X[n, y1] - X[n, y0]), a broadcast row of wy),
/// then columns from the row-resized image: the two neighbour columns gathered by DMA, and
/// out = G0 + wx · (G1 - G0) with a constant tile of the column weights (OW x C). An axis the
/// mapping leaves unchanged is skipped.
void linear(Lowering& L, const Node& n, const ResizePlan& p, const Location& in, const Location& out) {
  const int64_t C = p.C;
  if (!is_float_type(in.type)) throw CompileError(where(n) + ": linear Resize takes float images");
  const uint32_t dt = L.code(in.type, n);
  const bool rows_same = p.OH == p.H && p.ys.identity(), cols_same = p.OW == p.W && p.xs.identity();
  RowsWalk acc_walk;
  acc_walk.uses_acc = true;
  Location v = in;  // the row-resized image [N, OH, W, C]
  if (!rows_same) {
    v = cols_same ? out : L.scratch(in.type, p.N * p.OH * p.W * C);
    for (int64_t b = 0; b < p.N; ++b)
      for (int64_t oy = 0; oy < p.OH; ++oy) {
        const auto o = static_cast<size_t>(oy);
        const Location a = rows_at(in, (b * p.H + p.ys.i0[o]) * p.W, p.W, C);
        const Location vo = rows_at(v, (b * p.OH + oy) * p.W, p.W, C);
        if (p.ys.r[o] == 0) {  // one sample row: a copy
          L.rows_op(n, {a}, {false}, vo,
                    [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
                      Instruction c = make(Opcode::Copy);
                      c.set(f::copy::dst, dst);
                      c.set(f::copy::src, src[0]);
                      c.set(f::copy::rows, rows);
                      c.set(f::copy::cols, cols);
                      c.set(f::copy::dtype, dt);
                      return c;
                    });
          continue;
        }
        const Location bb = rows_at(in, (b * p.H + p.ys.i1[o]) * p.W, p.W, C);
        const Location w{L.weights_region_, L.put_device(std::vector<double>(static_cast<size_t>(C), p.ys.r[o])), 1, C,
                         L.dev_};
        L.rows_op(
            n, {a, bb, w}, {false, false, true}, vo,
            [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
              return lerp(dt, dst, src[0], src[1], src[2], true, rows, cols);
            },
            acc_walk);
      }
  }
  if (cols_same) {
    if (rows_same) gather(L, n, in, out, p.N, C, p.H, p.W, p.OH, p.OW, p.ys.i0, p.xs.i0);
    return;
  }
  std::vector<int64_t> rows_id(static_cast<size_t>(p.OH));
  for (int64_t i = 0; i < p.OH; ++i) rows_id[static_cast<size_t>(i)] = i;
  const Location g0 = L.scratch(in.type, p.N * p.OH * p.OW * C), g1 = L.scratch(in.type, p.N * p.OH * p.OW * C);
  gather(L, n, v, g0, p.N, C, p.OH, p.W, p.OH, p.OW, rows_id, p.xs.i0);
  gather(L, n, v, g1, p.N, C, p.OH, p.W, p.OH, p.OW, rows_id, p.xs.i1);
  std::vector<double> wx;
  for (int64_t ox = 0; ox < p.OW; ++ox) wx.insert(wx.end(), static_cast<size_t>(C), p.xs.r[static_cast<size_t>(ox)]);
  const Location w{L.weights_region_, L.put_device(wx), p.OW, C, L.dev_};
  for (int64_t row = 0; row < p.N * p.OH; ++row)
    L.rows_op(
        n, {rows_at(g0, row * p.OW, p.OW, C), rows_at(g1, row * p.OW, p.OW, C), w}, {false, false, false},
        rows_at(out, row * p.OW, p.OW, C),
        [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
          return lerp(dt, dst, src[0], src[1], src[2], false, rows, cols);
        },
        acc_walk);
}

/// out = sum_k w_k · t_k over rows x C tiles (taps in `src`, weights at `w`: broadcast rows or
/// full tiles): the first product in the accumulator (fp32), each further one rounded to the
/// device type in dst and added there, the sum rounded once at the end.
std::vector<Instruction> weighted_sum(uint32_t dt, uint32_t dst, const std::vector<uint32_t>& t,
                                      const std::vector<uint32_t>& w, bool w_row, uint32_t rows, uint32_t cols) {
  std::vector<Instruction> v{vbin(Opcode::Mul, dt, 0, true, t[0], false, w[0], false, w_row, rows, cols)};
  for (size_t k = 1; k < t.size(); ++k) {
    v.push_back(vbin(Opcode::Mul, dt, dst, false, t[k], false, w[k], false, w_row, rows, cols));
    v.push_back(vbin(Opcode::Add, dt, 0, true, 0, true, dst, false, false, rows, cols));
  }
  Instruction c = make(Opcode::Copy);  // acc (fp32) -> dst, rounding to nearest even
  c.set(f::copy::dst, dst);
  c.set(f::copy::src, 0);
  c.set(f::copy::src_acc, 1);
  c.set(f::copy::rows, rows);
  c.set(f::copy::cols, cols);
  c.set(f::copy::dtype, dt);
  v.push_back(c);
  return v;
}

/// Cubic: as linear, two separable passes, each a weighted sum of the four taps: rows (V[n, oy]
/// from four source rows with broadcast rows of their weights; taps of weight 0 are left out),
/// then columns (four DMA-gathered column images and constant tiles of their weights).
void cubic(Lowering& L, const Node& n, const ResizePlan& p, const Location& in, const Location& out) {
  const int64_t C = p.C;
  if (!is_float_type(in.type)) throw CompileError(where(n) + ": cubic Resize takes float images");
  const uint32_t dt = L.code(in.type, n);
  RowsWalk acc_walk;
  acc_walk.uses_acc = true;
  const Location v = L.scratch(in.type, p.N * p.OH * p.W * C);  // the row-resized image
  for (int64_t b = 0; b < p.N; ++b)
    for (int64_t oy = 0; oy < p.OH; ++oy) {
      const auto o = static_cast<size_t>(oy);
      std::vector<Location> ins, rows;
      std::vector<Location> ws;
      for (size_t k = 0; k < 4; ++k) {
        if (p.cys.w[o][k] == 0) continue;
        rows.push_back(rows_at(in, (b * p.H + p.cys.idx[o][k]) * p.W, p.W, C));
        ws.push_back({L.weights_region_, L.put_device(std::vector<double>(static_cast<size_t>(C), p.cys.w[o][k])), 1, C,
                      L.dev_});
      }
      ins = rows;
      ins.insert(ins.end(), ws.begin(), ws.end());
      std::vector<bool> bc(rows.size(), false);
      bc.resize(ins.size(), true);
      const size_t taps = rows.size();
      L.rows_op(
          n, ins, bc, rows_at(v, (b * p.OH + oy) * p.W, p.W, C),
          [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rr, uint32_t cols) {
            return weighted_sum(dt, dst, {src.begin(), src.begin() + static_cast<long>(taps)},
                                {src.begin() + static_cast<long>(taps), src.end()}, true, rr, cols);
          },
          acc_walk);
    }
  std::vector<int64_t> rows_id(static_cast<size_t>(p.OH));
  for (int64_t i = 0; i < p.OH; ++i) rows_id[static_cast<size_t>(i)] = i;
  std::vector<Location> g, w;
  for (size_t k = 0; k < 4; ++k) {
    std::vector<int64_t> cols_k;
    std::vector<double> wk;
    for (int64_t ox = 0; ox < p.OW; ++ox) {
      cols_k.push_back(p.cxs.idx[static_cast<size_t>(ox)][k]);
      wk.insert(wk.end(), static_cast<size_t>(C), p.cxs.w[static_cast<size_t>(ox)][k]);
    }
    g.push_back(L.scratch(in.type, p.N * p.OH * p.OW * C));
    gather(L, n, v, g.back(), p.N, C, p.OH, p.W, p.OH, p.OW, rows_id, cols_k);
    w.push_back({L.weights_region_, L.put_device(wk), p.OW, C, L.dev_});
  }
  for (int64_t row = 0; row < p.N * p.OH; ++row) {
    std::vector<Location> ins;
    for (const Location& gk : g) ins.push_back(rows_at(gk, row * p.OW, p.OW, C));
    ins.insert(ins.end(), w.begin(), w.end());
    L.rows_op(
        n, ins, std::vector<bool>(ins.size(), false), rows_at(out, row * p.OW, p.OW, C),
        [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rr, uint32_t cols) {
          return weighted_sum(dt, dst, {src.begin(), src.begin() + 4}, {src.begin() + 4, src.end()}, false, rr, cols);
        },
        acc_walk);
  }
}

bool lower_resize(Lowering& L, const Node& n, const OpInfo&) {
  const ResizePlan p = plan(L, n);
  const Location in = L.input(n, 0), out = L.output(n);
  if (p.cubic)
    cubic(L, n, p, in, out);
  else if (p.linear)
    linear(L, n, p, in, out);
  else
    gather(L, n, in, out, p.N, p.C, p.H, p.W, p.OH, p.OW, p.ys.i0, p.xs.i0);
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_resize_ops(OpRegistry& r) {
  r.add("Resize", lowering::lower_resize, kImage);
}

}  // namespace npusim::compiler
