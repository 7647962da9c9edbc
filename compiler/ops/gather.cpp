// Gather: rows of a table picked by indices (embedding lookups, `h[:, 0]`, advanced indexing).
//
// Gather(data, indices, axis) views data as outer x V x inner (V = data.shape[axis]): output row
// (o, k) is row indices[k] of the V x inner table of outer index o. Per tile the LOAD engine reads
// a chunk of the indices (i32 on the device: int64 indices are narrowed at the boundary) into the
// scratchpad and `gather`s those table rows (ISA 1.1; computed indices use its `wrap` flag for
// ONNX's negative indices, an index outside [-V, V) is a device fault), the VPU copies the tile on
// (the chain LOAD → VPU → STORE every operator keeps) and the STORE engine writes it out. Constant
// indices are checked and made non-negative here. The table may be a constant (weights) or
// computed; int32 tables (narrowed int64 data) move through the accumulator, which holds i32.
#include <algorithm>

#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {
namespace {

bool lower_gather(Lowering& L, const Node& n, const OpInfo&) {
  const Tensor& data = L.g_.tensor(n.inputs.at(0));
  const Tensor& idx = L.g_.tensor(n.inputs.at(1));
  const Tensor& y = L.g_.tensor(n.outputs.at(0));
  const auto rank = static_cast<int64_t>(data.shape.size());
  if (rank == 0) throw CompileError(where(n) + ": data must have rank >= 1");
  int64_t axis = n.attr_i("axis", 0);
  if (axis < -rank || axis >= rank)
    throw CompileError(where(n) + ": axis " + std::to_string(axis) + " is outside [-" + std::to_string(rank) + ", " +
                       std::to_string(rank) + ")");
  if (axis < 0) axis += rank;
  if (L.is_spatial(data) || L.is_spatial(y))
    throw CompileError(where(n) + ": gathering from or into an image (NHWC on the device) is not supported");
  if (idx.dtype != DType::I64 && idx.dtype != DType::I32)
    throw CompileError(where(n) + ": indices must be int32 or int64, not " + dtype_name(idx.dtype));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= data.shape[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= data.shape[d];
  const int64_t V = data.shape[axis], K = idx.elements();
  if (y.elements() != outer * K * inner)
    throw CompileError(where(n) + ": the output " + shape_text(y.shape) +
                       " does not have outer x indices x inner = " + std::to_string(outer * K * inner) + " elements");
  if (y.elements() == 0) return true;
  if (V == 0) throw CompileError(where(n) + ": gathering from an empty axis");
  // The indices, i32 on the device; constants checked and wrapped now.
  Location li;
  bool wrap = true;
  if (idx.is_const && !L.loc_.count(idx.name)) {
    std::vector<int32_t> v;
    for (size_t k = 0; k < idx.values.size(); ++k) {
      const auto i = static_cast<int64_t>(idx.values[k]);
      if (i < -V || i >= V)
        throw CompileError(where(n) + ": index " + std::to_string(k) + " is " + std::to_string(i) + ", outside [-" +
                           std::to_string(V) + ", " + std::to_string(V) + ") for axis " + std::to_string(axis));
      v.push_back(static_cast<int32_t>(i < 0 ? i + V : i));
    }
    li = {L.weights_region_, L.put_i32(v), 1, K, isa::TensorType::I32};
    wrap = false;
  } else {
    li = L.input(n, 1);
  }
  const Location ld = L.input(n, 0), ly = L.output(n);
  if (ld.type != ly.type) throw CompileError(where(n) + ": the output type differs from the data's");
  // i32 rows live in the accumulator (the VPU copies i32 there); other types in the scratchpad.
  const bool acc = ld.type == isa::TensorType::I32;
  const unsigned es = bytes_of(ld.type);
  const uint64_t line = L.t_.line_bytes;
  int64_t tc = std::min<int64_t>(inner, 4095);  // elements per row (the VPU's cols field)
  int64_t tk = std::min<int64_t>(K, 4095);      // rows per tile (gather's count field)
  auto fits = [&] {
    const uint64_t tile = L.lines(tk, tc, es) * line;  // gathered rows, and the copy of them
    const uint64_t idx_bytes = L.lines(1, tk, 4) * line;
    return acc ? idx_bytes <= L.t_.spad_bytes && 2 * tile <= L.t_.acc_bytes : idx_bytes + 2 * tile <= L.t_.spad_bytes;
  };
  while (!fits() && (tk > 1 || tc > 1)) {
    if (tk > 1)
      tk = (tk + 1) / 2;
    else
      tc = (tc + 1) / 2;
  }
  if (!fits()) throw CompileError(where(n) + ": one gathered row does not fit the SRAM");
  const uint32_t idx_line = 0, idx_lines = L.lines(1, tk, 4);
  const uint32_t tile_lines = L.lines(tk, tc, es);
  const uint32_t rows_line = acc ? 0 : idx_lines, copy_line = rows_line + tile_lines;
  const uint32_t code = acc ? 0 : L.code(ld.type, n);  // acc with dtype i8: i32 elements
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k0 = 0; k0 < K; k0 += tk)
      for (int64_t c0 = 0; c0 < inner; c0 += tc) {
        const auto kk = static_cast<uint32_t>(std::min(tk, K - k0)),
                   cc = static_cast<uint32_t>(std::min(tc, inner - c0));
        Instruction li_load = make(Opcode::Load);
        li_load.set(f::load::dst, idx_line);
        li_load.set(f::load::desc, L.desc(li.region, li.type, li.offset, kk, 1, kk));
        li_load.set(f::load::off, static_cast<uint32_t>(k0));
        L.emit(li_load, kGo, 1, -1);  // the same engine's gather runs after it has completed
        Instruction g = make(Opcode::Gather);
        g.set(f::gather::dst_acc, acc ? 1 : 0);
        g.set(f::gather::dst, rows_line);
        g.set(f::gather::desc, L.desc_nd(ld.region, ld.type, ld.offset, {cc, static_cast<uint32_t>(V)}, {inner}));
        g.set(f::gather::off, static_cast<uint32_t>(o * V * inner + c0));
        g.set(f::gather::idx, idx_line);
        g.set(f::gather::count, kk);
        g.set(f::gather::wrap, wrap ? 1 : 0);
        L.emit(g, -1, 1, kL2V);
        Instruction c = make(Opcode::Copy);
        c.set(f::copy::src_acc, acc ? 1 : 0);
        c.set(f::copy::dst_acc, acc ? 1 : 0);
        c.set(f::copy::src, rows_line);
        c.set(f::copy::dst, copy_line);
        c.set(f::copy::rows, kk);
        c.set(f::copy::cols, cc);
        c.set(f::copy::dtype, code);
        L.emit(c, kL2V, 1, kV2S);
        Instruction st = make(Opcode::Store);
        st.set(f::store::src_acc, acc ? 1 : 0);
        st.set(f::store::src, copy_line);
        st.set(f::store::desc, L.desc(ly.region, ly.type, ly.offset, cc, kk, inner));
        st.set(f::store::off, static_cast<uint32_t>((o * K + k0) * inner + c0));
        L.emit(st, kV2S, 1, kGo);
      }
  return true;
}

}  // namespace
}  // namespace npusim::compiler::lowering

namespace npusim::compiler {

void register_gather_ops(OpRegistry& r) {
  r.add("Gather", lowering::lower_gather, 0);
}

}  // namespace npusim::compiler
