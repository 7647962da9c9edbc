// Layout operators: Flatten, Reshape and Identity (views of the same bytes), Concat, and
// Transpose (DMA permutations and VPU tile transposes).
#include "compiler/ops/layout.h"

#include <cmath>

namespace npusim::compiler::lowering {
namespace {

/// Flatten/Reshape/Identity on row-major data: the output shares the input's bytes.
void alias(Lowering& L, const Node& n) {
  const Tensor& src = L.g_.tensor(n.inputs.at(0));
  if (L.is_spatial(src) && (src.shape[2] != 1 || src.shape[3] != 1) && !L.is_spatial(L.g_.tensor(n.outputs[0])))
    throw CompileError(where(n) + ": reshaping a spatial tensor " + shape_text(src.shape) +
                       " is not supported yet (its device layout is NHWC); only H = W = 1 is");
  const Tensor& out = L.g_.tensor(n.outputs[0]);
  auto count = [](const std::vector<int64_t>& s) {
    int64_t c = 1;
    for (const int64_t d : s) c *= d;
    return c;
  };
  if (count(src.shape) != count(out.shape))  // shape inference lets a wrong declared output through
    throw CompileError(where(n) + ": " + shape_text(src.shape) + " has " + std::to_string(count(src.shape)) +
                       " elements; the output " + shape_text(out.shape) + " has " + std::to_string(count(out.shape)));
  Location l = L.input(n, 0);
  if (L.loc_.count(out.name)) {  // a graph output: copy through the VPU instead
    return L.unary(n, L.clamp_param(-INFINITY, INFINITY));
  }
  const auto [rows, cols] = L.view(out);
  l.rows = rows;
  l.cols = cols;
  L.loc_[out.name] = l;
}

/// Concat: every input viewed as outer x inner_i rows (row-major: outer = the dimensions before
/// the axis), copied into its column range of the outer x sum(inner_i) output. Images concatenate
/// along channels (axis 1), which are the rows' elements in NHWC.
void concat(Lowering& L, const Node& n) {
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  int64_t axis = n.attr_i("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(y.shape.size());
  if (axis < 0 || axis >= static_cast<int64_t>(y.shape.size())) throw CompileError(where(n) + ": axis out of range");
  const bool image = L.is_spatial(y);
  if (image && axis != 1) throw CompileError(where(n) + ": images concatenate along channels (axis 1) only");
  auto split = [&](const Tensor& t) {  // outer, inner
    if (image) return std::pair<int64_t, int64_t>{t.shape[0] * t.shape[2] * t.shape[3], t.shape[1]};
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < static_cast<int64_t>(t.shape.size()); ++d) (d < axis ? outer : inner) *= t.shape[d];
    return std::pair<int64_t, int64_t>{outer, inner};
  };
  const auto [outer, total] = split(y);
  const Location ly = L.output(n);
  int64_t col0 = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (n.inputs[i].empty()) continue;
    const Tensor& t = L.g_.tensor(n.inputs[i]);
    if (L.is_spatial(t) != image) throw CompileError(where(n) + ": inputs mix images and other tensors");
    const auto [o, inner] = split(t);
    if (o != outer)
      throw CompileError(where(n) + ": input '" + t.name + "' does not match the output's outer dimensions");
    if (inner == 0) continue;
    Location li = L.input(n, i);
    li.rows = outer;
    li.cols = inner;
    if (li.type != ly.type) throw CompileError(where(n) + ": inputs of different types");
    const Location view{ly.region, ly.offset, outer, inner, ly.type};
    L.rows_op(
        n, {li}, {false}, view,
        [&](uint32_t dst, const std::vector<uint32_t>& src, uint32_t rows, uint32_t cols) {
          Instruction c = make(Opcode::Copy);
          c.set(f::copy::dst, dst);
          c.set(f::copy::src, src[0]);
          c.set(f::copy::rows, rows);
          c.set(f::copy::cols, cols);
          c.set(f::copy::dtype, L.code(li.type, n));
          return c;
        },
        RowsWalk{total, col0});
    col0 += inner;
  }
}

std::vector<int64_t> permuted(const std::vector<int64_t>& shape, const std::vector<int64_t>& perm) {
  std::vector<int64_t> s;
  for (int64_t p : perm) s.push_back(shape[static_cast<size_t>(p)]);
  return s;
}

int64_t x_rows(const std::vector<int64_t>& s) {  // product of all but the last dimension
  int64_t r = 1;
  for (size_t i = 0; i + 1 < s.size(); ++i) r *= s[i];
  return r;
}

/// out = in with axes permuted by `perm` (perm.back() = the last axis): loads walk the input in
/// output order, split along the outermost output axis to fit the scratchpad.
void dma_permute(Lowering& L, const Node& n, const Location& in, const std::vector<int64_t>& shape,
                 const std::vector<int64_t>& perm, const Location& out) {
  const auto rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> in_stride(static_cast<size_t>(rank), 1);  // elements
  for (int64_t d = rank - 1; d-- > 0;) in_stride[d] = in_stride[d + 1] * shape[d + 1];
  const auto os = permuted(shape, perm);
  const int64_t cols = os.back(), es = bytes_of(in.type);
  // Box dimensions innermost first: the output's axes from last to first.
  std::vector<uint32_t> box;
  std::vector<int64_t> strides;
  for (int64_t i = rank - 1; i >= 0; --i) {
    box.push_back(static_cast<uint32_t>(os[i]));
    if (i < rank - 1) strides.push_back(in_stride[perm[i]]);
  }
  const int64_t outer = os[0], inner_rows = std::max<int64_t>(1, (rank > 1 ? x_rows(os) / outer : 1));
  const uint32_t row_l = L.lines(1, static_cast<uint64_t>(cols), static_cast<unsigned>(es));
  int64_t chunk = outer;  // outermost indices per load
  while (chunk > 1 && uint64_t{row_l} * chunk * inner_rows * L.t_.line_bytes > L.t_.spad_bytes) chunk = (chunk + 1) / 2;
  if (uint64_t{row_l} * chunk * inner_rows * L.t_.line_bytes > L.t_.spad_bytes)
    throw CompileError(where(n) + ": one slice of the transpose does not fit the scratchpad");
  for (int64_t o0 = 0; o0 < outer; o0 += chunk) {
    const int64_t oc = std::min(chunk, outer - o0);
    std::vector<uint32_t> b = box;
    b.back() = static_cast<uint32_t>(oc);
    Instruction l = make(Opcode::Load);
    l.set(f::load::desc, L.desc_nd(in.region, in.type, in.offset, b, strides));
    l.set(f::load::off, static_cast<uint32_t>(o0 * (rank > 1 ? in_stride[perm[0]] : 1)));
    L.emit(l, kGo, 1, kL2V);
    Instruction c = make(Opcode::Copy);  // the VPU hands the tile on unchanged (keeps the chain)
    c.set(f::copy::dst, static_cast<uint32_t>(row_l * chunk * inner_rows));
    c.set(f::copy::src, 0);
    c.set(f::copy::rows, static_cast<uint32_t>(oc * inner_rows));
    c.set(f::copy::cols, static_cast<uint32_t>(cols));
    c.set(f::copy::dtype, L.code(in.type, n));
    L.emit(c, kL2V, 1, kV2S);
    Instruction st = make(Opcode::Store);
    st.set(f::store::src, static_cast<uint32_t>(row_l * chunk * inner_rows));
    st.set(f::store::desc, L.desc(out.region, out.type, out.offset, static_cast<uint32_t>(cols),
                                  static_cast<uint32_t>(oc * inner_rows), cols));
    st.set(f::store::off, static_cast<uint32_t>(o0 * inner_rows * cols));
    L.emit(st, kV2S, 1, kGo);
  }
}

/// out[..., c, r] = in[..., r, c]: tiles of the R x C matrices turned by `copy transpose`.
void swap_last_two(Lowering& L, const Node& n, const Location& in, const std::vector<int64_t>& shape,
                   const Location& out) {
  const int64_t R = shape[shape.size() - 2], C = shape.back(), batches = x_rows(shape) / R;
  const auto es = static_cast<unsigned>(bytes_of(in.type));
  int64_t tr = std::min<int64_t>(R, 4095), tc = std::min<int64_t>(C, 4095);
  auto fits = [&] { return uint64_t{L.lines(tr, tc, es) + L.lines(tc, tr, es)} * L.t_.line_bytes <= L.t_.spad_bytes; };
  while (!fits() && (tr > 1 || tc > 1)) {
    if (tr >= tc)
      tr = (tr + 1) / 2;
    else
      tc = (tc + 1) / 2;
  }
  if (!fits()) throw CompileError(where(n) + ": no transpose tile fits the scratchpad");
  const uint32_t dst = L.lines(tr, tc, es);
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t r0 = 0; r0 < R; r0 += tr)
      for (int64_t c0 = 0; c0 < C; c0 += tc) {
        const auto rr = static_cast<uint32_t>(std::min(tr, R - r0)), cc = static_cast<uint32_t>(std::min(tc, C - c0));
        L.emit(L.tile_load(0, in, b * R * C, r0, c0, rr, cc, C), kGo, 1, kL2V);
        Instruction t = make(Opcode::Copy);
        t.set(f::copy::transpose, 1);
        t.set(f::copy::dst, dst);
        t.set(f::copy::src, 0);
        t.set(f::copy::rows, rr);
        t.set(f::copy::cols, cc);
        t.set(f::copy::dtype, L.code(in.type, n));
        L.emit(t, kL2V, 1, kV2S);
        Instruction st = make(Opcode::Store);
        st.set(f::store::src, dst);
        st.set(f::store::desc, L.desc(out.region, out.type, out.offset, rr, cc, R));
        st.set(f::store::off, static_cast<uint32_t>(b * R * C + c0 * R + r0));
        L.emit(st, kV2S, 1, kGo);
      }
}

}  // namespace

std::string permute(Lowering& L, const Node& n, const Location& lx, const std::vector<int64_t>& shape,
                    const std::vector<int64_t>& perm, const Location& ly) {
  const auto rank = static_cast<int64_t>(shape.size());
  if (rank < 1 || rank > 4) return "rank " + std::to_string(rank) + " (the DMA moves take 1 to 4 axes)";
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 1 || d > 4095) return "dimension " + std::to_string(d) + " (the DMA moves take 1 to 4095)";
    elements *= d;
  }
  const int64_t last = rank - 1;
  if (perm[last] == last) {
    dma_permute(L, n, lx, shape, perm, ly);
    return "";
  }
  // 1: q next to the last axis; 2: swap the last two; 3: the leading axes into place.
  const int64_t q = perm[last];
  std::vector<int64_t> p1;
  for (int64_t i = 0; i < rank; ++i)
    if (i != q && i != last) p1.push_back(i);
  p1.push_back(q);
  p1.push_back(last);
  const auto s1 = permuted(shape, p1);
  const Location t1 = L.scratch(lx.type, elements);
  dma_permute(L, n, lx, shape, p1, t1);
  std::vector<int64_t> s2 = s1;
  std::swap(s2[last - 1], s2[last]);
  const std::vector<int64_t> axes2 = [&] {  // input axis of each axis of the swapped tensor
    std::vector<int64_t> a = p1;
    std::swap(a[last - 1], a[last]);
    return a;
  }();
  const bool direct = std::equal(axes2.begin(), axes2.end(), perm.begin());
  const Location t2 = direct ? ly : L.scratch(lx.type, elements);
  swap_last_two(L, n, t1, s1, t2);
  if (direct) return "";
  std::vector<int64_t> p3;  // output axis i = axis p3[i] of the swapped tensor
  for (int64_t i = 0; i < rank; ++i) p3.push_back(std::find(axes2.begin(), axes2.end(), perm[i]) - axes2.begin());
  dma_permute(L, n, t2, s2, p3, ly);
  return "";
}

namespace {

// ------------------------------------------------------------------ Transpose
/// Transpose (rank <= 4, row-major tensors) as layout changes on the NPU (permute()). Returns
/// false when the tensor does not fit these moves (then the host kernel runs it).
bool transpose(Lowering& L, const Node& n) {
  check_host_op(n, L.g_, 0);  // perm: a permutation of the input's axes
  const Tensor& x = L.g_.tensor(n.inputs.at(0));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const auto rank = static_cast<int64_t>(x.shape.size());
  if (rank < 2 || rank > 4 || L.is_spatial(x) || L.is_spatial(y) || x.elements() == 0) return false;
  std::vector<int64_t> perm;
  if (auto it = n.attrs.find("perm"); it != n.attrs.end() && !it->second.ints.empty())
    perm = it->second.ints;
  else
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  for (int64_t d : x.shape)
    if (d > 4095) return false;
  return permute(L, n, L.input(n, 0), x.shape, perm, L.output(n)).empty();
}

bool lower_alias(Lowering& L, const Node& n, const OpInfo&) {
  alias(L, n);
  return true;
}

bool lower_concat(Lowering& L, const Node& n, const OpInfo&) {
  concat(L, n);
  return true;
}

bool lower_transpose(Lowering& L, const Node& n, const OpInfo&) {
  return transpose(L, n);
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_layout_ops(OpRegistry& r) {
  r.add("Concat", lowering::lower_concat, 0);
  r.add("Flatten", lowering::lower_alias, 0);
  r.add("Reshape", lowering::lower_alias, 0);
  r.add("Identity", lowering::lower_alias, kElementwise);
  r.add("Transpose", lowering::lower_transpose, 0);
}

}  // namespace npusim::compiler
