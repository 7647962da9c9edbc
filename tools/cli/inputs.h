// What a run reads: input tensors from .npy files (`--input NAME=FILE.npy`) or deterministic random
// data (`--random-inputs SEED`), marshalled into the device's types and layout, and calibration
// samples; and an output's device bytes back as numbers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/compile.h"
#include "compiler/reference.h"
#include "isa/program.h"

namespace npusim::cli {

/// Device bytes per input tensor name.
using DeviceInputs = std::map<std::string, std::vector<uint8_t>>;

/// A program's inputs: each `NAME=FILE.npy` of `specs` (checked against the program's IO table:
/// name, and the device's dtype and shape or the user-facing ones the table records, converted),
/// and deterministic random data for the rest when `seed` is given.
DeviceInputs program_inputs(const isa::Program& prog, const std::vector<std::string>& specs,
                            std::optional<uint64_t> seed);

/// A compiled model's inputs: `specs` name the model's (ONNX) inputs; float32 data is converted to
/// the device type and layout by the host; inputs not given get random data from `seed`, else are
/// an error. `reference`, when given, receives the inputs as the float reference sees them.
DeviceInputs model_inputs(const compiler::CompiledModel& m, const compiler::Graph& graph,
                          const std::vector<std::string>& specs, std::optional<uint64_t> seed,
                          compiler::TensorValues* reference);

/// A float32 .npy for model input `t` (shape must match) as doubles in ONNX layout.
std::vector<double> read_float_npy(const std::string& file, const compiler::Tensor& t);

/// Calibration samples: every .npy in `dir` (sorted by name) is one sample of the model's only input.
std::vector<compiler::TensorValues> load_calibration(const std::string& dir, const compiler::Graph& g);

/// An output's device bytes as doubles in ONNX layout.
std::vector<double> output_values(const compiler::IoBinding& b, const isa::IoTensor& io,
                                  const std::vector<uint8_t>& dev);

}  // namespace npusim::cli
