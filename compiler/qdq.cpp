// QDQ fusion (qdq.h), after ONNX Runtime's QDQ selectors/actions: a node group is fused only when
// the integer operator computes what the QDQ graph defines (see docs/compiler.md, "QDQ models").
#include "compiler/qdq.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/graph.h"
#include "compiler/onnx_values.h"

namespace npusim::compiler {
namespace {

constexpr int32_t kU8 = onnx::TensorProto_DataType_UINT8, kI8 = onnx::TensorProto_DataType_INT8,
                  kI32 = onnx::TensorProto_DataType_INT32, kF32 = onnx::TensorProto_DataType_FLOAT;

/// The graph's lookup tables, rebuilt after every rewrite.
struct Index {
  onnx::GraphProto& g;
  std::unordered_map<std::string, int> init;                  ///< initializer index by name
  std::unordered_map<std::string, int> producer;              ///< node index by output name
  std::unordered_map<std::string, std::vector<int>> readers;  ///< node indices reading a tensor
  std::unordered_map<std::string, int32_t> types;             ///< element type by tensor name
  std::unordered_map<std::string, int> ranks;                 ///< rank by tensor name (when known)
  std::set<std::string> outputs;                              ///< graph outputs
  explicit Index(onnx::GraphProto& graph) : g(graph) { scan(); }
  void scan() {
    init.clear(), producer.clear(), readers.clear(), types.clear(), ranks.clear(), outputs.clear();
    for (int i = 0; i < g.initializer_size(); ++i) {
      init[g.initializer(i).name()] = i;
      types[g.initializer(i).name()] = g.initializer(i).data_type();
      ranks[g.initializer(i).name()] = g.initializer(i).dims_size();
    }
    for (const auto* list : {&g.input(), &g.value_info(), &g.output()})
      for (const auto& vi : *list) {
        if (!vi.type().has_tensor_type()) continue;
        types.emplace(vi.name(), vi.type().tensor_type().elem_type());
        if (vi.type().tensor_type().has_shape()) ranks.emplace(vi.name(), vi.type().tensor_type().shape().dim_size());
      }
    for (const auto& o : g.output()) outputs.insert(o.name());
    for (int i = 0; i < g.node_size(); ++i) {
      for (const auto& o : g.node(i).output()) producer[o] = i;
      for (const auto& in : g.node(i).input())
        if (!in.empty()) readers[in].push_back(i);
    }
  }
  const onnx::TensorProto* constant(const std::string& name) const {
    auto it = init.find(name);
    return it == init.end() ? nullptr : &g.initializer(it->second);
  }
  /// A constant whose values values_of reads (not external data, a readable type).
  bool readable(const std::string& name) const {
    const auto* t = constant(name);
    return t && readable_type(t->data_type()) && t->data_location() != onnx::TensorProto_DataLocation_EXTERNAL;
  }
  std::vector<double> values(const std::string& name) const {
    return values_of(*constant(name), "initializer '" + name + "'");
  }
  int rank(const std::string& name) const {
    auto it = ranks.find(name);
    return it == ranks.end() ? -1 : it->second;
  }
  int32_t type(const std::string& name) const {
    auto it = types.find(name);
    return it == types.end() ? 0 : it->second;
  }
  /// The only node reading `name` (which is no graph output), or -1.
  int sole_reader(const std::string& name) const {
    auto it = readers.find(name);
    if (outputs.count(name) || it == readers.end() || it->second.size() != 1) return -1;
    return it->second[0];
  }
};

bool is_int8(int32_t t) {
  return t == kU8 || t == kI8;
}
double qmin(int32_t t) {
  return t == kU8 ? 0 : -128;
}
double qmax(int32_t t) {
  return t == kU8 ? 255 : 127;
}

int64_t attr_i(const onnx::NodeProto& n, const char* name, int64_t def) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return def;
}
float attr_f(const onnx::NodeProto& n, const char* name, float def) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.f();
  return def;
}

/// A QuantizeLinear or DequantizeLinear with constant parameters: q is its integer side (the
/// DQ's input, the Q's output), s/z its scale and zero point (z = {0} when absent) along `axis`.
struct QParams {
  int node = -1;
  std::string q, scale, zp;
  std::vector<double> s, z;
  int64_t axis = 1;
  int32_t qtype = kU8;
  bool per_tensor() const { return s.size() == 1 && z.size() == 1; }
  /// The same scale, zero point and integer type (for ops that pass integers through).
  bool same(const QParams& o) const {
    return per_tensor() && o.per_tensor() && s == o.s && z == o.z && qtype == o.qtype;
  }
};

/// Reads node `i` (a QuantizeLinear or DequantizeLinear) when its parameters are constants.
std::optional<QParams> params(const Index& ix, int i) {
  const auto& n = ix.g.node(i);
  auto readable = [&](const std::string& name) { return ix.readable(name); };
  if (n.input_size() < 2 || !readable(n.input(1))) return std::nullopt;
  if (n.input_size() > 2 && !n.input(2).empty() && !readable(n.input(2))) return std::nullopt;
  QParams p;
  p.node = i;
  const bool dq = n.op_type() == "DequantizeLinear";
  p.q = dq ? n.input(0) : n.output(0);
  p.scale = n.input(1);
  p.s = ix.values(p.scale);
  if (n.input_size() > 2 && !n.input(2).empty()) {
    p.zp = n.input(2);
    p.z = ix.values(p.zp);
    p.qtype = ix.constant(p.zp)->data_type();
  } else {
    p.z = {0};
    p.qtype = dq ? ix.type(p.q) : kU8;
  }
  p.axis = attr_i(n, "axis", 1);
  if (p.s.empty() || p.z.empty() || (p.z.size() != 1 && p.z.size() != p.s.size())) return std::nullopt;
  for (double s : p.s)
    if (!(s > 0) || !std::isfinite(s)) return std::nullopt;
  return p;
}

/// The DequantizeLinear producing `name`, if any (with constant parameters).
std::optional<QParams> dq_of(const Index& ix, const std::string& name) {
  auto it = ix.producer.find(name);
  if (it == ix.producer.end() || ix.g.node(it->second).op_type() != "DequantizeLinear") return std::nullopt;
  return params(ix, it->second);
}

/// QuantizeLinear(v) of a float v in binary32, as ONNX defines it (round half to even, saturate).
double quantize(double v, const QParams& q) {
  if (std::isinf(v)) return v > 0 ? qmax(q.qtype) : qmin(q.qtype);
  const double r = std::nearbyint(static_cast<float>(v) / static_cast<float>(q.s[0])) + q.z[0];
  return std::clamp(r, qmin(q.qtype), qmax(q.qtype));
}

/// The per-tensor QuantizeLinear that alone reads `name` (the output of the op being fused),
/// looking through one Relu/Clip whose clamp the Q's saturation already does: Q is monotonic, so
/// Q(clip(v, lo, hi)) = clip(Q(v), Q(lo), Q(hi)), the identity when Q(lo) <= qmin and Q(hi) >= qmax
/// (a Relu: the zero point is qmin). `skipped` gets the activation's index.
std::optional<QParams> q_after(const Index& ix, const std::string& name, std::vector<int>& skipped) {
  int r = ix.sole_reader(name);
  if (r < 0) return std::nullopt;
  const auto& act = ix.g.node(r);
  double lo = -INFINITY, hi = INFINITY;
  const bool is_act = act.op_type() == "Relu" || act.op_type() == "Clip";
  if (act.op_type() == "Relu") lo = 0;
  if (act.op_type() == "Clip") {
    lo = attr_f(act, "min", -INFINITY), hi = attr_f(act, "max", INFINITY);
    for (int k : {1, 2}) {
      if (act.input_size() <= k || act.input(k).empty()) continue;
      if (!ix.constant(act.input(k))) return std::nullopt;
      const auto v = ix.values(act.input(k));
      if (v.size() != 1) return std::nullopt;
      (k == 1 ? lo : hi) = v[0];
    }
  }
  if (is_act) {
    if (act.output_size() != 1) return std::nullopt;
    r = ix.sole_reader(act.output(0));
    if (r < 0) return std::nullopt;
  }
  if (ix.g.node(r).op_type() != "QuantizeLinear" || ix.g.node(r).input(0) != (is_act ? act.output(0) : name))
    return std::nullopt;
  auto q = params(ix, r);
  if (!q || !q->per_tensor() || !is_int8(q->qtype)) return std::nullopt;
  if (is_act) {
    if (quantize(lo, *q) > qmin(q->qtype) || quantize(hi, *q) < qmax(q->qtype)) return std::nullopt;
    skipped.push_back(ix.producer.at(act.output(0)));
  }
  return q;
}

/// A zero point input for `p` (a new scalar 0 of its integer type when the node had none).
std::string zp_input(Index& ix, const QParams& p) {
  if (!p.zp.empty()) return p.zp;
  const std::string name = p.q + "__zero_point";
  if (!ix.constant(name)) *ix.g.add_initializer() = make_tensor(name, p.qtype, {}, {0});
  return name;
}

/// True when `p` is a DQ of a constant int8/uint8 tensor with per-channel parameters (if any)
/// along `axis` of its `channels`.
bool const_weights(const Index& ix, const QParams& p, int64_t axis, int64_t channels) {
  const auto* w = ix.constant(p.q);
  if (!w || !is_int8(w->data_type()) || !ix.readable(p.q)) return false;
  if (p.per_tensor()) return true;
  const int64_t rank = w->dims_size(), a = p.axis < 0 ? p.axis + rank : p.axis;
  return a == axis && static_cast<int64_t>(p.s.size()) == channels;
}

/// True when `p` is a DQ of a constant int32 bias of `channels` values with zero point 0 and
/// scale sx * sw (per channel, in binary32 as the quantizers compute it), so that the integer
/// accumulator plus it is the QDQ graph's sum divided by sx * sw.
bool int_bias(const Index& ix, const QParams& p, const QParams& x, const QParams& w, int64_t channels) {
  const auto* b = ix.constant(p.q);
  if (!b || b->data_type() != kI32 || !ix.readable(p.q) || element_count(*b, p.q) != channels) return false;
  for (double z : p.z)
    if (z != 0) return false;
  if (p.s.size() != 1 && static_cast<int64_t>(p.s.size()) != channels) return false;
  for (int64_t c = 0; c < channels; ++c) {
    const double sb = p.s[p.s.size() == 1 ? 0 : c];
    const double want =
        static_cast<float>(static_cast<float>(x.s[0]) * static_cast<float>(w.s[w.s.size() == 1 ? 0 : c]));
    if (std::abs(sb - want) > want * 1e-6) return false;
  }
  return true;
}

/// Replaces node `i` with `fused` and removes `erase` (the Q and a skipped activation).
void replace(Index& ix, int i, onnx::NodeProto fused, std::vector<int> erase) {
  *ix.g.mutable_node(i) = std::move(fused);
  std::sort(erase.rbegin(), erase.rend());
  for (int k : erase) ix.g.mutable_node()->DeleteSubrange(k, 1);
  ix.scan();
}

/// QLinearConv / QLinearMatMul from the op at `i` with inputs x and w, bias b, output q.
onnx::NodeProto qlinear(Index& ix, const onnx::NodeProto& op, const std::string& type, const QParams& x,
                        const std::string& w_name, const QParams& w, const std::optional<QParams>& b,
                        const QParams& q) {
  onnx::NodeProto n;
  n.set_op_type(type);
  n.set_name(op.name());
  for (const std::string& in :
       {x.q, x.scale, zp_input(ix, x), w_name, w.scale, zp_input(ix, w), q.scale, zp_input(ix, q)})
    n.add_input(in);
  if (b) n.add_input(b->q);
  n.add_output(q.q);
  return n;
}

/// DQ(x) -> Conv(DQ(w), DQ(b)) [-> Relu/Clip] -> Q: QLinearConv.
bool fuse_conv(Index& ix, int i) {
  const auto& op = ix.g.node(i);
  if (op.input_size() < 2 || op.output_size() != 1) return false;
  auto x = dq_of(ix, op.input(0)), w = dq_of(ix, op.input(1));
  if (!x || !w || !x->per_tensor() || !is_int8(x->qtype) || !ix.constant(w->q)) return false;
  const auto* wt = ix.constant(w->q);
  if (wt->dims_size() != 4 || ix.rank(x->q) != 4) return false;  // 2-D convolutions (QLinearConv on NHWC images)
  const int64_t co = wt->dims(0);
  if (!const_weights(ix, *w, 0, co)) return false;
  std::optional<QParams> b;
  if (op.input_size() > 2 && !op.input(2).empty()) {
    b = dq_of(ix, op.input(2));
    if (!b || !int_bias(ix, *b, *x, *w, co)) return false;
  }
  std::vector<int> erase;
  auto q = q_after(ix, op.output(0), erase);
  if (!q) return false;
  erase.push_back(q->node);
  onnx::NodeProto n = qlinear(ix, op, "QLinearConv", *x, w->q, *w, b, *q);
  *n.mutable_attribute() = op.attribute();
  replace(ix, i, std::move(n), erase);
  return true;
}

/// DQ(a) -> MatMul(DQ(B)) -> Q, and DQ(A) -> Gemm(DQ(B), DQ(C)) -> Q (alpha = beta = 1, no
/// transA; transB transposes the constant B): QLinearMatMul, with the int32 bias as the
/// ninth input (npusim's extension of QLinearMatMul; ONNX Runtime's QGemm has it too).
bool fuse_matmul(Index& ix, int i) {
  const auto& op = ix.g.node(i);
  const bool gemm = op.op_type() == "Gemm";
  if (op.input_size() < 2 || op.output_size() != 1) return false;
  if (gemm && (attr_i(op, "transA", 0) != 0 || attr_f(op, "alpha", 1) != 1 ||
               (op.input_size() > 2 && !op.input(2).empty() && attr_f(op, "beta", 1) != 1)))
    return false;
  auto a = dq_of(ix, op.input(0)), w = dq_of(ix, op.input(1));
  if (!a || !w || !a->per_tensor() || !is_int8(a->qtype) || !ix.constant(w->q)) return false;
  const auto* wt = ix.constant(w->q);
  const bool trans = gemm && attr_i(op, "transB", 0) != 0;
  if ((gemm || !w->per_tensor()) && wt->dims_size() != 2) return false;
  if (wt->dims_size() < 2 || ix.rank(a->q) < 2) return false;  // QLinearMatMul takes rank >= 2
  const int64_t n_cols = wt->dims(wt->dims_size() - (trans ? 2 : 1));
  if (!const_weights(ix, *w, trans ? 0 : wt->dims_size() - 1, n_cols)) return false;
  std::optional<QParams> b;
  if (gemm && op.input_size() > 2 && !op.input(2).empty()) {
    b = dq_of(ix, op.input(2));
    if (!b || !int_bias(ix, *b, *a, *w, n_cols)) return false;
  }
  std::vector<int> erase;
  auto q = q_after(ix, op.output(0), erase);
  if (!q) return false;
  erase.push_back(q->node);
  std::string w_name = w->q;
  if (trans) {  // B^T as a new constant [K, N]
    const int64_t N = wt->dims(0), K = wt->dims(1);
    const auto v = ix.values(w->q);
    std::vector<double> t(v.size());
    for (int64_t r = 0; r < N; ++r)
      for (int64_t c = 0; c < K; ++c) t[static_cast<size_t>(c * N + r)] = v[static_cast<size_t>(r * K + c)];
    w_name = w->q + "__transposed";
    if (!ix.constant(w_name)) *ix.g.add_initializer() = make_tensor(w_name, wt->data_type(), {K, N}, t);
  }
  onnx::NodeProto n = qlinear(ix, op, "QLinearMatMul", *a, w_name, *w, b, *q);
  replace(ix, i, std::move(n), erase);
  return true;
}

/// DQ -> op -> Q with the same per-tensor parameters on every data input and the output: the op
/// moves integers only (or takes their maximum, which Q(DQ(x)) = x preserves), so it runs on them.
bool fuse_passthrough(Index& ix, int i) {
  const auto& op = ix.g.node(i);
  static const std::set<std::string> kOps = {"MaxPool", "Reshape",   "Flatten", "Transpose",
                                             "Squeeze", "Unsqueeze", "Concat"};
  if (!kOps.count(op.op_type()) || op.output_size() != 1 || op.input_size() < 1) return false;
  const int data = op.op_type() == "Concat" ? op.input_size() : 1;
  std::vector<int> erase;
  auto q = q_after(ix, op.output(0), erase);
  if (!q || !erase.empty()) return false;  // a Relu after a data movement is not looked through
  std::vector<std::string> ins;
  for (int k = 0; k < data; ++k) {
    auto x = dq_of(ix, op.input(k));
    if (!x || !x->same(*q)) return false;
    ins.push_back(x->q);
  }
  onnx::NodeProto n = op;
  for (int k = 0; k < data; ++k) n.set_input(k, ins[static_cast<size_t>(k)]);
  n.set_output(0, q->q);
  replace(ix, i, std::move(n), {q->node});
  return true;
}

/// DQ(x) -> Relu/Clip -> Q with the same parameters, where the clamp is one the Q's saturation
/// does (q_after's rule): Q(DQ(x)) = x, so the group is x itself and its readers read x.
bool drop_activation(Index& ix, int i) {
  const auto& op = ix.g.node(i);
  if ((op.op_type() != "Relu" && op.op_type() != "Clip") || op.output_size() != 1) return false;
  auto x = dq_of(ix, op.input(0));
  if (!x) return false;
  // q_after looks through an activation after the op; here the activation is the op, so look
  // from the DQ's output with the DQ's single reader being this node.
  if (ix.sole_reader(op.input(0)) != i) return false;
  std::vector<int> skipped;
  auto q = q_after(ix, op.input(0), skipped);
  if (!q || skipped.size() != 1 || !x->same(*q) || ix.outputs.count(q->q)) return false;
  const std::string from = q->q, to = x->q;
  for (auto& n : *ix.g.mutable_node())
    for (auto& in : *n.mutable_input())
      if (in == from) in = to;
  std::vector<int> erase = {i, q->node};
  std::sort(erase.rbegin(), erase.rend());
  for (int k : erase) ix.g.mutable_node()->DeleteSubrange(k, 1);
  ix.scan();
  return true;
}

/// DequantizeLinear of constants left unfused: a float32 constant, y = (x - zp) * scale per axis.
int fold_constant_dq(Index& ix) {
  int folded = 0;
  for (int i = ix.g.node_size(); i-- > 0;) {
    const auto& n = ix.g.node(i);
    if (n.op_type() != "DequantizeLinear" || ix.outputs.count(n.output(0))) continue;
    auto p = params(ix, i);
    const auto* x = p && ix.readable(p->q) ? ix.constant(p->q) : nullptr;
    if (!x) continue;
    const auto v = values_of(*x, "initializer '" + p->q + "'");
    const int64_t rank = x->dims_size(), axis = p->axis < 0 ? p->axis + rank : p->axis;
    int64_t inner = 1;
    for (int64_t d = axis + 1; d < rank; ++d) inner *= x->dims(static_cast<int>(d));
    const auto channels = static_cast<int64_t>(std::max(p->s.size(), p->z.size()));
    std::vector<double> y(v.size());
    for (size_t k = 0; k < v.size(); ++k) {
      const auto c = channels == 1 ? 0 : static_cast<size_t>((static_cast<int64_t>(k) / inner) % channels);
      y[k] = static_cast<float>(static_cast<float>(v[k] - p->z[p->z.size() == 1 ? 0 : c]) *
                                static_cast<float>(p->s[p->s.size() == 1 ? 0 : c]));
    }
    std::vector<int64_t> dims(x->dims().begin(), x->dims().end());
    *ix.g.add_initializer() = make_tensor(n.output(0), kF32, dims, y);
    ix.g.mutable_node()->DeleteSubrange(i, 1);
    ix.scan();
    ++folded;
  }
  return folded;
}

/// Q/DQ nodes whose outputs nobody reads any more.
void drop_unread(Index& ix) {
  for (bool again = true; again;) {
    again = false;
    for (int i = ix.g.node_size(); i-- > 0;) {
      const auto& n = ix.g.node(i);
      if (n.op_type() != "DequantizeLinear" && n.op_type() != "QuantizeLinear") continue;
      if (ix.outputs.count(n.output(0)) || ix.readers.count(n.output(0))) continue;
      ix.g.mutable_node()->DeleteSubrange(i, 1);
      ix.scan();
      again = true;
    }
  }
}

}  // namespace

int fuse_qdq(onnx::GraphProto& g) {
  Index ix(g);
  int fused = 0;
  for (bool again = true; again;) {
    again = false;
    for (int i = 0; i < g.node_size() && !again; ++i) {
      const auto& n = g.node(i);
      if (!n.domain().empty() && n.domain() != "ai.onnx") continue;
      const std::string& op = n.op_type();
      again = op == "Conv"                       ? fuse_conv(ix, i)
              : (op == "MatMul" || op == "Gemm") ? fuse_matmul(ix, i)
              : (op == "Relu" || op == "Clip")   ? drop_activation(ix, i)
                                                 : fuse_passthrough(ix, i);
    }
    fused += again;
  }
  drop_unread(ix);
  fold_constant_dq(ix);
  drop_unread(ix);
  return fused;
}

}  // namespace npusim::compiler
