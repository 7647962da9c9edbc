// Encode/decode of every instruction, driven by the one ISA definition (the generated tables):
// random legal operands are encoded, checked, disassembled and re-assembled, and each reserved
// bit is shown to be rejected.
#include <gtest/gtest.h>

#include <random>

#include "isa/disassembler.h"
#include "isa/program.h"
#include "isa_ops.h"
#include "test_util.h"

namespace npusim::isa {
namespace {

// A program prefix declaring one of everything an operand can name.
const char* kContext = R"(.npus 1.0
.target line=64
.region r0 role=input size=4KiB
.region r1 role=output size=4KiB
.desc d0 region=r0 dtype=i8 box=[64, 4]
.desc d1 region=r1 dtype=i8 box=[64, 4]
.param q requant mode=tflite multiplier=1073741824 shift=3
.param pw pool kh=2 kw=2 sh=2 sw=2 in_h=4 in_w=4
.param cl clamp min=-5 max=5
.marker m0
.marker m1
)";

/// Semaphores: one per engine so any engine may wait on "s_<engine>".
std::string sem_decls() {
  std::string s;
  for (int e = 0; e < kEngineCount; ++e)
    s += ".sem s_" + std::string(engine_name(static_cast<Engine>(e))) +
         " consumer=" + engine_name(static_cast<Engine>(e)) + "\n";
  return s;
}

/// Context program (no text) parsed once to look names up.
Program context_program() {
  Program p = testing::assemble_text(std::string(kContext) + sem_decls() + "finish\n");
  p.text.clear();
  return p;
}

/// A random legal value for a field given the context tables.
uint32_t random_value(const FieldSpec& f, const Program& ctx, const InstrSpec& in, std::mt19937& rng) {
  auto below = [&](uint64_t n) {
    return static_cast<uint32_t>(std::uniform_int_distribution<uint64_t>(0, n - 1)(rng));
  };
  const uint64_t span = uint64_t{f.bits.mask()} + 1;
  switch (f.kind) {
    case FieldKind::Count: return 1 + below(span - 1);
    case FieldKind::Enum: return below(f.enum_count);
    case FieldKind::Sem: return static_cast<uint32_t>(in.engine);  // s_<engine> has the engine's index
    case FieldKind::Desc: return below(ctx.descs.size());
    case FieldKind::Region: return below(ctx.regions.size());
    case FieldKind::Marker: return below(ctx.markers.size());
    case FieldKind::EngineMask: return 1 + below((1u << kEngineCount) - 1);
    case FieldKind::Param: {
      if (f.param_kind < 0) return below(ctx.params.size());
      const uint8_t kind = spec().params[f.param_kind].kind;
      for (uint32_t i = 0; i < ctx.params.size(); ++i)
        if (ctx.params[i].kind() == kind) return (f.optional && below(3) == 0) ? kNoParam : i;
      ADD_FAILURE() << "no context param of kind " << int(kind);
      return 0;
    }
    default: return below(span);
  }
}

TEST(Encoding, GeneratedOpcodesMatchTables) {
  EXPECT_EQ(find_instr(static_cast<uint8_t>(Opcode::Matmul))->name, std::string("matmul"));
  EXPECT_EQ(find_instr(static_cast<uint8_t>(Opcode::Finish))->engine, Engine::Ctrl);
  EXPECT_EQ(find_instr("requant")->opcode, static_cast<uint8_t>(Opcode::Requant));
  // Every instruction the brief requires exists.
  for (const char* name : {"nop",    "sem.set", "barrier", "irq",    "mark", "finish", "load", "fill",  "store",
                           "matmul", "requant", "add",     "mul",    "sub",  "max",    "min",  "clamp", "pool",
                           "lut",    "copy",    "reduce",  "gather", "cmp",  "select", "cvt"})
    EXPECT_NE(find_instr(name), nullptr) << name;
  // matmul offers the four data types.
  const FieldSpec* dt = find_field(*find_instr("matmul"), "dtype");
  ASSERT_NE(dt, nullptr);
  ASSERT_EQ(dt->enum_count, 4);
  EXPECT_STREQ(dt->enum_values[1], "u8");
  EXPECT_STREQ(dt->enum_values[3], "bf16");
}

TEST(Encoding, FieldsStayInsideDefinedBitsAndDoNotOverlap) {
  for (int i = 0; i < spec().instr_count; ++i) {
    const InstrSpec& in = spec().instrs[i];
    EXPECT_EQ(in.opcode >> 5, static_cast<int>(in.engine)) << in.name;
    std::array<uint32_t, 4> seen{};
    for (int h = 0; h < spec().header_count; ++h)
      seen[spec().header[h].bits.word] |= spec().header[h].bits.mask() << spec().header[h].bits.lo;
    for (int f = 0; f < in.field_count; ++f) {
      const BitRange& b = in.fields[f].bits;
      const uint32_t m = b.mask() << b.lo;
      EXPECT_EQ(seen[b.word] & m, 0u) << in.name << "." << in.fields[f].name << " overlaps";
      seen[b.word] |= m;
    }
    EXPECT_EQ(seen, in.defined_bits) << in.name;
  }
}

TEST(Encoding, BitRangeSignedAndFullWidth) {
  std::array<uint32_t, 4> w{};
  const BitRange full{2, 0, 32}, s12{1, 20, 12};
  full.set(w, 0xFFFFFFFFu);
  EXPECT_EQ(full.get(w), 0xFFFFFFFFu);
  EXPECT_EQ(full.get_signed(w), -1);
  s12.set(w, 0x800);
  EXPECT_EQ(s12.get_signed(w), -2048);
  EXPECT_EQ(w[1], 0x80000000u);
}

TEST(Encoding, EveryInstructionRoundTripsWithRandomOperands) {
  const Program ctx = context_program();
  std::mt19937 rng(1234);
  for (int i = 0; i < spec().instr_count; ++i) {
    const InstrSpec& in = spec().instrs[i];
    if (static_cast<Opcode>(in.opcode) == Opcode::Finish) continue;  // must be last; covered by traces
    for (int trial = 0; trial < 50; ++trial) {
      Instruction inst;
      inst.w[0] = in.opcode;
      for (int f = 0; f < in.field_count; ++f) inst.set(in.fields[f].bits, random_value(in.fields[f], ctx, in, rng));
      // Quantizing requant needs an fp32-mode entry (a cross-field rule, tested in ReaderBad):
      // keep random operands inside it.
      if (static_cast<Opcode>(in.opcode) == Opcode::Requant &&
          inst.get(fields::requant::acc_type) == fields::requant::acc_type_fp32 &&
          inst.get(fields::requant::dtype) <= fields::requant::dtype_u8)
        inst.set(fields::requant::acc_type, fields::requant::acc_type_auto);
      // col0 indexes a per-channel table (the context's entries are per-tensor; ReaderBad covers it).
      if (static_cast<Opcode>(in.opcode) == Opcode::Requant) inst.set(fields::requant::col0, 0);
      if (static_cast<Opcode>(in.opcode) == Opcode::Sfu && inst.get(fields::sfu::dtype) <= fields::sfu::dtype_u8)
        inst.set(fields::sfu::dtype, fields::sfu::dtype_fp16);  // special functions are float-only
      if (static_cast<Opcode>(in.opcode) == Opcode::Select)     // src and dst share one SRAM
        inst.set(fields::select::dst_acc, inst.get(fields::select::src_acc));
      if (trial % 2) {  // header: wait on the engine's own semaphore, signal any
        inst.set(header::wait_en, 1);
        inst.set(header::wait_sem, static_cast<uint32_t>(in.engine));
        inst.set(header::wait_cnt, trial % 8);
        inst.set(header::sig_en, 1);
        inst.set(header::sig_sem, trial % kEngineCount);
        inst.set(header::irq, trial % 3 == 0);
      }
      for (int f = 0; f < in.field_count; ++f) {
        // decode == what was encoded, through the typed accessors too
        EXPECT_EQ(inst.get(in.fields[f].bits), in.fields[f].bits.get(inst.w));
      }
      ASSERT_EQ(check_instruction(inst, ctx), "") << in.name << " trial " << trial;
      // Text round trip: disassemble, assemble in the same context, compare bits.
      const std::string line = disassemble_instruction(inst, ctx);
      const Program p = testing::assemble_text(std::string(kContext) + sem_decls() + line + "\nfinish\n",
                                               AssembleOptions{false, 0, 20});
      ASSERT_EQ(p.text.size(), 2u);
      EXPECT_EQ(p.text[0].w, inst.w) << in.name << ": " << line;
    }
  }
}

TEST(Encoding, EveryReservedBitIsRejected) {
  const Program ctx = context_program();
  for (int i = 0; i < spec().instr_count; ++i) {
    const InstrSpec& in = spec().instrs[i];
    Instruction base;
    base.w[0] = in.opcode;
    std::mt19937 rng(7);
    for (int f = 0; f < in.field_count; ++f) base.set(in.fields[f].bits, random_value(in.fields[f], ctx, in, rng));
    for (int word = 0; word < 4; ++word)
      for (int bit = 0; bit < 32; ++bit) {
        if (in.defined_bits[word] & (1u << bit)) continue;
        Instruction bad = base;
        bad.w[word] |= 1u << bit;
        const std::string err = check_instruction(bad, ctx);
        EXPECT_NE(err.find("reserved bits"), std::string::npos)
            << in.name << " w" << word << " bit " << bit << ": " << err;
      }
  }
}

TEST(Encoding, UnassignedOpcodesAreRejected) {
  const Program ctx = context_program();
  int unassigned = 0;
  for (int op = 0; op < 256; ++op) {
    if (find_instr(static_cast<uint8_t>(op))) continue;
    ++unassigned;
    Instruction inst;
    inst.w[0] = static_cast<uint32_t>(op);
    EXPECT_NE(check_instruction(inst, ctx).find("unknown opcode"), std::string::npos) << op;
  }
  EXPECT_EQ(unassigned, 256 - spec().instr_count);
}

TEST(Encoding, HeaderFieldsWithoutEnableAreRejected) {
  const Program ctx = context_program();
  Instruction inst;
  inst.w[0] = static_cast<uint32_t>(Opcode::Nop);
  inst.set(header::wait_sem, 1);
  EXPECT_NE(check_instruction(inst, ctx).find("without wait_en"), std::string::npos);
  inst = Instruction{};
  inst.set(header::sig_sem, 2);
  EXPECT_NE(check_instruction(inst, ctx).find("without sig_en"), std::string::npos);
}

TEST(Encoding, ZeroCountIsAnErrorNotANop) {
  const Program ctx = context_program();
  Instruction inst;
  inst.w[0] = static_cast<uint32_t>(Opcode::Matmul);
  inst.set(fields::matmul::m, 4);
  inst.set(fields::matmul::n, 4);
  EXPECT_NE(check_instruction(inst, ctx).find("field k must be at least 1"), std::string::npos);
}

}  // namespace
}  // namespace npusim::isa
