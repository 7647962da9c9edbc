// Lowering of the float operator set. Every activation lives in a DRAM region in the compiled
// precision (fp16 or bf16); every operator is tiled to the SRAM sizes and runs as a chain of
// LOAD → (MXU) → VPU → STORE instructions ordered by six semaphores, so the next tile (and the next
// operator) starts when the previous store has completed. This order is correct by construction
// and `validate_program`/the deadlock proof check it; overlap between tiles (double buffering) is
// the next step. Weights are converted to the precision at compile time; Gemm's alpha and beta are
// folded into them.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
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
                                             "Identity"};

/// Where a tensor lives in DRAM, viewed as rows x cols of the device type.
struct Location {
  uint8_t region = 0;   ///< region id
  uint64_t offset = 0;  ///< byte offset in the region
  int64_t rows = 0;     ///< leading dimensions collapsed
  int64_t cols = 0;     ///< last dimension
};

class Lowering {
 public:
  Lowering(const Graph& g, const TargetInfo& t, const CompileOptions& o) : g_(g), t_(t), fallback_(o.fallback) {
    if (o.precision == "fp16") {
      dev_ = isa::TensorType::FP16;
      elem_ = 2;  // ISA dtype enum: i8, u8, fp16, bf16
    } else if (o.precision == "bf16") {
      dev_ = isa::TensorType::BF16;
      elem_ = 3;
    } else {
      throw CompileError("precision '" + o.precision +
                         "' is not supported yet (fp16 or bf16; int8 post-training quantization comes next)");
    }
    if (std::find(t.mxu_dtypes.begin(), t.mxu_dtypes.end(), o.precision) == t.mxu_dtypes.end())
      throw CompileError("the target's MXU does not support " + o.precision + " (mxu.dtypes)");
    p_.target.line_bytes = t.line_bytes;
    p_.target.mxu_rows = static_cast<uint16_t>(t.mxu_rows);
    p_.target.mxu_cols = static_cast<uint16_t>(t.mxu_cols);
    p_.target.spad_bytes = static_cast<uint32_t>(std::min<uint64_t>(t.spad_bytes, UINT32_MAX));
    p_.target.acc_bytes = static_cast<uint32_t>(std::min<uint64_t>(t.acc_bytes, UINT32_MAX));
    p_.target.dtype_mask = static_cast<uint8_t>(1u << elem_);
    // Six semaphores order the chain LOAD → MXU → VPU → STORE → LOAD (see the file comment).
    p_.sems = {{"go", isa::Engine::Load, 1}, {"l2m", isa::Engine::Mxu, 0}, {"m2l", isa::Engine::Load, 0},
               {"m2v", isa::Engine::Vpu, 0}, {"l2v", isa::Engine::Vpu, 0}, {"v2s", isa::Engine::Store, 0}};
  }

  CompiledModel run() {
    CompiledModel out;
    mark_spatial();
    // Regions: one per graph input and output, weights (const) and activations (scratch).
    for (const auto& name : g_.inputs) {
      const Tensor& t = g_.tensor(name);
      check_float(t, "graph input");
      out.inputs.push_back({name, io_region(t, isa::RegionRole::Input), t.dtype, is_spatial(t)});
    }
    for (const auto& name : g_.outputs) {
      const Tensor& t = g_.tensor(name);
      check_float(t, "graph output");
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
  unsigned dev_bytes() const { return 2; }

  void check_float(const Tensor& t, const std::string& role) const {
    if (t.dtype != DType::F32 && t.dtype != DType::F16)
      throw CompileError(role + " '" + t.name + "' is " + dtype_name(t.dtype) +
                         "; this compiler lowers float models (int8 models come next)");
  }

  /// Rank-4 tensors ([N, C, H, W] in ONNX) live as NHWC on the device: pixels as rows, channels
  /// along the row, the layout the ISA's padded loads and pool instruction work on.
  /// Whether a tensor is an image on the device (NHWC). Decided once for the graph by
  /// mark_spatial(): the inputs and outputs of Conv and pools, and everything connected to them
  /// through element-wise operators; other rank-4 tensors stay row-major as in ONNX.
  bool is_spatial(const Tensor& t) const { return t.shape.size() == 4 && spatial_.count(t.name) > 0; }

  void mark_spatial() {
    static const std::set<std::string> images = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                                                 "BatchNormalization"};
    static const std::set<std::string> elementwise = {
        "Relu", "Clip", "Add", "Sub", "Mul", "Identity", "BatchNormalization"};
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
    const uint64_t bytes = static_cast<uint64_t>(t.elements()) * dev_bytes();
    p_.regions.push_back({name, role, std::max<uint64_t>(1, bytes), 64, {}});
    isa::IoTensor io;
    io.name = name;
    io.region = id;
    io.dtype = dev_;
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
    loc_[t.name] = {id, 0, rows, cols};
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
    check_float(t, where(n) + ": constant");
    const auto [rows, cols] = view(t);
    Location l{weights_region_, put_device(device_order(t)), rows, cols};
    loc_[t.name] = l;
    return l;
  }

  /// Output location: the graph output's region, or fresh space among the activations.
  Location output(const Node& n, size_t i = 0) {
    const Tensor& t = g_.tensor(n.outputs.at(i));
    check_float(t, where(n) + ": output");
    auto it = loc_.find(t.name);
    if (it != loc_.end()) return it->second;  // a graph output region
    const auto [rows, cols] = view(t);
    act_bytes_ = (act_bytes_ + 63) / 64 * 64;
    Location l{act_region_, act_bytes_, rows, cols};
    act_bytes_ += static_cast<uint64_t>(t.elements()) * dev_bytes();
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
  static constexpr int kGo = 0, kL2M = 1, kM2L = 2, kM2V = 3, kL2V = 4,
                       kV2S = 5;  ///< semaphore ids (see the constructor)
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
    i.set(f::load::desc, desc(l.region, dev_, l.offset, cols, rows, row_elems));
    i.set(f::load::off, static_cast<uint32_t>(base_elems + row0 * row_elems + col0));
    return i;
  }

  /// Descriptor of a rows x cols box with a row stride of `stride_elems` elements (0: broadcast row).
  uint32_t desc(uint8_t region, isa::TensorType dt, uint64_t base, uint32_t cols, uint32_t rows, int64_t stride_elems) {
    return desc_nd(region, dt, base, {cols, rows}, {stride_elems});
  }

  /// Descriptor of a box (innermost first) with element strides for dimensions 1.. (deduplicated).
  uint32_t desc_nd(uint8_t region, isa::TensorType dt, uint64_t base, const std::vector<uint32_t>& box,
                   const std::vector<int64_t>& stride_elems) {
    const unsigned es = isa::tensor_type_bytes(dt);
    const auto key = std::make_tuple(region, static_cast<int>(dt), base, box, stride_elems);
    auto it = descs_.find(key);
    if (it != descs_.end()) return it->second;
    isa::TensorDesc d;
    d.name = "d" + std::to_string(p_.descs.size());
    d.region = region;
    d.dtype = dt;
    d.rank = static_cast<uint8_t>(box.size());
    d.offset = base;
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

  uint32_t clamp_param(float lo, float hi) {
    isa::Param c;
    c.name = "clamp" + std::to_string(p_.params.size());
    c.bytes[0] = isa::params::clamp::kKind;
    std::memcpy(&c.bytes[isa::params::clamp::fmin], &lo, 4);
    std::memcpy(&c.bytes[isa::params::clamp::fmax], &hi, 4);
    p_.params.push_back(c);
    return static_cast<uint32_t>(p_.params.size() - 1);
  }

  // ------------------------------------------------------------------ operators
  void lower(const Node& n) {
    if (n.op == "Gemm" || n.op == "MatMul") return gemm(n);
    if (n.op == "Relu") return unary(n, clamp_param(0, INFINITY));
    if (n.op == "Clip") {
      float lo = -INFINITY, hi = INFINITY;
      if (n.inputs.size() > 1 && !n.inputs[1].empty()) lo = static_cast<float>(const_scalar(n, 1));
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) hi = static_cast<float>(const_scalar(n, 2));
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
      lb = {weights_region_, put_device(w), K, N};
    } else {
      lb = input(n, 1);
      b_transposed = trans_b;
      scale = alpha;
      if (alpha == 0.0f) throw CompileError(where(n) + ": alpha = 0 with a computed B is not supported");
    }
    // C: constant (fp32 into the accumulator) or computed (device type, converted by the VPU).
    enum class Bias { None, ConstRow, ConstFull, DynRow, DynFull } bias = Bias::None;
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
    const bool dyn_bias = bias == Bias::DynRow || bias == Bias::DynFull;
    const Location ly = output(n);
    // Tiles: as large as the scratchpad (A, B, output, computed C and its row) and the accumulator allow.
    const unsigned es = dev_bytes();
    int64_t tn = std::min<int64_t>(N, std::max<int64_t>(t_.mxu_cols * 4, 64)), tk = std::min<int64_t>(K, 1024),
            tm = std::min<int64_t>(M, 1024);
    tn = std::min<int64_t>(tn, 4095), tk = std::min<int64_t>(tk, 4095), tm = std::min<int64_t>(tm, 4095);
    auto a_lines = [&] { return trans_a ? lines(tk, tm, es) : lines(tm, tk, es); };
    auto b_lines = [&] { return b_transposed ? lines(tn, tk, es) : lines(tk, tn, es); };
    auto c_lines = [&] { return dyn_bias ? lines(tm, tn, es) + lines(1, tn, es) : 0u; };
    auto spad_ok = [&] {
      // Two A and two B buffers (double buffering), the output tile, a computed C and its row.
      return uint64_t{2 * (a_lines() + b_lines()) + lines(tm, tn, es) + c_lines()} * t_.line_bytes <= t_.spad_bytes;
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
    const uint32_t y_line = b_buf[1] + b_lines(), c_line = y_line + lines(tm, tn, es),
                   r_line = c_line + lines(tm, tn, es);
    const int64_t steps = (K + tk - 1) / tk;
    for (int64_t m0 = 0; m0 < M; m0 += tm)
      for (int64_t n0 = 0; n0 < N; n0 += tn) {
        const auto mm = static_cast<uint32_t>(std::min(tm, M - m0)), nn = static_cast<uint32_t>(std::min(tn, N - n0));
        bool first = true;
        if (bias == Bias::ConstRow || bias == Bias::ConstFull) {
          Instruction l = make(Opcode::Load);
          l.set(f::load::dst_acc, 1);
          l.set(f::load::dst, 0);
          l.set(f::load::desc,
                desc(weights_region_, isa::TensorType::FP32, bias_off, nn, mm, bias == Bias::ConstFull ? N : 0));
          l.set(f::load::off, static_cast<uint32_t>(bias == Bias::ConstFull ? m0 * N + n0 : n0));
          emit(l, kGo, 1, kL2M);
          first = false;
        } else if (dyn_bias) {
          // C (device type) and the beta/alpha row into the scratchpad; their product, in fp32, into the accumulator.
          Instruction l = make(Opcode::Load);
          l.set(f::load::dst, c_line);
          l.set(f::load::desc, desc(lc.region, dev_, lc.offset, nn, mm, bias == Bias::DynFull ? N : 0));
          l.set(f::load::off, static_cast<uint32_t>(bias == Bias::DynFull ? m0 * N + n0 : n0));
          emit(l, kGo, 1, kL2V);
          Instruction r = make(Opcode::Load);
          r.set(f::load::dst, r_line);
          r.set(f::load::desc, desc(weights_region_, dev_, ratio_off, nn, 1, N));
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
          mul.set(f::mul::dtype, elem_);
          mul.set(f::mul::q, isa::kNoParam);
          emit(mul, kL2V, 2, kL2M);  // the MXU counts it with its loads
          first = false;
        }
        const bool has_bias = bias != Bias::None;
        // Double buffering: step i uses buffers i % 2, so loading step i+1 overlaps matmul i; the
        // load of step i (i >= 2) waits for matmul i-2, which signals m2l (only matmuls 0..S-3 do,
        // so signals and waits balance within the tile).
        for (int64_t k0 = 0, i = 0; k0 < K; k0 += tk, ++i) {
          const auto kk = static_cast<uint32_t>(std::min(tk, K - k0));
          const uint32_t a_line = a_buf[i % 2], b_line = b_buf[i % 2];
          // A: mm x kk of M x K (or kk x mm of K x M); B: kk x nn of K x N (or nn x kk of N x K).
          emit(trans_a ? tile_load(a_line, la, batch_.a, k0, m0, kk, mm, M)
                       : tile_load(a_line, la, batch_.a, m0, k0, mm, kk, K),
               first ? kGo : (i >= 2 ? kM2L : -1), 1, kL2M);
          first = false;
          emit(b_transposed ? tile_load(b_line, lb, batch_.b, n0, k0, nn, kk, K)
                            : tile_load(b_line, lb, batch_.b, k0, n0, kk, nn, N),
               -1, 1, kL2M);
          Instruction m = make(Opcode::Matmul);
          m.set(f::matmul::c, 0);
          m.set(f::matmul::a, a_line);
          m.set(f::matmul::b, b_line);
          m.set(f::matmul::m, mm);
          m.set(f::matmul::n, nn);
          m.set(f::matmul::k, kk);
          m.set(f::matmul::dtype, elem_);
          m.set(f::matmul::trans_a, trans_a ? 1 : 0);
          m.set(f::matmul::trans_b, b_transposed ? 1 : 0);
          m.set(f::matmul::accumulate, (k0 > 0 || has_bias) ? 1 : 0);
          emit(m, kL2M, (k0 == 0 && has_bias) ? 3 : 2, i == steps - 1 ? kM2V : (i + 2 < steps ? kM2L : -1));
        }
        Instruction rq = make(Opcode::Requant);
        rq.set(f::requant::dst, y_line);
        rq.set(f::requant::src, 0);
        rq.set(f::requant::rows, mm);
        rq.set(f::requant::cols, nn);
        rq.set(f::requant::dtype, elem_);
        rq.set(f::requant::q, to_device_param(scale));
        emit(rq, kM2V, 1, kV2S);
        Instruction st = make(Opcode::Store);
        st.set(f::store::src, y_line);
        st.set(f::store::desc, desc(ly.region, dev_, ly.offset, nn, mm, N));
        st.set(f::store::off, static_cast<uint32_t>(batch_.y + m0 * N + n0));
        emit(st, kV2S, 1, kGo);
      }
  }

  /// MatMul with batch dimensions ([..., M, K] x [..., K, N], NumPy broadcasting over the batch):
  /// one 2-D MatMul per output batch, addressed by element offsets into the same tensors.
  void batched_matmul(const Node& n) {
    const Tensor& a = g_.tensor(n.inputs.at(0));
    const Tensor& b = g_.tensor(n.inputs.at(1));
    const Tensor& y = g_.tensor(n.outputs.at(0));
    if (a.shape.size() < 2) throw CompileError(where(n) + ": a batched MatMul needs A of rank >= 2");
    const int64_t M = a.shape[a.shape.size() - 2], K = a.shape.back(), N = b.shape.back();
    const size_t rank = y.shape.size();
    const std::vector<int64_t> ybatch(y.shape.begin(), y.shape.end() - 2);
    auto pad = [&](const std::vector<int64_t>& s) {  // batch dims right-aligned to the output's
      std::vector<int64_t> bdims(s.begin(), s.end() - 2);
      bdims.insert(bdims.begin(), ybatch.size() - bdims.size(), 1);
      return bdims;
    };
    const auto abatch = pad(a.shape), bbatch = pad(b.shape);
    int64_t batches = 1;
    for (int64_t d : ybatch) batches *= d;
    if (rank < 3) throw CompileError(where(n) + ": unexpected output rank");
    // Each batch as a 2-D MatMul on views of the same storage.
    input(n, 0);
    input(n, 1);
    output(n);
    for (int64_t bi = 0; bi < batches; ++bi) {
      int64_t rem = bi, ia = 0, ib = 0, sa = 1, sb = 1;
      for (size_t d = ybatch.size(); d-- > 0;) {
        const int64_t idx = rem % ybatch[d];
        rem /= ybatch[d];
        ia += (abatch[d] == 1 ? 0 : idx) * sa;
        ib += (bbatch[d] == 1 ? 0 : idx) * sb;
        sa *= abatch[d];
        sb *= bbatch[d];
      }
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
           desc_nd(lx.region, dev_, lx.offset,
                   {cc, static_cast<uint32_t>(t.ow_hi - t.ow_lo + 1), static_cast<uint32_t>(t.oh_hi - t.oh_lo + 1)},
                   {win.sw * C, win.sh * W * C}));
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
    const Tensor& x = g_.tensor(n.inputs.at(0));
    const Tensor& w = g_.tensor(n.inputs.at(1));
    const Tensor& y = g_.tensor(n.outputs.at(0));
    if (!is_spatial(x) || !is_spatial(y) || w.shape.size() != 4)
      throw CompileError(where(n) + ": only 2-D convolution (4-D X and W) is supported");
    if (!w.is_const) throw CompileError(where(n) + ": the weights must be constant");
    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const int64_t Co = y.shape[1], OH = y.shape[2], OW = y.shape[3], KH = w.shape[2], KW = w.shape[3];
    // Groups: group g maps input channels [g*Cg, (g+1)*Cg) to output channels [g*Cog, (g+1)*Cog);
    // depthwise is G = C. Each group is an ordinary convolution on channel slices, addressed by
    // element offsets (so depthwise runs as k = 1 matmuls per tap: correct, not yet fast).
    const int64_t G = n.attr_i("group", 1);
    if (G < 1 || C % G || Co % G)
      throw CompileError(where(n) + ": group " + std::to_string(G) + " does not divide the channels");
    const int64_t Cg = C / G, Cog = Co / G;
    if (w.shape[0] != Co || w.shape[1] != Cg)
      throw CompileError(where(n) + ": weights " + shape_text(w.shape) + " do not match the input and output channels");
    const Window win = window(n, H, W, OH, OW, KH, KW);
    if (G == C && Co == C) return depthwise(n, win);
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
    bool has_bias = false;
    uint64_t bias_off = 0;
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const Tensor& b = g_.tensor(n.inputs[2]);
      if (!b.is_const || b.elements() != Co)
        throw CompileError(where(n) + ": the bias must be a constant of " + std::to_string(Co) + " values");
      bias_off = put_fp32(std::vector<float>(b.values.begin(), b.values.end()));
      has_bias = true;
    }
    const Location lx = input(n, 0);
    const Location ly = output(n);
    if (OW > 4095) throw CompileError(where(n) + ": output width " + std::to_string(OW) + " exceeds 4095");
    const unsigned es = dev_bytes();
    int64_t tn = std::min<int64_t>(Cog, std::max<int64_t>(t_.mxu_cols * 4, 64)), tk = std::min<int64_t>(Cg, 512);
    int64_t toh = std::max<int64_t>(1, std::min<int64_t>(OH, 4095 / OW));
    auto fits = [&] {
      const int64_t P = toh * OW;
      return uint64_t{lines(P, tn, 4)} * t_.line_bytes <= t_.acc_bytes &&
             uint64_t{2 * (lines(P, tk, es) + lines(tk, tn, es)) + lines(P, tn, es)} * t_.line_bytes <= t_.spad_bytes;
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
    for (int64_t b = 0; b < N; ++b)
      for (int64_t g = 0; g < G; ++g)
        for (int64_t oh0 = 0; oh0 < OH; oh0 += toh)
          for (int64_t n0 = 0; n0 < Cog; n0 += tn) {
            const int64_t th = std::min(toh, OH - oh0), P = th * OW;
            const auto nn = static_cast<uint32_t>(std::min(tn, Cog - n0));
            // Double-buffered A (window) and B (tap weights), as in gemm(): step i uses buffers i % 2.
            const uint32_t a_buf[2] = {0, lines(P, tk, es)},
                           b_buf[2] = {2 * lines(P, tk, es), 2 * lines(P, tk, es) + lines(tk, tn, es)};
            const uint32_t y_line = b_buf[1] + lines(tk, tn, es);
            // The taps that touch the image for this band, each in channel chunks.
            struct Step {
              Tap tap;
              int64_t c0, ck;
            };
            std::vector<Step> steps;
            for (const Tap& t : taps_for_band(win, KH, KW, H, W, OW, oh0, th))
              for (int64_t c0 = 0; c0 < Cg; c0 += tk) steps.push_back({t, c0, std::min(tk, Cg - c0)});
            bool first = true;
            if (has_bias) {
              Instruction l = make(Opcode::Load);
              l.set(f::load::dst_acc, 1);
              l.set(f::load::desc,
                    desc(weights_region_, isa::TensorType::FP32, bias_off, nn, static_cast<uint32_t>(P), 0));
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
              lw.set(f::load::desc, desc(weights_region_, dev_, taps_off, nn, static_cast<uint32_t>(st.ck), Cog));
              lw.set(f::load::off,
                     static_cast<uint32_t>((((g * KH + st.tap.kh) * KW + st.tap.kw) * Cg + st.c0) * Cog + n0));
              emit(lw, -1, 1, kL2M);
              Instruction m = make(Opcode::Matmul);
              m.set(f::matmul::a, a_line);
              m.set(f::matmul::b, b_line);
              m.set(f::matmul::m, static_cast<uint32_t>(P));
              m.set(f::matmul::n, nn);
              m.set(f::matmul::k, static_cast<uint32_t>(st.ck));
              m.set(f::matmul::dtype, elem_);
              m.set(f::matmul::accumulate, (i > 0 || has_bias) ? 1 : 0);
              emit(m, kL2M, (i == 0 && has_bias) ? 3 : 2,
                   i + 1 == steps.size() ? kM2V : (i + 2 < steps.size() ? kM2L : -1));
            }
            Instruction rq = make(Opcode::Requant);
            rq.set(f::requant::dst, y_line);
            rq.set(f::requant::rows, static_cast<uint32_t>(P));
            rq.set(f::requant::cols, nn);
            rq.set(f::requant::dtype, elem_);
            rq.set(f::requant::q, to_device_param(1.0f));
            emit(rq, kM2V, 1, kV2S);
            Instruction sto = make(Opcode::Store);
            sto.set(f::store::src, y_line);
            sto.set(f::store::desc, desc(ly.region, dev_, ly.offset, nn, static_cast<uint32_t>(P), Co));
            sto.set(f::store::off, static_cast<uint32_t>(((b * OH + oh0) * OW) * Co + g * Cog + n0));
            emit(sto, kV2S, 1, kGo);
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
    const unsigned es = dev_bytes();
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
    if (n.attr_i("ceil_mode", 0)) throw CompileError(where(n) + ": ceil_mode=1 is not supported");
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
    const unsigned es = dev_bytes();
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
          l.set(f::load::desc, desc_nd(lx.region, dev_, lx.offset,
                                       {cc, static_cast<uint32_t>(W), static_cast<uint32_t>(ih)}, {C, W * C}));
          l.set(f::load::off, static_cast<uint32_t>((b * H + y0) * W * C + c0));
          emit(l, kGo, 1, kL2V);
          Instruction pl = make(Opcode::Pool);
          pl.set(f::pool::dst, dst);
          pl.set(f::pool::src, 0);
          pl.set(f::pool::channels, cc);
          pl.set(f::pool::window, param);
          pl.set(f::pool::avg, avg ? 1 : 0);
          pl.set(f::pool::dtype, elem_);
          emit(pl, kL2V, 1, kV2S);
          Instruction st = make(Opcode::Store);
          st.set(f::store::src, dst);
          st.set(f::store::desc, desc(ly.region, dev_, ly.offset, cc, static_cast<uint32_t>(rows * OW), C));
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
    const Location ls{weights_region_, put_device(sc), 1, C}, lt{weights_region_, put_device(sh), 1, C};
    // Intermediate x * s among the activations.
    act_bytes_ = (act_bytes_ + 63) / 64 * 64;
    const Location tmp{act_region_, act_bytes_, lx.rows, lx.cols};
    act_bytes_ += static_cast<uint64_t>(x.elements()) * dev_bytes();
    const Location out = output(n);
    rows_binary(n, lx, ls, true, tmp, Opcode::Mul);
    rows_binary(n, tmp, lt, true, out, Opcode::Add);
  }

  /// Row tiles of an element-wise operation: `loads` inputs, one VPU instruction, a store.
  template <typename MakeVpu>
  /// `out_stride`/`out_col0`: the output rows are `out_stride` elements apart and this operation
  /// writes columns from `out_col0` (Concat); -1 means the output is exactly out.rows x out.cols.
  void rows_op(const Node& n, const std::vector<Location>& ins, const std::vector<bool>& bcast_row, const Location& out,
               MakeVpu make_vpu, int64_t out_stride = -1, int64_t out_col0 = 0) {
    const int64_t R = out.rows, C = out.cols;
    if (C > 4095) throw CompileError(where(n) + ": last dimension " + std::to_string(C) + " exceeds 4095 elements");
    const unsigned es = dev_bytes();
    const uint32_t row_l = lines(1, static_cast<uint64_t>(C), es);
    int64_t tr = std::min<int64_t>(R, 4095);
    while (uint64_t{row_l} * tr * (ins.size() + 1) * t_.line_bytes > t_.spad_bytes && tr > 1) tr = (tr + 1) / 2;
    for (int64_t r0 = 0; r0 < R; r0 += tr) {
      const auto rr = static_cast<uint32_t>(std::min(tr, R - r0));
      std::vector<uint32_t> src_lines;
      for (size_t i = 0; i < ins.size(); ++i) {
        const uint32_t line = static_cast<uint32_t>(i) * row_l * static_cast<uint32_t>(tr);
        src_lines.push_back(line);
        Instruction l = make(Opcode::Load);
        l.set(f::load::dst, line);
        if (bcast_row[i]) {
          l.set(f::load::desc, desc(ins[i].region, dev_, ins[i].offset, static_cast<uint32_t>(C), 1, C));
        } else {
          l.set(f::load::desc, desc(ins[i].region, dev_, ins[i].offset, static_cast<uint32_t>(C), rr, C));
          l.set(f::load::off, static_cast<uint32_t>(r0 * C));
        }
        emit(l, i == 0 ? kGo : -1, 1, kL2V);
      }
      const uint32_t dst = static_cast<uint32_t>(ins.size()) * row_l * static_cast<uint32_t>(tr);
      Instruction v = make_vpu(dst, src_lines, rr, static_cast<uint32_t>(C));
      emit(v, kL2V, static_cast<uint32_t>(ins.size()), kV2S);
      Instruction st = make(Opcode::Store);
      st.set(f::store::src, dst);
      const int64_t ostride = out_stride < 0 ? C : out_stride;
      st.set(f::store::desc, desc(out.region, dev_, out.offset, static_cast<uint32_t>(C), rr, ostride));
      st.set(f::store::off, static_cast<uint32_t>(r0 * ostride + out_col0));
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
      const Location view{ly.region, ly.offset, outer, inner};
      rows_op(
          n, {li}, {false}, view,
          [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
            Instruction c = make(Opcode::Copy);
            c.set(f::copy::dst, dst);
            c.set(f::copy::src, src[0]);
            c.set(f::copy::rows, rows);
            c.set(f::copy::cols, cols);
            c.set(f::copy::dtype, elem_);
            return c;
          },
          total, col0);
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
      i.set(f::clamp::dtype, elem_);
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
        lb = {weights_region_, put_device(b.values), 1, C};
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
              i.set(f::add::dtype, elem_);
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
  isa::TensorType dev_;                          ///< device element type
  uint32_t elem_ = 2;                            ///< ISA dtype enum value of dev_
  isa::Program p_;                               ///< being built
  std::map<std::string, Location> loc_;          ///< where each tensor lives
  uint8_t weights_region_ = 0, act_region_ = 0;  ///< region ids
  std::vector<uint8_t> weights_;                 ///< contents of the weights region
  uint64_t act_bytes_ = 0;                       ///< activation space used
  std::map<std::tuple<uint8_t, int, uint64_t, std::vector<uint32_t>, std::vector<int64_t>>, uint32_t>
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
