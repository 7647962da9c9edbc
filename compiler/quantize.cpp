// int8 post-training quantization (see quantize.h). Scheme, as in ONNX Runtime's static
// quantization with QOperator format: activations uint8 (int8 where the MXU has no uint8 mode),
// asymmetric per tensor, scale = (max - min) / 255 over a range widened to include 0, zero point
// = qmin + round(-min / scale) (qmin = 0 for uint8, -128 for int8);
// weights int8, symmetric per output channel (scale = max|w| / 127, zero point 0); biases int32
// at scale x_scale * w_scale (zero point 0).
#include "compiler/quantize.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace npusim::compiler {

Calibration calibrate(const Graph& g, const std::vector<TensorValues>& samples) {
  Calibration c;
  for (size_t s = 0; s < samples.size(); ++s)  // a NaN or Inf range would quantize everything to garbage
    for (const auto& [name, vals] : samples[s])
      for (size_t i = 0; i < vals.size(); ++i)
        if (!std::isfinite(vals[i]))
          throw CompileError("calibration sample " + std::to_string(s) + " of input '" + name + "' holds " +
                             (std::isnan(vals[i]) ? "NaN" : "an infinity") + " at element " + std::to_string(i) +
                             ": calibration data must be finite");
  for (const TensorValues& in : samples) {
    const TensorValues v = evaluate_reference(g, in);
    for (const auto& [name, vals] : v) {
      if (g.tensor(name).is_const || vals.empty()) continue;
      const auto [lo, hi] = std::minmax_element(vals.begin(), vals.end());
      auto it = c.range.find(name);
      if (it == c.range.end())
        c.range[name] = {*lo, *hi};
      else
        it->second = {std::min(it->second.first, *lo), std::max(it->second.second, *hi)};
    }
    ++c.samples;
  }
  return c;
}

namespace {

/// Per-tensor uint8 quantization parameters.
struct QParams {
  double scale = 1;
  int zp = 0;
};

class Rewriter {
 public:
  Rewriter(const Graph& g, const Calibration& cal, bool signed_act)
      : g_(g), cal_(cal), act_(signed_act ? DType::I8 : DType::U8), qmin_(signed_act ? -128 : 0) {
    q_.opset = std::max<int64_t>(g.opset, 13);  // per-axis Dequantize/Quantize need 13
    q_.inputs = g.inputs;
    q_.outputs = g.outputs;
    q_.tensors = g.tensors;
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& t : g.nodes[i].inputs)
        if (!t.empty()) consumers_[t].push_back(i);
    for (const auto& t : g.inputs) have_f_.insert(t);
    for (const auto& [name, t] : g.tensors)
      if (t.is_const) have_f_.insert(name);
  }

  Graph run(QuantizeSummary* summary) {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (fused_.count(i)) continue;
      const Node& n = g_.nodes[i];
      if (quantizable(n)) {
        quantized(n);
        if (summary) summary->quantized.push_back(n.name);
      } else {
        passthrough_or_float(n, summary);
      }
    }
    for (const auto& o : g_.outputs) float_of(o);
    return std::move(q_);
  }

 private:
  bool quantizable(const Node& n) const {
    if (n.op == "Conv")  // 2-D only (QLinearConv lowers 2-D windows; a 1-D Conv stays float)
      return g_.tensor(n.inputs[0]).shape.size() == 4 && const_input(n, 1) &&
             (n.inputs.size() < 3 || n.inputs[2].empty() || const_input(n, 2));
    if (n.op == "MatMul") return const_input(n, 1) && g_.tensor(n.inputs[1]).shape.size() == 2;
    if (n.op == "Gemm") {
      if (!const_input(n, 1) || n.attr_i("transA", 0)) return false;
      if (n.inputs.size() < 3 || n.inputs[2].empty()) return true;
      const Tensor& c = g_.tensor(n.inputs[2]);
      const int64_t N = g_.tensor(n.outputs[0]).shape.back();
      return c.is_const && (c.elements() == N || c.elements() == 1);
    }
    return false;
  }
  bool const_input(const Node& n, size_t i) const {
    return i < n.inputs.size() && !n.inputs[i].empty() && g_.tensor(n.inputs[i]).is_const;
  }

  QParams qparams(const std::string& t) const {
    if (auto it = forced_.find(t); it != forced_.end()) return it->second;
    auto it = cal_.range.find(t);
    if (it == cal_.range.end()) throw CompileError("quantization: tensor '" + t + "' was not calibrated");
    const double lo = std::min(it->second.first, 0.0), hi = std::max(it->second.second, 0.0);
    QParams p;
    p.scale = hi > lo ? (hi - lo) / 255.0 : 1.0;
    p.scale = static_cast<float>(p.scale);  // the model stores float32 scales
    p.zp = static_cast<int>(std::min(qmin_ + 255.0, std::max<double>(qmin_, qmin_ + std::round(-lo / p.scale))));
    return p;
  }

  std::string add_const(const std::string& name, DType dt, std::vector<int64_t> shape, std::vector<double> values) {
    Tensor t;
    t.name = name;
    t.dtype = dt;
    t.shape = std::move(shape);
    t.is_const = true;
    t.values = std::move(values);
    q_.tensors[name] = std::move(t);
    return name;
  }
  /// Scale and zero-point constants of tensor t.
  std::pair<std::string, std::string> qconsts(const std::string& t) {
    const QParams p = qparams(t);
    const std::string s = t + "__scale", z = t + "__zp";
    if (!q_.tensors.count(s)) {
      add_const(s, DType::F32, {}, {p.scale});
      add_const(z, act_, {}, {static_cast<double>(p.zp)});
    }
    return {s, z};
  }
  /// A quantized (activation type) tensor shaped like float tensor t.
  std::string add_u8(const std::string& t) {
    Tensor u = g_.tensor(t);
    u.name = t + "__q";
    u.dtype = act_;
    u.is_const = false;
    u.values.clear();
    q_.tensors[u.name] = u;
    return u.name;
  }

  /// The uint8 version of t (quantizing it now if only the float exists).
  std::string quant_of(const std::string& t) {
    if (auto it = qname_.find(t); it != qname_.end()) return it->second;
    const auto [s, z] = qconsts(t);
    const std::string u = add_u8(t);
    Node n;
    n.name = t + "__quantize";
    n.op = "QuantizeLinear";
    n.inputs = {t, s, z};
    n.outputs = {u};
    q_.nodes.push_back(n);
    qname_[t] = u;
    return u;
  }
  /// The float version of t (dequantizing it now if only the uint8 exists).
  std::string float_of(const std::string& t) {
    if (have_f_.count(t)) return t;
    const auto [s, z] = qconsts(t);
    Node n;
    n.name = t + "__dequantize";
    n.op = "DequantizeLinear";
    n.inputs = {qname_.at(t), s, z};
    n.outputs = {t};
    q_.nodes.push_back(n);
    have_f_.insert(t);
    return t;
  }

  /// The tensor whose range the operator's output takes: a Relu that is the only consumer is fused
  /// (its range starts at 0, so the uint8 zero point is 0 and saturation is the ReLU).
  std::string fused_output(const Node& n) {
    const std::string y = n.outputs[0];
    auto it = consumers_.find(y);
    if (it == consumers_.end() || it->second.size() != 1) return y;
    if (std::find(g_.outputs.begin(), g_.outputs.end(), y) != g_.outputs.end()) return y;
    const Node& r = g_.nodes[it->second[0]];
    if (r.op != "Relu") return y;
    fused_.insert(it->second[0]);
    return r.outputs[0];
  }

  void quantized(const Node& n) {
    const std::string x = n.inputs[0];
    const std::string xq = quant_of(x);
    const QParams px = qparams(x);
    const std::string out = fused_output(n);
    const Tensor& w = g_.tensor(n.inputs[1]);
    const bool conv = n.op == "Conv";
    // Weights as [Co][...] (Conv) or the K x N matrix of the product (Gemm/MatMul).
    int64_t Co = 0, K = 0;
    std::vector<double> wmat;  // Conv: as ONNX; products: K x N
    if (conv) {
      Co = w.shape[0];
      wmat = w.values;
    } else {
      const bool tb = n.op == "Gemm" && n.attr_i("transB", 0);
      const double alpha = n.op == "Gemm" ? n.attr_f("alpha", 1) : 1;
      K = tb ? w.shape[1] : w.shape[0];
      Co = tb ? w.shape[0] : w.shape[1];
      wmat.resize(static_cast<size_t>(K * Co));
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < Co; ++j) wmat[k * Co + j] = alpha * (tb ? w.values[j * K + k] : w.values[k * Co + j]);
    }
    auto widx = [&](int64_t c, int64_t i) {  // element i of output channel c
      return conv ? c * (static_cast<int64_t>(wmat.size()) / Co) + i : i * Co + c;
    };
    const int64_t per = static_cast<int64_t>(wmat.size()) / Co;
    std::vector<double> sw(static_cast<size_t>(Co)), wq(wmat.size()), bias(static_cast<size_t>(Co), 0.0);
    for (int64_t c = 0; c < Co; ++c) {
      double m = 0;
      for (int64_t i = 0; i < per; ++i) m = std::max(m, std::abs(wmat[widx(c, i)]));
      sw[c] = static_cast<float>(m > 0 ? m / 127.0 : 1.0);
      for (int64_t i = 0; i < per; ++i)
        wq[widx(c, i)] = std::min(127.0, std::max(-127.0, std::round(wmat[widx(c, i)] / sw[c])));
    }
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const Tensor& b = g_.tensor(n.inputs[2]);
      const double beta = n.op == "Gemm" ? n.attr_f("beta", 1) : 1;
      for (int64_t c = 0; c < Co; ++c) {
        const double v = beta * (b.values.size() == 1 ? b.values[0] : b.values[c]);
        bias[c] =
            std::min(2147483647.0, std::max(-2147483648.0, std::round(v / (static_cast<float>(px.scale) * sw[c]))));
      }
    }
    const std::string base = n.outputs[0];
    const std::string wname = add_const(base + "__w", DType::I8, conv ? w.shape : std::vector<int64_t>{K, Co}, wq);
    const std::string sname = add_const(base + "__wscale", DType::F32, {Co}, sw);
    const std::string zname = add_const(base + "__wzp", DType::I8, {Co}, std::vector<double>(sw.size(), 0.0));
    const std::string bname = add_const(base + "__b", DType::I32, {Co}, bias);
    const auto [xs, xz] = qconsts(x);
    const auto [ys, yz] = qconsts(out);
    Node m;
    m.name = n.name;
    m.op = conv ? "QLinearConv" : "QLinearMatMul";
    m.attrs = conv ? n.attrs : std::map<std::string, Attribute>{};
    m.inputs = {xq, xs, xz, wname, sname, zname, ys, yz, bname};  // QLinearMatMul's 9th: npusim's bias
    const std::string yq = add_u8(out);
    m.outputs = {yq};
    q_.nodes.push_back(m);
    qname_[out] = yq;
  }

  void passthrough_or_float(const Node& n, QuantizeSummary* summary) {
    const bool layout = n.op == "Reshape" || n.op == "Flatten" || n.op == "Identity";
    const bool maxpool = n.op == "MaxPool" && (n.outputs.size() < 2 || n.outputs[1].empty());
    if ((layout || maxpool) && !n.inputs.empty() && qname_.count(n.inputs[0]) && !have_f_.count(n.inputs[0])) {
      // uint8 in, uint8 out with the same parameters: max and layout changes commute with quantization.
      Node m = n;
      m.inputs[0] = qname_[n.inputs[0]];
      forced_[n.outputs[0]] = qparams(n.inputs[0]);
      m.outputs[0] = add_u8(n.outputs[0]);
      qname_[n.outputs[0]] = m.outputs[0];
      q_.nodes.push_back(m);
      if (summary) summary->quantized.push_back(n.name);
      return;
    }
    Node m = n;
    for (size_t i = 0; i < m.inputs.size(); ++i)
      if (!m.inputs[i].empty() && !g_.tensor(m.inputs[i]).is_const) m.inputs[i] = float_of(m.inputs[i]);
    q_.nodes.push_back(m);
    for (const auto& o : n.outputs)
      if (!o.empty()) have_f_.insert(o);
    if (summary) summary->float_ops.push_back(n.name);
  }

  const Graph& g_;
  const Calibration& cal_;
  Graph q_;                                               ///< being built
  std::map<std::string, std::vector<size_t>> consumers_;  ///< tensor -> nodes reading it
  std::map<std::string, std::string> qname_;              ///< float tensor -> its uint8 version
  std::set<std::string> have_f_;                          ///< float tensors that exist
  std::map<std::string, QParams> forced_;                 ///< parameters inherited (MaxPool, Reshape)
  std::set<size_t> fused_;                                ///< Relu nodes folded into their producer
  DType act_;                                             ///< activation type (U8 or I8)
  int qmin_;                                              ///< its lowest value (0 or -128)
};

}  // namespace

Graph quantize_graph(const Graph& g, const Calibration& cal, QuantizeSummary* summary, bool signed_activations) {
  return Rewriter(g, cal, signed_activations).run(summary);
}

}  // namespace npusim::compiler
