// Input tensors and calibration samples from .npy files, random inputs, output values.
#include "tools/cli/inputs.h"

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "isa/diag.h"
#include "tools/cli/args.h"
#include "tools/cli/command.h"
#include "tools/workload/npy.h"
#include "tools/workload/workload.h"

namespace npusim::cli {
namespace {

/// "NAME=FILE.npy" split at the first '='.
std::pair<std::string, std::string> input_spec(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) throw UsageError("--input expects NAME=file.npy, got '" + spec + "'");
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

}  // namespace

DeviceInputs program_inputs(const isa::Program& prog, const std::vector<std::string>& specs,
                            std::optional<uint64_t> seed) {
  DeviceInputs inputs;
  for (const std::string& spec : specs) {
    const auto [name, path] = input_spec(spec);
    const isa::IoTensor* io = nullptr;
    for (const auto& t : prog.io)
      if (t.name == name && prog.regions[t.region].role == isa::RegionRole::Input) io = &t;
    if (!io) {
      std::string names;
      for (const auto& t : prog.io)
        if (prog.regions[t.region].role == isa::RegionRole::Input) names += (names.empty() ? "" : ", ") + t.name;
      throw isa::InputError("--input " + name + ": the program has no input tensor of that name (inputs: " + names +
                            ")");
    }
    // The device format, or the user-facing one the IO table records (float32 NCHW for a model
    // compiled from float32 NCHW), converted as `run model.onnx` converts.
    inputs[name] = program_input_bytes(*io, read_npy(path), path);
  }
  if (seed) {
    std::mt19937_64 rng(*seed);
    for (const auto& t : prog.io) {
      if (prog.regions[t.region].role != isa::RegionRole::Input || inputs.count(t.name)) continue;
      uint64_t bytes = isa::tensor_type_bytes(t.dtype);
      for (int k = 0; k < t.rank; ++k) bytes *= t.dims[k];
      std::vector<uint8_t> data(bytes);
      const bool fp = t.dtype == isa::TensorType::FP16 || t.dtype == isa::TensorType::BF16;
      for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(rng());
      if (fp)  // keep floats finite and modest: sign, exponent within [-8, 0] of the bias
        for (size_t i = 1; i < data.size(); i += 2)
          data[i] = static_cast<uint8_t>((data[i] & 0x80) | (t.dtype == isa::TensorType::FP16 ? 0x30 : 0x3C) |
                                         (data[i] & 0x03));
      inputs[t.name] = std::move(data);
    }
  }
  return inputs;
}

DeviceInputs model_inputs(const compiler::CompiledModel& m, const compiler::Graph& graph,
                          const std::vector<std::string>& specs, std::optional<uint64_t> seed,
                          compiler::TensorValues* reference) {
  std::map<std::string, std::string> given;  // io name -> .npy path
  for (const std::string& spec : specs) {
    const std::string name = input_spec(spec).first;
    std::string io;
    for (const auto& b : m.inputs)
      if (b.onnx_name == name || b.io_name == name) io = b.io_name;
    if (io.empty()) {
      std::string names;
      for (const auto& b : m.inputs) names += (names.empty() ? "" : ", ") + b.onnx_name;
      throw isa::InputError("--input " + name + ": the model has no input of that name (inputs: " + names + ")");
    }
    given[io] = input_spec(spec).second;
  }
  DeviceInputs inputs;
  std::mt19937_64 rng(seed.value_or(0));
  for (const auto& b : m.inputs) {
    const isa::IoTensor& io = io_entry(m.program, b.io_name);
    uint64_t count = 1;
    for (int k = 0; k < io.rank; ++k) count *= io.dims[k];
    const unsigned es = isa::tensor_type_bytes(io.dtype);
    const bool is_float = io.dtype == isa::TensorType::FP16 || io.dtype == isa::TensorType::BF16;
    std::vector<uint8_t> model_order(count * es);  // device-type elements in the model's (NCHW) order
    auto it = given.find(b.io_name);
    if (it != given.end()) {
      model_order = host_to_device_elements(b, io, read_npy(it->second), it->second);
    } else if (seed) {
      std::uniform_real_distribution<float> u(-1, 1);
      for (uint64_t i = 0; i < count; ++i) {
        if (is_float) {
          const uint16_t h = to_device(u(rng), io.dtype);
          model_order[2 * i] = static_cast<uint8_t>(h);
          model_order[2 * i + 1] = static_cast<uint8_t>(h >> 8);
        } else {
          const uint64_t r = rng();
          for (unsigned k = 0; k < es; ++k) model_order[es * i + k] = static_cast<uint8_t>(r >> (8 * k));
        }
      }
    } else {
      throw isa::InputError("no data for input '" + b.onnx_name + "' (use --input " + b.onnx_name +
                            "=FILE.npy or --random-inputs SEED)");
    }
    if (reference) {  // the float reference sees the user's float32 values, or the random ones as stored
      const bool f32 = it != given.end() && read_npy(it->second).descr == "<f4";
      (*reference)[b.onnx_name] =
          f32 ? read_float_npy(it->second, graph.tensor(b.onnx_name))
              : output_values(compiler::IoBinding{b.onnx_name, b.io_name, b.host_dtype, false}, io, model_order);
    }
    inputs[b.io_name] = to_device_layout(b, io, model_order);
  }
  return inputs;
}

std::vector<double> read_float_npy(const std::string& file, const compiler::Tensor& t) {
  const NpyArray arr = read_npy(file);
  std::vector<uint64_t> want(t.shape.begin(), t.shape.end());
  if (arr.shape != want) throw isa::InputError(file + ": shape does not match input '" + t.name + "'");
  if (arr.descr != "<f4") throw isa::InputError(file + ": dtype '" + arr.descr + "' (expected float32 '<f4')");
  std::vector<double> v(arr.data.size() / 4);
  for (size_t i = 0; i < v.size(); ++i) {
    float f;
    std::memcpy(&f, &arr.data[4 * i], 4);
    v[i] = f;
  }
  return v;
}

std::vector<compiler::TensorValues> load_calibration(const std::string& dir, const compiler::Graph& g) {
  if (g.inputs.size() != 1)
    throw isa::InputError("--calibrate: the model has " + std::to_string(g.inputs.size()) +
                          " inputs; calibration directories hold samples of a single input");
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw isa::InputError("--calibrate " + dir + ": not a readable directory");
  std::vector<std::string> files;
  while (const dirent* e = ::readdir(d)) {
    const std::string f = e->d_name;
    if (ends_with(f, ".npy")) files.push_back(dir + "/" + f);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  if (files.empty()) throw isa::InputError("--calibrate " + dir + ": no .npy files");
  std::vector<compiler::TensorValues> samples;
  for (const auto& f : files) {
    std::vector<double> v = read_float_npy(f, g.tensor(g.inputs[0]));
    for (size_t i = 0; i < v.size(); ++i)  // a NaN or Inf range would quantize everything to garbage
      if (!std::isfinite(v[i]))
        throw isa::InputError(f + ": calibration sample holds " + (std::isnan(v[i]) ? "NaN" : "an infinity") +
                              " at element " + std::to_string(i) + " (flat index): calibration data must be finite");
    samples.push_back({{g.inputs[0], std::move(v)}});
  }
  return samples;
}

std::vector<double> output_values(const compiler::IoBinding& b, const isa::IoTensor& io,
                                  const std::vector<uint8_t>& dev) {
  const unsigned es = isa::tensor_type_bytes(io.dtype);
  const auto shape = model_shape(io, b.nhwc);
  std::vector<double> v(dev.size() / es);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint64_t j = b.nhwc ? nhwc_index(i, shape) : i;  // NHWC → NCHW
    const uint8_t* p = &dev[es * j];
    switch (io.dtype) {
      case isa::TensorType::FP16:
      case isa::TensorType::BF16: v[i] = from_device(static_cast<uint16_t>(p[0] | (p[1] << 8)), io.dtype); break;
      case isa::TensorType::I8: v[i] = static_cast<int8_t>(p[0]); break;
      case isa::TensorType::U8: v[i] = p[0]; break;
      default: {
        int32_t x;
        std::memcpy(&x, p, 4);
        v[i] = x;
      }
    }
  }
  return v;
}

}  // namespace npusim::cli
