// Layout operators: Flatten, Reshape, Squeeze, Unsqueeze and Identity (views of the same bytes, or
// a change of layout when an image becomes another tensor), Concat (box copies into the output),
// Transpose (a permutation of the device bytes), and the moves the layout family shares
// (layout.h, layout_moves.cpp: strided box copies, permutations, layout changes, fills).
#include "compiler/ops/layout.h"

#include <cmath>
#include <numeric>

#include "compiler/host_kernels.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

// ------------------------------------------------------------------ operators
/// Flatten/Reshape/Squeeze/Unsqueeze/Identity: the output shares the input's bytes when they are
/// the same in both tensors' layouts (row-major to row-major, or an image with H * W = 1 or C = 1);
/// otherwise the input changes layout into the output (an image becomes row-major NCHW first, and
/// a row-major result that is an image becomes NHWC).
bool lower_alias(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& src = L.g_.tensor(n.inputs.at(0));
  const Tensor& out = L.g_.tensor(n.outputs[0]);
  if (src.elements() != out.elements())  // shape inference lets a wrong declared output through
    throw CompileError(where(n) + ": " + shape_text(src.shape) + " has " + std::to_string(src.elements()) +
                       " elements; the output " + shape_text(out.shape) + " has " + std::to_string(out.elements()));
  const bool si = L.is_spatial(src), so = L.is_spatial(out);
  auto plain = [](const Tensor& t, bool spatial) {
    return !spatial || t.shape[1] == 1 || t.shape[2] * t.shape[3] == 1;
  };
  Location l = L.input(n, 0);
  if (!(plain(src, si) && plain(out, so)) && !(si && so && src.shape == out.shape)) {
    const Location ly = L.output(n);
    if (!so) return relayout(L, n, src.name, l, src.shape, true, false, ly), true;
    Location rm = l;  // the input row-major, then NHWC into the output
    if (!plain(src, si)) {
      rm = L.scratch(l.type, src.elements());
      relayout(L, n, src.name, l, src.shape, true, false, rm);
    }
    relayout(L, n, out.name, rm, out.shape, false, true, ly);
    return true;
  }
  if (L.loc_.count(out.name)) {  // a graph output: copy through the VPU instead
    L.unary(n, L.clamp_param(-INFINITY, INFINITY));
    return true;
  }
  const auto [rows, cols] = L.view(out);
  l.rows = rows;
  l.cols = cols;
  L.loc_[out.name] = l;
  return true;
}

/// Concat: every input (in the output's layout, changed when it differs) box-copied into its
/// range of the output along the axis (for an image along channels: column ranges of NHWC rows).
bool lower_concat(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  int64_t axis = n.attr_i("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(y.shape.size());
  if (axis < 0 || axis >= static_cast<int64_t>(y.shape.size())) throw CompileError(where(n) + ": axis out of range");
  View out = output_view(L, n);
  int64_t at = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (n.inputs[i].empty()) continue;
    const Tensor& t = L.g_.tensor(n.inputs[i]);
    if (t.shape.size() != y.shape.size())
      throw CompileError(where(n) + ": input '" + t.name + "' has rank " + std::to_string(t.shape.size()) +
                         "; the output has " + std::to_string(y.shape.size()));
    if (t.elements() == 0) continue;
    const View in = input_view(L, n, i, L.is_spatial(y));
    if (in.loc.type != out.loc.type) throw CompileError(where(n) + ": inputs of different types");
    View dst = out;
    dst.shape = t.shape;
    dst.off = at * out.stride[axis];
    copy_view(L, n, in, dst);
    at += t.shape[axis];
  }
  return true;
}

/// Transpose as one permutation of device bytes: the input's device bytes are a row-major tensor
/// (an image's are [N, H, W, C]), the output's too, so y's device axes are a permutation q of x's
/// (q[k] = a[perm[b[k]]], a: x's ONNX axes on its device axes, b: y's device axes on its ONNX
/// axes). An NHWC image permuted by [0, 2, 3, 1] to a row-major tensor, or the reverse by
/// [0, 3, 1, 2], is the same bytes: the output aliases the input.
bool lower_transpose(Lowering& L, const Node& n, const OpInfo&) {
  check_host_op(n, L.g_, 0);  // perm: a permutation of the input's axes
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const auto rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> perm;
  if (auto it = n.attrs.find("perm"); it != n.attrs.end() && !it->second.ints.empty())
    perm = it->second.ints;
  else
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  if (x.elements() == 0) return L.decline(n, "empty tensors are not supported");
  const auto [dev, a] = device_form(x.shape, L.is_spatial(x));
  std::vector<int64_t> b(static_cast<size_t>(rank));
  std::iota(b.begin(), b.end(), 0);
  if (L.is_spatial(y)) b = {0, 2, 3, 1};
  std::vector<int64_t> q;
  for (int64_t k = 0; k < rank; ++k) q.push_back(a[perm[b[k]]]);
  if (same_bytes(dev, q) && !L.loc_.count(y.name)) {
    Location l = L.input(n, 0);
    const auto [rows, cols] = L.view(y);
    l.rows = rows, l.cols = cols;
    L.loc_[y.name] = l;
    return true;
  }
  const Location lx = L.input(n, 0), ly = L.output(n);
  const std::string why = permute(L, n, lx, dev, q, ly);
  if (!why.empty()) return L.decline(n, why);
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_layout_ops(OpRegistry& r) {
  r.add("Concat", lowering::lower_concat, kAnyLayout);
  r.add("Flatten", lowering::lower_alias, 0);
  r.add("Reshape", lowering::lower_alias, 0);
  r.add("Squeeze", lowering::lower_alias, 0);
  r.add("Unsqueeze", lowering::lower_alias, 0);
  r.add("Identity", lowering::lower_alias, kElementwise);
  r.add("Transpose", lowering::lower_transpose, 0);
  lowering::register_slice_ops(r);
  lowering::register_pad_ops(r);
}

}  // namespace npusim::compiler
