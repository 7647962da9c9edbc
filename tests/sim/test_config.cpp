// Configuration: bundled configs, strictness (types, units, unknown keys with hints, required
// keys, duplicates, cross-field checks), the reference listing and the hash.
#include <gtest/gtest.h>

#include "base/units.h"
#include "sim/npu_config.h"

namespace npusim::config {
namespace {

const std::string kConfigs = NPUSIM_CONFIGS;

NpuConfig from_text(const std::string& y) {
  return load_npu_config_text(y, "t.yaml");
}

void expect_error(const std::string& yaml, std::initializer_list<const char*> fragments) {
  try {
    from_text(yaml);
    ADD_FAILURE() << "accepted:\n" << yaml;
  } catch (const ConfigError& e) {
    for (const char* f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "message: " << e.what() << "\nmissing: " << f;
  }
}

const std::string kMinimal = "name: t\ndram: {bandwidth: 10GB/s}\n";

TEST(Units, ParseAndPrint) {
  uint64_t b;
  EXPECT_TRUE(parse_bytes("512KiB", b));
  EXPECT_EQ(b, 524288u);
  EXPECT_TRUE(parse_bytes("4096", b));
  EXPECT_EQ(b, 4096u);
  EXPECT_TRUE(parse_bytes("1.5MiB", b));
  EXPECT_EQ(b, 1572864u);
  EXPECT_FALSE(parse_bytes("12 apples", b));
  EXPECT_FALSE(parse_bytes("-1KiB", b));
  EXPECT_FALSE(parse_bytes("0.3B", b));
  double v;
  EXPECT_TRUE(parse_frequency("700MHz", v));
  EXPECT_DOUBLE_EQ(v, 700e6);
  EXPECT_FALSE(parse_frequency("700", v));  // a unit is required
  EXPECT_TRUE(parse_bandwidth("12.8GB/s", v));
  EXPECT_DOUBLE_EQ(v, 12.8e9);
  EXPECT_TRUE(parse_time("7.8us", v));
  EXPECT_DOUBLE_EQ(v, 7.8e-6);
  EXPECT_EQ(bytes_text(28u << 20), "28MiB");
  EXPECT_EQ(frequency_text(1.5e9), "1.5GHz");
  EXPECT_EQ(edit_distance("rwos", "rows"), 2u);
}

TEST(Config, BundledConfigsLoad) {
  const NpuConfig edge = load_npu_config(kConfigs + "/edge.yaml");
  EXPECT_EQ(edge.mxu.rows, 16u);
  EXPECT_EQ(edge.mxu.cols, 16u);
  EXPECT_DOUBLE_EQ(edge.clock_hz, 1e9);
  EXPECT_EQ(edge.spad.size_bytes, 512u * 1024);
  EXPECT_EQ(edge.acc.size_bytes, 128u * 1024);
  EXPECT_EQ(edge.dram.impl, "banked");
  const auto edge_dram = memory::DramRegistry::make(edge.dram);
  EXPECT_DOUBLE_EQ(edge_dram->peak_bandwidth(), 12.8e9);  // LPDDR4-class

  const NpuConfig tpu = load_npu_config(kConfigs + "/tpu_v1.yaml");
  EXPECT_EQ(tpu.mxu.rows, 256u);
  EXPECT_DOUBLE_EQ(tpu.clock_hz, 700e6);
  EXPECT_EQ(tpu.spad.size_bytes + tpu.acc.size_bytes, 28u << 20);                    // 28 MiB on chip
  EXPECT_NEAR(memory::DramRegistry::make(tpu.dram)->peak_bandwidth(), 34e9, 0.2e9);  // DDR3, 34 GB/s

  // Edge-TPU-class: 4096 int8 MACs at 500 MHz = 4.1 TOPS (Coral: 4 TOPS), its clock dividers.
  const NpuConfig etpu = load_npu_config(kConfigs + "/edge_tpu.yaml");
  EXPECT_NEAR(2.0 * etpu.mxu.rows * etpu.mxu.cols * etpu.clock_hz, 4e12, 0.1e12);
  EXPECT_EQ(etpu.opps.size(), 4u);

  const NpuConfig gem = load_npu_config(kConfigs + "/gemmini.yaml");
  EXPECT_EQ(gem.spad.line_bytes, 16u);
  const NpuConfig dc = load_npu_config(kConfigs + "/datacenter.yaml");
  EXPECT_TRUE(dc.mxu.fold_overlap);
  EXPECT_GT(memory::DramRegistry::make(dc.dram)->peak_bandwidth(), 800e9);
}

TEST(Config, DefaultsApplyWhenSectionsAreAbsent) {
  const NpuConfig c = from_text(kMinimal);
  EXPECT_EQ(c.mxu.rows, 16u);
  EXPECT_EQ(c.mxu.dataflow, "ws");
  EXPECT_EQ(c.queues.depth, 8u);
  EXPECT_EQ(c.dram.impl, "simple");
  EXPECT_DOUBLE_EQ(c.dram.bandwidth, 10e9);
}

TEST(Config, UnknownKeyNamesFileLineAndNearestKey_bad) {
  expect_error(kMinimal + "mxu:\n  rwos: 4\n",
               {"t.yaml:4:3: error: unknown key 'rwos' in mxu (did you mean 'rows'?)", "valid keys:"});
  expect_error(kMinimal + "clokc: 1GHz\n", {"t.yaml:3:1: error: unknown key 'clokc' (did you mean 'clock'?)"});
}

TEST(Config, WrongTypeAndBadUnit_bad) {
  expect_error(kMinimal + "mxu: {rows: sixteen}\n",
               {"t.yaml:3:13: error: mxu.rows: expected an integer in [1, 4096], got 'sixteen'"});
  expect_error(kMinimal + "mxu: {rows: 0}\n", {"mxu.rows: expected an integer in [1, 4096], got '0'"});
  expect_error(kMinimal + "clock: 1000\n", {"clock: expected a frequency such as 1GHz or 700MHz, got '1000'"});
  expect_error(kMinimal + "scratchpad: {size: 512 KB/s}\n", {"scratchpad.size: expected a size such as 512KiB"});
  expect_error(kMinimal + "mxu: {dataflow: rs}\n", {"mxu.dataflow: expected one of [ws, os, is], got 'rs'"});
  expect_error(kMinimal + "mxu: {fold_overlap: yes}\n", {"mxu.fold_overlap: expected true or false"});
  expect_error(kMinimal + "mxu: {dtypes: [i8, int4]}\n",
               {"mxu.dtypes: expected elements from [i8, u8, fp16, bf16], got 'int4'"});
  expect_error(kMinimal + "mxu: 16\n", {"t.yaml:3:6: error: mxu: expected a mapping of keys"});
}

TEST(Config, MissingRequired_bad) {
  expect_error("dram: {bandwidth: 1GB/s}\n", {"missing required key 'name'"});
  expect_error("name: x\n", {"dram: missing required key 'bandwidth'"});
}

TEST(Config, DuplicateKey_bad) {
  expect_error("name: a\nname: b\ndram: {bandwidth: 1GB/s}\n", {"t.yaml:2:1: error: name: key given twice"});
}

TEST(Config, ImplSelectsItsOwnParameters_bad) {
  expect_error("name: t\ndram: {impl: hbm, bandwidth: 1GB/s}\n",
               {"dram.impl: expected one of [banked, simple], got 'hbm'"});
  // `channels` belongs to the banked implementation, not to simple.
  expect_error("name: t\ndram: {impl: simple, bandwidth: 1GB/s, channels: 2}\n", {"unknown key 'channels' in dram"});
  const NpuConfig c = from_text("name: t\ndram: {impl: banked, channels: 4, bus_bits: 64}\n");
  EXPECT_EQ(c.dram.channels, 4u);
}

TEST(Config, CrossFieldChecks_bad) {
  expect_error(kMinimal + "accumulator: {line_bytes: 32, bank_width: 32}\n",
               {"scratchpad.line_bytes (64) and accumulator.line_bytes (32) must be equal"});
  expect_error(kMinimal + "scratchpad: {line_bytes: 48}\n", {"scratchpad: line_bytes (48) must be a power of two"});
  expect_error(kMinimal + "scratchpad: {bank_width: 24}\n",
               {"line_bytes (64) and bank_width (24) must divide one another"});
  expect_error(kMinimal + "scratchpad: {size: 1000}\n", {"scratchpad: size (1000B) must be a multiple of line_bytes"});
  expect_error(kMinimal + "scratchpad: {size: 1088}\n",
               {"size (1088B) must be a multiple of banks x line_bytes (512 bytes)"});
  expect_error(kMinimal + "scratchpad: {impl: ideal, banks: 4}\n", {"unknown key 'banks' in scratchpad"});
  expect_error(kMinimal + "dma: {impl: fastest}\n",
               {"dma.impl: expected one of [earliest_free, per_engine, round_robin], got 'fastest'"});
  expect_error(kMinimal + "mxu: {rows: 256, cols: 256}\naccumulator: {size: 64KiB}\n",
               {"cannot hold one 256x256 i32 output tile"});
  expect_error("name: t\ndram: {impl: banked, row_bytes: 1000, interleave: 256}\n",
               {"row_bytes (1000) must be a multiple of interleave (256)"});
}

TEST(Config, NonScalarKey_bad) {
  // Found by fuzz_config: a mapping used as a key.
  expect_error(kMinimal + "mxu:\n  ? {a: 1}\n  : 3\n",
               {"t.yaml:4:5: error: mxu: keys must be plain names, found a mapping"});
  expect_error(kMinimal + "? [1, 2]\n: x\n", {"keys must be plain names, found a list"});
}

TEST(Config, InvalidYaml_bad) {
  expect_error("name: [unclosed\n", {"t.yaml:", "invalid YAML"});
}

TEST(Config, ReferenceListsEveryParameter) {
  const std::string ref = npu_config_reference();
  for (const char* k :
       {"clock ", "mxu.rows ", "mxu.dataflow ", "mxu.fold_overlap ", "scratchpad.bank_width ", "accumulator.ports ",
        "dma.outstanding ", "dram.impl ", "dram.tRCD ", "dram.bandwidth ", "vpu.lanes ", "queues.depth "})
    EXPECT_NE(ref.find(k), std::string::npos) << k;
  EXPECT_NE(ref.find("# dram with impl: banked"), std::string::npos);
  EXPECT_NE(ref.find("(required)"), std::string::npos);
}

TEST(Config, HashIsStableAndSensitive) {
  const NpuConfig a = from_text(kMinimal), b = from_text("dram: {bandwidth: 10GB/s}\nname: t\n");
  EXPECT_EQ(a.hash(), b.hash());  // key order does not matter
  const NpuConfig c = from_text(kMinimal + "mxu: {rows: 32}\n");
  EXPECT_NE(a.hash(), c.hash());
}

}  // namespace
}  // namespace npusim::config
