// The assembler: accepted syntax, and `_bad` inputs whose messages must read
// `file:line:col: error: ...` and say what was expected.
#include <gtest/gtest.h>

#include "isa_ops.h"
#include "test_util.h"

namespace npusim::isa {
namespace {

const std::string kHead =
    ".npus 1.0\n.target line=64\n.region r role=input size=4KiB\n.desc D region=r dtype=i8 box=[64]\n"
    ".sem ld consumer=mxu\n";

/// Expects assembling `src` to fail with a message containing every fragment.
void expect_error(const std::string& src, std::initializer_list<std::string> fragments) {
  try {
    testing::assemble_text(src);
    ADD_FAILURE() << "accepted:\n" << src;
  } catch (const InputError& e) {
    for (const auto& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "message: " << e.what() << "\nmissing: " << f;
  }
}

TEST(Assembler, NumbersSizesAndComments) {
  const Program p = testing::assemble_text(
      ".npus 1.0 ; version\n.target line=0x40 spad=1_024KiB\n"
      ".region r role=scratch size=2MiB\nsem.set_free: nop\nfinish\n");
  EXPECT_EQ(p.target.line_bytes, 64u);
  EXPECT_EQ(p.target.spad_bytes, 1024u * 1024);
  EXPECT_EQ(p.regions[0].size, 2u << 20);
  ASSERT_EQ(p.labels.size(), 1u);
  EXPECT_EQ(p.labels[0].name, "sem.set_free");
}

TEST(Assembler, OperandsByPositionKeywordAndFlags) {
  const Program p = testing::assemble_text(
      kHead +
          "matmul acc[0x10], s[1], s[2], m=4, n=5, k=6, dtype=u8, accumulate, trans_b !wait(ld,3) !sig(ld) !irq\n"
          "matmul c=acc[0x10], b=s[2], a=s[1], k=6, n=5, m=4, trans_b, accumulate, dtype=u8 !wait(ld, 3) !irq "
          "!sig(ld)\nfinish\n",
      AssembleOptions{false, 0, 20});
  ASSERT_EQ(p.text.size(), 3u);
  EXPECT_EQ(p.text[0], p.text[1]);
  const Instruction& i = p.text[0];
  EXPECT_EQ(i.opcode(), static_cast<uint8_t>(Opcode::Matmul));
  EXPECT_EQ(i.get(fields::matmul::c), 0x10u);
  EXPECT_EQ(i.get(fields::matmul::dtype), fields::matmul::dtype_u8);
  EXPECT_EQ(i.get(fields::matmul::trans_b), 1u);
  EXPECT_EQ(i.get(fields::matmul::trans_a), 0u);
  EXPECT_EQ(i.get(header::wait_cnt), 2u);  // n - 1
  EXPECT_EQ(i.get(header::irq), 1u);
}

TEST(Assembler, SpaceFlagsFollowTheOperand) {
  const Program p = testing::assemble_text(kHead + "add acc[1], s[2], acc[3], rows=1, cols=1\nfinish\n");
  const Instruction& i = p.text[0];
  EXPECT_EQ(i.get(fields::add::dst_acc), 1u);
  EXPECT_EQ(i.get(fields::add::src0_acc), 0u);
  EXPECT_EQ(i.get(fields::add::src1_acc), 1u);
  EXPECT_EQ(i.get(fields::add::q), kNoParam);  // optional requant absent
}

TEST(Assembler, RandomDataIsDeterministicAndInRange) {
  const std::string src =
      ".target line=64\n.region w role=const size=1KiB\n.data w random seed=5 count=1000 dtype=i8 lo=-3 hi=2\nfinish\n";
  const Program a = testing::assemble_text(src), b = testing::assemble_text(src);
  EXPECT_EQ(a.regions[0].init, b.regions[0].init);
  int seen_lo = 0, seen_hi = 0;
  for (uint8_t v : a.regions[0].init) {
    const auto s = static_cast<int8_t>(v);
    EXPECT_GE(s, -3);
    EXPECT_LE(s, 2);
    seen_lo += s == -3;
    seen_hi += s == 2;
  }
  EXPECT_GT(seen_lo, 0);
  EXPECT_GT(seen_hi, 0);
}

TEST(Assembler, RandomDataBoundsFitTheirType_bad) {
  // Found by fuzz_npus: an i32 bound of -5.6e37 overflowed the span computation (undefined behaviour).
  const std::string head = ".target line=64\n.region w role=const size=1KiB\n.data w random seed=1 count=4 ";
  expect_error(head + "dtype=i32 lo=-55555555555555555555555555555555555512 hi=511\nfinish\n",
               {"random: lo/hi outside the range of i32 [-2147483648, 2147483647]"});
  expect_error(head + "dtype=u8 lo=0 hi=256\nfinish\n", {"outside the range of u8 [0, 255]"});
  expect_error(head + "dtype=fp32 lo=-1e400 hi=1\nfinish\n", {"random: lo and hi must be finite"});
}

TEST(Assembler, UnknownInstruction_bad) {
  expect_error(kHead + "  matmull acc[0]\n", {"test.npus:6:3: error: unknown instruction 'matmull'"});
}

TEST(Assembler, Col0NeedsPerChannelEntry_bad) {
  // col0 picks a per-channel table entry: with a per-tensor entry it names nothing.
  expect_error(kHead +
                   ".param q requant mode=tflite multiplier=1073741824 shift=1\n"
                   "requant s[0], acc[0], q, dtype=i8, rows=1, cols=4, col0=8\nfinish\n",
               {"requant: col0 applies to a per-channel requant entry ('q' is per-tensor)"});
}

TEST(Assembler, QuantizeNeedsFp32Entry_bad) {
  // requant with acc_type=fp32 to an integer output divides by a binary32 scale: a tflite entry
  // has none, so the reader rejects the pair.
  expect_error(kHead +
                   ".param q requant mode=tflite multiplier=1073741824 shift=1\n"
                   "requant s[0], acc[0], q, dtype=u8, acc_type=fp32, rows=1, cols=4\nfinish\n",
               {"requant: acc_type=fp32 with an integer output needs a requant entry in fp32 mode ('q' is not)"});
}

TEST(Assembler, SpecialFunctionsAreFloatOnly_bad) {
  expect_error(kHead + "sfu s[0], s[8], exp, rows=1, cols=4, dtype=i8\nfinish\n",
               {"sfu: special functions take fp16 or bf16 tiles, not i8"});
}

TEST(Assembler, QuantizeAndDequantizeRequantAssemble) {
  const std::string src = kHead +
                          ".param qf requant mode=fp32 scale=0.5 zp=3\n"
                          "requant s[0], acc[0], qf, dtype=u8, acc_type=fp32, rows=1, cols=4\n"
                          "requant s[0], acc[0], qf, dtype=fp16, acc_type=i32, rows=1, cols=4\nfinish\n";
  const Program p = testing::assemble_text(src, AssembleOptions{false, 0, 20});
  ASSERT_EQ(p.text.size(), 3u);
  EXPECT_EQ(p.text[0].get(fields::requant::acc_type), fields::requant::acc_type_fp32);
  EXPECT_EQ(p.text[1].get(fields::requant::acc_type), fields::requant::acc_type_i32);
}

TEST(Assembler, FieldTooWide_bad) {
  expect_error(kHead + "matmul acc[0], s[0], s[0], m=1, n=1, k=5000\n",
               {"test.npus:6:", "matmul: k=5000 does not fit the 12-bit field (max 4095)"});
}

TEST(Assembler, ZeroCount_bad) {
  expect_error(kHead + "matmul acc[0], s[0], s[0], m=0, n=1, k=1\n", {"matmul: m must be at least 1"});
}

TEST(Assembler, MissingOperand_bad) {
  expect_error(kHead + "matmul acc[0], s[0], s[0], m=1, n=1\nfinish\n", {"missing operand 'k'"});
}

TEST(Assembler, UnknownOperand_bad) {
  expect_error(kHead + "load s[0], D, bogus=1\nfinish\n",
               {"test.npus:6:15: error: load has no operand 'bogus'", "operands:"});
}

TEST(Assembler, WrongMemory_bad) {
  expect_error(kHead + "matmul s[0], s[0], s[0], m=1, n=1, k=1\n", {"c is in the accumulator (write acc[...])"});
}

TEST(Assembler, UnknownSemaphore_bad) {
  expect_error(kHead + "nop !sig(nope)\nfinish\n", {"unknown semaphore 'nope'"});
}

TEST(Assembler, WrongConsumer_bad) {
  expect_error(kHead + "load s[0], D !wait(ld)\nfinish\n",
               {"test.npus:6:", "load runs on load but semaphore 'ld' is consumed by mxu"});
}

TEST(Assembler, WaitCountRange_bad) {
  expect_error(kHead + "matmul acc[0], s[0], s[0], m=1, n=1, k=1 !wait(ld,9)\n",
               {"wait count = 9 is out of range [1, 8]"});
}

TEST(Assembler, ParamKindMismatch_bad) {
  expect_error(kHead + ".param c clamp min=0 max=1\nrequant s[0], acc[0], c, rows=1, cols=1\nfinish\n",
               {"q must name a requant parameter, 'c' is a clamp parameter"});
}

TEST(Assembler, NoFinish_bad) {
  expect_error(kHead + "nop\n", {"test.npus:6: error: the program does not end with finish"});
}

TEST(Assembler, FinishNotLast_bad) {
  expect_error(kHead + "finish\nnop\nfinish\n", {"test.npus:6: error: finish before the end"});
}

TEST(Assembler, DuplicateLabel_bad) {
  expect_error(kHead + "a: nop\na: finish\n", {"test.npus:7:1: error: label 'a' already defined"});
}

TEST(Assembler, UnknownDirective_bad) {
  expect_error(".npus 1.0\n.target line=64\n.regoin x role=input size=1\n",
               {"test.npus:3:1: error: unknown directive '.regoin'"});
}

TEST(Assembler, UnknownKey_bad) {
  expect_error(".target line=64\n.region x role=input sise=1\n",
               {"test.npus:2:22: error: unknown key 'sise' (expected one of: role, size, align)"});
}

TEST(Assembler, MissingTarget_bad) {
  expect_error("finish\n", {"missing .target"});
}

TEST(Assembler, BadVersion_bad) {
  expect_error(".npus 2.0\n", {"test.npus:1:7: error: unsupported .npus version '2.0'"});
}

TEST(Assembler, DataOutsideRegion_bad) {
  expect_error(".target line=64\n.region w role=const size=4\n.data w at=2 hex \"010203\"\n",
               {"data (3 bytes at 2) exceeds region 'w' (4 bytes)"});
}

TEST(Assembler, DataInInputRegion_bad) {
  expect_error(".target line=64\n.region x role=input size=4\n.data x hex \"01\"\n",
               {"only const and scratch regions have initial contents"});
}

TEST(Assembler, IoExceedsRegion_bad) {
  expect_error(".target line=64\n.region x role=input size=4\n.io t region=x dtype=i32 shape=[2]\nfinish\n",
               {"IO entry 0 ('t')", "exceeds region 'x'"});
}

TEST(Assembler, StrayCharacter_bad) {
  expect_error(".target line=64\nnop @\n", {"test.npus:2:5: error: unexpected character '@'"});
}

TEST(Assembler, UnterminatedString_bad) {
  expect_error(".target line=64\n.region w role=const size=4\n.data w hex \"01\n",
               {"test.npus:3:13: error: unterminated string"});
}

TEST(Assembler, ReportsSeveralErrors) {
  try {
    testing::assemble_text(kHead + "foo\nbar\nfinish\n");
    ADD_FAILURE();
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("test.npus:6:1: error: unknown instruction 'foo'"), std::string::npos) << m;
    EXPECT_NE(m.find("test.npus:7:1: error: unknown instruction 'bar'"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace npusim::isa
