// decode(): every instruction's fields read once, its tables resolved and its tiles derived.
#include "arch/decoded.h"

namespace npusim::arch {

namespace {

using isa::ElemType;
using isa::Opcode;
namespace f = isa::fields;

uint8_t elem_bytes(ElemType t) {
  return (t == ElemType::Fp16 || t == ElemType::Bf16) ? 2 : 1;
}

/// `rows` rows of `cols` elements of `esize` bytes from line `first`.
TileSpan tile(bool acc, uint32_t first, uint64_t rows, uint64_t cols, uint8_t esize, uint32_t line) {
  const uint64_t rl = row_lines_for(cols, esize, line);
  return {acc, esize, first, rl, rows * rl};
}

/// load/store: completes `op` (descriptor, offset and padding set) with the walk's rows and its SRAM
/// side, `stride` lines from row to row (0: dense) from line `first`.
void finish_dma(DmaOp& op, bool acc, uint32_t first, uint64_t stride, uint32_t line) {
  const isa::TensorDesc& d = *op.desc;
  op.esize = isa::tensor_type_bytes(d.dtype);
  op.row_elems = d.box[0];
  op.row_bytes = op.row_elems * op.esize;
  const uint64_t b1 = d.rank > 1 ? d.box[1] : 1, b2 = d.rank > 2 ? d.box[2] : 1, b3 = d.rank > 3 ? d.box[3] : 1;
  op.rows = (op.pad_left + b1 + op.pad_right) * (op.pad_top + b2 + op.pad_bottom) * b3;
  const uint64_t dense = row_lines_for(op.row_elems, op.esize, line);
  op.sram.acc = acc;
  op.sram.line = first;
  op.sram.row_lines = stride ? stride : dense;
  op.sram.esize = static_cast<uint8_t>(op.esize);
  op.sram.lines = (op.rows - 1) * op.sram.row_lines + dense;
}

}  // namespace

Decoded decode(const isa::Instruction& inst, const isa::Program& prog, uint32_t line) {
  Decoded dec;
  dec.op = static_cast<Opcode>(inst.opcode());
  dec.engine = inst.engine();
  dec.sem = isa::sem_use(inst);
  const auto& w = inst.w;
  switch (dec.op) {
    case Opcode::SemSet: {
      const auto x = f::sem_set::decode(w);
      dec.ops = SemSetOp{x.sem, x.value};
      break;
    }
    case Opcode::Barrier: dec.ops = FenceOp{f::barrier::decode(w).engines, false}; break;
    case Opcode::Finish: dec.ops = FenceOp{(1u << isa::kEngineCount) - 1, true}; break;
    case Opcode::Irq: dec.ops = IrqOp{f::irq::decode(w).code}; break;
    case Opcode::Mark: {
      const auto x = f::mark::decode(w);
      dec.ops = MarkOp{x.edge == f::mark::edge_begin, x.marker};
      break;
    }
    case Opcode::WrImm: {
      const auto x = f::wr_imm::decode(w);
      dec.ops = RegionWriteOp{false, x.region, x.offset, 4, x.value, "wr.imm"};
      break;
    }
    case Opcode::PerfSnap: {
      const auto x = f::perf_snap::decode(w);
      dec.ops = RegionWriteOp{true, x.region, x.offset, 64, 0, "perf.snap"};
      break;
    }
    case Opcode::Load: {
      const auto x = f::load::decode(w);
      DmaOp op;
      op.is_load = true;
      op.desc = &prog.descs[x.desc];
      op.elem_off = x.off;
      op.pad_top = x.pad_top, op.pad_bottom = x.pad_bottom, op.pad_left = x.pad_left, op.pad_right = x.pad_right;
      op.pad_zp = x.pad_zp;
      finish_dma(op, x.dst_acc, x.dst, x.stride, line);
      dec.ops = op;
      break;
    }
    case Opcode::Store: {
      const auto x = f::store::decode(w);
      DmaOp op;
      op.desc = &prog.descs[x.desc];
      op.elem_off = x.off;
      finish_dma(op, x.src_acc, x.src, x.stride, line);
      dec.ops = op;
      break;
    }
    case Opcode::Gather: {
      const auto x = f::gather::decode(w);
      GatherOp op;
      op.desc = &prog.descs[x.desc];
      op.elem_off = x.off;
      op.wrap = x.wrap;
      op.esize = isa::tensor_type_bytes(op.desc->dtype);
      op.row_elems = op.desc->box[0];
      op.row_bytes = op.row_elems * op.esize;
      op.table_rows = op.desc->rank > 1 ? op.desc->box[1] : 1;
      op.count = x.count;
      op.idx = tile(false, x.idx, 1, x.count, 4, line);
      op.sram = tile(x.dst_acc, x.dst, x.count, op.row_elems, static_cast<uint8_t>(op.esize), line);
      dec.ops = op;
      break;
    }
    case Opcode::Fill: {
      const auto x = f::fill::decode(w);
      dec.ops = FillOp{TileSpan{x.dst_acc, 4, x.dst, 1, x.lines}, x.value};
      break;
    }
    case Opcode::Matmul: {
      const auto x = f::matmul::decode(w);
      MatmulOp op;
      op.dtype = static_cast<ElemType>(x.dtype);
      op.m = x.m, op.n = x.n, op.k = x.k;
      op.trans_a = x.trans_a, op.trans_b = x.trans_b, op.accumulate = x.accumulate, op.reuse_b = x.reuse_b;
      const uint8_t es = elem_bytes(op.dtype);
      op.a = op.trans_a ? tile(false, x.a, x.k, x.m, es, line) : tile(false, x.a, x.m, x.k, es, line);
      op.b = op.trans_b ? tile(false, x.b, x.n, x.k, es, line) : tile(false, x.b, x.k, x.n, es, line);
      op.c = tile(true, x.c, x.m, x.n, kAccBytes, line);
      dec.ops = op;
      break;
    }
    case Opcode::Requant: {
      const auto x = f::requant::decode(w);
      RequantOp op;
      op.dtype = static_cast<ElemType>(x.dtype);
      op.acc_type = x.acc_type;
      op.rows = x.rows, op.cols = x.cols;
      op.src = tile(true, x.src, x.rows, x.cols, kAccBytes, line);
      op.dst = tile(false, x.dst, x.rows, x.cols, elem_bytes(op.dtype), line);
      op.q = isa::params::requant::decode(prog.params[x.q].bytes);
      op.q.table += 8 * x.col0;  // per-channel: the tile's first column's {multiplier, shift} entry
      dec.ops = op;
      break;
    }
    case Opcode::Add:
    case Opcode::Mul:
    case Opcode::Max:
    case Opcode::Min:
    case Opcode::Sub: {
      const auto x = isa::formats::binary::decode(w);
      BinaryOp op;
      op.op = dec.op;
      op.dtype = static_cast<ElemType>(x.dtype);
      op.rows = x.rows, op.cols = x.cols;
      op.bcast = x.bcast;
      const uint8_t es = elem_bytes(op.dtype);
      auto operand = [&](bool acc, uint32_t first, uint64_t rows) {
        return tile(acc, first, rows, x.cols, acc ? kAccBytes : es, line);
      };
      op.src0 = operand(x.src0_acc, x.src0, x.rows);
      op.src1 = operand(x.src1_acc, x.src1, x.bcast ? 1 : x.rows);
      op.dst = operand(x.dst_acc, x.dst, x.rows);
      op.has_q = x.q != isa::kNoParam;
      if (op.has_q) op.q = isa::params::requant::decode(prog.params[x.q].bytes);
      dec.ops = op;
      break;
    }
    case Opcode::Clamp:
    case Opcode::Copy:
    case Opcode::Sfu:
    case Opcode::Reduce: {
      const auto x = isa::formats::unary::decode(w);
      UnaryOp op;
      op.op = dec.op;
      op.dtype = static_cast<ElemType>(x.dtype);
      op.rows = x.rows, op.cols = x.cols;
      if (dec.op == Opcode::Clamp)
        op.bounds = isa::params::clamp::decode(prog.params[f::clamp::decode(w).bounds].bytes);
      if (dec.op == Opcode::Copy) op.transpose = f::copy::decode(w).transpose;
      if (dec.op == Opcode::Sfu) op.fn = f::sfu::decode(w).fn;
      if (dec.op == Opcode::Reduce) op.reduction = f::reduce::decode(w).op;
      const uint8_t es = elem_bytes(op.dtype);
      op.src = tile(x.src_acc, x.src, x.rows, x.cols, x.src_acc ? kAccBytes : es, line);
      const uint8_t des = x.dst_acc ? kAccBytes : es;
      op.dst = op.transpose               ? tile(x.dst_acc, x.dst, x.cols, x.rows, des, line)
               : dec.op == Opcode::Reduce ? tile(x.dst_acc, x.dst, x.rows, 1, des, line)
                                          : tile(x.dst_acc, x.dst, x.rows, x.cols, des, line);
      dec.ops = op;
      break;
    }
    case Opcode::Pool: {
      const auto x = f::pool::decode(w);
      PoolOp op;
      op.dtype = static_cast<ElemType>(x.dtype);
      op.avg = x.avg;
      op.channels = x.channels;
      const auto& p = op.window = isa::params::pool::decode(prog.params[x.window].bytes);
      // The window fits the padded input (validate_program), so these do not wrap.
      op.out_h = (uint64_t{p.in_h} + p.pad_top + p.pad_bottom - p.kh) / p.sh + 1;
      op.out_w = (uint64_t{p.in_w} + p.pad_left + p.pad_right - p.kw) / p.sw + 1;
      const uint8_t es = elem_bytes(op.dtype);
      op.src = tile(false, x.src, uint64_t{p.in_h} * p.in_w, x.channels, es, line);
      op.dst = tile(false, x.dst, op.out_h * op.out_w, x.channels, es, line);
      dec.ops = op;
      break;
    }
    case Opcode::Lut: {
      const auto x = f::lut::decode(w);
      LutOp op;
      op.dtype = static_cast<ElemType>(x.dtype);
      op.rows = x.rows, op.cols = x.cols;
      op.src = tile(false, x.src, x.rows, x.cols, 1, line);
      op.dst = tile(false, x.dst, x.rows, x.cols, 1, line);
      op.table = tile(false, x.table, 1, 256, 1, line);
      dec.ops = op;
      break;
    }
    case Opcode::Cmp: {
      const auto x = f::cmp::decode(w);
      CmpOp op;
      op.dtype = static_cast<ElemType>(x.dtype);
      op.cmp = x.op;
      op.rows = x.rows, op.cols = x.cols;
      op.bcast = x.bcast;
      const uint8_t es = elem_bytes(op.dtype);
      op.src0 = tile(x.src0_acc, x.src0, x.rows, x.cols, x.src0_acc ? kAccBytes : es, line);
      op.src1 = tile(x.src1_acc, x.src1, x.bcast ? 1 : x.rows, x.cols, x.src1_acc ? kAccBytes : es, line);
      op.dst = tile(false, x.dst, x.rows, x.cols, 1, line);
      dec.ops = op;
      break;
    }
    case Opcode::Select: {
      const auto x = f::select::decode(w);
      SelectOp op;
      op.rows = x.rows, op.cols = x.cols;
      const uint8_t es = x.dst_acc ? kAccBytes : elem_bytes(static_cast<ElemType>(x.dtype));
      op.src = tile(x.src_acc, x.src, x.rows, x.cols, es, line);
      op.dst = tile(x.dst_acc, x.dst, x.rows, x.cols, es, line);
      op.cond = tile(false, x.cond, x.rows, x.cols, 1, line);
      dec.ops = op;
      break;
    }
    case Opcode::Cvt: {
      const auto x = f::cvt::decode(w);
      CvtOp op;
      op.src_type = static_cast<ElemType>(x.src_type);
      op.dtype = static_cast<ElemType>(x.dtype);
      op.rows = x.rows, op.cols = x.cols;
      op.src = tile(x.src_acc, x.src, x.rows, x.cols, x.src_acc ? kAccBytes : elem_bytes(op.src_type), line);
      op.dst = tile(x.dst_acc, x.dst, x.rows, x.cols, x.dst_acc ? kAccBytes : elem_bytes(op.dtype), line);
      dec.ops = op;
      break;
    }
    default: break;  // nop
  }
  return dec;
}

std::vector<Decoded> decode_program(const isa::Program& prog, uint32_t line_bytes) {
  std::vector<Decoded> out;
  out.reserve(prog.text.size());
  for (const isa::Instruction& inst : prog.text) out.push_back(decode(inst, prog, line_bytes));
  return out;
}

}  // namespace npusim::arch
