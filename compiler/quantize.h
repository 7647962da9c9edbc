// int8 post-training quantization of a float model: calibrate activation ranges on sample inputs
// with the float reference, then rewrite the graph into ONNX's QOperator form (QLinearConv,
// QLinearMatMul) that the compiler lowers bit-exact. Operators without an integer lowering stay in
// float between DequantizeLinear and QuantizeLinear.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "compiler/graph.h"
#include "compiler/reference.h"

namespace npusim::compiler {

/// Observed value range of every tensor over the calibration samples.
struct Calibration {
  std::map<std::string, std::pair<double, double>> range;  ///< tensor -> (min, max)
  size_t samples = 0;                                      ///< number of samples seen
};

/// Runs the float reference on each sample and records per-tensor min/max.
Calibration calibrate(const Graph& g, const std::vector<TensorValues>& samples);

/// What quantize_graph did, for the report.
struct QuantizeSummary {
  std::vector<std::string> quantized;  ///< nodes that became integer operators
  std::vector<std::string> float_ops;  ///< nodes left in float (between Dequantize/Quantize)
};

/// The QOperator form of `g`: activations uint8 (or int8) with per-tensor asymmetric scales from the
/// calibrated ranges (a Relu after a Conv/Gemm is fused by quantizing with its range), weights int8
/// symmetric per output channel, biases int32 at scale x_scale * w_scale. Graph inputs and outputs
/// stay float. Node names are kept for the quantized operators.
/// `signed_activations`: int8 activations (zero point in [-128, 127]) instead of uint8, for MXUs
/// without a uint8 x int8 mode.
Graph quantize_graph(const Graph& g, const Calibration& cal, QuantizeSummary* summary = nullptr,
                     bool signed_activations = false);

}  // namespace npusim::compiler
