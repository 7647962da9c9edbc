// The layout family's shared moves (compiler/ops/layout_moves.cpp), used by layout.cpp (Reshape,
// Flatten, Squeeze, Unsqueeze, Identity, Concat, Transpose), slice.cpp (Slice, Split) and pad.cpp
// (Pad, Expand, Tile).
//
// The layout rule: an image (is_spatial: a rank-4 [N, C, H, W] tensor of image operators) is
// stored NHWC, every other tensor row-major. Its device bytes are therefore the row-major tensor
// [N, H, W, C], the image permuted by [0, 2, 3, 1]; a change of layout is a transpose of the
// device bytes (permute()), and a tensor with H * W = 1 or C = 1 has the same bytes in both.
// Every other layout operator is a strided box copy (copy_box()) between ONNX-axis views of the
// device bytes (View: per-axis element strides in the tensor's own layout).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {

/// One axis of a strided copy: `extent` indices, `src`/`dst` element strides (src may be 0 to
/// repeat, or negative to walk backwards; dst is positive).
struct Axis {
  int64_t extent = 1, src = 0, dst = 0;
};

/// A tensor's device bytes seen along its ONNX axes: element i0, i1, ... lies at element
/// off + sum(i_k * stride[k]) of `loc`.
struct View {
  Location loc;                 ///< where the bytes are
  std::vector<int64_t> shape;   ///< ONNX shape
  std::vector<int64_t> stride;  ///< element strides per ONNX axis in the device layout
  int64_t off = 0;              ///< element offset of index 0
};

/// Element strides of each ONNX axis of `shape` stored NHWC (`spatial`) or row-major.
std::vector<int64_t> layout_strides(const std::vector<int64_t>& shape, bool spatial);

/// dst[...] = src[...] over the axes (any order, any rank): the axes are simplified (size 1
/// dropped, contiguous ones merged), one whose stride is 1 on both sides becomes the DMA rows
/// (else rows of one element), up to three more go into the load/store boxes and the rest, with
/// every backward (negative-stride) axis, into loops of the program. Each box runs as load → VPU
/// copy → store in the usual chain.
void copy_box(Lowering& L, const Node& n, const Location& src, int64_t src_off, const Location& dst, int64_t dst_off,
              std::vector<Axis> axes);
/// copy_box of a whole view into another of the same shape.
void copy_view(Lowering& L, const Node& n, const View& src, const View& dst);

/// out = in (row-major, shape `shape`) with axes permuted by `perm`, on the NPU: unit axes dropped
/// and axes that stay adjacent merged, then DMA permutations (the last axis stays last) and VPU
/// tile transposes (the last two axes swap). An identity after simplification is a plain copy.
/// Returns an empty string, or why it cannot run (then nothing was emitted).
std::string permute(Lowering& L, const Node& n, const Location& in, const std::vector<int64_t>& shape,
                    const std::vector<int64_t>& perm, const Location& out);
/// Whether permuting `shape` by `perm` keeps every element in place (only unit axes move).
bool same_bytes(const std::vector<int64_t>& shape, const std::vector<int64_t>& perm);

/// The device bytes of a tensor (ONNX shape s, NHWC when `spatial`) as a row-major tensor: its
/// shape, and the ONNX tensor's axes as a permutation of it (an image [N, C, H, W] is
/// [N, H, W, C] permuted by [0, 3, 1, 2]).
std::pair<std::vector<int64_t>, std::vector<int64_t>> device_form(const std::vector<int64_t>& s, bool spatial);
/// Writes tensor `name` (ONNX shape s at `l`, NHWC when `from`) into `out` in layout `to`.
void relayout(Lowering& L, const Node& n, const std::string& name, const Location& l, const std::vector<int64_t>& s,
              bool from, bool to, const Location& out);

/// Input i of n as a view in the layout `spatial` (rank-4 inputs only may be NHWC): its own bytes
/// when the layouts agree (or the bytes are the same), else a copy changed to that layout in
/// scratch space.
View input_view(Lowering& L, const Node& n, size_t i, bool spatial);
/// Output i of n as a view in its own layout.
View output_view(Lowering& L, const Node& n, size_t i = 0);

/// Fills `elements` elements of `dst` from element `off` with `value` (fill, VPU copy, store).
void fill_value(Lowering& L, const Node& n, const Location& dst, int64_t off, int64_t elements, double value);

/// A constant integer input (shape operands: pads, starts, split ...) as values; `what` names it
/// in the error when it is not constant.
std::vector<int64_t> const_ints(Lowering& L, const Node& n, size_t i, const std::string& what);

// The families beside layout.cpp (registered from register_layout_ops).
void register_slice_ops(OpRegistry& r);
void register_pad_ops(OpRegistry& r);

}  // namespace npusim::compiler::lowering
