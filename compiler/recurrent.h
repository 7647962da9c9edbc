// Recurrent operators (ONNX LSTM, GRU, RNN) unrolled over their static sequence during graph
// preparation, into operators the NPU lowers: per time step and direction one Gemm per gate
// against constant per-gate weight blocks ([W_g^T; R_g^T], split from W and R at compile time),
// Add/Sub/Mul, Sigmoid/Tanh/Relu, and Concat/Reshape/Transpose to assemble Y, Y_h and Y_c.
// Time step t of X is picked by a MatMul with a constant one-hot row (no Slice of a computed
// tensor is needed). Every generated node is named after the recurrent node ("<name>/fwd/t3/i"),
// so per-operator statistics and errors point back to it. docs/compiler.md "Recurrent operators"
// has what is supported and what a step costs. Internal to the compiler; prepare.cpp calls it.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace npusim::compiler {

/// Unrolls every LSTM, GRU and RNN node of `g` whose X has a static shape in `shapes` (the static
/// shapes shape inference found, by tensor name): the node is replaced, in place, by its unrolled
/// nodes and the weight blocks become initializers; a Squeeze or Unsqueeze reading one of its
/// outputs (as exporters emit after every layer) becomes the equivalent Reshape. Returns the number
/// of recurrent nodes unrolled. Throws CompileError naming the node (and `path`) for what the
/// decomposition does not cover: computed weights, sequence_lens shorter than the sequence,
/// activations other than Sigmoid/Tanh/Relu, clip, input_forget,
/// a non-float32 X.
int unroll_recurrent(onnx::GraphProto& g, const std::unordered_map<std::string, std::vector<int64_t>>& shapes,
                     const std::string& path);

}  // namespace npusim::compiler
