// The strict .npub reader: one `_bad` test per class of malformed input. Each mutates a valid
// container (and, where the check under test lies past the CRC, fixes the CRC) and expects one
// clear message naming the section, entry, field or instruction index.
#include <gtest/gtest.h>

#include "isa_ops.h"
#include "test_util.h"

namespace npusim::isa {
namespace {

using testing::find_section;
using testing::fix_crc;
using testing::get_u32;
using testing::put_u32;

std::vector<uint8_t> valid() {
  static const std::vector<uint8_t> bin =
      write_npub(assemble_file(std::string(NPUSIM_TRACES) + "/mlp_i8.npus").program);
  return bin;
}

/// Expects read_npub to throw an InputError whose message contains every fragment.
void expect_error(const std::vector<uint8_t>& bytes, std::initializer_list<const char*> fragments) {
  try {
    read_npub(bytes);
    ADD_FAILURE() << "accepted a malformed container";
  } catch (const InputError& e) {
    for (const char* f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "message: " << e.what() << "\nmissing: " << f;
  }
}

/// Byte offset of instruction `i` in TEXT.
size_t text_at(const std::vector<uint8_t>& b, size_t i) {
  return find_section(b, SectionType::Text).first + 16 * i;
}

TEST(ReaderBad, ValidContainerIsAccepted) {
  EXPECT_NO_THROW(read_npub(valid()));
}

TEST(ReaderBad, TooShort_bad) {
  expect_error(std::vector<uint8_t>(10, 0), {"header", "shorter than the 64-byte header"});
}

TEST(ReaderBad, BadMagic_bad) {
  auto b = valid();
  b[0] = 'X';
  expect_error(b, {"header", "bad magic"});
}

TEST(ReaderBad, Truncated_bad) {
  auto b = valid();
  b.resize(b.size() - 7);
  expect_error(b, {"header", "total_size", "truncated"});
}

TEST(ReaderBad, CrcMismatch_bad) {
  auto b = valid();
  b[b.size() - 2] ^= 0x40;
  expect_error(b, {"CRC32 mismatch"});
}

TEST(ReaderBad, ContainerVersion_bad) {
  auto b = valid();
  b[4] = 9;
  fix_crc(b);
  expect_error(b, {"container version 9.1"});  // this build writes 1.1 (the IO table's host fields)
}

TEST(ReaderBad, IoHostFields_bad) {
  Program p = read_npub(valid());
  ASSERT_FALSE(p.io.empty());
  p.io[0].host_type = HostType::F32;
  EXPECT_EQ(read_npub(write_npub(p)).io[0].host_type, HostType::F32);  // container 1.1 round trip
  const size_t io = find_section(valid(), SectionType::Io).first;
  auto b = valid();
  b[io + 7] = 9;  // host_type
  fix_crc(b);
  expect_error(b, {"IO", "host_type 9 is not one of 0..3"});
  b = valid();
  b[io + 40] = 2;  // host_layout
  fix_crc(b);
  expect_error(b, {"IO", "host_layout 2 is not 0 or 1"});
  b = valid();
  b[6] = 0;  // a container 1.0 file (host fields zero) reads as before
  fix_crc(b);
  EXPECT_NO_THROW(read_npub(b));
}

TEST(ReaderBad, IsaVersionNewer_bad) {
  auto b = valid();
  b[10] = 99;  // ISA minor
  fix_crc(b);
  expect_error(b, {"ISA version 1.99"});
}

TEST(ReaderBad, HeaderReserved_bad) {
  auto b = valid();
  b[52] = 1;
  fix_crc(b);
  expect_error(b, {"header", "reserved"});
}

TEST(ReaderBad, SectionOutOfBounds_bad) {
  auto b = valid();
  const uint32_t table = get_u32(b, 40);
  put_u32(b, table + 12, 1u << 20);  // TEXT size
  fix_crc(b);
  expect_error(b, {"TEXT section", "past the end of the file"});
}

TEST(ReaderBad, OverlappingSections_bad) {
  auto b = valid();
  const uint32_t table = get_u32(b, 40);
  // Point the second section (DESC) at TEXT's offset.
  put_u32(b, table + 16 + 8, get_u32(b, table + 8));
  fix_crc(b);
  expect_error(b, {"overlaps"});
}

TEST(ReaderBad, UnknownSectionType_bad) {
  auto b = valid();
  put_u32(b, get_u32(b, 40) + 16, 42);
  fix_crc(b);
  expect_error(b, {"section table entry 1", "unknown section type 42"});
}

TEST(ReaderBad, DuplicateSection_bad) {
  auto b = valid();
  put_u32(b, get_u32(b, 40) + 16, static_cast<uint32_t>(SectionType::Text));
  fix_crc(b);
  expect_error(b, {"TEXT section", "appears twice"});
}

TEST(ReaderBad, MisalignedSection_bad) {
  auto b = valid();
  const uint32_t table = get_u32(b, 40);
  put_u32(b, table + 16 + 8, get_u32(b, table + 16 + 8) + 4);
  fix_crc(b);
  expect_error(b, {"DESC section", "not 16-byte aligned"});
}

TEST(ReaderBad, SectionSizeNotMultipleOfEntry_bad) {
  auto b = valid();
  put_u32(b, get_u32(b, 40) + 16 + 12, 63);  // DESC size
  fix_crc(b);
  expect_error(b, {"DESC section", "not a multiple of the 64-byte entry"});
}

TEST(ReaderBad, FieldOutOfRange_bad) {
  auto b = valid();
  const auto [regions, size] = find_section(b, SectionType::Regions);
  b[regions + 32 * 1 + 4] = 9;  // REGIONS entry 1 role
  fix_crc(b);
  expect_error(b, {"REGIONS entry 1", "invalid role 9"});
}

TEST(ReaderBad, DescRankOutOfRange_bad) {
  auto b = valid();
  b[find_section(b, SectionType::Desc).first + 64 * 2 + 2] = 5;  // DESC entry 2 rank
  fix_crc(b);
  expect_error(b, {"DESC entry 2", "rank 5"});
}

TEST(ReaderBad, ReservedBitsSet_bad) {
  auto b = valid();
  b[text_at(b, 0) + 8] = 1;  // mark #0: w2 is entirely reserved
  fix_crc(b);
  expect_error(b, {"TEXT instruction #0", "mark", "reserved bits set in w2"});
}

TEST(ReaderBad, UnknownOpcode_bad) {
  auto b = valid();
  b[text_at(b, 3)] = 0x7E;  // an unassigned MXU opcode
  fix_crc(b);
  expect_error(b, {"TEXT instruction #3", "unknown opcode 0x7E"});
}

TEST(ReaderBad, EnumValueOutOfRange_bad) {
  auto b = valid();
  // Every 2-bit dtype value of matmul is valid; lut's index type has two values, so turn
  // instruction #5 into a lut with dtype 3.
  Instruction lut;
  lut.w[0] = static_cast<uint32_t>(Opcode::Lut) | (3u << 30);
  lut.set(fields::lut::rows, 1);
  lut.set(fields::lut::cols, 1);
  for (int k = 0; k < 4; ++k) put_u32(b, text_at(b, 5) + 4 * k, lut.w[k]);
  fix_crc(b);
  expect_error(b, {"TEXT instruction #5", "lut", "field dtype = 3"});
}

TEST(ReaderBad, SelectAcrossSrams_bad) {
  auto b = valid();
  // select moves bits unchanged, so src and dst must be in one SRAM.
  Instruction sel;
  sel.w[0] = static_cast<uint32_t>(Opcode::Select);
  sel.set(fields::select::src_acc, 1);
  sel.set(fields::select::rows, 1);
  sel.set(fields::select::cols, 1);
  for (int k = 0; k < 4; ++k) put_u32(b, text_at(b, 5) + 4 * k, sel.w[k]);
  fix_crc(b);
  expect_error(b, {"TEXT instruction #5", "select: src and dst must be in the same SRAM"});
}

TEST(ReaderBad, DescIdOutOfRange_bad) {
  auto b = valid();
  Instruction inst;
  for (int k = 0; k < 4; ++k) inst.w[k] = get_u32(b, text_at(b, 1) + 4 * k);
  inst.set(fields::load::desc, 77);
  for (int k = 0; k < 4; ++k) put_u32(b, text_at(b, 1) + 4 * k, inst.w[k]);
  fix_crc(b);
  expect_error(b, {"TEXT instruction #1", "load", "field desc = 77", "descriptor id out of range"});
}

TEST(ReaderBad, ParamIdOutOfRange_bad) {
  auto b = valid();
  Instruction inst;
  for (int k = 0; k < 4; ++k) inst.w[k] = get_u32(b, text_at(b, 5) + 4 * k);
  inst.set(fields::requant::q, 9);
  for (int k = 0; k < 4; ++k) put_u32(b, text_at(b, 5) + 4 * k, inst.w[k]);
  fix_crc(b);
  expect_error(b, {"TEXT instruction #5", "requant", "field q = 9", "parameter id out of range"});
}

TEST(ReaderBad, ParamKindMismatch_bad) {
  auto b = valid();
  b[find_section(b, SectionType::Param).first + 0] = 3;  // q1 becomes a clamp entry
  // clamp has no byte 1..3 fields: clear mode/per_channel/region and the requant fields.
  for (int i = 1; i < 28; ++i) b[find_section(b, SectionType::Param).first + i] = 0;
  fix_crc(b);
  expect_error(b, {"TEXT instruction #5", "names parameter 'q1', which is not a requant entry"});
}

TEST(ReaderBad, ParamReservedByte_bad) {
  auto b = valid();
  // requant uses every byte; make entry 1 a clamp entry (fields at 4..19) with byte 2 set.
  const size_t e1 = find_section(b, SectionType::Param).first + 32;
  for (int i = 1; i < 28; ++i) b[e1 + i] = 0;
  b[e1] = 3;
  b[e1 + 2] = 1;
  fix_crc(b);
  expect_error(b, {"PARAM entry 1", "reserved byte 2"});
}

TEST(ReaderBad, ParamRegionOutOfRange_bad) {
  // Found by fuzz_npub: a requant entry's table region naming a region that does not exist.
  auto b = valid();
  b[find_section(b, SectionType::Param).first + 3] = 200;  // PARAM entry 0, byte 3 (region)
  fix_crc(b);
  expect_error(b, {"PARAM entry 0", "field region = 200", "region id out of range"});
}

TEST(ReaderBad, DescOffsetBeyondSignedRange_bad) {
  // Found by fuzz_npub: an offset the assembler cannot write back.
  auto b = valid();
  b[find_section(b, SectionType::Desc).first + 64 * 3 + 15] = 0xFF;  // DESC entry 3, offset byte 7
  fix_crc(b);
  expect_error(b, {"DESC entry 3", "exceeds 2^63-1"});
}

TEST(ReaderBad, NoFinish_bad) {
  auto b = valid();
  const size_t last = find_section(b, SectionType::Text).second / 16 - 1;
  put_u32(b, text_at(b, last), static_cast<uint32_t>(Opcode::Nop));
  fix_crc(b);
  const std::string where = "TEXT instruction #" + std::to_string(last);
  expect_error(b, {where.c_str(), "does not end with finish"});
}

TEST(ReaderBad, FinishBeforeEnd_bad) {
  auto b = valid();
  put_u32(b, text_at(b, 0), static_cast<uint32_t>(Opcode::Finish));
  put_u32(b, text_at(b, 0) + 4, 0);
  fix_crc(b);
  expect_error(b, {"TEXT instruction #0", "finish before the end"});
}

TEST(ReaderBad, WrongSemaphoreConsumer_bad) {
  auto b = valid();
  // store #12 waits on vp_st (consumer store); make it wait on ld_mx (consumer mxu).
  uint32_t w0 = get_u32(b, text_at(b, 12));
  w0 = (w0 & ~(0x3Fu << 9)) | (0u << 9);
  put_u32(b, text_at(b, 12), w0);
  fix_crc(b);
  expect_error(b, {"TEXT instruction #12", "store", "declared consumer is mxu"});
}

TEST(ReaderBad, NameOutsideStrtab_bad) {
  auto b = valid();
  put_u32(b, find_section(b, SectionType::Sems).first + 8, 0xFFFFFF);  // SEMS entry 1 name
  fix_crc(b);
  expect_error(b, {"SEMS entry 1", "outside STRTAB"});
}

TEST(ReaderBad, ConstOutsideSection_bad) {
  auto b = valid();
  put_u32(b, find_section(b, SectionType::Regions).first + 32 * 1 + 24, 1u << 30);  // w's const_size
  fix_crc(b);
  expect_error(b, {"REGIONS entry 1", "outside the CONST section"});
}

TEST(ReaderBad, TrailingZeroConstBytesAreCanonicalised) {
  // Found by fuzz_npub: a writer that stores trailing zero bytes of a region's contents must give
  // the same program as one that trims them.
  const Program trimmed = read_npub(valid());
  Program padded = trimmed;
  padded.regions[1].init.insert(padded.regions[1].init.end(), 5, 0);
  const auto bytes = write_npub(padded);
  EXPECT_GT(find_section(bytes, SectionType::Const).second, find_section(valid(), SectionType::Const).second);
  EXPECT_TRUE(read_npub(bytes) == trimmed);
}

TEST(ReaderBad, EmptyFileAndNoise_bad) {
  expect_error({}, {"shorter than the 64-byte header"});
  std::vector<uint8_t> noise(4096);
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<uint8_t>(i * 131 + 7);
  expect_error(noise, {"bad magic"});
}

}  // namespace
}  // namespace npusim::isa
