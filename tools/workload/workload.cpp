#include "tools/workload/workload.h"

#include <Eigen/Core>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "arch/functional.h"
#include "arch/thermal.h"
#include "compiler/graph.h"
#include "compiler/host_kernels.h"
#include "isa/assembler.h"
#include "isa/diag.h"
#include "isa/npub.h"
#include "sim/run_power.h"
#include "tools/topology/topology.h"

namespace npusim {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

compiler::TargetInfo target_info(const config::NpuConfig& c) {
  compiler::TargetInfo t;
  t.line_bytes = c.spad.line_bytes;
  t.mxu_rows = c.mxu.rows;
  t.mxu_cols = c.mxu.cols;
  t.spad_bytes = c.spad.size_bytes;
  t.acc_bytes = c.acc.size_bytes;
  t.mxu_dtypes = c.mxu.dtypes;
  return t;
}

std::string path_beside(const std::string& from, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(from).parent_path() / path).lexically_normal().string();
}

isa::Program load_program(const std::string& path) {
  if (ends_with(path, ".npus")) return isa::assemble_file(path).program;
  return isa::load_npub_file(path);
}

RunResult timing_run(const config::NpuConfig& cfg, const isa::Program& prog, bool engine_spans) {
  std::map<std::string, std::vector<uint8_t>> in;
  for (const auto& io : prog.io) {
    if (prog.regions[io.region].role != isa::RegionRole::Input) continue;
    uint64_t bytes = isa::tensor_type_bytes(io.dtype);
    for (int k = 0; k < io.rank; ++k) bytes *= io.dims[k];
    in[io.name].assign(bytes, 0);
  }
  RunOptions o;
  o.timing_only = true;
  o.engine_spans = engine_spans;
  RunResult r = simulate(cfg, prog, in, o);
  if (!r.ok) throw isa::InputError("the program faults: " + r.fault_message);
  return r;
}

Evaluation evaluate(const config::NpuConfig& cfg, const std::string& workload, const EvalOptions& o) {
  Evaluation e;
  const double pes = static_cast<double>(cfg.mxu.rows) * cfg.mxu.cols;
  if (ends_with(workload, ".csv")) {
    e.kind = "topology";
    topology::LayerMemory mem = topology::memory_of(cfg);
    mem.ideal = o.ideal_memory;
    const auto rs = topology::run_layers(cfg, mem, topology::load_topology(workload));
    for (const auto& r : rs)
      e.cycles += r.total_cycles, e.seconds += r.seconds, e.energy_j += r.energy_j, e.macs += r.macs,
          e.dram_bytes += r.dram_bytes;
    e.layers = static_cast<uint32_t>(rs.size());
  } else {
    isa::Program prog;
    if (ends_with(workload, ".onnx")) {
      e.kind = "onnx";
      compiler::CompileOptions co;
      co.precision = o.precision;
      prog = compiler::compile(compiler::import_onnx(workload), target_info(cfg), co).program;
    } else if (ends_with(workload, ".npub") || ends_with(workload, ".npus")) {
      e.kind = "program";
      prog = load_program(workload);
    } else {
      throw isa::InputError(workload + ": unknown workload kind (expected .onnx, .npub, .npus or a topology .csv)");
    }
    const RunResult r = timing_run(cfg, prog);
    arch::ThermalNetwork net(cfg.thermal, cfg.thermal.step_s);
    const PowerReport p = power_of_run(cfg, r, net);
    e.cycles = r.total_cycles, e.seconds = r.seconds, e.energy_j = arch::total(p.energy), e.macs = r.macs;
    e.dram_bytes = r.dram.bytes_read + r.dram.bytes_written;
    e.layers = static_cast<uint32_t>(r.marker_cycles.size());
  }
  e.average_power_w = e.seconds > 0 ? e.energy_j / e.seconds : 0;
  e.utilization = e.cycles ? static_cast<double>(e.macs) / (static_cast<double>(e.cycles) * pes) : 0;
  return e;
}

uint16_t to_device(float v, isa::TensorType t) {
  return t == isa::TensorType::FP16 ? Eigen::numext::bit_cast<uint16_t>(Eigen::half(v))
                                    : Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(v));
}

float from_device(uint16_t b, isa::TensorType t) {
  return t == isa::TensorType::FP16 ? static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(b))
                                    : static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(b));
}

std::vector<uint64_t> model_shape(const isa::IoTensor& io, bool nhwc) {
  std::vector<uint64_t> d(io.dims.begin(), io.dims.begin() + io.rank);
  if (nhwc) d = {d[0], d[3], d[1], d[2]};
  return d;
}

uint64_t nhwc_index(uint64_t i, const std::vector<uint64_t>& nchw) {
  const uint64_t C = nchw[1], H = nchw[2], W = nchw[3];
  const uint64_t x = i % W, y = (i / W) % H, c = (i / (W * H)) % C, n = i / (W * H * C);
  return ((n * H + y) * W + x) * C + c;
}

const isa::IoTensor& io_entry(const isa::Program& p, const std::string& name) {
  for (const auto& io : p.io)
    if (io.name == name) return io;
  throw std::logic_error("no IO entry " + name);
}

std::vector<uint8_t> host_to_device_elements(const compiler::IoBinding& b, const isa::IoTensor& io, const NpyArray& arr,
                                             const std::string& where) {
  const auto shape = model_shape(io, b.nhwc);
  if (arr.shape != shape) {
    std::string want;
    for (uint64_t d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
    throw isa::InputError(where + ": shape does not match input '" + b.onnx_name + "' (expected [" + want + "])");
  }
  const bool is_float = io.dtype == isa::TensorType::FP16 || io.dtype == isa::TensorType::BF16;
  if (!is_float && b.host_dtype == compiler::DType::I64) {  // int64 lives as int32 on the device: narrowed
    if (arr.descr != "<i8")
      throw isa::InputError(where + ": dtype '" + arr.descr + "' for input '" + b.onnx_name +
                            "' (expected int64 '<i8')");
    std::vector<uint8_t> out(arr.data.size() / 2);
    for (size_t i = 0; i < arr.data.size() / 8; ++i) {
      int64_t v;
      std::memcpy(&v, &arr.data[8 * i], 8);
      if (v < INT32_MIN || v > INT32_MAX)
        throw isa::InputError(where + ": element " + std::to_string(i) + " of int64 input '" + b.onnx_name + "' is " +
                              std::to_string(v) + ", outside the int32 range the NPU holds int64 tensors in");
      const auto n = static_cast<int32_t>(v);
      std::memcpy(&out[4 * i], &n, 4);
    }
    return out;
  }
  if (!is_float && b.host_dtype == compiler::DType::Bool) {  // bool lives as u8 0/1
    if (arr.descr != "|b1" && arr.descr != "|u1")
      throw isa::InputError(where + ": dtype '" + arr.descr + "' for input '" + b.onnx_name +
                            "' (expected bool '|b1')");
    std::vector<uint8_t> out(arr.data.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = arr.data[i] != 0;
    return out;
  }
  if (!is_float) {  // integers: exactly the model's type
    if (arr.descr != npy_descr(io.dtype))
      throw isa::InputError(where + ": dtype '" + arr.descr + "' for input '" + b.onnx_name + "' (expected '" +
                            npy_descr(io.dtype) + "')");
    return arr.data;
  }
  if (arr.descr != "<f4" && arr.descr != "<f2")
    throw isa::InputError(where + ": dtype '" + arr.descr + "' for input '" + b.onnx_name +
                          "' (expected float32 '<f4' or float16 '<f2')");
  const size_t count = arr.data.size() / (arr.descr == "<f4" ? 4 : 2);
  std::vector<uint8_t> out(2 * count);
  for (size_t i = 0; i < count; ++i) {
    float v;
    if (arr.descr == "<f4")
      std::memcpy(&v, &arr.data[4 * i], 4);
    else
      v = from_device(static_cast<uint16_t>(arr.data[2 * i] | (arr.data[2 * i + 1] << 8)), isa::TensorType::FP16);
    const uint16_t h = to_device(v, io.dtype);
    out[2 * i] = static_cast<uint8_t>(h);
    out[2 * i + 1] = static_cast<uint8_t>(h >> 8);
  }
  return out;
}

std::vector<uint8_t> to_device_layout(const compiler::IoBinding& b, const isa::IoTensor& io,
                                      const std::vector<uint8_t>& model_order) {
  if (!b.nhwc) return model_order;
  const unsigned es = isa::tensor_type_bytes(io.dtype);
  const auto shape = model_shape(io, true);
  std::vector<uint8_t> bytes(model_order.size());
  for (uint64_t i = 0; i < model_order.size() / es; ++i)
    std::memcpy(&bytes[es * nhwc_index(i, shape)], &model_order[es * i], es);  // NCHW → NHWC
  return bytes;
}

NpyArray device_to_host(const compiler::IoBinding& b, const isa::IoTensor& io, const std::vector<uint8_t>& dev) {
  const unsigned es = isa::tensor_type_bytes(io.dtype);
  const bool is_float = io.dtype == isa::TensorType::FP16 || io.dtype == isa::TensorType::BF16;
  // int64 leaves the device's int32 widened back, bool its u8 0/1 as numpy bool.
  const bool wide = !is_float && b.host_dtype == compiler::DType::I64 && io.dtype == isa::TensorType::I32;
  const bool boolean = !is_float && b.host_dtype == compiler::DType::Bool;
  NpyArray arr{is_float  ? "<f4"
               : wide    ? "<i8"
               : boolean ? "|b1"
                         : npy_descr(io.dtype),
               model_shape(io, b.nhwc),
               std::vector<uint8_t>(dev.size() / es *
                                    (is_float ? 4
                                     : wide   ? 8
                                              : es))};
  for (size_t i = 0; i < dev.size() / es; ++i) {
    const uint64_t j = b.nhwc ? nhwc_index(i, arr.shape) : i;  // NHWC → NCHW on the way out
    if (wide) {
      int32_t v;
      std::memcpy(&v, &dev[4 * j], 4);
      const int64_t w = v;
      std::memcpy(&arr.data[8 * i], &w, 8);
      continue;
    }
    if (!is_float) {
      std::memcpy(&arr.data[es * i], &dev[es * j], es);
      continue;
    }
    const float v = from_device(static_cast<uint16_t>(dev[2 * j] | (dev[2 * j + 1] << 8)), io.dtype);
    std::memcpy(&arr.data[4 * i], &v, 4);
  }
  return arr;
}

std::function<void(uint32_t, arch::Memories&)> host_fallback(const compiler::CompiledModel& m) {
  // The program raises irq kHostIrqBase + i for host operator i.
  return [&m](uint32_t code, arch::Memories& mem) {
    if (code < compiler::kHostIrqBase || code - compiler::kHostIrqBase >= m.host_ops.size()) return;
    compiler::run_host_op(m.host_ops[code - compiler::kHostIrqBase], mem.regions);
  };
}

std::function<std::optional<HostWork>(uint32_t)> host_fallback_work(const compiler::CompiledModel& m) {
  return [&m](uint32_t code) -> std::optional<HostWork> {
    if (code < compiler::kHostIrqBase || code - compiler::kHostIrqBase >= m.host_ops.size()) return std::nullopt;
    const compiler::HostOp& op = m.host_ops[code - compiler::kHostIrqBase];
    const compiler::HostOpCost c = compiler::host_op_cost(op);
    return HostWork{op.node.name, op.node.op, c.read_bytes, c.write_bytes, c.elements, c.ops_per_element};
  };
}

void use_host_fallback(RunOptions& opts, const compiler::CompiledModel& m) {
  opts.irq_handler = host_fallback(m);
  opts.host_work = host_fallback_work(m);
}

ModelRun run_model(const config::NpuConfig& cfg, const compiler::CompiledModel& m,
                   const std::map<std::string, NpyArray>& inputs, RunOptions opts) {
  std::map<std::string, std::vector<uint8_t>> dev;
  for (const auto& b : m.inputs) {
    auto it = inputs.find(b.onnx_name);
    if (it == inputs.end()) it = inputs.find(b.io_name);
    if (it == inputs.end()) throw isa::InputError("no data for input '" + b.onnx_name + "'");
    const isa::IoTensor& io = io_entry(m.program, b.io_name);
    dev[b.io_name] = to_device_layout(b, io, host_to_device_elements(b, io, it->second, "input '" + b.onnx_name + "'"));
  }
  for (const auto& [name, arr] : inputs) {
    bool known = false;
    for (const auto& b : m.inputs) known = known || name == b.onnx_name || name == b.io_name;
    if (!known) throw isa::InputError("the model has no input '" + name + "'");
  }
  use_host_fallback(opts, m);
  ModelRun out;
  out.run = simulate(cfg, m.program, dev, opts);
  if (out.run.ok && !opts.timing_only)
    for (const auto& b : m.outputs)
      out.outputs[b.onnx_name] = device_to_host(b, io_entry(m.program, b.io_name), out.run.outputs.at(b.io_name));
  return out;
}

compiler::IoBinding recorded_binding(const isa::IoTensor& io) {
  compiler::DType t = compiler::DType::Other;
  switch (io.host_type) {
    case isa::HostType::F32: t = compiler::DType::F32; break;
    case isa::HostType::I64: t = compiler::DType::I64; break;
    case isa::HostType::Bool: t = compiler::DType::Bool; break;
    case isa::HostType::Device:
      switch (io.dtype) {
        case isa::TensorType::I8: t = compiler::DType::I8; break;
        case isa::TensorType::U8: t = compiler::DType::U8; break;
        case isa::TensorType::I32: t = compiler::DType::I32; break;
        case isa::TensorType::FP16: t = compiler::DType::F16; break;
        case isa::TensorType::BF16: t = compiler::DType::BF16; break;
        default: break;
      }
  }
  return compiler::IoBinding{io.name, io.name, t, io.host_nchw};
}

namespace {

/// `v` as "(a, b, c)".
std::string shape_text(const std::vector<uint64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

/// Whether `io` records a user-facing format other than the device's.
bool records_host_format(const isa::IoTensor& io) {
  return io.host_type != isa::HostType::Device || io.host_nchw;
}

}  // namespace

std::vector<uint8_t> program_input_bytes(const isa::IoTensor& io, const NpyArray& arr, const std::string& where) {
  const std::vector<uint64_t> device_shape(io.dims.begin(), io.dims.begin() + io.rank);
  // The device format first: files written before the IO table recorded the host's side, and
  // device-format data for those that do, read as they always have.
  if (arr.descr == npy_descr(io.dtype) && arr.shape == device_shape) return arr.data;
  const std::string device_text = isa::tensor_type_name(io.dtype) + std::string(" (numpy '") + npy_descr(io.dtype) +
                                  "') " + shape_text(device_shape);
  if (!records_host_format(io))
    throw isa::InputError(where + ": dtype '" + arr.descr + "' shape " + shape_text(arr.shape) +
                          " does not match input '" + io.name + "': " + device_text);
  const compiler::IoBinding b = recorded_binding(io);
  const std::string host_text = std::string(io.host_type == isa::HostType::F32    ? "float32 '<f4'"
                                            : io.host_type == isa::HostType::I64  ? "int64 '<i8'"
                                            : io.host_type == isa::HostType::Bool ? "bool '|b1'"
                                                                                  : npy_descr(io.dtype)) +
                                " " + shape_text(model_shape(io, b.nhwc)) + (b.nhwc ? " NCHW" : "");
  try {
    return to_device_layout(b, io, host_to_device_elements(b, io, arr, where));
  } catch (const isa::InputError&) {
    throw isa::InputError(where + ": dtype '" + arr.descr + "' shape " + shape_text(arr.shape) +
                          " matches neither format of input '" + io.name + "': the model's " + host_text +
                          ", or the device's " + device_text);
  }
}

NpyArray program_output_array(const isa::IoTensor& io, const std::vector<uint8_t>& dev) {
  if (!records_host_format(io))
    return NpyArray{npy_descr(io.dtype), std::vector<uint64_t>(io.dims.begin(), io.dims.begin() + io.rank), dev};
  return device_to_host(recorded_binding(io), io, dev);
}

double mxu_area_cells(uint32_t rows, uint32_t cols) {
  const double r = rows, c = cols;
  return 1058.09375 * r * c + 1082.0625 * (r + c) - 164;
}

}  // namespace npusim
