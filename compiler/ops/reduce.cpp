// Reductions: ReduceMean, ReduceSum, ReduceMax and ReduceMin (and ArgMax, ArgMin) over any axes (attribute, or a
// constant input as ReduceSum has from opset 13), keepdims and noop_with_empty_axes. The reduced
// axes are brought last by DMA permutations (permute(), layout.cpp), so the tensor is R rows of C
// reduced elements, and the VPU's `reduce` turns each row into one element; ReduceMean scales the
// fp32 sums by 1/C in the requant that writes them out. Images reduce on their NHWC layout.
#include <cmath>

#include "compiler/ops/layout.h"

namespace npusim::compiler::lowering {
namespace {

/// The axes a Reduce node reduces (sorted, non-negative); empty with `noop` set: the node is an
/// identity (noop_with_empty_axes = 1 and no axes).
std::vector<int64_t> reduce_axes(Lowering& L, const Node& n, int64_t rank, bool& noop) {
  std::vector<int64_t> axes;
  bool given = false;
  if (n.op == "ArgMax" || n.op == "ArgMin") axes = {n.attr_i("axis", 0)}, given = true;  // one axis, default 0
  if (auto it = n.attrs.find("axes"); it != n.attrs.end()) axes = it->second.ints, given = true;
  if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
    const Tensor& t = L.g_.tensor(n.inputs[1]);
    if (!t.is_const) throw CompileError(where(n) + ": the axes input must be a constant");
    axes.assign(t.values.begin(), t.values.end());
    given = true;
  }
  noop = false;
  if (!given || axes.empty()) {
    axes.clear();
    if (n.attr_i("noop_with_empty_axes", 0)) {
      noop = true;
      return axes;
    }
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    return axes;
  }
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank)
      throw CompileError(where(n) + ": axis " + std::to_string(a) + " is out of range for rank " +
                         std::to_string(rank));
    if (a < 0) a += rank;
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

/// What each row goes through: an element-wise step before the reduction (in fp32, in the
/// accumulator), the reduction, a scale (a requant's binary32 factor) and a function after it.
enum class Pre { None, Square, Abs, Exp };
enum class Post { None, Sqrt, Log };
struct Reduction {
  Pre pre = Pre::None;
  uint32_t op = f::reduce::op_sum;  ///< the VPU reduce's op
  double scale = 1.0;               ///< applied to the reduced value (ReduceMean: 1/C)
  Post post = Post::None;
};

/// ReduceSumSquare = sum x^2, ReduceL1 = sum |x|, ReduceL2 = sqrt(sum x^2), ReduceLogSum =
/// log(sum x), ReduceLogSumExp = log(sum exp(x)) (exp in fp32: |x| < 88), ReduceMean = sum / C.
Reduction reduction(const Node& n) {
  Reduction r;
  if (n.op == "ReduceMax") r.op = f::reduce::op_max;
  if (n.op == "ReduceMin") r.op = f::reduce::op_min;
  if (n.op == "ReduceSumSquare" || n.op == "ReduceL2") r.pre = Pre::Square;
  if (n.op == "ReduceL1") r.pre = Pre::Abs;
  if (n.op == "ReduceLogSumExp") r.pre = Pre::Exp;
  if (n.op == "ReduceL2") r.post = Post::Sqrt;
  if (n.op == "ReduceLogSum" || n.op == "ReduceLogSumExp") r.post = Post::Log;
  return r;
}

/// Y[r] = post(scale * reduce_c pre(X[r, c])) for the rows of an R x C matrix (C <= 4095), per row
/// tile: load, the element-wise step into an fp32 tile (|x| = max(x, -x), -x by a row of -1),
/// `reduce` into a column (the accumulator when a scale or a function follows, else the output
/// type), `requant` by the scale or `sfu` sqrt/log, store.
void reduce_rows(Lowering& L, const Node& n, const Location& lx, const Location& ly, int64_t R, int64_t C,
                 const Reduction& red) {
  const unsigned es = bytes_of(lx.type);
  const bool pre = red.pre != Pre::None, to_acc = red.scale != 1.0 || red.post != Post::None;
  Location neg;  // the row of -1 for |x|
  if (red.pre == Pre::Abs)
    neg = {L.weights_region_, L.put_device(std::vector<double>(static_cast<size_t>(C), -1.0)), 1, C, L.dev_};
  int64_t tr = std::min<int64_t>(R, 4095);
  auto fits = [&] {
    return uint64_t{L.lines(tr, C, es) + L.lines(1, C, es) + L.lines(tr, 1, es)} * L.t_.line_bytes <= L.t_.spad_bytes &&
           uint64_t{(pre ? L.lines(tr, C, 4) : 0) + L.lines(tr, 1, 4)} * L.t_.line_bytes <= L.t_.acc_bytes;
  };
  while (!fits() && tr > 1) tr = (tr + 1) / 2;
  if (!fits())
    throw CompileError(where(n) + ": a row of " + std::to_string(C) + " elements does not fit the scratchpad");
  const uint32_t sx = 0, s_neg = L.lines(tr, C, es), sy = s_neg + L.lines(1, C, es);
  const uint32_t a_t = 0, a_r = pre ? L.lines(tr, C, 4) : 0;  // fp32 tile, reduced column
  const uint32_t dt = L.code(lx.type, n);
  const uint32_t rq = red.scale != 1.0 ? L.to_device_param(static_cast<float>(red.scale)) : 0;
  auto binary = [&](Opcode op, uint32_t src0, bool src0_acc, uint32_t src1, bool src1_acc, bool bcast, uint32_t rows,
                    uint32_t cols) {  // into the fp32 tile
    Instruction i = make(op);
    i.set(f::mul::dst, a_t);
    i.set(f::mul::dst_acc, 1);
    i.set(f::mul::src0, src0);
    i.set(f::mul::src0_acc, src0_acc ? 1 : 0);
    i.set(f::mul::src1, src1);
    i.set(f::mul::src1_acc, src1_acc ? 1 : 0);
    i.set(f::mul::bcast, bcast ? 1 : 0);
    i.set(f::mul::rows, rows);
    i.set(f::mul::cols, cols);
    i.set(f::mul::dtype, dt);
    i.set(f::mul::q, isa::kNoParam);
    return i;
  };
  for (int64_t r0 = 0; r0 < R; r0 += tr) {
    const auto rr = static_cast<uint32_t>(std::min(tr, R - r0)), cc = static_cast<uint32_t>(C);
    L.emit(L.tile_load(sx, lx, 0, r0, 0, rr, cc, C), kGo, 1, kL2V);
    std::vector<Instruction> v;  // the VPU sequence of the tile
    if (red.pre == Pre::Abs) {
      Instruction ln = make(Opcode::Load);
      ln.set(f::load::dst, s_neg);
      ln.set(f::load::desc, L.desc(neg.region, neg.type, neg.offset, cc, 1, C));
      L.emit(ln, -1, 1, kL2V);
      v.push_back(binary(Opcode::Mul, sx, false, s_neg, false, true, rr, cc));  // -x
      v.push_back(binary(Opcode::Max, sx, false, a_t, true, false, rr, cc));    // max(x, -x)
    } else if (red.pre == Pre::Square) {
      v.push_back(binary(Opcode::Mul, sx, false, sx, false, false, rr, cc));
    } else if (red.pre == Pre::Exp) {
      Instruction e = make(Opcode::Sfu);
      e.set(f::sfu::dst, a_t);
      e.set(f::sfu::dst_acc, 1);
      e.set(f::sfu::src, sx);
      e.set(f::sfu::rows, rr);
      e.set(f::sfu::cols, cc);
      e.set(f::sfu::dtype, dt);
      e.set(f::sfu::fn, f::sfu::fn_exp);
      v.push_back(e);
    }
    Instruction r = make(Opcode::Reduce);  // one element per row
    r.set(f::reduce::dst, to_acc ? a_r : sy);
    r.set(f::reduce::dst_acc, to_acc ? 1 : 0);
    r.set(f::reduce::src, pre ? a_t : sx);
    r.set(f::reduce::src_acc, pre ? 1 : 0);
    r.set(f::reduce::rows, rr);
    r.set(f::reduce::cols, cc);
    r.set(f::reduce::dtype, dt);
    r.set(f::reduce::op, red.op);
    v.push_back(r);
    if (red.post != Post::None) {
      Instruction fn = make(Opcode::Sfu);
      fn.set(f::sfu::dst, sy);
      fn.set(f::sfu::src, a_r);
      fn.set(f::sfu::src_acc, 1);
      fn.set(f::sfu::rows, rr);
      fn.set(f::sfu::cols, 1);
      fn.set(f::sfu::dtype, dt);
      fn.set(f::sfu::fn, red.post == Post::Sqrt ? f::sfu::fn_sqrt : f::sfu::fn_log);
      v.push_back(fn);
    } else if (to_acc) {  // Y = scale x the fp32 value, converted once
      Instruction q = make(Opcode::Requant);
      q.set(f::requant::dst, sy);
      q.set(f::requant::src, a_r);
      q.set(f::requant::rows, rr);
      q.set(f::requant::cols, 1);
      q.set(f::requant::dtype, L.code(ly.type, n));
      q.set(f::requant::q, rq);
      v.push_back(q);
    }
    const uint32_t loads = red.pre == Pre::Abs ? 2 : 1;
    for (size_t k = 0; k < v.size(); ++k) L.emit(v[k], k == 0 ? kL2V : -1, loads, k + 1 == v.size() ? kV2S : -1);
    Instruction st = make(Opcode::Store);  // rr rows of one element: rr consecutive outputs
    st.set(f::store::src, sy);
    st.set(f::store::desc, L.desc(ly.region, ly.type, ly.offset, 1, rr, 1));
    st.set(f::store::off, static_cast<uint32_t>(r0));
    L.emit(st, kV2S, 1, kGo);
  }
}

/// ArgMax/ArgMin of each row of an R x C matrix (C <= 4095) into i32 indices (int64 at the host
/// boundary), per row tile, all on the VPU: m = reduce max (min) of the row; the mask x == m is
/// compared on transposes (the tile, and m as one row broadcast to every row, the only broadcast
/// cmp has) and transposed back; `select` writes the column index (a row of 0..C-1 loaded into
/// every row) where the mask is set over a tile of C (select_last_index: -1), and `reduce` min
/// (max) gives the first (last) extreme's index. NaN compares unequal: a row of NaN gives C (-1).
void arg_rows(Lowering& L, const Node& n, const Location& lx, const Location& ly, int64_t R, int64_t C) {
  if (!is_float_type(lx.type))
    throw CompileError(where(n) + ": the input must be a float tensor (" + dtype_name(L.g_.tensor(n.inputs[0]).dtype) +
                       " is not supported)");
  if (ly.type != isa::TensorType::I32) throw CompileError(where(n) + ": the output must be int64");
  const bool last = n.attr_i("select_last_index", 0) != 0, mx = n.op == "ArgMax";
  const unsigned es = bytes_of(lx.type);
  const uint32_t cc = static_cast<uint32_t>(C);
  int64_t tr = std::min<int64_t>(R, 4095);
  auto spad_lines = [&](int64_t t) {  // x, its transpose, m, m as a row, the mask transposed, the mask
    return L.lines(t, C, es) + L.lines(C, t, es) + L.lines(t, 1, es) + L.lines(1, t, es) + L.lines(C, t, 1) +
           L.lines(t, C, 1);
  };
  auto fits = [&] {
    return uint64_t{spad_lines(tr)} * L.t_.line_bytes <= L.t_.spad_bytes &&
           uint64_t{2 * L.lines(tr, C, 4) + L.lines(tr, 1, 4)} * L.t_.line_bytes <= L.t_.acc_bytes;
  };
  while (!fits() && tr > 1) tr = (tr + 1) / 2;
  if (!fits()) throw CompileError(where(n) + ": a row of " + std::to_string(C) + " elements does not fit the SRAM");
  const uint32_t sx = 0, sxt = sx + L.lines(tr, C, es), sm = sxt + L.lines(C, tr, es), smt = sm + L.lines(tr, 1, es),
                 smaskt = smt + L.lines(1, tr, es), smask = smaskt + L.lines(C, tr, 1);
  const uint32_t a_idx = 0, a_sel = L.lines(tr, C, 4), a_out = 2 * L.lines(tr, C, 4);  // i32 tiles, result column
  std::vector<int32_t> iota(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) iota[static_cast<size_t>(c)] = static_cast<int32_t>(c);
  const uint64_t idx_off = L.put_i32(iota);
  const uint64_t init_off =
      L.put_i32(std::vector<int32_t>(static_cast<size_t>(C), last ? -1 : static_cast<int32_t>(C)));
  const uint32_t dt = L.code(lx.type, n), u8 = L.code(isa::TensorType::U8, n), i32 = 0;  // acc with dtype i8: i32
  auto unary = [&](Opcode op, uint32_t dst, bool dst_acc, uint32_t src, bool src_acc, uint32_t rows, uint32_t cols,
                   uint32_t dtype) {
    Instruction i = make(op);
    i.set(f::copy::dst, dst);
    i.set(f::copy::dst_acc, dst_acc ? 1 : 0);
    i.set(f::copy::src, src);
    i.set(f::copy::src_acc, src_acc ? 1 : 0);
    i.set(f::copy::rows, rows);
    i.set(f::copy::cols, cols);
    i.set(f::copy::dtype, dtype);
    return i;
  };
  for (int64_t r0 = 0; r0 < R; r0 += tr) {
    const auto rr = static_cast<uint32_t>(std::min(tr, R - r0));
    L.emit(L.tile_load(sx, lx, 0, r0, 0, rr, cc, C), kGo, 1, kL2V);
    for (auto [line, off] : {std::pair{a_idx, idx_off}, std::pair{a_sel, init_off}}) {  // one row, every row
      Instruction l = make(Opcode::Load);
      l.set(f::load::dst, line);
      l.set(f::load::dst_acc, 1);
      l.set(f::load::desc, L.desc(L.weights_region_, isa::TensorType::I32, off, cc, rr, 0));
      L.emit(l, -1, 1, kL2V);
    }
    std::vector<Instruction> v;
    Instruction m = unary(Opcode::Reduce, sm, false, sx, false, rr, cc, dt);
    m.set(f::reduce::op, mx ? f::reduce::op_max : f::reduce::op_min);
    v.push_back(m);
    Instruction xt = unary(Opcode::Copy, sxt, false, sx, false, rr, cc, dt);
    xt.set(f::copy::transpose, 1);
    v.push_back(xt);
    Instruction mt = unary(Opcode::Copy, smt, false, sm, false, rr, 1, dt);
    mt.set(f::copy::transpose, 1);
    v.push_back(mt);
    Instruction eq = make(Opcode::Cmp);  // C rows of rr: x^T == m^T (one row for every row)
    eq.set(f::cmp::dst, smaskt);
    eq.set(f::cmp::src0, sxt);
    eq.set(f::cmp::src1, smt);
    eq.set(f::cmp::bcast, 1);
    eq.set(f::cmp::op, f::cmp::op_eq);
    eq.set(f::cmp::dtype, dt);
    eq.set(f::cmp::rows, cc);
    eq.set(f::cmp::cols, rr);
    v.push_back(eq);
    Instruction mask = unary(Opcode::Copy, smask, false, smaskt, false, cc, rr, u8);
    mask.set(f::copy::transpose, 1);
    v.push_back(mask);
    Instruction sel = make(Opcode::Select);  // the index where the row holds its extreme
    sel.set(f::select::dst, a_sel);
    sel.set(f::select::dst_acc, 1);
    sel.set(f::select::src, a_idx);
    sel.set(f::select::src_acc, 1);
    sel.set(f::select::cond, smask);
    sel.set(f::select::rows, rr);
    sel.set(f::select::cols, cc);
    sel.set(f::select::dtype, i32);
    v.push_back(sel);
    Instruction pick = unary(Opcode::Reduce, a_out, true, a_sel, true, rr, cc, i32);
    pick.set(f::reduce::op, last ? f::reduce::op_max : f::reduce::op_min);
    v.push_back(pick);
    for (size_t k = 0; k < v.size(); ++k) L.emit(v[k], k == 0 ? kL2V : -1, 3, k + 1 == v.size() ? kV2S : -1);
    Instruction st = make(Opcode::Store);  // rr rows of one index: rr consecutive outputs
    st.set(f::store::src, a_out);
    st.set(f::store::src_acc, 1);
    st.set(f::store::desc, L.desc(ly.region, ly.type, ly.offset, 1, rr, 1));
    st.set(f::store::off, static_cast<uint32_t>(r0));
    L.emit(st, kV2S, 1, kGo);
  }
}

/// Reduce X over `axes`. The input's storage order is walked as groups of adjacent axes that are
/// all kept or all reduced (merged into one dimension each); when a reduced group is not last, the
/// tensor is permuted into (kept groups in the output's storage order, reduced groups) first.
void reduce(Lowering& L, const Node& n) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const auto rank = static_cast<int64_t>(x.shape.size());
  bool noop = false;
  const std::vector<int64_t> axes = reduce_axes(L, n, rank, noop);
  if (noop || rank == 0) return L.unary(n, L.clamp_param(-INFINITY, INFINITY));  // a copy
  if (x.elements() == 0 || y.elements() == 0)
    throw CompileError(where(n) + ": zero-sized tensors are not supported (" + shape_text(x.shape) + ")");
  // Storage order of X's ONNX axes (NHWC images: N, H, W, C); the kept axes take Y's storage
  // order (an image's only with keepdims, then its reduced axes have size 1; else ONNX order).
  const std::vector<int64_t> x_order = L.is_spatial(x) ? std::vector<int64_t>{0, 2, 3, 1} : [&] {
    std::vector<int64_t> o;
    for (int64_t d = 0; d < rank; ++d) o.push_back(d);
    return o;
  }();
  const bool y_image = L.is_spatial(y);
  auto reduced = [&](int64_t axis) { return std::binary_search(axes.begin(), axes.end(), axis); };
  // Groups of X's storage axes: size, and whether reduced; size-1 axes join any group.
  struct Group {
    int64_t size;
    bool red;
    std::vector<int64_t> axes;  ///< ONNX axes merged into it
  };
  std::vector<Group> groups;
  for (int64_t a : x_order) {
    const int64_t d = x.shape[static_cast<size_t>(a)];
    if (d == 1) continue;  // a size-1 axis moves freely
    if (!groups.empty() && groups.back().red == reduced(a)) {
      groups.back().size *= d;
      groups.back().axes.push_back(a);
    } else {
      groups.push_back({d, reduced(a), {a}});
    }
  }
  int64_t R = 1, C = 1;
  for (const Group& g : groups) (g.red ? C : R) *= g.size;
  // The order the kept groups must take in Y's storage: by their first axis's position there.
  std::vector<int64_t> y_order = {0, 2, 3, 1};  // an image's, else ONNX order
  if (!y_image) {
    y_order.clear();
    for (int64_t d = 0; d < rank; ++d) y_order.push_back(d);
  }
  if (y_image != L.is_spatial(x) && R > 1) {
    // A kept group of several axes must stay contiguous in Y's order too; else split it.
    std::vector<Group> split;
    for (const Group& g : groups) {
      if (g.red || g.axes.size() == 1) {
        split.push_back(g);
        continue;
      }
      for (int64_t a : g.axes) split.push_back({x.shape[static_cast<size_t>(a)], false, {a}});
    }
    groups = split;
  }
  auto y_pos = [&](const Group& g) { return std::find(y_order.begin(), y_order.end(), g.axes[0]) - y_order.begin(); };
  std::vector<int64_t> perm, kept_idx, red_idx;
  for (size_t i = 0; i < groups.size(); ++i) (groups[i].red ? red_idx : kept_idx).push_back(static_cast<int64_t>(i));
  std::stable_sort(kept_idx.begin(), kept_idx.end(),
                   [&](int64_t p, int64_t q) { return y_pos(groups[p]) < y_pos(groups[q]); });
  perm = kept_idx;
  perm.insert(perm.end(), red_idx.begin(), red_idx.end());
  std::vector<int64_t> gshape;
  for (const Group& g : groups) gshape.push_back(g.size);
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int64_t>(i);
  Location lx = L.input(n, 0);
  Location ly = L.output(n);
  if (!identity) {
    const Location t = L.scratch(lx.type, x.elements());
    const std::string why = permute(L, n, lx, gshape, perm, t);
    if (!why.empty())
      throw CompileError(where(n) + ": bringing the reduced axes of " + shape_text(x.shape) +
                         " last needs a permutation of " + shape_text(gshape) + ", which the NPU cannot do: " + why);
    lx = t;
  }
  if (n.op == "ArgMax" || n.op == "ArgMin") {
    if (C > 4095)
      throw CompileError(where(n) + ": axis " + std::to_string(axes[0]) + " has " + std::to_string(C) + " elements; " +
                         n.op + " reduces at most 4095");
    return arg_rows(L, n, lx, ly, R, C);
  }
  Reduction red = reduction(n);
  if (n.op == "ReduceMean") red.scale = 1.0 / static_cast<double>(C);
  if (C <= 4095) return reduce_rows(L, n, lx, ly, R, C, red);
  // Two stages: R * C1 rows of C2, then R rows of C1 (C = C1 * C2, both <= 4095). Sums pass
  // through the intermediate as means of C2 (no fp16 overflow) and are scaled back by C2.
  const int64_t C2 = [&] {
    for (int64_t c2 = 4095; c2 > 1; --c2)
      if (C % c2 == 0 && C / c2 <= 4095) return c2;
    return int64_t{0};
  }();
  if (C2 == 0 || red.pre != Pre::None || red.post != Post::None)
    throw CompileError(where(n) + ": " + std::to_string(C) +
                       " reduced elements per output exceed 4095 and do not split into two stages of at most 4095" +
                       (red.pre != Pre::None || red.post != Post::None ? " (" + n.op + " reduces in one stage)" : ""));
  const int64_t C1 = C / C2;
  const bool sum = red.op == f::reduce::op_sum;
  Reduction first = red, second = red;
  first.scale = sum ? 1.0 / static_cast<double>(C2) : 1.0;
  second.scale = sum ? red.scale * static_cast<double>(C2) : 1.0;
  Location mid = L.scratch(lx.type, R * C1);
  reduce_rows(L, n, lx, mid, R * C1, C2, first);
  reduce_rows(L, n, mid, ly, R, C1, second);
}

bool lower_reduce(Lowering& L, const Node& n, const OpInfo&) {
  reduce(L, n);
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_reduce_ops(OpRegistry& r) {
  r.add("ReduceMean", lowering::lower_reduce, kFloatOnly);
  r.add("ReduceSum", lowering::lower_reduce, kFloatOnly);
  r.add("ReduceMax", lowering::lower_reduce, kFloatOnly);
  r.add("ReduceMin", lowering::lower_reduce, kFloatOnly);
  r.add("ReduceSumSquare", lowering::lower_reduce, kFloatOnly);
  r.add("ReduceL1", lowering::lower_reduce, kFloatOnly);
  r.add("ReduceL2", lowering::lower_reduce, kFloatOnly);
  r.add("ReduceLogSum", lowering::lower_reduce, kFloatOnly);
  r.add("ReduceLogSumExp", lowering::lower_reduce, kFloatOnly);
  r.add("ArgMax", lowering::lower_reduce, 0);  // float input, int64 indices
  r.add("ArgMin", lowering::lower_reduce, 0);
}

}  // namespace npusim::compiler
