// ONNX import with Debian's libonnx (1.12): parse, check the opset, infer shapes, collect
// initializers and Constant nodes, and turn everything into the compiler's Graph.
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <set>

#include "base/input_file.h"
#include "compiler/graph.h"
#include "compiler/onnx_values.h"
#include "compiler/prepare.h"

namespace npusim::compiler {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::I8: return "int8";
    case DType::U8: return "uint8";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::Bool: return "bool";
    default: return "unsupported type";
  }
}

const Tensor& Graph::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw CompileError("tensor '" + name + "' is not defined in the graph");
  return it->second;
}

std::string sanitize(const std::string& name) {
  std::string s;
  for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') ? c : '_';
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) s = "t_" + s;
  return s;
}

namespace {

Tensor from_value_info(const onnx::ValueInfoProto& vi, const std::string& role) {
  Tensor t;
  t.name = vi.name();
  if (!vi.type().has_tensor_type()) throw CompileError(role + " '" + vi.name() + "' is not a tensor");
  const auto& tt = vi.type().tensor_type();
  t.dtype = from_onnx(tt.elem_type());
  if (!tt.has_shape())
    throw CompileError(role + " '" + vi.name() + "' has no shape (the compiler needs static shapes)");
  for (const auto& d : tt.shape().dim()) {
    if (!d.has_dim_value() || d.dim_value() <= 0)
      throw CompileError(role + " '" + vi.name() + "' has a dynamic dimension" +
                         (d.has_dim_param() ? " '" + d.dim_param() + "' (fix it with --dim " + d.dim_param() + "=N)"
                                            : " (fix it in the model, e.g. batch 1, before compiling)"));
    t.shape.push_back(d.dim_value());
  }
  return t;
}

/// The oldest opset whose operator definitions the lowering implements (10 to 17 are read as they are).
constexpr int64_t kOldestImplementedOpset = 10;

/// Visits every node of `graph` and of its subgraphs (If, Loop, Scan bodies).
void for_each_node(const onnx::GraphProto& graph, const std::function<void(const onnx::NodeProto&, int)>& visit) {
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& n = graph.node(i);
    visit(n, i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) for_each_node(a.g(), visit);
      for (const auto& sub : a.graphs()) for_each_node(sub, visit);
    }
  }
}

/// A model below opset 10, read as ONNX Runtime does: an operator whose definition did not change
/// between the model's opset and opset 10 (the same schema since_version in onnx's registry, e.g.
/// And-7, Not-1, Elu-6, HardSigmoid-6, GlobalAveragePool-1) is the operator the lowering implements,
/// so the model is re-stamped as opset 10, which changes no node's meaning. A node whose definition
/// did change (Slice-1's attributes, Upsample-7, Dropout-7, BatchNormalization-7, MaxPool-8, ...)
/// is refused by name, operator, opset and the version this compiler implements.
void accept_old_opset(onnx::ModelProto& model, int64_t opset, const std::string& path) {
  for_each_node(model.graph(), [&](const onnx::NodeProto& n, int i) {
    if (!n.domain().empty() && n.domain() != "ai.onnx") return;
    const auto* old_def = onnx::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(opset));
    if (old_def == nullptr) return;  // not an operator of that opset: the checker names it
    const auto* implemented = onnx::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(kOldestImplementedOpset));
    if (implemented != nullptr && implemented->since_version() == old_def->since_version()) return;
    const std::string name = n.name().empty() ? n.op_type() + "_" + std::to_string(i) : n.name();
    throw CompileError(path + ": node '" + name + "' (" + n.op_type() + "): the model's opset " +
                       std::to_string(opset) + " defines " + n.op_type() + "-" +
                       std::to_string(old_def->since_version()) + ", which differs from " +
                       (implemented ? n.op_type() + "-" + std::to_string(implemented->since_version())
                                    : std::string("every later version")) +
                       " that this compiler implements (opsets 10 to 17); re-export the model at opset 10 or later");
  });
  for (auto& o : *model.mutable_opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") o.set_version(kOldestImplementedOpset);
}

}  // namespace

Graph import_onnx(const std::string& path, const ImportOptions& options) {
  const int64_t batch = options.batch;
  require_input_file(path, "model");  // a FIFO or a directory would block or fail inside protobuf
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CompileError(path + ": cannot open");
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&in)) throw CompileError(path + ": not a valid ONNX model (protobuf parse failed)");
  if (batch > 0) {
    // A new leading (batch) dimension on every graph input and output; shapes inside are inferred again.
    auto* g = model.mutable_graph();
    std::set<std::string> inits;
    for (const auto& t : g->initializer()) inits.insert(t.name());
    auto rebatch = [&](onnx::ValueInfoProto* v) {
      auto* shape = v->mutable_type()->mutable_tensor_type()->mutable_shape();
      if (shape->dim_size() > 0) shape->mutable_dim(0)->set_dim_value(batch);
    };
    for (auto& v : *g->mutable_input())
      if (!inits.count(v.name())) rebatch(&v);
    for (auto& v : *g->mutable_output()) rebatch(&v);
    g->clear_value_info();
  }
  Graph g;
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") g.opset = o.version();
  // Above 17: libonnx 1.12's checker and shape inference know no later operator sets.
  if (g.opset < 1 || g.opset > 17)
    throw CompileError(path + ": opset " + std::to_string(g.opset) +
                       " is not supported (this compiler reads opsets 1 to 17; 18 and later need onnx >= 1.13)");
  if (g.opset < kOldestImplementedOpset) accept_old_opset(model, g.opset, path);
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") g.opset = o.version();
  // libonnx 1.12's convolution/pooling shape inference divides by strides and dilations without
  // checking them (a stride of 0 is a SIGFPE, found by fuzz_onnx): check window attributes first.
  for (int i = 0; i < model.graph().node_size(); ++i) {
    const auto& n = model.graph().node(i);
    for (const auto& a : n.attribute()) {
      if (a.name() != "strides" && a.name() != "dilations" && a.name() != "kernel_shape") continue;
      for (int64_t v : a.ints())
        if (v <= 0)
          throw CompileError("node '" + (n.name().empty() ? n.op_type() + "_" + std::to_string(i) : n.name()) + "' (" +
                             n.op_type() + "): " + a.name() + " must be positive, got " + std::to_string(v));
    }
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw CompileError(path + ": the ONNX checker or shape inference rejected the model: " + e.what());
  }
  prepare_model(model, options.dims, path);
  const auto& graph = model.graph();
  std::set<std::string> initializers;
  for (const auto& init : graph.initializer()) {
    Tensor t;
    t.name = init.name();
    t.dtype = from_onnx(init.data_type());
    t.shape.assign(init.dims().begin(), init.dims().end());
    t.is_const = true;
    t.values = values_of(init, "initializer '" + init.name() + "'");
    g.tensors[t.name] = t;
    initializers.insert(t.name);
  }
  for (const auto& vi : graph.input()) {
    if (initializers.count(vi.name())) continue;
    g.tensors[vi.name()] = from_value_info(vi, "graph input");
    g.inputs.push_back(vi.name());
  }
  for (const auto& vi : graph.value_info())
    if (!g.tensors.count(vi.name())) g.tensors[vi.name()] = from_value_info(vi, "tensor");
  for (const auto& vi : graph.output()) {
    if (!g.tensors.count(vi.name())) g.tensors[vi.name()] = from_value_info(vi, "graph output");
    g.outputs.push_back(vi.name());
  }
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& n = graph.node(i);
    Node node;
    node.op = n.op_type();
    node.name = n.name().empty() ? n.op_type() + "_" + std::to_string(i) : n.name();
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      throw CompileError("node '" + node.name + "' (" + node.op + "): operator domain '" + n.domain() +
                         "' is not supported");
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    for (const auto& a : n.attribute()) {
      Attribute at;
      at.i = a.i();
      at.f = a.f();
      at.s = a.s();
      at.ints.assign(a.ints().begin(), a.ints().end());
      if (a.has_t()) {
        if (node.op != "Constant")
          throw CompileError("node '" + node.name + "': tensor attribute '" + a.name() + "' is not supported");
        Tensor t;
        t.name = n.output(0);
        t.dtype = from_onnx(a.t().data_type());
        t.shape.assign(a.t().dims().begin(), a.t().dims().end());
        t.is_const = true;
        t.values = values_of(a.t(), "node '" + node.name + "'");
        g.tensors[t.name] = t;
      }
      node.attrs[a.name()] = at;
    }
    if (node.op == "Constant") continue;  // folded into its output tensor
    for (const auto& o : node.outputs)
      if (!o.empty() && !g.tensors.count(o))
        throw CompileError("node '" + node.name + "' (" + node.op + "): shape inference could not determine output '" +
                           o + "'");
    g.nodes.push_back(node);
  }
  // Every later size computation multiplies dims: bound them once here (2^40 elements, far beyond
  // any scratchpad or DRAM the compiler tiles for).
  for (const auto& [name, t] : g.tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape)
      if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > (int64_t{1} << 40))
        throw CompileError("tensor '" + name + "' has " + std::to_string(t.shape.size()) +
                           " dims whose product is negative or over 2^40 elements");
  }
  return g;
}

}  // namespace npusim::compiler
