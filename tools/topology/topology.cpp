#include "tools/topology/topology.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <tuple>

#include "arch/mxu_timing.h"
#include "arch/power.h"
#include "base/input_file.h"
#include "base/json.h"
#include "base/stats.h"
#include "base/text.h"
#include "base/units.h"
#include "isa/diag.h"
#include "memory/dram.h"

namespace npusim::topology {
namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

uint64_t ceil_div(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}

std::string num(double v) {  // this output's precision
  return format_g(v, 16);
}
nlohmann::ordered_json jnum(double v) {  // the same figure in JSON
  return json_g(v, 16);
}

}  // namespace

Gemm gemm_of(const Layer& l) {
  Gemm g;
  // SCALE-Sim (topology_utils.py): ofmap = ceil((ifmap - filter + stride) / stride).
  g.ofmap_h = ceil_div(l.ifmap_h - l.filter_h + l.stride_h, l.stride_h);
  g.ofmap_w = ceil_div(l.ifmap_w - l.filter_w + l.stride_w, l.stride_w);
  g.m = g.ofmap_h * g.ofmap_w;
  g.n = l.filters;
  g.k = l.filter_h * l.filter_w * l.channels;
  return g;
}

namespace {

/// Adds `text` to `notes` once (a file's notes repeat per row otherwise).
void note_once(std::vector<std::string>* notes, const std::string& text) {
  if (notes && std::find(notes->begin(), notes->end(), text) == notes->end()) notes->push_back(text);
}

/// Splits one line at `sep`, trimming each cell; an empty line gives no cells.
std::vector<std::string> split_cells(const std::string& line, char sep) {
  std::vector<std::string> out;
  size_t a = 0;
  while (true) {
    const size_t b = line.find(sep, a);
    out.push_back(trim(line.substr(a, b == std::string::npos ? std::string::npos : b - a)));
    if (b == std::string::npos) break;
    a = b + 1;
  }
  return out;
}

/// The header's name for a column past the ones every row has, lowercased without spaces.
std::string column_name(const std::vector<std::string>& header, size_t c) {
  std::string n;
  if (c < header.size())
    for (char ch : lower(header[c]))
      if (!std::isspace(static_cast<unsigned char>(ch))) n += ch;
  return n;
}

/// Parses a SCALE-Sim v3 sparsity ratio "N:M" (1 <= N <= M); false when it is not one.
bool parse_ratio(const std::string& s, uint32_t& n, uint32_t& m) {
  const size_t colon = s.find(':');
  if (colon == std::string::npos) return false;
  unsigned long long a = 0, b = 0;
  if (!config::parse_unsigned(trim(s.substr(0, colon)), a) || !config::parse_unsigned(trim(s.substr(colon + 1)), b))
    return false;
  if (a == 0 || b == 0 || a > b || b > 1024) return false;
  n = static_cast<uint32_t>(a), m = static_cast<uint32_t>(b);
  return true;
}

}  // namespace

std::vector<Layer> load_topology(const std::string& path, Format fmt, std::vector<std::string>* notes) {
  require_input_file(path, "topology file");  // a FIFO would block, a directory read as empty
  std::ifstream in(path);
  if (!in) throw isa::InputError(path + ": cannot open the topology file");
  std::vector<Layer> layers;
  std::vector<std::string> header;  // the header's cells: names the optional columns
  std::string line;
  int ln = 0;
  char sep = ',';
  bool noted_tail = false, noted_heading = false;  // one note per file for each
  static const char* conv_cols[] = {"IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
                                    "Channels",     "Num Filter",  "Strides"};
  static const char* gemm_cols[] = {"M", "N", "K"};
  while (std::getline(in, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (ln == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);  // a UTF-8 byte-order mark
    if (trim(line).empty()) continue;
    const std::string where = path + ":" + std::to_string(ln);
    if (header.empty()) {
      // SCALE-Sim splits at commas only; a header with tabs and no comma marks a tab-separated
      // file, which npusim reads as well (SCALE-Sim cannot).
      if (line.find(',') == std::string::npos && line.find('\t') != std::string::npos) {
        sep = '\t';
        note_once(notes, path + ": tab-separated (SCALE-Sim reads commas only; npusim reads the tabs as commas)");
      }
      header = split_cells(line, sep);
      while (!header.empty() && header.back().empty()) header.pop_back();
      unsigned long long probe = 0;
      if (header.size() > 1 && config::parse_unsigned(header[1], probe))
        throw isa::InputError(where + ": expected a header line (Layer name, IFMAP Height, ... or Layer, M, N, K)");
      const bool gemm_header =
          header.size() >= 4 && lower(header[1]) == "m" && lower(header[2]) == "n" && lower(header[3]) == "k";
      if (fmt == Format::Auto) fmt = gemm_header ? Format::Gemm : Format::Conv;
      if (header.empty()) header.push_back("");
      continue;
    }
    // SCALE-Sim's rule (topology_utils.py: row.split(',')[:-1]): the cells before the last
    // separator are the row, what follows it is a comment (`#dw` in its MobileNet files).
    std::vector<std::string> cells = split_cells(line, sep);
    std::string tail = cells.back();
    cells.pop_back();
    const bool gemm = fmt == Format::Gemm;
    const size_t need = gemm ? 3 : 7;  // values every row has
    unsigned long long probe = 0;
    if (!tail.empty()) {
      if (cells.size() == need && config::parse_unsigned(tail, probe)) {
        // The row's last value without its trailing comma: SCALE-Sim would drop it and fail.
        cells.push_back(tail);
      } else if (!noted_tail) {
        noted_tail = true;
        note_once(notes, where + ": text after a row's last comma is a comment ('" + tail +
                             "' here), ignored as SCALE-Sim ignores it");
      }
    }
    if (cells.empty() || std::all_of(cells.begin(), cells.end(), [](const std::string& c) { return c.empty(); }))
      continue;  // a row of empty cells
    if (cells[0].empty()) throw isa::InputError(where + ": the layer has no name");
    if (std::all_of(cells.begin() + 1, cells.end(), [](const std::string& c) { return c.empty(); })) {
      // A name and no values: a heading between networks (SCALE-Sim's MLPERF.csv).
      if (!noted_heading)
        note_once(notes,
                  where + ": '" + cells[0] + "' (and any later row with a name and no values) is a heading: skipped");
      noted_heading = true;
      continue;
    }
    if (cells.size() - 1 < need)
      throw isa::InputError(where + ": layer '" + cells[0] + "' has " + std::to_string(cells.size() - 1) +
                            " values; expected " + std::to_string(need) +
                            (gemm ? " (M, N, K)"
                                  : " (IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                                    "Channels, Num Filter, Strides)"));
    uint64_t v[7] = {0, 0, 0, 0, 0, 0, 0};
    for (size_t c = 0; c < need; ++c) {
      const char* col = gemm ? gemm_cols[c] : conv_cols[c];
      if (cells[c + 1].empty()) throw isa::InputError(where + ": layer '" + cells[0] + "': " + col + " is empty");
      unsigned long long x = 0;
      if (!config::parse_unsigned(cells[c + 1], x) || x == 0 || x > (1ull << 31))
        throw isa::InputError(where + ": layer '" + cells[0] + "': " + col + " expects a positive integer, got '" +
                              cells[c + 1] + "'");
      v[c] = x;
    }
    Layer l;
    l.name = cells[0];
    l.line = ln;
    l.gemm = gemm;
    if (gemm) {
      // SCALE-Sim's GEMM form as a 1 x K filter over an M x K input: M pixels, window K, N filters.
      l.ifmap_h = v[0], l.ifmap_w = v[2], l.filter_h = 1, l.filter_w = v[2], l.channels = 1, l.filters = v[1];
    } else {
      l.ifmap_h = v[0], l.ifmap_w = v[1], l.filter_h = v[2], l.filter_w = v[3], l.channels = v[4];
      l.filters = v[5], l.stride_h = l.stride_w = v[6];
    }
    // The optional column after the fixed ones: by its header name, or, unnamed, by its value.
    // SCALE-Sim v2 reads a number there as the stride width, v3 an "N:M" as the layer's sparsity.
    const size_t opt = need + 1;
    if (opt < cells.size() && !cells[opt].empty()) {
      const std::string name = column_name(header, opt);
      const std::string& x = cells[opt];
      const std::string col =
          header.size() > opt && !header[opt].empty() ? header[opt] : "column " + std::to_string(opt + 1);
      unsigned long long w = 0;
      const bool is_sparsity = name == "sparsity" || (name.empty() && x.find(':') != std::string::npos);
      const bool is_stride =
          !gemm && (name == "stridewidth" || name == "stridew" || (name.empty() && config::parse_unsigned(x, w)));
      if (is_sparsity) {
        if (!parse_ratio(x, l.sparsity_n, l.sparsity_m))
          throw isa::InputError(where + ": layer '" + l.name + "': Sparsity expects N:M with 1 <= N <= M, got '" + x +
                                "'");
      } else if (is_stride) {
        if (!config::parse_unsigned(x, w) || w == 0 || w > (1ull << 31))
          throw isa::InputError(where + ": layer '" + l.name + "': Stride width expects a positive integer, got '" + x +
                                "'");
        l.stride_w = w;
      } else {
        note_once(notes,
                  path + ": column '" + col + "' is neither Stride width (SCALE-Sim v2) nor Sparsity (v3): ignored");
      }
    }
    if (cells.size() > opt + 1)
      note_once(notes, path + ": columns after the " + std::to_string(opt + 1) +
                           "th are comments (ignored, as SCALE-Sim does)");
    if (!gemm && (l.filter_h > l.ifmap_h || l.filter_w > l.ifmap_w))
      throw isa::InputError(where + ": layer '" + l.name + "': the filter (" + std::to_string(l.filter_h) + "x" +
                            std::to_string(l.filter_w) + ") is larger than the input (" + std::to_string(l.ifmap_h) +
                            "x" + std::to_string(l.ifmap_w) + ")");
    const Gemm g = gemm_of(l);
    if (g.m > std::numeric_limits<uint32_t>::max() || g.k > std::numeric_limits<uint32_t>::max())
      throw isa::InputError(where + ": layer '" + l.name + "' is too large (M or K over 2^32)");
    if (!gemm && l.name.find("DP") != std::string::npos) {
      // Depthwise (SCALE-Sim's convention: "DP" in the name): one single-channel layer per channel.
      const uint64_t ch = l.channels;
      l.channels = 1;
      const std::string base = l.name;
      for (uint64_t c = 0; c < ch; ++c) {
        l.name = base + "Channel_" + std::to_string(c);
        layers.push_back(l);
      }
      continue;
    }
    layers.push_back(l);
  }
  if (header.empty()) throw isa::InputError(path + ": empty topology file (expected a header line and layers)");
  if (layers.empty()) throw isa::InputError(path + ": no layers after the header");
  return layers;
}

LayerMemory memory_of(const config::NpuConfig& cfg) {
  LayerMemory m;
  m.ifmap_sram_bytes = cfg.spad.size_bytes / 2;
  m.filter_sram_bytes = cfg.spad.size_bytes - m.ifmap_sram_bytes;
  m.ofmap_sram_bytes = cfg.acc.size_bytes;
  m.dram_bytes_per_cycle = memory::DramRegistry::make(cfg.dram)->peak_bandwidth() / cfg.clock_hz;
  return m;
}

namespace {

/// How SCALE-Sim reads a `.cfg` value (scale_config.py): what npusim checks it against.
enum class CfgKind {
  Text,     ///< any text (names, paths)
  PosInt,   ///< int(), at least 1
  Int,      ///< int(), at least 0
  Bool,     ///< configparser's getboolean: true/false, yes/no, on/off, 1/0
  IntList,  ///< comma-separated int()s (Bandwidth)
  Choice,   ///< one of `choices`
};

/// One key SCALE-Sim v2 or v3 defines: its section, spelling, value kind, and, for a key that
/// changes nothing npusim computes, what it does in SCALE-Sim and why it does not apply here.
struct CfgKey {
  const char* section;  ///< lowercase section name
  const char* name;     ///< SCALE-Sim's spelling
  CfgKind kind;         ///< how the value is checked
  const char* choices;  ///< Choice: the values, '|'-separated
  const char* note;     ///< nullptr when npusim models the key
};

const char* const kLayoutNote =
    "SCALE-Sim v3 models SRAM banks and bank conflicts from [layout] (with a layout file when a "
    "*CustomLayout key is True); npusim's layer model has one port per SRAM and does not model banks yet";
const char* const kSparsityNote =
    "weights are compressed as SCALE-Sim v3 maps them in the WS dataflow (its compute cycles, filter and "
    "ofmap SRAM counts; layer-wise also its ifmap SRAM reads); DRAM traffic stays npusim's model, "
    "OptimizedMapping's ifmap SRAM reads and mapping efficiency are not v3's, and the OS and IS "
    "dataflows (where v3 has no sparse path) run dense";

const std::vector<CfgKey>& cfg_keys() {
  static const std::vector<CfgKey> keys = {
      {"general", "run_name", CfgKind::Text, nullptr, nullptr},
      {"architecture_presets", "ArrayHeight", CfgKind::PosInt, nullptr, nullptr},
      {"architecture_presets", "ArrayWidth", CfgKind::PosInt, nullptr, nullptr},
      {"architecture_presets", "IfmapSramSzkB", CfgKind::PosInt, nullptr, nullptr},
      {"architecture_presets", "FilterSramSzkB", CfgKind::PosInt, nullptr, nullptr},
      {"architecture_presets", "OfmapSramSzkB", CfgKind::PosInt, nullptr, nullptr},
      {"architecture_presets", "IfmapOffset", CfgKind::Int, nullptr,
       "SCALE-Sim adds the offsets to the addresses in its SRAM and DRAM traces; they change no count or "
       "cycle, and npusim writes no address traces"},
      {"architecture_presets", "FilterOffset", CfgKind::Int, nullptr, nullptr},  // noted with IfmapOffset
      {"architecture_presets", "OfmapOffset", CfgKind::Int, nullptr, nullptr},
      {"architecture_presets", "Dataflow", CfgKind::Choice, "ws|os|is", nullptr},
      {"architecture_presets", "Bandwidth", CfgKind::IntList, nullptr, nullptr},
      {"architecture_presets", "MemoryBanks", CfgKind::PosInt, nullptr,
       "SCALE-Sim v3 (main) keeps one bank per SRAM and reads MemoryBanks only on development branches; "
       "npusim likewise"},
      {"architecture_presets", "OnChipMemoryBanks", CfgKind::PosInt, nullptr,
       "SCALE-Sim v3 (main) does not read OnChipMemoryBanks or OnChipMemoryBankPorts (banks come from "
       "[layout]); npusim likewise"},
      {"architecture_presets", "OnChipMemoryBankPorts", CfgKind::PosInt, nullptr, nullptr},
      {"architecture_presets", "ReadRequestBuffer", CfgKind::PosInt, nullptr,
       "SCALE-Sim v3 sizes its DRAM read and write request queues (read_port.py, write_port.py) with "
       "ReadRequestBuffer and WriteRequestBuffer; npusim's layer model overlaps DRAM with compute at the "
       "Bandwidth and does not queue requests yet"},
      {"architecture_presets", "WriteRequestBuffer", CfgKind::PosInt, nullptr, nullptr},
      {"layout", "IfmapCustomLayout", CfgKind::Bool, nullptr, kLayoutNote},
      {"layout", "IfmapSRAMBankBandwidth", CfgKind::PosInt, nullptr, nullptr},
      {"layout", "IfmapSRAMBankNum", CfgKind::PosInt, nullptr, nullptr},
      {"layout", "IfmapSRAMBankPort", CfgKind::PosInt, nullptr, nullptr},
      {"layout", "FilterCustomLayout", CfgKind::Bool, nullptr, nullptr},
      {"layout", "FilterSRAMBankBandwidth", CfgKind::PosInt, nullptr, nullptr},
      {"layout", "FilterSRAMBankNum", CfgKind::PosInt, nullptr, nullptr},
      {"layout", "FilterSRAMBankPort", CfgKind::PosInt, nullptr, nullptr},
      {"sparsity", "SparsitySupport", CfgKind::Bool, nullptr, nullptr},
      {"sparsity", "SparseRep", CfgKind::Choice, "ellpack_block|csr|csc", nullptr},
      {"sparsity", "OptimizedMapping", CfgKind::Bool, nullptr, nullptr},
      {"sparsity", "BlockSize", CfgKind::PosInt, nullptr, nullptr},
      {"sparsity", "RandomNumberGeneratorSeed", CfgKind::Int, nullptr, nullptr},
      {"run_presets", "InterfaceBandwidth", CfgKind::Choice, "USER|CALC", nullptr},
      {"run_presets", "UseRamulatorTrace", CfgKind::Bool, nullptr,
       "when True, SCALE-Sim v3 takes DRAM latencies from Ramulator traces it expects next to its run; "
       "npusim models the DRAM interface itself"},
      {"network_presets", "TopologyCsvLoc", CfgKind::Text, nullptr,
       "SCALE-Sim's topology when -t is not given; npusim takes the layers from --topology"},
  };
  return keys;
}

/// configparser's getboolean values; false when `v` is none of them.
bool parse_cfg_bool(const std::string& v, bool& out) {
  const std::string l = lower(v);
  if (l == "1" || l == "yes" || l == "true" || l == "on") return out = true, true;
  if (l == "0" || l == "no" || l == "false" || l == "off") return out = false, true;
  return false;
}

/// The candidate closest to `word` by edit distance, when close enough to be a typo; else "".
std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = config::edit_distance(lower(word), lower(c));
    if (d < best_d) best_d = d, best = c;
  }
  return best_d <= std::max<size_t>(2, word.size() / 3) ? best : "";
}

}  // namespace

config::NpuConfig load_scalesim_cfg(const std::string& path, LayerMemory& mem, std::string* run_name,
                                    std::vector<std::string>* notes) {
  require_input_file(path, "SCALE-Sim config");
  std::ifstream in(path);
  if (!in) throw isa::InputError(path + ": cannot open the SCALE-Sim config");
  const auto& keys = cfg_keys();
  std::vector<std::string> sections;  // known section names, in SCALE-Sim's order
  for (const auto& k : keys)
    if (std::find(sections.begin(), sections.end(), k.section) == sections.end()) sections.push_back(k.section);
  auto find_key = [&](const std::string& section, const std::string& key) -> const CfgKey* {
    for (const auto& k : keys)
      if (section == k.section && lower(key) == lower(k.name)) return &k;
    return nullptr;
  };
  std::map<std::string, std::pair<std::string, int>> kv;  // "section.key" (lowercase) -> (value, line)
  std::map<std::string, int> seen_sections;               // section -> its line
  std::string section, line;
  int ln = 0;
  while (std::getline(in, line)) {
    ++ln;
    if (ln == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;  // configparser's comment prefixes
    const std::string where = path + ":" + std::to_string(ln);
    if (t.front() == '[') {
      if (t.back() != ']') throw isa::InputError(where + ": expected ']' to close the section name");
      section = lower(trim(t.substr(1, t.size() - 2)));
      if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
        std::string list;
        for (const auto& s : sections) list += (list.empty() ? "" : ", ") + s;
        const std::string near = closest(section, sections);
        throw isa::InputError(where + ": unknown section [" + section + "]" +
                              (near.empty() ? "" : " (did you mean [" + near + "]?)") + "; SCALE-Sim's sections are " +
                              list);
      }
      if (seen_sections.count(section))
        throw isa::InputError(where + ": section [" + section + "] appears twice (first at line " +
                              std::to_string(seen_sections[section]) + "); SCALE-Sim refuses that too");
      seen_sections[section] = ln;
      continue;
    }
    const size_t eq = t.find_first_of(":=");
    if (eq == std::string::npos) throw isa::InputError(where + ": expected 'key: value' or 'key = value'");
    if (section.empty()) throw isa::InputError(where + ": a key before the first [section]");
    const std::string key = lower(trim(t.substr(0, eq)));
    const CfgKey* k = find_key(section, key);
    if (!k) {
      // A key of another section names it; a typo names the closest key of this one.
      for (const auto& s : sections)
        if (find_key(s, key))
          throw isa::InputError(where + ": unknown key '" + key + "' in [" + section + "] (SCALE-Sim reads it in [" +
                                s + "])");
      std::vector<std::string> here;
      for (const auto& c : keys)
        if (section == c.section) here.push_back(c.name);
      std::string list;
      for (const auto& c : here) list += (list.empty() ? "" : ", ") + c;
      const std::string near = closest(key, here);
      throw isa::InputError(where + ": unknown key '" + key + "' in [" + section + "]" +
                            (near.empty() ? "" : " (did you mean '" + near + "'?)") + "; expected one of " + list);
    }
    const std::string id = section + "." + key;
    if (kv.count(id))
      throw isa::InputError(where + ": " + k->name + " appears twice in [" + section + "] (first at line " +
                            std::to_string(kv[id].second) + "); SCALE-Sim refuses that too");
    const std::string value = trim(t.substr(eq + 1));
    // The value as SCALE-Sim reads it (int(), getboolean, the choices it compares with).
    const std::string bad = where + ": " + k->name + " ";
    unsigned long long x = 0;
    bool b = false;
    switch (k->kind) {
      case CfgKind::Text: break;
      case CfgKind::PosInt:
      case CfgKind::Int:
        if (!config::parse_unsigned(value, x) || (k->kind == CfgKind::PosInt && x == 0))
          throw isa::InputError(bad +
                                (k->kind == CfgKind::PosInt ? "expects a positive integer" : "expects an integer") +
                                ", got '" + value + "'");
        break;
      case CfgKind::Bool:
        if (!parse_cfg_bool(value, b)) throw isa::InputError(bad + "expects True or False, got '" + value + "'");
        break;
      case CfgKind::IntList:
        for (const std::string& w : split_cells(value, ','))
          if (!config::parse_unsigned(w, x) || x == 0)
            throw isa::InputError(bad + "expects words per cycle (one, or one per operand, comma-separated), got '" +
                                  value + "'");
        break;
      case CfgKind::Choice: {
        const std::string c = std::string("|") + k->choices + "|";
        // Dataflow is compared lowercased here (npusim's own spelling), the others as SCALE-Sim does.
        const std::string probe = section == "architecture_presets" ? lower(value) : value;
        if (value.empty() || probe.find('|') != std::string::npos || c.find("|" + probe + "|") == std::string::npos) {
          std::string list = k->choices;
          std::replace(list.begin(), list.end(), '|', ',');
          throw isa::InputError(bad + "expects one of " + list + ", got '" + value + "'");
        }
        break;
      }
    }
    if (k->note) note_once(notes, path + ": " + k->name + ": " + k->note);
    kv[id] = {value, ln};
  }
  auto get = [&](const std::string& k, const char* def) -> std::string {
    auto it = kv.find(k);
    if (it != kv.end()) return it->second.first;
    if (def) return def;
    throw isa::InputError(path + ": missing " + k.substr(k.find('.') + 1) + " in [" + k.substr(0, k.find('.')) + "]");
  };
  auto integer = [&](const std::string& k) -> uint64_t {
    unsigned long long x = 0;
    config::parse_unsigned(get(k, nullptr), x);  // checked when read
    return x;
  };
  auto boolean = [&](const std::string& k) {
    bool b = false;
    parse_cfg_bool(get(k, "false"), b);
    return b;
  };
  const uint64_t rows = integer("architecture_presets.arrayheight");
  const uint64_t cols = integer("architecture_presets.arraywidth");
  const uint64_t ifmap_kb = integer("architecture_presets.ifmapsramszkb");
  const uint64_t filter_kb = integer("architecture_presets.filtersramszkb");
  const uint64_t ofmap_kb = integer("architecture_presets.ofmapsramszkb");
  const std::string df = lower(get("architecture_presets.dataflow", "ws"));
  const std::string mode = get("run_presets.interfacebandwidth", "CALC");
  // Bandwidth: words per cycle; SCALE-Sim allows a list (one per operand), the first applies here.
  const std::string bw = trim(get("architecture_presets.bandwidth", "10"));
  unsigned long long words = 0;
  config::parse_unsigned(trim(bw.substr(0, bw.find(','))), words);
  LayerMemory sparsity;  // the [sparsity] settings, kept across the reset below
  if (boolean("sparsity.sparsitysupport")) {
    sparsity.sparsity_support = true;
    sparsity.sparsity_optimized_mapping = boolean("sparsity.optimizedmapping");
    if (kv.count("sparsity.blocksize"))
      sparsity.sparsity_block_size = static_cast<uint32_t>(integer("sparsity.blocksize"));
    note_once(notes, path + ": SparsitySupport: " + kSparsityNote);
    // SCALE-Sim asserts this (scale_config.py: "Invalid block size").
    if (boolean("sparsity.optimizedmapping") && kv.count("sparsity.blocksize") && integer("sparsity.blocksize") > rows)
      throw isa::InputError(path + ":" + std::to_string(kv["sparsity.blocksize"].second) + ": BlockSize (" +
                            get("sparsity.blocksize", nullptr) + ") must not exceed ArrayHeight (" +
                            std::to_string(rows) + ") with OptimizedMapping");
  }
  const std::string name = get("general.run_name", "scalesim");
  if (run_name) *run_name = name;
  mem = LayerMemory{};
  mem.sparsity_support = sparsity.sparsity_support;
  mem.sparsity_optimized_mapping = sparsity.sparsity_optimized_mapping;
  mem.sparsity_block_size = sparsity.sparsity_block_size;
  mem.ifmap_sram_bytes = ifmap_kb * 1024, mem.filter_sram_bytes = filter_kb * 1024;
  mem.ofmap_sram_bytes = ofmap_kb * 1024;
  mem.dram_bytes_per_cycle = static_cast<double>(words) * mem.word_bytes;
  mem.ideal = mode == "CALC";
  // The equivalent npusim configuration (1 GHz: SCALE-Sim counts cycles only).
  std::ostringstream y;
  y << "name: \"" << name << "\"\nclock: 1GHz\nmxu:\n  rows: " << rows << "\n  cols: " << cols << "\n  dataflow: " << df
    << "\n  dtypes: [i8, u8]\nscratchpad:\n  size: " << (ifmap_kb + filter_kb)
    << "KiB\naccumulator:\n  size: " << ofmap_kb << "KiB\ndram:\n  impl: simple\n  bandwidth: " << words * 1000
    << "MB/s\n  latency: 0ns\n";
  try {
    return config::load_npu_config_text(y.str(), path);
  } catch (const std::exception& e) {
    throw isa::InputError(path + ": " + e.what());
  }
}

uint64_t mapped_filter_rows(const Layer& l, const LayerMemory& mem, uint64_t k) {
  if (!mem.sparsity_support) return k;
  if (mem.sparsity_optimized_mapping) {
    // Rows padded to a multiple of 2B, then each pair of B-row blocks keeps B/2 rows of each.
    const uint64_t b = std::max<uint32_t>(1, mem.sparsity_block_size);
    return ceil_div(k, 2 * b) * b;
  }
  // Each column condensed to its nonzeros, N per full block of M; the last, partial block keeps
  // min(N, its rows) (v3's pattern starts with the N ones) and v3 trims the all-zero rows after.
  return k / l.sparsity_m * l.sparsity_n + std::min<uint64_t>(l.sparsity_n, k % l.sparsity_m);
}

std::vector<LayerResult> run_layers(const config::NpuConfig& cfg, const LayerMemory& mem,
                                    const std::vector<Layer>& layers) {
  const auto mxu = arch::MxuRegistry::make(cfg.mxu);
  const arch::EnergyModel energy(cfg.power);
  const double volts = cfg.opps.empty() ? cfg.power.v_nominal : cfg.opps[0].volts;
  const double leak_w = energy.leakage_w(volts, cfg.thermal.ambient_c);
  const uint64_t R = cfg.mxu.rows, C = cfg.mxu.cols;
  const arch::Dataflow flow = cfg.mxu.flow();
  std::vector<LayerResult> out;
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, arch::MxuTile> tiles;  // repeated shapes (depthwise)
  for (const Layer& l : layers) {
    LayerResult r;
    r.name = l.name;
    r.gemm = gemm_of(l);
    const uint64_t M = r.gemm.m, N = r.gemm.n, K = r.gemm.k;
    r.macs = M * N * K;  // the dense layer's, as SCALE-Sim's utilizations count them
    // WS with v3's sparsity: the array holds the compressed filter, KM rows instead of K.
    const uint64_t KM = flow == arch::Dataflow::WeightStationary ? mapped_filter_rows(l, mem, K) : K;
    auto key = std::make_tuple(M, N, KM);
    auto it = tiles.find(key);
    if (it == tiles.end()) {
      arch::MatmulShape s;
      s.m = static_cast<uint32_t>(M), s.n = static_cast<uint32_t>(N), s.k = static_cast<uint32_t>(KM);
      it = tiles.emplace(key, mxu->tile(s)).first;
    }
    r.compute_cycles = it->second.cycles;
    r.folds = it->second.folds;
    r.mapping_efficiency = it->second.mapping_efficiency;
    // SCALE-Sim's spatial rows SR, spatial columns SC and temporal length T (DESIGN section 2).
    uint64_t SR, SC, T;
    switch (flow) {
      case arch::Dataflow::WeightStationary: SR = KM, SC = N, T = M; break;
      case arch::Dataflow::OutputStationary: SR = M, SC = N, T = K; break;
      default: SR = K, SC = M, T = N; break;
    }
    const uint64_t row_folds = ceil_div(SR, R), col_folds = ceil_div(SC, C), folds = row_folds * col_folds;
    // Compute utilization per fold as SCALE-Sim's systolic_compute_*.py: used MACs x T over the
    // fold's demand-matrix span, 2R + 2C + T - 3 (WS, IS) or R + C + T - 2 (OS) cycles.
    const uint64_t span = flow == arch::Dataflow::OutputStationary ? R + C + T - 2 : 2 * R + 2 * C + T - 3;
    r.compute_util = static_cast<double>(SR) * static_cast<double>(SC) * static_cast<double>(T) /
                     (static_cast<double>(folds) * static_cast<double>(R * C) * static_cast<double>(span));
    // SRAM accesses as SCALE-Sim's demand matrices count them: the streamed operand once per fold
    // of the other dimension, the stationary operand once. (OS ofmap: SCALE-Sim v2 also adds R + C
    // per fold, which is reproduced for identical reports.)
    switch (flow) {
      case arch::Dataflow::WeightStationary:
        // v3's layer-wise sparsity streams the whole ifmap (its operand matrix is not condensed).
        r.ifmap_sram_reads = col_folds * T * (mem.sparsity_support && !mem.sparsity_optimized_mapping ? K : SR);
        r.filter_sram_reads = SR * SC;
        r.ofmap_sram_writes = row_folds * T * SC;
        break;
      case arch::Dataflow::OutputStationary:
        r.ifmap_sram_reads = col_folds * T * SR, r.filter_sram_reads = row_folds * T * SC;
        r.ofmap_sram_writes = SR * SC + folds * (R + C);
        break;
      default:
        r.ifmap_sram_reads = SR * SC, r.filter_sram_reads = col_folds * T * SR,
        r.ofmap_sram_writes = row_folds * T * SC;
        break;
    }
    // DRAM (npusim's layer model, docs/topology.md): every distinct input, weight and output
    // element moves once when its operand fits its SRAM; a streamed operand that does not fit is
    // fetched again for each pass over it. Partial sums live across row folds (WS: M x min(C, N),
    // IS: min(C, M) x N); when they outgrow the output SRAM the layer takes the cheaper of
    // spilling them (written out and read back once per extra row fold) and splitting the temporal
    // dimension into chunks whose sums fit, which re-reads the stationary operand per chunk unless
    // it fits its own SRAM.
    const uint64_t ifmap_words = l.gemm ? M * K : l.ifmap_h * l.ifmap_w * l.channels;
    const uint64_t filter_words = K * N, ofmap_words = M * N;
    const bool ifmap_fits = ifmap_words * mem.word_bytes <= mem.ifmap_sram_bytes;
    const bool filter_fits = filter_words * mem.word_bytes <= mem.filter_sram_bytes;
    uint64_t ifmap_passes = 1, filter_passes = 1, live_psums = 0;
    switch (flow) {
      case arch::Dataflow::WeightStationary:
        ifmap_passes = ifmap_fits ? 1 : col_folds, live_psums = M * std::min(C, N);
        break;
      case arch::Dataflow::OutputStationary:
        ifmap_passes = ifmap_fits ? 1 : col_folds, filter_passes = filter_fits ? 1 : row_folds;
        break;
      default: filter_passes = filter_fits ? 1 : col_folds, live_psums = std::min(C, M) * N; break;
    }
    r.ifmap_dram_reads = ifmap_words * ifmap_passes;
    r.filter_dram_reads = filter_words * filter_passes;
    r.ofmap_dram_writes = ofmap_words;
    if (row_folds > 1 && live_psums * mem.psum_bytes > mem.ofmap_sram_bytes) {
      const uint64_t spill = 2 * (row_folds - 1) * ofmap_words * mem.psum_bytes;
      const uint64_t per_row = live_psums / T * mem.psum_bytes;  // one step of T: its live sums
      const uint64_t chunks = per_row > mem.ofmap_sram_bytes
                                  ? 0  // not even one step fits: chunking cannot help
                                  : ceil_div(T, std::max<uint64_t>(1, mem.ofmap_sram_bytes / per_row));
      const bool ws = flow == arch::Dataflow::WeightStationary;
      const bool stationary_fits = ws ? filter_fits : ifmap_fits;
      const uint64_t refetch =
          chunks == 0 || stationary_fits ? 0 : (chunks - 1) * (ws ? filter_words : ifmap_words) * mem.word_bytes;
      if (chunks != 0 && refetch <= spill) {
        (ws ? r.filter_dram_reads : r.ifmap_dram_reads) += refetch / mem.word_bytes;
      } else {
        r.psum_dram_bytes = spill;
      }
    }
    r.dram_bytes =
        (r.ifmap_dram_reads + r.filter_dram_reads + r.ofmap_dram_writes) * mem.word_bytes + r.psum_dram_bytes;
    if (!mem.ideal && mem.dram_bytes_per_cycle > 0) {
      // Double-buffered: DRAM transfers overlap compute; the first fold's operands arrive before it
      // starts (R x C words stationary for WS/IS, R + C words for OS).
      const double first = static_cast<double>(flow == arch::Dataflow::OutputStationary ? R + C : R * C) *
                           mem.word_bytes / mem.dram_bytes_per_cycle;
      const double dram = static_cast<double>(r.dram_bytes) / mem.dram_bytes_per_cycle;
      r.stall_cycles =
          static_cast<uint64_t>(std::ceil(first + std::max(0.0, dram - static_cast<double>(r.compute_cycles))));
    }
    r.total_cycles = r.compute_cycles + r.stall_cycles;
    r.overall_util = static_cast<double>(r.macs) / (static_cast<double>(r.total_cycles) * static_cast<double>(R * C));
    r.seconds = static_cast<double>(r.total_cycles) / cfg.clock_hz;
    arch::Activity a;
    a.macs_int = static_cast<double>(r.macs);
    a.spad_bytes = static_cast<double>((r.ifmap_sram_reads + r.filter_sram_reads) * mem.word_bytes);
    a.acc_bytes = static_cast<double>(r.ofmap_sram_writes * mem.psum_bytes);
    a.dram_bytes = static_cast<double>(r.dram_bytes);
    a.cycles = static_cast<double>(r.total_cycles);
    r.energy_j = arch::total(energy.dynamic(a, volts)) + leak_w * r.seconds;
    out.push_back(r);
  }
  return out;
}

std::string compute_report_csv(const std::vector<LayerResult>& rs) {
  std::string s = "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,\n";
  for (size_t i = 0; i < rs.size(); ++i) {
    const LayerResult& r = rs[i];
    s += std::to_string(i) + ", " + std::to_string(r.total_cycles) + ", " + std::to_string(r.stall_cycles) + ", " +
         num(100 * r.overall_util) + ", " + num(100 * r.mapping_efficiency) + ", " + num(100 * r.compute_util) + ",\n";
  }
  return s;
}

std::string bandwidth_report_csv(const std::vector<LayerResult>& rs) {
  std::string s =
      "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, Avg FILTER DRAM BW, "
      "Avg OFMAP DRAM BW,\n";
  for (size_t i = 0; i < rs.size(); ++i) {
    const LayerResult& r = rs[i];
    const double t = static_cast<double>(r.total_cycles);  // words per cycle over the whole layer
    s += std::to_string(i) + ", " + num(r.ifmap_sram_reads / t) + ", " + num(r.filter_sram_reads / t) + ", " +
         num(r.ofmap_sram_writes / t) + ", " + num(r.ifmap_dram_reads / t) + ", " + num(r.filter_dram_reads / t) +
         ", " + num(r.ofmap_dram_writes / t) + ",\n";
  }
  return s;
}

std::string access_report_csv(const std::vector<LayerResult>& rs) {
  std::string s =
      "LayerID, SRAM IFMAP Reads, SRAM Filter Reads, SRAM OFMAP Writes, DRAM IFMAP Reads, DRAM Filter Reads, "
      "DRAM OFMAP Writes, DRAM Partial Sum Bytes,\n";
  for (size_t i = 0; i < rs.size(); ++i) {
    const LayerResult& r = rs[i];
    s += std::to_string(i) + ", " + std::to_string(r.ifmap_sram_reads) + ", " + std::to_string(r.filter_sram_reads) +
         ", " + std::to_string(r.ofmap_sram_writes) + ", " + std::to_string(r.ifmap_dram_reads) + ", " +
         std::to_string(r.filter_dram_reads) + ", " + std::to_string(r.ofmap_dram_writes) + ", " +
         std::to_string(r.psum_dram_bytes) + ",\n";
  }
  return s;
}

// A tree written by stats::json_text: the array and memory, the totals, then one line per layer;
// real numbers to 16 significant digits.
std::string topology_json(const config::NpuConfig& cfg, const LayerMemory& mem, const std::vector<LayerResult>& rs) {
  using nlohmann::ordered_json;
  uint64_t cycles = 0, compute = 0, macs = 0, dram = 0;
  double seconds = 0, joules = 0;
  for (const auto& r : rs)
    cycles += r.total_cycles, compute += r.compute_cycles, macs += r.macs, dram += r.dram_bytes, seconds += r.seconds,
        joules += r.energy_j;
  ordered_json j;
  j["config"] = cfg.name;
  j["array"] = {cfg.mxu.rows, cfg.mxu.cols};
  j["dataflow"] = cfg.mxu.dataflow;
  j["mxu_impl"] = cfg.mxu.impl;
  j["ideal_memory"] = mem.ideal;
  ordered_json& m = j["memory"];
  m["ifmap_sram_bytes"] = mem.ifmap_sram_bytes;
  m["filter_sram_bytes"] = mem.filter_sram_bytes;
  m["ofmap_sram_bytes"] = mem.ofmap_sram_bytes;
  m["dram_bytes_per_cycle"] = jnum(mem.dram_bytes_per_cycle);
  ordered_json& t = j["total"];
  t["layers"] = rs.size();
  t["cycles"] = cycles;
  t["compute_cycles"] = compute;
  t["macs"] = macs;
  t["seconds"] = jnum(seconds);
  t["energy_j"] = jnum(joules);
  t["dram_bytes"] = dram;
  t["utilization"] =
      jnum(cycles ? static_cast<double>(macs) / (static_cast<double>(cycles) * cfg.mxu.rows * cfg.mxu.cols) : 0);
  j["layers"] = ordered_json::array();
  for (const LayerResult& r : rs) {
    ordered_json l;
    l["name"] = r.name;
    l["m"] = r.gemm.m, l["n"] = r.gemm.n, l["k"] = r.gemm.k;
    l["macs"] = r.macs;
    l["folds"] = r.folds;
    l["compute_cycles"] = r.compute_cycles;
    l["stall_cycles"] = r.stall_cycles;
    l["total_cycles"] = r.total_cycles;
    l["overall_util"] = jnum(r.overall_util);
    l["mapping_efficiency"] = jnum(r.mapping_efficiency);
    l["compute_util"] = jnum(r.compute_util);
    l["sram"] = {{"ifmap_reads", r.ifmap_sram_reads},
                 {"filter_reads", r.filter_sram_reads},
                 {"ofmap_writes", r.ofmap_sram_writes}};
    ordered_json& d = l["dram"];
    d["ifmap_reads"] = r.ifmap_dram_reads;
    d["filter_reads"] = r.filter_dram_reads;
    d["ofmap_writes"] = r.ofmap_dram_writes;
    d["psum_bytes"] = r.psum_dram_bytes;
    d["bytes"] = r.dram_bytes;
    l["seconds"] = jnum(r.seconds);
    l["energy_j"] = jnum(r.energy_j);
    j["layers"].push_back(std::move(l));
  }
  return stats::json_text(j);
}

}  // namespace npusim::topology
