// The NPU config tree, its cross-block checks, loading and hashing.
#include "sim/npu_config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstring>
#include <sstream>

#include "base/input_file.h"
#include "base/units.h"

namespace npusim::config {

/// Largest config file read (the bundled ones are about 2 KB).
constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;

arch::DesignShape design_of(const NpuConfig& c) {
  arch::DesignShape d;
  d.mxu_rows = c.mxu.rows, d.mxu_cols = c.mxu.cols;
  d.mxu_float = false;
  for (const auto& t : c.mxu.dtypes) d.mxu_float = d.mxu_float || t == "fp16" || t == "bf16";
  auto sram = [](const memory::SramConfig& m) {
    return arch::SramShape{static_cast<double>(m.size_bytes), m.banks, m.bank_width_bytes, m.ports};
  };
  d.spad = sram(c.spad), d.acc = sram(c.acc);
  d.dma_channels = c.dma.channels;
  // A simple (fixed-bandwidth) DRAM is priced as its channel count of its bus width, as a banked one.
  d.dram_channels = c.dram.channels, d.dram_bus_bits = c.dram.bus_bits;
  d.vpu_lanes = c.vpu.lanes;
  return d;
}

void describe_npu(Section& s, NpuConfig& c) {
  s.text("name", c.name, "name of this NPU configuration", std::nullopt);
  s.frequency("clock", c.clock_hz, "NPU clock frequency (all engines)", 1e9);
  s.child("mxu", "systolic matrix unit", [&c](Section& m) { arch::describe_mxu(m, c.mxu); });
  s.child("scratchpad", "scratchpad SRAM (inputs, weights, outputs)",
          [&c](Section& m) { memory::describe_sram(m, c.spad, 512 * 1024); });
  s.child("accumulator", "accumulator SRAM (i32/fp32 partial sums)",
          [&c](Section& m) { memory::describe_sram(m, c.acc, 128 * 1024); });
  s.child("dma", "DMA engines between DRAM and SRAM", [&c](Section& m) { memory::describe_dma(m, c.dma); });
  s.child("dram", "external memory", [&c](Section& m) { memory::describe_dram(m, c.dram); });
  s.child("vpu", "vector unit", [&c](Section& m) { arch::describe_vpu(m, c.vpu); });
  s.child("queues", "engine instruction queues", [&c](Section& m) {
    m.integer("depth", c.queues.depth, "entries", "instructions each engine's queue holds", 8, 1, 65536);
  });
  s.child("host", "the host running operators the compiler left to it (host fallback)",
          [&c](Section& m) { describe_host(m, c.host); });
  s.child("power", "energy per action and leakage (docs/power.md)",
          [&c](Section& m) { arch::describe_power(m, c.power); });
  s.child("thermal", "RC thermal network (docs/power.md)", [&c](Section& m) { arch::describe_thermal(m, c.thermal); });
  s.child("dvfs", "operating points", [&c](Section& m) { arch::describe_dvfs(m, c.opps); });
  s.child("governor", "thermal throttling", [&c](Section& m) { arch::describe_governor(m, c.governor); });
  // Cross-block checks.
  s.check([&c] { c.power.design = design_of(c); });  // what the cost models price
  s.check([&c] {
    if (c.opps.empty()) c.opps = {{c.clock_hz, c.power.v_nominal}};
    if (std::abs(c.opps.front().hz - c.clock_hz) > 1e-6 * c.clock_hz)
      throw std::invalid_argument("clock (" + frequency_text(c.clock_hz) +
                                  ") must equal the first (fastest) of dvfs.operating_points (" +
                                  frequency_text(c.opps.front().hz) + "): runs start there");
    c.governor.opps = c.opps;
  });
  s.check([&c] {
    if (c.spad.line_bytes != c.acc.line_bytes)
      throw std::invalid_argument("scratchpad.line_bytes (" + std::to_string(c.spad.line_bytes) +
                                  ") and accumulator.line_bytes (" + std::to_string(c.acc.line_bytes) +
                                  ") must be equal: ISA line addresses use one line size");
    if (c.acc.line_bytes < 4)
      throw std::invalid_argument("accumulator.line_bytes must hold at least one 4-byte accumulator");
    const uint64_t acc_row = uint64_t{c.mxu.cols} * 4;
    if (c.acc.size_bytes < acc_row * c.mxu.rows)
      throw std::invalid_argument("accumulator.size (" + bytes_text(c.acc.size_bytes) + ") cannot hold one " +
                                  std::to_string(c.mxu.rows) + "x" + std::to_string(c.mxu.cols) + " i32 output tile (" +
                                  bytes_text(acc_row * c.mxu.rows) + ")");
  });
}

namespace {
NpuConfig load_node(const YAML::Node& root, const std::string& name) {
  NpuConfig c;
  load([&c](Section& s) { describe_npu(s, c); }, root, name);
  c.source = name;
  return c;
}
}  // namespace

NpuConfig load_npu_config(const std::string& path) {
  std::string text;
  try {
    text = read_input_file(path, "config", kMaxConfigBytes);  // a regular file, bounded
  } catch (const InputError& e) {  // "PATH: cannot read config: ..." in the config errors' form
    const std::string m = e.what();
    throw ConfigError(m.rfind(path + ": ", 0) == 0 ? path + ": error: " + m.substr(path.size() + 2) : m);
  }
  return load_npu_config_text(text, path);
}

namespace {

/// yaml-cpp 0.7's LoadAll never returns on a ',' token where no block is open: at the start of a
/// document, or on a line dedented below the document's first line (found by fuzz_config; Load
/// does not hang). Such a line is refused here first, naming it.
void refuse_leading_flow_entry(const std::string& yaml, const std::string& name) {
  bool doc_start = true;
  size_t root_indent = 0;  // column of the document's first content line
  size_t line_no = 0;
  for (size_t at = 0; at <= yaml.size();) {
    const size_t end = std::min(yaml.find('\n', at), yaml.size());
    const std::string line = yaml.substr(at, end - at);
    at = end + 1;
    ++line_no;
    size_t i = line.find_first_not_of(" \t\r");
    if (i == std::string::npos || line[i] == '#' || line[i] == '%') continue;
    if (line.compare(i, 3, "---") == 0 || line.compare(i, 3, "...") == 0) {
      doc_start = true;
      i = line.find_first_not_of(" \t\r", i + 3);
      if (i == std::string::npos || line[i] == '#') continue;
    }
    if (line[i] == ',' && (doc_start || i < root_indent))
      throw ConfigError(name + ":" + std::to_string(line_no) + ":" + std::to_string(i + 1) +
                        ": error: invalid YAML: ',' where no mapping or list is open");
    if (doc_start) root_indent = i;
    doc_start = false;
  }
}

}  // namespace

/// Events of a parse that only note where the second document's first node is.
struct SecondDocument final : YAML::EventHandler {
  int documents = 0;  ///< documents finished before this one
  YAML::Mark mark;    ///< first node of the second document
  bool seen = false;  ///< mark is set
  void note(const YAML::Mark& m) {
    if (documents == 1 && !seen) mark = m, seen = true;
  }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { note(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { note(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { note(m); }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    note(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    note(m);
  }
  void OnMapEnd() override {}
};

NpuConfig load_npu_config_text(const std::string& yaml, const std::string& name) {
  refuse_leading_flow_entry(yaml, name);
  YAML::Node doc;
  try {
    // At most two documents are parsed: yaml-cpp 0.7's LoadAll loops for ever on some malformed
    // inputs (a document that does not consume its tokens), a bounded count never does.
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    SecondDocument second;
    if (parser.HandleNextDocument(second) && (second.documents = 1, parser.HandleNextDocument(second)))
      // A second document (after ---) would be silently ignored by a single-document load.
      throw ConfigError(name + ":" + std::to_string(second.mark.line + 1) +
                        ": error: a config is one YAML document; found more than one");
    doc = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw ConfigError(name + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": error: invalid YAML: " + e.msg);
  }
  return load_node(doc, name);
}

std::string npu_config_reference() {
  NpuConfig c;
  return describe_text([&c](Section& s) { describe_npu(s, c); });
}

std::string npu_config_summary(const NpuConfig& c) {
  NpuConfig walked = c;  // the walk binds the declarations to a config it may not write (Mode::Values)
  return values_text([&walked](Section& s) { describe_npu(s, walked); });
}

std::string npu_config_identity(const NpuConfig& c) {
  NpuConfig walked = c;
  return identity_text([&walked](Section& s) { describe_npu(s, walked); });
}

uint64_t NpuConfig::hash() const {
  // FNV-1a 64 over every declared parameter's identity (tests/sim/test_config_hash.cpp varies
  // each one): equal design points hash equal, whatever the file layout or key order.
  return std::stoull(fnv1a64_hex(npu_config_identity(*this)), nullptr, 16);
}

}  // namespace npusim::config
