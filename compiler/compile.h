// ONNX graph → npusim program. Depends on isa/ only: the hardware it compiles for comes in as a
// TargetInfo (the CLI fills it from the YAML config).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/graph.h"
#include "compiler/host_kernels.h"
#include "isa/program.h"

namespace npusim::compiler {

/// The hardware facts the compiler needs.
struct TargetInfo {
  uint32_t line_bytes = 64;                ///< SRAM line size
  uint32_t mxu_rows = 16, mxu_cols = 16;   ///< systolic array
  uint64_t spad_bytes = 0, acc_bytes = 0;  ///< SRAM sizes
  std::vector<std::string> mxu_dtypes;     ///< matmul dtypes the array supports
};

struct CompileOptions {
  std::string precision = "fp16";  ///< fp16 | bf16: the type of activations and weights on the NPU
  bool fallback = true;            ///< run operators without an NPU lowering on the host (else: error)
};

/// One graph input or output and how the host marshals it.
struct IoBinding {
  std::string onnx_name;  ///< name in the model
  std::string io_name;    ///< name in the program's IO table
  DType host_dtype;       ///< the model's type (converted to/from the device type by the host)
  bool nhwc = false;      ///< rank 4: the model's [N, C, H, W] is stored as [N, H, W, C] on the device
};

struct CompiledModel {
  isa::Program program;                ///< the command stream
  std::vector<IoBinding> inputs;       ///< graph inputs
  std::vector<IoBinding> outputs;      ///< graph outputs
  std::vector<std::string> operators;  ///< one DEBUG marker per ONNX node, in order
  std::vector<HostOp> host_ops;        ///< operators left to the host (irq kHostIrqBase + index)
};

/// Compiles `g`; throws CompileError naming the node when something is unsupported.
CompiledModel compile(const Graph& g, const TargetInfo& target, const CompileOptions& opts);

/// Operators this compiler lowers to the NPU, in registration order (compiler/op_registry.h).
const std::vector<std::string>& supported_operators();

}  // namespace npusim::compiler
