// A design point is every parameter: the config summary, hash and sweep cache key are derived by
// walking the declarations, so changing any declared parameter of any implementation (or the
// content of a file the config names) changes the hash. This suite varies each parameter in turn.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "base/units.h"
#include "sim/npu_config.h"
#include "tools/sweep/sweep.h"

namespace npusim::config {
namespace {

const std::string kConfigs = NPUSIM_CONFIGS;

/// A declared parameter of a loaded config, with its current value.
struct Param {
  std::string path;                  ///< dotted key path (implementation keys sit in their block)
  std::string type;                  ///< the declaration's type
  std::vector<std::string> choices;  ///< enum values
  std::string value;                 ///< value text (YAML)
};

void collect(const Section& s, std::vector<Param>& out) {
  for (const auto& p : s.params())
    out.push_back({s.path().empty() ? p.name : s.path() + "." + p.name, p.type, p.choices, p.value()});
  for (const auto& c : s.children()) {
    Section cs = Section::values(s.path().empty() ? c.name : s.path() + "." + c.name);
    c.describe(cs);
    collect(cs, out);
  }
}

std::vector<Param> params_of(NpuConfig c) {
  Section top = Section::values("");
  describe_npu(top, c);
  std::vector<Param> out;
  collect(top, out);
  return out;
}

/// Every declared key path that can take two values, every implementation's included (the
/// describe walk). A choice with one registered implementation (vpu.impl: lanes) has nothing to vary.
void declared(const Section& s, std::set<std::string>& out) {
  for (const auto& p : s.params())
    if (p.type != "enum" || p.choices.size() > 1) out.insert(s.path().empty() ? p.name : s.path() + "." + p.name);
  for (const auto& c : s.children()) {
    const bool impl = c.name.find('=') != std::string::npos;  // "impl=banked": keys of the parent
    Section cs(impl ? s.path() : (s.path().empty() ? c.name : s.path() + "." + c.name), nullptr);
    c.describe(cs);
    declared(cs, out);
  }
}

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> parts;
  std::stringstream ss(p);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  return parts;
}

void set_value(YAML::Node root, const std::string& path, const std::string& value) {
  const auto parts = split_path(path);
  YAML::Node n = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) n.reset(n[parts[i]]);
  n[parts.back()] = YAML::Load(value);
}

/// Keys a cross-field check ties to another: varying the first sets the second as well (to the
/// same value, or to the given one).
const std::map<std::string, std::pair<std::string, std::string>> kLinked = {
    {"scratchpad.line_bytes", {"accumulator.line_bytes", ""}},  // one line size for the ISA
    {"accumulator.line_bytes", {"scratchpad.line_bytes", ""}},
    {"clock", {"dvfs.operating_points", "[]"}},  // the first operating point is the clock
};

/// `yaml` with the key at `path` set to the YAML value `value` (and its linked key).
std::string with_value(const std::string& yaml, const std::string& path, const std::string& value) {
  YAML::Node root = YAML::Load(yaml);
  set_value(root, path, value);
  if (auto it = kLinked.find(path); it != kLinked.end())
    set_value(root, it->second.first, it->second.second.empty() ? value : it->second.second);
  YAML::Emitter e;
  e << root;
  return e.c_str();
}

std::string num(double v) {
  return exact_number_text(v);
}

/// Candidate new values for `p` (some may make the config invalid: the caller tries the next).
std::vector<std::string> variations(const Param& p, const std::vector<std::string>& strings,
                                    const std::string& other_table) {
  std::vector<std::string> out;
  const YAML::Node v = YAML::Load(p.value);
  if (p.type == "int") {
    const double x = v.as<double>();
    for (double y : {x + 1, x - 1, x * 2, std::floor(x / 2)})
      if (y >= 0 && y != x) out.push_back(num(y));
  } else if (p.type == "float") {
    const double x = v.as<double>();
    for (double y : {x * 1.1, x * 0.9, x + 1, x - 1, 0.5}) out.push_back(num(y));
  } else if (p.type == "bool") {
    out.push_back(v.as<bool>() ? "false" : "true");
  } else if (p.type == "enum") {
    for (const auto& c : p.choices)
      if (c != p.value) out.push_back(c);
  } else if (p.type == "enum list") {
    std::vector<std::string> cur = v.as<std::vector<std::string>>();
    for (const auto& c : p.choices)
      if (std::find(cur.begin(), cur.end(), c) == cur.end())
        out.push_back(p.value.substr(0, p.value.size() - 1) + ", " + c + "]");
    if (cur.size() > 1) {
      std::string t = "[";
      for (size_t i = 1; i < cur.size(); ++i) t += (i > 1 ? ", " : "") + cur[i];
      out.push_back(t + "]");
    }
  } else if (p.type == "bytes") {
    uint64_t x = 0;
    if (parse_bytes(v.Scalar(), x))
      for (uint64_t y : {x * 2, x / 2, x + 64}) out.push_back(std::to_string(y));
  } else if (p.type == "frequency" || p.type == "bandwidth" || p.type == "time") {
    double x = 0;
    const std::string t = v.Scalar();
    const bool ok = p.type == "frequency"   ? parse_frequency(t, x)
                    : p.type == "bandwidth" ? parse_bandwidth(t, x)
                                            : parse_time(t, x);
    const char* unit = p.type == "frequency" ? "Hz" : p.type == "bandwidth" ? "B/s" : "s";
    if (ok)
      for (double y : {x * 2, x / 2, x * 1.1}) out.push_back(num(y) + unit);
  } else if (p.type == "string") {
    for (const auto& s : strings)
      if (s != v.Scalar()) out.push_back(yaml_quoted(s));
    out.push_back(yaml_quoted(v.Scalar() + "_renamed"));
  } else if (p.type == "file") {
    out.push_back(yaml_quoted(other_table));
  } else {  // lists (float list, custom shapes): scale one number at a time
    std::function<void(YAML::Node, std::vector<YAML::Node>&)> leaves = [&](YAML::Node n, std::vector<YAML::Node>& l) {
      if (n.IsSequence())
        for (auto e : n) leaves(e, l);
      else if (n.IsScalar())
        l.push_back(n);
    };
    std::vector<YAML::Node> count;
    leaves(YAML::Load(p.value), count);
    for (size_t i = 0; i < count.size(); ++i)
      for (double f : {1.1, 0.9}) {
        YAML::Node copy = YAML::Load(p.value);
        std::vector<YAML::Node> l;
        leaves(copy, l);
        double x = 0;
        try {
          x = l[i].as<double>();
        } catch (const YAML::Exception&) {
          continue;  // a name, not a number
        }
        l[i] = num(x * f);
        YAML::Emitter e;
        e << YAML::Flow << copy;
        out.push_back(e.c_str());
      }
  }
  return out;
}

std::string write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

const char* kTable = "rows: 16\ncols: 16\ndataflow: ws\nentries:\n  - [16, 16, 16, 0, 50]\n  - [32, 16, 16, 0, 66]\n";
const char* kOtherTable =
    "rows: 16\ncols: 16\ndataflow: ws\nentries:\n  - [16, 16, 16, 0, 90]\n  - [32, 16, 16, 0, 140]\n";

/// The bundled configs, a minimal one (no DVFS table: the clock can move alone) and variants
/// choosing every implementation of every block.
std::vector<std::pair<std::string, std::string>> design_points() {
  std::vector<std::pair<std::string, std::string>> base;
  for (const char* n : {"edge", "gemmini", "tpu_v1", "datacenter"}) {
    std::ifstream in(kConfigs + "/" + n + ".yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    base.push_back({n, npu_config_summary(load_npu_config_text(ss.str(), n))});
  }
  base.push_back(
      {"minimal", npu_config_summary(load_npu_config_text("name: t\ndram: {bandwidth: 10GB/s}\n", "minimal"))});
  const std::string table = write("hash_table.yaml", kTable);
  std::vector<std::pair<std::string, std::string>> out = base;
  // Each implementation of each block: the block becomes `impl: other` with the keys it had,
  // less those the other implementation rejects as unknown.
  for (const auto& [name, yaml] : base) {
    for (const auto& p : params_of(load_npu_config_text(yaml, name))) {
      if (p.type != "enum" || p.path.size() < 5 || p.path.substr(p.path.size() - 5) != ".impl") continue;
      const std::string block = p.path.substr(0, p.path.size() - 5);
      for (const auto& choice : p.choices) {
        if (choice == p.value) continue;
        // The block as `impl: choice` with only the keys outside any implementation kept.
        YAML::Node root = YAML::Load(yaml);
        YAML::Node n = root;
        for (const auto& part : split_path(block)) n.reset(n[part]);
        std::set<std::string> keep;
        for (const auto& q : params_of(load_npu_config_text(yaml, name)))
          if (q.path.rfind(block + ".", 0) == 0 && split_path(q.path).size() == split_path(block).size() + 1)
            keep.insert(split_path(q.path).back());
        YAML::Node fresh;
        fresh["impl"] = choice;
        if (choice == "table") fresh["file"] = table;  // its required key
        if (choice == "trip_divider") {                // one divider per trip
          YAML::Node d;
          for (size_t i = 0; i < n["trips"].size(); ++i) d.push_back(2);
          fresh["dividers"] = d;
        }
        for (const auto& k : keep)
          if (k != "impl") fresh[k] = n[k];
        for (int attempt = 0; attempt < 32; ++attempt) {  // drop keys the new implementation rejects
          YAML::Node r2 = YAML::Load(yaml);
          YAML::Node m = r2;
          for (const auto& part : split_path(block)) m.reset(m[part]);
          m = fresh;
          YAML::Emitter e;
          e << r2;
          try {
            out.push_back(
                {name + "+" + block + "=" + choice, npu_config_summary(load_npu_config_text(e.c_str(), "v"))});
            break;
          } catch (const ConfigError& err) {
            const std::string msg = err.what();
            const auto at = msg.find("unknown key '");
            if (at == std::string::npos) break;  // invalid for another reason (e.g. rtl sizes): skip
            fresh.remove(msg.substr(at + 13, msg.find('\'', at + 13) - at - 13));
          }
        }
      }
    }
  }
  return out;
}

TEST(ConfigHash, EveryDeclaredParameterOfEveryImplementationChangesTheHash) {
  const std::string other = write("hash_other_table.yaml", kOtherTable);
  std::set<std::string> covered;
  std::vector<std::string> unchanged;
  std::map<std::string, uint64_t> hashes;  // design point -> hash
  for (const auto& [name, yaml] : design_points()) {
    const NpuConfig base = load_npu_config_text(yaml, name);
    hashes[name] = base.hash();
    // A variant choosing another implementation ("edge+dram=simple") hashes apart from its base.
    if (const auto plus = name.find('+'); plus != std::string::npos) {
      const std::string block = name.substr(plus + 1, name.find('=') - plus - 1);
      if (hashes.at(name.substr(0, plus)) == base.hash()) unchanged.push_back(name);
      covered.insert(block + ".impl");
    }
    ASSERT_EQ(npu_config_summary(base), yaml) << name << ": the summary loads back to itself";
    const auto params = params_of(base);
    std::vector<std::string> strings;  // string values present in the config (node names, ...)
    for (const auto& p : params) {
      std::function<void(YAML::Node)> scan = [&](YAML::Node n) {
        if (n.IsSequence())
          for (auto e : n) scan(e);
        else if (n.IsScalar() && !n.Scalar().empty() && !std::isdigit(static_cast<unsigned char>(n.Scalar()[0])))
          strings.push_back(n.Scalar());
      };
      scan(YAML::Load(p.value));
    }
    for (const auto& p : params) {
      for (const auto& v : variations(p, strings, other)) {
        NpuConfig varied;
        try {
          varied = load_npu_config_text(with_value(yaml, p.path, v), name + " with " + p.path + ": " + v);
        } catch (const ConfigError&) {
          continue;  // not a valid design point: try the next variation
        }
        if (npu_config_summary(varied) == yaml) continue;  // the same value written another way
        if (varied.hash() == base.hash()) unchanged.push_back(name + ": " + p.path + " = " + v);
        covered.insert(p.path);
        break;
      }
    }
  }
  EXPECT_TRUE(unchanged.empty()) << [&] {
    std::string s = "hash unchanged by:\n";
    for (const auto& u : unchanged) s += "  " + u + "\n";
    return s;
  }();
  NpuConfig scratch;
  Section top("", nullptr);
  describe_npu(top, scratch);
  std::set<std::string> all;
  declared(top, all);
  for (const auto& path : all) EXPECT_TRUE(covered.count(path)) << path << ": no design point varied it";
}

TEST(ConfigHash, KeyOrderAndFileLocationDoNotChangeTheHash) {
  const std::string a = write("hash_t1.yaml", kTable), b = write("hash_t1_copy.yaml", kTable);
  const auto cfg = [](const std::string& file) {
    return load_npu_config_text("name: t\ndram: {bandwidth: 10GB/s}\nmxu: {impl: table, file: " + file + "}\n", "t");
  };
  EXPECT_EQ(cfg(a).hash(), cfg(b).hash());                            // the same table at two paths is one design point
  EXPECT_NE(npu_config_summary(cfg(a)), npu_config_summary(cfg(b)));  // the summary says which file
  EXPECT_EQ(load_npu_config_text("name: t\nclock: 1GHz\ndram: {bandwidth: 10GB/s}\n", "a").hash(),
            load_npu_config_text("dram: {bandwidth: 10GB/s}\nclock: 1000MHz\nname: t\n", "b").hash());
}

// Regression (issue 14): two `mxu: {impl: table}` configs whose runs take 5,388 and 37,388 cycles
// shared a hash: the summary it was built from left out mxu.file.
TEST(ConfigHash, TablesWithDifferentLatenciesHashApart_bad) {
  const std::string a = write("hash_fast.yaml", kTable), b = write("hash_slow.yaml", kOtherTable);
  const auto cfg = [](const std::string& file) {
    return load_npu_config_text("name: t\ndram: {bandwidth: 10GB/s}\nmxu: {impl: table, file: " + file + "}\n", "t");
  };
  EXPECT_NE(cfg(a).hash(), cfg(b).hash());
  // The same path with new content is a new design point too.
  const std::string c = write("hash_rewritten.yaml", kTable);
  const uint64_t before = cfg(c).hash();
  write("hash_rewritten.yaml", kOtherTable);
  EXPECT_NE(cfg(c).hash(), before);
}

}  // namespace
}  // namespace npusim::config

namespace npusim::sweep {
namespace {

// Regression (issue 14): a sweep over power.mac_int_pj gave both points one cache key (the key
// left out power), so the second point reused the first one's energy.
TEST(ConfigHash, SweepPointsThatDifferOnlyInPowerHaveDifferentCacheKeys_bad) {
  const std::string topo = std::string(NPUSIM_TRACES) + "/topologies/resnet50_conv.csv";
  const std::string spec = ::testing::TempDir() + "power_sweep.yaml";
  std::ofstream(spec) << "base: " << std::string(NPUSIM_CONFIGS) << "/edge.yaml\nworkloads: [" << topo
                      << "]\naxes:\n  power.mac_int_pj: [0.3, 30]\n";
  const auto pts = expand(load_spec(spec));
  ASSERT_EQ(pts.size(), 2u);
  EvalOptions o;
  EXPECT_NE(cache_key(pts[0], topo, o), cache_key(pts[1], topo, o));
  EXPECT_NE(pts[0].config.hash(), pts[1].config.hash());
}

}  // namespace
}  // namespace npusim::sweep
