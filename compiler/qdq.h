// QDQ fusion: the float graphs with QuantizeLinear/DequantizeLinear pairs that quantization
// tools emit (ONNX Runtime's quantize_static with QuantFormat.QDQ, torch's quantized export)
// become integer operators, as ONNX Runtime's QDQ transformer (core/optimizer/qdq_transformer)
// does: DQ -> Conv -> Q is QLinearConv, DQ -> MatMul/Gemm -> Q is QLinearMatMul, a Relu/Clip
// before the Q disappears when the Q's saturation already clamps it, and DQ -> op -> Q with the
// same parameters runs the op on the integers (MaxPool, Reshape, Flatten, Transpose, Squeeze,
// Unsqueeze, Concat), and a DQ -> Relu/Clip -> Q that clamps nothing goes. DequantizeLinear of a
// constant left over is folded into a float constant; other Q/DQ nodes stay. Internal to the
// compiler (prepare.cpp calls it after folding).
#pragma once

#include <onnx/onnx_pb.h>

namespace npusim::compiler {

/// Rewrites `g` in place (shapes already inferred: the fused nodes write the Q nodes' outputs,
/// whose value_info stays). Returns the number of node groups fused.
int fuse_qdq(onnx::GraphProto& g);

}  // namespace npusim::compiler
