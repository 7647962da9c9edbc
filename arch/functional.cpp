// The functional model: every instruction exactly as docs/isa.md specifies.
#include "arch/functional.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "isa_ops.h"

namespace npusim::arch {

const char* fault_name(FaultCode c) {
  switch (c) {
    case FaultCode::RegionBounds: return "REGION_BOUNDS";
    case FaultCode::SramBounds: return "SRAM_BOUNDS";
    case FaultCode::SemOverflow: return "SEM_OVERFLOW";
    case FaultCode::SemConsumer: return "SEM_CONSUMER";
    case FaultCode::Deadlock: return "DEADLOCK";
    case FaultCode::Watchdog: return "WATCHDOG";
    case FaultCode::TargetMismatch: return "TARGET_MISMATCH";
    case FaultCode::BadBinding: return "BAD_BINDING";
    case FaultCode::CosimMismatch: return "COSIM_MISMATCH";
    case FaultCode::ThermalCritical: return "THERMAL_CRITICAL";
    case FaultCode::BusError: return "BUS_ERROR";
    case FaultCode::Ecc: return "ECC";
  }
  return "?";
}

namespace {

using isa::ElemType;
using isa::Opcode;
namespace f = isa::fields;
__extension__ typedef __int128 Int128;  // exact intermediate of the rhu rounding mode

bool is_float(ElemType t) {
  return t == ElemType::Fp16 || t == ElemType::Bf16;
}

int32_t sat32(int64_t v) {
  return static_cast<int32_t>(
      std::clamp<int64_t>(v, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
}
int32_t saturate_to(ElemType t, int64_t v) {
  return t == ElemType::I8 ? static_cast<int32_t>(std::clamp<int64_t>(v, -128, 127))
                           : static_cast<int32_t>(std::clamp<int64_t>(v, 0, 255));
}

float half_to_float(uint16_t b, ElemType t) {
  return t == ElemType::Fp16 ? static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(b))
                             : static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(b));
}
uint16_t float_to_half(float v, ElemType t) {
  // Eigen's conversions round to nearest even and keep NaN/infinity (docs/isa.md "Floating point").
  return t == ElemType::Fp16 ? Eigen::numext::bit_cast<uint16_t>(Eigen::half(v))
                             : Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(v));
}

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void store_u32(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}

/// A tile view: row r at line base + r*row_lines of one SRAM's bytes, elements of `esize` bytes.
struct Tile {
  uint8_t* mem;        ///< SRAM bytes
  uint64_t base_line;  ///< first line
  uint64_t row_lines;  ///< lines per row
  unsigned esize;      ///< element bytes
  uint32_t line;       ///< line bytes
  uint8_t* at(uint64_t r, uint64_t c) const { return mem + (base_line + r * row_lines) * line + c * esize; }
};

}  // namespace

int32_t requantize(int32_t x, int32_t multiplier, int32_t shift, uint8_t mode) {
  namespace q = isa::params::requant;
  if (mode == q::mode_tflite) {
    // gemmlowp: SaturatingRoundingDoublingHighMul then RoundingDivideByPOT.
    if (shift < 0) x = sat32(static_cast<int64_t>(x) * (int64_t{1} << -shift));
    const bool overflow = x == multiplier && x == std::numeric_limits<int32_t>::min();
    const int64_t ab = static_cast<int64_t>(x) * multiplier;
    const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
    const int32_t h =
        overflow ? std::numeric_limits<int32_t>::max() : static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
    if (shift <= 0) return h;
    const int64_t mask = (int64_t{1} << shift) - 1;
    const int64_t remainder = h & mask;
    const int64_t threshold = (mask >> 1) + (h < 0 ? 1 : 0);
    return static_cast<int32_t>((static_cast<int64_t>(h) >> shift) + (remainder > threshold ? 1 : 0));
  }
  if (mode == q::mode_rhu) {
    // (x*M + 2^(30+S)) >> (31+S), floor, in exact 128-bit arithmetic.
    const int total = 31 + shift;
    Int128 v = static_cast<Int128>(x) * multiplier;
    if (total > 0) v = (v + (static_cast<Int128>(1) << (total - 1))) >> total;
    if (v > std::numeric_limits<int32_t>::max()) return std::numeric_limits<int32_t>::max();
    if (v < std::numeric_limits<int32_t>::min()) return std::numeric_limits<int32_t>::min();
    return static_cast<int32_t>(v);
  }
  // fp32: binary32 product, round half to even, saturate (NaN → 0).
  float scale;
  std::memcpy(&scale, &multiplier, 4);
  const float r = std::nearbyint(static_cast<float>(x) * scale);
  if (std::isnan(r)) return 0;
  if (r >= 2147483648.0f) return std::numeric_limits<int32_t>::max();
  if (r < -2147483648.0f) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(r);
}

double special_function(uint32_t fn, double x) {
  namespace sf = isa::fields::sfu;
  switch (fn) {
    case sf::fn_exp: return std::exp(x);
    case sf::fn_log: return std::log(x);
    case sf::fn_recip: return 1.0 / x;
    case sf::fn_sqrt: return std::sqrt(x);
    case sf::fn_rsqrt: return 1.0 / std::sqrt(x);
    case sf::fn_tanh: return std::tanh(x);
    case sf::fn_sigmoid: return 1.0 / (1.0 + std::exp(-x));
    default: return std::erf(x);
  }
}

namespace {

/// The full integer epilogue of docs/isa.md: requantize, add the zero point (saturating), clamp to
/// [min, max], saturate to the output type.
uint8_t requant_epilogue(int32_t x, int32_t multiplier, int32_t shift, const isa::params::requant::Fields& q,
                         ElemType out) {
  int64_t y = sat32(static_cast<int64_t>(requantize(x, multiplier, shift, q.mode)) + q.zp);
  y = std::min<int64_t>(std::max<int64_t>(y, q.min), q.max);
  return static_cast<uint8_t>(saturate_to(out, y));
}

/// The walk of a load/store descriptor box: per row, its byte offset in the region (-1: a padding
/// row). REGION_BOUNDS when a row leaves the region.
std::vector<int64_t> walk(const DmaOp& op, int64_t index, isa::Engine eng, uint64_t region_size,
                          const std::string& region_name) {
  const isa::TensorDesc& d = *op.desc;
  std::vector<int64_t> src;
  const uint64_t b1 = d.rank > 1 ? d.box[1] : 1, b2 = d.rank > 2 ? d.box[2] : 1, b3 = d.rank > 3 ? d.box[3] : 1;
  const uint64_t pt = op.pad_top, pl = op.pad_left;
  const uint64_t d1 = pl + b1 + op.pad_right, d2 = pt + b2 + op.pad_bottom;
  const int64_t origin = static_cast<int64_t>(d.offset) + op.elem_off * static_cast<int64_t>(op.esize);
  const uint64_t row_bytes = op.row_bytes;
  src.reserve(op.rows);
  for (uint64_t i3 = 0; i3 < b3; ++i3)
    for (uint64_t i2p = 0; i2p < d2; ++i2p)
      for (uint64_t i1p = 0; i1p < d1; ++i1p) {
        if (i2p < pt || i2p >= pt + b2 || i1p < pl || i1p >= pl + b1) {
          src.push_back(-1);
          continue;
        }
        const int64_t off = origin + static_cast<int64_t>(i1p - pl) * d.stride[0] +
                            static_cast<int64_t>(i2p - pt) * d.stride[1] + static_cast<int64_t>(i3) * d.stride[2];
        if (off < 0 || static_cast<uint64_t>(off) > region_size || row_bytes > region_size - static_cast<uint64_t>(off))
          throw Fault(FaultCode::RegionBounds,
                      "descriptor '" + d.name + "' row " + std::to_string(src.size()) + " reaches bytes [" +
                          std::to_string(off) + ", " + std::to_string(off + static_cast<int64_t>(row_bytes)) +
                          ") outside region '" + region_name + "' (" + std::to_string(region_size) + " bytes)",
                      index, eng)
              .at(static_cast<int32_t>(d.region), static_cast<uint64_t>(std::max<int64_t>(off, 0)));
        src.push_back(off);
      }
  return src;
}

/// The table rows a gather reads: per row j, its byte offset in the region. The indices come from
/// the scratchpad; a timing-only run has none (an empty scratchpad) and reads rows 0..count-1.
/// REGION_BOUNDS when an index leaves the table (before anything is written) or a row the region.
std::vector<int64_t> gather_rows(const GatherOp& op, const Memories& mem, uint32_t line, int64_t index, isa::Engine eng,
                                 const std::string& region_name) {
  const isa::TensorDesc& d = *op.desc;
  const uint64_t region_size = mem.region_size[d.region];
  const int64_t origin = static_cast<int64_t>(d.offset) + op.elem_off * static_cast<int64_t>(op.esize);
  const auto rows = static_cast<int64_t>(op.table_rows);
  std::vector<int64_t> out;
  out.reserve(op.count);
  for (uint64_t j = 0; j < op.count; ++j) {
    int64_t i = static_cast<int64_t>(j);
    if (!mem.spad.empty()) {
      int32_t v;
      std::memcpy(&v, mem.spad.data() + op.idx.line * uint64_t{line} + 4 * j, 4);
      i = v;
    }
    const int64_t given = i;
    if (op.wrap && i < 0) i += rows;
    if (i < 0 || i >= rows)
      throw Fault(FaultCode::RegionBounds,
                  "gather index " + std::to_string(j) + " is " + std::to_string(given) + ", outside the " +
                      std::to_string(rows) + " rows of table '" + d.name + "' (valid: " +
                      (op.wrap ? "[-" + std::to_string(rows) + ", " : "[0, ") + std::to_string(rows) + "))",
                  index, eng)
          .at(static_cast<int32_t>(d.region), static_cast<uint64_t>(std::max<int64_t>(origin, 0)));
    const int64_t off = origin + i * d.stride[0];
    if (off < 0 || static_cast<uint64_t>(off) > region_size || op.row_bytes > region_size - static_cast<uint64_t>(off))
      throw Fault(FaultCode::RegionBounds,
                  "gather of table '" + d.name + "' row " + std::to_string(i) + " reaches bytes [" +
                      std::to_string(off) + ", " + std::to_string(off + static_cast<int64_t>(op.row_bytes)) +
                      ") outside region '" + region_name + "' (" + std::to_string(region_size) + " bytes)",
                  index, eng)
          .at(static_cast<int32_t>(d.region), static_cast<uint64_t>(std::max<int64_t>(off, 0)));
    out.push_back(off);
  }
  return out;
}

/// What plan() works with: the memories' sizes, and the footprint it builds.
struct Planner {
  const isa::Program& prog;  ///< the program (region names)
  const Memories& mem;       ///< sizes and bases
  uint32_t line;             ///< line bytes
  uint32_t index;            ///< the instruction, for faults
  isa::Engine eng;           ///< its engine, for faults
  Footprint fp;              ///< the result

  /// Records SRAM tile `t`; SRAM_BOUNDS when it does not fit.
  void sram(const TileSpan& t, const char* what) {
    const uint64_t limit = (t.acc ? mem.acc_bytes : mem.spad_bytes) / line;
    if (t.line > limit || t.lines > limit - t.line)
      throw Fault(FaultCode::SramBounds,
                  std::string(what) + ": lines [" + std::to_string(t.line) + ", " + std::to_string(t.line + t.lines) +
                      ") exceed the " + (t.acc ? "accumulator" : "scratchpad") + " (" + std::to_string(limit) +
                      " lines of " + std::to_string(line) + " B)",
                  index, eng);
    (t.acc ? fp.acc : fp.spad).push_back({t.line, t.lines});
  }
  /// Records `bytes` at `off` in `region` as one DRAM run; REGION_BOUNDS when outside it.
  void region_run(uint32_t region, uint64_t off, uint64_t bytes, const char* what) {
    const uint64_t size = mem.region_size[region];
    if (off > size || bytes > size - off)
      throw Fault(FaultCode::RegionBounds,
                  std::string(what) + ": bytes [" + std::to_string(off) + ", " + std::to_string(off + bytes) +
                      ") outside region '" + prog.regions[region].name + "' (" + std::to_string(size) + " bytes)",
                  index, eng)
          .at(static_cast<int32_t>(region), off);
    fp.dram.push_back({mem.region_base[region] + off, bytes});
    fp.dram_bytes += bytes;
  }

  void operator()(const DmaOp& op) {
    const uint8_t r = op.desc->region;
    // The SRAM side first: it bounds the rows (every row lands in SRAM lines), so a box of 2^64
    // rows is refused before the DRAM walk would hold one entry per row.
    sram(op.sram, op.is_load ? "load destination" : "store source");
    const std::vector<int64_t> rows = walk(op, index, eng, mem.region_size[r], prog.regions[r].name);
    for (int64_t s : rows)
      if (s >= 0) {
        // Merge rows that are contiguous in DRAM into one run (what a DMA would burst).
        const uint64_t a = mem.region_base[r] + static_cast<uint64_t>(s);
        if (!fp.dram.empty() && fp.dram.back().first + fp.dram.back().second == a)
          fp.dram.back().second += op.row_bytes;
        else
          fp.dram.push_back({a, op.row_bytes});
        fp.dram_bytes += op.row_bytes;
      }
    fp.dram_write = !op.is_load;
  }
  void operator()(const GatherOp& op) {
    const uint8_t r = op.desc->region;
    sram(op.idx, "gather indices");
    sram(op.sram, "gather destination");
    for (int64_t s : gather_rows(op, mem, line, index, eng, prog.regions[r].name)) {
      // As a load: rows contiguous in DRAM (consecutive indices) merge into one burst.
      const uint64_t a = mem.region_base[r] + static_cast<uint64_t>(s);
      if (!fp.dram.empty() && fp.dram.back().first + fp.dram.back().second == a)
        fp.dram.back().second += op.row_bytes;
      else
        fp.dram.push_back({a, op.row_bytes});
      fp.dram_bytes += op.row_bytes;
    }
  }
  void operator()(const CmpOp& op) {
    sram(op.dst, "destination");
    sram(op.src0, "src0");
    sram(op.src1, "src1");
    fp.elements = op.rows * op.cols;
  }
  void operator()(const SelectOp& op) {
    sram(op.dst, "destination");
    sram(op.src, "source");
    sram(op.cond, "condition");
    fp.elements = op.rows * op.cols;
  }
  void operator()(const CvtOp& op) {
    sram(op.dst, "destination");
    sram(op.src, "source");
    fp.elements = op.rows * op.cols;
  }
  void operator()(const FillOp& op) { sram(op.dst, "fill destination"); }
  void operator()(const MatmulOp& op) {
    sram(op.a, "matmul A");
    sram(op.b, "matmul B");
    sram(op.c, "matmul C");
    fp.macs = uint64_t{op.m} * op.n * op.k;
  }
  void operator()(const RequantOp& op) {
    sram(op.dst, "requant destination");
    sram(op.src, "requant source");
    if (op.q.per_channel) region_run(op.q.region, op.q.table, op.cols * 8, "requant per-channel table");
    fp.elements = op.rows * op.cols;
  }
  void operator()(const BinaryOp& op) {
    sram(op.dst, "destination");
    sram(op.src0, "src0");
    sram(op.src1, "src1");
    fp.elements = op.rows * op.cols;
  }
  void operator()(const UnaryOp& op) {
    sram(op.dst, "destination");
    sram(op.src, "source");
    fp.elements = op.rows * op.cols;
  }
  void operator()(const PoolOp& op) {
    sram(op.dst, "pool destination");
    sram(op.src, "pool source");
    fp.elements = op.out_h * op.out_w * op.channels * op.window.kh * op.window.kw;
  }
  void operator()(const LutOp& op) {
    sram(op.dst, "lut destination");
    sram(op.src, "lut source");
    sram(op.table, "lut table");
    fp.elements = op.rows * op.cols;
  }
  void operator()(const RegionWriteOp& op) {
    region_run(op.region, op.offset, op.bytes, op.what);
    fp.dram_write = true;
  }
  /// Control instructions touch no memory.
  template <class Op>
  void operator()(const Op&) {}
};

/// What execute() works with: the memories' contents.
struct Executor {
  const isa::Program& prog;  ///< the program (region names)
  Memories& mem;             ///< contents
  uint32_t line;             ///< line bytes
  uint32_t index;            ///< the instruction, for faults
  isa::Engine eng;           ///< its engine, for faults

  /// The bytes of tile `t`'s SRAM, viewed as the tile.
  Tile tile(const TileSpan& t) const {
    return {t.acc ? mem.acc.data() : mem.spad.data(), t.line, t.row_lines, t.esize, line};
  }

  void operator()(const DmaOp& op) {
    auto& region = mem.regions[op.desc->region];
    const std::vector<int64_t> src = walk(op, index, eng, region.size(), prog.regions[op.desc->region].name);
    uint8_t* sram = op.sram.acc ? mem.acc.data() : mem.spad.data();
    const uint64_t row_bytes = op.row_bytes;
    // Pad value: the descriptor's zero point in the element type, or 0.
    std::vector<uint8_t> pad(row_bytes, 0);
    if (op.is_load && op.pad_zp)
      for (uint64_t e = 0; e < op.row_elems; ++e)
        std::memcpy(&pad[e * op.esize], &op.desc->zero_point, op.esize);  // little-endian truncation
    for (uint64_t j = 0; j < op.rows; ++j) {
      uint8_t* s = sram + (op.sram.line + j * op.sram.row_lines) * line;
      if (!op.is_load) {
        if (src[j] >= 0) std::memcpy(region.data() + src[j], s, row_bytes);
      } else if (src[j] >= 0) {
        std::memcpy(s, region.data() + src[j], row_bytes);
      } else {
        std::memcpy(s, pad.data(), row_bytes);
      }
    }
  }
  void operator()(const GatherOp& op) {
    const auto& region = mem.regions[op.desc->region];
    const std::vector<int64_t> src = gather_rows(op, mem, line, index, eng, prog.regions[op.desc->region].name);
    const Tile d = tile(op.sram);
    for (uint64_t j = 0; j < op.count; ++j) std::memcpy(d.at(j, 0), region.data() + src[j], op.row_bytes);
  }
  /// Element (r, c) of `t` exactly as a double: i32 or fp32 in the accumulator (by whether `type`
  /// is a float type), else `type` in the scratchpad.
  double read(const Tile& t, bool in_acc, ElemType type, uint64_t r, uint64_t c) const {
    const uint8_t* p = t.at(r, c);
    if (in_acc) {
      if (is_float(type)) {
        float v;
        std::memcpy(&v, p, 4);
        return v;
      }
      return static_cast<int32_t>(load_u32(p));
    }
    if (is_float(type)) {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return half_to_float(b, type);
    }
    return type == ElemType::I8 ? static_cast<int8_t>(*p) : *p;
  }
  void operator()(const CmpOp& op) {
    namespace k = f::cmp;
    const Tile s0 = tile(op.src0), s1 = tile(op.src1), d = tile(op.dst);
    for (uint64_t r = 0; r < op.rows; ++r)
      for (uint64_t c = 0; c < op.cols; ++c) {
        // i32 and fp32 values are exact in a double, so the comparison is the accumulator type's.
        const double a = read(s0, op.src0.acc, op.dtype, r, c),
                     b = read(s1, op.src1.acc, op.dtype, op.bcast ? 0 : r, c);
        const bool y = op.cmp == k::op_eq   ? a == b
                       : op.cmp == k::op_ne ? a != b
                       : op.cmp == k::op_lt ? a < b
                       : op.cmp == k::op_le ? a <= b
                       : op.cmp == k::op_gt ? a > b
                                            : a >= b;
        *d.at(r, c) = y ? 1 : 0;
      }
  }
  void operator()(const SelectOp& op) {
    const Tile s = tile(op.src), cond = tile(op.cond), d = tile(op.dst);
    for (uint64_t r = 0; r < op.rows; ++r)
      for (uint64_t c = 0; c < op.cols; ++c)
        if (*cond.at(r, c)) std::memcpy(d.at(r, c), s.at(r, c), d.esize);
  }
  void operator()(const CvtOp& op) {
    const Tile s = tile(op.src), d = tile(op.dst);
    for (uint64_t r = 0; r < op.rows; ++r)
      for (uint64_t c = 0; c < op.cols; ++c) {
        const double v = read(s, op.src.acc, op.src_type, r, c);
        uint8_t* p = d.at(r, c);
        if (is_float(op.dtype)) {  // binary32 first, then the 16-bit type (nearest even)
          const auto fv = static_cast<float>(v);
          if (op.dst.acc) {
            std::memcpy(p, &fv, 4);
          } else {
            const uint16_t h = float_to_half(fv, op.dtype);
            std::memcpy(p, &h, 2);
          }
          continue;
        }
        // Integers: NaN gives 0, else truncation toward zero and saturation to the range.
        const double t = std::isnan(v) ? 0.0 : std::trunc(v);
        if (op.dst.acc) {
          const int32_t i = t >= 2147483647.0    ? std::numeric_limits<int32_t>::max()
                            : t <= -2147483648.0 ? std::numeric_limits<int32_t>::min()
                                                 : static_cast<int32_t>(t);
          store_u32(p, static_cast<uint32_t>(i));
        } else {
          *p = static_cast<uint8_t>(saturate_to(op.dtype, static_cast<int64_t>(std::clamp(t, -1024.0, 1024.0))));
        }
      }
  }
  void operator()(const FillOp& op) {
    uint8_t* p = (op.dst.acc ? mem.acc.data() : mem.spad.data()) + op.dst.line * line;
    const uint64_t bytes = op.dst.lines * line;
    for (uint64_t i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(op.value >> (8 * (i % 4)));
  }
  void operator()(const MatmulOp& op) {
    const ElemType dt = op.dtype;
    const int64_t m = op.m, n = op.n, k = op.k;
    const bool ta = op.trans_a, tb = op.trans_b, accumulate = op.accumulate;
    const Tile A = tile(op.a), B = tile(op.b), C = tile(op.c);
    auto a_at = [&](int64_t i, int64_t kk) { return ta ? A.at(kk, i) : A.at(i, kk); };
    auto b_at = [&](int64_t kk, int64_t j) { return tb ? B.at(j, kk) : B.at(kk, j); };
    if (!is_float(dt)) {
      // Integer: products and sums are exact in int32 for k <= 4095 (|a*b| <= 2^15), so an
      // Eigen int32 GEMM is exact; the accumulate add wraps as the hardware adder does.
      Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic> a(m, k), b(k, n);
      const bool a_unsigned = dt == ElemType::U8;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t kk = 0; kk < k; ++kk) a(i, kk) = a_unsigned ? *a_at(i, kk) : static_cast<int8_t>(*a_at(i, kk));
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t j = 0; j < n; ++j) b(kk, j) = static_cast<int8_t>(*b_at(kk, j));
      const Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic> c = a * b;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          uint8_t* p = C.at(i, j);
          const uint32_t prev = accumulate ? load_u32(p) : 0;
          store_u32(p, prev + static_cast<uint32_t>(c(i, j)));
        }
    } else {
      // Floating point: exact products accumulated in fp32 in k order, one rounding per add.
      std::vector<float> a(m * k), b(k * n);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t kk = 0; kk < k; ++kk) {
          uint16_t bits;
          std::memcpy(&bits, a_at(i, kk), 2);
          a[i * k + kk] = half_to_float(bits, dt);
        }
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t j = 0; j < n; ++j) {
          uint16_t bits;
          std::memcpy(&bits, b_at(kk, j), 2);
          b[kk * n + j] = half_to_float(bits, dt);
        }
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          uint8_t* p = C.at(i, j);
          float s = 0;
          if (accumulate) std::memcpy(&s, p, 4);
          for (int64_t kk = 0; kk < k; ++kk) s += a[i * k + kk] * b[kk * n + j];
          std::memcpy(p, &s, 4);
        }
    }
  }
  void operator()(const RequantOp& op) {
    const ElemType dt = op.dtype;
    const uint64_t rows = op.rows, cols = op.cols;
    const auto& q = op.q;
    const Tile src = tile(op.src), dst = tile(op.dst);
    std::vector<int32_t> mult(cols, q.multiplier), shift(cols, q.shift);
    if (q.per_channel) {
      const auto& r = mem.regions[q.region];
      for (uint64_t c = 0; c < cols; ++c) {
        std::memcpy(&mult[c], r.data() + q.table + 8 * c, 4);
        std::memcpy(&shift[c], r.data() + q.table + 8 * c + 4, 4);
      }
    }
    for (uint64_t r = 0; r < rows; ++r)
      for (uint64_t c = 0; c < cols; ++c) {
        if (is_float(dt)) {
          float x, scale;
          if (op.acc_type == f::requant::acc_type_i32)  // dequantize: i32 → binary32 (nearest even)
            x = static_cast<float>(static_cast<int32_t>(load_u32(src.at(r, c))));
          else
            std::memcpy(&x, src.at(r, c), 4);
          std::memcpy(&scale, &mult[c], 4);
          const uint16_t h = float_to_half(x * scale, dt);
          std::memcpy(dst.at(r, c), &h, 2);
          continue;
        }
        if (op.acc_type == f::requant::acc_type_fp32) {  // quantize: binary32 quotient, nearest even
          float x, scale;
          std::memcpy(&x, src.at(r, c), 4);
          std::memcpy(&scale, &mult[c], 4);
          const float y = std::nearbyint(x / scale);
          const int32_t yi = std::isnan(y)        ? 0
                             : y >= 2147483648.0f ? std::numeric_limits<int32_t>::max()
                             : y < -2147483648.0f ? std::numeric_limits<int32_t>::min()
                                                  : static_cast<int32_t>(y);
          // The rest of the epilogue (zp, clamp, saturation) with the identity as the scaling step.
          *dst.at(r, c) = requant_epilogue(yi, 0x3f800000 /* 1.0f */, 0, q, dt);
          continue;
        }
        *dst.at(r, c) = requant_epilogue(static_cast<int32_t>(load_u32(src.at(r, c))), mult[c], shift[c], q, dt);
      }
  }
  void operator()(const BinaryOp& op) {
    const Opcode code = op.op;
    const ElemType dt = op.dtype;
    const uint64_t rows = op.rows, cols = op.cols;
    const bool s0a = op.src0.acc, s1a = op.src1.acc, da = op.dst.acc, bc = op.bcast;
    const Tile s0 = tile(op.src0), s1 = tile(op.src1), d = tile(op.dst);
    auto read_int = [&](const Tile& t, bool in_acc, uint64_t r, uint64_t c) -> int32_t {
      if (in_acc) return static_cast<int32_t>(load_u32(t.at(r, c)));
      return dt == ElemType::I8 ? static_cast<int8_t>(*t.at(r, c)) : *t.at(r, c);
    };
    auto read_float = [&](const Tile& t, bool in_acc, uint64_t r, uint64_t c) -> float {
      if (in_acc) {
        float v;
        std::memcpy(&v, t.at(r, c), 4);
        return v;
      }
      uint16_t b;
      std::memcpy(&b, t.at(r, c), 2);
      return half_to_float(b, dt);
    };
    for (uint64_t r = 0; r < rows; ++r)
      for (uint64_t c = 0; c < cols; ++c) {
        const uint64_t r1 = bc ? 0 : r;
        if (is_float(dt)) {
          const float a = read_float(s0, s0a, r, c), b = read_float(s1, s1a, r1, c);
          float y = code == Opcode::Add   ? a + b
                    : code == Opcode::Sub ? a - b
                    : code == Opcode::Mul ? a * b
                    : code == Opcode::Max ? std::max(a, b)
                                          : std::min(a, b);
          if (da)
            std::memcpy(d.at(r, c), &y, 4);
          else {
            const uint16_t h = float_to_half(y, dt);
            std::memcpy(d.at(r, c), &h, 2);
          }
          continue;
        }
        const uint32_t a = static_cast<uint32_t>(read_int(s0, s0a, r, c)),
                       b = static_cast<uint32_t>(read_int(s1, s1a, r1, c));
        const auto sa = static_cast<int32_t>(a), sb = static_cast<int32_t>(b);
        // i32 with wrap-around: compute in uint32.
        const auto y = static_cast<int32_t>(code == Opcode::Add   ? a + b
                                            : code == Opcode::Sub ? a - b
                                            : code == Opcode::Mul ? a * b
                                            : code == Opcode::Max ? static_cast<uint32_t>(std::max(sa, sb))
                                                                  : static_cast<uint32_t>(std::min(sa, sb)));
        if (da) {
          store_u32(d.at(r, c), static_cast<uint32_t>(y));
        } else if (op.has_q) {
          *d.at(r, c) = requant_epilogue(y, op.q.multiplier, op.q.shift, op.q, dt);
        } else {
          *d.at(r, c) = static_cast<uint8_t>(saturate_to(dt, y));
        }
      }
  }
  void operator()(const UnaryOp& op) {
    const ElemType dt = op.dtype;
    const uint64_t rows = op.rows, cols = op.cols;
    const bool sa = op.src.acc, da = op.dst.acc, transpose = op.transpose;
    const Tile s = tile(op.src), d = tile(op.dst);
    const bool fl = is_float(dt);
    auto rd = [&](uint64_t r, uint64_t c) -> double {  // exact: i32 and fp32 both fit a double
      if (sa) {
        if (fl) {
          float v;
          std::memcpy(&v, s.at(r, c), 4);
          return v;
        }
        return static_cast<int32_t>(load_u32(s.at(r, c)));
      }
      if (fl) {
        uint16_t b;
        std::memcpy(&b, s.at(r, c), 2);
        return half_to_float(b, dt);
      }
      return dt == ElemType::I8 ? static_cast<int8_t>(*s.at(r, c)) : *s.at(r, c);
    };
    auto wr = [&](uint64_t r, uint64_t c, double v) {
      if (fl) {
        const auto fv = static_cast<float>(v);
        if (da)
          std::memcpy(d.at(r, c), &fv, 4);
        else {
          const uint16_t h = float_to_half(fv, dt);
          std::memcpy(d.at(r, c), &h, 2);
        }
      } else if (da) {
        store_u32(d.at(r, c), static_cast<uint32_t>(static_cast<int64_t>(v)));
      } else {
        *d.at(r, c) = static_cast<uint8_t>(saturate_to(dt, static_cast<int64_t>(v)));
      }
    };
    if (op.op == Opcode::Clamp) {
      const auto& p = op.bounds;
      for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c = 0; c < cols; ++c) {
          double v = rd(r, c);
          if (fl)
            v = static_cast<double>(std::min(std::max(static_cast<float>(v), p.fmin), p.fmax));
          else
            v = std::min<double>(std::max<double>(v, p.min), p.max);
          wr(r, c, v);
        }
    } else if (op.op == Opcode::Copy) {
      for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c = 0; c < cols; ++c) wr(transpose ? c : r, transpose ? r : c, rd(r, c));
    } else if (op.op == Opcode::Sfu) {
      for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c = 0; c < cols; ++c) wr(r, c, special_function(op.fn, rd(r, c)));
    } else {
      const uint32_t kind = op.reduction;
      for (uint64_t r = 0; r < rows; ++r) {
        if (kind == f::reduce::op_sum) {
          if (fl) {
            float acc_f = 0;  // fp32 in column order
            for (uint64_t c = 0; c < cols; ++c) acc_f += static_cast<float>(rd(r, c));
            wr(r, 0, acc_f);
          } else {
            uint32_t acc_i = 0;  // i32 wrap-around
            for (uint64_t c = 0; c < cols; ++c) acc_i += static_cast<uint32_t>(static_cast<int32_t>(rd(r, c)));
            wr(r, 0, static_cast<int32_t>(acc_i));
          }
        } else {
          double v = rd(r, 0);
          for (uint64_t c = 1; c < cols; ++c)
            v = kind == f::reduce::op_max ? std::max(v, rd(r, c)) : std::min(v, rd(r, c));
          wr(r, 0, v);
        }
      }
    }
  }
  void operator()(const PoolOp& op) {
    const ElemType dt = op.dtype;
    const auto& p = op.window;
    const int64_t ih = p.in_h, iw = p.in_w;
    const int64_t kh = p.kh, kw = p.kw, sh = p.sh, sw = p.sw;
    const int64_t pt = p.pad_top, pl = p.pad_left;
    const auto oh = static_cast<int64_t>(op.out_h), ow = static_cast<int64_t>(op.out_w);
    const uint64_t ch = op.channels;
    const Tile s = tile(op.src), d = tile(op.dst);
    const bool avg = op.avg, count_pad = p.count_pad;
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (uint64_t c = 0; c < ch; ++c) {
          double best = -INFINITY;
          int64_t sum_i = 0;
          float sum_f = 0;
          int64_t valid = 0;
          for (int64_t ky = 0; ky < kh; ++ky)
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t y = oy * sh + ky - pt, x = ox * sw + kx - pl;
              if (y < 0 || y >= ih || x < 0 || x >= iw) continue;
              ++valid;
              const uint8_t* e = s.at(static_cast<uint64_t>(y * iw + x), c);
              double v;
              if (is_float(dt)) {
                uint16_t b;
                std::memcpy(&b, e, 2);
                v = half_to_float(b, dt);
                sum_f += static_cast<float>(v);
              } else {
                v = dt == ElemType::I8 ? static_cast<int8_t>(*e) : *e;
                sum_i += static_cast<int64_t>(v);
              }
              best = std::max(best, v);
            }
          const int64_t div = count_pad ? kh * kw : std::max<int64_t>(valid, 1);
          uint8_t* out = d.at(static_cast<uint64_t>(oy * ow + ox), c);
          if (is_float(dt)) {
            const float v = avg ? sum_f / static_cast<float>(div) : static_cast<float>(best);
            const uint16_t h = float_to_half(v, dt);
            std::memcpy(out, &h, 2);
          } else {
            int64_t v;
            if (!avg)
              v = static_cast<int64_t>(best);
            else {  // round half away from zero: (2|s| + d) / (2d) with the sign of s
              const int64_t mag = (2 * std::llabs(sum_i) + div) / (2 * div);
              v = sum_i < 0 ? -mag : mag;
            }
            *out = static_cast<uint8_t>(saturate_to(dt, v));
          }
        }
  }
  void operator()(const LutOp& op) {
    const Tile s = tile(op.src), d = tile(op.dst);
    const uint8_t* table = tile(op.table).at(0, 0);
    for (uint64_t r = 0; r < op.rows; ++r)
      for (uint64_t c = 0; c < op.cols; ++c) {
        const uint8_t x = *s.at(r, c);
        *d.at(r, c) = table[op.dtype == ElemType::I8 ? static_cast<uint8_t>(static_cast<int8_t>(x) + 128) : x];
      }
  }
  void operator()(const RegionWriteOp& op) {
    // perf.snap is written by the engine that owns the counters.
    if (!op.perf_snap) store_u32(mem.regions[op.region].data() + op.offset, op.value);
  }
  /// Control instructions have no data effects.
  template <class Op>
  void operator()(const Op&) {}
};

}  // namespace

FunctionalModel::FunctionalModel(const isa::Program& prog, uint32_t line_bytes, Memories& mem)
    : prog_(prog), line_(line_bytes), mem_(mem), decoded_(decode_program(prog, line_bytes)) {}

std::pair<int32_t, uint64_t> FunctionalModel::locate(uint64_t address) const {
  for (size_t r = 0; r < mem_.region_base.size(); ++r)
    if (address >= mem_.region_base[r] && address - mem_.region_base[r] < mem_.region_size[r])
      return {static_cast<int32_t>(r), address - mem_.region_base[r]};
  return {-1, 0};
}

Footprint FunctionalModel::plan(uint32_t index) const {
  const Decoded& d = decoded_[index];
  Planner p{prog_, mem_, line_, index, d.engine, {}};
  std::visit(p, d.ops);
  return std::move(p.fp);
}

void FunctionalModel::execute(uint32_t index) {
  const Decoded& d = decoded_[index];
  std::visit(Executor{prog_, mem_, line_, index, d.engine}, d.ops);
}

}  // namespace npusim::arch
