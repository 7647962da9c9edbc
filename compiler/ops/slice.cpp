// Slice and Split: strided box copies out of the input (layout.h), in either layout (an image's
// channel slices are column ranges of its NHWC rows, its H and W slices row ranges).
#include "compiler/op_registry.h"
#include "compiler/ops/layout.h"

namespace npusim::compiler::lowering {
namespace {

/// Slice: output index i along axis d reads input index start_d + i * step_d (steps may be
/// negative: those axes become program loops, the DMA strides being non-negative).
bool lower_slice(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const auto rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (L.g_.opset < 10) {  // opset 1-9: attributes
    auto ints = [&](const char* k) {
      auto it = n.attrs.find(k);
      return it == n.attrs.end() ? std::vector<int64_t>{} : it->second.ints;
    };
    starts = ints("starts"), ends = ints("ends"), axes = ints("axes");
  } else {
    starts = const_ints(L, n, 1, "starts");
    ends = const_ints(L, n, 2, "ends");
    if (n.inputs.size() > 3 && !n.inputs[3].empty()) axes = const_ints(L, n, 3, "axes");
    if (n.inputs.size() > 4 && !n.inputs[4].empty()) steps = const_ints(L, n, 4, "steps");
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    throw CompileError(where(n) + ": starts, ends, axes and steps must have the same length");
  View src = input_view(L, n, 0, L.is_spatial(y));
  const View dst = output_view(L, n);
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t k = 0; k < starts.size(); ++k) {
    int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
    if (a < 0 || a >= rank || seen[a])
      throw CompileError(where(n) + ": axis " + std::to_string(axes[k]) + " is invalid");
    seen[a] = true;
    const int64_t d = x.shape[a], step = steps[k];
    if (step == 0) throw CompileError(where(n) + ": a step is 0");
    int64_t s = starts[k] < 0 ? starts[k] + d : starts[k], e = ends[k] < 0 ? ends[k] + d : ends[k];
    if (step > 0) {  // clamped as the Slice definition says
      s = std::clamp<int64_t>(s, 0, d), e = std::clamp<int64_t>(e, 0, d);
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1), e = std::clamp<int64_t>(e, -1, d - 1);
    }
    const int64_t count = step > 0 ? std::max<int64_t>(0, (e - s + step - 1) / step)
                                   : std::max<int64_t>(0, (s - e + (-step) - 1) / (-step));
    if (count != y.shape[a])
      throw CompileError(where(n) + ": axis " + std::to_string(a) + " slices " + std::to_string(count) +
                         " elements; the output has " + std::to_string(y.shape[a]));
    if (count == 0) return true;
    src.off += s * src.stride[a];
    src.stride[a] *= step;
  }
  copy_view(L, n, src, dst);
  return true;
}

/// Split: output i is the range [sum of the sizes before it, + its size) of the axis.
bool lower_split(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  int64_t axis = n.attr_i("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(x.shape.size());
  if (axis < 0 || axis >= static_cast<int64_t>(x.shape.size())) throw CompileError(where(n) + ": axis out of range");
  int64_t at = 0;
  std::map<bool, View> in;  // the input in each layout an output needs
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    if (n.outputs[i].empty()) continue;
    const Tensor& y = L.g_.tensor(n.outputs[i]);
    const bool sp = L.is_spatial(y);
    if (!in.count(sp)) in.emplace(sp, input_view(L, n, 0, sp));
    View src = in.at(sp);
    src.off += at * src.stride[axis];
    copy_view(L, n, src, output_view(L, n, i));
    at += y.shape[axis];
  }
  if (at > x.shape[axis])
    throw CompileError(where(n) + ": the outputs take " + std::to_string(at) + " of the axis' " +
                       std::to_string(x.shape[axis]) + " elements");
  return true;
}

}  // namespace

void register_slice_ops(OpRegistry& r) {
  r.add("Slice", lower_slice, kAnyLayout);
  r.add("Split", lower_split, kAnyLayout);
}

}  // namespace npusim::compiler::lowering
