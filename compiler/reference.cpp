// The float reference, written from the ONNX operator definitions (not from the lowering), with
// straightforward loops: it runs once per calibration sample and per accuracy report.
#include "compiler/reference.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "compiler/compile.h"
#include "compiler/host_kernels.h"
#include "compiler/op_registry.h"

namespace npusim::compiler {
namespace {

std::string where(const Node& n) {
  return "node '" + n.name + "' (" + n.op + ")";
}

std::vector<int64_t> ints(const Node& n, const char* key, std::vector<int64_t> def) {
  auto it = n.attrs.find(key);
  return it == n.attrs.end() || it->second.ints.empty() ? def : it->second.ints;
}

/// Pads [top, left, bottom, right] of a 2-D window after auto_pad (ONNX Conv/pool semantics).
std::array<int64_t, 4> pads_2d(const Node& n, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t kh, int64_t kw,
                               int64_t sh, int64_t sw, int64_t dh, int64_t dw) {
  auto it = n.attrs.find("auto_pad");
  const std::string ap = it == n.attrs.end() ? "NOTSET" : it->second.s;
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    const int64_t th = std::max<int64_t>((OH - 1) * sh + (kh - 1) * dh + 1 - H, 0);
    const int64_t tw = std::max<int64_t>((OW - 1) * sw + (kw - 1) * dw + 1 - W, 0);
    const int64_t pt = ap == "SAME_UPPER" ? th / 2 : th - th / 2, pl = ap == "SAME_UPPER" ? tw / 2 : tw - tw / 2;
    return {pt, pl, th - pt, tw - pl};
  }
  if (ap == "VALID") return {0, 0, 0, 0};
  const auto p = ints(n, "pads", {0, 0, 0, 0});
  if (p.size() != 4) throw CompileError(where(n) + ": the reference handles 2-D windows only");
  return {p[0], p[1], p[2], p[3]};
}

/// y[i] = x[j] with, along each axis d, j_d = index(d, i_d) (rank of y; -1: `fill` instead), the
/// input row-major of shape xs: the index maps of Slice, Split, Pad, Expand and Tile.
template <typename Index>
std::vector<double> remap(const std::vector<double>& x, const std::vector<int64_t>& xs, const std::vector<int64_t>& ys,
                          Index index, double fill = 0) {
  int64_t total = 1;
  for (int64_t d : ys) total *= d;
  std::vector<double> y(static_cast<size_t>(total));
  const auto rank = static_cast<int64_t>(ys.size());
  for (int64_t i = 0; i < total; ++i) {
    int64_t rem = i, j = 0, stride = 1;
    bool inside = true;
    for (int64_t d = rank - 1; d >= 0; --d) {
      const int64_t id = index(d, rem % ys[d]);
      rem /= ys[d];
      inside = inside && id >= 0;
      j += id * stride;
      stride *= xs[d];
    }
    y[static_cast<size_t>(i)] = inside ? x[static_cast<size_t>(j)] : fill;
  }
  return y;
}

/// A constant integer operand as values (INT64_MAX, Slice's "to the end", is not exact in a double).
std::vector<int64_t> int_values(const std::vector<double>& v) {
  std::vector<int64_t> out;
  for (const double d : v) out.push_back(d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : static_cast<int64_t>(d));
  return out;
}

}  // namespace

bool has_reference(const std::string& op) {
  // The float operators the NPU lowers (not the quantized ones) and every host kernel.
  const OpInfo* npu = OpRegistry::get().find(op);
  return (npu && !npu->has(kQuantized)) || has_host_kernel(op);
}

TensorValues evaluate_reference(const Graph& g, const TensorValues& inputs) {
  TensorValues v = inputs;
  for (const auto& [name, t] : g.tensors)
    if (t.is_const) v[name] = t.values;
  auto in = [&](const Node& n, size_t i) -> const std::vector<double>& {
    auto it = v.find(n.inputs.at(i));
    if (it == v.end()) throw CompileError(where(n) + ": input '" + n.inputs[i] + "' has no value");
    return it->second;
  };
  auto shape = [&](const std::string& name) -> const std::vector<int64_t>& { return g.tensor(name).shape; };
  for (const Node& n : g.nodes) {
    const std::vector<int64_t>& ys = shape(n.outputs.at(0));
    int64_t total = 1;
    for (int64_t d : ys) total *= d;
    std::vector<double> y(static_cast<size_t>(total), 0.0);
    if (n.op == "Gemm" || n.op == "MatMul") {
      const auto &a = in(n, 0), &b = in(n, 1);
      const auto &as = shape(n.inputs[0]), &bs = shape(n.inputs[1]);
      const bool gemm = n.op == "Gemm", ta = gemm && n.attr_i("transA", 0), tb = gemm && n.attr_i("transB", 0);
      const double alpha = gemm ? n.attr_f("alpha", 1) : 1, beta = gemm ? n.attr_f("beta", 1) : 1;
      if (as.size() < 2 || bs.size() < 2 || ys.size() < 2)
        throw CompileError(where(n) + ": the reference handles matrices of rank >= 2");
      const int64_t M = ys[ys.size() - 2], N = ys.back(), K = ta ? as[as.size() - 2] : as.back();
      const int64_t batches = total / (M * N);
      // Batch dimensions broadcast NumPy-style: right-aligned to Y's, size 1 repeats (a rank-2
      // operand is one matrix for every batch).
      const size_t yb = ys.size() - 2;
      auto batch_of = [&](const std::vector<int64_t>& s, int64_t bi) {  // operand batch of output batch bi
        const size_t ob = s.size() - 2;
        int64_t idx = 0, stride = 1, rem = bi;
        for (size_t d = 0; d < yb; ++d) {  // Y's batch dimensions, innermost first
          const int64_t yi = rem % ys[yb - 1 - d];
          rem /= ys[yb - 1 - d];
          if (d >= ob) continue;  // a dimension the operand does not have
          const int64_t sdim = s[ob - 1 - d];
          idx += (sdim == 1 ? 0 : yi) * stride;
          stride *= sdim;
        }
        return idx;
      };
      for (int64_t bi = 0; bi < batches; ++bi) {
        const double* A = a.data() + batch_of(as, bi) * M * K;
        const double* B = b.data() + batch_of(bs, bi) * K * N;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k)
              s += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
            y[static_cast<size_t>((bi * M + i) * N + j)] = alpha * s;
          }
      }
      if (gemm && n.inputs.size() > 2 && !n.inputs[2].empty()) {
        // C broadcast to Y's shape.
        const auto c = broadcast_to(in(n, 2), shape(n.inputs[2]), ys);
        for (size_t i = 0; i < y.size(); ++i) y[i] += beta * c[i];
      }
    } else if (n.op == "Conv") {
      const auto &x = in(n, 0), &w = in(n, 1);
      const auto &xs4 = shape(n.inputs[0]), &ws4 = shape(n.inputs[1]);
      if (xs4.size() != 4 && xs4.size() != 3)
        throw CompileError(where(n) + ": the reference handles 1-D and 2-D convolution only");
      // A 1-D convolution is the 2-D one of height 1 (its attributes as those of the width).
      const bool one_d = xs4.size() == 3;
      Node n2 = n;
      if (one_d)
        for (const char* k : {"strides", "dilations", "pads"})
          if (auto it = n2.attrs.find(k); it != n2.attrs.end() && !it->second.ints.empty()) {
            auto& iv = it->second.ints;
            iv =
                std::string(k) == "pads" ? std::vector<int64_t>{0, iv[0], 0, iv.at(1)} : std::vector<int64_t>{1, iv[0]};
          }
      const auto widen = [&](const std::vector<int64_t>& s) {
        return one_d ? std::vector<int64_t>{s[0], s[1], 1, s[2]} : s;
      };
      const std::vector<int64_t> xs = widen(xs4), ws = widen(ws4), ys4 = widen(ys);
      const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], Co = ys4[1], OH = ys4[2], OW = ys4[3], KH = ws[2],
                    KW = ws[3], G = n.attr_i("group", 1), Cg = C / G, Cog = Co / G;
      const auto st = ints(n2, "strides", {1, 1}), dl = ints(n2, "dilations", {1, 1});
      const auto p = pads_2d(n2, H, W, OH, OW, KH, KW, st[0], st[1], dl[0], dl[1]);
      const bool bias = n.inputs.size() > 2 && !n.inputs[2].empty();
      for (int64_t b = 0; b < N; ++b)
        for (int64_t co = 0; co < Co; ++co) {
          const int64_t g0 = co / Cog;
          for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
              double s = bias ? in(n, 2)[static_cast<size_t>(co)] : 0.0;
              for (int64_t c = 0; c < Cg; ++c)
                for (int64_t kh = 0; kh < KH; ++kh)
                  for (int64_t kw = 0; kw < KW; ++kw) {
                    const int64_t iy = oy * st[0] + kh * dl[0] - p[0], ix = ox * st[1] + kw * dl[1] - p[1];
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                    s += x[static_cast<size_t>(((b * C + g0 * Cg + c) * H + iy) * W + ix)] *
                         w[static_cast<size_t>(((co * Cg + c) * KH + kh) * KW + kw)];
                  }
              y[static_cast<size_t>(((b * Co + co) * OH + oy) * OW + ox)] = s;
            }
        }
    } else if (n.op == "MaxPool" || n.op == "AveragePool" || n.op == "GlobalAveragePool") {
      const auto& x = in(n, 0);
      const auto& xs = shape(n.inputs[0]);
      if (xs.size() != 4) throw CompileError(where(n) + ": the reference handles 2-D pooling only");
      const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], OH = ys[2], OW = ys[3];
      const bool global = n.op == "GlobalAveragePool", mx = n.op == "MaxPool";
      const auto k = global ? std::vector<int64_t>{H, W} : ints(n, "kernel_shape", {1, 1});
      const auto st = global ? std::vector<int64_t>{1, 1} : ints(n, "strides", {1, 1});
      const auto p =
          global ? std::array<int64_t, 4>{0, 0, 0, 0} : pads_2d(n, H, W, OH, OW, k[0], k[1], st[0], st[1], 1, 1);
      const bool count_pad = n.attr_i("count_include_pad", 0) != 0;
      for (int64_t b = 0; b < N * C; ++b)
        for (int64_t oy = 0; oy < OH; ++oy)
          for (int64_t ox = 0; ox < OW; ++ox) {
            double acc = mx ? -INFINITY : 0.0;
            int64_t cnt = 0;
            for (int64_t ky = 0; ky < k[0]; ++ky)
              for (int64_t kx = 0; kx < k[1]; ++kx) {
                const int64_t iy = oy * st[0] + ky - p[0], ix = ox * st[1] + kx - p[1];
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const double e = x[static_cast<size_t>((b * H + iy) * W + ix)];
                acc = mx ? std::max(acc, e) : acc + e;
                ++cnt;
              }
            y[static_cast<size_t>((b * OH + oy) * OW + ox)] =
                mx ? acc : acc / static_cast<double>(count_pad ? k[0] * k[1] : std::max<int64_t>(cnt, 1));
          }
    } else if (n.op == "BatchNormalization") {
      const auto& x = in(n, 0);
      const auto& xs = shape(n.inputs[0]);
      const int64_t C = xs.at(1), inner = total / (xs[0] * C);
      const double eps = n.attr_f("epsilon", 1e-5f);
      for (int64_t i = 0; i < total; ++i) {
        const auto c = static_cast<size_t>((i / inner) % C);
        y[static_cast<size_t>(i)] =
            (x[static_cast<size_t>(i)] - in(n, 3)[c]) / std::sqrt(in(n, 4)[c] + eps) * in(n, 1)[c] + in(n, 2)[c];
      }
    } else if (n.op == "Concat") {
      int64_t axis = n.attr_i("axis", 0);
      if (axis < 0) axis += static_cast<int64_t>(ys.size());
      int64_t outer = 1;
      for (int64_t d = 0; d < axis; ++d) outer *= ys[d];
      const int64_t row = total / std::max<int64_t>(outer, 1);
      int64_t col0 = 0;
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (n.inputs[i].empty()) continue;
        const auto& x = in(n, i);
        const int64_t inner = static_cast<int64_t>(x.size()) / std::max<int64_t>(outer, 1);
        for (int64_t o = 0; o < outer; ++o)
          std::copy(x.begin() + o * inner, x.begin() + (o + 1) * inner, y.begin() + o * row + col0);
        col0 += inner;
      }
    } else if (n.op == "Relu" || n.op == "Clip") {
      double lo = n.op == "Relu" ? 0.0 : -INFINITY, hi = INFINITY;
      if (n.op == "Clip" && g.opset < 11) {
        lo = n.attr_f("min", -3.402823466e38f), hi = n.attr_f("max", 3.402823466e38f);
      } else if (n.op == "Clip") {
        if (n.inputs.size() > 1 && !n.inputs[1].empty()) lo = in(n, 1).at(0);
        if (n.inputs.size() > 2 && !n.inputs[2].empty()) hi = in(n, 2).at(0);
      }
      const auto& x = in(n, 0);
      for (size_t i = 0; i < y.size(); ++i) y[i] = std::min(std::max(x[i], lo), hi);
    } else if (n.op == "HardSigmoid" || n.op == "HardSwish") {  // HardSwish: x * HardSigmoid(x; 1/6, 0.5)
      const bool swish = n.op == "HardSwish";
      const double alpha = swish ? 1.0 / 6 : n.attr_f("alpha", 0.2f), beta = swish ? 0.5 : n.attr_f("beta", 0.5f);
      const auto& x = in(n, 0);
      for (size_t i = 0; i < y.size(); ++i) {
        const double h = std::min(1.0, std::max(0.0, alpha * x[i] + beta));
        y[i] = swish ? x[i] * h : h;
      }
    } else if (n.op == "Resize") {  // images (N and C kept), nearest and linear, as the ONNX reference
      const auto& x = in(n, 0);
      const auto& xs = shape(n.inputs[0]);
      if (xs.size() != 4 || ys[0] != xs[0] || ys[1] != xs[1])
        throw CompileError(where(n) + ": the reference resizes images over H and W only");
      const std::string mode = n.attr_s("mode", "nearest"),
                        ctm = n.attr_s("coordinate_transformation_mode", "half_pixel"),
                        nm = n.attr_s("nearest_mode", "round_prefer_floor");
      if (mode != "nearest" && mode != "linear")
        throw CompileError(where(n) + ": the reference resizes with nearest and linear modes, not '" + mode + "'");
      std::vector<double> scale = {1, 1, static_cast<double>(ys[2]) / xs[2], static_cast<double>(ys[3]) / xs[3]};
      if (n.inputs.size() > 2 && !n.inputs[2].empty() && in(n, 2).size() == 4) scale = in(n, 2);
      auto orig = [&](int64_t o, int d) {  // the input coordinate of output coordinate o on axis d
        const double sc = scale[d], lo = static_cast<double>(xs[d]), lr = static_cast<double>(ys[d]);
        if (ctm == "asymmetric") return o / sc;
        if (ctm == "align_corners") return lr == 1 ? 0.0 : o * (lo - 1) / (lr - 1);
        if (ctm == "pytorch_half_pixel") return lr > 1 ? (o + 0.5) / sc - 0.5 : 0.0;
        if (ctm == "tf_half_pixel_for_nn") return (o + 0.5) / sc;
        if (ctm == "half_pixel") return (o + 0.5) / sc - 0.5;
        throw CompileError(where(n) + ": coordinate_transformation_mode '" + ctm +
                           "' is not evaluated by the reference");
      };
      auto nearest = [&](double c, int64_t len) {
        const double f = std::floor(c), frac = c - f;
        double r = nm == "floor"  ? f
                   : nm == "ceil" ? std::ceil(c)
                   : frac == 0.5  ? (nm == "round_prefer_ceil" ? f + 1 : f)
                                  : std::round(c);
        return static_cast<int64_t>(std::min<double>(std::max(r, 0.0), static_cast<double>(len - 1)));
      };
      const int64_t H = xs[2], W = xs[3], OH = ys[2], OW = ys[3];
      for (int64_t nc = 0; nc < xs[0] * xs[1]; ++nc)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            const double ch = orig(oh, 2), cw = orig(ow, 3);
            double out;
            if (mode == "nearest") {
              out = x[static_cast<size_t>((nc * H + nearest(ch, H)) * W + nearest(cw, W))];
            } else {  // bilinear, coordinates clamped to the image (edge pixels repeat)
              const double h = std::min(std::max(ch, 0.0), static_cast<double>(H - 1)),
                           w = std::min(std::max(cw, 0.0), static_cast<double>(W - 1));
              const auto h0 = static_cast<int64_t>(std::floor(h)), w0 = static_cast<int64_t>(std::floor(w));
              const int64_t h1 = std::min(h0 + 1, H - 1), w1 = std::min(w0 + 1, W - 1);
              const double fh = h - h0, fw = w - w0;
              auto at = [&](int64_t a, int64_t b) { return x[static_cast<size_t>((nc * H + a) * W + b)]; };
              out =
                  (1 - fh) * ((1 - fw) * at(h0, w0) + fw * at(h0, w1)) + fh * ((1 - fw) * at(h1, w0) + fw * at(h1, w1));
            }
            y[static_cast<size_t>((nc * OH + oh) * OW + ow)] = out;
          }
    } else if (n.op == "Add" || n.op == "Sub" || n.op == "Mul") {
      double (*op)(double, double) = n.op == "Add"   ? [](double p, double q) { return p + q; }
                                     : n.op == "Sub" ? [](double p, double q) { return p - q; }
                                                     : [](double p, double q) { return p * q; };
      const auto a = broadcast_to(in(n, 0), shape(n.inputs[0]), ys), b = broadcast_to(in(n, 1), shape(n.inputs[1]), ys);
      for (size_t i = 0; i < y.size(); ++i) y[i] = op(a[i], b[i]);
    } else if (n.op == "Flatten" || n.op == "Reshape" || n.op == "Identity" || n.op == "Squeeze" ||
               n.op == "Unsqueeze") {
      y = in(n, 0);
    } else if (n.op == "Slice") {  // the ONNX definition's clamping, steps of either sign
      const auto& xs = shape(n.inputs[0]);
      const auto rank = static_cast<int64_t>(xs.size());
      std::vector<int64_t> start(static_cast<size_t>(rank), 0), step(static_cast<size_t>(rank), 1);
      std::vector<int64_t> st, en, ax, sp;
      if (g.opset < 10) {
        st = ints(n, "starts", {}), en = ints(n, "ends", {}), ax = ints(n, "axes", {});
      } else {
        st = int_values(in(n, 1)), en = int_values(in(n, 2));
        if (n.inputs.size() > 3 && !n.inputs[3].empty()) ax = int_values(in(n, 3));
        if (n.inputs.size() > 4 && !n.inputs[4].empty()) sp = int_values(in(n, 4));
      }
      for (size_t k = 0; k < st.size(); ++k) {
        const int64_t a = ax.empty() ? static_cast<int64_t>(k) : (ax[k] < 0 ? ax[k] + rank : ax[k]);
        const int64_t d = xs[a], p = sp.empty() ? 1 : sp[k];
        const int64_t s0 = st[k] < 0 ? st[k] + d : st[k];
        start[a] = p > 0 ? std::clamp<int64_t>(s0, 0, d) : std::clamp<int64_t>(s0, 0, d - 1);
        step[a] = p;
      }
      y = remap(in(n, 0), xs, ys, [&](int64_t d, int64_t i) { return start[d] + i * step[d]; });
    } else if (n.op == "Split") {  // outputs in order along the axis, each its own size
      const auto& xs = shape(n.inputs[0]);
      int64_t axis = n.attr_i("axis", 0), at = 0;
      if (axis < 0) axis += static_cast<int64_t>(xs.size());
      for (size_t k = 0; k < n.outputs.size(); ++k) {
        if (n.outputs[k].empty()) continue;
        const auto& os = shape(n.outputs[k]);
        auto part = remap(in(n, 0), xs, os, [&](int64_t d, int64_t i) { return d == axis ? at + i : i; });
        at += os[axis];
        if (k == 0)
          y = std::move(part);
        else
          v[n.outputs[k]] = std::move(part);
      }
    } else if (n.op == "Pad") {  // constant, edge (clamp to the input) or reflect (mirror at the edge)
      const auto& xs = shape(n.inputs[0]);
      const auto rank = static_cast<int64_t>(xs.size());
      const std::string mode = n.attrs.count("mode") ? n.attrs.at("mode").s : "constant";
      std::vector<int64_t> pads = g.opset < 11 ? ints(n, "pads", {}) : int_values(in(n, 1));
      double value = g.opset < 11 ? n.attr_f("value", 0) : 0;
      if (g.opset >= 11 && n.inputs.size() > 2 && !n.inputs[2].empty()) value = in(n, 2).at(0);
      if (g.opset >= 11 && n.inputs.size() > 3 && !n.inputs[3].empty()) {
        const auto axes = int_values(in(n, 3));
        std::vector<int64_t> full(static_cast<size_t>(2 * rank), 0);
        for (size_t k = 0; k < axes.size(); ++k) {
          const int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
          full[a] = pads[k], full[a + rank] = pads[k + axes.size()];
        }
        pads = full;
      }
      y = remap(
          in(n, 0), xs, ys,
          [&](int64_t d, int64_t i) {
            int64_t j = i - pads[d];
            if (j >= 0 && j < xs[d]) return j;
            if (mode == "edge") return std::clamp<int64_t>(j, 0, xs[d] - 1);
            if (mode == "reflect") return j < 0 ? -j : 2 * (xs[d] - 1) - j;
            return int64_t{-1};
          },
          value);
    } else if (n.op == "Expand" || n.op == "Tile") {  // size-1 axes repeat; Tile repeats whole axes
      std::vector<int64_t> xs = shape(n.inputs[0]);
      xs.insert(xs.begin(), ys.size() - xs.size(), 1);
      const bool tile = n.op == "Tile";
      y = remap(in(n, 0), xs, ys, [&](int64_t d, int64_t i) { return tile ? i % xs[d] : (xs[d] == 1 ? 0 : i); });
    } else if (n.op.rfind("Reduce", 0) == 0) {  // ReduceMean, Sum, Max, Min, SumSquare, L1, L2, LogSum, LogSumExp
      const auto& x = in(n, 0);
      const auto& xs = shape(n.inputs[0]);
      const auto rank = static_cast<int64_t>(xs.size());
      std::vector<int64_t> axes = ints(n, "axes", {});
      if (n.inputs.size() > 1 && !n.inputs[1].empty()) axes.assign(in(n, 1).begin(), in(n, 1).end());
      if (axes.empty() && n.attr_i("noop_with_empty_axes", 0)) {
        y = x;
      } else {
        std::vector<bool> red(static_cast<size_t>(rank), axes.empty());
        for (int64_t a : axes) red.at(static_cast<size_t>(a < 0 ? a + rank : a)) = true;
        const bool mx = n.op == "ReduceMax", mn = n.op == "ReduceMin";
        std::fill(y.begin(), y.end(), mx ? -INFINITY : mn ? INFINITY : 0.0);
        std::vector<int64_t> count(y.size(), 0);
        for (size_t i = 0; i < x.size(); ++i) {  // output index: X's index with the reduced axes at 0
          int64_t rem = static_cast<int64_t>(i), o = 0, scale = 1;
          for (int64_t d = rank; d-- > 0;) {
            const int64_t idx = rem % xs[d];
            rem /= xs[d];
            if (!red[d]) o += idx * scale, scale *= xs[d];
          }
          double& r = y[static_cast<size_t>(o)];
          const double e = n.op == "ReduceSumSquare" || n.op == "ReduceL2" ? x[i] * x[i]
                           : n.op == "ReduceL1"                            ? std::abs(x[i])
                           : n.op == "ReduceLogSumExp"                     ? std::exp(x[i])
                                                                           : x[i];
          r = mx ? std::max(r, e) : mn ? std::min(r, e) : r + e;
          ++count[static_cast<size_t>(o)];
        }
        for (size_t o = 0; o < y.size(); ++o) {
          if (n.op == "ReduceMean") y[o] /= static_cast<double>(std::max<int64_t>(count[o], 1));
          if (n.op == "ReduceL2") y[o] = std::sqrt(y[o]);
          if (n.op == "ReduceLogSum" || n.op == "ReduceLogSumExp") y[o] = std::log(y[o]);
        }
      }
    } else if (n.op == "ArgMax" || n.op == "ArgMin") {  // the first (select_last_index: last) extreme's index
      const auto& x = in(n, 0);
      const auto& xs = shape(n.inputs[0]);
      const auto rank = static_cast<int64_t>(xs.size());
      int64_t axis = n.attr_i("axis", 0);
      if (axis < 0) axis += rank;
      const bool last = n.attr_i("select_last_index", 0) != 0, mx = n.op == "ArgMax";
      int64_t inner = 1;
      for (int64_t d = axis + 1; d < rank; ++d) inner *= xs[d];
      const int64_t V = xs[axis];
      for (size_t o = 0; o < y.size(); ++o) {  // o = outer * inner + i
        const int64_t outer = static_cast<int64_t>(o) / inner, i = static_cast<int64_t>(o) % inner;
        int64_t best = 0;
        for (int64_t k = 1; k < V; ++k) {
          const double e = x[static_cast<size_t>((outer * V + k) * inner + i)],
                       b = x[static_cast<size_t>((outer * V + best) * inner + i)];
          if (mx ? (e > b || (last && e == b)) : (e < b || (last && e == b))) best = k;
        }
        y[o] = static_cast<double>(best);
      }
    } else if (n.op == "LayerNormalization") {
      const auto& x = in(n, 0);
      const auto& xs = shape(n.inputs[0]);
      int64_t axis = n.attr_i("axis", -1);
      if (axis < 0) axis += static_cast<int64_t>(xs.size());
      int64_t C = 1;
      for (size_t d = static_cast<size_t>(axis); d < xs.size(); ++d) C *= xs[d];
      const double eps = n.attr_f("epsilon", 1e-5f);
      const bool scale = n.inputs.size() > 1 && !n.inputs[1].empty(),
                 bias = n.inputs.size() > 2 && !n.inputs[2].empty();
      for (int64_t r = 0; r * C < total; ++r) {
        double mean = 0, var = 0;
        for (int64_t c = 0; c < C; ++c) mean += x[static_cast<size_t>(r * C + c)];
        mean /= static_cast<double>(C);
        for (int64_t c = 0; c < C; ++c) var += std::pow(x[static_cast<size_t>(r * C + c)] - mean, 2);
        const double rstd = 1.0 / std::sqrt(var / static_cast<double>(C) + eps);
        for (int64_t c = 0; c < C; ++c) {
          const auto k = static_cast<size_t>(c);
          const double s = scale ? in(n, 1)[k % in(n, 1).size()] : 1.0, b = bias ? in(n, 2)[k % in(n, 2).size()] : 0.0;
          y[static_cast<size_t>(r * C + c)] = (x[static_cast<size_t>(r * C + c)] - mean) * rstd * s + b;
        }
      }
    } else if (has_host_kernel(n.op)) {
      std::vector<std::vector<double>> ins;
      std::vector<std::vector<int64_t>> shapes;
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (n.inputs[i].empty()) continue;
        ins.push_back(in(n, i));
        shapes.push_back(shape(n.inputs[i]));
      }
      y = host_kernel(n, g.opset, ins, shapes, ys);
    } else {
      throw CompileError(where(n) + ": the float reference does not evaluate this operator");
    }
    v[n.outputs[0]] = std::move(y);
  }
  return v;
}

std::vector<Accuracy> compare_to_reference(const Graph& g, const TensorValues& inputs, const TensorValues& outputs) {
  const TensorValues ref = evaluate_reference(g, inputs);
  std::vector<Accuracy> out;
  for (const auto& name : g.outputs) {
    const auto& want = ref.at(name);
    const auto& got = outputs.at(name);
    if (got.size() != want.size()) throw CompileError("output '" + name + "': size differs from the reference");
    Accuracy a;
    a.output = name;
    double dot = 0, ng = 0, nw = 0, sum = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double e = std::abs(got[i] - want[i]);
      a.max_abs_err = std::max(a.max_abs_err, e);
      sum += e;
      dot += got[i] * want[i], ng += got[i] * got[i], nw += want[i] * want[i];
    }
    a.mean_abs_err = got.empty() ? 0 : sum / static_cast<double>(got.size());
    a.cosine = (ng > 0 && nw > 0) ? dot / std::sqrt(ng * nw) : (ng == nw ? 1.0 : 0.0);
    const std::vector<int64_t>& shape = g.tensor(name).shape;
    const int64_t cols = shape.empty() ? 1 : std::max<int64_t>(shape.back(), 1);
    a.rows = static_cast<int64_t>(got.size()) / cols;
    int64_t agree = 0;
    for (int64_t r = 0; r < a.rows; ++r) {
      const auto gb = got.begin() + r * cols, wb = want.begin() + r * cols;
      agree += std::max_element(gb, gb + cols) - gb == std::max_element(wb, wb + cols) - wb;
    }
    a.top1 = a.rows ? static_cast<double>(agree) / static_cast<double>(a.rows) : 1.0;
    out.push_back(a);
  }
  return out;
}

}  // namespace npusim::compiler
