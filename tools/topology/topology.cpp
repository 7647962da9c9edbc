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

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ',')) out.push_back(trim(cell));
  if (!line.empty() && line.back() == ',') out.push_back("");
  // Trailing empty cells (SCALE-Sim rows end with a comma) carry nothing.
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
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

std::vector<Layer> load_topology(const std::string& path, Format fmt) {
  require_input_file(path, "topology file");  // a FIFO would block, a directory read as empty
  std::ifstream in(path);
  if (!in) throw isa::InputError(path + ": cannot open the topology file");
  std::vector<Layer> layers;
  std::string line;
  int ln = 0;
  bool header = true;
  static const char* conv_cols[] = {"IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
                                    "Channels",     "Num Filter",  "Strides",       "Stride width"};
  static const char* gemm_cols[] = {"M", "N", "K"};
  while (std::getline(in, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::vector<std::string> cells = split_csv(line);
    if (cells.empty() || std::all_of(cells.begin(), cells.end(), [](const std::string& c) { return c.empty(); }))
      continue;
    const std::string where = path + ":" + std::to_string(ln);
    if (header) {
      header = false;
      unsigned long long probe = 0;
      if (cells.size() > 1 && config::parse_unsigned(cells[1], probe))
        throw isa::InputError(where + ": expected a header line (Layer name, IFMAP Height, ... or Layer, M, N, K)");
      const bool gemm_header =
          cells.size() >= 4 && lower(cells[1]) == "m" && lower(cells[2]) == "n" && lower(cells[3]) == "k";
      if (fmt == Format::Auto) fmt = gemm_header ? Format::Gemm : Format::Conv;
      continue;
    }
    const bool gemm = fmt == Format::Gemm;
    const size_t need = gemm ? 3 : 7, most = gemm ? 3 : 8;
    if (cells[0].empty()) throw isa::InputError(where + ": the layer has no name");
    if (cells.size() - 1 < need)
      throw isa::InputError(where + ": layer '" + cells[0] + "' has " + std::to_string(cells.size() - 1) +
                            " values; expected " + std::to_string(need) +
                            (gemm ? " (M, N, K)"
                                  : " (IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                                    "Channels, Num Filter, Strides)"));
    uint64_t v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t c = 0; c < most; ++c) {
      // Columns past the last one this form reads are ignored (SCALE-Sim files carry notes there).
      if (c + 1 >= cells.size() || cells[c + 1].empty()) {
        if (c >= need) {  // an absent stride width equals the stride height
          v[c] = v[c - 1];
          continue;
        }
        throw isa::InputError(where + ": layer '" + cells[0] + "': " + (gemm ? gemm_cols[c] : conv_cols[c]) +
                              " is empty");
      }
      unsigned long long x = 0;
      if (!config::parse_unsigned(cells[c + 1], x) || x == 0 || x > (1ull << 31))
        throw isa::InputError(where + ": layer '" + cells[0] + "': " + (gemm ? gemm_cols[c] : conv_cols[c]) +
                              " expects a positive integer, got '" + cells[c + 1] + "'");
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
      l.filters = v[5], l.stride_h = v[6], l.stride_w = v[7];
      if (l.filter_h > l.ifmap_h || l.filter_w > l.ifmap_w)
        throw isa::InputError(where + ": layer '" + l.name + "': the filter (" + std::to_string(l.filter_h) + "x" +
                              std::to_string(l.filter_w) + ") is larger than the input (" + std::to_string(l.ifmap_h) +
                              "x" + std::to_string(l.ifmap_w) + ")");
    }
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
  if (header) throw isa::InputError(path + ": empty topology file (expected a header line and layers)");
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

config::NpuConfig load_scalesim_cfg(const std::string& path, LayerMemory& mem, std::string* run_name) {
  require_input_file(path, "SCALE-Sim config");
  std::ifstream in(path);
  if (!in) throw isa::InputError(path + ": cannot open the SCALE-Sim config");
  static const std::map<std::string, std::vector<std::string>> known = {
      {"general", {"run_name"}},
      {"architecture_presets",
       {"arrayheight", "arraywidth", "ifmapsramszkb", "filtersramszkb", "ofmapsramszkb", "ifmapoffset", "filteroffset",
        "ofmapoffset", "dataflow", "bandwidth", "memorybanks"}},
      {"run_presets", {"interfacebandwidth"}},
      {"network_presets", {"topologycsvloc"}}};
  std::map<std::string, std::pair<std::string, int>> kv;  // "section.key" -> (value, line)
  std::string section, line;
  int ln = 0;
  while (std::getline(in, line)) {
    ++ln;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    const std::string where = path + ":" + std::to_string(ln);
    if (t.front() == '[') {
      if (t.back() != ']') throw isa::InputError(where + ": expected ']' to close the section name");
      section = lower(trim(t.substr(1, t.size() - 2)));
      if (!known.count(section))
        throw isa::InputError(where + ": unknown section [" + section +
                              "] (expected general, architecture_presets, run_presets or network_presets)");
      continue;
    }
    const size_t eq = t.find_first_of(":=");
    if (eq == std::string::npos) throw isa::InputError(where + ": expected 'key: value' or 'key = value'");
    if (section.empty()) throw isa::InputError(where + ": a key before the first [section]");
    const std::string key = lower(trim(t.substr(0, eq)));
    const auto& keys = known.at(section);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string list;
      for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
      throw isa::InputError(where + ": unknown key '" + key + "' in [" + section + "] (expected one of " + list + ")");
    }
    kv[section + "." + key] = {trim(t.substr(eq + 1)), ln};
  }
  auto get = [&](const std::string& k, const char* def) -> std::string {
    auto it = kv.find(k);
    if (it != kv.end()) return it->second.first;
    if (def) return def;
    throw isa::InputError(path + ": missing " + k.substr(k.find('.') + 1) + " in [" + k.substr(0, k.find('.')) + "]");
  };
  auto integer = [&](const std::string& k, const char* def) -> uint64_t {
    const std::string v = get(k, def);
    unsigned long long x = 0;
    if (!config::parse_unsigned(v, x) || x == 0) {
      const auto it = kv.find(k);
      throw isa::InputError(path + (it != kv.end() ? ":" + std::to_string(it->second.second) : "") + ": " +
                            k.substr(k.find('.') + 1) + " expects a positive integer, got '" + v + "'");
    }
    return x;
  };
  const uint64_t rows = integer("architecture_presets.arrayheight", nullptr);
  const uint64_t cols = integer("architecture_presets.arraywidth", nullptr);
  const uint64_t ifmap_kb = integer("architecture_presets.ifmapsramszkb", nullptr);
  const uint64_t filter_kb = integer("architecture_presets.filtersramszkb", nullptr);
  const uint64_t ofmap_kb = integer("architecture_presets.ofmapsramszkb", nullptr);
  std::string df = lower(get("architecture_presets.dataflow", "ws"));
  if (df != "ws" && df != "os" && df != "is")
    throw isa::InputError(path + ": Dataflow expects ws, os or is, got '" + df + "'");
  const std::string mode = get("run_presets.interfacebandwidth", "CALC");
  if (mode != "CALC" && mode != "USER")
    throw isa::InputError(path + ": InterfaceBandwidth expects USER or CALC, got '" + mode + "'");
  // Bandwidth: words per cycle; SCALE-Sim allows a list (one per operand), the first applies here.
  std::string bw = get("architecture_presets.bandwidth", "10");
  bw = trim(bw.substr(0, bw.find(',')));
  unsigned long long words = 0;
  if (!config::parse_unsigned(bw, words) || words == 0)
    throw isa::InputError(path + ": Bandwidth expects words per cycle, got '" + bw + "'");
  const std::string name = get("general.run_name", "scalesim");
  if (run_name) *run_name = name;
  mem = LayerMemory{};
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
    r.macs = M * N * K;
    auto key = std::make_tuple(M, N, K);
    auto it = tiles.find(key);
    if (it == tiles.end()) {
      arch::MatmulShape s;
      s.m = static_cast<uint32_t>(M), s.n = static_cast<uint32_t>(N), s.k = static_cast<uint32_t>(K);
      it = tiles.emplace(key, mxu->tile(s)).first;
    }
    r.compute_cycles = it->second.cycles;
    r.folds = it->second.folds;
    r.mapping_efficiency = it->second.mapping_efficiency;
    // SCALE-Sim's spatial rows SR, spatial columns SC and temporal length T (DESIGN section 2).
    uint64_t SR, SC, T;
    switch (flow) {
      case arch::Dataflow::WeightStationary: SR = K, SC = N, T = M; break;
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
        r.ifmap_sram_reads = col_folds * T * SR, r.filter_sram_reads = SR * SC,
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
