// Constant tensors of libonnx's TensorProto as the compiler's doubles, both ways. Internal to the
// compiler's ONNX front end (onnx_import.cpp, prepare.cpp).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/graph.h"

namespace npusim::compiler {

/// The compiler's element type of an ONNX TensorProto data type (Other for the rest).
DType from_onnx(int32_t onnx_type);

/// The element count of `t`'s dims, checked (negative or over 2^40 elements: CompileError naming `what`).
int64_t element_count(const onnx::TensorProto& t, const std::string& what);

/// Constant values of `t` (raw_data or the typed fields) as doubles, which hold every value of the
/// types read here exactly (FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT8, UINT8, INT32, INT64 up to 2^53,
/// BOOL as 0/1). Throws CompileError naming `what` for other types, external data or a count
/// that does not match the dims.
std::vector<double> values_of(const onnx::TensorProto& t, const std::string& what);

/// True when values_of reads this data type.
bool readable_type(int32_t onnx_type);

/// A TensorProto named `name` of ONNX type `onnx_type` (one readable_type accepts) holding
/// `values` (rounded to the type: float, integer wrap as a cast does, bool nonzero).
onnx::TensorProto make_tensor(const std::string& name, int32_t onnx_type, const std::vector<int64_t>& dims,
                              const std::vector<double>& values);

}  // namespace npusim::compiler
