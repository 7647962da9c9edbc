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
using isa::Instruction;
using isa::Opcode;
namespace f = isa::fields;
__extension__ typedef __int128 Int128;  // exact intermediate of the rhu rounding mode

constexpr unsigned kAccBytes = 4;  // i32 / fp32 accumulator elements

unsigned elem_bytes(ElemType t) {
  return (t == ElemType::Fp16 || t == ElemType::Bf16) ? 2 : 1;
}
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

/// A tile view: `rows` rows of `cols` elements of `esize` bytes in one SRAM, row r at line base + r*row_lines.
struct Tile {
  uint8_t* mem;        ///< SRAM bytes
  uint64_t base_line;  ///< first line
  uint64_t row_lines;  ///< lines per row
  unsigned esize;      ///< element bytes
  uint32_t line;       ///< line bytes
  uint8_t* at(uint64_t r, uint64_t c) const { return mem + (base_line + r * row_lines) * line + c * esize; }
};

uint64_t row_lines_for(uint64_t cols, unsigned esize, uint32_t line) {
  return (cols * esize + line - 1) / line;
}

int32_t param_i32(const isa::Param& p, uint8_t off) {
  int32_t v;
  std::memcpy(&v, p.bytes.data() + off, 4);
  return v;
}
float param_f32(const isa::Param& p, uint8_t off) {
  float v;
  std::memcpy(&v, p.bytes.data() + off, 4);
  return v;
}

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
uint8_t requant_epilogue(int32_t x, int32_t multiplier, int32_t shift, const isa::Param& p, ElemType out) {
  namespace q = isa::params::requant;
  int64_t y = sat32(static_cast<int64_t>(requantize(x, multiplier, shift, p.bytes[q::mode])) + param_i32(p, q::zp));
  y = std::min<int64_t>(std::max<int64_t>(y, param_i32(p, q::min)), param_i32(p, q::max));
  return static_cast<uint8_t>(saturate_to(out, y));
}

}  // namespace

FunctionalModel::FunctionalModel(const isa::Program& prog, uint32_t line_bytes, Memories& mem)
    : prog_(prog), line_(line_bytes), mem_(mem) {}

namespace {

/// Walk of a load/store descriptor box: row j → (DRAM byte offset in region, or -1 for padding).
struct BoxWalk {
  uint64_t rows = 0;         ///< rows including padding
  uint64_t row_elems = 0;    ///< box[0]
  unsigned esize = 0;        ///< element bytes
  std::vector<int64_t> src;  ///< per row: byte offset in the region, -1 = pad row
};

BoxWalk walk(const isa::TensorDesc& d, int64_t elem_off, uint32_t pt, uint32_t pb, uint32_t pl, uint32_t pr,
             int64_t index, isa::Engine eng, uint64_t region_size, const std::string& region_name) {
  BoxWalk w;
  w.esize = isa::tensor_type_bytes(d.dtype);
  w.row_elems = d.box[0];
  const uint64_t b1 = d.rank > 1 ? d.box[1] : 1, b2 = d.rank > 2 ? d.box[2] : 1, b3 = d.rank > 3 ? d.box[3] : 1;
  const uint64_t d1 = pl + b1 + pr, d2 = pt + b2 + pb;
  w.rows = d1 * d2 * b3;
  const int64_t origin = static_cast<int64_t>(d.offset) + elem_off * static_cast<int64_t>(w.esize);
  const uint64_t row_bytes = w.row_elems * w.esize;
  w.src.reserve(w.rows);
  for (uint64_t i3 = 0; i3 < b3; ++i3)
    for (uint64_t i2p = 0; i2p < d2; ++i2p)
      for (uint64_t i1p = 0; i1p < d1; ++i1p) {
        if (i2p < pt || i2p >= pt + b2 || i1p < pl || i1p >= pl + b1) {
          w.src.push_back(-1);
          continue;
        }
        const int64_t off = origin + static_cast<int64_t>(i1p - pl) * d.stride[0] +
                            static_cast<int64_t>(i2p - pt) * d.stride[1] + static_cast<int64_t>(i3) * d.stride[2];
        if (off < 0 || static_cast<uint64_t>(off) > region_size || row_bytes > region_size - static_cast<uint64_t>(off))
          throw Fault(FaultCode::RegionBounds,
                      "descriptor '" + d.name + "' row " + std::to_string(w.src.size()) + " reaches bytes [" +
                          std::to_string(off) + ", " + std::to_string(off + static_cast<int64_t>(row_bytes)) +
                          ") outside region '" + region_name + "' (" + std::to_string(region_size) + " bytes)",
                      index, eng)
              .at(static_cast<int32_t>(d.region), static_cast<uint64_t>(std::max<int64_t>(off, 0)));
        w.src.push_back(off);
      }
  return w;
}

}  // namespace

std::pair<int32_t, uint64_t> FunctionalModel::locate(uint64_t address) const {
  for (size_t r = 0; r < mem_.region_base.size(); ++r)
    if (address >= mem_.region_base[r] && address - mem_.region_base[r] < mem_.region_size[r])
      return {static_cast<int32_t>(r), address - mem_.region_base[r]};
  return {-1, 0};
}

Footprint FunctionalModel::plan(uint32_t index) const {
  const Instruction& in = prog_.text[index];
  const auto op = static_cast<Opcode>(in.opcode());
  const isa::Engine eng = in.engine();
  Footprint fp;
  const uint64_t spad_lines = mem_.spad_bytes / line_, acc_lines = mem_.acc_bytes / line_;
  auto sram = [&](bool acc, uint64_t first, uint64_t count, const char* what) {
    const uint64_t limit = acc ? acc_lines : spad_lines;
    if (first > limit || count > limit - first)
      throw Fault(FaultCode::SramBounds,
                  std::string(what) + ": lines [" + std::to_string(first) + ", " + std::to_string(first + count) +
                      ") exceed the " + (acc ? "accumulator" : "scratchpad") + " (" + std::to_string(limit) +
                      " lines of " + std::to_string(line_) + " B)",
                  index, eng);
    (acc ? fp.acc : fp.spad).push_back({first, count});
  };
  auto region_check = [&](uint32_t region, uint64_t off, uint64_t bytes, const char* what) {
    const uint64_t size = mem_.region_size[region];
    if (off > size || bytes > size - off)
      throw Fault(FaultCode::RegionBounds,
                  std::string(what) + ": bytes [" + std::to_string(off) + ", " + std::to_string(off + bytes) +
                      ") outside region '" + prog_.regions[region].name + "' (" + std::to_string(size) + " bytes)",
                  index, eng)
          .at(static_cast<int32_t>(region), off);
    fp.dram.push_back({mem_.region_base[region] + off, bytes});
    fp.dram_bytes += bytes;
  };
  switch (op) {
    case Opcode::Load:
    case Opcode::Store: {
      const bool is_load = op == Opcode::Load;
      const auto& d = prog_.descs[in.get(is_load ? f::load::desc : f::store::desc)];
      const int64_t off = is_load ? f::load::off.get_signed(in.w) : f::store::off.get_signed(in.w);
      const BoxWalk w =
          is_load
              ? walk(d, off, in.get(f::load::pad_top), in.get(f::load::pad_bottom), in.get(f::load::pad_left),
                     in.get(f::load::pad_right), index, eng, mem_.region_size[d.region], prog_.regions[d.region].name)
              : walk(d, off, 0, 0, 0, 0, index, eng, mem_.region_size[d.region], prog_.regions[d.region].name);
      const uint64_t stride = is_load ? in.get(f::load::stride) : in.get(f::store::stride);
      const uint64_t rl = stride ? stride : row_lines_for(w.row_elems, w.esize, line_);
      const bool acc = is_load ? in.get(f::load::dst_acc) : in.get(f::store::src_acc);
      const uint64_t first = is_load ? in.get(f::load::dst) : in.get(f::store::src);
      sram(acc, first, (w.rows - 1) * rl + row_lines_for(w.row_elems, w.esize, line_),
           is_load ? "load destination" : "store source");
      const uint64_t row_bytes = w.row_elems * w.esize;
      for (int64_t s : w.src)
        if (s >= 0) {
          // Merge rows that are contiguous in DRAM into one run (what a DMA would burst).
          const uint64_t a = mem_.region_base[d.region] + static_cast<uint64_t>(s);
          if (!fp.dram.empty() && fp.dram.back().first + fp.dram.back().second == a)
            fp.dram.back().second += row_bytes;
          else
            fp.dram.push_back({a, row_bytes});
          fp.dram_bytes += row_bytes;
        }
      fp.dram_write = !is_load;
      break;
    }
    case Opcode::Fill:
      sram(in.get(f::fill::dst_acc), in.get(f::fill::dst), in.get(f::fill::lines), "fill destination");
      break;
    case Opcode::Matmul: {
      const auto dt = static_cast<ElemType>(in.get(f::matmul::dtype));
      const uint64_t m = in.get(f::matmul::m), n = in.get(f::matmul::n), k = in.get(f::matmul::k);
      const unsigned es = elem_bytes(dt);
      const bool ta = in.get(f::matmul::trans_a), tb = in.get(f::matmul::trans_b);
      const uint64_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
      sram(false, in.get(f::matmul::a), a_rows * row_lines_for(a_cols, es, line_), "matmul A");
      sram(false, in.get(f::matmul::b), b_rows * row_lines_for(b_cols, es, line_), "matmul B");
      sram(true, in.get(f::matmul::c), m * row_lines_for(n, kAccBytes, line_), "matmul C");
      fp.macs = m * n * k;
      break;
    }
    case Opcode::Requant: {
      const uint64_t rows = in.get(f::requant::rows), cols = in.get(f::requant::cols);
      const auto dt = static_cast<ElemType>(in.get(f::requant::dtype));
      sram(false, in.get(f::requant::dst), rows * row_lines_for(cols, elem_bytes(dt), line_), "requant destination");
      sram(true, in.get(f::requant::src), rows * row_lines_for(cols, kAccBytes, line_), "requant source");
      const auto& p = prog_.params[in.get(f::requant::q)];
      if (p.bytes[isa::params::requant::per_channel]) {
        const uint32_t table = static_cast<uint32_t>(param_i32(p, isa::params::requant::table));
        region_check(p.bytes[isa::params::requant::region], table, cols * 8, "requant per-channel table");
      }
      fp.elements = rows * cols;
      break;
    }
    case Opcode::Add:
    case Opcode::Mul:
    case Opcode::Max:
    case Opcode::Min:
    case Opcode::Sub: {
      const auto dt = static_cast<ElemType>(in.get(f::add::dtype));
      const uint64_t rows = in.get(f::add::rows), cols = in.get(f::add::cols);
      auto span = [&](bool acc, uint64_t r) {
        return r * row_lines_for(cols, acc ? kAccBytes : elem_bytes(dt), line_);
      };
      sram(in.get(f::add::dst_acc), in.get(f::add::dst), span(in.get(f::add::dst_acc), rows), "destination");
      sram(in.get(f::add::src0_acc), in.get(f::add::src0), span(in.get(f::add::src0_acc), rows), "src0");
      sram(in.get(f::add::src1_acc), in.get(f::add::src1),
           span(in.get(f::add::src1_acc), in.get(f::add::bcast) ? 1 : rows), "src1");
      fp.elements = rows * cols;
      break;
    }
    case Opcode::Clamp:
    case Opcode::Copy:
    case Opcode::Sfu:
    case Opcode::Reduce: {
      const auto dt = static_cast<ElemType>(in.get(f::clamp::dtype));
      const uint64_t rows = in.get(f::clamp::rows), cols = in.get(f::clamp::cols);
      const bool sa = in.get(f::clamp::src_acc), da = in.get(f::clamp::dst_acc);
      const unsigned des = da ? kAccBytes : elem_bytes(dt);
      uint64_t dst_lines = rows * row_lines_for(cols, des, line_);
      if (op == Opcode::Copy && in.get(f::copy::transpose)) dst_lines = cols * row_lines_for(rows, des, line_);
      if (op == Opcode::Reduce) dst_lines = rows * row_lines_for(1, des, line_);
      sram(da, in.get(f::clamp::dst), dst_lines, "destination");
      sram(sa, in.get(f::clamp::src), rows * row_lines_for(cols, sa ? kAccBytes : elem_bytes(dt), line_), "source");
      fp.elements = rows * cols;
      break;
    }
    case Opcode::Pool: {
      const auto dt = static_cast<ElemType>(in.get(f::pool::dtype));
      const auto& p = prog_.params[in.get(f::pool::window)];
      namespace pp = isa::params::pool;
      const uint64_t ih = p.bytes[pp::in_h] | (p.bytes[pp::in_h + 1] << 8),
                     iw = p.bytes[pp::in_w] | (p.bytes[pp::in_w + 1] << 8);
      const uint64_t oh = (ih + p.bytes[pp::pad_top] + p.bytes[pp::pad_bottom] - p.bytes[pp::kh]) / p.bytes[pp::sh] + 1;
      const uint64_t ow = (iw + p.bytes[pp::pad_left] + p.bytes[pp::pad_right] - p.bytes[pp::kw]) / p.bytes[pp::sw] + 1;
      const uint64_t ch = in.get(f::pool::channels), rl = row_lines_for(ch, elem_bytes(dt), line_);
      sram(false, in.get(f::pool::dst), oh * ow * rl, "pool destination");
      sram(false, in.get(f::pool::src), ih * iw * rl, "pool source");
      fp.elements = oh * ow * ch * p.bytes[pp::kh] * p.bytes[pp::kw];
      break;
    }
    case Opcode::Lut: {
      const uint64_t rows = in.get(f::lut::rows), cols = in.get(f::lut::cols);
      sram(false, in.get(f::lut::dst), rows * row_lines_for(cols, 1, line_), "lut destination");
      sram(false, in.get(f::lut::src), rows * row_lines_for(cols, 1, line_), "lut source");
      sram(false, in.get(f::lut::table), row_lines_for(256, 1, line_), "lut table");
      fp.elements = rows * cols;
      break;
    }
    case Opcode::WrImm:
      region_check(in.get(f::wr_imm::region), in.get(f::wr_imm::offset), 4, "wr.imm");
      fp.dram_write = true;
      break;
    case Opcode::PerfSnap:
      region_check(in.get(f::perf_snap::region), in.get(f::perf_snap::offset), 64, "perf.snap");
      fp.dram_write = true;
      break;
    default: break;
  }
  return fp;
}

void FunctionalModel::execute(uint32_t index) {
  const Instruction& in = prog_.text[index];
  const auto op = static_cast<Opcode>(in.opcode());
  uint8_t* spad = mem_.spad.data();
  uint8_t* acc = mem_.acc.data();
  switch (op) {
    case Opcode::Load:
    case Opcode::Store: {
      const bool is_load = op == Opcode::Load;
      const auto& d = prog_.descs[in.get(is_load ? f::load::desc : f::store::desc)];
      auto& region = mem_.regions[d.region];
      const int64_t off = is_load ? f::load::off.get_signed(in.w) : f::store::off.get_signed(in.w);
      const BoxWalk w =
          is_load ? walk(d, off, in.get(f::load::pad_top), in.get(f::load::pad_bottom), in.get(f::load::pad_left),
                         in.get(f::load::pad_right), index, in.engine(), region.size(), prog_.regions[d.region].name)
                  : walk(d, off, 0, 0, 0, 0, index, in.engine(), region.size(), prog_.regions[d.region].name);
      const uint64_t stride = is_load ? in.get(f::load::stride) : in.get(f::store::stride);
      const uint64_t rl = stride ? stride : row_lines_for(w.row_elems, w.esize, line_);
      uint8_t* mem = (is_load ? in.get(f::load::dst_acc) : in.get(f::store::src_acc)) ? acc : spad;
      const uint64_t first = is_load ? in.get(f::load::dst) : in.get(f::store::src);
      const uint64_t row_bytes = w.row_elems * w.esize;
      // Pad value: the descriptor's zero point in the element type, or 0.
      std::vector<uint8_t> pad(row_bytes, 0);
      if (is_load && in.get(f::load::pad_zp))
        for (uint64_t e = 0; e < w.row_elems; ++e)
          std::memcpy(&pad[e * w.esize], &d.zero_point, w.esize);  // little-endian truncation
      for (uint64_t j = 0; j < w.rows; ++j) {
        uint8_t* s = mem + (first + j * rl) * line_;
        if (!is_load) {
          if (w.src[j] >= 0) std::memcpy(region.data() + w.src[j], s, row_bytes);
        } else if (w.src[j] >= 0) {
          std::memcpy(s, region.data() + w.src[j], row_bytes);
        } else {
          std::memcpy(s, pad.data(), row_bytes);
        }
      }
      break;
    }
    case Opcode::Fill: {
      uint8_t* mem = in.get(f::fill::dst_acc) ? acc : spad;
      const uint32_t v = in.get(f::fill::value);
      uint8_t* p = mem + uint64_t{in.get(f::fill::dst)} * line_;
      const uint64_t bytes = uint64_t{in.get(f::fill::lines)} * line_;
      for (uint64_t i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * (i % 4)));
      break;
    }
    case Opcode::Matmul: {
      const auto dt = static_cast<ElemType>(in.get(f::matmul::dtype));
      const int64_t m = in.get(f::matmul::m), n = in.get(f::matmul::n), k = in.get(f::matmul::k);
      const unsigned es = elem_bytes(dt);
      const bool ta = in.get(f::matmul::trans_a), tb = in.get(f::matmul::trans_b),
                 accumulate = in.get(f::matmul::accumulate);
      const Tile A{spad, in.get(f::matmul::a), row_lines_for(ta ? m : k, es, line_), es, line_};
      const Tile B{spad, in.get(f::matmul::b), row_lines_for(tb ? k : n, es, line_), es, line_};
      const Tile C{acc, in.get(f::matmul::c), row_lines_for(n, kAccBytes, line_), kAccBytes, line_};
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
      break;
    }
    case Opcode::Requant: {
      namespace q = isa::params::requant;
      const auto dt = static_cast<ElemType>(in.get(f::requant::dtype));
      const uint64_t rows = in.get(f::requant::rows), cols = in.get(f::requant::cols);
      const auto& p = prog_.params[in.get(f::requant::q)];
      const Tile src{acc, in.get(f::requant::src), row_lines_for(cols, kAccBytes, line_), kAccBytes, line_};
      const Tile dst{spad, in.get(f::requant::dst), row_lines_for(cols, elem_bytes(dt), line_), elem_bytes(dt), line_};
      std::vector<int32_t> mult(cols, param_i32(p, q::multiplier)), shift(cols, param_i32(p, q::shift));
      if (p.bytes[q::per_channel]) {
        const auto& r = mem_.regions[p.bytes[q::region]];
        const uint32_t table = static_cast<uint32_t>(param_i32(p, q::table));
        for (uint64_t c = 0; c < cols; ++c) {
          std::memcpy(&mult[c], r.data() + table + 8 * c, 4);
          std::memcpy(&shift[c], r.data() + table + 8 * c + 4, 4);
        }
      }
      const uint32_t acc_type = in.get(f::requant::acc_type);
      for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c = 0; c < cols; ++c) {
          if (is_float(dt)) {
            float x, scale;
            if (acc_type == f::requant::acc_type_i32)  // dequantize: i32 → binary32 (nearest even)
              x = static_cast<float>(static_cast<int32_t>(load_u32(src.at(r, c))));
            else
              std::memcpy(&x, src.at(r, c), 4);
            std::memcpy(&scale, &mult[c], 4);
            const uint16_t h = float_to_half(x * scale, dt);
            std::memcpy(dst.at(r, c), &h, 2);
            continue;
          }
          if (acc_type == f::requant::acc_type_fp32) {  // quantize: binary32 quotient, nearest even
            float x, scale;
            std::memcpy(&x, src.at(r, c), 4);
            std::memcpy(&scale, &mult[c], 4);
            const float y = std::nearbyint(x / scale);
            const int32_t yi = std::isnan(y)        ? 0
                               : y >= 2147483648.0f ? std::numeric_limits<int32_t>::max()
                               : y < -2147483648.0f ? std::numeric_limits<int32_t>::min()
                                                    : static_cast<int32_t>(y);
            // The rest of the epilogue (zp, clamp, saturation) with the identity as the scaling step.
            *dst.at(r, c) = requant_epilogue(yi, 0x3f800000 /* 1.0f */, 0, p, dt);
            continue;
          }
          *dst.at(r, c) = requant_epilogue(static_cast<int32_t>(load_u32(src.at(r, c))), mult[c], shift[c], p, dt);
        }
      break;
    }
    case Opcode::Add:
    case Opcode::Mul:
    case Opcode::Max:
    case Opcode::Min:
    case Opcode::Sub: {
      const auto dt = static_cast<ElemType>(in.get(f::add::dtype));
      const uint64_t rows = in.get(f::add::rows), cols = in.get(f::add::cols);
      auto tile = [&](bool in_acc, uint32_t line) {
        const unsigned es = in_acc ? kAccBytes : elem_bytes(dt);
        return Tile{in_acc ? acc : spad, line, row_lines_for(cols, es, line_), es, line_};
      };
      const bool s0a = in.get(f::add::src0_acc), s1a = in.get(f::add::src1_acc), da = in.get(f::add::dst_acc),
                 bc = in.get(f::add::bcast);
      const Tile s0 = tile(s0a, in.get(f::add::src0)), s1 = tile(s1a, in.get(f::add::src1)),
                 d = tile(da, in.get(f::add::dst));
      const uint32_t qid = in.get(f::add::q);
      const isa::Param* qp = qid == isa::kNoParam ? nullptr : &prog_.params[qid];
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
            float y = op == Opcode::Add   ? a + b
                      : op == Opcode::Sub ? a - b
                      : op == Opcode::Mul ? a * b
                      : op == Opcode::Max ? std::max(a, b)
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
          const auto y = static_cast<int32_t>(op == Opcode::Add   ? a + b
                                              : op == Opcode::Sub ? a - b
                                              : op == Opcode::Mul ? a * b
                                              : op == Opcode::Max ? static_cast<uint32_t>(std::max(sa, sb))
                                                                  : static_cast<uint32_t>(std::min(sa, sb)));
          if (da) {
            store_u32(d.at(r, c), static_cast<uint32_t>(y));
          } else if (qp) {
            namespace q = isa::params::requant;
            *d.at(r, c) = requant_epilogue(y, param_i32(*qp, q::multiplier), param_i32(*qp, q::shift), *qp, dt);
          } else {
            *d.at(r, c) = static_cast<uint8_t>(saturate_to(dt, y));
          }
        }
      break;
    }
    case Opcode::Clamp:
    case Opcode::Copy:
    case Opcode::Sfu:
    case Opcode::Reduce: {
      const auto dt = static_cast<ElemType>(in.get(f::clamp::dtype));
      const uint64_t rows = in.get(f::clamp::rows), cols = in.get(f::clamp::cols);
      const bool sa = in.get(f::clamp::src_acc), da = in.get(f::clamp::dst_acc);
      const unsigned ses = sa ? kAccBytes : elem_bytes(dt), des = da ? kAccBytes : elem_bytes(dt);
      const bool transpose = op == Opcode::Copy && in.get(f::copy::transpose);
      const uint64_t dcols = op == Opcode::Reduce ? 1 : transpose ? rows : cols;
      const Tile s{sa ? acc : spad, in.get(f::clamp::src), row_lines_for(cols, ses, line_), ses, line_};
      const Tile d{da ? acc : spad, in.get(f::clamp::dst), row_lines_for(dcols, des, line_), des, line_};
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
      if (op == Opcode::Clamp) {
        const auto& p = prog_.params[in.get(f::clamp::bounds)];
        namespace cp = isa::params::clamp;
        for (uint64_t r = 0; r < rows; ++r)
          for (uint64_t c = 0; c < cols; ++c) {
            double v = rd(r, c);
            if (fl)
              v = static_cast<double>(
                  std::min(std::max(static_cast<float>(v), param_f32(p, cp::fmin)), param_f32(p, cp::fmax)));
            else
              v = std::min<double>(std::max<double>(v, param_i32(p, cp::min)), param_i32(p, cp::max));
            wr(r, c, v);
          }
      } else if (op == Opcode::Copy) {
        for (uint64_t r = 0; r < rows; ++r)
          for (uint64_t c = 0; c < cols; ++c) wr(transpose ? c : r, transpose ? r : c, rd(r, c));
      } else if (op == Opcode::Sfu) {
        const uint32_t fn = in.get(f::sfu::fn);
        for (uint64_t r = 0; r < rows; ++r)
          for (uint64_t c = 0; c < cols; ++c) wr(r, c, special_function(fn, rd(r, c)));
      } else {
        const uint32_t kind = in.get(f::reduce::op);
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
      break;
    }
    case Opcode::Pool: {
      namespace pp = isa::params::pool;
      const auto dt = static_cast<ElemType>(in.get(f::pool::dtype));
      const auto& p = prog_.params[in.get(f::pool::window)];
      const int64_t ih = p.bytes[pp::in_h] | (p.bytes[pp::in_h + 1] << 8),
                    iw = p.bytes[pp::in_w] | (p.bytes[pp::in_w + 1] << 8);
      const int64_t kh = p.bytes[pp::kh], kw = p.bytes[pp::kw], sh = p.bytes[pp::sh], sw = p.bytes[pp::sw];
      const int64_t pt = p.bytes[pp::pad_top], pl = p.bytes[pp::pad_left];
      const int64_t oh = (ih + pt + p.bytes[pp::pad_bottom] - kh) / sh + 1,
                    ow = (iw + pl + p.bytes[pp::pad_right] - kw) / sw + 1;
      const uint64_t ch = in.get(f::pool::channels);
      const unsigned es = elem_bytes(dt);
      const Tile s{spad, in.get(f::pool::src), row_lines_for(ch, es, line_), es, line_};
      const Tile d{spad, in.get(f::pool::dst), row_lines_for(ch, es, line_), es, line_};
      const bool avg = in.get(f::pool::avg), count_pad = p.bytes[pp::count_pad];
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
      break;
    }
    case Opcode::Lut: {
      const auto dt = static_cast<ElemType>(in.get(f::lut::dtype));
      const uint64_t rows = in.get(f::lut::rows), cols = in.get(f::lut::cols);
      const Tile s{spad, in.get(f::lut::src), row_lines_for(cols, 1, line_), 1, line_};
      const Tile d{spad, in.get(f::lut::dst), row_lines_for(cols, 1, line_), 1, line_};
      const uint8_t* table = spad + uint64_t{in.get(f::lut::table)} * line_;
      for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c = 0; c < cols; ++c) {
          const uint8_t x = *s.at(r, c);
          *d.at(r, c) = table[dt == ElemType::I8 ? static_cast<uint8_t>(static_cast<int8_t>(x) + 128) : x];
        }
      break;
    }
    case Opcode::WrImm:
      store_u32(mem_.regions[in.get(f::wr_imm::region)].data() + in.get(f::wr_imm::offset), in.get(f::wr_imm::value));
      break;
    default:
      break;  // CTRL instructions without data effects; perf.snap is written by the engine that owns the counters
  }
}

}  // namespace npusim::arch
