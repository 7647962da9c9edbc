// Normalizations: inference BatchNormalization, LayerNormalization, Softmax and LogSoftmax.
#include <cmath>

#include "compiler/ops/layout.h"

namespace npusim::compiler::lowering {
namespace {

/// Inference BatchNormalization: y = x * s + t per channel, s = scale / sqrt(var + epsilon),
/// t = B - mean * s computed at compile time; two row-broadcast passes (mul, then add) through
/// an intermediate tensor. Channels are the rows' elements: NHWC images or [N, C] tensors.
void batch_norm(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  if (n.outputs.size() > 1) {
    for (size_t i = 1; i < n.outputs.size(); ++i)
      if (!n.outputs[i].empty()) throw CompileError(where(n) + ": training-mode outputs are not supported");
  }
  if (!(L.is_spatial(x) || x.shape.size() == 2))
    throw CompileError(where(n) + ": only [N, C] tensors and images are supported");
  const int64_t C = x.shape[1];
  std::vector<const Tensor*> prm;
  for (size_t i = 1; i <= 4; ++i) {
    const Tensor& t = L.g_.tensor(n.inputs.at(i));
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
  const Location lx = L.input(n, 0);
  const Location ls{L.weights_region_, L.put_device(sc), 1, C, L.dev_},
      lt{L.weights_region_, L.put_device(sh), 1, C, L.dev_};
  // Intermediate x * s among the activations.
  L.act_bytes_ = (L.act_bytes_ + 63) / 64 * 64;
  const Location tmp{L.act_region_, L.act_bytes_, lx.rows, lx.cols, L.dev_};
  L.act_bytes_ += static_cast<uint64_t>(x.elements()) * bytes_of(L.dev_);
  const Location out = L.output(n);
  L.rows_binary(n, lx, ls, true, tmp, Opcode::Mul);
  L.rows_binary(n, tmp, lt, true, out, Opcode::Add);
}

/// acc[dst] = column (rows x 1) x row (1 x cols) in the device type: the k = 1 matmul with which
/// the MXU broadcasts a per-row value (a maximum, a sum, a mean) along its row; it waits for the
/// VPU and hands the result back to it.
void row_broadcast(Lowering& L, uint32_t dst, uint32_t column, uint32_t row, uint32_t rows, uint32_t cols) {
  Instruction m = make(Opcode::Matmul);
  m.set(f::matmul::c, dst);
  m.set(f::matmul::a, column);
  m.set(f::matmul::b, row);
  m.set(f::matmul::m, rows);
  m.set(f::matmul::n, cols);
  m.set(f::matmul::k, 1);
  m.set(f::matmul::dtype, L.elem_);
  L.emit(m, kV2M, 1, kM2V);
}

/// A VPU instruction of the unary format (reduce, sfu, copy, clamp).
Instruction vpu_unary(Opcode op, uint32_t dst, bool dst_acc, uint32_t src, bool src_acc, uint32_t rows, uint32_t cols,
                      uint32_t dtype) {
  Instruction i = make(op);
  i.set(f::clamp::dst, dst);
  i.set(f::clamp::dst_acc, dst_acc ? 1 : 0);
  i.set(f::clamp::src, src);
  i.set(f::clamp::src_acc, src_acc ? 1 : 0);
  i.set(f::clamp::rows, rows);
  i.set(f::clamp::cols, cols);
  i.set(f::clamp::dtype, dtype);
  return i;
}

/// A VPU instruction of the binary format (add, sub, mul) without requantization; `bcast`: src1
/// is one row (scratchpad) used for every row.
Instruction vpu_binary(Opcode op, uint32_t dst, bool dst_acc, uint32_t src0, bool src0_acc, uint32_t src1,
                       bool src1_acc, bool bcast, uint32_t rows, uint32_t cols, uint32_t dtype) {
  return lowering::vpu_binary(op, dtype, {dst, dst_acc}, {src0, src0_acc}, {src1, src1_acc}, bcast, rows, cols);
}

/// What layer_norm hands layer_norm_wide: the locations (scale, bias and the constants as rows of
/// C or 1 elements) and the shape.
struct LayerNormRows {
  Location x, y, mean, rstd, g, scale, bias, ones, eps, root;  ///< g = scale sqrt(C) (or sqrt(C))
  int64_t R = 0, C = 0, width = 0;                             ///< rows, elements per row, chunk width
  bool scale_const = true, has_bias = false, want_mean = false, want_rstd = false;
};

/// LayerNormalization of rows longer than 4095 elements, in chunks of `width` (C = chunks x width)
/// and three passes over X per row tile: (1) s = sum over chunks of `reduce sum`, mean = s / C;
/// the broadcast M = mean x ones (one k = 1 matmul, the same for every chunk); (2) q = sum over
/// chunks of sum (X - M)^2; r' = rsqrt(q + C eps); (3) per chunk Y = (X - M) (r' x g'_chunk) (+
/// bias), stored chunk by chunk. Between chunks of passes 1 and 2 the VPU hands the X buffer back
/// to the loads with m2l (no store in between); pass 3 chains through its stores as usual.
void layer_norm_wide(Lowering& L, const Node& n, const LayerNormRows& p) {
  const int64_t R = p.R, C = p.C, W = p.width, chunks = C / W;
  const unsigned es = bytes_of(L.dev_);
  // Scratchpad: X and Y chunks (tr x W), rows ones, g', scale, bias (1 x W), C eps and sqrt(C)
  // (1 x 1), mean, r', rstd (tr x 1). Accumulator: M, D, D^2 or G (tr x W), s/q and a part (tr x 1).
  int64_t tr = std::min<int64_t>(R, 4095);
  auto fits = [&] {
    return uint64_t{2 * L.lines(tr, W, es) + 4 * L.lines(1, W, es) + 2 * L.lines(1, 1, es) + 3 * L.lines(tr, 1, es)} *
                   L.t_.line_bytes <=
               L.t_.spad_bytes &&
           uint64_t{3 * L.lines(tr, W, 4) + 2 * L.lines(tr, 1, 4)} * L.t_.line_bytes <= L.t_.acc_bytes;
  };
  while (!fits() && tr > 1) tr = (tr + 1) / 2;
  if (!fits()) throw CompileError(where(n) + ": a chunk of " + std::to_string(W) + " elements does not fit the SRAMs");
  const uint32_t row = L.lines(1, W, es), one = L.lines(1, 1, es), col = L.lines(tr, 1, es);
  const uint32_t sx = 0, sy = L.lines(tr, W, es), s_ones = 2 * sy, s_g = s_ones + row, s_s = s_g + row, s_b = s_s + row,
                 s_eps = s_b + row, s_root = s_eps + one, s_mean = s_root + one, s_r = s_mean + col, s_rstd = s_r + col;
  const uint32_t a0 = 0, a1 = L.lines(tr, W, 4), a2 = 2 * a1, a3 = 3 * a1, a4 = a3 + L.lines(tr, 1, 4);
  const uint32_t dt = L.elem_, ww = static_cast<uint32_t>(W);
  const uint32_t inv_c = L.to_device_param(static_cast<float>(1.0 / static_cast<double>(C)));
  auto broadcast = [&](uint32_t dst, uint32_t column, uint32_t b_row, uint32_t rows) {  // column x row
    row_broadcast(L, dst, column, b_row, rows, ww);
  };
  auto load = [&](uint32_t dst, const Location& l, int64_t off, uint32_t cols, int wait_sem) {  // a row
    Instruction ld = make(Opcode::Load);
    ld.set(f::load::dst, dst);
    ld.set(f::load::desc, L.desc(l.region, l.type, l.offset, cols, 1, cols));
    ld.set(f::load::off, static_cast<uint32_t>(off));
    L.emit(ld, wait_sem, 1, kL2V);
  };
  auto reduce_sum = [&](uint32_t dst, uint32_t src, bool src_acc, uint32_t rows, int wait_sem, uint32_t wait_n,
                        int sig) {
    Instruction r = vpu_unary(Opcode::Reduce, dst, true, src, src_acc, rows, ww, dt);
    r.set(f::reduce::op, f::reduce::op_sum);
    L.emit(r, wait_sem, wait_n, sig);
  };
  for (int64_t r0 = 0; r0 < R; r0 += tr) {
    const auto rr = static_cast<uint32_t>(std::min(tr, R - r0));
    auto load_x = [&](int64_t j, int wait_sem) {
      L.emit(L.tile_load(sx, p.x, 0, r0, j * W, rr, ww, C), wait_sem, 1, kL2V);
    };
    // Pass 1: s = sum x.
    load_x(0, kGo);
    load(s_ones, p.ones, 0, ww, -1);
    load(s_eps, p.eps, 0, 1, -1);
    uint32_t first_loads = 3;
    if (p.want_rstd) load(s_root, p.root, 0, 1, -1), ++first_loads;
    for (int64_t j = 0; j < chunks; ++j) {
      if (j > 0) load_x(j, kM2L);
      reduce_sum(j == 0 ? a3 : a4, sx, false, rr, kL2V, j == 0 ? first_loads : 1, kM2L);  // X chunk read
      if (j > 0) L.emit(vpu_binary(Opcode::Add, a3, true, a3, true, a4, true, false, rr, 1, dt), -1, 1, -1);
    }
    load_x(0, kM2L);                           // pass 2's first chunk
    Instruction mean = make(Opcode::Requant);  // mean = s / C (it waits for that load: see below)
    mean.set(f::requant::dst, s_mean);
    mean.set(f::requant::src, a3);
    mean.set(f::requant::rows, rr);
    mean.set(f::requant::cols, 1);
    mean.set(f::requant::dtype, dt);
    mean.set(f::requant::q, inv_c);
    L.emit(mean, kL2V, 1, kV2M);
    broadcast(a0, s_mean, s_ones, rr);  // M, kept through passes 2 and 3
    // Pass 2: q = sum (x - M)^2.
    for (int64_t j = 0; j < chunks; ++j) {
      if (j > 0) load_x(j, kM2L);
      L.emit(vpu_binary(Opcode::Sub, a1, true, sx, false, a0, true, false, rr, ww, dt), j == 0 ? kM2V : kL2V, 1, kM2L);
      L.emit(vpu_binary(Opcode::Mul, a2, true, a1, true, a1, true, false, rr, ww, dt), -1, 1, -1);
      reduce_sum(j == 0 ? a3 : a4, a2, true, rr, -1, 1, -1);
      if (j > 0) L.emit(vpu_binary(Opcode::Add, a3, true, a3, true, a4, true, false, rr, 1, dt), -1, 1, -1);
    }
    L.emit(vpu_binary(Opcode::Add, a3, true, a3, true, s_eps, false, true, rr, 1, dt), -1, 1, -1);  // q + C eps
    Instruction r = vpu_unary(Opcode::Sfu, s_r, false, a3, true, rr, 1, dt);
    r.set(f::sfu::fn, f::sfu::fn_rsqrt);
    L.emit(r, -1, 1, -1);
    if (p.want_rstd)  // rstd = r' sqrt(C)
      L.emit(vpu_binary(Opcode::Mul, s_rstd, false, s_r, false, s_root, false, true, rr, 1, dt), -1, 1, -1);
    // Pass 3: Y = (x - M) (r' x g') (x scale) (+ bias), chunk by chunk.
    for (int64_t j = 0; j < chunks; ++j) {
      const int wait = j == 0 ? kM2L : kGo;  // X free after pass 2; then the previous chunk stored
      load_x(j, wait);
      load(s_g, p.g, j * W, ww, -1);
      uint32_t loads = 2;
      if (!p.scale_const) load(s_s, p.scale, j * W, ww, -1), ++loads;
      if (p.has_bias) load(s_b, p.bias, j * W, ww, -1), ++loads;
      // D (the VPU has finished with the previous chunk's G: the matmul may overwrite it).
      L.emit(vpu_binary(Opcode::Sub, a1, true, sx, false, a0, true, false, rr, ww, dt), kL2V, loads, kV2M);
      broadcast(a2, s_r, s_g, rr);  // G = r' x g'
      std::vector<Instruction> tail;
      const bool more = !p.scale_const || p.has_bias;
      tail.push_back(vpu_binary(Opcode::Mul, more ? a1 : sy, more, a1, true, a2, true, false, rr, ww, dt));
      if (!p.scale_const)
        tail.push_back(
            vpu_binary(Opcode::Mul, p.has_bias ? a1 : sy, p.has_bias, a1, true, s_s, false, true, rr, ww, dt));
      if (p.has_bias) tail.push_back(vpu_binary(Opcode::Add, sy, false, a1, true, s_b, false, true, rr, ww, dt));
      for (size_t k = 0; k < tail.size(); ++k) L.emit(tail[k], k == 0 ? kM2V : -1, 1, k + 1 == tail.size() ? kV2S : -1);
      std::vector<std::pair<uint32_t, const Location*>> stores = {{sy, &p.y}};
      if (j + 1 == chunks && p.want_mean) stores.push_back({s_mean, &p.mean});
      if (j + 1 == chunks && p.want_rstd) stores.push_back({s_rstd, &p.rstd});
      for (size_t k = 0; k < stores.size(); ++k) {
        const Location& l = *stores[k].second;
        Instruction st = make(Opcode::Store);
        st.set(f::store::src, stores[k].first);
        if (k == 0) {
          st.set(f::store::desc, L.desc(l.region, l.type, l.offset, ww, rr, C));
          st.set(f::store::off, static_cast<uint32_t>(r0 * C + j * W));
        } else {
          st.set(f::store::desc, L.desc(l.region, l.type, l.offset, 1, rr, 1));
          st.set(f::store::off, static_cast<uint32_t>(r0));
        }
        L.emit(st, k == 0 ? kV2S : -1, 1, k + 1 == stores.size() ? kGo : -1);
      }
    }
  }
}

/// LayerNormalization (opset 17) over the axes from `axis` on: X is R rows of C elements, and per
/// row tile (X in the scratchpad, fp32 in the accumulator):
///   s = sum x (reduce), mean = s / C (requant's fp32 scale), M = mean x ones (a k = 1 matmul
///   broadcasts the column along the row), D = X - M, q = sum D^2 (reduce),
///   r' = rsqrt(q + C eps) (sfu) = rstd / sqrt(C), since rstd = 1 / sqrt(q / C + eps),
///   G = r' x g' (the same broadcast matmul, with the row g' = scale sqrt(C)), Y = D G (+ bias).
/// Folding sqrt(C) into the scale row keeps the variance in fp32 (never rounded to the device
/// type); mean and r' are rounded once to it (they are matmul operands). Mean and InvStdDev
/// (rstd = r' sqrt(C)), when the node has them, are stored from the same tile.
void layer_norm(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const auto rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0) throw CompileError(where(n) + ": X must have rank >= 1");
  if (L.is_spatial(x) || L.is_spatial(L.g_.tensor(n.outputs.at(0))))
    throw CompileError(where(n) + ": LayerNormalization of an image (NHWC on the device) is not supported");
  if (std::find(L.t_.mxu_dtypes.begin(), L.t_.mxu_dtypes.end(), L.precision_) == L.t_.mxu_dtypes.end())
    throw CompileError(where(n) + ": needs " + L.precision_ +
                       " matrix multiplies (broadcasts), which the target's MXU lacks");
  if (n.attr_i("stash_type", 1) != 1)
    throw CompileError(where(n) + ": stash_type " + std::to_string(n.attr_i("stash_type", 1)) +
                       " is not supported (1: float statistics)");
  int64_t axis = n.attr_i("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) throw CompileError(where(n) + ": axis out of range for rank " + std::to_string(rank));
  int64_t R = 1, C = 1;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? R : C) *= x.shape[d];
  // More than 4095: equal chunks of at most 4095 (layer_norm_wide).
  const int64_t chunks = [&] {
    for (int64_t m = 1; m <= C; ++m)
      if (C % m == 0 && C / m <= 4095) return m;
    return int64_t{0};
  }();
  if (C == 0 || chunks == 0)
    throw CompileError(where(n) + ": " + std::to_string(C) +
                       " normalized elements per row (up to 4095, or a multiple of a width of at most 4095)");
  const double eps = n.attr_f("epsilon", 1e-5f), root_c = std::sqrt(static_cast<double>(C));
  // A constant scale/bias broadcast to the C normalized elements (trailing dimensions); a computed
  // one must have all C.
  auto row_values = [&](const Tensor& t, double k) {
    std::vector<double> v(static_cast<size_t>(C));
    const auto m = static_cast<int64_t>(t.values.size());
    if (m == 0 || C % m)
      throw CompileError(where(n) + ": '" + t.name + "' " + shape_text(t.shape) + " does not broadcast to the " +
                         std::to_string(C) + " normalized elements");
    for (int64_t c = 0; c < C; ++c) v[static_cast<size_t>(c)] = k * t.values[static_cast<size_t>(c % m)];
    return v;
  };
  auto computed_row = [&](size_t i) {
    const Tensor& t = L.g_.tensor(n.inputs[i]);
    if (t.elements() != C)
      throw CompileError(where(n) + ": a computed '" + t.name + "' must have the " + std::to_string(C) +
                         " normalized elements, got " + shape_text(t.shape));
    Location l = L.input(n, i);
    l.rows = 1, l.cols = C;
    return l;
  };
  const bool has_scale = n.inputs.size() > 1 && !n.inputs[1].empty(),
             has_bias = n.inputs.size() > 2 && !n.inputs[2].empty();
  const bool scale_const = !has_scale || L.g_.tensor(n.inputs[1]).is_const;
  // g' = scale sqrt(C) (constant scale, or none), else sqrt(C) and the computed scale separately.
  const std::vector<double> g_row = scale_const && has_scale ? row_values(L.g_.tensor(n.inputs[1]), root_c)
                                                             : std::vector<double>(static_cast<size_t>(C), root_c);
  const Location lg{L.weights_region_, L.put_device(g_row), 1, C, L.dev_};
  const Location ls = scale_const ? Location{} : computed_row(1);
  Location lb;
  if (has_bias) {
    const Tensor& b = L.g_.tensor(n.inputs[2]);
    lb = b.is_const ? Location{L.weights_region_, L.put_device(row_values(b, 1.0)), 1, C, L.dev_} : computed_row(2);
  }
  const Location ones{L.weights_region_, L.put_device(std::vector<double>(static_cast<size_t>(C), 1.0)), 1, C, L.dev_};
  const Location l_eps{L.weights_region_, L.put_device({static_cast<double>(C) * eps}), 1, 1, L.dev_};
  const bool want_mean = n.outputs.size() > 1 && !n.outputs[1].empty(),
             want_rstd = n.outputs.size() > 2 && !n.outputs[2].empty();
  const Location l_root{L.weights_region_, L.put_device({root_c}), 1, 1, L.dev_};
  const Location lx = L.input(n, 0), ly = L.output(n);
  const Location lmean = want_mean ? L.output(n, 1) : Location{}, lrstd = want_rstd ? L.output(n, 2) : Location{};
  if (chunks > 1)
    return layer_norm_wide(L, n,
                           {lx, ly, lmean, lrstd, lg, ls, lb, ones, l_eps, l_root, R, C, C / chunks, scale_const,
                            has_bias, want_mean, want_rstd});
  const unsigned es = bytes_of(L.dev_);
  // Scratchpad: X and Y (tr x C), the rows ones, g', scale, bias (1 x C), C eps and sqrt(C) (1 x 1),
  // mean, r' and rstd (tr x 1). Accumulator: three tr x C fp32 tiles and s/q (tr x 1).
  int64_t tr = std::min<int64_t>(R, 4095);
  auto fits = [&] {
    return uint64_t{2 * L.lines(tr, C, es) + 4 * L.lines(1, C, es) + 2 * L.lines(1, 1, es) + 3 * L.lines(tr, 1, es)} *
                   L.t_.line_bytes <=
               L.t_.spad_bytes &&
           uint64_t{3 * L.lines(tr, C, 4) + L.lines(tr, 1, 4)} * L.t_.line_bytes <= L.t_.acc_bytes;
  };
  while (!fits() && tr > 1) tr = (tr + 1) / 2;
  if (!fits()) throw CompileError(where(n) + ": a row of " + std::to_string(C) + " elements does not fit the SRAMs");
  const uint32_t row = L.lines(1, C, es), one = L.lines(1, 1, es), col = L.lines(tr, 1, es);
  const uint32_t sx = 0, sy = L.lines(tr, C, es), s_ones = 2 * sy, s_g = s_ones + row, s_s = s_g + row, s_b = s_s + row,
                 s_eps = s_b + row, s_root = s_eps + one, s_mean = s_root + one, s_r = s_mean + col, s_rstd = s_r + col;
  const uint32_t a0 = 0, a1 = L.lines(tr, C, 4), a2 = 2 * a1, a3 = 3 * a1;
  const uint32_t dt = L.elem_;
  const uint32_t inv_c = L.to_device_param(static_cast<float>(1.0 / static_cast<double>(C)));
  auto broadcast = [&](uint32_t column, uint32_t b_row, uint32_t rows) {  // acc[a0] = column (rows x 1) x row (1 x C)
    row_broadcast(L, a0, column, b_row, rows, static_cast<uint32_t>(C));
  };
  auto load_row = [&](uint32_t dst, const Location& l, uint32_t cols) {
    Instruction ld = make(Opcode::Load);
    ld.set(f::load::dst, dst);
    ld.set(f::load::desc, L.desc(l.region, l.type, l.offset, cols, 1, cols));
    L.emit(ld, -1, 1, kL2V);
  };
  for (int64_t r0 = 0; r0 < R; r0 += tr) {
    const auto rr = static_cast<uint32_t>(std::min(tr, R - r0)), cc = static_cast<uint32_t>(C);
    L.emit(L.tile_load(sx, lx, 0, r0, 0, rr, cc, C), kGo, 1, kL2V);
    uint32_t loads = 1;
    load_row(s_ones, ones, cc), ++loads;
    load_row(s_g, lg, cc), ++loads;
    if (!scale_const) load_row(s_s, ls, cc), ++loads;
    if (has_bias) load_row(s_b, lb, cc), ++loads;
    load_row(s_eps, l_eps, 1), ++loads;
    if (want_rstd) load_row(s_root, l_root, 1), ++loads;
    Instruction sum = vpu_unary(Opcode::Reduce, a3, true, sx, false, rr, cc, dt);
    sum.set(f::reduce::op, f::reduce::op_sum);
    L.emit(sum, kL2V, loads, -1);
    Instruction mean = make(Opcode::Requant);  // mean = s / C, rounded once
    mean.set(f::requant::dst, s_mean);
    mean.set(f::requant::src, a3);
    mean.set(f::requant::rows, rr);
    mean.set(f::requant::cols, 1);
    mean.set(f::requant::dtype, dt);
    mean.set(f::requant::q, inv_c);
    L.emit(mean, -1, 1, kV2M);
    broadcast(s_mean, s_ones, rr);
    L.emit(vpu_binary(Opcode::Sub, a1, true, sx, false, a0, true, false, rr, cc, dt), kM2V, 1, -1);  // D
    L.emit(vpu_binary(Opcode::Mul, a2, true, a1, true, a1, true, false, rr, cc, dt), -1, 1, -1);     // D^2
    Instruction q = vpu_unary(Opcode::Reduce, a3, true, a2, true, rr, cc, dt);
    q.set(f::reduce::op, f::reduce::op_sum);
    L.emit(q, -1, 1, -1);
    L.emit(vpu_binary(Opcode::Add, a3, true, a3, true, s_eps, false, true, rr, 1, dt), -1, 1, -1);  // q + C eps
    Instruction r = vpu_unary(Opcode::Sfu, s_r, false, a3, true, rr, 1, dt);
    r.set(f::sfu::fn, f::sfu::fn_rsqrt);
    L.emit(r, -1, 1, kV2M);
    broadcast(s_r, s_g, rr);  // G = r' x g'
    std::vector<Instruction> tail;
    const bool more = !scale_const || has_bias;  // Y = D G, times a computed scale, plus the bias
    tail.push_back(vpu_binary(Opcode::Mul, more ? a2 : sy, more, a1, true, a0, true, false, rr, cc, dt));
    if (!scale_const)
      tail.push_back(vpu_binary(Opcode::Mul, has_bias ? a2 : sy, has_bias, a2, true, s_s, false, true, rr, cc, dt));
    if (has_bias) tail.push_back(vpu_binary(Opcode::Add, sy, false, a2, true, s_b, false, true, rr, cc, dt));
    if (want_rstd)  // rstd = r' sqrt(C)
      tail.push_back(vpu_binary(Opcode::Mul, s_rstd, false, s_r, false, s_root, false, true, rr, 1, dt));
    for (size_t k = 0; k < tail.size(); ++k) L.emit(tail[k], k == 0 ? kM2V : -1, 1, k + 1 == tail.size() ? kV2S : -1);
    // The stores run in order on their engine; the last one hands the tile on.
    std::vector<std::pair<uint32_t, const Location*>> stores = {{sy, &ly}};
    if (want_mean) stores.push_back({s_mean, &lmean});
    if (want_rstd) stores.push_back({s_rstd, &lrstd});
    for (size_t k = 0; k < stores.size(); ++k) {
      const Location& l = *stores[k].second;
      Instruction st = make(Opcode::Store);
      st.set(f::store::src, stores[k].first);
      if (k == 0) {
        st.set(f::store::desc, L.desc(l.region, l.type, l.offset, cc, rr, C));
        st.set(f::store::off, static_cast<uint32_t>(r0 * C));
      } else {  // rr rows of one element: rr consecutive values
        st.set(f::store::desc, L.desc(l.region, l.type, l.offset, 1, rr, 1));
        st.set(f::store::off, static_cast<uint32_t>(r0));
      }
      L.emit(st, k == 0 ? kV2S : -1, 1, k + 1 == stores.size() ? kGo : -1);
    }
  }
}

/// Softmax and LogSoftmax of the rows of R x C matrices (see softmax()): per row tile, m = max
/// (VPU reduce), M = m x ones (a k = 1 matmul broadcasts the column along the row), D = X - M
/// (fp32), E = exp(D) (sfu), s = sum E (fp32), then Softmax: Y = E x (1/s broadcast the same way);
/// LogSoftmax: Y = D - (log s broadcast). False when no tile fits.
bool softmax_rows(Lowering& L, const Node& n, Location lx, Location ly, int64_t R, int64_t C) {
  const bool log = n.op == "LogSoftmax";
  lx.rows = ly.rows = R, lx.cols = ly.cols = C;
  const Location ones{L.weights_region_, L.put_device(std::vector<double>(static_cast<size_t>(C), 1.0)), 1, C, L.dev_};
  const unsigned es = bytes_of(L.dev_);
  // Scratchpad: X, ones, E, Y (tr x C each but ones), m and r (tr x 1); accumulator: two tr x C
  // fp32 tiles and s (tr x 1).
  int64_t tr = std::min<int64_t>(R, 4095);
  auto fits = [&] {
    return uint64_t{3 * L.lines(tr, C, es) + L.lines(1, C, es) + 2 * L.lines(tr, 1, es)} * L.t_.line_bytes <=
               L.t_.spad_bytes &&
           uint64_t{2 * L.lines(tr, C, 4) + L.lines(tr, 1, 4)} * L.t_.line_bytes <= L.t_.acc_bytes;
  };
  while (!fits() && tr > 1) tr = (tr + 1) / 2;
  if (!fits()) return false;
  const uint32_t sx = 0, s_ones = L.lines(tr, C, es), se = s_ones + L.lines(1, C, es), sy = se + L.lines(tr, C, es),
                 sm = sy + L.lines(tr, C, es), sr = sm + L.lines(tr, 1, es);
  const uint32_t a0 = 0, a1 = L.lines(tr, C, 4), a2 = 2 * L.lines(tr, C, 4);
  const uint32_t dt = L.elem_;
  auto broadcast = [&](uint32_t column, uint32_t rows) {  // acc[a0] = column (rows x 1) x ones (1 x C)
    row_broadcast(L, a0, column, s_ones, rows, static_cast<uint32_t>(C));
  };
  for (int64_t r0 = 0; r0 < R; r0 += tr) {
    const auto rr = static_cast<uint32_t>(std::min(tr, R - r0)), cc = static_cast<uint32_t>(C);
    L.emit(L.tile_load(sx, lx, 0, r0, 0, rr, cc, C), kGo, 1, kL2V);
    Instruction lo = make(Opcode::Load);
    lo.set(f::load::dst, s_ones);
    lo.set(f::load::desc, L.desc(ones.region, ones.type, ones.offset, cc, 1, C));
    L.emit(lo, -1, 1, kL2V);
    Instruction mx = vpu_unary(Opcode::Reduce, sm, false, sx, false, rr, cc, dt);
    mx.set(f::reduce::op, f::reduce::op_max);
    L.emit(mx, kL2V, 2, kV2M);
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
    L.emit(d, kM2V, 1, -1);
    Instruction e = vpu_unary(Opcode::Sfu, se, false, a1, true, rr, cc, dt);
    e.set(f::sfu::fn, f::sfu::fn_exp);
    L.emit(e, -1, 1, -1);
    Instruction s = vpu_unary(Opcode::Reduce, a2, true, se, false, rr, cc, dt);
    s.set(f::reduce::op, f::reduce::op_sum);
    L.emit(s, -1, 1, -1);
    Instruction inv = vpu_unary(Opcode::Sfu, sr, false, a2, true, rr, 1, dt);
    inv.set(f::sfu::fn, log ? f::sfu::fn_log : f::sfu::fn_recip);
    L.emit(inv, -1, 1, kV2M);
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
    L.emit(y, kM2V, 1, kV2S);
    Instruction st = make(Opcode::Store);
    st.set(f::store::src, sy);
    st.set(f::store::desc, L.desc(ly.region, ly.type, ly.offset, cc, rr, C));
    st.set(f::store::off, static_cast<uint32_t>(r0 * C));
    L.emit(st, kV2S, 1, kGo);
  }
  return true;
}

/// Softmax and LogSoftmax of rows longer than 4095 elements, in chunks of `width` (C = chunks x
/// width) and three passes over X per row tile, as layer_norm_wide: (1) m = the max of the chunks'
/// `reduce max`, M = m x ones (one broadcast for every chunk); (2) s = sum over chunks of sum
/// exp(X - M); (3) per chunk Y = exp(X - M) x (1/s broadcast) (LogSoftmax: X - M - log s).
/// False when C has no such chunk width or no tile fits.
bool softmax_wide(Lowering& L, const Node& n, const Location& lx, const Location& ly, int64_t R, int64_t C) {
  const bool log = n.op == "LogSoftmax";
  int64_t chunks = 0;
  for (int64_t m = 2; m <= C && !chunks; ++m)
    if (C % m == 0 && C / m <= 4095) chunks = m;
  if (!chunks) return false;
  const int64_t W = C / chunks;
  const unsigned es = bytes_of(L.dev_);
  // Scratchpad: X, E, Y chunks (tr x W), ones (1 x W), m and 1/s (tr x 1). Accumulator: M, D, the
  // broadcast 1/s (tr x W), the running max/sum and a part (tr x 1).
  int64_t tr = std::min<int64_t>(R, 4095);
  auto fits = [&] {
    return uint64_t{3 * L.lines(tr, W, es) + L.lines(1, W, es) + 2 * L.lines(tr, 1, es)} * L.t_.line_bytes <=
               L.t_.spad_bytes &&
           uint64_t{3 * L.lines(tr, W, 4) + 2 * L.lines(tr, 1, 4)} * L.t_.line_bytes <= L.t_.acc_bytes;
  };
  while (!fits() && tr > 1) tr = (tr + 1) / 2;
  if (!fits()) return false;
  const Location ones{L.weights_region_, L.put_device(std::vector<double>(static_cast<size_t>(W), 1.0)), 1, W, L.dev_};
  const uint32_t sx = 0, se = L.lines(tr, W, es), sy = 2 * se, s_ones = 3 * se, sm = s_ones + L.lines(1, W, es),
                 sr = sm + L.lines(tr, 1, es);
  const uint32_t a0 = 0, a1 = L.lines(tr, W, 4), a2 = 2 * a1, a3 = 3 * a1, a4 = a3 + L.lines(tr, 1, 4);
  const uint32_t dt = L.elem_, ww = static_cast<uint32_t>(W);
  const uint32_t unit = L.to_device_param(1.0f);
  auto broadcast = [&](uint32_t dst, uint32_t column, uint32_t rows) {  // acc[dst] = column x ones
    row_broadcast(L, dst, column, s_ones, rows, ww);
  };
  for (int64_t r0 = 0; r0 < R; r0 += tr) {
    const auto rr = static_cast<uint32_t>(std::min(tr, R - r0));
    auto load_x = [&](int64_t j, int wait_sem) {
      L.emit(L.tile_load(sx, lx, 0, r0, j * W, rr, ww, C), wait_sem, 1, kL2V);
    };
    auto combine = [&](Opcode op) {  // a3 = a3 (op) a4
      L.emit(vpu_binary(op, a3, true, a3, true, a4, true, false, rr, 1, dt), -1, 1, -1);
    };
    // Pass 1: m = max x.
    load_x(0, kGo);
    Instruction lo = make(Opcode::Load);
    lo.set(f::load::dst, s_ones);
    lo.set(f::load::desc, L.desc(ones.region, ones.type, ones.offset, ww, 1, W));
    L.emit(lo, -1, 1, kL2V);
    for (int64_t j = 0; j < chunks; ++j) {
      if (j > 0) load_x(j, kM2L);
      Instruction mx = vpu_unary(Opcode::Reduce, j == 0 ? a3 : a4, true, sx, false, rr, ww, dt);
      mx.set(f::reduce::op, f::reduce::op_max);
      L.emit(mx, kL2V, j == 0 ? 2 : 1, kM2L);  // the X chunk is read
      if (j > 0) combine(Opcode::Max);
    }
    load_x(0, kM2L);                        // pass 2's first chunk: the next VPU instruction waits for it
    Instruction m = make(Opcode::Requant);  // m in the device type (exact: a max of its values)
    m.set(f::requant::dst, sm);
    m.set(f::requant::src, a3);
    m.set(f::requant::rows, rr);
    m.set(f::requant::cols, 1);
    m.set(f::requant::dtype, dt);
    m.set(f::requant::q, unit);
    L.emit(m, kL2V, 1, kV2M);
    broadcast(a0, sm, rr);                       // M, kept through passes 2 and 3
    auto d_and_e = [&](int wait_sem, int sig) {  // D = X - M (fp32), E = exp(D) (device type)
      L.emit(vpu_binary(Opcode::Sub, a1, true, sx, false, a0, true, false, rr, ww, dt), wait_sem, 1, sig);
      Instruction e = vpu_unary(Opcode::Sfu, se, false, a1, true, rr, ww, dt);
      e.set(f::sfu::fn, f::sfu::fn_exp);
      L.emit(e, -1, 1, -1);
    };
    // Pass 2: s = sum exp(x - M).
    for (int64_t j = 0; j < chunks; ++j) {
      if (j > 0) load_x(j, kM2L);
      d_and_e(j == 0 ? kM2V : kL2V, kM2L);
      Instruction sum = vpu_unary(Opcode::Reduce, j == 0 ? a3 : a4, true, se, false, rr, ww, dt);
      sum.set(f::reduce::op, f::reduce::op_sum);
      L.emit(sum, -1, 1, -1);
      if (j > 0) combine(Opcode::Add);
    }
    load_x(0, kM2L);  // pass 3's first chunk
    Instruction inv = vpu_unary(Opcode::Sfu, sr, false, a3, true, rr, 1, dt);
    inv.set(f::sfu::fn, log ? f::sfu::fn_log : f::sfu::fn_recip);
    L.emit(inv, kL2V, 1, kV2M);
    broadcast(a2, sr, rr);
    // Pass 3: Y per chunk.
    for (int64_t j = 0; j < chunks; ++j) {
      if (j > 0) load_x(j, kGo);  // the previous chunk is stored
      const int wait = j == 0 ? kM2V : kL2V;
      if (log) {
        L.emit(vpu_binary(Opcode::Sub, a1, true, sx, false, a0, true, false, rr, ww, dt), wait, 1, -1);
        L.emit(vpu_binary(Opcode::Sub, sy, false, a1, true, a2, true, false, rr, ww, dt), -1, 1, kV2S);
      } else {
        d_and_e(wait, -1);
        L.emit(vpu_binary(Opcode::Mul, sy, false, se, false, a2, true, false, rr, ww, dt), -1, 1, kV2S);
      }
      Instruction st = make(Opcode::Store);
      st.set(f::store::src, sy);
      st.set(f::store::desc, L.desc(ly.region, ly.type, ly.offset, ww, rr, C));
      st.set(f::store::off, static_cast<uint32_t>(r0 * C + j * W));
      L.emit(st, kV2S, 1, kGo);
    }
  }
  return true;
}

/// Softmax and LogSoftmax over one axis (opset 13) or the 2-D coercion at `axis` (before): the
/// coercion and a last axis are R x C views of the same bytes; another axis is permuted last
/// (permute(), layout.h), normalized, and permuted back; rows longer than 4095 in chunks
/// (softmax_wide). Images (opset >= 13) normalize in their NHWC storage (over channels: its rows),
/// and change layout after when Y is not stored as X is. Returns false (host kernel) for the
/// coercion of images, an inner axis longer than 4095, rows that split into no chunks of at most
/// 4095, or a target without a float MXU.
bool softmax(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const auto rank = static_cast<int64_t>(x.shape.size());
  const bool x_image = L.is_spatial(x), y_image = L.is_spatial(L.g_.tensor(n.outputs.at(0)));
  if (rank == 0 || x.elements() == 0) return false;
  if (std::find(L.t_.mxu_dtypes.begin(), L.t_.mxu_dtypes.end(), L.precision_) == L.t_.mxu_dtypes.end()) return false;
  const bool coerce = L.g_.opset < 13;
  if (coerce && (x_image || y_image)) return false;  // (the 2-D coercion of NCHW is not a view of NHWC)
  int64_t axis = n.attr_i("axis", coerce ? 1 : -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return false;
  if (coerce || (!x_image && !y_image && axis == rank - 1)) {
    int64_t R = 1, C = 1;
    for (int64_t d = 0; d < rank; ++d) (d < axis ? R : C) *= x.shape[d];
    if (C > 4095) return softmax_wide(L, n, L.input(n, 0), L.output(n), R, C);
    return softmax_rows(L, n, L.input(n, 0), L.output(n), R, C);
  }
  // In X's storage order (an image's is N, H, W, C): the shape and the axis there.
  std::vector<int64_t> shape = x.shape;
  int64_t ax = axis;
  if (x_image) {
    shape = {x.shape[0], x.shape[2], x.shape[3], x.shape[1]};
    ax = std::vector<int64_t>{0, 3, 1, 2}[static_cast<size_t>(axis)];
  }
  const int64_t C = shape[ax], R = x.elements() / C;
  if (C > 4095) return false;
  const Location lx = L.input(n, 0), ly = L.output(n);
  // The result in X's storage order: Y itself when the layouts agree, else changed into Y's after.
  const Location t_out = x_image == y_image ? ly : L.scratch(ly.type, x.elements());
  if (ax == rank - 1) {  // an image's channels: its rows
    if (!softmax_rows(L, n, lx, t_out, R, C)) return false;
  } else {
    std::vector<int64_t> to_last, back;  // axis last, and the inverse permutation
    for (int64_t d = 0; d < rank; ++d)
      if (d != ax) to_last.push_back(d);
    to_last.push_back(ax);
    for (int64_t d = 0; d < rank; ++d) back.push_back(d < ax ? d : d == ax ? rank - 1 : d - 1);
    const Location t1 = L.scratch(lx.type, x.elements()), t2 = L.scratch(ly.type, x.elements());
    if (!permute(L, n, lx, shape, to_last, t1).empty()) return false;  // (nothing emitted)
    if (!softmax_rows(L, n, t1, t2, R, C))
      throw CompileError(where(n) + ": no tile of rows of " + std::to_string(C) + " elements fits the scratchpad");
    std::vector<int64_t> moved;  // the shape with the axis last
    for (int64_t d : to_last) moved.push_back(shape[d]);
    if (const std::string why = permute(L, n, t2, moved, back, t_out); !why.empty())
      throw CompileError(where(n) + ": the permutation back cannot run: " + why);
  }
  if (x_image != y_image) {  // NHWC -> NCHW, or NCHW -> NHWC
    const std::vector<int64_t> to_y = x_image ? std::vector<int64_t>{0, 3, 1, 2} : std::vector<int64_t>{0, 2, 3, 1};
    if (const std::string why = permute(L, n, t_out, shape, to_y, ly); !why.empty())
      throw CompileError(where(n) + ": the result cannot be laid out as its consumers read it: " + why);
  }
  return true;
}

bool lower_batch_norm(Lowering& L, const Node& n, const OpInfo&) {
  batch_norm(L, n);
  return true;
}

bool lower_layer_norm(Lowering& L, const Node& n, const OpInfo&) {
  layer_norm(L, n);
  return true;
}

bool lower_softmax(Lowering& L, const Node& n, const OpInfo&) {
  return softmax(L, n);
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_normalize_ops(OpRegistry& r) {
  r.add("BatchNormalization", lowering::lower_batch_norm, kFloatOnly | kImage | kElementwise);
  r.add("LayerNormalization", lowering::lower_layer_norm, kFloatOnly);
  r.add("Softmax", lowering::lower_softmax, kFloatOnly);
  r.add("LogSoftmax", lowering::lower_softmax, kFloatOnly);
}

}  // namespace npusim::compiler
