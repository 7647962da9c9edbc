// Reference kernels for host fallback, in double precision on values read from (and rounded back
// to, with round-to-nearest-even) the device type.
#include "compiler/host_kernels.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>

namespace npusim::compiler {
namespace {

const std::map<std::string, std::function<double(double, const Node&)>>& unary_ops() {
  static const std::map<std::string, std::function<double(double, const Node&)>> ops = {
      {"Sigmoid", [](double x, const Node&) { return 1.0 / (1.0 + std::exp(-x)); }},
      {"Tanh", [](double x, const Node&) { return std::tanh(x); }},
      {"Exp", [](double x, const Node&) { return std::exp(x); }},
      {"Log", [](double x, const Node&) { return std::log(x); }},
      {"Sqrt", [](double x, const Node&) { return std::sqrt(x); }},
      {"Neg", [](double x, const Node&) { return -x; }},
      {"Abs", [](double x, const Node&) { return std::abs(x); }},
      {"Reciprocal", [](double x, const Node&) { return 1.0 / x; }},
      {"Softplus", [](double x, const Node&) { return std::log1p(std::exp(x)); }},
      {"LeakyRelu", [](double x, const Node& n) { return x < 0 ? n.attr_f("alpha", 0.01f) * x : x; }},
      {"Elu", [](double x, const Node& n) { return x < 0 ? n.attr_f("alpha", 1.0f) * (std::exp(x) - 1) : x; }},
      {"Erf", [](double x, const Node&) { return std::erf(x); }},
  };
  return ops;
}

const std::map<std::string, std::function<double(double, double)>>& binary_ops() {
  static const std::map<std::string, std::function<double(double, double)>> ops = {
      {"Div", [](double a, double b) { return a / b; }},
      {"Pow", [](double a, double b) { return std::pow(a, b); }},
      {"Max", [](double a, double b) { return std::max(a, b); }},
      {"Min", [](double a, double b) { return std::min(a, b); }},
      {"Sum", [](double a, double b) { return a + b; }},
      {"Mean", [](double a, double b) { return a + b; }},  // divided by the input count afterwards
  };
  return ops;
}

int64_t count(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

/// Reads a tensor from device memory as doubles.
std::vector<double> read(const HostTensor& t, isa::TensorType dev, const std::vector<std::vector<uint8_t>>& regions) {
  std::vector<double> v(static_cast<size_t>(count(t.shape)));
  const uint8_t* p = regions.at(t.region).data() + t.offset;
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t b;
    std::memcpy(&b, p + 2 * i, 2);
    v[i] = dev == isa::TensorType::FP16 ? static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(b))
                                        : static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(b));
  }
  return v;
}

/// Writes doubles to device memory, rounding to the device type.
void write(const HostTensor& t, isa::TensorType dev, const std::vector<double>& v,
           std::vector<std::vector<uint8_t>>& regions) {
  uint8_t* p = regions.at(t.region).data() + t.offset;
  for (size_t i = 0; i < v.size(); ++i) {
    const auto f = static_cast<float>(v[i]);
    const uint16_t b = dev == isa::TensorType::FP16 ? Eigen::numext::bit_cast<uint16_t>(Eigen::half(f))
                                                    : Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(f));
    std::memcpy(p + 2 * i, &b, 2);
  }
}

/// Softmax / LogSoftmax over `axis`; before opset 13 the input is coerced to 2-D at `axis`.
std::vector<double> softmax(const std::vector<double>& x, const std::vector<int64_t>& shape, int64_t axis, bool coerce,
                            bool log) {
  const auto rank = static_cast<int64_t>(shape.size());
  if (axis < 0) axis += rank;
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis)
      outer *= shape[d];
    else if (coerce || d == axis)
      len *= shape[d];
    else
      inner *= shape[d];
  }
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return (o * len + k) * inner + i; };
      double mx = -INFINITY, sum = 0;
      for (int64_t k = 0; k < len; ++k) mx = std::max(mx, x[at(k)]);
      for (int64_t k = 0; k < len; ++k) sum += std::exp(x[at(k)] - mx);
      for (int64_t k = 0; k < len; ++k) y[at(k)] = log ? x[at(k)] - mx - std::log(sum) : std::exp(x[at(k)] - mx) / sum;
    }
  return y;
}

std::vector<int64_t> perm_of(const Node& n, size_t rank) {
  auto it = n.attrs.find("perm");
  std::vector<int64_t> perm;
  if (it != n.attrs.end() && !it->second.ints.empty())
    perm = it->second.ints;
  else
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
  return perm;
}

}  // namespace

const std::vector<std::string>& host_operators() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v = {"Softmax", "LogSoftmax", "Transpose"};
    for (const auto& [k, f] : unary_ops()) v.push_back(k);
    for (const auto& [k, f] : binary_ops()) v.push_back(k);
    return v;
  }();
  return ops;
}

bool has_host_kernel(const std::string& op) {
  const auto& ops = host_operators();
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

void check_host_op(const Node& n, const Graph& g, int64_t) {
  if (n.op == "Transpose") {
    const size_t rank = g.tensor(n.inputs.at(0)).shape.size();
    std::vector<int64_t> sorted = perm_of(n, rank);
    std::sort(sorted.begin(), sorted.end());
    bool ok = sorted.size() == rank;
    for (size_t i = 0; ok && i < sorted.size(); ++i) ok = sorted[i] == static_cast<int64_t>(i);
    if (!ok)
      throw CompileError("node '" + n.name + "' (Transpose): perm is not a permutation of the " + std::to_string(rank) +
                         " axes of its input");
  }
}

std::vector<double> broadcast_to(const std::vector<double>& v, const std::vector<int64_t>& shape,
                                 const std::vector<int64_t>& out_shape) {
  const size_t rank = out_shape.size();
  std::vector<int64_t> st(rank, 0);  // right-aligned strides; 0 where broadcast
  int64_t acc = 1;
  for (size_t k = 0; k < shape.size(); ++k) {
    const size_t d = rank - 1 - k, sd = shape.size() - 1 - k;
    st[d] = shape[sd] == 1 ? 0 : acc;
    acc *= shape[sd];
  }
  std::vector<double> r(static_cast<size_t>(count(out_shape)));
  std::vector<int64_t> idx(rank + 1, 0);  // one spare slot keeps rank-0 well defined
  for (size_t o = 0; o < r.size(); ++o) {
    int64_t i = 0;
    for (size_t d = 0; d < rank; ++d) i += idx[d] * st[d];
    r[o] = v[static_cast<size_t>(i)];
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return r;
}

std::vector<double> host_kernel(const Node& n, int64_t opset, const std::vector<std::vector<double>>& ins,
                                const std::vector<std::vector<int64_t>>& in_shapes,
                                const std::vector<int64_t>& out_shape) {
  const auto& x = ins.at(0);
  const auto& xs = in_shapes.at(0);
  std::vector<double> y(static_cast<size_t>(count(out_shape)));
  if (auto u = unary_ops().find(n.op); u != unary_ops().end()) {
    for (size_t i = 0; i < x.size(); ++i) y[i] = u->second(x[i], n);
  } else if (n.op == "Softmax" || n.op == "LogSoftmax") {
    const bool coerce = opset < 13;
    y = softmax(x, xs, n.attr_i("axis", coerce ? 1 : -1), coerce, n.op == "LogSoftmax");
  } else if (n.op == "Transpose" && xs.size() <= 1) {
    y = x;  // nothing to permute
  } else if (n.op == "Transpose") {
    const auto perm = perm_of(n, xs.size());
    const size_t rank = xs.size();
    std::vector<int64_t> in_stride(rank, 1);
    for (size_t d = rank; d-- > 1;) in_stride[d - 1] = in_stride[d] * xs[d];
    std::vector<int64_t> idx(rank, 0);
    for (size_t o = 0; o < y.size(); ++o) {  // idx: output multi-index, odometer order
      int64_t src = 0;
      for (size_t d = 0; d < rank; ++d) src += idx[d] * in_stride[perm[d]];
      y[o] = x[static_cast<size_t>(src)];
      for (size_t d = rank; d-- > 0;) {
        if (++idx[d] < out_shape[d]) break;
        idx[d] = 0;
      }
    }
  } else if (auto b = binary_ops().find(n.op); b != binary_ops().end()) {
    // Variadic with NumPy broadcasting: fold the inputs left to right into the output's shape.
    auto gather = [&](const std::vector<double>& v, const std::vector<int64_t>& shape) {
      return broadcast_to(v, shape, out_shape);
    };
    y = gather(x, xs);
    for (size_t k = 1; k < ins.size(); ++k) {
      const auto z = gather(ins[k], in_shapes[k]);
      for (size_t o = 0; o < y.size(); ++o) y[o] = b->second(y[o], z[o]);
    }
    if (n.op == "Mean")
      for (auto& v : y) v /= static_cast<double>(ins.size());
  } else {
    throw CompileError("node '" + n.name + "' (" + n.op + "): no host kernel");
  }
  return y;
}

double host_op_cost_per_element(const std::string& op) {
  // Relative to one add or copy per element on the host core (config host.op_rate): divide and
  // square root issue at ~1/4 of the add rate on x86 vector units (vdivps/vsqrtps reciprocal
  // throughput vs vaddps'); a vectorized exp, log, tanh or erf costs ~16 (a range reduction and a
  // degree 6-8 polynomial); operators built of two of them cost ~32. Softmax per input element: a
  // max, a subtract, an exp, a sum and a divide (1 + 1 + 16 + 1 + 4, ~24). Transpose is a copy.
  static const std::map<std::string, double> cost = {
      {"Neg", 1},       {"Abs", 1},       {"Max", 1},         {"Min", 1},        {"Sum", 1},  {"Mean", 1},
      {"LeakyRelu", 1}, {"Transpose", 1}, {"Div", 4},         {"Reciprocal", 4}, {"Sqrt", 4}, {"Exp", 16},
      {"Log", 16},      {"Tanh", 16},     {"Erf", 16},        {"Sigmoid", 20},   {"Elu", 16}, {"Softplus", 32},
      {"Pow", 32},      {"Softmax", 24},  {"LogSoftmax", 40},
  };
  const auto it = cost.find(op);
  if (it == cost.end()) throw CompileError("operator " + op + ": no host kernel, so no host cost");
  return it->second;
}

HostOpCost host_op_cost(const HostOp& op) {
  HostOpCost c;
  const uint64_t es = isa::tensor_type_bytes(op.dev);
  for (const HostTensor& t : op.inputs) {
    const auto n = static_cast<uint64_t>(count(t.shape));
    c.read_bytes += n * es;
    c.elements = std::max(c.elements, n);
  }
  for (const HostTensor& t : op.outputs) {
    const auto n = static_cast<uint64_t>(count(t.shape));
    c.write_bytes += n * es;
    c.elements = std::max(c.elements, n);
  }
  c.ops_per_element = host_op_cost_per_element(op.node.op);
  return c;
}

void run_host_op(const HostOp& op, std::vector<std::vector<uint8_t>>& regions) {
  std::vector<std::vector<double>> ins;
  std::vector<std::vector<int64_t>> shapes;
  for (const HostTensor& t : op.inputs) {
    ins.push_back(read(t, op.dev, regions));
    shapes.push_back(t.shape);
  }
  const HostTensor& out = op.outputs.at(0);
  write(out, op.dev, host_kernel(op.node, op.opset, ins, shapes, out.shape), regions);
}

}  // namespace npusim::compiler
