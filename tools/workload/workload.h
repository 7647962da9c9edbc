// Workloads as the tools see them: a program (.npub/.npus), an ONNX model or a SCALE-Sim layer
// list (.csv), evaluated on one configuration for latency, energy and traffic. Shared by the CLI,
// `npusim sweep` points and the Python bindings.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "compiler/compile.h"
#include "isa/program.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/workload/npy.h"

namespace npusim {

/// The compiler's view of a configuration (line size, array, SRAM sizes, dtypes).
compiler::TargetInfo target_info(const config::NpuConfig& c);

/// `path` as named inside the file `from` (a sweep or tenants file): relative paths are relative
/// to that file's folder; absolute and empty ones are unchanged.
std::string path_beside(const std::string& from, const std::string& path);

/// A .npus (assembled) or .npub (read strictly) program.
isa::Program load_program(const std::string& path);

/// A timing-only run of `prog` with every input as zeros. Throws isa::InputError when it faults.
RunResult timing_run(const config::NpuConfig& cfg, const isa::Program& prog, bool engine_spans = false);

struct EvalOptions {
  std::string precision = "fp16";  ///< ONNX models: fp16 | bf16 (int8 needs calibration data: not here)
  bool ideal_memory = false;       ///< layer lists: stall-free memory
};

/// One workload on one configuration.
struct Evaluation {
  std::string kind;            ///< program | onnx | topology
  uint64_t cycles = 0;         ///< total
  double seconds = 0;          ///< at the configured clock
  double energy_j = 0;         ///< dynamic + leakage
  double average_power_w = 0;  ///< energy / seconds
  uint64_t macs = 0;           ///< multiply-accumulates
  double utilization = 0;      ///< MACs / (cycles x R x C)
  uint64_t dram_bytes = 0;     ///< external traffic
  uint32_t layers = 0;         ///< operators (markers) or layers
};

/// Evaluates `workload` (by extension). Throws isa::InputError for unreadable or faulting input.
Evaluation evaluate(const config::NpuConfig& cfg, const std::string& workload, const EvalOptions& o = {});

// Host-side marshalling of a compiled model's tensors (the CLI and the Python bindings).

/// float32 to the device's fp16 / bf16 (round to nearest even), and back.
uint16_t to_device(float v, isa::TensorType t);
float from_device(uint16_t b, isa::TensorType t);
/// The model-side (ONNX, NCHW) shape of an IO tensor stored as NHWC on the device when `nhwc`.
std::vector<uint64_t> model_shape(const isa::IoTensor& io, bool nhwc);
/// Index of NCHW element `i` in NHWC order (shape given in NCHW).
uint64_t nhwc_index(uint64_t i, const std::vector<uint64_t>& nchw);
/// The program's IO entry called `name` (std::logic_error when absent).
const isa::IoTensor& io_entry(const isa::Program& p, const std::string& name);
/// Host data for input `b` as device-type elements in the model's order: float32 or float16 for a
/// float tensor (converted), exactly the device type for an integer one. Shape must match the
/// model's. Throws isa::InputError naming `where` and the input.
std::vector<uint8_t> host_to_device_elements(const compiler::IoBinding& b, const isa::IoTensor& io, const NpyArray& arr,
                                             const std::string& where);
/// Model-order elements to the device layout (NCHW to NHWC for spatial tensors).
std::vector<uint8_t> to_device_layout(const compiler::IoBinding& b, const isa::IoTensor& io,
                                      const std::vector<uint8_t>& model_order);
/// A device output as the host sees it: float32 for floats, the integer type otherwise, in the
/// model's shape and layout.
NpyArray device_to_host(const compiler::IoBinding& b, const isa::IoTensor& io, const std::vector<uint8_t>& dev);

// Host-side marshalling of a program's own tensors (`run X.npub`, the Python module): the IO
// table records the user's element type and layout (isa::IoTensor host_type, host_nchw).

/// The binding IO entry `io` records: the user's type (the device type itself when none is
/// recorded) and layout, as for a compiled model's tensor.
compiler::IoBinding recorded_binding(const isa::IoTensor& io);
/// An input's data as device bytes: the device format itself (the entry's dtype and dims), or the
/// user-facing format the entry records (float32, NCHW, ...), converted as `run model.onnx` does.
/// Throws isa::InputError naming `where` and both formats.
std::vector<uint8_t> program_input_bytes(const isa::IoTensor& io, const NpyArray& arr, const std::string& where);
/// An output's device bytes in the user-facing format its entry records (the device format when
/// it records none).
NpyArray program_output_array(const isa::IoTensor& io, const std::vector<uint8_t>& dev);

/// The irq handler that runs `m`'s host fallback operators (m must outlive the run).
std::function<void(uint32_t, arch::Memories&)> host_fallback(const compiler::CompiledModel& m);
/// What each of `m`'s host fallback operators costs the host, by irq code (the host cost model's
/// input; m must outlive the run).
std::function<std::optional<HostWork>(uint32_t)> host_fallback_work(const compiler::CompiledModel& m);
/// Sets `opts`' irq handler and host work to `m`'s host fallback operators.
void use_host_fallback(RunOptions& opts, const compiler::CompiledModel& m);

/// A compiled model run on host tensors (by ONNX input name): outputs by ONNX name.
struct ModelRun {
  RunResult run;                            ///< the simulation
  std::map<std::string, NpyArray> outputs;  ///< by ONNX output name (empty for timing-only runs)
};
/// Marshals `inputs`, runs host fallback operators in the irq handler, unmarshals the outputs.
ModelRun run_model(const config::NpuConfig& cfg, const compiler::CompiledModel& m,
                   const std::map<std::string, NpyArray>& inputs, RunOptions opts = {});

/// An area proxy of the MXU logic: yosys generic cells of rtl/systolic_array.v, fitted exactly to
/// the 4x4, 8x8 and 16x16 syntheses (25,422, 84,867 and 305,334 cells; docs/rtl.md):
/// 1058.09 R C + 1082.06 (R + C) - 164.
double mxu_area_cells(uint32_t rows, uint32_t cols);

}  // namespace npusim
