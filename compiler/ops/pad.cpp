// Pad, Expand and Tile: box copies into the output (layout.h), in either layout. Pad fills the
// output with the constant first (constant mode) and copies the input into its interior; edge
// and reflect modes then copy the border, axis by axis, from the output itself (a stride of 0
// repeats the edge, a backward walk mirrors it).
#include <map>

#include "compiler/op_registry.h"
#include "compiler/ops/layout.h"

namespace npusim::compiler::lowering {
namespace {

bool lower_pad(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const auto rank = static_cast<int64_t>(x.shape.size());
  const std::string mode = n.attrs.count("mode") ? n.attrs.at("mode").s : "constant";
  if (mode != "constant" && mode != "edge" && mode != "reflect")
    return L.decline(n, "mode '" + mode + "' is not supported (constant, edge, reflect)");
  std::vector<int64_t> pads;
  double value = 0;
  if (L.g_.opset < 11) {  // opset 2-10: attributes
    if (n.attrs.count("pads")) pads = n.attrs.at("pads").ints;
    value = n.attr_f("value", 0);
  } else {
    pads = const_ints(L, n, 1, "pads");
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) value = L.const_scalar(n, 2);
    if (n.inputs.size() > 3 && !n.inputs[3].empty()) {  // opset 18: the axes the pads are for
      const auto axes = const_ints(L, n, 3, "axes");
      std::vector<int64_t> full(static_cast<size_t>(2 * rank), 0);
      if (pads.size() != 2 * axes.size()) throw CompileError(where(n) + ": pads must have 2 entries per axis");
      for (size_t k = 0; k < axes.size(); ++k) {
        const int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
        full[a] = pads[k], full[a + rank] = pads[k + axes.size()];
      }
      pads = full;
    }
  }
  if (static_cast<int64_t>(pads.size()) != 2 * rank)
    throw CompileError(where(n) + ": pads has " + std::to_string(pads.size()) + " entries; the input has rank " +
                       std::to_string(rank));
  const View src = input_view(L, n, 0, L.is_spatial(y));
  const View out = output_view(L, n);
  bool grows = false;
  std::vector<int64_t> lo(static_cast<size_t>(rank)), ext(static_cast<size_t>(rank));  // the interior in y
  View in = src, dst = out;
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t b = pads[d], e = pads[d + rank];
    if (b + x.shape[d] + e != y.shape[d])
      throw CompileError(where(n) + ": axis " + std::to_string(d) + " pads to " + std::to_string(b + x.shape[d] + e) +
                         "; the output has " + std::to_string(y.shape[d]));
    if (mode != "constant" && (b < 0 || e < 0)) throw CompileError(where(n) + ": negative pads in " + mode + " mode");
    if (mode == "reflect" && (b >= x.shape[d] || e >= x.shape[d]))
      throw CompileError(where(n) + ": reflect pads must be smaller than the axis (" + std::to_string(x.shape[d]) +
                         ")");
    grows = grows || b > 0 || e > 0;
    lo[d] = std::max<int64_t>(0, b);
    ext[d] = x.shape[d] - std::max<int64_t>(0, -b) - std::max<int64_t>(0, -e);  // negative pads crop
    in.off += std::max<int64_t>(0, -b) * in.stride[d];
    dst.off += lo[d] * dst.stride[d];
  }
  if (y.elements() == 0) return true;
  if (grows && mode == "constant") fill_value(L, n, out.loc, 0, y.elements(), value);
  in.shape = dst.shape = ext;
  copy_view(L, n, in, dst);
  if (mode == "constant") return true;
  for (int64_t d = 0; d < rank; ++d) {  // the borders of axis d; axes before it are already whole
    View region = out, from = out;
    region.shape = y.shape;
    for (int64_t k = d + 1; k < rank; ++k) {
      region.shape[k] = ext[k];
      region.off += lo[k] * out.stride[k];
    }
    from.off = region.off;
    const int64_t b = pads[d], e = pads[d + rank], s = out.stride[d], last = b + x.shape[d] - 1;
    for (const auto& [first, count, src_index] :
         {std::tuple<int64_t, int64_t, int64_t>{0, b, 2 * b}, {last + 1, e, last - 1}}) {
      if (count == 0) continue;
      View r = region, f = from;
      r.shape[d] = count;
      r.off += first * s;
      f.shape = r.shape;
      f.stride = out.stride;
      if (mode == "edge") {  // every border index reads the edge
        f.off += (first == 0 ? b : last) * s;
        f.stride[d] = 0;
      } else {  // border index i reads 2 * edge - i: walking backwards
        f.off += src_index * s;
        f.stride[d] = -s;
      }
      copy_view(L, n, f, r);
    }
  }
  return true;
}

/// Expand: the input broadcast to the output's shape (right-aligned; a size-1 axis repeats with
/// stride 0).
bool lower_expand(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  if (x.shape.size() > y.shape.size()) throw CompileError(where(n) + ": the output has a lower rank than the input");
  const View in = input_view(L, n, 0, L.is_spatial(y) && x.shape.size() == 4);
  View src = output_view(L, n), dst = src;
  const size_t lead = y.shape.size() - x.shape.size();
  src.loc = in.loc, src.off = in.off;
  for (size_t k = 0; k < y.shape.size(); ++k) {
    const bool repeat = k < lead || x.shape[k - lead] == 1;
    if (!repeat && x.shape[k - lead] != y.shape[k])
      throw CompileError(where(n) + ": " + shape_text(x.shape) + " does not broadcast to " + shape_text(y.shape));
    src.stride[k] = repeat ? 0 : in.stride[k - lead];
  }
  copy_view(L, n, src, dst);
  return true;
}

/// Tile: output axis d as (repeat r, index i) reads input index i: each axis split in two, the
/// repeat with source stride 0.
bool lower_tile(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const View in = input_view(L, n, 0, L.is_spatial(y));
  const View out = output_view(L, n);
  std::vector<Axis> axes;
  for (size_t d = 0; d < x.shape.size(); ++d) {
    if (x.shape[d] == 0) return true;
    if (y.shape[d] % x.shape[d]) throw CompileError(where(n) + ": the output is not a whole number of repeats");
    axes.push_back({y.shape[d] / x.shape[d], 0, x.shape[d] * out.stride[d]});
    axes.push_back({x.shape[d], in.stride[d], out.stride[d]});
  }
  copy_box(L, n, in.loc, in.off, out.loc, out.off, axes);
  return true;
}

}  // namespace

void register_pad_ops(OpRegistry& r) {
  r.add("Pad", lower_pad, kAnyLayout);
  r.add("Expand", lower_expand, 0);
  r.add("Tile", lower_tile, 0);
}

}  // namespace npusim::compiler::lowering
