// Lowering of ONNX operators to npusim instructions. Float activations live in DRAM regions in the
// compiled precision (fp16 or bf16); integer tensors (int8, uint8, int32) keep their type, so
// quantized models run bit-exact. Every operator is tiled to the SRAM sizes and runs as a chain of
// LOAD → (MXU) → VPU → STORE instructions ordered by seven semaphores, so the next tile (and the
// next operator) starts when the previous store has completed; inside Gemm and Conv tiles the A/B
// loads are double-buffered. The order is correct by construction and `validate_program`/the
// deadlock proof check it. Weights are converted at compile time (floats to the precision with
// Gemm's alpha folded in; quantized weights minus their zero points, as int8 passes).
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "compiler/compile.h"
#include "isa/deadlock.h"
#include "isa/diag.h"
#include "isa_ops.h"

namespace npusim::compiler {
namespace {

namespace f = isa::fields;
using isa::Instruction;
using isa::Opcode;

const std::vector<std::string> kSupported = {"Gemm",
                                             "MatMul",
                                             "Conv",
                                             "MaxPool",
                                             "AveragePool",
                                             "GlobalAveragePool",
                                             "BatchNormalization",
                                             "Concat",
                                             "Relu",
                                             "Clip",
                                             "Add",
                                             "Sub",
                                             "Mul",
                                             "Flatten",
                                             "Reshape",
                                             "Identity",
                                             "Transpose",
                                             "Softmax",
                                             "LogSoftmax",
                                             "Exp",
                                             "Log",
                                             "Reciprocal",
                                             "Sqrt",
                                             "Tanh",
                                             "Sigmoid",
                                             "Erf",
                                             "QuantizeLinear",
                                             "DequantizeLinear",
                                             "QLinearMatMul",
                                             "QLinearConv",
                                             "MatMulInteger",
                                             "ConvInteger"};
/// kSupported as a set.
const std::set<std::string>& supported_set() {
  static const std::set<std::string> s(kSupported.begin(), kSupported.end());
  return s;
}

/// Where a tensor lives in DRAM, viewed as rows x cols of the device type.
struct Location {
  uint8_t region = 0;                            ///< region id
  uint64_t offset = 0;                           ///< byte offset in the region
  int64_t rows = 0;                              ///< leading dimensions collapsed
  int64_t cols = 0;                              ///< last dimension
  isa::TensorType type = isa::TensorType::FP16;  ///< device element type
  int32_t zp = 0;                                ///< zero point (what padded loads of a quantized tensor insert)
};

/// How rows_op walks its operands when they are not dense out.rows x out.cols matrices.
struct RowsWalk {
  int64_t out_stride = -1;  ///< elements between output rows (-1: out.cols)
  int64_t out_col0 = 0;     ///< first output column (element offset added to the store)
  int64_t in_stride = -1;   ///< elements between rows of the non-broadcast inputs (-1: out.cols)
  int64_t in_col0 = 0;      ///< element offset added to their loads
  bool uses_acc = false;    ///< the VPU sequence keeps a tile of i32/fp32 in the accumulator at line 0
};

class Lowering {
 public:
  Lowering(const Graph& g, const TargetInfo& t, const CompileOptions& o)
      : g_(g), t_(t), precision_(o.precision), fallback_(o.fallback) {
    if (o.precision == "fp16") {
      dev_ = isa::TensorType::FP16;
      elem_ = 2;  // ISA dtype enum: i8, u8, fp16, bf16
    } else if (o.precision == "bf16") {
      dev_ = isa::TensorType::BF16;
      elem_ = 3;
    } else {
      throw CompileError("precision '" + o.precision +
                         "': the lowering takes fp16 or bf16 (int8 is quantized before it: `--precision int8 "
                         "--calibrate DIR`)");
    }
    p_.target.line_bytes = t.line_bytes;
    p_.target.mxu_rows = static_cast<uint16_t>(t.mxu_rows);
    p_.target.mxu_cols = static_cast<uint16_t>(t.mxu_cols);
    p_.target.spad_bytes = static_cast<uint32_t>(std::min<uint64_t>(t.spad_bytes, UINT32_MAX));
    p_.target.acc_bytes = static_cast<uint32_t>(std::min<uint64_t>(t.acc_bytes, UINT32_MAX));
    // Seven semaphores order the chain LOAD → MXU → VPU → STORE → LOAD (m2s: MXU → STORE for i32 outputs) (see the file
    // comment).
    p_.sems = {{"go", isa::Engine::Load, 1},   {"l2m", isa::Engine::Mxu, 0}, {"m2l", isa::Engine::Load, 0},
               {"m2v", isa::Engine::Vpu, 0},   {"l2v", isa::Engine::Vpu, 0}, {"v2s", isa::Engine::Store, 0},
               {"m2s", isa::Engine::Store, 0}, {"v2m", isa::Engine::Mxu, 0}};
  }

  CompiledModel run() {
    CompiledModel out;
    mark_spatial();
    // Regions: one per graph input and output, weights (const) and activations (scratch).
    for (const auto& name : g_.inputs) {
      const Tensor& t = g_.tensor(name);
      out.inputs.push_back({name, io_region(t, isa::RegionRole::Input), t.dtype, is_spatial(t)});
    }
    for (const auto& name : g_.outputs) {
      const Tensor& t = g_.tensor(name);
      if (loc_.count(name)) throw CompileError("graph output '" + name + "' is also a graph input: nothing to compute");
      out.outputs.push_back({name, io_region(t, isa::RegionRole::Output), t.dtype, is_spatial(t)});
    }
    weights_region_ = static_cast<uint8_t>(p_.regions.size());
    p_.regions.push_back({"weights", isa::RegionRole::Const, 1, 64, {}});
    act_region_ = static_cast<uint8_t>(p_.regions.size());
    p_.regions.push_back({"activations", isa::RegionRole::Scratch, 1, 64, {}});
    if (p_.regions.size() > isa::spec().max_regions)
      throw CompileError("the model has " + std::to_string(g_.inputs.size() + g_.outputs.size()) +
                         " inputs and outputs; at most " + std::to_string(isa::spec().max_regions - 2) +
                         " fit the region table");
    for (const Node& n : g_.nodes) {
      const std::string marker = unique_marker(n.name);
      out.operators.push_back(marker);
      const auto m = static_cast<uint32_t>(p_.markers.size());
      p_.markers.push_back(marker);
      emit_mark(m, false);
      lower(n);
      emit_mark(m, true);
    }
    Instruction fin;
    fin.w[0] = static_cast<uint32_t>(Opcode::Finish);
    p_.text.push_back(fin);
    // The MXU types the program uses: each must be one the target supports.
    for (const Instruction& i : p_.text)
      if (static_cast<Opcode>(i.opcode()) == Opcode::Matmul)
        p_.target.dtype_mask |= static_cast<uint8_t>(1u << i.get(f::matmul::dtype));
    for (int d = 0; d < isa::spec().dtype_count; ++d)
      if ((p_.target.dtype_mask >> d) & 1) {
        const std::string name = isa::spec().dtypes[d].name;
        if (std::find(t_.mxu_dtypes.begin(), t_.mxu_dtypes.end(), name) == t_.mxu_dtypes.end())
          throw CompileError("the model needs " + name +
                             " matrix multiplies, which the target's MXU lacks (mxu.dtypes)" +
                             (is_float_type(dev_) && d >= 2 ? "; choose another --precision" : ""));
      }
    p_.regions[weights_region_].size = std::max<uint64_t>(1, weights_.size());
    p_.regions[weights_region_].init = weights_;
    while (!p_.regions[weights_region_].init.empty() && p_.regions[weights_region_].init.back() == 0)
      p_.regions[weights_region_].init.pop_back();
    p_.regions[act_region_].size = std::max<uint64_t>(1, act_bytes_);
    try {
      isa::validate_program(p_);
    } catch (const isa::InputError& e) {  // the compiler emitted something the ISA rejects: a compiler bug
      throw CompileError(std::string("internal error: the generated program is invalid: ") + e.what());
    }
    if (auto dl = isa::find_deadlock(p_))
      throw CompileError("internal error: the generated program deadlocks:\n" + dl->describe(p_));
    out.host_ops = std::move(host_ops_);
    out.program = std::move(p_);
    return out;
  }

 private:
  // ------------------------------------------------------------------ storage
  /// The device type of a tensor: float tensors in the compiled precision, integers as they are.
  isa::TensorType type_of(const Tensor& t, const std::string& role) const {
    switch (t.dtype) {
      case DType::F32:
      case DType::F16: return dev_;
      case DType::I8: return isa::TensorType::I8;
      case DType::U8: return isa::TensorType::U8;
      case DType::I32: return isa::TensorType::I32;
      default:
        throw CompileError(role + " '" + t.name + "' is " + dtype_name(t.dtype) +
                           "; the NPU holds float32/float16 (as " + precision_ + "), int8, uint8 and int32 tensors");
    }
  }
  static bool is_float_type(isa::TensorType t) { return t == isa::TensorType::FP16 || t == isa::TensorType::BF16; }
  /// The ISA's 2-bit element-type code (i8, u8, fp16, bf16) of VPU and MXU instructions.
  uint32_t code(isa::TensorType t, const Node& n) const {
    switch (t) {
      case isa::TensorType::I8: return 0;
      case isa::TensorType::U8: return 1;
      case isa::TensorType::FP16: return 2;
      case isa::TensorType::BF16: return 3;
      default: throw CompileError(where(n) + ": an int32 tensor cannot be an operand of this operator on the NPU");
    }
  }
  static unsigned bytes_of(isa::TensorType t) { return isa::tensor_type_bytes(t); }

  /// Rank-4 tensors ([N, C, H, W] in ONNX) live as NHWC on the device: pixels as rows, channels
  /// along the row, the layout the ISA's padded loads and pool instruction work on.
  /// Whether a tensor is an image on the device (NHWC). Decided once for the graph by
  /// mark_spatial(): the inputs and outputs of Conv and pools, and everything connected to them
  /// through element-wise operators; other rank-4 tensors stay row-major as in ONNX.
  bool is_spatial(const Tensor& t) const { return t.shape.size() == 4 && spatial_.count(t.name) > 0; }

  void mark_spatial() {
    static const std::set<std::string> images = {
        "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "QLinearConv", "ConvInteger"};
    static const std::set<std::string> elementwise = {
        "Relu", "Clip", "Add",  "Sub",  "Mul",     "Identity", "BatchNormalization", "QuantizeLinear",
        "Exp",  "Log",  "Sqrt", "Tanh", "Sigmoid", "Erf",      "Reciprocal",         "DequantizeLinear"};
    for (const Node& n : g_.nodes)
      if (images.count(n.op)) {
        if (!n.inputs.empty()) spatial_.insert(n.inputs[0]);
        if (!n.outputs.empty()) spatial_.insert(n.outputs[0]);
      }
    for (bool changed = true; changed;) {  // propagate through element-wise operators, both ways
      changed = false;
      for (const Node& n : g_.nodes) {
        if (!elementwise.count(n.op) || n.outputs.empty()) continue;
        const auto rank4 = [&](const std::string& t) { return !t.empty() && g_.tensor(t).shape.size() == 4; };
        bool any = spatial_.count(n.outputs[0]) > 0;
        for (const auto& i : n.inputs) any = any || (rank4(i) && spatial_.count(i));
        if (!any) continue;
        for (const auto& t : std::vector<std::string>{n.outputs[0], n.inputs.empty() ? "" : n.inputs[0]})
          if (rank4(t) && spatial_.insert(t).second) changed = true;
        if (n.inputs.size() > 1 && rank4(n.inputs[1]) &&
            g_.tensor(n.inputs[1]).shape == g_.tensor(n.outputs[0]).shape && spatial_.insert(n.inputs[1]).second)
          changed = true;
      }
    }
  }

  /// The device view of a tensor: rows x cols (NHWC: N*H*W pixels x C channels).
  std::pair<int64_t, int64_t> view(const Tensor& t) const {
    if (is_spatial(t)) return {t.shape[0] * t.shape[2] * t.shape[3], t.shape[1]};
    const int64_t cols = t.shape.empty() ? 1 : t.shape.back();
    return {cols ? t.elements() / cols : 0, cols};
  }

  /// Constant values in device order (NCHW → NHWC for rank 4).
  std::vector<double> device_order(const Tensor& t) const {
    if (!is_spatial(t)) return t.values;
    const int64_t N = t.shape[0], C = t.shape[1], H = t.shape[2], W = t.shape[3];
    std::vector<double> v(t.values.size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) v[((n * H + y) * W + x) * C + c] = t.values[((n * C + c) * H + y) * W + x];
    return v;
  }

  std::string io_region(const Tensor& t, isa::RegionRole role) {
    const auto [rows, cols] = view(t);
    const std::string name = sanitize(t.name);
    const auto id = static_cast<uint8_t>(p_.regions.size());
    const isa::TensorType type = type_of(t, role == isa::RegionRole::Input ? "graph input" : "graph output");
    const uint64_t bytes = static_cast<uint64_t>(t.elements()) * bytes_of(type);
    p_.regions.push_back({name, role, std::max<uint64_t>(1, bytes), 64, {}});
    isa::IoTensor io;
    io.name = name;
    io.region = id;
    io.dtype = type;
    io.rank = static_cast<uint8_t>(std::max<size_t>(1, t.shape.size()));
    if (t.shape.size() > 4)
      throw CompileError("tensor '" + t.name + "' has rank " + std::to_string(t.shape.size()) +
                         "; at most 4 is supported");
    for (size_t i = 0; i < t.shape.size(); ++i) io.dims[i] = static_cast<uint32_t>(t.shape[i]);
    if (is_spatial(t)) {  // NHWC on the device
      io.dims = {static_cast<uint32_t>(t.shape[0]), static_cast<uint32_t>(t.shape[2]),
                 static_cast<uint32_t>(t.shape[3]), static_cast<uint32_t>(t.shape[1])};
    }
    if (t.shape.empty()) io.dims[0] = 1;
    p_.io.push_back(io);
    loc_[t.name] = {id, 0, rows, cols, type};
    return name;
  }

  /// Location of a tensor an operator reads: an activation already placed, or a constant
  /// placed now in the weights region (converted to the device type).
  Location input(const Node& n, size_t i) {
    if (i >= n.inputs.size() || n.inputs[i].empty())
      throw CompileError(where(n) + ": input " + std::to_string(i) + " is missing");
    const Tensor& t = g_.tensor(n.inputs[i]);
    auto it = loc_.find(t.name);
    if (it != loc_.end()) return it->second;
    if (!t.is_const) throw CompileError(where(n) + ": input '" + t.name + "' is produced by nothing before it");
    const isa::TensorType type = type_of(t, where(n) + ": constant");
    const auto [rows, cols] = view(t);
    Location l{weights_region_, put_typed(device_order(t), type), rows, cols, type};
    loc_[t.name] = l;
    return l;
  }

  /// Output location: the graph output's region, or fresh space among the activations.
  Location output(const Node& n, size_t i = 0) {
    const Tensor& t = g_.tensor(n.outputs.at(i));
    const isa::TensorType type = type_of(t, where(n) + ": output");
    auto it = loc_.find(t.name);
    if (it != loc_.end()) return it->second;  // a graph output region
    const auto [rows, cols] = view(t);
    act_bytes_ = (act_bytes_ + 63) / 64 * 64;
    Location l{act_region_, act_bytes_, rows, cols, type};
    act_bytes_ += static_cast<uint64_t>(t.elements()) * bytes_of(type);
    loc_[t.name] = l;
    return l;
  }

  uint64_t align64(std::vector<uint8_t>& v) {
    v.resize((v.size() + 63) / 64 * 64, 0);
    return v.size();
  }

  /// Appends values in the device type (round to nearest even) to the weights; returns the offset.
  uint64_t put_device(const std::vector<double>& values) {
    const uint64_t off = align64(weights_);
    for (double d : values) {
      const auto fl = static_cast<float>(d);
      const uint16_t b = dev_ == isa::TensorType::FP16 ? Eigen::numext::bit_cast<uint16_t>(Eigen::half(fl))
                                                       : Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(fl));
      weights_.push_back(static_cast<uint8_t>(b));
      weights_.push_back(static_cast<uint8_t>(b >> 8));
    }
    return off;
  }
  /// Appends values in `type` (integers must be in range); returns the offset.
  uint64_t put_typed(const std::vector<double>& values, isa::TensorType type) {
    if (is_float_type(type)) return put_device(values);
    const uint64_t off = align64(weights_);
    const unsigned es = bytes_of(type);
    for (double d : values) {
      const auto v = static_cast<int64_t>(d);
      for (unsigned k = 0; k < es; ++k) weights_.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * k)));
    }
    return off;
  }
  /// Appends i32 values (accumulator-side integer biases); returns the offset.
  uint64_t put_i32(const std::vector<int32_t>& values) {
    const uint64_t off = align64(weights_);
    for (int32_t v : values)
      for (int k = 0; k < 4; ++k) weights_.push_back(static_cast<uint8_t>(static_cast<uint32_t>(v) >> (8 * k)));
    return off;
  }
  /// Appends fp32 values (accumulator-side biases); returns the offset.
  uint64_t put_fp32(const std::vector<float>& values) {
    const uint64_t off = align64(weights_);
    for (float fl : values) {
      uint32_t b;
      std::memcpy(&b, &fl, 4);
      for (int k = 0; k < 4; ++k) weights_.push_back(static_cast<uint8_t>(b >> (8 * k)));
    }
    return off;
  }

  // ------------------------------------------------------------------ instructions
  static std::string where(const Node& n) { return "node '" + n.name + "' (" + n.op + ")"; }

  std::string unique_marker(const std::string& name) {
    std::string s = sanitize(name);
    if (!marker_names_.insert(s).second) {
      int k = 2;
      while (!marker_names_.insert(s + "_" + std::to_string(k)).second) ++k;
      s += "_" + std::to_string(k);
    }
    return s;
  }

  void emit_mark(uint32_t marker, bool end) {
    Instruction i = make(Opcode::Mark);
    i.set(f::mark::edge, end ? f::mark::edge_end : f::mark::edge_begin);
    i.set(f::mark::marker, marker);
    p_.text.push_back(i);
  }

  static Instruction make(Opcode op) {
    Instruction i;
    i.w[0] = static_cast<uint32_t>(op);
    return i;
  }
  static constexpr int kGo = 0, kL2M = 1, kM2L = 2, kM2V = 3, kL2V = 4, kV2S = 5, kM2S = 6,
                       kV2M = 7;  ///< semaphore ids (see the constructor)
  void emit(Instruction i, int wait_sem, uint32_t wait_n, int sig_sem) {
    if (wait_sem >= 0) {
      i.set(isa::header::wait_en, 1);
      i.set(isa::header::wait_sem, static_cast<uint32_t>(wait_sem));
      i.set(isa::header::wait_cnt, wait_n - 1);
    }
    if (sig_sem >= 0) {
      i.set(isa::header::sig_en, 1);
      i.set(isa::header::sig_sem, static_cast<uint32_t>(sig_sem));
    }
    p_.text.push_back(i);
  }

  /// A load of the rows x cols tile at (row0, col0) of a row-major matrix with `row_elems` elements
  /// per row that starts `base_elems` elements into `l`, into the scratchpad at `dst`.
  Instruction tile_load(uint32_t dst, const Location& l, int64_t base_elems, int64_t row0, int64_t col0, uint32_t rows,
                        uint32_t cols, int64_t row_elems) {
    Instruction i = make(Opcode::Load);
    i.set(f::load::dst, dst);
    i.set(f::load::desc, desc(l.region, l.type, l.offset, cols, rows, row_elems));
    i.set(f::load::off, static_cast<uint32_t>(base_elems + row0 * row_elems + col0));
    return i;
  }

  /// Descriptor of a rows x cols box with a row stride of `stride_elems` elements (0: broadcast row).
  uint32_t desc(uint8_t region, isa::TensorType dt, uint64_t base, uint32_t cols, uint32_t rows, int64_t stride_elems) {
    return desc_nd(region, dt, base, {cols, rows}, {stride_elems});
  }

  /// Descriptor of a box (innermost first) with element strides for dimensions 1.. (deduplicated).
  uint32_t desc_nd(uint8_t region, isa::TensorType dt, uint64_t base, const std::vector<uint32_t>& box,
                   const std::vector<int64_t>& stride_elems, int32_t zero_point = 0) {
    const unsigned es = isa::tensor_type_bytes(dt);
    const auto key = std::make_tuple(region, static_cast<int>(dt), base, box, stride_elems, zero_point);
    auto it = descs_.find(key);
    if (it != descs_.end()) return it->second;
    isa::TensorDesc d;
    d.name = "d" + std::to_string(p_.descs.size());
    d.region = region;
    d.dtype = dt;
    d.rank = static_cast<uint8_t>(box.size());
    d.offset = base;
    d.zero_point = zero_point;
    for (size_t i = 0; i < box.size(); ++i) d.box[i] = box[i];
    for (size_t i = 0; i < stride_elems.size(); ++i) d.stride[i] = stride_elems[i] * static_cast<int64_t>(es);
    if (p_.descs.size() >= isa::spec().max_descriptors)
      throw CompileError("the model needs more than " + std::to_string(isa::spec().max_descriptors) + " descriptors");
    const auto id = static_cast<uint32_t>(p_.descs.size());
    p_.descs.push_back(d);
    descs_.emplace(key, id);
    return id;
  }

  uint32_t lines(uint64_t rows, uint64_t cols, unsigned es) const {
    return static_cast<uint32_t>(rows * ((cols * es + t_.line_bytes - 1) / t_.line_bytes));
  }

  /// fp32-mode requant entry converting accumulators to the device type, times `scale`.
  uint32_t to_device_param(float scale) {
    auto it = to_dev_params_.find(scale);
    if (it != to_dev_params_.end()) return it->second;
    isa::Param q;
    q.name = "to_device" + std::to_string(p_.params.size());
    q.bytes[0] = isa::params::requant::kKind;
    q.bytes[isa::params::requant::mode] = isa::params::requant::mode_fp32;
    std::memcpy(&q.bytes[isa::params::requant::multiplier], &scale, 4);
    const auto id = static_cast<uint32_t>(p_.params.size());
    p_.params.push_back(q);
    to_dev_params_.emplace(scale, id);
    return id;
  }

  /// Clamp bounds for float tiles and, rounded inward, for integer ones.
  uint32_t clamp_param(float lo, float hi) {
    isa::Param c;
    c.name = "clamp" + std::to_string(p_.params.size());
    c.bytes[0] = isa::params::clamp::kKind;
    std::memcpy(&c.bytes[isa::params::clamp::fmin], &lo, 4);
    std::memcpy(&c.bytes[isa::params::clamp::fmax], &hi, 4);
    const auto to_i32 = [](double v) {
      return static_cast<int32_t>(std::min<double>(std::max<double>(v, INT32_MIN), INT32_MAX));
    };
    const int32_t ilo = to_i32(std::ceil(lo)), ihi = to_i32(std::floor(hi));
    std::memcpy(&c.bytes[isa::params::clamp::min], &ilo, 4);
    std::memcpy(&c.bytes[isa::params::clamp::max], &ihi, 4);
    p_.params.push_back(c);
    return static_cast<uint32_t>(p_.params.size() - 1);
  }

  // ------------------------------------------------------------------ operators
  void lower(const Node& n) {
    static const std::set<std::string> float_only = {
        "Gemm", "MatMul",     "Conv", "AveragePool", "GlobalAveragePool", "BatchNormalization",
        "Add",  "Sub",        "Mul",  "Softmax",     "LogSoftmax",        "Exp",
        "Log",  "Reciprocal", "Sqrt", "Tanh",        "Sigmoid",           "Erf"};
    if (float_only.count(n.op) || (!supported_set().count(n.op) && has_host_kernel(n.op)))
      for (const auto& name : n.outputs)
        if (!name.empty() && !is_float_type(type_of(g_.tensor(name), where(n) + ": output")))
          throw CompileError(where(n) + ": " + dtype_name(g_.tensor(name).dtype) +
                             " is not supported for this operator (float only; integer models use QLinearConv, "
                             "QLinearMatMul, ConvInteger, MatMulInteger, MaxPool, Relu, Clip, Concat, Reshape)");
    if (n.op == "QLinearMatMul" || n.op == "MatMulInteger") return qmatmul(n);
    if (n.op == "QLinearConv" || n.op == "ConvInteger") return qconv(n);
    if (n.op == "QuantizeLinear" || n.op == "DequantizeLinear") return quantize(n);
    if (n.op == "Gemm" || n.op == "MatMul") return gemm(n);
    if (n.op == "Transpose" && transpose(n)) return;
    if ((n.op == "Softmax" || n.op == "LogSoftmax") && softmax(n)) return;
    if (auto it = sfu_ops().find(n.op); it != sfu_ops().end()) return special(n, it->second);
    if (n.op == "Relu") return unary(n, clamp_param(0, INFINITY));
    if (n.op == "Clip") {
      float lo = -INFINITY, hi = INFINITY;
      if (g_.opset < 11) {  // opset 6-10: bounds are attributes
        lo = n.attr_f("min", -3.402823466e38f), hi = n.attr_f("max", 3.402823466e38f);
      } else {
        if (n.inputs.size() > 1 && !n.inputs[1].empty()) lo = static_cast<float>(const_scalar(n, 1));
        if (n.inputs.size() > 2 && !n.inputs[2].empty()) hi = static_cast<float>(const_scalar(n, 2));
      }
      if (std::isnan(lo) || std::isnan(hi))
        throw CompileError(where(n) + ": a NaN bound (min or max) is not supported");
      return unary(n, clamp_param(lo, hi));
    }
    if (n.op == "Add" || n.op == "Sub" || n.op == "Mul") return binary(n);
    if (n.op == "Conv") return conv(n);
    if (n.op == "BatchNormalization") return batch_norm(n);
    if (n.op == "Concat") return concat(n);
    if (n.op == "MaxPool" || n.op == "AveragePool" || n.op == "GlobalAveragePool") return pool(n);
    if (n.op == "Flatten" || n.op == "Reshape" || n.op == "Identity") return alias(n);
    if (fallback_ && has_host_kernel(n.op)) return host(n);
    std::string list;
    for (const auto& k : kSupported) list += (list.empty() ? "" : ", ") + k;
    std::string host_list;
    for (const auto& k : host_operators()) host_list += (host_list.empty() ? "" : ", ") + k;
    throw CompileError(where(n) + ": operator not supported on the NPU by this compiler (supported: " + list + ")" +
                       (fallback_               ? "; no host kernel either (host: " + host_list + ")"
                        : has_host_kernel(n.op) ? "; a host kernel exists but --no-fallback is set"
                                                : ""));
  }

  double const_scalar(const Node& n, size_t i) {
    const Tensor& t = g_.tensor(n.inputs[i]);
    if (!t.is_const || t.values.size() != 1)
      throw CompileError(where(n) + ": input '" + t.name + "' must be a constant scalar");
    return t.values[0];
  }

  /// An operator left to the host: `barrier all` (every earlier instruction has completed),
  /// `irq kHostIrqBase + index` (the runner runs the reference kernel when it completes),
  /// `barrier ctrl` (nothing later is dispatched before that). Tensors stay row-major.
  void host(const Node& n) {
    check_host_op(n, g_, g_.opset);
    HostOp op;
    op.node = n;
    op.dev = dev_;
    op.opset = g_.opset;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (n.inputs[i].empty()) continue;
      const Tensor& t = g_.tensor(n.inputs[i]);
      if (is_spatial(t))
        throw CompileError(where(n) + ": host operators on images (NHWC on the device) are not supported");
      const Location l = input(n, i);
      if (!is_float_type(l.type))
        throw CompileError(where(n) + ": host kernels take float tensors; '" + t.name + "' is " + dtype_name(t.dtype));
      op.inputs.push_back({l.region, l.offset, t.shape});
    }
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (n.outputs[i].empty()) continue;
      const Tensor& t = g_.tensor(n.outputs[i]);
      const Location l = output(n, i);
      op.outputs.push_back({l.region, l.offset, t.shape});
    }
    Instruction drain = make(Opcode::Barrier);
    drain.set(f::barrier::engines, (1u << isa::kEngineCount) - 1);
    p_.text.push_back(drain);
    Instruction irq = make(Opcode::Irq);
    irq.set(f::irq::code, kHostIrqBase + static_cast<uint32_t>(host_ops_.size()));
    p_.text.push_back(irq);
    Instruction hold = make(Opcode::Barrier);
    hold.set(f::barrier::engines, 1u << static_cast<unsigned>(isa::Engine::Ctrl));
    p_.text.push_back(hold);
    host_ops_.push_back(std::move(op));
  }

  /// Flatten/Reshape/Identity on row-major data: the output shares the input's bytes.
  void alias(const Node& n) {
    const Tensor& src = g_.tensor(n.inputs.at(0));
    if (is_spatial(src) && (src.shape[2] != 1 || src.shape[3] != 1) && !is_spatial(g_.tensor(n.outputs[0])))
      throw CompileError(where(n) + ": reshaping a spatial tensor " + shape_text(src.shape) +
                         " is not supported yet (its device layout is NHWC); only H = W = 1 is");
    Location l = input(n, 0);
    const Tensor& out = g_.tensor(n.outputs[0]);
    if (loc_.count(out.name)) {  // a graph output: copy through the VPU instead
      return unary(n, clamp_param(-INFINITY, INFINITY));
    }
    const auto [rows, cols] = view(out);
    l.rows = rows;
    l.cols = cols;
    loc_[out.name] = l;
  }

  /// Gemm (Y = alpha * A x B' + beta * C, B' = B or B^T) and 2-D MatMul. Constant B: converted at
  /// compile time with alpha folded in. Computed B: read in place (transposed through the matmul's
  /// trans_b) and alpha applied by the requant scale. Constant C: fp32 in the weights, loaded into
  /// the accumulator. Computed C: loaded in the device type and turned into fp32 accumulator
  /// values by a VPU mul with a constant row of beta/alpha.
  /// `batch_mkn`: for one batch of a batched MatMul, its M, K and N (B is then read in place).
  void gemm(const Node& n, const int64_t* batch_mkn = nullptr) {
    const bool is_gemm = n.op == "Gemm";
    const Tensor& a = g_.tensor(n.inputs.at(0));
    const Tensor& b = g_.tensor(n.inputs.at(1));
    const bool trans_a = is_gemm && n.attr_i("transA", 0);  // A stored as K rows of M
    const bool trans_b = is_gemm && n.attr_i("transB", 0);
    const float alpha = is_gemm ? n.attr_f("alpha", 1.0f) : 1.0f, beta = is_gemm ? n.attr_f("beta", 1.0f) : 1.0f;
    if (!is_gemm && !batch_mkn && b.shape.size() > 2) return batched_matmul(n);
    if (!batch_mkn && b.shape.size() != 2)
      throw CompileError(where(n) + ": B must be 2-D, got rank " + std::to_string(b.shape.size()));
    if (is_spatial(a)) throw CompileError(where(n) + ": a 4-D A is not supported (flatten it first)");
    if (a.shape.empty() || (trans_a && a.shape.size() != 2))
      throw CompileError(where(n) + ": A must be 2-D (rank >= 1 for MatMul)");
    const int64_t K = batch_mkn ? batch_mkn[1] : trans_a ? a.shape[0] : a.shape.back();
    const int64_t M = batch_mkn ? batch_mkn[0] : a.elements() / K;
    const int64_t N = batch_mkn ? batch_mkn[2] : trans_b ? b.shape[0] : b.shape[1];
    if (!batch_mkn && (trans_b ? b.shape[1] : b.shape[0]) != K)
      throw CompileError(where(n) + ": inner dimensions differ");
    const Location la = input(n, 0);
    Location lb;
    bool b_transposed = false;  // B stored as N rows of K
    float scale = 1.0f;         // applied by the requant
    if (b.is_const && !loc_.count(b.name) && !batch_mkn) {
      std::vector<double> w(static_cast<size_t>(K * N));
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < N; ++j) w[k * N + j] = alpha * (trans_b ? b.values[j * K + k] : b.values[k * N + j]);
      lb = {weights_region_, put_device(w), K, N, dev_};
    } else {
      lb = input(n, 1);
      b_transposed = trans_b;
      scale = alpha;
      if (alpha == 0.0f) throw CompileError(where(n) + ": alpha = 0 with a computed B is not supported");
    }
    // C: constant (fp32 into the accumulator) or computed (device type, converted by the VPU).
    Bias bias = Bias::None;
    uint64_t bias_off = 0, ratio_off = 0;
    Location lc;
    if (is_gemm && n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const Tensor& c = g_.tensor(n.inputs[2]);
      const bool row = c.elements() == N && (c.shape.empty() || c.shape.back() == N),
                 full = c.elements() == M * N && !row;
      if (c.is_const) {
        // The requant multiplies everything by `scale`: store beta * C / scale.
        std::vector<float> v;
        const double k = beta / scale;
        if (c.elements() == 1)
          v.assign(static_cast<size_t>(N), static_cast<float>(k * c.values[0]));
        else if (row || full)
          for (double d : c.values) v.push_back(static_cast<float>(k * d));
        else
          throw CompileError(where(n) + ": C of shape " + shape_text(c.shape) + " does not broadcast to " +
                             shape_text({M, N}));
        bias_off = put_fp32(v);
        bias = full ? Bias::ConstFull : Bias::ConstRow;
      } else {
        if (!row && !full)
          throw CompileError(where(n) + ": a computed C of shape " + shape_text(c.shape) +
                             " is not supported (a row of N or the full M x N)");
        lc = input(n, 2);
        ratio_off = put_device(std::vector<double>(static_cast<size_t>(N), beta / scale));
        bias = full ? Bias::DynFull : Bias::DynRow;
      }
    }
    GemmPlan plan;
    plan.a = la;
    plan.b = lb;
    plan.c = lc;
    plan.y = output(n);
    plan.trans_a = trans_a;
    plan.b_transposed = b_transposed;
    plan.M = M, plan.K = K, plan.N = N;
    plan.bias = bias;
    plan.bias_type = isa::TensorType::FP32;
    plan.bias_off = bias_off;
    plan.ratio_off = ratio_off;
    plan.mm_dtype = elem_;
    const uint32_t rq = to_device_param(scale);
    plan.requant_for = [rq](int64_t) { return rq; };
    emit_gemm(n, plan);
  }

  /// A tiled matrix multiply to emit: Y[M x N] = A[M x K] . B[K x N] on top of an initial
  /// accumulator (bias), then an epilogue (requant to Y's type, or the i32 accumulator stored as is).
  enum class Bias { None, ConstRow, ConstFull, DynRow, DynFull };
  struct GemmPlan {
    Location a, b, c, y;                                ///< A, B, a computed C, Y
    bool trans_a = false;                               ///< A stored as K rows of M
    bool b_transposed = false;                          ///< B stored as N rows of K
    int64_t M = 0, K = 0, N = 0;                        ///< problem size
    int passes = 1;                                     ///< B holds `passes` K x N matrices whose products add up
    Bias bias = Bias::None;                             ///< how the accumulator starts
    isa::TensorType bias_type = isa::TensorType::FP32;  ///< constant bias type in the weights (FP32 or I32)
    uint64_t bias_off = 0, ratio_off = 0;               ///< constant bias; beta/alpha row for a computed C
    uint32_t mm_dtype = 2;                              ///< matmul dtype code
    std::function<uint32_t(int64_t n0)> requant_for;    ///< epilogue entry for the tile at column n0; none: store i32
  };

  void emit_gemm(const Node& n, const GemmPlan& g) {
    const Bias bias = g.bias;
    const bool dyn_bias = bias == Bias::DynRow || bias == Bias::DynFull;
    const bool trans_a = g.trans_a, b_transposed = g.b_transposed;
    const int64_t M = g.M, K = g.K, N = g.N;
    const Location &la = g.a, &lb = g.b, &lc = g.c, &ly = g.y;
    const bool raw_out = !g.requant_for;  // Y is the i32 accumulator
    // Tiles: as large as the scratchpad (A, B, output, computed C and its row) and the accumulator allow.
    const unsigned ea = bytes_of(la.type), eb = bytes_of(lb.type), ey = raw_out ? 0 : bytes_of(ly.type),
                   ec = dyn_bias ? bytes_of(lc.type) : 0;
    int64_t tn = std::min<int64_t>(N, std::max<int64_t>(t_.mxu_cols * 4, 64)), tk = std::min<int64_t>(K, 1024),
            tm = std::min<int64_t>(M, 1024);
    tn = std::min<int64_t>(tn, 4095), tk = std::min<int64_t>(tk, 4095), tm = std::min<int64_t>(tm, 4095);
    auto a_lines = [&] { return trans_a ? lines(tk, tm, ea) : lines(tm, tk, ea); };
    auto b_lines = [&] { return b_transposed ? lines(tn, tk, eb) : lines(tk, tn, eb); };
    auto y_lines = [&] { return raw_out ? 0u : lines(tm, tn, ey); };
    auto c_lines = [&] { return dyn_bias ? lines(tm, tn, ec) + lines(1, tn, ec) : 0u; };
    auto spad_ok = [&] {
      // Two A and two B buffers (double buffering), the output tile, a computed C and its row.
      return uint64_t{2 * (a_lines() + b_lines()) + y_lines() + c_lines()} * t_.line_bytes <= t_.spad_bytes;
    };
    while (uint64_t{lines(tm, tn, 4)} * t_.line_bytes > t_.acc_bytes && tm > 1) tm = (tm + 1) / 2;
    while (!spad_ok() && (tk > 16 || tm > 1)) {
      if (tk > 16)
        tk = (tk + 1) / 2;
      else
        tm = (tm + 1) / 2;
    }
    if (!spad_ok()) throw CompileError(where(n) + ": no tile fits the scratchpad");
    const uint32_t a_buf[2] = {0, a_lines()}, b_buf[2] = {2 * a_lines(), 2 * a_lines() + b_lines()};
    const uint32_t y_line = b_buf[1] + b_lines(), c_line = y_line + y_lines(), r_line = c_line + lines(tm, tn, ec);
    const int64_t k_steps = (K + tk - 1) / tk, steps = k_steps * g.passes;
    for (int64_t m0 = 0; m0 < M; m0 += tm)
      for (int64_t n0 = 0; n0 < N; n0 += tn) {
        const auto mm = static_cast<uint32_t>(std::min(tm, M - m0)), nn = static_cast<uint32_t>(std::min(tn, N - n0));
        bool first = true;
        if (bias == Bias::ConstRow || bias == Bias::ConstFull) {
          Instruction l = make(Opcode::Load);
          l.set(f::load::dst_acc, 1);
          l.set(f::load::dst, 0);
          l.set(f::load::desc, desc(weights_region_, g.bias_type, g.bias_off, nn, mm, bias == Bias::ConstFull ? N : 0));
          l.set(f::load::off, static_cast<uint32_t>(bias == Bias::ConstFull ? m0 * N + n0 : n0));
          emit(l, kGo, 1, kL2M);
          first = false;
        } else if (dyn_bias) {
          // C (device type) and the beta/alpha row into the scratchpad; their product, in fp32, into the accumulator.
          Instruction l = make(Opcode::Load);
          l.set(f::load::dst, c_line);
          l.set(f::load::desc, desc(lc.region, lc.type, lc.offset, nn, mm, bias == Bias::DynFull ? N : 0));
          l.set(f::load::off, static_cast<uint32_t>(bias == Bias::DynFull ? m0 * N + n0 : n0));
          emit(l, kGo, 1, kL2V);
          Instruction r = make(Opcode::Load);
          r.set(f::load::dst, r_line);
          r.set(f::load::desc, desc(weights_region_, lc.type, g.ratio_off, nn, 1, N));
          r.set(f::load::off, static_cast<uint32_t>(n0));
          emit(r, -1, 1, kL2V);
          Instruction mul = make(Opcode::Mul);
          mul.set(f::mul::dst_acc, 1);
          mul.set(f::mul::dst, 0);
          mul.set(f::mul::src0, c_line);
          mul.set(f::mul::src1, r_line);
          mul.set(f::mul::bcast, 1);
          mul.set(f::mul::rows, mm);
          mul.set(f::mul::cols, nn);
          mul.set(f::mul::dtype, code(lc.type, n));
          mul.set(f::mul::q, isa::kNoParam);
          emit(mul, kL2V, 2, kL2M);  // the MXU counts it with its loads
          first = false;
        }
        const bool has_bias = bias != Bias::None;
        // Double buffering: step i uses buffers i % 2, so loading step i+1 overlaps matmul i; the
        // load of step i (i >= 2) waits for matmul i-2, which signals m2l (only matmuls 0..S-3 do,
        // so signals and waits balance within the tile). Steps run over weight passes, then K.
        for (int64_t i = 0; i < steps; ++i) {
          const int64_t pass = i / k_steps, k0 = (i % k_steps) * tk;
          const auto kk = static_cast<uint32_t>(std::min(tk, K - k0));
          const uint32_t a_line = a_buf[i % 2], b_line = b_buf[i % 2];
          const int64_t b_base = batch_.b + pass * K * N;
          // A: mm x kk of M x K (or kk x mm of K x M); B: kk x nn of K x N (or nn x kk of N x K).
          emit(trans_a ? tile_load(a_line, la, batch_.a, k0, m0, kk, mm, M)
                       : tile_load(a_line, la, batch_.a, m0, k0, mm, kk, K),
               first ? kGo : (i >= 2 ? kM2L : -1), 1, kL2M);
          first = false;
          emit(b_transposed ? tile_load(b_line, lb, b_base, n0, k0, nn, kk, K)
                            : tile_load(b_line, lb, b_base, k0, n0, kk, nn, N),
               -1, 1, kL2M);
          Instruction m = make(Opcode::Matmul);
          m.set(f::matmul::c, 0);
          m.set(f::matmul::a, a_line);
          m.set(f::matmul::b, b_line);
          m.set(f::matmul::m, mm);
          m.set(f::matmul::n, nn);
          m.set(f::matmul::k, kk);
          m.set(f::matmul::dtype, g.mm_dtype);
          m.set(f::matmul::trans_a, trans_a ? 1 : 0);
          m.set(f::matmul::trans_b, b_transposed ? 1 : 0);
          m.set(f::matmul::accumulate, (i > 0 || has_bias) ? 1 : 0);
          emit(m, kL2M, (i == 0 && has_bias) ? 3 : 2,
               i == steps - 1 ? (raw_out ? kM2S : kM2V) : (i + 2 < steps ? kM2L : -1));
        }
        uint32_t src_line = 0;
        bool src_acc = true;
        if (!raw_out) {
          Instruction rq = make(Opcode::Requant);
          rq.set(f::requant::dst, y_line);
          rq.set(f::requant::src, 0);
          rq.set(f::requant::rows, mm);
          rq.set(f::requant::cols, nn);
          rq.set(f::requant::dtype, code(ly.type, n));
          rq.set(f::requant::q, g.requant_for(n0));
          emit(rq, kM2V, 1, kV2S);
          src_line = y_line;
          src_acc = false;
        }
        Instruction st = make(Opcode::Store);
        st.set(f::store::src, src_line);
        st.set(f::store::src_acc, src_acc ? 1 : 0);
        st.set(f::store::desc, desc(ly.region, ly.type, ly.offset, nn, mm, N));
        st.set(f::store::off, static_cast<uint32_t>(batch_.y + m0 * N + n0));
        emit(st, raw_out ? kM2S : kV2S, 1, kGo);
      }
  }
  // ------------------------------------------------------------------ special functions, Softmax
  /// Exp, Log, Reciprocal, Sqrt, Tanh, Sigmoid, Erf: one `sfu` per row tile (float tensors).
  static const std::map<std::string, uint32_t>& sfu_ops() {
    static const std::map<std::string, uint32_t> ops = {
        {"Exp", f::sfu::fn_exp},   {"Log", f::sfu::fn_log},   {"Reciprocal", f::sfu::fn_recip},
        {"Sqrt", f::sfu::fn_sqrt}, {"Tanh", f::sfu::fn_tanh}, {"Sigmoid", f::sfu::fn_sigmoid},
        {"Erf", f::sfu::fn_erf}};
    return ops;
  }

  void special(const Node& n, uint32_t fn) {
    const Location in = input(n, 0), out = output(n);
    rows_op(n, {in}, {false}, out, [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
      Instruction i = make(Opcode::Sfu);
      i.set(f::sfu::dst, dst);
      i.set(f::sfu::src, src[0]);
      i.set(f::sfu::rows, rows);
      i.set(f::sfu::cols, cols);
      i.set(f::sfu::dtype, code(in.type, n));
      i.set(f::sfu::fn, fn);
      return i;
    });
  }

  /// Softmax and LogSoftmax over the last axis (opset 13) or the 2-D coercion at `axis` (before):
  /// per row tile, m = max (VPU reduce), M = m x ones (a k = 1 matmul broadcasts the column along
  /// the row), D = X - M (fp32), E = exp(D) (sfu), s = sum E (fp32), then Softmax: Y = E x (1/s
  /// broadcast the same way); LogSoftmax: Y = D - (log s broadcast). Returns false (host kernel)
  /// for other axes, images, rows longer than 4095 or a target without a float MXU.
  bool softmax(const Node& n) {
    const Tensor& x = g_.tensor(n.inputs.at(0));
    const bool log = n.op == "LogSoftmax";
    const auto rank = static_cast<int64_t>(x.shape.size());
    if (rank == 0 || is_spatial(x) || is_spatial(g_.tensor(n.outputs.at(0)))) return false;
    if (std::find(t_.mxu_dtypes.begin(), t_.mxu_dtypes.end(), precision_) == t_.mxu_dtypes.end()) return false;
    const bool coerce = g_.opset < 13;
    int64_t axis = n.attr_i("axis", coerce ? 1 : -1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank || (!coerce && axis != rank - 1)) return false;
    int64_t R = 1, C = 1;
    for (int64_t d = 0; d < rank; ++d) (d < axis ? R : C) *= x.shape[d];
    if (C > 4095 || C == 0) return false;
    Location lx = input(n, 0), ly = output(n);
    lx.rows = ly.rows = R, lx.cols = ly.cols = C;
    const Location ones{weights_region_, put_device(std::vector<double>(static_cast<size_t>(C), 1.0)), 1, C, dev_};
    const unsigned es = bytes_of(dev_);
    // Scratchpad: X, ones, E, Y (tr x C each but ones), m and r (tr x 1); accumulator: two tr x C
    // fp32 tiles and s (tr x 1).
    int64_t tr = std::min<int64_t>(R, 4095);
    auto fits = [&] {
      return uint64_t{3 * lines(tr, C, es) + lines(1, C, es) + 2 * lines(tr, 1, es)} * t_.line_bytes <= t_.spad_bytes &&
             uint64_t{2 * lines(tr, C, 4) + lines(tr, 1, 4)} * t_.line_bytes <= t_.acc_bytes;
    };
    while (!fits() && tr > 1) tr = (tr + 1) / 2;
    if (!fits()) return false;
    const uint32_t sx = 0, s_ones = lines(tr, C, es), se = s_ones + lines(1, C, es), sy = se + lines(tr, C, es),
                   sm = sy + lines(tr, C, es), sr = sm + lines(tr, 1, es);
    const uint32_t a0 = 0, a1 = lines(tr, C, 4), a2 = 2 * lines(tr, C, 4);
    const uint32_t dt = elem_;
    auto vpu_unary = [&](Opcode op, uint32_t dst, bool dst_acc, uint32_t src, bool src_acc, uint32_t rows,
                         uint32_t cols) {
      Instruction i = make(op);
      i.set(f::clamp::dst, dst);
      i.set(f::clamp::dst_acc, dst_acc ? 1 : 0);
      i.set(f::clamp::src, src);
      i.set(f::clamp::src_acc, src_acc ? 1 : 0);
      i.set(f::clamp::rows, rows);
      i.set(f::clamp::cols, cols);
      i.set(f::clamp::dtype, dt);
      return i;
    };
    auto broadcast = [&](uint32_t column, uint32_t rows) {  // acc[a0] = column (rows x 1) x ones (1 x C)
      Instruction m = make(Opcode::Matmul);
      m.set(f::matmul::c, a0);
      m.set(f::matmul::a, column);
      m.set(f::matmul::b, s_ones);
      m.set(f::matmul::m, rows);
      m.set(f::matmul::n, static_cast<uint32_t>(C));
      m.set(f::matmul::k, 1);
      m.set(f::matmul::dtype, dt);
      emit(m, kV2M, 1, kM2V);
    };
    for (int64_t r0 = 0; r0 < R; r0 += tr) {
      const auto rr = static_cast<uint32_t>(std::min(tr, R - r0)), cc = static_cast<uint32_t>(C);
      emit(tile_load(sx, lx, 0, r0, 0, rr, cc, C), kGo, 1, kL2V);
      Instruction lo = make(Opcode::Load);
      lo.set(f::load::dst, s_ones);
      lo.set(f::load::desc, desc(ones.region, ones.type, ones.offset, cc, 1, C));
      emit(lo, -1, 1, kL2V);
      Instruction mx = vpu_unary(Opcode::Reduce, sm, false, sx, false, rr, cc);
      mx.set(f::reduce::op, f::reduce::op_max);
      emit(mx, kL2V, 2, kV2M);
      broadcast(sm, rr);
      Instruction d = make(Opcode::Sub);  // D = X - M, fp32 in the accumulator
      d.set(f::sub::dst, a1);
      d.set(f::sub::dst_acc, 1);
      d.set(f::sub::src0, sx);
      d.set(f::sub::src1, a0);
      d.set(f::sub::src1_acc, 1);
      d.set(f::sub::rows, rr);
      d.set(f::sub::cols, cc);
      d.set(f::sub::dtype, dt);
      d.set(f::sub::q, isa::kNoParam);
      emit(d, kM2V, 1, -1);
      Instruction e = vpu_unary(Opcode::Sfu, se, false, a1, true, rr, cc);
      e.set(f::sfu::fn, f::sfu::fn_exp);
      emit(e, -1, 1, -1);
      Instruction s = vpu_unary(Opcode::Reduce, a2, true, se, false, rr, cc);
      s.set(f::reduce::op, f::reduce::op_sum);
      emit(s, -1, 1, -1);
      Instruction inv = vpu_unary(Opcode::Sfu, sr, false, a2, true, rr, 1);
      inv.set(f::sfu::fn, log ? f::sfu::fn_log : f::sfu::fn_recip);
      emit(inv, -1, 1, kV2M);
      broadcast(sr, rr);
      Instruction y = make(log ? Opcode::Sub : Opcode::Mul);  // D - log s, or E x 1/s
      y.set(f::mul::dst, sy);
      y.set(f::mul::src0, log ? a1 : se);
      y.set(f::mul::src0_acc, log ? 1 : 0);
      y.set(f::mul::src1, a0);
      y.set(f::mul::src1_acc, 1);
      y.set(f::mul::rows, rr);
      y.set(f::mul::cols, cc);
      y.set(f::mul::dtype, dt);
      y.set(f::mul::q, isa::kNoParam);
      emit(y, kM2V, 1, kV2S);
      Instruction st = make(Opcode::Store);
      st.set(f::store::src, sy);
      st.set(f::store::desc, desc(ly.region, ly.type, ly.offset, cc, rr, C));
      st.set(f::store::off, static_cast<uint32_t>(r0 * C));
      emit(st, kV2S, 1, kGo);
    }
    return true;
  }

  // ------------------------------------------------------------------ Transpose
  /// Transpose (rank <= 4, row-major tensors) as layout changes on the NPU, composed of two moves:
  /// a DMA permutation that keeps the last axis last (the load's box walks the input in output
  /// order: dimension 0 stays dense, dimensions 1-3 take the input strides of the permuted axes),
  /// and a swap of the last two axes (tiles turned by the VPU's `copy transpose`). A permutation
  /// that changes the last axis q runs as: DMA-move q next to the last axis, swap the last two,
  /// DMA-move the leading axes into place; intermediates live among the activations. Returns false
  /// when the tensor does not fit these moves (then the host kernel runs it).
  bool transpose(const Node& n) {
    check_host_op(n, g_, 0);  // perm: a permutation of the input's axes
    const Tensor& x = g_.tensor(n.inputs.at(0));
    const Tensor& y = g_.tensor(n.outputs.at(0));
    const auto rank = static_cast<int64_t>(x.shape.size());
    if (rank < 2 || rank > 4 || is_spatial(x) || is_spatial(y) || x.elements() == 0) return false;
    std::vector<int64_t> perm;
    if (auto it = n.attrs.find("perm"); it != n.attrs.end() && !it->second.ints.empty())
      perm = it->second.ints;
    else
      for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
    for (int64_t d : x.shape)
      if (d > 4095) return false;
    const Location lx = input(n, 0), ly = output(n);
    const int64_t last = rank - 1;
    if (perm[last] == last) {
      dma_permute(n, lx, x.shape, perm, ly);
      return true;
    }
    // 1: q next to the last axis; 2: swap the last two; 3: the leading axes into place.
    const int64_t q = perm[last];
    std::vector<int64_t> p1;
    for (int64_t i = 0; i < rank; ++i)
      if (i != q && i != last) p1.push_back(i);
    p1.push_back(q);
    p1.push_back(last);
    const auto s1 = permuted(x.shape, p1);
    const Location t1 = scratch(lx.type, x.elements());
    dma_permute(n, lx, x.shape, p1, t1);
    std::vector<int64_t> s2 = s1;
    std::swap(s2[last - 1], s2[last]);
    const std::vector<int64_t> axes2 = [&] {  // input axis of each axis of the swapped tensor
      std::vector<int64_t> a = p1;
      std::swap(a[last - 1], a[last]);
      return a;
    }();
    const bool direct = std::equal(axes2.begin(), axes2.end(), perm.begin());
    const Location t2 = direct ? ly : scratch(lx.type, x.elements());
    swap_last_two(n, t1, s1, t2);
    if (direct) return true;
    std::vector<int64_t> p3;  // output axis i = axis p3[i] of the swapped tensor
    for (int64_t i = 0; i < rank; ++i) p3.push_back(std::find(axes2.begin(), axes2.end(), perm[i]) - axes2.begin());
    dma_permute(n, t2, s2, p3, ly);
    return true;
  }

  static std::vector<int64_t> permuted(const std::vector<int64_t>& shape, const std::vector<int64_t>& perm) {
    std::vector<int64_t> s;
    for (int64_t p : perm) s.push_back(shape[static_cast<size_t>(p)]);
    return s;
  }
  /// Fresh space among the activations for `elements` of `type`.
  Location scratch(isa::TensorType type, int64_t elements) {
    act_bytes_ = (act_bytes_ + 63) / 64 * 64;
    const Location l{act_region_, act_bytes_, 0, 0, type};
    act_bytes_ += static_cast<uint64_t>(elements) * bytes_of(type);
    return l;
  }

  /// out = in with axes permuted by `perm` (perm.back() = the last axis): loads walk the input in
  /// output order, split along the outermost output axis to fit the scratchpad.
  void dma_permute(const Node& n, const Location& in, const std::vector<int64_t>& shape,
                   const std::vector<int64_t>& perm, const Location& out) {
    const auto rank = static_cast<int64_t>(shape.size());
    std::vector<int64_t> in_stride(static_cast<size_t>(rank), 1);  // elements
    for (int64_t d = rank - 1; d-- > 0;) in_stride[d] = in_stride[d + 1] * shape[d + 1];
    const auto os = permuted(shape, perm);
    const int64_t cols = os.back(), es = bytes_of(in.type);
    // Box dimensions innermost first: the output's axes from last to first.
    std::vector<uint32_t> box;
    std::vector<int64_t> strides;
    for (int64_t i = rank - 1; i >= 0; --i) {
      box.push_back(static_cast<uint32_t>(os[i]));
      if (i < rank - 1) strides.push_back(in_stride[perm[i]]);
    }
    const int64_t outer = os[0], inner_rows = std::max<int64_t>(1, (rank > 1 ? x_rows(os) / outer : 1));
    const uint32_t row_l = lines(1, static_cast<uint64_t>(cols), static_cast<unsigned>(es));
    int64_t chunk = outer;  // outermost indices per load
    while (chunk > 1 && uint64_t{row_l} * chunk * inner_rows * t_.line_bytes > t_.spad_bytes) chunk = (chunk + 1) / 2;
    if (uint64_t{row_l} * chunk * inner_rows * t_.line_bytes > t_.spad_bytes)
      throw CompileError(where(n) + ": one slice of the transpose does not fit the scratchpad");
    for (int64_t o0 = 0; o0 < outer; o0 += chunk) {
      const int64_t oc = std::min(chunk, outer - o0);
      std::vector<uint32_t> b = box;
      b.back() = static_cast<uint32_t>(oc);
      Instruction l = make(Opcode::Load);
      l.set(f::load::desc, desc_nd(in.region, in.type, in.offset, b, strides));
      l.set(f::load::off, static_cast<uint32_t>(o0 * (rank > 1 ? in_stride[perm[0]] : 1)));
      emit(l, kGo, 1, kL2V);
      Instruction c = make(Opcode::Copy);  // the VPU hands the tile on unchanged (keeps the chain)
      c.set(f::copy::dst, static_cast<uint32_t>(row_l * chunk * inner_rows));
      c.set(f::copy::src, 0);
      c.set(f::copy::rows, static_cast<uint32_t>(oc * inner_rows));
      c.set(f::copy::cols, static_cast<uint32_t>(cols));
      c.set(f::copy::dtype, code(in.type, n));
      emit(c, kL2V, 1, kV2S);
      Instruction st = make(Opcode::Store);
      st.set(f::store::src, static_cast<uint32_t>(row_l * chunk * inner_rows));
      st.set(f::store::desc, desc(out.region, out.type, out.offset, static_cast<uint32_t>(cols),
                                  static_cast<uint32_t>(oc * inner_rows), cols));
      st.set(f::store::off, static_cast<uint32_t>(o0 * inner_rows * cols));
      emit(st, kV2S, 1, kGo);
    }
  }
  static int64_t x_rows(const std::vector<int64_t>& s) {  // product of all but the last dimension
    int64_t r = 1;
    for (size_t i = 0; i + 1 < s.size(); ++i) r *= s[i];
    return r;
  }

  /// out[..., c, r] = in[..., r, c]: tiles of the R x C matrices turned by `copy transpose`.
  void swap_last_two(const Node& n, const Location& in, const std::vector<int64_t>& shape, const Location& out) {
    const int64_t R = shape[shape.size() - 2], C = shape.back(), batches = x_rows(shape) / R;
    const auto es = static_cast<unsigned>(bytes_of(in.type));
    int64_t tr = std::min<int64_t>(R, 4095), tc = std::min<int64_t>(C, 4095);
    auto fits = [&] { return uint64_t{lines(tr, tc, es) + lines(tc, tr, es)} * t_.line_bytes <= t_.spad_bytes; };
    while (!fits() && (tr > 1 || tc > 1)) {
      if (tr >= tc)
        tr = (tr + 1) / 2;
      else
        tc = (tc + 1) / 2;
    }
    if (!fits()) throw CompileError(where(n) + ": no transpose tile fits the scratchpad");
    const uint32_t dst = lines(tr, tc, es);
    for (int64_t b = 0; b < batches; ++b)
      for (int64_t r0 = 0; r0 < R; r0 += tr)
        for (int64_t c0 = 0; c0 < C; c0 += tc) {
          const auto rr = static_cast<uint32_t>(std::min(tr, R - r0)), cc = static_cast<uint32_t>(std::min(tc, C - c0));
          emit(tile_load(0, in, b * R * C, r0, c0, rr, cc, C), kGo, 1, kL2V);
          Instruction t = make(Opcode::Copy);
          t.set(f::copy::transpose, 1);
          t.set(f::copy::dst, dst);
          t.set(f::copy::src, 0);
          t.set(f::copy::rows, rr);
          t.set(f::copy::cols, cc);
          t.set(f::copy::dtype, code(in.type, n));
          emit(t, kL2V, 1, kV2S);
          Instruction st = make(Opcode::Store);
          st.set(f::store::src, dst);
          st.set(f::store::desc, desc(out.region, out.type, out.offset, rr, cc, R));
          st.set(f::store::off, static_cast<uint32_t>(b * R * C + c0 * R + r0));
          emit(st, kV2S, 1, kGo);
        }
  }

  // ------------------------------------------------------------------ quantized operators
  /// A quantization parameter (scale or zero point): a constant scalar or one value per channel;
  /// `def` when the optional input is absent.
  std::vector<double> qparam(const Node& n, size_t i, double def) {
    if (i >= n.inputs.size() || n.inputs[i].empty()) return {def};
    const Tensor& t = g_.tensor(n.inputs[i]);
    if (!t.is_const)
      throw CompileError(where(n) + ": '" + t.name +
                         "' must be a constant (quantization parameters are compiled into the program)");
    if (t.values.empty()) throw CompileError(where(n) + ": '" + t.name + "' is empty");
    return t.values;
  }
  static double at(const std::vector<double>& v, int64_t i) { return v.size() == 1 ? v[0] : v[static_cast<size_t>(i)]; }
  static bool uniform(const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [&](double d) { return d == v[0]; });
  }
  void check_count(const Node& n, const std::vector<double>& v, int64_t want, const char* what) {
    if (v.size() != 1 && static_cast<int64_t>(v.size()) != want)
      throw CompileError(where(n) + ": " + what + " has " + std::to_string(v.size()) + " values; expected 1 or " +
                         std::to_string(want));
  }
  static isa::TensorType int_type(const Tensor& t) {
    return t.dtype == DType::I8 ? isa::TensorType::I8 : isa::TensorType::U8;
  }
  void check_int8(const Node& n, const Tensor& t) {
    if (t.dtype != DType::I8 && t.dtype != DType::U8)
      throw CompileError(where(n) + ": '" + t.name + "' is " + dtype_name(t.dtype) + "; expected int8 or uint8");
  }

  /// An fp32-mode requant entry: y = sat(nearbyint(x * scale) + zp) in the output type.
  uint32_t qrequant_param(float scale, int32_t zp) {
    namespace q = isa::params::requant;
    isa::Param p;
    p.bytes[0] = q::kKind;
    p.bytes[q::mode] = q::mode_fp32;
    std::memcpy(&p.bytes[q::multiplier], &scale, 4);
    const int32_t lo = INT32_MIN, hi = INT32_MAX;  // the output type's saturation does the clamping
    std::memcpy(&p.bytes[q::zp], &zp, 4);
    std::memcpy(&p.bytes[q::min], &lo, 4);
    std::memcpy(&p.bytes[q::max], &hi, 4);
    return add_param(p, "q");
  }
  /// The same with one scale per column from a table of {binary32 scale, 0} in the weights; the
  /// entry for a tile starting at column c0 points c0 entries into the table.
  uint32_t qrequant_table_param(uint64_t table_off, int64_t c0, int32_t zp, bool zero_bounds) {
    namespace q = isa::params::requant;
    isa::Param p;
    p.bytes[0] = q::kKind;
    p.bytes[q::mode] = q::mode_fp32;
    p.bytes[q::per_channel] = 1;
    p.bytes[q::region] = weights_region_;
    const auto table = static_cast<uint32_t>(table_off + 8 * static_cast<uint64_t>(c0));
    const int32_t lo = zero_bounds ? 0 : INT32_MIN, hi = zero_bounds ? 0 : INT32_MAX;
    std::memcpy(&p.bytes[q::table], &table, 4);
    std::memcpy(&p.bytes[q::zp], &zp, 4);
    std::memcpy(&p.bytes[q::min], &lo, 4);
    std::memcpy(&p.bytes[q::max], &hi, 4);
    return add_param(p, "qc");
  }
  uint64_t put_scale_table(const std::vector<float>& scales) {
    std::vector<int32_t> v;
    for (float f : scales) {
      int32_t b;
      std::memcpy(&b, &f, 4);
      v.push_back(b);
      v.push_back(0);
    }
    return put_i32(v);
  }
  uint32_t add_param(isa::Param p, const std::string& prefix) {
    for (size_t i = 0; i < p_.params.size(); ++i)
      if (p_.params[i].bytes == p.bytes) return static_cast<uint32_t>(i);
    p.name = prefix + std::to_string(p_.params.size());
    p_.params.push_back(p);
    return static_cast<uint32_t>(p_.params.size() - 1);
  }

  /// Integer weights minus their zero points, split into passes that each fit int8: w' = sum of
  /// the passes, each |part| <= 127 (w' of uint8 weights spans [-255, 255]: then two passes).
  static std::vector<std::vector<double>> weight_passes(const std::vector<double>& w) {
    const double lo = *std::min_element(w.begin(), w.end()), hi = *std::max_element(w.begin(), w.end());
    const int passes =
        (lo >= -128 && hi <= 127) ? 1 : 1 + static_cast<int>(std::ceil(std::max(-lo - 128, hi - 127) / 127.0));
    std::vector<std::vector<double>> out(static_cast<size_t>(passes), std::vector<double>(w.size(), 0.0));
    for (size_t i = 0; i < w.size(); ++i) {
      double rest = w[i];
      for (int p = 0; p < passes; ++p) {
        const double part = std::min<double>(std::max<double>(rest, p + 1 == passes ? -128 : -127), 127);
        out[static_cast<size_t>(p)][i] = part;
        rest -= part;
      }
    }
    return out;
  }

  /// The epilogue of a QLinear operator: y = sat(nearbyint(acc * sx * sw[c] / sy) + zy), the
  /// multiplier computed in binary32 as ONNX Runtime does; per column when sw varies.
  /// QLinearMatMul and QLinearConv share the positions of their scales and output zero point
  /// (1: input scale, 4: weight scale, scalar or per channel, 6: y_scale, 7: y_zero_point).
  std::function<uint32_t(int64_t)> qlinear_epilogue(const Node& n, int64_t channels) {
    const auto sx_v = qparam(n, 1, 1), sw = qparam(n, 4, 1), sy_v = qparam(n, 6, 1), zy_v = qparam(n, 7, 0);
    if (sx_v.size() != 1 || sy_v.size() != 1 || zy_v.size() != 1)
      throw CompileError(where(n) + ": the input scale, y_scale and y_zero_point must be scalars");
    check_count(n, sw, channels, "the weight scale");
    const double sx = sx_v[0], sy = sy_v[0];
    const auto zy = static_cast<int32_t>(zy_v[0]);
    auto mult = [&](int64_t c) {
      return static_cast<float>(static_cast<float>(static_cast<float>(sx) * static_cast<float>(at(sw, c))) /
                                static_cast<float>(sy));
    };
    if (sy == 0) throw CompileError(where(n) + ": y_scale is zero");
    if (uniform(sw)) {
      const uint32_t id = qrequant_param(mult(0), zy);
      return [id](int64_t) { return id; };
    }
    std::vector<float> m;
    for (int64_t c = 0; c < channels; ++c) m.push_back(mult(c));
    const uint64_t table = put_scale_table(m);
    return [this, table, zy](int64_t c0) { return qrequant_table_param(table, c0, zy, false); };
  }

  /// QLinearMatMul and MatMulInteger: A (u8/i8, zero point za) times constant B (zero point zb per
  /// column) on the MXU. B - zb is compiled in (split into int8 passes when it does not fit);
  /// A's zero point becomes the bias -za * colsum(B - zb), so the accumulator holds
  /// sum_k (A - za)(B - zb) exactly. QLinearMatMul requantizes; MatMulInteger stores the i32.
  void qmatmul(const Node& n) {
    const bool qlinear = n.op == "QLinearMatMul";
    const size_t ia = 0, ib = qlinear ? 3 : 1;
    const Tensor& a = g_.tensor(n.inputs.at(ia));
    const Tensor& b = g_.tensor(n.inputs.at(ib));
    const Tensor& y = g_.tensor(n.outputs.at(0));
    check_int8(n, a);
    check_int8(n, b);
    if (!b.is_const)
      throw CompileError(where(n) + ": B must be a constant (weights); a computed B is not supported on the NPU");
    if (a.shape.size() < 2 || b.shape.size() < 2) throw CompileError(where(n) + ": A and B must have rank >= 2");
    const int64_t M = a.shape[a.shape.size() - 2], K = a.shape.back(), N = b.shape.back();
    if (b.shape[b.shape.size() - 2] != K) throw CompileError(where(n) + ": inner dimensions differ");
    const auto za = qparam(n, qlinear ? 2 : 2, 0), zb = qparam(n, qlinear ? 5 : 3, 0);
    if (za.size() != 1) throw CompileError(where(n) + ": a per-row A zero point is not supported (a scalar is)");
    check_count(n, zb, N, "B's zero point");
    std::function<uint32_t(int64_t)> epilogue;  // none: the i32 accumulator is the output
    if (qlinear) epilogue = qlinear_epilogue(n, N);
    // An int32 bias (scale a_scale * b_scale) as a ninth input: npusim's extension, which int8
    // post-training quantization uses for Gemm (ONNX Runtime's QGemm has one too).
    std::vector<int32_t> bias0(static_cast<size_t>(N), 0);
    if (qlinear && n.inputs.size() > 8 && !n.inputs[8].empty()) {
      const Tensor& bt = g_.tensor(n.inputs[8]);
      if (!bt.is_const || bt.elements() != N || bt.dtype != DType::I32)
        throw CompileError(where(n) + ": the bias must be a constant int32 vector of " + std::to_string(N) + " values");
      for (int64_t j = 0; j < N; ++j) bias0[j] = static_cast<int32_t>(bt.values[j]);
    }
    const BatchMap bm(a.shape, b.shape, y.shape);  // output batches, NumPy-broadcast
    Location la = input(n, ia);
    const Location ly = output(n);
    std::map<int64_t, std::tuple<Location, int, uint64_t>> slices;  // B batch -> weights, passes, bias
    for (int64_t bi = 0; bi < bm.count; ++bi) {
      const auto [ja, jb] = bm.operands(bi);
      if (!slices.count(jb)) {
        std::vector<double> w(static_cast<size_t>(K * N));
        std::vector<int32_t> bias = bias0;
        for (int64_t k = 0; k < K; ++k)
          for (int64_t j = 0; j < N; ++j) {
            w[k * N + j] = b.values[static_cast<size_t>(jb * K * N + k * N + j)] - at(zb, j);
            bias[j] -= static_cast<int32_t>(za[0] * w[k * N + j]);
          }
        const auto parts = weight_passes(w);
        std::vector<double> all;
        for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
        const Location lw{weights_region_, put_typed(all, isa::TensorType::I8), K, N, isa::TensorType::I8};
        slices[jb] = {lw, static_cast<int>(parts.size()), put_i32(bias)};
      }
      const auto& [lw, passes, bias_off] = slices[jb];
      GemmPlan plan;
      plan.a = la;
      plan.b = lw;
      plan.y = ly;
      plan.M = M, plan.K = K, plan.N = N;
      plan.passes = passes;
      plan.bias = Bias::ConstRow;
      plan.bias_type = isa::TensorType::I32;
      plan.bias_off = bias_off;
      plan.mm_dtype = code(la.type, n);
      plan.requant_for = epilogue;
      batch_ = {ja * M * K, 0, bi * M * N};
      emit_gemm(n, plan);
    }
    batch_ = {};
  }

  /// QLinearConv and ConvInteger on NHWC images: the Conv tiling with int8 weights (W - zw per
  /// output channel, split into passes when needed) and an i32 bias per band of output rows,
  /// B - zx * sum over the taps that see the image in that band of colsum(W - zw): padded
  /// elements hold zx (the load's pad_zp), so each tap that runs contributes (X - zx)(W - zw)
  /// exactly, and taps that only see padding (skipped) contribute nothing.
  void qconv(const Node& n) {
    const bool qlinear = n.op == "QLinearConv";
    const Tensor& x = g_.tensor(n.inputs.at(0));
    const Tensor& w = g_.tensor(n.inputs.at(qlinear ? 3 : 1));
    check_int8(n, x);
    check_int8(n, w);
    ConvPlan plan = conv_shapes(n, x, w, g_.tensor(n.outputs.at(0)));
    const int64_t Co = plan.Co, KH = plan.KH, KW = plan.KW, G = plan.G, Cg = plan.C / G, Cog = Co / G;
    const auto zx = qparam(n, 2, 0), zw = qparam(n, qlinear ? 5 : 3, 0);
    if (zx.size() != 1) throw CompileError(where(n) + ": x_zero_point must be a scalar");
    check_count(n, zw, Co, "w_zero_point");
    std::function<uint32_t(int64_t)> epilogue;
    std::vector<int32_t> bias0(static_cast<size_t>(Co), 0);
    bool has_b = false;
    if (qlinear) {
      epilogue = qlinear_epilogue(n, Co);
      if (n.inputs.size() > 8 && !n.inputs[8].empty()) {
        const Tensor& b = g_.tensor(n.inputs[8]);
        if (!b.is_const || b.elements() != Co || b.dtype != DType::I32)
          throw CompileError(where(n) + ": B must be a constant int32 vector of " + std::to_string(Co) + " values");
        for (int64_t c = 0; c < Co; ++c) bias0[c] = static_cast<int32_t>(b.values[c]);
        has_b = true;
      }
    }
    // W - zw as [G][KH][KW][Cg][Cog], and per tap the column sums (over Cg) for the bias.
    std::vector<double> taps(static_cast<size_t>(KH * KW * Cg * Co));
    std::vector<int64_t> tapsum(static_cast<size_t>(KH * KW * Co), 0);  // [kh][kw][co]
    for (int64_t g = 0; g < G; ++g)
      for (int64_t co = 0; co < Cog; ++co)
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t oc = g * Cog + co;
              const double v = w.values[static_cast<size_t>(((oc * Cg + c) * KH + kh) * KW + kw)] - at(zw, oc);
              taps[(((g * KH + kh) * KW + kw) * Cg + c) * Cog + co] = v;
              tapsum[(kh * KW + kw) * Co + oc] += static_cast<int64_t>(v);
            }
    const auto parts = weight_passes(taps);
    std::vector<double> all;
    for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
    plan.x = input(n, 0);
    plan.x.zp = static_cast<int32_t>(zx[0]);
    plan.y = output(n);
    plan.w = {weights_region_, put_typed(all, isa::TensorType::I8), 0, 0, isa::TensorType::I8};
    plan.passes = static_cast<int>(parts.size());
    plan.mm_dtype = code(plan.x.type, n);
    plan.bias_type = isa::TensorType::I32;
    const int64_t za = static_cast<int64_t>(zx[0]);
    const int64_t const_bias = (za == 0 && has_b) ? static_cast<int64_t>(put_i32(bias0)) : -1;
    auto cache = std::make_shared<std::map<std::vector<int64_t>, int64_t>>();
    plan.bias_for_band = [this, za, const_bias, cache, bias0, tapsum, KW, Co](const std::vector<Tap>& band) -> int64_t {
      if (za == 0) return const_bias;
      std::vector<int64_t> key;
      for (const Tap& t : band) key.push_back(t.kh * KW + t.kw);
      auto it = cache->find(key);
      if (it != cache->end()) return it->second;
      std::vector<int32_t> v = bias0;
      for (int64_t t : key)
        for (int64_t c = 0; c < Co; ++c) v[c] -= static_cast<int32_t>(za * tapsum[t * Co + c]);
      const auto off = static_cast<int64_t>(put_i32(v));
      cache->emplace(key, off);
      return off;
    };
    plan.requant_for = epilogue;
    emit_conv(n, plan);
  }

  /// The per-element channel structure of a quantization along `axis`: the tensor as
  /// outer x channels x inner. `last`: the channels are the device rows' elements (one table).
  struct Axis {
    int64_t outer = 1, channels = 1, inner = 1;
    bool last = true;
  };
  Axis quant_axis(const Node& n, const Tensor& t, size_t count) {
    Axis a;
    if (count == 1) return a;
    int64_t axis = n.attr_i("axis", 1);
    const auto rank = static_cast<int64_t>(t.shape.size());
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) throw CompileError(where(n) + ": axis out of range");
    a.channels = t.shape[axis];
    if (static_cast<int64_t>(count) != a.channels)
      throw CompileError(where(n) + ": " + std::to_string(count) + " scales for an axis of " +
                         std::to_string(a.channels));
    a.last = is_spatial(t) ? axis == 1 : axis == rank - 1;
    for (int64_t d = 0; d < axis; ++d) a.outer *= t.shape[d];
    for (int64_t d = axis + 1; d < rank; ++d) a.inner *= t.shape[d];
    return a;
  }

  /// QuantizeLinear (float → u8/i8): copy to the accumulator as fp32, then requant with
  /// acc_type=fp32: y = sat(nearbyint(x / scale) + zp). DequantizeLinear (u8/i8 → float): x - zp
  /// into the accumulator as i32, then requant with acc_type=i32: y = float(x - zp) * scale.
  /// Per-axis parameters: one table along the rows' elements, else one pass per channel.
  void quantize(const Node& n) {
    const bool quant = n.op == "QuantizeLinear";
    const Tensor& x = g_.tensor(n.inputs.at(0));
    const Tensor& y = g_.tensor(n.outputs.at(0));
    const auto scale = qparam(n, 1, 1), zp = qparam(n, 2, 0);
    if (scale.size() != zp.size() && zp.size() != 1)
      throw CompileError(where(n) + ": scale and zero point differ in length");
    const Axis ax = quant_axis(n, x, std::max(scale.size(), zp.size()));
    Location lx = input(n, 0);
    const Location ly = output(n);
    if (quant ? !is_float_type(lx.type) : is_float_type(lx.type))
      throw CompileError(where(n) + ": input '" + x.name + "' is " + dtype_name(x.dtype));
    if (!quant) check_int8(n, x);
    if (quant) check_int8(n, y);
    for (double s : scale)
      if (!(s > 0)) throw CompileError(where(n) + ": scales must be positive");
    const isa::TensorType xt = lx.type, yt = ly.type;
    const uint32_t acc_type = quant ? f::requant::acc_type_fp32 : f::requant::acc_type_i32;
    // One VPU sequence per tile: x → accumulator (fp32 copy, or i32 x - zp), then the requant.
    auto sequence = [&, xt, yt](uint32_t q) {
      return [&, q, xt, yt](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
        Instruction first = make(quant ? Opcode::Copy : Opcode::Sub);
        if (quant) {
          first.set(f::copy::dst_acc, 1);
          first.set(f::copy::src, src[0]);
          first.set(f::copy::rows, rows);
          first.set(f::copy::cols, cols);
          first.set(f::copy::dtype, code(xt, n));
        } else {
          first.set(f::sub::dst_acc, 1);
          first.set(f::sub::src0, src[0]);
          first.set(f::sub::src1, src[1]);
          first.set(f::sub::bcast, 1);
          first.set(f::sub::rows, rows);
          first.set(f::sub::cols, cols);
          first.set(f::sub::dtype, code(xt, n));
          first.set(f::sub::q, isa::kNoParam);
        }
        Instruction rq = make(Opcode::Requant);
        rq.set(f::requant::dst, dst);
        rq.set(f::requant::rows, rows);
        rq.set(f::requant::cols, cols);
        rq.set(f::requant::dtype, code(yt, n));
        rq.set(f::requant::acc_type, acc_type);
        rq.set(f::requant::q, q);
        return std::vector<Instruction>{first, rq};
      };
    };
    // The requant entry for channel c (scalar) or the whole row (table), and a row of zero points.
    auto entry = [&](int64_t c) {
      return quant ? qrequant_param(static_cast<float>(at(scale, c)), static_cast<int32_t>(at(zp, c)))
                   : to_device_param(static_cast<float>(at(scale, c)));
    };
    auto zp_row = [&](const std::vector<double>& v) {
      return Location{weights_region_, put_typed(v, xt), 1, static_cast<int64_t>(v.size()), xt};
    };
    RowsWalk walk;
    walk.uses_acc = true;
    if (ax.last) {  // per tensor, or per element of the rows: one pass
      const int64_t cols = ly.cols;
      uint32_t q;
      std::vector<double> zrow(static_cast<size_t>(cols));
      for (int64_t c = 0; c < cols; ++c) zrow[c] = at(zp, ax.channels == 1 ? 0 : c);
      if (ax.channels == 1) {
        q = entry(0);
      } else {
        std::vector<float> s;
        for (int64_t c = 0; c < cols; ++c) s.push_back(static_cast<float>(at(scale, c)));
        q = qrequant_table_param(put_scale_table(s), 0, quant ? static_cast<int32_t>(at(zp, 0)) : 0, !quant);
        if (quant && !uniform(zp))
          throw CompileError(where(n) + ": per-channel zero points along the last axis are not supported");
      }
      if (quant)
        rows_op(n, {lx}, {false}, ly, sequence(q), walk);
      else
        rows_op(n, {lx, zp_row(zrow)}, {false, true}, ly, sequence(q), walk);
      return;
    }
    // Per channel along an inner axis: channel c is outer rows of inner elements, strided.
    for (int64_t c = 0; c < ax.channels; ++c) {
      const uint32_t q = entry(c);
      Location vin = lx, vout = ly;
      vin.rows = vout.rows = ax.outer;
      vin.cols = vout.cols = ax.inner;
      walk.in_stride = walk.out_stride = ax.channels * ax.inner;
      walk.in_col0 = walk.out_col0 = c * ax.inner;
      if (quant)
        rows_op(n, {vin}, {false}, vout, sequence(q), walk);
      else
        rows_op(n, {vin, zp_row(std::vector<double>(static_cast<size_t>(ax.inner), at(zp, c)))}, {false, true}, vout,
                sequence(q), walk);
    }
  }

  /// The batches of a batched matrix product, NumPy-broadcast: output batch bi reads batch ia of
  /// A and ib of B (leading dimensions right-aligned to the output's; size-1 dimensions repeat).
  struct BatchMap {
    std::vector<int64_t> y, a, b;  ///< batch dimensions of Y, and of A and B padded to Y's rank
    int64_t count = 1;             ///< output batches
    BatchMap(const std::vector<int64_t>& as, const std::vector<int64_t>& bs, const std::vector<int64_t>& ys)
        : y(ys.begin(), ys.end() - 2), a(pad(as)), b(pad(bs)) {
      for (int64_t d : y) count *= d;
    }
    std::vector<int64_t> pad(const std::vector<int64_t>& s) const {
      std::vector<int64_t> d(s.begin(), s.end() - 2);
      d.insert(d.begin(), y.size() - d.size(), 1);
      return d;
    }
    std::pair<int64_t, int64_t> operands(int64_t bi) const {
      int64_t rem = bi, ia = 0, ib = 0, sa = 1, sb = 1;
      for (size_t d = y.size(); d-- > 0;) {
        const int64_t idx = rem % y[d];
        rem /= y[d];
        ia += (a[d] == 1 ? 0 : idx) * sa;
        ib += (b[d] == 1 ? 0 : idx) * sb;
        sa *= a[d];
        sb *= b[d];
      }
      return {ia, ib};
    }
  };

  /// MatMul with batch dimensions ([..., M, K] x [..., K, N], NumPy broadcasting over the batch):
  /// one 2-D MatMul per output batch, addressed by element offsets into the same tensors.
  void batched_matmul(const Node& n) {
    const Tensor& a = g_.tensor(n.inputs.at(0));
    const Tensor& b = g_.tensor(n.inputs.at(1));
    const Tensor& y = g_.tensor(n.outputs.at(0));
    if (a.shape.size() < 2) throw CompileError(where(n) + ": a batched MatMul needs A of rank >= 2");
    const int64_t M = a.shape[a.shape.size() - 2], K = a.shape.back(), N = b.shape.back();
    if (y.shape.size() < 3) throw CompileError(where(n) + ": unexpected output rank");
    const BatchMap bm(a.shape, b.shape, y.shape);
    // Each batch as a 2-D MatMul on views of the same storage.
    input(n, 0);
    input(n, 1);
    output(n);
    for (int64_t bi = 0; bi < bm.count; ++bi) {
      const auto [ia, ib] = bm.operands(bi);
      batch_ = {ia * M * K, ib * K * N, bi * M * N};
      const int64_t mkn[3] = {M, K, N};
      gemm(n, mkn);
    }
    batch_ = {};
  }

  /// Padding and stride of a 2-D window operator (Conv, pools): pads [top, left] after auto_pad.
  struct Window {
    int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
  };

  Window window(const Node& n, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t kh, int64_t kw) {
    Window w;
    w.kh = kh;
    w.kw = kw;
    auto ints = [&](const char* k) {
      auto it = n.attrs.find(k);
      return it == n.attrs.end() ? std::vector<int64_t>{} : it->second.ints;
    };
    if (auto v = ints("strides"); v.size() == 2) w.sh = v[0], w.sw = v[1];
    if (auto v = ints("dilations"); v.size() == 2) w.dh = v[0], w.dw = v[1];
    const auto pads = ints("pads");
    const auto it = n.attrs.find("auto_pad");
    const std::string ap = it == n.attrs.end() ? "NOTSET" : it->second.s;
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      const int64_t th = std::max<int64_t>((OH - 1) * w.sh + (kh - 1) * w.dh + 1 - H, 0);
      const int64_t tw = std::max<int64_t>((OW - 1) * w.sw + (kw - 1) * w.dw + 1 - W, 0);
      w.pt = ap == "SAME_UPPER" ? th / 2 : th - th / 2;
      w.pl = ap == "SAME_UPPER" ? tw / 2 : tw - tw / 2;
      w.pb = th - w.pt;
      w.pr = tw - w.pl;
    } else if (ap == "NOTSET" && pads.size() == 4) {
      w.pt = pads[0], w.pl = pads[1], w.pb = pads[2], w.pr = pads[3];
    } else if (ap != "NOTSET" && ap != "VALID") {
      throw CompileError(where(n) + ": auto_pad '" + ap + "' is not supported");
    }
    return w;
  }

  static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
  static int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

  /// One kernel tap's view of a band of output rows: the output rows and columns whose input pixel
  /// (out * stride + tap * dilation - pad) lies inside the image.
  struct Tap {
    int64_t kh, kw, oh_lo, oh_hi, ow_lo, ow_hi;
  };

  /// The taps of a KH x KW window that see the image for output rows [oh0, oh0 + th); the others
  /// only see padding there and add zero.
  static std::vector<Tap> taps_for_band(const Window& win, int64_t KH, int64_t KW, int64_t H, int64_t W, int64_t OW,
                                        int64_t oh0, int64_t th) {
    std::vector<Tap> taps;
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw) {
        const int64_t oy = kh * win.dh - win.pt, ox = kw * win.dw - win.pl;  // input = out * stride + o
        const Tap t{kh,
                    kw,
                    std::max(oh0, ceil_div(-oy, win.sh)),
                    std::min(oh0 + th - 1, floor_div(H - 1 - oy, win.sh)),
                    std::max<int64_t>(0, ceil_div(-ox, win.sw)),
                    std::min(OW - 1, floor_div(W - 1 - ox, win.sw))};
        if (t.oh_lo <= t.oh_hi && t.ow_lo <= t.ow_hi) taps.push_back(t);
      }
    return taps;
  }

  /// The load of one tap's window for a band: `cc` channels from `c_off` of image `b` (NHWC, C
  /// channels), strided by the convolution's strides and zero-padded where the tap leaves the image.
  Instruction window_load(const Node& n, const Location& lx, const Window& win, const Tap& t, int64_t oh0, int64_t th,
                          int64_t OW, int64_t H, int64_t W, int64_t C, int64_t b, int64_t c_off, uint32_t cc,
                          uint32_t dst) {
    const int64_t pt = t.oh_lo - oh0, pb = oh0 + th - 1 - t.oh_hi, pl = t.ow_lo, pr = OW - 1 - t.ow_hi;
    if (pt > 15 || pb > 15 || pl > 15 || pr > 15)
      throw CompileError(where(n) + ": more than 15 padding rows or columns in one tile (the load's padding fields)");
    const int64_t y0 = t.oh_lo * win.sh + t.kh * win.dh - win.pt, x0 = t.ow_lo * win.sw + t.kw * win.dw - win.pl;
    Instruction la = make(Opcode::Load);
    la.set(f::load::dst, dst);
    la.set(f::load::desc,
           desc_nd(lx.region, lx.type, lx.offset,
                   {cc, static_cast<uint32_t>(t.ow_hi - t.ow_lo + 1), static_cast<uint32_t>(t.oh_hi - t.oh_lo + 1)},
                   {win.sw * C, win.sh * W * C}, lx.zp));
    if (lx.zp != 0) la.set(f::load::pad_zp, 1);  // a quantized image pads with its zero point
    la.set(f::load::off, static_cast<uint32_t>(((b * H + y0) * W + x0) * C + c_off));
    la.set(f::load::pad_top, static_cast<uint32_t>(pt));
    la.set(f::load::pad_bottom, static_cast<uint32_t>(pb));
    la.set(f::load::pad_left, static_cast<uint32_t>(pl));
    la.set(f::load::pad_right, static_cast<uint32_t>(pr));
    return la;
  }

  /// 2-D convolution on NHWC activations: for each band of output rows and tile of output
  /// channels, the sum over kernel taps (kh, kw) and input-channel chunks of
  /// X_tap[pixels x Cin] . W_tap[Cin x Cout]. Each X_tap is one strided load whose padding supplies
  /// the zeros outside the image, so no im2col buffer exists.
  void conv(const Node& n) {
    const Tensor& w = g_.tensor(n.inputs.at(1));
    ConvPlan plan = conv_shapes(n, g_.tensor(n.inputs.at(0)), w, g_.tensor(n.outputs.at(0)));
    const int64_t C = plan.C, Co = plan.Co, KH = plan.KH, KW = plan.KW, G = plan.G, Cg = C / G, Cog = Co / G;
    if (G == C && Co == C) return depthwise(n, plan.win);
    // Weights per group and tap: [G][KH][KW][Cg][Cog] in the device type.
    std::vector<double> taps(static_cast<size_t>(KH * KW * Cg * Co));
    for (int64_t g = 0; g < G; ++g)
      for (int64_t co = 0; co < Cog; ++co)
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw)
              taps[(((g * KH + kh) * KW + kw) * Cg + c) * Cog + co] =
                  w.values[(((g * Cog + co) * Cg + c) * KH + kh) * KW + kw];
    const uint64_t taps_off = put_device(taps);
    int64_t bias_off = -1;
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const Tensor& b = g_.tensor(n.inputs[2]);
      if (!b.is_const || b.elements() != Co)
        throw CompileError(where(n) + ": the bias must be a constant of " + std::to_string(Co) + " values");
      bias_off = static_cast<int64_t>(put_fp32(std::vector<float>(b.values.begin(), b.values.end())));
    }
    plan.x = input(n, 0);
    plan.y = output(n);
    plan.w = {weights_region_, taps_off, 0, 0, dev_};
    plan.mm_dtype = elem_;
    plan.bias_type = isa::TensorType::FP32;
    plan.bias_for_band = [bias_off](const std::vector<Tap>&) { return bias_off; };
    const uint32_t rq = to_device_param(1.0f);
    plan.requant_for = [rq](int64_t) { return rq; };
    emit_conv(n, plan);
  }

  /// A tiled 2-D convolution to emit (Conv, QLinearConv, ConvInteger): weights as
  /// [pass][G][KH][KW][Cg][Cog], an initial accumulator per band, an epilogue per channel tile.
  struct ConvPlan {
    Location x, y, w;  ///< input, output, weights (offset of pass 0)
    Window win;        ///< strides, dilations, padding
    int64_t N = 0, C = 0, H = 0, W = 0, Co = 0, OH = 0, OW = 0, KH = 0, KW = 0, G = 1;  ///< shapes
    int passes = 1;                                     ///< weight passes whose products add up
    uint32_t mm_dtype = 2;                              ///< matmul dtype code
    isa::TensorType bias_type = isa::TensorType::FP32;  ///< bias type (FP32 or I32), Co values
    /// Byte offset of the bias for a band whose contributing taps are given (-1: none).
    std::function<int64_t(const std::vector<Tap>&)> bias_for_band;
    std::function<uint32_t(int64_t c0)> requant_for;  ///< epilogue for output channels from c0; none: store i32
  };

  /// The shapes, groups and window of a 2-D convolution (Conv, QLinearConv, ConvInteger), checked.
  /// Groups: group g maps input channels [g*Cg, (g+1)*Cg) to output channels [g*Cog, (g+1)*Cog);
  /// each group is an ordinary convolution on channel slices, addressed by element offsets.
  ConvPlan conv_shapes(const Node& n, const Tensor& x, const Tensor& w, const Tensor& y) {
    if (!is_spatial(x) || !is_spatial(y) || w.shape.size() != 4)
      throw CompileError(where(n) + ": only 2-D convolution (4-D X and W) is supported");
    if (!w.is_const) throw CompileError(where(n) + ": the weights must be constant");
    ConvPlan p;
    p.N = x.shape[0], p.C = x.shape[1], p.H = x.shape[2], p.W = x.shape[3];
    p.Co = y.shape[1], p.OH = y.shape[2], p.OW = y.shape[3], p.KH = w.shape[2], p.KW = w.shape[3];
    p.G = n.attr_i("group", 1);
    if (p.G < 1 || p.C % p.G || p.Co % p.G)
      throw CompileError(where(n) + ": group " + std::to_string(p.G) + " does not divide the channels");
    if (w.shape[0] != p.Co || w.shape[1] != p.C / p.G)
      throw CompileError(where(n) + ": weights " + shape_text(w.shape) + " do not match the input and output channels");
    p.win = window(n, p.H, p.W, p.OH, p.OW, p.KH, p.KW);
    return p;
  }

  void emit_conv(const Node& n, const ConvPlan& cp) {
    const Location &lx = cp.x, &ly = cp.y;
    const Window& win = cp.win;
    const int64_t N = cp.N, C = cp.C, H = cp.H, W = cp.W, Co = cp.Co, OH = cp.OH, OW = cp.OW, KH = cp.KH, KW = cp.KW,
                  G = cp.G, Cg = C / G, Cog = Co / G;
    const bool raw_out = !cp.requant_for;
    if (OW > 4095) throw CompileError(where(n) + ": output width " + std::to_string(OW) + " exceeds 4095");
    const unsigned ex = bytes_of(lx.type), ew = bytes_of(cp.w.type), ey = raw_out ? 0 : bytes_of(ly.type);
    int64_t tn = std::min<int64_t>(Cog, std::max<int64_t>(t_.mxu_cols * 4, 64)), tk = std::min<int64_t>(Cg, 512);
    int64_t toh = std::max<int64_t>(1, std::min<int64_t>(OH, 4095 / OW));
    auto y_lines = [&](int64_t P) { return raw_out ? 0u : lines(P, tn, ey); };
    auto fits = [&] {
      const int64_t P = toh * OW;
      return uint64_t{lines(P, tn, 4)} * t_.line_bytes <= t_.acc_bytes &&
             uint64_t{2 * (lines(P, tk, ex) + lines(tk, tn, ew)) + y_lines(P)} * t_.line_bytes <= t_.spad_bytes;
    };
    while (!fits() && (toh > 1 || tk > 1 || tn > 1)) {
      if (toh > 1)
        toh = (toh + 1) / 2;
      else if (tk > 1)
        tk = (tk + 1) / 2;
      else
        tn = (tn + 1) / 2;
    }
    if (!fits()) throw CompileError(where(n) + ": no tile fits the scratchpad and accumulator");
    const int64_t pass_elems = G * KH * KW * Cg * Cog;
    for (int64_t b = 0; b < N; ++b)
      for (int64_t g = 0; g < G; ++g)
        for (int64_t oh0 = 0; oh0 < OH; oh0 += toh)
          for (int64_t n0 = 0; n0 < Cog; n0 += tn) {
            const int64_t th = std::min(toh, OH - oh0), P = th * OW;
            const auto nn = static_cast<uint32_t>(std::min(tn, Cog - n0));
            // Double-buffered A (window) and B (tap weights), as in gemm(): step i uses buffers i % 2.
            const uint32_t a_buf[2] = {0, lines(P, tk, ex)},
                           b_buf[2] = {2 * lines(P, tk, ex), 2 * lines(P, tk, ex) + lines(tk, tn, ew)};
            const uint32_t y_line = b_buf[1] + lines(tk, tn, ew);
            // The taps that touch the image for this band, each in channel chunks and weight passes.
            struct Step {
              Tap tap;
              int64_t c0, ck, pass;
            };
            const std::vector<Tap> band_taps = taps_for_band(win, KH, KW, H, W, OW, oh0, th);
            std::vector<Step> steps;
            for (int64_t pass = 0; pass < cp.passes; ++pass)
              for (const Tap& t : band_taps)
                for (int64_t c0 = 0; c0 < Cg; c0 += tk) steps.push_back({t, c0, std::min(tk, Cg - c0), pass});
            if (steps.empty())
              throw CompileError(where(n) + ": output rows " + std::to_string(oh0) + ".." +
                                 std::to_string(oh0 + th - 1) + " see only padding (padding as large as the kernel)");
            const int64_t bias_off = cp.bias_for_band(band_taps);
            const bool has_bias = bias_off >= 0;
            bool first = true;
            if (has_bias) {
              Instruction l = make(Opcode::Load);
              l.set(f::load::dst_acc, 1);
              l.set(f::load::desc, desc(weights_region_, cp.bias_type, static_cast<uint64_t>(bias_off), nn,
                                        static_cast<uint32_t>(P), 0));
              l.set(f::load::off, static_cast<uint32_t>(g * Cog + n0));
              emit(l, kGo, 1, kL2M);
              first = false;
            }
            for (size_t i = 0; i < steps.size(); ++i) {
              const Step& st = steps[i];
              const uint32_t a_line = a_buf[i % 2], b_line = b_buf[i % 2];
              const Instruction la = window_load(n, lx, win, st.tap, oh0, th, OW, H, W, C, b, g * Cg + st.c0,
                                                 static_cast<uint32_t>(st.ck), a_line);
              emit(la, first ? kGo : (i >= 2 ? kM2L : -1), 1, kL2M);
              first = false;
              Instruction lw = make(Opcode::Load);
              lw.set(f::load::dst, b_line);
              lw.set(f::load::desc, desc(cp.w.region, cp.w.type, cp.w.offset, nn, static_cast<uint32_t>(st.ck), Cog));
              lw.set(f::load::off,
                     static_cast<uint32_t>(st.pass * pass_elems +
                                           (((g * KH + st.tap.kh) * KW + st.tap.kw) * Cg + st.c0) * Cog + n0));
              emit(lw, -1, 1, kL2M);
              Instruction m = make(Opcode::Matmul);
              m.set(f::matmul::a, a_line);
              m.set(f::matmul::b, b_line);
              m.set(f::matmul::m, static_cast<uint32_t>(P));
              m.set(f::matmul::n, nn);
              m.set(f::matmul::k, static_cast<uint32_t>(st.ck));
              m.set(f::matmul::dtype, cp.mm_dtype);
              m.set(f::matmul::accumulate, (i > 0 || has_bias) ? 1 : 0);
              emit(m, kL2M, (i == 0 && has_bias) ? 3 : 2,
                   i + 1 == steps.size() ? (raw_out ? kM2S : kM2V) : (i + 2 < steps.size() ? kM2L : -1));
            }
            uint32_t src_line = 0;
            if (!raw_out) {
              Instruction rq = make(Opcode::Requant);
              rq.set(f::requant::dst, y_line);
              rq.set(f::requant::rows, static_cast<uint32_t>(P));
              rq.set(f::requant::cols, nn);
              rq.set(f::requant::dtype, code(ly.type, n));
              rq.set(f::requant::q, cp.requant_for(g * Cog + n0));
              emit(rq, kM2V, 1, kV2S);
              src_line = y_line;
            }
            Instruction sto = make(Opcode::Store);
            sto.set(f::store::src, src_line);
            sto.set(f::store::src_acc, raw_out ? 1 : 0);
            sto.set(f::store::desc, desc(ly.region, ly.type, ly.offset, nn, static_cast<uint32_t>(P), Co));
            sto.set(f::store::off, static_cast<uint32_t>(((b * OH + oh0) * OW) * Co + g * Cog + n0));
            emit(sto, raw_out ? kM2S : kV2S, 1, kGo);
          }
  }
  /// Depthwise convolution (group = channels, multiplier 1) on the VPU: for each kernel tap, the
  /// shifted window (one padded strided load, as for Conv) times the tap's weight row, in fp32,
  /// accumulated into the output in the accumulator: Y[p, c] = b[c] + sum_tap X_tap[p, c] * w[c, tap].
  void depthwise(const Node& n, const Window& win) {
    const Tensor& x = g_.tensor(n.inputs.at(0));
    const Tensor& w = g_.tensor(n.inputs.at(1));
    const Tensor& y = g_.tensor(n.outputs.at(0));
    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], OH = y.shape[2], OW = y.shape[3];
    const int64_t KH = w.shape[2], KW = w.shape[3];
    std::vector<double> taps(static_cast<size_t>(KH * KW * C));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < KH * KW; ++t) taps[t * C + c] = w.values[c * KH * KW + t];
    const uint64_t taps_off = put_device(taps);
    std::vector<float> bias(static_cast<size_t>(C), 0.0f);  // the accumulator starts at the bias (or 0)
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const Tensor& b = g_.tensor(n.inputs[2]);
      if (!b.is_const || b.elements() != C)
        throw CompileError(where(n) + ": the bias must be a constant of " + std::to_string(C) + " values");
      bias.assign(b.values.begin(), b.values.end());
    }
    const uint64_t bias_off = put_fp32(bias);
    const Location lx = input(n, 0), ly = output(n);
    if (OW > 4095) throw CompileError(where(n) + ": output width " + std::to_string(OW) + " exceeds 4095");
    const unsigned es = bytes_of(dev_);
    int64_t tc = std::min<int64_t>(C, 4095), toh = std::max<int64_t>(1, std::min<int64_t>(OH, 4095 / OW));
    auto fits = [&] {
      const int64_t P = toh * OW;
      return uint64_t{2 * lines(P, tc, 4)} * t_.line_bytes <= t_.acc_bytes &&
             uint64_t{2 * lines(P, tc, es) + lines(1, tc, es)} * t_.line_bytes <= t_.spad_bytes;
    };
    while (!fits() && (toh > 1 || tc > 1)) {
      if (toh > 1)
        toh = (toh + 1) / 2;
      else
        tc = (tc + 1) / 2;
    }
    if (!fits()) throw CompileError(where(n) + ": no tile fits the scratchpad and accumulator");
    for (int64_t b = 0; b < N; ++b)
      for (int64_t oh0 = 0; oh0 < OH; oh0 += toh)
        for (int64_t c0 = 0; c0 < C; c0 += tc) {
          const int64_t th = std::min(toh, OH - oh0), P = th * OW;
          const auto cc = static_cast<uint32_t>(std::min(tc, C - c0));
          const uint32_t a_line = 0, w_line = lines(P, tc, es), y_line = w_line + lines(1, tc, es);
          const uint32_t c_acc = 0, t_acc = lines(P, tc, 4);
          Instruction l = make(Opcode::Load);
          l.set(f::load::dst_acc, 1);
          l.set(f::load::dst, c_acc);
          l.set(f::load::desc, desc(weights_region_, isa::TensorType::FP32, bias_off, cc, static_cast<uint32_t>(P), 0));
          l.set(f::load::off, static_cast<uint32_t>(c0));
          emit(l, kGo, 1, kL2V);
          const std::vector<Tap> valid = taps_for_band(win, KH, KW, H, W, OW, oh0, th);
          for (size_t i = 0; i < valid.size(); ++i) {
            const Tap& t = valid[i];
            const Instruction la = window_load(n, lx, win, t, oh0, th, OW, H, W, C, b, c0, cc, a_line);
            emit(la, i > 0 ? kM2L : -1, 1, kL2V);  // after the previous tap's VPU work read the buffers
            Instruction lw = make(Opcode::Load);
            lw.set(f::load::dst, w_line);
            lw.set(f::load::desc, desc(weights_region_, dev_, taps_off, cc, 1, C));
            lw.set(f::load::off, static_cast<uint32_t>((t.kh * KW + t.kw) * C + c0));
            emit(lw, -1, 1, kL2V);
            Instruction mul = make(Opcode::Mul);  // T = X_tap * w_tap, fp32 in the accumulator
            mul.set(f::mul::dst_acc, 1);
            mul.set(f::mul::dst, t_acc);
            mul.set(f::mul::src0, a_line);
            mul.set(f::mul::src1, w_line);
            mul.set(f::mul::bcast, 1);
            mul.set(f::mul::rows, static_cast<uint32_t>(P));
            mul.set(f::mul::cols, cc);
            mul.set(f::mul::dtype, elem_);
            mul.set(f::mul::q, isa::kNoParam);
            emit(mul, kL2V, i == 0 ? 3 : 2, -1);
            Instruction add = make(Opcode::Add);  // C += T
            add.set(f::add::dst_acc, 1);
            add.set(f::add::src0_acc, 1);
            add.set(f::add::src1_acc, 1);
            add.set(f::add::dst, c_acc);
            add.set(f::add::src0, c_acc);
            add.set(f::add::src1, t_acc);
            add.set(f::add::rows, static_cast<uint32_t>(P));
            add.set(f::add::cols, cc);
            add.set(f::add::dtype, elem_);
            add.set(f::add::q, isa::kNoParam);
            emit(add, -1, 1, i + 1 < valid.size() ? kM2L : -1);
          }
          Instruction rq = make(Opcode::Requant);
          rq.set(f::requant::dst, y_line);
          rq.set(f::requant::src, c_acc);
          rq.set(f::requant::rows, static_cast<uint32_t>(P));
          rq.set(f::requant::cols, cc);
          rq.set(f::requant::dtype, elem_);
          rq.set(f::requant::q, to_device_param(1.0f));
          emit(rq, valid.empty() ? kL2V : -1, 1, kV2S);
          Instruction st = make(Opcode::Store);
          st.set(f::store::src, y_line);
          st.set(f::store::desc, desc(ly.region, dev_, ly.offset, cc, static_cast<uint32_t>(P), C));
          st.set(f::store::off, static_cast<uint32_t>(((b * OH + oh0) * OW) * C + c0));
          emit(st, kV2S, 1, kGo);
        }
  }

  /// MaxPool, AveragePool and GlobalAveragePool on NHWC images with the ISA's pool instruction,
  /// a whole image per channel tile.
  void pool(const Node& n) {
    const Tensor& x = g_.tensor(n.inputs.at(0));
    const Tensor& y = g_.tensor(n.outputs.at(0));
    if (!is_spatial(x) || !is_spatial(y)) throw CompileError(where(n) + ": only 2-D pooling (4-D X) is supported");
    if (n.outputs.size() > 1 && !n.outputs[1].empty())
      throw CompileError(where(n) + ": the Indices output is not supported");
    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], OH = y.shape[2], OW = y.shape[3];
    const bool global = n.op == "GlobalAveragePool", avg = n.op != "MaxPool";
    Window win;
    if (global) {
      win.kh = H, win.kw = W;
    } else {
      auto it = n.attrs.find("kernel_shape");
      if (it == n.attrs.end() || it->second.ints.size() != 2)
        throw CompileError(where(n) + ": kernel_shape must have two values");
      win = window(n, H, W, OH, OW, it->second.ints[0], it->second.ints[1]);
      if (win.dh != 1 || win.dw != 1) throw CompileError(where(n) + ": dilations are not supported");
      if (n.attr_i("ceil_mode", 0)) {
        // ceil_mode: the last window may run past the padded input; the overhang is more padding
        // at the bottom and right (never part of a maximum; left out of an average, which is why
        // counting padding in averages is not allowed with it).
        if (avg && n.attr_i("count_include_pad", 0))
          throw CompileError(where(n) + ": ceil_mode=1 with count_include_pad=1 is not supported");
        win.pb += std::max<int64_t>(0, (OH - 1) * win.sh + win.kh - (H + win.pt + win.pb));
        win.pr += std::max<int64_t>(0, (OW - 1) * win.sw + win.kw - (W + win.pl + win.pr));
      }
    }
    if (win.kh > 255 || win.kw > 255 || win.sh > 255 || win.sw > 255 || H > 65535 || W > 65535)
      throw CompileError(where(n) + ": window, stride or image too large for the pool parameters");
    if (win.pt >= win.kh || win.pb >= win.kh || win.pl >= win.kw || win.pr >= win.kw)
      throw CompileError(where(n) + ": padding as large as the window is not supported");
    if (H + win.pt + win.pb < win.kh || W + win.pl + win.pr < win.kw)
      throw CompileError(where(n) + ": the window is larger than the padded input");
    if ((win.pt + win.pb + H - win.kh) / win.sh + 1 != OH || (win.pl + win.pr + W - win.kw) / win.sw + 1 != OW)
      throw CompileError(where(n) + ": output size " + shape_text(y.shape) + " does not follow from the window");
    const bool count_pad = n.attr_i("count_include_pad", 0) != 0;
    const Location lx = input(n, 0), ly = output(n);
    if (avg && !is_float_type(lx.type)) throw CompileError(where(n) + ": average pooling needs a float input");
    const unsigned es = bytes_of(lx.type);
    // Bands of output rows (with their input halo) and channel tiles that fit the scratchpad.
    int64_t tc = std::min<int64_t>(C, 4095), th = OH;
    auto in_rows = [&](int64_t rows) { return std::min<int64_t>(H, (rows - 1) * win.sh + win.kh); };
    auto fits = [&] {
      return uint64_t{lines(in_rows(th) * W, tc, es) + lines(th * OW, tc, es)} * t_.line_bytes <= t_.spad_bytes;
    };
    while (!fits() && (th > 1 || tc > 1)) {
      if (th > 1)
        th = (th + 1) / 2;
      else
        tc = (tc + 1) / 2;
    }
    if (!fits())
      throw CompileError(where(n) + ": one output row of a " + std::to_string(W) +
                         "-wide image does not fit the scratchpad");
    for (int64_t b = 0; b < N; ++b)
      for (int64_t oh0 = 0; oh0 < OH; oh0 += th)
        for (int64_t c0 = 0; c0 < C; c0 += tc) {
          const int64_t rows = std::min(th, OH - oh0);
          // Input rows of this band; padding only where the band meets the image's edge.
          const int64_t y_lo = oh0 * win.sh - win.pt, y_hi = (oh0 + rows - 1) * win.sh - win.pt + win.kh - 1;
          const int64_t band_pt = std::max<int64_t>(0, -y_lo), band_pb = std::max<int64_t>(0, y_hi - (H - 1));
          const int64_t y0 = std::max<int64_t>(0, y_lo), ih = std::min<int64_t>(H - 1, y_hi) - y0 + 1;
          const uint32_t param = pool_param(win, ih, W, band_pt, band_pb, count_pad);
          const auto cc = static_cast<uint32_t>(std::min(tc, C - c0));
          const uint32_t dst = lines(in_rows(th) * W, tc, es);
          Instruction l = make(Opcode::Load);
          l.set(f::load::desc, desc_nd(lx.region, lx.type, lx.offset,
                                       {cc, static_cast<uint32_t>(W), static_cast<uint32_t>(ih)}, {C, W * C}));
          l.set(f::load::off, static_cast<uint32_t>((b * H + y0) * W * C + c0));
          emit(l, kGo, 1, kL2V);
          Instruction pl = make(Opcode::Pool);
          pl.set(f::pool::dst, dst);
          pl.set(f::pool::src, 0);
          pl.set(f::pool::channels, cc);
          pl.set(f::pool::window, param);
          pl.set(f::pool::avg, avg ? 1 : 0);
          pl.set(f::pool::dtype, code(lx.type, n));
          emit(pl, kL2V, 1, kV2S);
          Instruction st = make(Opcode::Store);
          st.set(f::store::src, dst);
          st.set(f::store::desc, desc(ly.region, ly.type, ly.offset, cc, static_cast<uint32_t>(rows * OW), C));
          st.set(f::store::off, static_cast<uint32_t>(((b * OH + oh0) * OW) * C + c0));
          emit(st, kV2S, 1, kGo);
        }
  }

  /// A pool parameter entry for one band (deduplicated).
  uint32_t pool_param(const Window& win, int64_t in_h, int64_t in_w, int64_t pt, int64_t pb, bool count_pad) {
    namespace pp = isa::params::pool;
    isa::Param p;
    p.bytes[0] = pp::kKind;
    p.bytes[pp::kh] = static_cast<uint8_t>(win.kh);
    p.bytes[pp::kw] = static_cast<uint8_t>(win.kw);
    p.bytes[pp::sh] = static_cast<uint8_t>(win.sh);
    p.bytes[pp::sw] = static_cast<uint8_t>(win.sw);
    p.bytes[pp::pad_top] = static_cast<uint8_t>(pt);
    p.bytes[pp::pad_bottom] = static_cast<uint8_t>(pb);
    p.bytes[pp::pad_left] = static_cast<uint8_t>(win.pl);
    p.bytes[pp::pad_right] = static_cast<uint8_t>(win.pr);
    p.bytes[pp::count_pad] = count_pad ? 1 : 0;
    p.bytes[pp::in_h] = static_cast<uint8_t>(in_h);
    p.bytes[pp::in_h + 1] = static_cast<uint8_t>(in_h >> 8);
    p.bytes[pp::in_w] = static_cast<uint8_t>(in_w);
    p.bytes[pp::in_w + 1] = static_cast<uint8_t>(in_w >> 8);
    for (size_t i = 0; i < p_.params.size(); ++i)
      if (p_.params[i].bytes == p.bytes) return static_cast<uint32_t>(i);
    p.name = "pool" + std::to_string(p_.params.size());
    p_.params.push_back(p);
    return static_cast<uint32_t>(p_.params.size() - 1);
  }

  /// Inference BatchNormalization: y = x * s + t per channel, s = scale / sqrt(var + epsilon),
  /// t = B - mean * s computed at compile time; two row-broadcast passes (mul, then add) through
  /// an intermediate tensor. Channels are the rows' elements: NHWC images or [N, C] tensors.
  void batch_norm(const Node& n) {
    const Tensor& x = g_.tensor(n.inputs.at(0));
    if (n.outputs.size() > 1) {
      for (size_t i = 1; i < n.outputs.size(); ++i)
        if (!n.outputs[i].empty()) throw CompileError(where(n) + ": training-mode outputs are not supported");
    }
    if (!(is_spatial(x) || x.shape.size() == 2))
      throw CompileError(where(n) + ": only [N, C] tensors and images are supported");
    const int64_t C = x.shape[1];
    std::vector<const Tensor*> prm;
    for (size_t i = 1; i <= 4; ++i) {
      const Tensor& t = g_.tensor(n.inputs.at(i));
      if (!t.is_const || t.elements() != C)
        throw CompileError(where(n) + ": scale, B, mean and var must be constants of " + std::to_string(C) + " values");
      prm.push_back(&t);
    }
    const double eps = n.attr_f("epsilon", 1e-5f);
    std::vector<double> sc(static_cast<size_t>(C)), sh(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      sc[c] = prm[0]->values[c] / std::sqrt(prm[3]->values[c] + eps);
      sh[c] = prm[1]->values[c] - prm[2]->values[c] * sc[c];
    }
    const Location lx = input(n, 0);
    const Location ls{weights_region_, put_device(sc), 1, C, dev_}, lt{weights_region_, put_device(sh), 1, C, dev_};
    // Intermediate x * s among the activations.
    act_bytes_ = (act_bytes_ + 63) / 64 * 64;
    const Location tmp{act_region_, act_bytes_, lx.rows, lx.cols, dev_};
    act_bytes_ += static_cast<uint64_t>(x.elements()) * bytes_of(dev_);
    const Location out = output(n);
    rows_binary(n, lx, ls, true, tmp, Opcode::Mul);
    rows_binary(n, tmp, lt, true, out, Opcode::Add);
  }

  static std::vector<Instruction> as_list(Instruction i) { return {i}; }
  static std::vector<Instruction> as_list(std::vector<Instruction> v) { return v; }

  /// Row tiles of an element-wise operation: loads of the inputs, a VPU sequence (one instruction
  /// or several in order: the first waits for the loads, the last signals the store), a store.
  template <typename MakeVpu>
  void rows_op(const Node& n, const std::vector<Location>& ins, const std::vector<bool>& bcast_row, const Location& out,
               MakeVpu make_vpu, const RowsWalk& walk = {}) {
    const int64_t R = out.rows, C = out.cols;
    if (C > 4095) throw CompileError(where(n) + ": last dimension " + std::to_string(C) + " exceeds 4095 elements");
    unsigned es = bytes_of(out.type);  // the widest element sizes the rows
    for (const Location& l : ins) es = std::max(es, bytes_of(l.type));
    const uint32_t row_l = lines(1, static_cast<uint64_t>(C), es);
    int64_t tr = std::min<int64_t>(R, 4095);
    while (uint64_t{row_l} * tr * (ins.size() + 1) * t_.line_bytes > t_.spad_bytes && tr > 1) tr = (tr + 1) / 2;
    while (walk.uses_acc && uint64_t{lines(tr, C, 4)} * t_.line_bytes > t_.acc_bytes && tr > 1) tr = (tr + 1) / 2;
    const int64_t istride = walk.in_stride < 0 ? C : walk.in_stride;
    for (int64_t r0 = 0; r0 < R; r0 += tr) {
      const auto rr = static_cast<uint32_t>(std::min(tr, R - r0));
      std::vector<uint32_t> src_lines;
      for (size_t i = 0; i < ins.size(); ++i) {
        const uint32_t line = static_cast<uint32_t>(i) * row_l * static_cast<uint32_t>(tr);
        src_lines.push_back(line);
        Instruction l = make(Opcode::Load);
        l.set(f::load::dst, line);
        if (bcast_row[i]) {
          l.set(f::load::desc, desc(ins[i].region, ins[i].type, ins[i].offset, static_cast<uint32_t>(C), 1, C));
        } else {
          l.set(f::load::desc, desc(ins[i].region, ins[i].type, ins[i].offset, static_cast<uint32_t>(C), rr, istride));
          l.set(f::load::off, static_cast<uint32_t>(r0 * istride + walk.in_col0));
        }
        emit(l, i == 0 ? kGo : -1, 1, kL2V);
      }
      const uint32_t dst = static_cast<uint32_t>(ins.size()) * row_l * static_cast<uint32_t>(tr);
      const std::vector<Instruction> vs = as_list(make_vpu(dst, src_lines, rr, static_cast<uint32_t>(C)));
      for (size_t k = 0; k < vs.size(); ++k)
        emit(vs[k], k == 0 ? kL2V : -1, static_cast<uint32_t>(ins.size()), k + 1 == vs.size() ? kV2S : -1);
      Instruction st = make(Opcode::Store);
      st.set(f::store::src, dst);
      const int64_t ostride = walk.out_stride < 0 ? C : walk.out_stride;
      st.set(f::store::desc, desc(out.region, out.type, out.offset, static_cast<uint32_t>(C), rr, ostride));
      st.set(f::store::off, static_cast<uint32_t>(r0 * ostride + walk.out_col0));
      emit(st, kV2S, 1, kGo);
    }
  }

  /// Concat: every input viewed as outer x inner_i rows (row-major: outer = the dimensions before
  /// the axis), copied into its column range of the outer x sum(inner_i) output. Images concatenate
  /// along channels (axis 1), which are the rows' elements in NHWC.
  void concat(const Node& n) {
    const Tensor& y = g_.tensor(n.outputs.at(0));
    int64_t axis = n.attr_i("axis", 0);
    if (axis < 0) axis += static_cast<int64_t>(y.shape.size());
    if (axis < 0 || axis >= static_cast<int64_t>(y.shape.size())) throw CompileError(where(n) + ": axis out of range");
    const bool image = is_spatial(y);
    if (image && axis != 1) throw CompileError(where(n) + ": images concatenate along channels (axis 1) only");
    auto split = [&](const Tensor& t) {  // outer, inner
      if (image) return std::pair<int64_t, int64_t>{t.shape[0] * t.shape[2] * t.shape[3], t.shape[1]};
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < static_cast<int64_t>(t.shape.size()); ++d) (d < axis ? outer : inner) *= t.shape[d];
      return std::pair<int64_t, int64_t>{outer, inner};
    };
    const auto [outer, total] = split(y);
    const Location ly = output(n);
    int64_t col0 = 0;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (n.inputs[i].empty()) continue;
      const Tensor& t = g_.tensor(n.inputs[i]);
      if (is_spatial(t) != image) throw CompileError(where(n) + ": inputs mix images and other tensors");
      const auto [o, inner] = split(t);
      if (o != outer)
        throw CompileError(where(n) + ": input '" + t.name + "' does not match the output's outer dimensions");
      if (inner == 0) continue;
      Location li = input(n, i);
      li.rows = outer;
      li.cols = inner;
      if (li.type != ly.type) throw CompileError(where(n) + ": inputs of different types");
      const Location view{ly.region, ly.offset, outer, inner, ly.type};
      rows_op(
          n, {li}, {false}, view,
          [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
            Instruction c = make(Opcode::Copy);
            c.set(f::copy::dst, dst);
            c.set(f::copy::src, src[0]);
            c.set(f::copy::rows, rows);
            c.set(f::copy::cols, cols);
            c.set(f::copy::dtype, code(li.type, n));
            return c;
          },
          RowsWalk{total, col0});
      col0 += inner;
    }
  }

  void unary(const Node& n, uint32_t clamp) {
    const Location in = input(n, 0);
    const Location out = output(n);
    rows_op(n, {in}, {false}, out, [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
      Instruction i = make(Opcode::Clamp);
      i.set(f::clamp::dst, dst);
      i.set(f::clamp::src, src[0]);
      i.set(f::clamp::rows, rows);
      i.set(f::clamp::cols, cols);
      i.set(f::clamp::dtype, code(in.type, n));
      i.set(f::clamp::bounds, clamp);
      return i;
    });
  }

  void binary(const Node& n) {
    const Tensor& a = g_.tensor(n.inputs.at(0));
    const Tensor& b = g_.tensor(n.inputs.at(1));
    const Tensor& y = g_.tensor(n.outputs.at(0));
    // Same shape, or B a row (its elements equal the last dimension) broadcast over rows.
    bool bcast = false;
    if (is_spatial(y) && b.shape != y.shape) {
      // Per-channel operand ([C, 1, 1] or [1, C, 1, 1]): a row of C in NHWC.
      const int64_t C = y.shape[1];
      if (b.elements() != C || (b.shape.size() >= 3 && b.shape[b.shape.size() - 3] != C))
        throw CompileError(where(n) + ": broadcasting " + shape_text(b.shape) + " to " + shape_text(y.shape) +
                           " is not supported (same shape or per channel)");
      if (a.shape != y.shape) throw CompileError(where(n) + ": the first input must have the output's shape");
      const Location la = input(n, 0);
      Location lb;
      if (b.is_const && !loc_.count(b.name)) {
        lb = {weights_region_, put_device(b.values), 1, C, dev_};
        loc_[b.name] = lb;
      } else {
        lb = input(n, 1);
      }
      return binary_op(n, la, lb, true);
    }
    if (a.shape != y.shape)
      throw CompileError(where(n) + ": broadcasting the first input " + shape_text(a.shape) + " to " +
                         shape_text(y.shape) + " is not supported");
    if (b.shape != y.shape) {
      if (b.elements() == (y.shape.empty() ? 1 : y.shape.back()) && (b.shape.empty() || b.shape.back() == b.elements()))
        bcast = true;
      else
        throw CompileError(where(n) + ": broadcasting " + shape_text(b.shape) + " to " + shape_text(y.shape) +
                           " is not supported (same shape or a row)");
    }
    binary_op(n, input(n, 0), input(n, 1), bcast);
  }

  void binary_op(const Node& n, const Location& la, const Location& lb, bool bcast) {
    const Opcode op = n.op == "Add" ? Opcode::Add : n.op == "Sub" ? Opcode::Sub : Opcode::Mul;
    rows_binary(n, la, lb, bcast, output(n), op);
  }

  /// out = la (op) lb row by row; `bcast`: lb is one row for every row.
  void rows_binary(const Node& n, const Location& la, const Location& lb, bool bcast, const Location& out, Opcode op) {
    rows_op(n, {la, lb}, {false, bcast}, out,
            [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
              Instruction i = make(op);
              i.set(f::add::dst, dst);
              i.set(f::add::src0, src[0]);
              i.set(f::add::src1, src[1]);
              i.set(f::add::rows, rows);
              i.set(f::add::cols, cols);
              i.set(f::add::dtype, code(la.type, n));
              i.set(f::add::bcast, bcast ? 1 : 0);
              i.set(f::add::q, isa::kNoParam);
              return i;
            });
  }

  static std::string shape_text(const std::vector<int64_t>& s) {
    std::string t = "[";
    for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
  }

  const Graph& g_;                               ///< the model
  TargetInfo t_;                                 ///< the hardware
  std::string precision_;                        ///< fp16 | bf16
  isa::TensorType dev_;                          ///< device type of float tensors
  uint32_t elem_ = 2;                            ///< ISA dtype enum value of dev_
  isa::Program p_;                               ///< being built
  std::map<std::string, Location> loc_;          ///< where each tensor lives
  uint8_t weights_region_ = 0, act_region_ = 0;  ///< region ids
  std::vector<uint8_t> weights_;                 ///< contents of the weights region
  uint64_t act_bytes_ = 0;                       ///< activation space used
  std::map<std::tuple<uint8_t, int, uint64_t, std::vector<uint32_t>, std::vector<int64_t>, int32_t>, uint32_t>
      descs_;  ///< dedup
  /// Element offsets of the current batch of a batched MatMul (zero otherwise).
  struct BatchOffsets {
    int64_t a = 0, b = 0, y = 0;
  } batch_;
  std::map<float, uint32_t> to_dev_params_;  ///< fp32 → device requant entries by scale
  bool fallback_ = true;                     ///< host kernels allowed
  std::vector<HostOp> host_ops_;             ///< operators left to the host
  std::set<std::string> spatial_;            ///< tensors stored NHWC (see mark_spatial)
  std::set<std::string> marker_names_;       ///< for unique markers
};

}  // namespace

const std::vector<std::string>& supported_operators() {
  return kSupported;
}

CompiledModel compile(const Graph& g, const TargetInfo& target, const CompileOptions& opts) {
  return Lowering(g, target, opts).run();
}

}  // namespace npusim::compiler
