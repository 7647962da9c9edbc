// Graph preparation: what an exported model needs before the compiler sees it, as ONNX Runtime's
// graph optimizer does it. Named dynamic dimensions are fixed (`--dim NAME=VALUE`), shapes are
// inferred with data propagation, and the shape arithmetic exporters emit (Shape, Gather,
// Unsqueeze, Concat, ConstantOfShape, Range, Cast, Equal/Where, Slice ... of constants) is folded
// into constants until every tensor has a static shape; Identity and Dropout disappear, nodes that
// reach no graph output are dropped, a BatchNormalization is folded into the Conv before it, and
// the decomposed LayerNormalization of older exports becomes one LayerNormalization node.
// Internal to the compiler (it speaks libonnx's ModelProto); import_onnx calls it.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <string>

namespace npusim::compiler {

/// What prepare_model did (for `npusim compile`'s summary and the tests).
struct PrepareReport {
  int folded = 0;      ///< nodes evaluated at compile time into constants
  int removed = 0;     ///< Identity/Dropout nodes and nodes that reach no output
  int fused_bn = 0;    ///< BatchNormalization nodes folded into their Conv
  int fused_ln = 0;    ///< decomposed LayerNormalizations (ReduceMean ... Div, Mul, Add) fused into one node
  int iterations = 0;  ///< rounds of shape inference and folding until nothing changed
};

/// Prepares `model` (read from `path`, named in errors) in place. `dims` fixes dynamic dimensions
/// by name on the graph inputs and outputs (an unknown name is an error naming the dimensions the
/// model has). Throws CompileError naming the node when shape inference rejects the model.
PrepareReport prepare_model(onnx::ModelProto& model, const std::map<std::string, int64_t>& dims,
                            const std::string& path);

}  // namespace npusim::compiler
