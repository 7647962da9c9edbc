// Host fallback: reference kernels for operators the NPU lowering does not cover. The compiler
// emits `barrier all; irq <code>; barrier ctrl` for such a node; when the irq completes, the runner
// calls run_host_op on the device memories, so the kernel reads its inputs after every earlier
// instruction has completed and nothing later starts before it is done. The simulated device waits
// for the host's modelled time (sim/host_cost.h over host_op_cost below).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/graph.h"
#include "isa/program.h"

namespace npusim::compiler {

/// Where a host operator's tensor lives (device type, row-major as in ONNX).
struct HostTensor {
  uint8_t region = 0;          ///< region id
  uint64_t offset = 0;         ///< byte offset
  std::vector<int64_t> shape;  ///< ONNX shape
};

struct HostOp {
  Node node;                        ///< the ONNX node
  std::vector<HostTensor> inputs;   ///< its inputs ("" inputs omitted)
  std::vector<HostTensor> outputs;  ///< its outputs
  isa::TensorType dev{};            ///< device element type (fp16 or bf16)
  int64_t opset = 13;               ///< model opset (Softmax's semantics changed at 13)
};

/// irq codes of host operators: kHostIrqBase + index into CompiledModel::host_ops.
inline constexpr uint32_t kHostIrqBase = 0x48000000u;  // 'H' << 24

/// Operators with a host reference kernel.
const std::vector<std::string>& host_operators();
bool has_host_kernel(const std::string& op);

/// `v` (of `shape`) broadcast NumPy-style to `out_shape`, row-major.
std::vector<double> broadcast_to(const std::vector<double>& v, const std::vector<int64_t>& shape,
                                 const std::vector<int64_t>& out_shape);

/// The kernel itself, in double precision: `ins` in ONNX (row-major) layout with their shapes.
std::vector<double> host_kernel(const Node& n, int64_t opset, const std::vector<std::vector<double>>& ins,
                                const std::vector<std::vector<int64_t>>& in_shapes,
                                const std::vector<int64_t>& out_shape);

/// Runs one host operator on the device memories (`regions[id]` holds region id's bytes).
/// Throws CompileError for attributes the kernel does not support.
void run_host_op(const HostOp& op, std::vector<std::vector<uint8_t>>& regions);

/// What a host operator costs the host, as the host cost model (sim/host_cost.h) reads it.
struct HostOpCost {
  uint64_t read_bytes = 0;     ///< its inputs' bytes in device memory
  uint64_t write_bytes = 0;    ///< its outputs' bytes
  uint64_t elements = 0;       ///< elements of its largest tensor (input or output)
  double ops_per_element = 1;  ///< host element operations per element (host_op_cost_per_element)
};

/// Host element operations per element of `op` (1 for an add or a copy). Throws CompileError for
/// an operator without a host kernel.
double host_op_cost_per_element(const std::string& op);

/// The cost of one host operator.
HostOpCost host_op_cost(const HostOp& op);

/// Checks a node's attributes at compile time (the same checks run_host_op makes).
void check_host_op(const Node& n, const Graph& g, int64_t opset);

}  // namespace npusim::compiler
