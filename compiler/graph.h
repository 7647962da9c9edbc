// The compiler's view of an ONNX model: tensors with static shapes, constant data, and nodes in
// topological order. Built by import_onnx (onnx_import.cpp); consumed by compile (lowering.cpp, ops/).
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace npusim::compiler {

/// A model the compiler cannot handle, with the node or tensor named in the message.
class CompileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Element types the importer understands (ONNX TensorProto data types).
enum class DType { F32, F16, BF16, I8, U8, I32, I64, Bool, Other };
const char* dtype_name(DType t);

struct Tensor {
  std::string name;            ///< ONNX name
  DType dtype = DType::Other;  ///< element type
  std::vector<int64_t> shape;  ///< static dimensions (rank 0 = scalar)
  bool is_const = false;       ///< an initializer (or Constant node output)
  std::vector<double> values;  ///< constant values, row-major (exact for the types used here)
  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

/// One attribute value (the kinds the supported operators use).
struct Attribute {
  int64_t i = 0;              ///< INT
  float f = 0;                ///< FLOAT
  std::string s;              ///< STRING
  std::vector<int64_t> ints;  ///< INTS
};

struct Node {
  std::string name;                          ///< ONNX node name (or "<op>_<index>" when empty)
  std::string op;                            ///< op_type
  std::vector<std::string> inputs, outputs;  ///< tensor names ("" = omitted optional input)
  std::map<std::string, Attribute> attrs;    ///< attributes by name
  int64_t attr_i(const std::string& k, int64_t def) const {
    auto it = attrs.find(k);
    return it == attrs.end() ? def : it->second.i;
  }
  float attr_f(const std::string& k, float def) const {
    auto it = attrs.find(k);
    return it == attrs.end() ? def : it->second.f;
  }
  std::string attr_s(const std::string& k, const std::string& def) const {
    auto it = attrs.find(k);
    return it == attrs.end() ? def : it->second.s;
  }
};

struct Graph {
  std::map<std::string, Tensor> tensors;  ///< every value: inputs, initializers, intermediates, outputs
  std::vector<Node> nodes;                ///< topological order
  std::vector<std::string> inputs;        ///< graph inputs that are not initializers
  std::vector<std::string> outputs;       ///< graph outputs
  int64_t opset = 0;                      ///< default-domain opset
  const Tensor& tensor(const std::string& name) const;
};

/// How a model file becomes a Graph.
struct ImportOptions {
  /// > 0: the leading dimension of every graph input and output is set to it first (the model for
  /// a batch of requests; a Reshape to a constant batch-1 shape then fails shape inference).
  int64_t batch = 0;
  /// Named dynamic dimensions fixed (`--dim NAME=VALUE`: batch, sequence ...).
  std::map<std::string, int64_t> dims;
};

/// Reads and checks an ONNX file and prepares it (compiler/prepare.h: fixed dimensions, shape
/// inference with folding of shape arithmetic, Identity/dead-node elimination, Conv+BN fusion)
/// so every tensor has a static shape. Throws CompileError naming the problem.
Graph import_onnx(const std::string& path, const ImportOptions& options = {});

/// An identifier for a name (ONNX names may hold '/', ':' ...): other characters become '_'.
std::string sanitize(const std::string& name);

}  // namespace npusim::compiler
