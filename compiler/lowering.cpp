// The lowering's storage, instructions, parameters and dispatch (see lowering.h); the operators
// are in compiler/ops/, the tiled emitters in tiling.cpp.
#include "compiler/lowering.h"

#include <Eigen/Core>
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <set>

#include "compiler/op_registry.h"
#include "isa/deadlock.h"
#include "isa/diag.h"

namespace npusim::compiler::lowering {

std::string where(const Node& n) {
  return "node '" + n.name + "' (" + n.op + ")";
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

Lowering::Lowering(const Graph& g, const TargetInfo& t, const CompileOptions& o)
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

CompiledModel Lowering::run() {
  CompiledModel out;
  mark_spatial();
  // Regions: one per graph input and output, weights (const) and activations (scratch).
  for (const auto& name : g_.inputs) {
    const Tensor& t = g_.tensor(name);
    out.inputs.push_back({name, io_region(t, isa::RegionRole::Input), t.dtype, is_spatial(t)});
  }
  std::set<std::string> produced;  // what the nodes compute
  for (const Node& n : g_.nodes) produced.insert(n.outputs.begin(), n.outputs.end());
  for (const auto& name : g_.outputs) {
    const Tensor& t = g_.tensor(name);
    if (loc_.count(name)) throw CompileError("graph output '" + name + "' is also a graph input: nothing to compute");
    // Written as zeros before: a constant or an unproduced output has nothing for the NPU to do.
    if (t.is_const)
      throw CompileError("graph output '" + name + "' is a constant (an initializer): nothing to compute");
    if (!produced.count(name)) throw CompileError("graph output '" + name + "' is produced by no node");
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
    lowering_where_ = where(n);
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
        throw CompileError("the model needs " + name + " matrix multiplies, which the target's MXU lacks (mxu.dtypes)" +
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

// ------------------------------------------------------------------ storage
/// The device type of a tensor: float tensors in the compiled precision, integers as they are.
isa::TensorType Lowering::type_of(const Tensor& t, const std::string& role) const {
  switch (t.dtype) {
    case DType::F32:
    case DType::F16: return dev_;
    case DType::I8: return isa::TensorType::I8;
    case DType::U8: return isa::TensorType::U8;
    case DType::I32:
    case DType::I64: return isa::TensorType::I32;  // int64 narrowed (the host checks inputs, input() constants)
    case DType::Bool: return isa::TensorType::U8;  // 0 or 1
    default:
      throw CompileError(role + " '" + t.name + "' is " + dtype_name(t.dtype) + "; the NPU holds float32/float16 (as " +
                         precision_ + "), int8, uint8, int32, int64 (as int32) and bool (as uint8) tensors");
  }
}
/// The ISA's 2-bit element-type code (i8, u8, fp16, bf16) of VPU and MXU instructions.
uint32_t Lowering::code(isa::TensorType t, const Node& n) const {
  switch (t) {
    case isa::TensorType::I8: return 0;
    case isa::TensorType::U8: return 1;
    case isa::TensorType::FP16: return 2;
    case isa::TensorType::BF16: return 3;
    default: throw CompileError(where(n) + ": an int32 tensor cannot be an operand of this operator on the NPU");
  }
}

/// Marks the images (see is_spatial): the inputs and outputs of kImage operators, then everything
/// connected to them through kElementwise ones and, between rank-4 tensors, kAnyLayout ones
/// (Concat, Pad, Slice, Split: they work on NHWC directly, so a chain of them needs no layout
/// change). A consumer needing the other layout changes it itself (compiler/ops/layout.h).
void Lowering::mark_spatial() {
  const OpRegistry& ops = OpRegistry::get();
  const auto is = [&](const Node& n, OpFlag flag) {
    const OpInfo* op = ops.find(n.op);
    return op && op->has(flag);
  };
  for (const Node& n : g_.nodes)
    if (is(n, kImage)) {
      if (!n.inputs.empty()) spatial_.insert(n.inputs[0]);
      if (!n.outputs.empty()) spatial_.insert(n.outputs[0]);
    }
  for (bool changed = true; changed;) {  // propagate through element-wise operators, both ways
    changed = false;
    for (const Node& n : g_.nodes) {
      if (!is(n, kElementwise) || n.outputs.empty()) continue;
      const auto rank4 = [&](const std::string& t) { return !t.empty() && g_.tensor(t).shape.size() == 4; };
      bool any = spatial_.count(n.outputs[0]) > 0;
      for (const auto& i : n.inputs) any = any || (rank4(i) && spatial_.count(i));
      if (!any) continue;
      for (const auto& t : std::vector<std::string>{n.outputs[0], n.inputs.empty() ? "" : n.inputs[0]})
        if (rank4(t) && spatial_.insert(t).second) changed = true;
      if (n.inputs.size() > 1 && rank4(n.inputs[1]) && g_.tensor(n.inputs[1]).shape == g_.tensor(n.outputs[0]).shape &&
          spatial_.insert(n.inputs[1]).second)
        changed = true;
    }
    for (const Node& n : g_.nodes) {  // layout-free operators: every rank-4 data tensor, both ways
      if (!is(n, kAnyLayout)) continue;
      std::vector<std::string> ts(n.outputs.begin(), n.outputs.end());
      const size_t data = n.op == "Concat" ? n.inputs.size() : std::min<size_t>(1, n.inputs.size());
      ts.insert(ts.end(), n.inputs.begin(), n.inputs.begin() + static_cast<std::ptrdiff_t>(data));
      ts.erase(std::remove(ts.begin(), ts.end(), std::string()), ts.end());
      const auto rank4 = [&](const std::string& t) { return !t.empty() && g_.tensor(t).shape.size() == 4; };
      if (!std::all_of(ts.begin(), ts.end(), rank4)) continue;
      if (std::none_of(ts.begin(), ts.end(), [&](const std::string& t) { return spatial_.count(t) > 0; })) continue;
      for (const auto& t : ts)
        if (spatial_.insert(t).second) changed = true;
    }
  }
}

/// The device view of a tensor: rows x cols (NHWC: N*H*W pixels x C channels).
std::pair<int64_t, int64_t> Lowering::view(const Tensor& t) const {
  if (is_spatial(t)) return {t.shape[0] * t.shape[2] * t.shape[3], t.shape[1]};
  const int64_t cols = t.shape.empty() ? 1 : t.shape.back();
  return {cols ? t.elements() / cols : 0, cols};
}

/// Constant values in device order (NCHW → NHWC for rank 4).
std::vector<double> Lowering::device_order(const Tensor& t) const {
  if (!is_spatial(t)) return t.values;
  const int64_t N = t.shape[0], C = t.shape[1], H = t.shape[2], W = t.shape[3];
  std::vector<double> v(t.values.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) v[((n * H + y) * W + x) * C + c] = t.values[((n * C + c) * H + y) * W + x];
  return v;
}

std::string Lowering::io_region(const Tensor& t, isa::RegionRole role) {
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
    io.dims = {static_cast<uint32_t>(t.shape[0]), static_cast<uint32_t>(t.shape[2]), static_cast<uint32_t>(t.shape[3]),
               static_cast<uint32_t>(t.shape[1])};
  }
  if (t.shape.empty()) io.dims[0] = 1;
  // What the user's side holds, for hosts that run the compiled program (npub-format.md, IO):
  // floats as float32, int64 and bool as themselves, image tensors NCHW.
  io.host_type = t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16 ? isa::HostType::F32
                 : t.dtype == DType::I64                                                  ? isa::HostType::I64
                 : t.dtype == DType::Bool                                                 ? isa::HostType::Bool
                                                                                          : isa::HostType::Device;
  io.host_nchw = is_spatial(t);
  p_.io.push_back(io);
  loc_[t.name] = {id, 0, rows, cols, type};
  return name;
}

/// Location of a tensor an operator reads: an activation already placed, or a constant
/// placed now in the weights region (converted to the device type).
Location Lowering::input(const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i].empty())
    throw CompileError(where(n) + ": input " + std::to_string(i) + " is missing");
  const Tensor& t = g_.tensor(n.inputs[i]);
  auto it = loc_.find(t.name);
  if (it != loc_.end()) return it->second;
  if (!t.is_const) throw CompileError(where(n) + ": input '" + t.name + "' is produced by nothing before it");
  const isa::TensorType type = type_of(t, where(n) + ": constant");
  if (t.dtype == DType::I64)
    for (size_t k = 0; k < t.values.size(); ++k)
      if (t.values[k] < INT32_MIN || t.values[k] > INT32_MAX)
        throw CompileError(where(n) + ": element " + std::to_string(k) + " of int64 constant '" + t.name + "' is " +
                           std::to_string(static_cast<int64_t>(t.values[k])) +
                           ", outside the int32 range the NPU holds int64 tensors in");
  const auto [rows, cols] = view(t);
  Location l{weights_region_, put_typed(device_order(t), type), rows, cols, type};
  loc_[t.name] = l;
  return l;
}

/// Output location: the graph output's region, or fresh space among the activations.
Location Lowering::output(const Node& n, size_t i) {
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

Location Lowering::scratch(isa::TensorType type, int64_t elements) {
  act_bytes_ = (act_bytes_ + 63) / 64 * 64;
  const Location l{act_region_, act_bytes_, 0, 0, type};
  act_bytes_ += static_cast<uint64_t>(elements) * bytes_of(type);
  return l;
}

uint64_t Lowering::align64(std::vector<uint8_t>& v) {
  v.resize((v.size() + 63) / 64 * 64, 0);
  return v.size();
}

/// Appends values in the device type (round to nearest even) to the weights; returns the offset.
uint64_t Lowering::put_device(const std::vector<double>& values) {
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
uint64_t Lowering::put_typed(const std::vector<double>& values, isa::TensorType type) {
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
uint64_t Lowering::put_i32(const std::vector<int32_t>& values) {
  const uint64_t off = align64(weights_);
  for (int32_t v : values)
    for (int k = 0; k < 4; ++k) weights_.push_back(static_cast<uint8_t>(static_cast<uint32_t>(v) >> (8 * k)));
  return off;
}
/// Appends fp32 values (accumulator-side biases); returns the offset.
uint64_t Lowering::put_fp32(const std::vector<float>& values) {
  const uint64_t off = align64(weights_);
  for (float fl : values) {
    uint32_t b;
    std::memcpy(&b, &fl, 4);
    for (int k = 0; k < 4; ++k) weights_.push_back(static_cast<uint8_t>(b >> (8 * k)));
  }
  return off;
}
// ------------------------------------------------------------------ instructions

std::string Lowering::unique_marker(const std::string& name) {
  std::string s = sanitize(name);
  if (!marker_names_.insert(s).second) {
    int k = 2;
    while (!marker_names_.insert(s + "_" + std::to_string(k)).second) ++k;
    s += "_" + std::to_string(k);
  }
  return s;
}

void Lowering::emit_mark(uint32_t marker, bool end) {
  Instruction i = make(Opcode::Mark);
  i.set(f::mark::edge, end ? f::mark::edge_end : f::mark::edge_begin);
  i.set(f::mark::marker, marker);
  p_.text.push_back(i);
}

void Lowering::emit(Instruction i, int wait_sem, uint32_t wait_n, int sig_sem) {
  if (wait_sem >= 0) {
    i.set(isa::header::wait_en, 1);
    i.set(isa::header::wait_sem, static_cast<uint32_t>(wait_sem));
    i.set(isa::header::wait_cnt, wait_n - 1);
  }
  if (sig_sem >= 0) {
    i.set(isa::header::sig_en, 1);
    i.set(isa::header::sig_sem, static_cast<uint32_t>(sig_sem));
  }
  switch (static_cast<Opcode>(i.opcode())) {
    case Opcode::Load: resolve_desc(i, f::load::desc, f::load::off); break;
    case Opcode::Store: resolve_desc(i, f::store::desc, f::store::off); break;
    case Opcode::Gather: resolve_desc(i, f::gather::desc, f::gather::off); break;
    default: break;
  }
  p_.text.push_back(i);
}

/// A load of the rows x cols tile at (row0, col0) of a row-major matrix with `row_elems` elements
/// per row that starts `base_elems` elements into `l`, into the scratchpad at `dst`.
Instruction Lowering::tile_load(uint32_t dst, const Location& l, int64_t base_elems, int64_t row0, int64_t col0,
                                uint32_t rows, uint32_t cols, int64_t row_elems) {
  Instruction i = make(Opcode::Load);
  i.set(f::load::dst, dst);
  i.set(f::load::desc, desc(l.region, l.type, l.offset, cols, rows, row_elems));
  i.set(f::load::off, static_cast<uint32_t>(base_elems + row0 * row_elems + col0));
  return i;
}

/// Descriptor of a rows x cols box with a row stride of `stride_elems` elements (0: broadcast row).
uint32_t Lowering::desc(uint8_t region, isa::TensorType dt, uint64_t base, uint32_t cols, uint32_t rows,
                        int64_t stride_elems) {
  return desc_nd(region, dt, base, {cols, rows}, {stride_elems});
}

/// Descriptor of a box (innermost first) with element strides for dimensions 1..: a pending
/// handle that emit() resolves to a table entry (resolve_desc).
uint32_t Lowering::desc_nd(uint8_t region, isa::TensorType dt, uint64_t base, const std::vector<uint32_t>& box,
                           const std::vector<int64_t>& stride_elems, int32_t zero_point) {
  const unsigned es = isa::tensor_type_bytes(dt);
  isa::TensorDesc d;
  d.region = region;
  d.dtype = dt;
  d.rank = static_cast<uint8_t>(box.size());
  d.offset = base;
  d.zero_point = zero_point;
  for (size_t i = 0; i < box.size(); ++i) d.box[i] = box[i];
  for (size_t i = 0; i < stride_elems.size(); ++i) d.stride[i] = stride_elems[i] * static_cast<int64_t>(es);
  // Handles live from here to the emit() of their instruction (a few calls later), so a ring of
  // 4096 never meets a live one unless 4096 instructions are built before any is emitted.
  const size_t handles = size_t{1} << f::load::desc.width;
  if (pending_descs_.empty()) pending_descs_.resize(handles);
  for (size_t tried = 0; tried < handles; ++tried) {
    const uint32_t h = next_pending_;
    next_pending_ = static_cast<uint32_t>((next_pending_ + 1) % handles);
    if (pending_descs_[h].live) continue;
    pending_descs_[h] = {d, true};
    return h;
  }
  throw CompileError(lowering_where_ + ": more than " + std::to_string(handles) +
                     " DMA instructions are built before any is emitted");
}

/// Replaces the pending handle in a load/store/gather by a table entry keyed without the base.
void Lowering::resolve_desc(Instruction& i, const isa::BitRange& desc_field, const isa::BitRange& off_field) {
  PendingDesc& pd = pending_descs_.at(i.get(desc_field));
  if (!pd.live) throw std::logic_error("descriptor handle " + std::to_string(i.get(desc_field)) + " emitted twice");
  pd.live = false;
  isa::TensorDesc d = pd.d;
  const int64_t es = isa::tensor_type_bytes(d.dtype);
  // Address = d.offset + off * es (arch/functional.cpp walk): moving d.offset / es elements into
  // off keeps every byte address, so timing and results are unchanged.
  const int64_t off = static_cast<int32_t>(i.get(off_field));
  if (d.offset % static_cast<uint64_t>(es) == 0 && d.offset / static_cast<uint64_t>(es) <= uint64_t{INT32_MAX}) {
    const int64_t folded = off + static_cast<int64_t>(d.offset / static_cast<uint64_t>(es));
    if (folded >= INT32_MIN && folded <= INT32_MAX) {
      d.offset = 0;
      i.set(off_field, static_cast<uint32_t>(static_cast<int32_t>(folded)));
    }
  }
  const auto key =
      std::make_tuple(d.region, static_cast<int>(d.dtype), d.rank, d.zero_point, d.offset, d.box, d.stride);
  auto it = descs_.find(key);
  if (it == descs_.end()) {
    if (p_.descs.size() >= isa::spec().max_descriptors)
      throw CompileError(lowering_where_ + ": the program needs more than " +
                         std::to_string(isa::spec().max_descriptors) +
                         " distinct tensor descriptors (box, strides, type and region; the DESC table limit)");
    d.name = "d" + std::to_string(p_.descs.size());
    it = descs_.emplace(key, static_cast<uint32_t>(p_.descs.size())).first;
    p_.descs.push_back(d);
  }
  i.set(desc_field, it->second);
}

/// fp32-mode requant entry converting accumulators to the device type, times `scale`.
uint32_t Lowering::to_device_param(float scale) {
  auto it = to_dev_params_.find(scale);
  if (it != to_dev_params_.end()) return it->second;
  isa::Param q;
  q.bytes[0] = isa::params::requant::kKind;
  q.bytes[isa::params::requant::mode] = isa::params::requant::mode_fp32;
  std::memcpy(&q.bytes[isa::params::requant::multiplier], &scale, 4);
  const uint32_t id = add_param(q, "to_device");
  to_dev_params_.emplace(scale, id);
  return id;
}

/// Clamp bounds for float tiles and, rounded inward, for integer ones.
uint32_t Lowering::clamp_param(float lo, float hi) {
  isa::Param c;
  c.bytes[0] = isa::params::clamp::kKind;
  std::memcpy(&c.bytes[isa::params::clamp::fmin], &lo, 4);
  std::memcpy(&c.bytes[isa::params::clamp::fmax], &hi, 4);
  const auto to_i32 = [](double v) {
    return static_cast<int32_t>(std::min<double>(std::max<double>(v, INT32_MIN), INT32_MAX));
  };
  const int32_t ilo = to_i32(std::ceil(lo)), ihi = to_i32(std::floor(hi));
  std::memcpy(&c.bytes[isa::params::clamp::min], &ilo, 4);
  std::memcpy(&c.bytes[isa::params::clamp::max], &ihi, 4);
  return add_param(c, "clamp");
}

/// Adds a parameter entry named prefix + index, or returns an equal one's index; the PARAM table
/// holds max_params entries (12-bit ids, 0xFFF meaning "none").
uint32_t Lowering::add_param(isa::Param p, const std::string& prefix) {
  for (size_t i = 0; i < p_.params.size(); ++i)
    if (p_.params[i].bytes == p.bytes) return static_cast<uint32_t>(i);
  if (p_.params.size() >= isa::spec().max_params)
    throw CompileError(lowering_where_ + ": the program needs more than " + std::to_string(isa::spec().max_params) +
                       " distinct parameter entries (requantization, clamp, pool; the PARAM table limit)");
  p.name = prefix + std::to_string(p_.params.size());
  p_.params.push_back(p);
  return static_cast<uint32_t>(p_.params.size() - 1);
}

// ------------------------------------------------------------------ dispatch
void Lowering::lower(const Node& n) {
  const OpInfo* op = OpRegistry::get().find(n.op);
  if ((op && op->has(kFloatOnly)) || (!op && has_host_kernel(n.op)))
    for (const auto& name : n.outputs)
      if (!name.empty() && !is_float_type(type_of(g_.tensor(name), where(n) + ": output")))
        throw CompileError(where(n) + ": " + dtype_name(g_.tensor(name).dtype) +
                           " is not supported for this operator (float only; integer models use QLinearConv, "
                           "QLinearMatMul, ConvInteger, MatMulInteger, MaxPool, Relu, Clip, Concat, Reshape)");
  declined_.clear();
  if (op && op->lower(*this, n, *op)) return;  // false: the lowering leaves this node to the host
  if (fallback_ && has_host_kernel(n.op)) return host(n);
  if (op)  // registered, but this node is beyond its lowering
    throw CompileError((declined_.empty() ? where(n) + ": the NPU lowering does not cover this node" : declined_) +
                       (has_host_kernel(n.op) ? (fallback_ ? "" : "; a host kernel exists but --no-fallback is set")
                                              : "; no host kernel either"));
  std::string list;
  for (const auto& k : supported_operators()) list += (list.empty() ? "" : ", ") + k;
  std::string host_list;
  for (const auto& k : host_operators()) host_list += (host_list.empty() ? "" : ", ") + k;
  throw CompileError(where(n) + ": operator not supported on the NPU by this compiler (supported: " + list + ")" +
                     (fallback_               ? "; no host kernel either (host: " + host_list + ")"
                      : has_host_kernel(n.op) ? "; a host kernel exists but --no-fallback is set"
                                              : ""));
}

double Lowering::const_scalar(const Node& n, size_t i) {
  const Tensor& t = g_.tensor(n.inputs[i]);
  if (!t.is_const || t.values.size() != 1)
    throw CompileError(where(n) + ": input '" + t.name + "' must be a constant scalar");
  return t.values[0];
}

/// An operator left to the host: `barrier all` (every earlier instruction has completed),
/// `irq kHostIrqBase + index` (the runner runs the reference kernel when it completes),
/// `barrier ctrl` (nothing later is dispatched before that). Tensors stay row-major.
void Lowering::host(const Node& n) {
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

}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

CompiledModel compile(const Graph& g, const TargetInfo& target, const CompileOptions& opts) {
  return lowering::Lowering(g, target, opts).run();
}

}  // namespace npusim::compiler
