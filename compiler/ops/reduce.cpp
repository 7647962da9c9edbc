// Reductions: ReduceMean, ReduceSum, ReduceMax and ReduceMin over any axes (attribute, or a
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
  // Storage order of X's ONNX axes (NHWC images: N, H, W, C) and the order the kept axes take in
  // Y's storage (Y is an image only with keepdims, then its reduced axes have size 1).
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
  const std::vector<int64_t> y_order = y_image ? std::vector<int64_t>{0, 2, 3, 1} : x_order;
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
  if (C > 4095) throw CompileError(where(n) + ": " + std::to_string(C) + " reduced elements per output exceed 4095");
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
  const unsigned es = bytes_of(lx.type);
  const bool mean = n.op == "ReduceMean";
  int64_t tr = std::min<int64_t>(R, 4095);
  auto fits = [&] {
    return uint64_t{L.lines(tr, C, es) + L.lines(tr, 1, es)} * L.t_.line_bytes <= L.t_.spad_bytes &&
           uint64_t{L.lines(tr, 1, 4)} * L.t_.line_bytes <= L.t_.acc_bytes;
  };
  while (!fits() && tr > 1) tr = (tr + 1) / 2;
  if (!fits())
    throw CompileError(where(n) + ": a row of " + std::to_string(C) + " elements does not fit the scratchpad");
  const uint32_t sx = 0, sy = L.lines(tr, C, es);
  const uint32_t rq = mean ? L.to_device_param(static_cast<float>(1.0 / static_cast<double>(C))) : 0;
  for (int64_t r0 = 0; r0 < R; r0 += tr) {
    const auto rr = static_cast<uint32_t>(std::min(tr, R - r0)), cc = static_cast<uint32_t>(C);
    L.emit(L.tile_load(sx, lx, 0, r0, 0, rr, cc, C), kGo, 1, kL2V);
    Instruction red = make(Opcode::Reduce);  // one element per row: in the accumulator for a mean
    red.set(f::reduce::dst, mean ? 0 : sy);
    red.set(f::reduce::dst_acc, mean ? 1 : 0);
    red.set(f::reduce::src, sx);
    red.set(f::reduce::rows, rr);
    red.set(f::reduce::cols, cc);
    red.set(f::reduce::dtype, L.code(lx.type, n));
    red.set(f::reduce::op, n.op == "ReduceMax"   ? f::reduce::op_max
                           : n.op == "ReduceMin" ? f::reduce::op_min
                                                 : f::reduce::op_sum);
    L.emit(red, kL2V, 1, mean ? -1 : kV2S);
    if (mean) {  // Y = sum x (1/C), converted once from fp32
      Instruction q = make(Opcode::Requant);
      q.set(f::requant::dst, sy);
      q.set(f::requant::src, 0);
      q.set(f::requant::rows, rr);
      q.set(f::requant::cols, 1);
      q.set(f::requant::dtype, L.code(ly.type, n));
      q.set(f::requant::q, rq);
      L.emit(q, -1, 1, kV2S);
    }
    Instruction st = make(Opcode::Store);  // rr rows of one element: rr consecutive outputs
    st.set(f::store::src, sy);
    st.set(f::store::desc, L.desc(ly.region, ly.type, ly.offset, 1, rr, 1));
    st.set(f::store::off, static_cast<uint32_t>(r0));
    L.emit(st, kV2S, 1, kGo);
  }
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
}

}  // namespace npusim::compiler
