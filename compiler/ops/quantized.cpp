// Quantized operators: QuantizeLinear and DequantizeLinear (per tensor or per axis),
// QLinearMatMul and MatMulInteger (on the shared tiled matmul), QLinearConv and ConvInteger (on
// the shared tiled convolution), with int8 weights minus their zero points and exact i32 biases.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

/// A quantization parameter (scale or zero point): a constant scalar or one value per channel;
/// `def` when the optional input is absent.
std::vector<double> qparam(Lowering& L, const Node& n, size_t i, double def) {
  if (i >= n.inputs.size() || n.inputs[i].empty()) return {def};
  const Tensor& t = L.g_.tensor(n.inputs[i]);
  if (!t.is_const)
    throw CompileError(where(n) + ": '" + t.name +
                       "' must be a constant (quantization parameters are compiled into the program)");
  if (t.values.empty()) throw CompileError(where(n) + ": '" + t.name + "' is empty");
  return t.values;
}
double at(const std::vector<double>& v, int64_t i) {
  return v.size() == 1 ? v[0] : v[static_cast<size_t>(i)];
}
bool uniform(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [&](double d) { return d == v[0]; });
}
void check_count(const Node& n, const std::vector<double>& v, int64_t want, const char* what) {
  if (v.size() != 1 && static_cast<int64_t>(v.size()) != want)
    throw CompileError(where(n) + ": " + what + " has " + std::to_string(v.size()) + " values; expected 1 or " +
                       std::to_string(want));
}
void check_int8(const Node& n, const Tensor& t) {
  if (t.dtype != DType::I8 && t.dtype != DType::U8)
    throw CompileError(where(n) + ": '" + t.name + "' is " + dtype_name(t.dtype) + "; expected int8 or uint8");
}

/// An fp32-mode requant entry: y = sat(nearbyint(x * scale) + zp) in the output type.
uint32_t qrequant_param(Lowering& L, float scale, int32_t zp) {
  namespace q = isa::params::requant;
  isa::Param p;
  p.bytes[0] = q::kKind;
  p.bytes[q::mode] = q::mode_fp32;
  std::memcpy(&p.bytes[q::multiplier], &scale, 4);
  const int32_t lo = INT32_MIN, hi = INT32_MAX;  // the output type's saturation does the clamping
  std::memcpy(&p.bytes[q::zp], &zp, 4);
  std::memcpy(&p.bytes[q::min], &lo, 4);
  std::memcpy(&p.bytes[q::max], &hi, 4);
  return L.add_param(p, "q");
}
/// The same with one scale per column from a table of {binary32 scale, 0} in the weights; a tile
/// starting at column c0 uses it with col0 = c0 (RequantRef).
uint32_t qrequant_table_param(Lowering& L, uint64_t table_off, int32_t zp, bool zero_bounds) {
  namespace q = isa::params::requant;
  isa::Param p;
  p.bytes[0] = q::kKind;
  p.bytes[q::mode] = q::mode_fp32;
  p.bytes[q::per_channel] = 1;
  p.bytes[q::region] = L.weights_region_;
  const auto table = static_cast<uint32_t>(table_off);
  const int32_t lo = zero_bounds ? 0 : INT32_MIN, hi = zero_bounds ? 0 : INT32_MAX;
  std::memcpy(&p.bytes[q::table], &table, 4);
  std::memcpy(&p.bytes[q::zp], &zp, 4);
  std::memcpy(&p.bytes[q::min], &lo, 4);
  std::memcpy(&p.bytes[q::max], &hi, 4);
  return L.add_param(p, "qc");
}
uint64_t put_scale_table(Lowering& L, const std::vector<float>& scales) {
  std::vector<int32_t> v;
  for (float f : scales) {
    int32_t b;
    std::memcpy(&b, &f, 4);
    v.push_back(b);
    v.push_back(0);
  }
  return L.put_i32(v);
}

/// Integer weights minus their zero points, split into passes that each fit int8: w' = sum of
/// the passes, each |part| <= 127 (w' of uint8 weights spans [-255, 255]: then two passes).
std::vector<std::vector<double>> weight_passes(const std::vector<double>& w) {
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
std::function<RequantRef(int64_t)> qlinear_epilogue(Lowering& L, const Node& n, int64_t channels) {
  const auto sx_v = qparam(L, n, 1, 1), sw = qparam(L, n, 4, 1), sy_v = qparam(L, n, 6, 1), zy_v = qparam(L, n, 7, 0);
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
    const uint32_t id = qrequant_param(L, mult(0), zy);
    return [id](int64_t) { return id; };
  }
  std::vector<float> m;
  for (int64_t c = 0; c < channels; ++c) m.push_back(mult(c));
  if (channels > (int64_t{1} << 20))  // col0 is a 20-bit field
    throw CompileError(where(n) + ": " + std::to_string(channels) + " channels with per-channel scales; at most 2^20");
  const uint32_t id = qrequant_table_param(L, put_scale_table(L, m), zy, false);
  return [id](int64_t c0) { return RequantRef{id, static_cast<uint32_t>(c0)}; };
}

/// QLinearMatMul and MatMulInteger: A (u8/i8, zero point za) times constant B (zero point zb per
/// column) on the MXU. B - zb is compiled in (split into int8 passes when it does not fit);
/// A's zero point becomes the bias -za * colsum(B - zb), so the accumulator holds
/// sum_k (A - za)(B - zb) exactly. QLinearMatMul requantizes; MatMulInteger stores the i32.
void qmatmul(Lowering& L, const Node& n) {
  const bool qlinear = n.op == "QLinearMatMul";
  const size_t ia = 0, ib = qlinear ? 3 : 1;
  const Tensor& a = L.g_.tensor(n.inputs.at(ia));
  const Tensor& b = L.g_.tensor(n.inputs.at(ib));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  check_int8(n, a);
  check_int8(n, b);
  if (!b.is_const)
    throw CompileError(where(n) + ": B must be a constant (weights); a computed B is not supported on the NPU");
  if (a.shape.size() < 2 || b.shape.size() < 2) throw CompileError(where(n) + ": A and B must have rank >= 2");
  const int64_t M = a.shape[a.shape.size() - 2], K = a.shape.back(), N = b.shape.back();
  if (b.shape[b.shape.size() - 2] != K) throw CompileError(where(n) + ": inner dimensions differ");
  const auto za = qparam(L, n, qlinear ? 2 : 2, 0), zb = qparam(L, n, qlinear ? 5 : 3, 0);
  if (za.size() != 1) throw CompileError(where(n) + ": a per-row A zero point is not supported (a scalar is)");
  check_count(n, zb, N, "B's zero point");
  std::function<RequantRef(int64_t)> epilogue;  // none: the i32 accumulator is the output
  if (qlinear) epilogue = qlinear_epilogue(L, n, N);
  // An int32 bias (scale a_scale * b_scale) as a ninth input: npusim's extension, which int8
  // post-training quantization uses for Gemm (ONNX Runtime's QGemm has one too).
  std::vector<int32_t> bias0(static_cast<size_t>(N), 0);
  if (qlinear && n.inputs.size() > 8 && !n.inputs[8].empty()) {
    const Tensor& bt = L.g_.tensor(n.inputs[8]);
    if (!bt.is_const || bt.elements() != N || bt.dtype != DType::I32)
      throw CompileError(where(n) + ": the bias must be a constant int32 vector of " + std::to_string(N) + " values");
    for (int64_t j = 0; j < N; ++j) bias0[j] = static_cast<int32_t>(bt.values[j]);
  }
  const BatchMap bm(a.shape, b.shape, y.shape);  // output batches, NumPy-broadcast
  Location la = L.input(n, ia);
  const Location ly = L.output(n);
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
      const Location lw{L.weights_region_, L.put_typed(all, isa::TensorType::I8), K, N, isa::TensorType::I8};
      slices[jb] = {lw, static_cast<int>(parts.size()), L.put_i32(bias)};
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
    plan.mm_dtype = L.code(la.type, n);
    plan.requant_for = epilogue;
    L.batch_ = {ja * M * K, 0, bi * M * N};
    L.emit_gemm(n, plan);
  }
  L.batch_ = {};
}

/// QLinearConv and ConvInteger on NHWC images: the Conv tiling with int8 weights (W - zw per
/// output channel, split into passes when needed) and an i32 bias per band of output rows,
/// B - zx * sum over the taps that see the image in that band of colsum(W - zw): padded
/// elements hold zx (the load's pad_zp), so each tap that runs contributes (X - zx)(W - zw)
/// exactly, and taps that only see padding (skipped) contribute nothing.
void qconv(Lowering& L, const Node& n) {
  const bool qlinear = n.op == "QLinearConv";
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& w = L.g_.tensor(n.inputs.at(qlinear ? 3 : 1));
  check_int8(n, x);
  check_int8(n, w);
  ConvPlan plan = L.conv_shapes(n, x, w, L.g_.tensor(n.outputs.at(0)));
  const int64_t Co = plan.Co, KH = plan.KH, KW = plan.KW, G = plan.G, Cg = plan.C / G, Cog = Co / G;
  const auto zx = qparam(L, n, 2, 0), zw = qparam(L, n, qlinear ? 5 : 3, 0);
  if (zx.size() != 1) throw CompileError(where(n) + ": x_zero_point must be a scalar");
  check_count(n, zw, Co, "w_zero_point");
  std::function<RequantRef(int64_t)> epilogue;
  std::vector<int32_t> bias0(static_cast<size_t>(Co), 0);
  bool has_b = false;
  if (qlinear) {
    epilogue = qlinear_epilogue(L, n, Co);
    if (n.inputs.size() > 8 && !n.inputs[8].empty()) {
      const Tensor& b = L.g_.tensor(n.inputs[8]);
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
  plan.x = L.input(n, 0);
  plan.x.zp = static_cast<int32_t>(zx[0]);
  plan.y = L.output(n);
  plan.w = {L.weights_region_, L.put_typed(all, isa::TensorType::I8), 0, 0, isa::TensorType::I8};
  plan.passes = static_cast<int>(parts.size());
  plan.mm_dtype = L.code(plan.x.type, n);
  plan.bias_type = isa::TensorType::I32;
  const int64_t za = static_cast<int64_t>(zx[0]);
  const int64_t const_bias = (za == 0 && has_b) ? static_cast<int64_t>(L.put_i32(bias0)) : -1;
  auto cache = std::make_shared<std::map<std::vector<int64_t>, int64_t>>();
  plan.bias_for_band = [&L, za, const_bias, cache, bias0, tapsum, KW, Co](const std::vector<Tap>& band) -> int64_t {
    if (za == 0) return const_bias;
    std::vector<int64_t> key;
    for (const Tap& t : band) key.push_back(t.kh * KW + t.kw);
    auto it = cache->find(key);
    if (it != cache->end()) return it->second;
    std::vector<int32_t> v = bias0;
    for (int64_t t : key)
      for (int64_t c = 0; c < Co; ++c) v[c] -= static_cast<int32_t>(za * tapsum[t * Co + c]);
    const auto off = static_cast<int64_t>(L.put_i32(v));
    cache->emplace(key, off);
    return off;
  };
  plan.requant_for = epilogue;
  L.emit_conv(n, plan);
}

/// The per-element channel structure of a quantization along `axis`: the tensor as
/// outer x channels x inner. `last`: the channels are the device rows' elements (one table).
struct Axis {
  int64_t outer = 1, channels = 1, inner = 1;
  bool last = true;
};
Axis quant_axis(Lowering& L, const Node& n, const Tensor& t, size_t count) {
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
  a.last = L.is_spatial(t) ? axis == 1 : axis == rank - 1;
  for (int64_t d = 0; d < axis; ++d) a.outer *= t.shape[d];
  for (int64_t d = axis + 1; d < rank; ++d) a.inner *= t.shape[d];
  return a;
}

/// QuantizeLinear (float → u8/i8): copy to the accumulator as fp32, then requant with
/// acc_type=fp32: y = sat(nearbyint(x / scale) + zp). DequantizeLinear (u8/i8 → float): x - zp
/// into the accumulator as i32, then requant with acc_type=i32: y = float(x - zp) * scale.
/// Per-axis parameters: one table along the rows' elements, else one pass per channel.
void quantize(Lowering& L, const Node& n) {
  const bool quant = n.op == "QuantizeLinear";
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const auto scale = qparam(L, n, 1, 1), zp = qparam(L, n, 2, 0);
  if (scale.size() != zp.size() && zp.size() != 1)
    throw CompileError(where(n) + ": scale and zero point differ in length");
  const Axis ax = quant_axis(L, n, x, std::max(scale.size(), zp.size()));
  Location lx = L.input(n, 0);
  const Location ly = L.output(n);
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
        first.set(f::copy::dtype, L.code(xt, n));
      } else {
        first.set(f::sub::dst_acc, 1);
        first.set(f::sub::src0, src[0]);
        first.set(f::sub::src1, src[1]);
        first.set(f::sub::bcast, 1);
        first.set(f::sub::rows, rows);
        first.set(f::sub::cols, cols);
        first.set(f::sub::dtype, L.code(xt, n));
        first.set(f::sub::q, isa::kNoParam);
      }
      Instruction rq = make(Opcode::Requant);
      rq.set(f::requant::dst, dst);
      rq.set(f::requant::rows, rows);
      rq.set(f::requant::cols, cols);
      rq.set(f::requant::dtype, L.code(yt, n));
      rq.set(f::requant::acc_type, acc_type);
      rq.set(f::requant::q, q);
      return std::vector<Instruction>{first, rq};
    };
  };
  // The requant entry for channel c (scalar) or the whole row (table), and a row of zero points.
  auto entry = [&](int64_t c) {
    return quant ? qrequant_param(L, static_cast<float>(at(scale, c)), static_cast<int32_t>(at(zp, c)))
                 : L.to_device_param(static_cast<float>(at(scale, c)));
  };
  auto zp_row = [&](const std::vector<double>& v) {
    return Location{L.weights_region_, L.put_typed(v, xt), 1, static_cast<int64_t>(v.size()), xt};
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
      q = qrequant_table_param(L, put_scale_table(L, s), quant ? static_cast<int32_t>(at(zp, 0)) : 0, !quant);
      if (quant && !uniform(zp))
        throw CompileError(where(n) + ": per-channel zero points along the last axis are not supported");
    }
    if (quant)
      L.rows_op(n, {lx}, {false}, ly, sequence(q), walk);
    else
      L.rows_op(n, {lx, zp_row(zrow)}, {false, true}, ly, sequence(q), walk);
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
      L.rows_op(n, {vin}, {false}, vout, sequence(q), walk);
    else
      L.rows_op(n, {vin, zp_row(std::vector<double>(static_cast<size_t>(ax.inner), at(zp, c)))}, {false, true}, vout,
                sequence(q), walk);
  }
}

bool lower_qmatmul(Lowering& L, const Node& n, const OpInfo&) {
  qmatmul(L, n);
  return true;
}

bool lower_qconv(Lowering& L, const Node& n, const OpInfo&) {
  qconv(L, n);
  return true;
}

bool lower_quantize(Lowering& L, const Node& n, const OpInfo&) {
  quantize(L, n);
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_quantized_ops(OpRegistry& r) {
  r.add("QuantizeLinear", lowering::lower_quantize, kQuantized | kElementwise);
  r.add("DequantizeLinear", lowering::lower_quantize, kQuantized | kElementwise);
  r.add("QLinearMatMul", lowering::lower_qmatmul, kQuantized);
  r.add("QLinearConv", lowering::lower_qconv, kQuantized | kImage);
  r.add("MatMulInteger", lowering::lower_qmatmul, kQuantized);
  r.add("ConvInteger", lowering::lower_qconv, kQuantized | kImage);
}

}  // namespace npusim::compiler
