// Graph preparation (prepare.h): fixed dimensions, shape inference with data propagation and
// constant folding to a fixed point, Identity/Dropout and dead-node elimination, Conv+BN fusion.
// The folding evaluator follows the ONNX operator definitions (onnx/docs/Operators.md) with
// NumPy broadcasting; values are doubles, rounded to the output's type after every node.
#include "compiler/prepare.h"

#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "compiler/graph.h"
#include "compiler/onnx_values.h"
#include "compiler/qdq.h"
#include "compiler/recurrent.h"

namespace npusim::compiler {
namespace {

/// A constant during folding.
struct Value {
  int32_t type = onnx::TensorProto_DataType_FLOAT;  ///< ONNX data type
  std::vector<int64_t> dims;                        ///< shape
  std::vector<double> v;                            ///< row-major values
};

/// Largest tensor folding produces: bigger results stay nodes (the device computes them).
constexpr int64_t kMaxFoldedElements = int64_t{1} << 24;

int64_t product(const std::vector<int64_t>& d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

bool is_float(int32_t t) {
  return t == onnx::TensorProto_DataType_FLOAT || t == onnx::TensorProto_DataType_DOUBLE ||
         t == onnx::TensorProto_DataType_FLOAT16 || t == onnx::TensorProto_DataType_BFLOAT16;
}

/// Types a folded constant may have (make_tensor writes them).
bool writable(int32_t t) {
  switch (t) {
    case onnx::TensorProto_DataType_FLOAT:
    case onnx::TensorProto_DataType_DOUBLE:
    case onnx::TensorProto_DataType_INT64:
    case onnx::TensorProto_DataType_INT32:
    case onnx::TensorProto_DataType_INT8:
    case onnx::TensorProto_DataType_UINT8:
    case onnx::TensorProto_DataType_BOOL: return true;
    default: return false;
  }
}

/// Rounds every value to what `type` holds (float32, an integer's wrap-around, bool).
void round_to_type(Value& x) {
  for (double& e : x.v) {
    switch (x.type) {
      case onnx::TensorProto_DataType_FLOAT: e = static_cast<float>(e); break;
      case onnx::TensorProto_DataType_DOUBLE: break;
      case onnx::TensorProto_DataType_BOOL: e = e != 0; break;
      case onnx::TensorProto_DataType_INT32: e = static_cast<int32_t>(static_cast<int64_t>(e)); break;
      case onnx::TensorProto_DataType_INT8: e = static_cast<int8_t>(static_cast<int64_t>(e)); break;
      case onnx::TensorProto_DataType_UINT8: e = static_cast<uint8_t>(static_cast<int64_t>(e)); break;
      default: e = std::trunc(e); break;  // INT64
    }
  }
}

const onnx::AttributeProto* attr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t attr_i(const onnx::NodeProto& n, const char* name, int64_t def) {
  const auto* a = attr(n, name);
  return a ? a->i() : def;
}
std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const char* name) {
  const auto* a = attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

/// NumPy broadcasting of `shapes`; false when they do not broadcast.
bool broadcast_shape(const std::vector<std::vector<int64_t>>& shapes, std::vector<int64_t>& out) {
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  out.assign(rank, 1);
  for (const auto& s : shapes)
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[rank - s.size() + i];
      if (s[i] == o || s[i] == 1) continue;
      if (o != 1) return false;
      o = s[i];
    }
  return true;
}

/// For each element of `out_dims`, the flat index into a tensor of `dims` broadcast to it.
std::vector<int64_t> broadcast_indices(const std::vector<int64_t>& dims, const std::vector<int64_t>& out_dims) {
  const size_t rank = out_dims.size();
  std::vector<int64_t> stride(rank, 0);
  int64_t s = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    if (dims[i] != 1) stride[rank - dims.size() + i] = s;
    s *= dims[i];
  }
  const int64_t n = product(out_dims);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::vector<int64_t> pos(rank, 0);
  int64_t flat = 0;
  for (int64_t k = 0; k < n; ++k) {
    idx[static_cast<size_t>(k)] = flat;
    for (size_t i = rank; i-- > 0;) {  // next position, odometer style
      flat += stride[i];
      if (++pos[i] < out_dims[i]) break;
      flat -= stride[i] * out_dims[i];
      pos[i] = 0;
    }
  }
  return idx;
}

/// Element-wise `f` over broadcast inputs; false when they do not broadcast or are too big.
bool elementwise(const std::vector<const Value*>& in, int32_t out_type,
                 const std::function<double(const std::vector<double>&)>& f, Value& out) {
  std::vector<std::vector<int64_t>> shapes;
  for (const Value* x : in) shapes.push_back(x->dims);
  if (!broadcast_shape(shapes, out.dims) || product(out.dims) > kMaxFoldedElements) return false;
  out.type = out_type;
  std::vector<std::vector<int64_t>> idx;
  for (const Value* x : in) idx.push_back(broadcast_indices(x->dims, out.dims));
  const int64_t n = product(out.dims);
  out.v.resize(static_cast<size_t>(n));
  std::vector<double> args(in.size());
  for (int64_t k = 0; k < n; ++k) {
    for (size_t i = 0; i < in.size(); ++i) args[i] = in[i]->v[static_cast<size_t>(idx[i][static_cast<size_t>(k)])];
    out.v[static_cast<size_t>(k)] = f(args);
  }
  return true;
}

/// Normalizes a possibly negative axis for rank `r`; false when out of range.
bool axis_in(int64_t& a, int64_t r) {
  if (a < 0) a += r;
  return a >= 0 && a < r;
}

/// Row-major strides of `d`.
std::vector<int64_t> strides(const std::vector<int64_t>& d) {
  std::vector<int64_t> s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

/// Fills out.v for every position of out.dims, in row-major order, with the element of `a` at
/// flat index sum_i offset(i, pos[i]) (a strided view: Slice, Transpose, Tile).
void gather_positions(const Value& a, Value& out, const std::function<int64_t(size_t, int64_t)>& offset) {
  const int64_t total = product(out.dims);
  std::vector<int64_t> pos(out.dims.size(), 0);
  out.v.reserve(static_cast<size_t>(total));
  for (int64_t k = 0; k < total; ++k) {
    int64_t flat = 0;
    for (size_t i = 0; i < pos.size(); ++i) flat += offset(i, pos[i]);
    out.v.push_back(a.v[static_cast<size_t>(flat)]);
    for (size_t i = pos.size(); i-- > 0;) {  // next position, odometer style
      if (++pos[i] < out.dims[i]) break;
      pos[i] = 0;
    }
  }
}

/// Evaluates `n` on constant inputs (null for an omitted optional one); `shape_of` gives the
/// static shape of a non-constant input (Shape, Size). False: not folded (an operator or case
/// this evaluator does not cover, or a result too large).
bool evaluate(const onnx::NodeProto& n, const std::vector<const Value*>& in,
              const std::function<const std::vector<int64_t>*(const std::string&)>& shape_of, int64_t opset,
              Value& out) {
  const std::string& op = n.op_type();
  auto input = [&](size_t i) -> const Value* { return i < in.size() ? in[i] : nullptr; };
  auto ints_of = [](const Value* x) {
    std::vector<int64_t> r;
    for (double e : x->v) r.push_back(static_cast<int64_t>(e));
    return r;
  };
  if (op == "Shape" || op == "Size") {
    const std::vector<int64_t>* s = n.input_size() ? shape_of(n.input(0)) : nullptr;
    if (!s) return false;
    out.type = onnx::TensorProto_DataType_INT64;
    if (op == "Size") {
      out.dims = {};
      out.v = {static_cast<double>(product(*s))};
      return true;
    }
    const auto r = static_cast<int64_t>(s->size());
    int64_t start = attr_i(n, "start", 0), end = attr_i(n, "end", r);
    start = std::clamp(start < 0 ? start + r : start, int64_t{0}, r);
    end = std::clamp(end < 0 ? end + r : end, int64_t{0}, r);
    for (int64_t i = start; i < end; ++i) out.v.push_back(static_cast<double>((*s)[static_cast<size_t>(i)]));
    out.dims = {static_cast<int64_t>(out.v.size())};
    return true;
  }
  for (size_t i = 0; i < in.size(); ++i)
    if (!in[i] && i < static_cast<size_t>(n.input_size()) && !n.input(static_cast<int>(i)).empty()) return false;
  const Value* a = input(0);
  if (!a) return false;
  // Element-wise operators.
  static const std::map<std::string, std::function<double(double)>> unary = {
      {"Neg", [](double x) { return -x; }},
      {"Abs", [](double x) { return std::fabs(x); }},
      {"Sqrt", [](double x) { return std::sqrt(x); }},
      {"Reciprocal", [](double x) { return 1 / x; }},
      {"Floor", [](double x) { return std::floor(x); }},
      {"Ceil", [](double x) { return std::ceil(x); }},
      {"Exp", [](double x) { return std::exp(x); }},
      {"Log", [](double x) { return std::log(x); }},
      {"Relu", [](double x) { return x > 0 ? x : 0; }},
      {"Sign", [](double x) { return static_cast<double>((x > 0) - (x < 0)); }},
      {"Identity", [](double x) { return x; }},
      {"Not", [](double x) { return x == 0 ? 1.0 : 0.0; }},
  };
  if (auto u = unary.find(op); u != unary.end())
    return elementwise(
        {a}, op == "Not" ? onnx::TensorProto_DataType_BOOL : a->type,
        [&](const std::vector<double>& x) { return u->second(x[0]); }, out);
  const bool integer = !is_float(a->type);
  static const std::set<std::string> compare = {"Equal",          "Less", "Greater", "LessOrEqual",
                                                "GreaterOrEqual", "And",  "Or",      "Xor"};
  static const std::set<std::string> arith = {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min"};
  if ((compare.count(op) || arith.count(op)) && in.size() == 2 && input(1)) {
    const int64_t fmod = attr_i(n, "fmod", 0);
    auto f = [&](const std::vector<double>& x) -> double {
      const double p = x[0], q = x[1];
      if (op == "Equal") return p == q;
      if (op == "Less") return p < q;
      if (op == "Greater") return p > q;
      if (op == "LessOrEqual") return p <= q;
      if (op == "GreaterOrEqual") return p >= q;
      if (op == "And") return (p != 0) && (q != 0);
      if (op == "Or") return (p != 0) || (q != 0);
      if (op == "Xor") return (p != 0) != (q != 0);
      if (op == "Add") return p + q;
      if (op == "Sub") return p - q;
      if (op == "Mul") return p * q;
      if (op == "Div") return integer ? (q == 0 ? 0 : std::trunc(p / q)) : p / q;
      if (op == "Pow") return std::pow(p, q);
      if (op == "Max") return std::max(p, q);
      if (op == "Min") return std::min(p, q);
      // Mod: C's fmod with fmod=1; else the sign of the divisor, as Python's %.
      if (q == 0) return 0;
      const double r = std::fmod(p, q);
      return fmod || r == 0 || (r < 0) == (q < 0) ? r : r + q;
    };
    if (integer && op == "Div" && std::any_of(input(1)->v.begin(), input(1)->v.end(), [](double d) { return d == 0; }))
      return false;  // an integer division by zero is the model's bug, left for the device to report
    return elementwise({a, input(1)}, compare.count(op) ? onnx::TensorProto_DataType_BOOL : a->type, f, out);
  }
  if (op == "Where" && in.size() == 3 && input(1) && input(2))
    return elementwise(
        {a, input(1), input(2)}, input(1)->type, [](const std::vector<double>& x) { return x[0] != 0 ? x[1] : x[2]; },
        out);
  if (op == "Cast") {
    const auto to = static_cast<int32_t>(attr_i(n, "to", 0));
    if (!writable(to)) return false;
    const bool to_int = !is_float(to) && to != onnx::TensorProto_DataType_BOOL;
    return elementwise(
        {a}, to, [&](const std::vector<double>& x) { return to_int ? std::trunc(x[0]) : x[0]; }, out);
  }
  // Shape and layout operators.
  out.type = a->type;
  if (op == "ConstantOfShape") {
    out.dims = ints_of(a);
    if (std::any_of(out.dims.begin(), out.dims.end(), [](int64_t d) { return d < 0; }) ||
        product(out.dims) > kMaxFoldedElements)
      return false;
    double fill = 0;
    out.type = onnx::TensorProto_DataType_FLOAT;
    if (const auto* v = attr(n, "value"); v && v->has_t()) {
      const std::vector<double> f = values_of(v->t(), "node '" + n.name() + "' value");
      if (f.size() != 1) return false;
      fill = f[0], out.type = v->t().data_type();
    }
    out.v.assign(static_cast<size_t>(product(out.dims)), fill);
    return true;
  }
  if (op == "Range") {
    if (!input(1) || !input(2) || a->v.size() != 1 || input(1)->v.size() != 1 || input(2)->v.size() != 1) return false;
    const double start = a->v[0], limit = input(1)->v[0], delta = input(2)->v[0];
    if (delta == 0) return false;
    const double count = std::max(std::ceil((limit - start) / delta), 0.0);
    if (count > static_cast<double>(kMaxFoldedElements)) return false;
    for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) out.v.push_back(start + static_cast<double>(i) * delta);
    out.dims = {static_cast<int64_t>(out.v.size())};
    return true;
  }
  const auto rank = static_cast<int64_t>(a->dims.size());
  if (op == "Unsqueeze" || op == "Squeeze") {
    std::vector<int64_t> axes =
        opset >= 13 ? (input(1) ? ints_of(input(1)) : std::vector<int64_t>{}) : attr_ints(n, "axes");
    out.v = a->v;
    if (op == "Unsqueeze") {
      const int64_t r = rank + static_cast<int64_t>(axes.size());
      for (int64_t& x : axes)
        if (!axis_in(x, r)) return false;
      std::sort(axes.begin(), axes.end());
      out.dims = a->dims;
      for (int64_t x : axes) out.dims.insert(out.dims.begin() + x, 1);
      return true;
    }
    for (int64_t& x : axes)
      if (!axis_in(x, rank) || a->dims[static_cast<size_t>(x)] != 1) return false;
    for (int64_t i = 0; i < rank; ++i) {
      const bool drop =
          axes.empty() ? a->dims[static_cast<size_t>(i)] == 1 : std::find(axes.begin(), axes.end(), i) != axes.end();
      if (!drop) out.dims.push_back(a->dims[static_cast<size_t>(i)]);
    }
    return true;
  }
  if (op == "Reshape") {
    if (!input(1)) return false;
    std::vector<int64_t> shape = ints_of(input(1));
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] == 0 && !attr_i(n, "allowzero", 0)) {
        if (i >= a->dims.size()) return false;
        shape[i] = a->dims[i];
      }
      if (shape[i] == -1) {
        if (infer >= 0) return false;
        infer = static_cast<int64_t>(i);
      } else if (shape[i] < 0) {
        return false;
      } else {
        known *= shape[i];
      }
    }
    const int64_t total = static_cast<int64_t>(a->v.size());
    if (infer >= 0) {
      if (known == 0 || total % known) return false;
      shape[static_cast<size_t>(infer)] = total / known;
    }
    if (product(shape) != total) return false;
    out.dims = shape, out.v = a->v;
    return true;
  }
  if (op == "Concat") {
    int64_t axis = attr_i(n, "axis", 0);
    if (!axis_in(axis, rank)) return false;
    out.dims = a->dims;
    out.dims[static_cast<size_t>(axis)] = 0;
    for (const Value* x : in) {
      if (!x || x->dims.size() != a->dims.size()) return false;
      out.dims[static_cast<size_t>(axis)] += x->dims[static_cast<size_t>(axis)];
    }
    const int64_t outer = product(std::vector<int64_t>(a->dims.begin(), a->dims.begin() + axis));
    for (int64_t o = 0; o < outer; ++o)
      for (const Value* x : in) {
        const int64_t chunk = product(std::vector<int64_t>(x->dims.begin() + axis, x->dims.end()));
        out.v.insert(out.v.end(), x->v.begin() + o * chunk, x->v.begin() + (o + 1) * chunk);
      }
    return true;
  }
  if (op == "Gather") {
    const Value* indices = input(1);
    int64_t axis = attr_i(n, "axis", 0);
    if (!indices || !axis_in(axis, rank)) return false;
    const int64_t dim = a->dims[static_cast<size_t>(axis)];
    const int64_t outer = product(std::vector<int64_t>(a->dims.begin(), a->dims.begin() + axis));
    const int64_t inner = product(std::vector<int64_t>(a->dims.begin() + axis + 1, a->dims.end()));
    out.dims.assign(a->dims.begin(), a->dims.begin() + axis);
    out.dims.insert(out.dims.end(), indices->dims.begin(), indices->dims.end());
    out.dims.insert(out.dims.end(), a->dims.begin() + axis + 1, a->dims.end());
    if (product(out.dims) > kMaxFoldedElements) return false;
    for (int64_t o = 0; o < outer; ++o)
      for (double d : indices->v) {
        auto i = static_cast<int64_t>(d);
        if (i < 0) i += dim;
        if (i < 0 || i >= dim) return false;
        const auto at = a->v.begin() + (o * dim + i) * inner;
        out.v.insert(out.v.end(), at, at + inner);
      }
    return true;
  }
  if (op == "Slice") {
    std::vector<int64_t> starts, ends, axes, steps;
    if (opset >= 10) {
      if (!input(1) || !input(2)) return false;
      starts = ints_of(input(1)), ends = ints_of(input(2));
      if (input(3)) axes = ints_of(input(3));
      if (input(4)) steps = ints_of(input(4));
    } else {
      starts = attr_ints(n, "starts"), ends = attr_ints(n, "ends"), axes = attr_ints(n, "axes");
    }
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) return false;
    std::vector<int64_t> first(static_cast<size_t>(rank), 0), step(static_cast<size_t>(rank), 1);
    out.dims = a->dims;
    for (size_t k = 0; k < starts.size(); ++k) {
      int64_t ax = axes[k];
      if (!axis_in(ax, rank) || steps[k] == 0) return false;
      const int64_t d = a->dims[static_cast<size_t>(ax)], st = steps[k];
      // Clamped as the Slice definition says: [0, d] stepping forward; stepping backward, the
      // start to [0, d - 1] and the end to [-1, d - 1].
      auto clampi = [&](int64_t x, bool is_end) {
        if (x < 0) x += d;
        return st > 0 ? std::clamp(x, int64_t{0}, d) : std::clamp(x, is_end ? int64_t{-1} : int64_t{0}, d - 1);
      };
      const int64_t s = clampi(starts[k], false), e = clampi(ends[k], true);
      const int64_t count =
          st > 0 ? std::max<int64_t>(0, (e - s + st - 1) / st) : std::max<int64_t>(0, (s - e - st - 1) / -st);
      first[static_cast<size_t>(ax)] = s, step[static_cast<size_t>(ax)] = st;
      out.dims[static_cast<size_t>(ax)] = count;
    }
    const std::vector<int64_t> sa = strides(a->dims);
    gather_positions(*a, out, [&](size_t i, int64_t p) { return (first[i] + p * step[i]) * sa[i]; });
    return true;
  }
  if (op == "Transpose") {
    std::vector<int64_t> perm = attr_ints(n, "perm");
    if (perm.empty())
      for (int64_t i = rank; i-- > 0;) perm.push_back(i);
    if (static_cast<int64_t>(perm.size()) != rank) return false;
    const std::vector<int64_t> sa = strides(a->dims);
    for (int64_t p : perm) {
      if (p < 0 || p >= rank) return false;
      out.dims.push_back(a->dims[static_cast<size_t>(p)]);
    }
    gather_positions(*a, out, [&](size_t i, int64_t p) { return p * sa[static_cast<size_t>(perm[i])]; });
    return true;
  }
  if (op == "Expand") {
    if (!input(1)) return false;
    Value shape;
    shape.dims = ints_of(input(1));
    if (std::any_of(shape.dims.begin(), shape.dims.end(), [](int64_t d) { return d < 0; })) return false;
    shape.v.assign(static_cast<size_t>(product(shape.dims)), 0);
    return elementwise(
        {a, &shape}, a->type, [](const std::vector<double>& x) { return x[0]; }, out);
  }
  if (op == "Tile") {
    if (!input(1)) return false;
    const std::vector<int64_t> reps = ints_of(input(1));
    if (static_cast<int64_t>(reps.size()) != rank) return false;
    for (int64_t i = 0; i < rank; ++i)
      out.dims.push_back(a->dims[static_cast<size_t>(i)] * reps[static_cast<size_t>(i)]);
    if (product(out.dims) > kMaxFoldedElements) return false;
    const std::vector<int64_t> sa = strides(a->dims);
    gather_positions(*a, out, [&](size_t i, int64_t p) { return (p % a->dims[i]) * sa[i]; });
    return true;
  }
  return false;
}

/// The graph as the passes edit it: initializers indexed and decoded on demand, static shapes known,
/// and the graph outputs (which stay computed).
struct Editor {
  onnx::GraphProto& g;
  std::unordered_map<std::string, int> initializer_at;           ///< name -> index in g.initializer
  std::unordered_map<std::string, Value> constants;              ///< decoded initializers and folded values
  std::unordered_map<std::string, std::vector<int64_t>> shapes;  ///< static shapes known
  std::unordered_set<std::string> outputs;                       ///< graph output names

  explicit Editor(onnx::GraphProto& graph) : g(graph) {
    for (const auto& o : g.output()) outputs.insert(o.name());
  }
  /// The constant `name` (an initializer, decoded on first use: a model's weights are read only
  /// when a node to fold or fuse needs them); null when it is not one.
  const Value* constant(const std::string& name) {
    if (auto it = constants.find(name); it != constants.end()) return &it->second;
    auto at = initializer_at.find(name);
    if (at == initializer_at.end()) return nullptr;
    const onnx::TensorProto& t = g.initializer(at->second);
    if (!readable_type(t.data_type())) return nullptr;
    Value v;
    v.type = t.data_type();
    v.dims.assign(t.dims().begin(), t.dims().end());
    v.v = values_of(t, "initializer '" + t.name() + "'");
    return &constants.emplace(name, std::move(v)).first->second;
  }
  /// Indexes the initializers and notes the shapes shape inference found.
  void scan() {
    initializer_at.clear(), constants.clear(), shapes.clear();
    for (int i = 0; i < g.initializer_size(); ++i) {
      const auto& t = g.initializer(i);
      element_count(t, "initializer '" + t.name() + "'");  // impossible dims are an error, used or not
      initializer_at[t.name()] = i;
      shapes[t.name()].assign(t.dims().begin(), t.dims().end());
    }
    auto note = [&](const onnx::ValueInfoProto& vi) {
      if (!vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape()) return;
      std::vector<int64_t> d;
      for (const auto& dim : vi.type().tensor_type().shape().dim()) {
        if (!dim.has_dim_value() || dim.dim_value() < 0) return;
        d.push_back(dim.dim_value());
      }
      shapes.emplace(vi.name(), d);
    };
    for (const auto& vi : g.input()) note(vi);
    for (const auto& vi : g.value_info()) note(vi);
    for (const auto& vi : g.output()) note(vi);
  }
  /// Renames every use of tensor `from` (node inputs) to `to`.
  void rename_uses(const std::string& from, const std::string& to) {
    for (auto& n : *g.mutable_node())
      for (auto& i : *n.mutable_input())
        if (i == from) i = to;
  }
  /// Removes the nodes whose index is in `gone`.
  void erase(const std::set<int>& gone) {
    google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
    for (int i = 0; i < g.node_size(); ++i)
      if (!gone.count(i)) *kept.Add() = g.node(i);
    g.mutable_node()->Swap(&kept);
  }
};

/// Constant nodes become initializers (value, value_float(s), value_int(s)).
int constants_to_initializers(Editor& e) {
  std::set<int> gone;
  for (int i = 0; i < e.g.node_size(); ++i) {
    const auto& n = e.g.node(i);
    if (n.op_type() != "Constant" || n.output_size() != 1 || e.outputs.count(n.output(0))) continue;
    onnx::TensorProto t;
    if (const auto* a = attr(n, "value"); a && a->has_t()) {
      t = a->t();
    } else if ((a = attr(n, "value_float"))) {
      t = make_tensor("", onnx::TensorProto_DataType_FLOAT, {}, {a->f()});
    } else if ((a = attr(n, "value_floats"))) {
      t = make_tensor("", onnx::TensorProto_DataType_FLOAT, {a->floats_size()},
                      std::vector<double>(a->floats().begin(), a->floats().end()));
    } else if ((a = attr(n, "value_int"))) {
      t = make_tensor("", onnx::TensorProto_DataType_INT64, {}, {static_cast<double>(a->i())});
    } else if ((a = attr(n, "value_ints"))) {
      std::vector<double> v;
      for (int64_t x : a->ints()) v.push_back(static_cast<double>(x));
      t = make_tensor("", onnx::TensorProto_DataType_INT64, {static_cast<int64_t>(v.size())}, v);
    } else {
      continue;  // sparse_value, strings: left to the importer's checks
    }
    t.set_name(n.output(0));
    *e.g.add_initializer() = t;
    gone.insert(i);
  }
  e.erase(gone);
  return static_cast<int>(gone.size());
}

/// The operators evaluate() folds.
const std::set<std::string> kFoldable = {"Shape",
                                         "Size",
                                         "Neg",
                                         "Abs",
                                         "Sqrt",
                                         "Reciprocal",
                                         "Floor",
                                         "Ceil",
                                         "Exp",
                                         "Log",
                                         "Relu",
                                         "Sign",
                                         "Identity",
                                         "Not",
                                         "Equal",
                                         "Less",
                                         "Greater",
                                         "LessOrEqual",
                                         "GreaterOrEqual",
                                         "And",
                                         "Or",
                                         "Xor",
                                         "Add",
                                         "Sub",
                                         "Mul",
                                         "Div",
                                         "Pow",
                                         "Mod",
                                         "Max",
                                         "Min",
                                         "Where",
                                         "Cast",
                                         "ConstantOfShape",
                                         "Range",
                                         "Unsqueeze",
                                         "Squeeze",
                                         "Reshape",
                                         "Concat",
                                         "Gather",
                                         "Slice",
                                         "Transpose",
                                         "Expand",
                                         "Tile"};

/// One pass of folding in topological order (a value folded early feeds later nodes).
int fold(Editor& e, int64_t opset) {
  std::set<int> gone;
  auto shape_of = [&](const std::string& name) -> const std::vector<int64_t>* {
    auto it = e.shapes.find(name);
    return it == e.shapes.end() ? nullptr : &it->second;
  };
  for (int i = 0; i < e.g.node_size(); ++i) {
    const auto& n = e.g.node(i);
    if (!n.domain().empty() && n.domain() != "ai.onnx") continue;
    if (n.output_size() != 1 || e.outputs.count(n.output(0))) continue;  // graph outputs stay computed
    if (!kFoldable.count(n.op_type())) continue;
    std::vector<const Value*> in;
    const bool needs_values = n.op_type() != "Shape" && n.op_type() != "Size";
    for (const auto& name : n.input()) in.push_back(name.empty() || !needs_values ? nullptr : e.constant(name));
    Value out;
    if (!evaluate(n, in, shape_of, opset, out) || !writable(out.type) || product(out.dims) > kMaxFoldedElements)
      continue;
    round_to_type(out);
    *e.g.add_initializer() = make_tensor(n.output(0), out.type, out.dims, out.v);
    e.shapes[n.output(0)] = out.dims;
    e.constants[n.output(0)] = std::move(out);
    gone.insert(i);
  }
  e.erase(gone);
  return static_cast<int>(gone.size());
}

/// Identity, and Dropout (inference: an identity) whose mask nobody reads, disappear.
int drop_identities(Editor& e) {
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < e.g.node_size(); ++i)
    for (const auto& o : e.g.node(i).output()) producer[o] = i;
  std::set<int> gone;
  for (int i = 0; i < e.g.node_size(); ++i) {
    const auto& n = e.g.node(i);
    const bool identity =
        n.op_type() == "Identity" || (n.op_type() == "Dropout" && (n.output_size() < 2 || n.output(1).empty()));
    if (!identity || n.input_size() < 1 || n.input(0).empty()) continue;
    const std::string in = n.input(0), out = n.output(0);
    if (!e.outputs.count(out)) {
      e.rename_uses(out, in);
    } else if (producer.count(in) && !e.outputs.count(in) && !gone.count(producer[in])) {
      // The output keeps its name: the producer writes it directly.
      for (auto& o : *e.g.mutable_node(producer[in])->mutable_output())
        if (o == in) o = out;
      e.rename_uses(in, out);
    } else {
      continue;  // a graph input or initializer passed straight out: the node stays
    }
    gone.insert(i);
  }
  e.erase(gone);
  return static_cast<int>(gone.size());
}

/// Nodes none of whose outputs reach a graph output are dropped.
int drop_dead(Editor& e) {
  std::unordered_set<std::string> live(e.outputs.begin(), e.outputs.end());
  std::set<int> gone;
  for (int i = e.g.node_size(); i-- > 0;) {
    const auto& n = e.g.node(i);
    const bool used =
        std::any_of(n.output().begin(), n.output().end(), [&](const std::string& o) { return live.count(o); });
    if (!used) {
      gone.insert(i);
      continue;
    }
    for (const auto& in : n.input()) live.insert(in);
  }
  e.erase(gone);
  // Initializers nothing reads any more (folded shape arithmetic) go too, with their input entries.
  google::protobuf::RepeatedPtrField<onnx::TensorProto> inits;
  for (const auto& t : e.g.initializer())
    if (live.count(t.name())) *inits.Add() = t;
  e.g.mutable_initializer()->Swap(&inits);
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
  std::unordered_set<std::string> init_names;
  for (const auto& t : e.g.initializer()) init_names.insert(t.name());
  for (const auto& vi : e.g.input())
    if (live.count(vi.name()) || !init_names.count(vi.name())) *inputs.Add() = vi;  // real inputs always stay
  e.g.mutable_input()->Swap(&inputs);
  return static_cast<int>(gone.size());
}

/// Conv -> BatchNormalization with constant parameters: the normalization folded into the
/// convolution's weights and bias, w' = w * s and b' = (b - mean) * s + beta per output channel,
/// s = scale / sqrt(var + eps) (the inference form of BatchNormalization).
int fuse_batchnorm(Editor& e) {
  std::unordered_map<std::string, int> uses, producer;
  for (int i = 0; i < e.g.node_size(); ++i) {
    for (const auto& in : e.g.node(i).input()) ++uses[in];
    for (const auto& o : e.g.node(i).output()) producer[o] = i;
  }
  std::set<int> gone;
  for (int i = 0; i < e.g.node_size(); ++i) {
    const onnx::NodeProto& bn = e.g.node(i);
    if (bn.op_type() != "BatchNormalization" || bn.input_size() != 5 || bn.output_size() != 1) continue;
    auto p = producer.find(bn.input(0));
    if (p == producer.end() || gone.count(p->second)) continue;
    onnx::NodeProto& conv = *e.g.mutable_node(p->second);
    if (conv.op_type() != "Conv" || uses[bn.input(0)] != 1 || e.outputs.count(bn.input(0))) continue;
    const Value* w = e.constant(conv.input(1));
    const Value* b = conv.input_size() > 2 ? e.constant(conv.input(2)) : nullptr;
    if (!w || (conv.input_size() > 2 && !b) || w->type != onnx::TensorProto_DataType_FLOAT || w->dims.empty()) continue;
    const Value *scale = nullptr, *beta = nullptr, *mean = nullptr, *var = nullptr;
    for (auto [slot, k] : {std::pair{&scale, 1}, {&beta, 2}, {&mean, 3}, {&var, 4}}) *slot = e.constant(bn.input(k));
    const int64_t co = w->dims[0];
    auto per_channel = [&](const Value* v) {
      return v && v->type == onnx::TensorProto_DataType_FLOAT && static_cast<int64_t>(v->v.size()) == co;
    };
    if (!per_channel(scale) || !per_channel(beta) || !per_channel(mean) || !per_channel(var) || (b && !per_channel(b)))
      continue;
    const double eps = attr(bn, "epsilon") ? attr(bn, "epsilon")->f() : 1e-5;
    Value nw = *w, nb;
    nb.type = onnx::TensorProto_DataType_FLOAT, nb.dims = {co}, nb.v.resize(static_cast<size_t>(co));
    const int64_t per = static_cast<int64_t>(w->v.size()) / co;
    for (int64_t c = 0; c < co; ++c) {
      const auto k = static_cast<size_t>(c);
      const double s = static_cast<float>(scale->v[k] / std::sqrt(var->v[k] + eps));
      for (int64_t j = 0; j < per; ++j) nw.v[static_cast<size_t>(c * per + j)] *= s;
      nb.v[k] = ((b ? b->v[k] : 0) - mean->v[k]) * s + beta->v[k];
    }
    round_to_type(nw), round_to_type(nb);
    const std::string base = bn.output(0);
    *e.g.add_initializer() = make_tensor(base + "__bn_weight", nw.type, nw.dims, nw.v);
    *e.g.add_initializer() = make_tensor(base + "__bn_bias", nb.type, nb.dims, nb.v);
    conv.set_input(1, base + "__bn_weight");
    if (conv.input_size() > 2)
      conv.set_input(2, base + "__bn_bias");
    else
      conv.add_input(base + "__bn_bias");
    conv.set_output(0, base);
    gone.insert(i);
  }
  e.erase(gone);
  return static_cast<int>(gone.size());
}

/// The decomposed LayerNormalization exporters emit before opset 17 (torch's nn.LayerNorm at opset
/// 13/14), fused into one LayerNormalization node:
///   m = ReduceMean(x, tail axes), d = Sub(x, m), p = Pow(d, 2) or Mul(d, d), v = ReduceMean(p, same axes),
///   s = Sqrt(Add(v, eps)), n = Div(d, s) [, Mul(n, scale)] [, Add(., bias)]
/// is by definition LayerNormalization(x, scale (ones when absent), bias, axis, epsilon = eps).
/// Only when every intermediate has no other use and is no graph output, the reductions keep
/// dims over the same trailing axes, the exponent is the constant 2, eps a constant scalar, and
/// scale and bias have the normalized shape (so the Mul and Add do not broadcast X further).
/// Runs after the last shape inference: the fused node may be newer than the model's opset.
int fuse_layernorm(Editor& e) {
  std::unordered_map<std::string, int> uses, producer;
  for (int i = 0; i < e.g.node_size(); ++i) {
    for (const auto& in : e.g.node(i).input()) ++uses[in];
    for (const auto& o : e.g.node(i).output()) producer[o] = i;
  }
  std::unordered_map<std::string, std::vector<int>> consumers;
  for (int i = 0; i < e.g.node_size(); ++i)
    for (const auto& in : e.g.node(i).input()) consumers[in].push_back(i);
  std::set<int> gone;
  // The single consumer of `t` when it has one use and is internal; -1 otherwise.
  auto only_consumer = [&](const std::string& t) {
    if (e.outputs.count(t) || uses[t] != 1 || consumers[t].size() != 1) return -1;
    return gone.count(consumers[t][0]) ? -1 : consumers[t][0];
  };
  auto scalar = [&](const std::string& t, double& v) {
    const Value* c = e.constant(t);
    if (!c || !is_float(c->type) || c->v.size() != 1) return false;
    v = c->v[0];
    return true;
  };
  auto shape_of = [&](const std::string& t) -> const std::vector<int64_t>* {
    auto it = e.shapes.find(t);
    return it == e.shapes.end() ? nullptr : &it->second;
  };
  // The other input of binary node b (the one that is not `t`), or "" when both or neither are.
  auto other = [&](const onnx::NodeProto& b, const std::string& t) -> std::string {
    if (b.input_size() != 2) return "";
    if (b.input(0) == t && b.input(1) != t) return b.input(1);
    if (b.input(1) == t && b.input(0) != t) return b.input(0);
    return "";
  };
  int fused = 0;
  std::vector<onnx::NodeProto> added;
  for (int i = 0; i < e.g.node_size(); ++i) {
    const onnx::NodeProto& rm1 = e.g.node(i);
    if (rm1.op_type() != "ReduceMean" || rm1.input_size() != 1 || gone.count(i) || attr_i(rm1, "keepdims", 1) != 1)
      continue;
    const std::string x = rm1.input(0), m = rm1.output(0);
    const std::vector<int64_t>* xs = shape_of(x);
    if (!xs || xs->empty()) continue;
    const auto rank = static_cast<int64_t>(xs->size());
    std::vector<int64_t> axes = attr_ints(rm1, "axes");
    for (int64_t& a : axes) a = a < 0 ? a + rank : a;
    std::sort(axes.begin(), axes.end());
    if (axes.empty() || axes.back() != rank - 1) continue;
    bool tail = true;
    for (size_t k = 0; k < axes.size(); ++k) tail = tail && axes[k] == rank - static_cast<int64_t>(axes.size() - k);
    if (!tail) continue;
    const int64_t axis = axes.front();
    const int sub_i = only_consumer(m);
    if (sub_i < 0) continue;
    const onnx::NodeProto& sub = e.g.node(sub_i);
    if (sub.op_type() != "Sub" || sub.input_size() != 2 || sub.input(0) != x || sub.input(1) != m) continue;
    const std::string d = sub.output(0);
    // d's other uses: the square (Pow(d, 2), or Mul(d, d), which lists d twice) and the Div.
    if (e.outputs.count(d)) continue;
    int pow_i = -1, div_i = -1;
    for (int c : consumers[d]) {
      const std::string& op = e.g.node(c).op_type();
      if (op == "Pow" || op == "Mul") pow_i = c;
      if (op == "Div") div_i = c;
    }
    if (pow_i < 0 || div_i < 0 || gone.count(pow_i) || gone.count(div_i)) continue;
    const onnx::NodeProto &pw = e.g.node(pow_i), &dv = e.g.node(div_i);
    const bool mul_square = pw.op_type() == "Mul";
    if (uses[d] != (mul_square ? 3 : 2) || consumers[d].size() != (mul_square ? 3u : 2u)) continue;
    double two = 0, eps = 0;
    if (pw.input_size() != 2 || pw.input(0) != d) continue;
    if (mul_square ? pw.input(1) != d : !scalar(pw.input(1), two) || two != 2.0) continue;
    const int rm2_i = only_consumer(pw.output(0));
    if (rm2_i < 0) continue;
    const onnx::NodeProto& rm2 = e.g.node(rm2_i);
    std::vector<int64_t> axes2 = attr_ints(rm2, "axes");
    for (int64_t& a : axes2) a = a < 0 ? a + rank : a;
    std::sort(axes2.begin(), axes2.end());
    if (rm2.op_type() != "ReduceMean" || rm2.input_size() != 1 || axes2 != axes || attr_i(rm2, "keepdims", 1) != 1)
      continue;
    const int add_i = only_consumer(rm2.output(0));
    if (add_i < 0) continue;
    const onnx::NodeProto& add = e.g.node(add_i);
    if (add.op_type() != "Add" || !scalar(other(add, rm2.output(0)), eps)) continue;
    const int sqrt_i = only_consumer(add.output(0));
    if (sqrt_i < 0 || e.g.node(sqrt_i).op_type() != "Sqrt") continue;
    const std::string s = e.g.node(sqrt_i).output(0);
    if (only_consumer(s) != div_i || dv.input_size() != 2 || dv.input(0) != d || dv.input(1) != s) continue;
    // Optional scale and bias, each with the normalized shape.
    const std::vector<int64_t> normalized(xs->begin() + axis, xs->end());
    auto normalized_shape = [&](const std::string& t) {
      const std::vector<int64_t>* ts = shape_of(t);
      if (!ts || ts->size() > normalized.size()) return false;
      int64_t count = 1;
      for (int64_t v : *ts) count *= v;
      return count == product(normalized) &&
             std::equal(ts->rbegin(), ts->rend(), normalized.rbegin(), [](int64_t a, int64_t b) { return a == b; });
    };
    std::vector<int> chain = {i, sub_i, pow_i, rm2_i, add_i, sqrt_i, div_i};
    std::string y = dv.output(0), scale, bias;
    if (int k = only_consumer(y); k >= 0 && e.g.node(k).op_type() == "Mul") {
      const std::string g = other(e.g.node(k), y);
      if (!g.empty() && normalized_shape(g)) scale = g, chain.push_back(k), y = e.g.node(k).output(0);
    }
    if (int k = only_consumer(y); k >= 0 && e.g.node(k).op_type() == "Add") {
      const std::string b = other(e.g.node(k), y);
      if (!b.empty() && normalized_shape(b)) bias = b, chain.push_back(k), y = e.g.node(k).output(0);
    }
    if (scale.empty()) {  // LayerNormalization's Scale is required: ones
      scale = y + "__ln_scale";
      *e.g.add_initializer() = make_tensor(scale, onnx::TensorProto_DataType_FLOAT, normalized,
                                           std::vector<double>(static_cast<size_t>(product(normalized)), 1.0));
    }
    onnx::NodeProto ln;
    ln.set_op_type("LayerNormalization");
    ln.set_name(e.g.node(chain.back()).name().empty() ? y : e.g.node(chain.back()).name());
    ln.add_input(x);
    ln.add_input(scale);
    if (!bias.empty()) ln.add_input(bias);
    ln.add_output(y);
    auto* a = ln.add_attribute();
    a->set_name("axis"), a->set_type(onnx::AttributeProto::INT), a->set_i(axis);
    a = ln.add_attribute();
    a->set_name("epsilon"), a->set_type(onnx::AttributeProto::FLOAT), a->set_f(static_cast<float>(eps));
    added.push_back(ln);
    gone.insert(chain.begin(), chain.end());
    ++fused;
  }
  if (!fused) return 0;
  // Each fused node takes the place of its chain's last node (the topological order holds: its
  // inputs are x, constants or values produced before that node).
  std::unordered_map<std::string, onnx::NodeProto> by_output;
  for (auto& ln : added) by_output[ln.output(0)] = ln;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (int i = 0; i < e.g.node_size(); ++i) {
    const onnx::NodeProto& n = e.g.node(i);
    if (!gone.count(i)) {
      *kept.Add() = n;
      continue;
    }
    for (const auto& o : n.output())
      if (auto it = by_output.find(o); it != by_output.end()) *kept.Add() = it->second;
  }
  e.g.mutable_node()->Swap(&kept);
  return fused;
}

void infer(onnx::ModelProto& model, const std::string& path) {
  model.mutable_graph()->clear_value_info();  // inferred afresh: stale unknown dims must not stick
  try {
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, true));
  } catch (const std::exception& e) {
    throw CompileError(path + ": the ONNX checker or shape inference rejected the model: " + e.what());
  }
}

}  // namespace

PrepareReport prepare_model(onnx::ModelProto& model, const std::map<std::string, int64_t>& dims,
                            const std::string& path) {
  onnx::GraphProto& g = *model.mutable_graph();
  // Named dimensions first: they decide every shape below.
  std::set<std::string> named, used;
  for (auto* list : {g.mutable_input(), g.mutable_output()})
    for (auto& vi : *list) {
      if (!vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape()) continue;
      for (auto& d : *vi.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim()) {
        if (!d.has_dim_param()) continue;
        named.insert(d.dim_param());
        auto it = dims.find(d.dim_param());
        if (it == dims.end()) continue;
        used.insert(it->first);
        d.set_dim_value(it->second);
      }
    }
  for (const auto& [name, value] : dims)
    if (!used.count(name)) {
      std::string have;
      for (const auto& n : named) have += (have.empty() ? "" : ", ") + n;
      throw CompileError(path + ": --dim " + name + "=" + std::to_string(value) + ": the model has no dimension '" +
                         name + "' (" + (have.empty() ? "its inputs have no named dimensions" : "it has: " + have) +
                         ")");
    }
  int64_t opset = 0;
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  PrepareReport r;
  Editor e(g);
  r.folded += constants_to_initializers(e);
  // Each round: shapes with data propagation, then folding (which may make more shapes static).
  for (int round = 0; round < 32; ++round) {
    ++r.iterations;
    infer(model, path);
    e.scan();
    const int folded = fold(e, opset);
    const int removed = drop_identities(e) + drop_dead(e);
    e.scan();
    const int fused = fuse_batchnorm(e);
    r.folded += folded, r.removed += removed, r.fused_bn += fused;
    // At the fixed point (initial states folded), LSTM/GRU/RNN are unrolled; their nodes go round again.
    if (folded + removed + fused == 0 && unroll_recurrent(g, e.shapes, path) == 0) break;
  }
  e.scan();
  r.fused_ln = fuse_layernorm(e);
  fuse_qdq(g);  // QDQ node groups to integer operators (qdq.h), on the static shapes
  return r;
}

}  // namespace npusim::compiler
