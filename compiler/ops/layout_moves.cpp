// The layout family's shared moves (layout.h): box copies, permutations of device bytes, layout
// changes, fills and constant operands.
#include <Eigen/Core>
#include <algorithm>
#include <numeric>

#include "compiler/ops/layout.h"

namespace npusim::compiler::lowering {

std::vector<int64_t> layout_strides(const std::vector<int64_t>& s, bool spatial) {
  if (spatial && s.size() == 4) return {s[2] * s[3] * s[1], 1, s[3] * s[1], s[1]};  // NHWC
  std::vector<int64_t> st(s.size(), 1);
  for (size_t d = s.size(); d-- > 1;) st[d - 1] = st[d] * s[d];
  return st;
}

void copy_box(Lowering& L, const Node& n, const Location& src, int64_t src_off, const Location& dst, int64_t dst_off,
              std::vector<Axis> axes) {
  if (src.type != dst.type) throw CompileError(where(n) + ": a copy between tensors of different types");
  if (src.type == isa::TensorType::I32) {  // the VPU copies no int32: moved as 4 bytes (i8) each
    Location s8 = src, d8 = dst;
    s8.type = d8.type = isa::TensorType::I8;
    for (Axis& a : axes) a.src *= 4, a.dst *= 4;
    axes.push_back({4, 1, 1});
    return copy_box(L, n, s8, src_off * 4, d8, dst_off * 4, axes);
  }
  std::vector<Axis> loops, rest;  // loops: walked by the program; rest: candidates for the boxes
  for (const Axis& a : axes) {
    if (a.extent == 0) return;
    if (a.extent > 1) (a.src < 0 ? loops : rest).push_back(a);
  }
  // Outermost first by destination stride, then contiguous neighbours merged.
  std::stable_sort(rest.begin(), rest.end(), [](const Axis& a, const Axis& b) { return a.dst > b.dst; });
  for (size_t i = rest.size(); i-- > 1;) {
    Axis &o = rest[i - 1], &in = rest[i];
    if (o.src == in.src * in.extent && o.dst == in.dst * in.extent) {
      in.extent *= o.extent;
      rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(i - 1));
    }
  }
  if (rest.empty() || rest.back().src != 1 || rest.back().dst != 1) rest.push_back({1, 1, 1});  // rows of one
  if (rest.back().extent > 4095) {  // a row holds at most 4095 elements: split it by a divisor
    int64_t k = 4095;
    const int64_t e = rest.back().extent;
    while (e % k) --k;
    if (k < 1024) {  // no good divisor: rows of 4095 (a whole number of them), then the rest
      std::vector<Axis> head = loops, tail = loops;
      head.insert(head.end(), rest.begin(), rest.end() - 1);
      tail.insert(tail.end(), rest.begin(), rest.end() - 1);
      head.push_back({e / 4095, 4095, 4095});
      head.push_back({4095, 1, 1});
      tail.push_back({e % 4095, 1, 1});
      copy_box(L, n, src, src_off, dst, dst_off, head);
      const int64_t done = e / 4095 * 4095;
      return copy_box(L, n, src, src_off + done, dst, dst_off + done, tail);
    }
    rest.back().extent = k;
    rest.insert(rest.end() - 1, Axis{e / k, k, k});
  }
  const int64_t cols = rest.back().extent;
  const unsigned es = bytes_of(src.type);
  const uint32_t row_l = L.lines(1, static_cast<uint64_t>(cols), es);
  const int64_t max_rows =
      std::min<int64_t>(4095, static_cast<int64_t>(L.t_.spad_bytes / (2ull * row_l * L.t_.line_bytes)));
  if (max_rows < 1)
    throw CompileError(where(n) + ": one row of " + std::to_string(cols) + " elements does not fit the scratchpad");
  // Box dimensions 1..3 from the inner end while whole ones fit; the next is chunked.
  std::vector<Axis> box{rest.back()};
  rest.pop_back();
  int64_t rows = 1, chunk = 0;  // chunk: indices of the outermost box axis per move (0: all of it)
  while (!rest.empty() && box.size() < 4) {
    const Axis a = rest.back();
    if (rows * a.extent <= max_rows) {
      rows *= a.extent;
      box.push_back(a);
      rest.pop_back();
      continue;
    }
    if (max_rows / rows > 1) {
      chunk = max_rows / rows;
      box.push_back(a);
      rest.pop_back();
    }
    break;
  }
  const bool chunked = chunk > 0;
  loops.insert(loops.end(), rest.begin(), rest.end());
  const int64_t outer = chunked ? box.back().extent : 1, step = chunked ? chunk : 1;
  int64_t moves = (outer + step - 1) / step;
  for (const Axis& a : loops) moves *= a.extent;
  if (moves > 200000)
    throw CompileError(where(n) + ": the copy needs " + std::to_string(moves) +
                       " DMA moves (its innermost elements are not contiguous on both sides); at most 200000");
  std::vector<int64_t> idx(loops.size(), 0);
  for (bool more = true; more;) {
    int64_t so = src_off, d0 = dst_off;
    for (size_t k = 0; k < loops.size(); ++k) so += idx[k] * loops[k].src, d0 += idx[k] * loops[k].dst;
    for (int64_t c0 = 0; c0 < outer; c0 += step) {
      std::vector<uint32_t> ext;
      std::vector<int64_t> ss, ds;
      int64_t r = 1;
      for (size_t k = 0; k < box.size(); ++k) {
        const int64_t e = (k + 1 == box.size() && chunked) ? std::min(chunk, outer - c0) : box[k].extent;
        ext.push_back(static_cast<uint32_t>(e));
        if (k > 0) ss.push_back(box[k].src), ds.push_back(box[k].dst), r *= e;
      }
      const int64_t cs = chunked ? c0 * box.back().src : 0, cd = chunked ? c0 * box.back().dst : 0;
      Instruction l = make(Opcode::Load);
      l.set(f::load::desc, L.desc_nd(src.region, src.type, src.offset, ext, ss));
      l.set(f::load::off, static_cast<uint32_t>(so + cs));
      L.emit(l, kGo, 1, kL2V);
      const auto tile = static_cast<uint32_t>(max_rows) * row_l;  // the copy's destination
      Instruction c = make(Opcode::Copy);  // the VPU hands the tile on unchanged (keeps the chain)
      c.set(f::copy::dst, tile);
      c.set(f::copy::src, 0);
      c.set(f::copy::rows, static_cast<uint32_t>(r));
      c.set(f::copy::cols, static_cast<uint32_t>(cols));
      c.set(f::copy::dtype, L.code(src.type, n));
      L.emit(c, kL2V, 1, kV2S);
      Instruction st = make(Opcode::Store);
      st.set(f::store::src, tile);
      st.set(f::store::desc, L.desc_nd(dst.region, dst.type, dst.offset, ext, ds));
      st.set(f::store::off, static_cast<uint32_t>(d0 + cd));
      L.emit(st, kV2S, 1, kGo);
    }
    more = false;  // the odometer over the loop axes
    for (size_t k = loops.size(); k-- > 0;)
      if (++idx[k] < loops[k].extent) {
        more = true;
        break;
      } else {
        idx[k] = 0;
      }
  }
}

void copy_view(Lowering& L, const Node& n, const View& src, const View& dst) {
  std::vector<Axis> axes;
  for (size_t k = 0; k < dst.shape.size(); ++k) axes.push_back({dst.shape[k], src.stride[k], dst.stride[k]});
  copy_box(L, n, src.loc, src.off, dst.loc, dst.off, axes);
}

namespace {

int64_t product(const std::vector<int64_t>& s) {
  int64_t p = 1;
  for (const int64_t d : s) p *= d;
  return p;
}

/// out[b, c, r] = in[b, r, c] for `batches` R x C matrices: tiles turned by `copy transpose`.
void swap_last_two(Lowering& L, const Node& n, const Location& in, int64_t batches, int64_t R, int64_t C,
                   const Location& out) {
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

/// Drops unit axes and merges input axes that stay adjacent (and in order) in the permutation.
void simplify(std::vector<int64_t>& s, std::vector<int64_t>& p) {
  std::vector<int64_t> idx(s.size(), -1), s2, p2;
  for (size_t a = 0; a < s.size(); ++a)
    if (s[a] != 1) idx[a] = static_cast<int64_t>(s2.size()), s2.push_back(s[a]);
  for (const int64_t k : p)
    if (idx[k] >= 0) p2.push_back(idx[k]);
  for (size_t j = 0; j + 1 < p2.size();) {
    if (p2[j] + 1 != p2[j + 1]) {
      ++j;
      continue;
    }
    const int64_t a = p2[j];
    s2[a] *= s2[a + 1];
    s2.erase(s2.begin() + a + 1);
    p2.erase(p2.begin() + static_cast<std::ptrdiff_t>(j) + 1);
    for (int64_t& q : p2)
      if (q > a) --q;
  }
  s = s2, p = p2;
}

/// A permutation keeping the last axis last, as one box copy (the store walks the output densely).
void dma_permute(Lowering& L, const Node& n, const Location& in, const std::vector<int64_t>& s,
                 const std::vector<int64_t>& p, const Location& out) {
  const auto is = layout_strides(s, false);
  std::vector<int64_t> os;
  for (const int64_t k : p) os.push_back(s[k]);
  const auto ost = layout_strides(os, false);
  std::vector<Axis> axes;
  for (size_t k = 0; k < p.size(); ++k) axes.push_back({os[k], is[p[k]], ost[k]});
  copy_box(L, n, in, 0, out, 0, axes);
}

bool is_identity(const std::vector<int64_t>& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

}  // namespace

bool same_bytes(const std::vector<int64_t>& shape, const std::vector<int64_t>& perm) {
  std::vector<int64_t> s = shape, p = perm;
  simplify(s, p);
  return is_identity(p);
}

std::string permute(Lowering& L, const Node& n, const Location& in, const std::vector<int64_t>& shape,
                    const std::vector<int64_t>& perm, const Location& out) {
  std::vector<int64_t> s = shape, p = perm;
  simplify(s, p);
  const int64_t count = product(shape);
  if (is_identity(p)) {
    copy_box(L, n, in, 0, out, 0, {Axis{count, 1, 1}});
    return "";
  }
  const auto rank = static_cast<int64_t>(s.size()), last = rank - 1;
  if (p[last] == last) {
    dma_permute(L, n, in, s, p, out);
    return "";
  }
  if (s[last] > 4095 * 4095 || s[p[last]] > 4095 * 4095) return "an axis is too long for the transpose tiles";
  // 1: the new last axis q next to the last axis; 2: swap the last two; 3: the leading axes into place.
  const int64_t q = p[last];
  std::vector<int64_t> p1;
  for (int64_t i = 0; i < rank; ++i)
    if (i != q && i != last) p1.push_back(i);
  p1.push_back(q);
  p1.push_back(last);
  std::vector<int64_t> s1;
  for (const int64_t k : p1) s1.push_back(s[k]);
  Location t1 = in;
  if (!is_identity(p1)) {
    t1 = L.scratch(in.type, count);
    dma_permute(L, n, in, s, p1, t1);
  }
  std::vector<int64_t> axes2 = p1;  // the input axis of each axis of the swapped tensor
  std::swap(axes2[last - 1], axes2[last]);
  const bool direct = axes2 == p;
  const Location t2 = direct ? out : L.scratch(in.type, count);
  swap_last_two(L, n, t1, count / (s1[last] * s1[last - 1]), s1[last - 1], s1[last], t2);
  if (direct) return "";
  std::vector<int64_t> s2 = s1, p3;  // output axis i = axis p3[i] of the swapped tensor
  std::swap(s2[last - 1], s2[last]);
  for (int64_t i = 0; i < rank; ++i) p3.push_back(std::find(axes2.begin(), axes2.end(), p[i]) - axes2.begin());
  dma_permute(L, n, t2, s2, p3, out);
  return "";
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> device_form(const std::vector<int64_t>& s, bool spatial) {
  std::vector<int64_t> id(s.size());
  std::iota(id.begin(), id.end(), 0);
  if (!spatial) return {s, id};
  return {{s[0], s[2], s[3], s[1]}, {0, 3, 1, 2}};
}

void relayout(Lowering& L, const Node& n, const std::string& name, const Location& l, const std::vector<int64_t>& s,
              bool from, bool to, const Location& out) {
  const auto [dev, a] = device_form(s, from);
  std::vector<int64_t> q = a;  // the target's device axes as axes of the source's device bytes
  if (to) q = {a[0], a[2], a[3], a[1]};
  const std::string why = permute(L, n, l, dev, q, out);
  if (!why.empty())
    throw CompileError(where(n) + ": changing the layout of '" + name + "' " + shape_text(s) + ": " + why);
}

View input_view(Lowering& L, const Node& n, size_t i, bool spatial) {
  const Tensor& t = L.g_.tensor(n.inputs.at(i));
  const Location l = L.input(n, i);
  if (t.shape.size() != 4) spatial = false;
  const bool have = L.is_spatial(t);
  if (have == spatial || t.shape[1] == 1 || t.shape[2] * t.shape[3] == 1)  // the same bytes either way
    return {l, t.shape, layout_strides(t.shape, spatial), 0};
  Location tmp = L.scratch(l.type, t.elements());
  relayout(L, n, t.name, l, t.shape, have, spatial, tmp);
  return {tmp, t.shape, layout_strides(t.shape, spatial), 0};
}

View output_view(Lowering& L, const Node& n, size_t i) {
  const Tensor& y = L.g_.tensor(n.outputs.at(i));
  return {L.output(n, i), y.shape, layout_strides(y.shape, L.is_spatial(y)), 0};
}

static void fill_pattern(Lowering& L, const Node& n, const Location& dst, int64_t off, int64_t elements,
                         uint32_t pattern);

void fill_value(Lowering& L, const Node& n, const Location& dst, int64_t off, int64_t elements, double value) {
  if (elements <= 0) return;
  uint32_t pattern = 0;
  const auto fl = static_cast<float>(value);
  switch (dst.type) {
    case isa::TensorType::FP16: pattern = Eigen::numext::bit_cast<uint16_t>(Eigen::half(fl)) * 0x10001u; break;
    case isa::TensorType::BF16: pattern = Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(fl)) * 0x10001u; break;
    case isa::TensorType::I8:
    case isa::TensorType::U8:
      pattern = (static_cast<uint32_t>(static_cast<int64_t>(value)) & 0xFF) * 0x01010101u;
      break;
    case isa::TensorType::I32: {  // bytes (i8): the 32-bit pattern is the value
      Location d8 = dst;
      d8.type = isa::TensorType::I8;
      pattern = static_cast<uint32_t>(static_cast<int32_t>(value));
      return fill_pattern(L, n, d8, off * 4, elements * 4, pattern);
    }
    default: throw CompileError(where(n) + ": filling tensors of this element type is not supported on the NPU");
  }
  fill_pattern(L, n, dst, off, elements, pattern);
}

/// fill_value with the 32-bit pattern of the value (a multiple of 4 bytes per row).
static void fill_pattern(Lowering& L, const Node& n, const Location& dst, int64_t off, int64_t elements,
                         uint32_t pattern) {
  const int64_t cols = std::min<int64_t>(elements, 2048);
  const unsigned es = bytes_of(dst.type);
  const uint32_t row_l = L.lines(1, static_cast<uint64_t>(cols), es);
  const int64_t max_rows =
      std::min<int64_t>(4095, static_cast<int64_t>(L.t_.spad_bytes / (2ull * row_l * L.t_.line_bytes)));
  const int64_t full = elements / cols;
  auto emit_rows = [&](int64_t at, int64_t rows, int64_t c) {
    const uint32_t tile = static_cast<uint32_t>(max_rows) * row_l;
    Instruction fi = make(Opcode::Fill);
    fi.set(f::fill::dst, 0);
    fi.set(f::fill::lines, static_cast<uint32_t>(rows) * row_l);
    fi.set(f::fill::value, pattern);
    L.emit(fi, kGo, 1, kL2V);
    Instruction cp = make(Opcode::Copy);
    cp.set(f::copy::dst, tile);
    cp.set(f::copy::src, 0);
    cp.set(f::copy::rows, static_cast<uint32_t>(rows));
    cp.set(f::copy::cols, static_cast<uint32_t>(c));
    cp.set(f::copy::dtype, L.code(dst.type, n));
    L.emit(cp, kL2V, 1, kV2S);
    Instruction st = make(Opcode::Store);
    st.set(f::store::src, tile);
    st.set(f::store::desc,
           L.desc(dst.region, dst.type, dst.offset, static_cast<uint32_t>(c), static_cast<uint32_t>(rows), c));
    st.set(f::store::off, static_cast<uint32_t>(at));
    L.emit(st, kV2S, 1, kGo);
  };
  for (int64_t r0 = 0; r0 < full; r0 += max_rows) emit_rows(off + r0 * cols, std::min(max_rows, full - r0), cols);
  if (elements % cols) emit_rows(off + full * cols, 1, elements % cols);
}

std::vector<int64_t> const_ints(Lowering& L, const Node& n, size_t i, const std::string& what) {
  const Tensor& t = L.g_.tensor(n.inputs.at(i));
  if (!t.is_const) throw CompileError(where(n) + ": " + what + " ('" + t.name + "') must be a constant");
  std::vector<int64_t> v;
  for (const double d : t.values)  // INT64_MAX (Slice's "to the end") is not exact in a double
    v.push_back(d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : static_cast<int64_t>(d));
  return v;
}

}  // namespace npusim::compiler::lowering
