// Workloads as the tools see them: a program (.npub/.npus), an ONNX model or a SCALE-Sim layer
// list (.csv), evaluated on one configuration for latency, energy and traffic. Shared by the CLI,
// `npusim sweep` points and the Python bindings.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compiler/compile.h"
#include "isa/program.h"
#include "sim/config/npu_config.h"
#include "sim/simulator.h"

namespace npusim {

/// The compiler's view of a configuration (line size, array, SRAM sizes, dtypes).
compiler::TargetInfo target_info(const config::NpuConfig& c);

/// A .npus (assembled) or .npub (read strictly) program.
isa::Program load_program(const std::string& path);

/// A timing-only run of `prog` with every input as zeros. Throws isa::InputError when it faults.
RunResult timing_run(const config::NpuConfig& cfg, const isa::Program& prog);

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

/// An area proxy of the MXU logic: yosys generic cells of rtl/systolic_array.v, fitted exactly to
/// the 4x4, 8x8 and 16x16 syntheses (25,422, 84,867 and 305,334 cells; docs/rtl.md):
/// 1058.09 R C + 1082.06 (R + C) - 164.
double mxu_area_cells(uint32_t rows, uint32_t cols);

}  // namespace npusim
