// Float reference of an ONNX model on the host: every tensor computed in double precision from
// float inputs, in ONNX layout. It is the calibration source of int8 post-training quantization
// and the baseline of the accuracy report (quantized or reduced-precision output vs float).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compiler/graph.h"

namespace npusim::compiler {

/// Tensor values by name, row-major in ONNX layout.
using TensorValues = std::map<std::string, std::vector<double>>;

/// Evaluates every node of `g` on `inputs` (one entry per graph input); returns every tensor
/// (inputs, constants, intermediates, outputs). Throws CompileError naming an unsupported node.
TensorValues evaluate_reference(const Graph& g, const TensorValues& inputs);

/// Operators the reference evaluates (the float NPU operators and the host kernels).
bool has_reference(const std::string& op);

/// How closely one computed output follows the float reference.
struct Accuracy {
  std::string output;       ///< graph output name
  double max_abs_err = 0;   ///< max |got - ref|
  double mean_abs_err = 0;  ///< mean |got - ref|
  double cosine = 1;        ///< cosine similarity of got and ref as vectors
  double top1 = 1;          ///< fraction of rows (all dimensions but the last) whose argmax agrees
  int64_t rows = 0;         ///< rows compared for top1
};

/// Compares `outputs` (per graph output, ONNX layout) with the float reference on `inputs`.
std::vector<Accuracy> compare_to_reference(const Graph& g, const TensorValues& inputs, const TensorValues& outputs);

}  // namespace npusim::compiler
