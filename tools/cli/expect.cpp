// Expectations: EXPECT.yaml read strictly, checked against a run, reported as text and JUnit XML,
// and recorded from a run.
#include "tools/cli/expect.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>

#include "base/schema.h"
#include "base/text.h"
#include "isa/diag.h"
#include "tools/cli/reports.h"
#include "tools/workload/workload.h"

namespace npusim::cli {
namespace {

/// The layout version of EXPECT files this build reads and writes.
constexpr int kExpectVersion = 1;

/// Reads one EXPECT file, naming its file and line in every error.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  /// "FILE:LINE: KEY: " for errors at `n`.
  std::string at(const YAML::Node& n, const std::string& key) const {
    return file_ + ":" + std::to_string(n.Mark().line + 1) + ": " + key + ": ";
  }

  /// `n` as a mapping whose keys are all in `allowed` (an unknown key is an error naming it).
  void keys(const YAML::Node& n, const std::string& where, const std::set<std::string>& allowed) const {
    if (!n.IsMap()) throw isa::InputError(at(n, where) + "expected a mapping of keys");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.as<std::string>();
      if (!allowed.count(k)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        throw isa::InputError(at(it->first, where.empty() ? k : where + "." + k) + "unknown key '" + k +
                              "' (expected one of: " + list + ")");
      }
    }
  }

  /// `n` as a finite number.
  double number(const YAML::Node& n, const std::string& key) const {
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v))
      throw isa::InputError(at(n, key) + "expected a number, got '" + (n.IsScalar() ? n.Scalar() : "a collection") +
                            "'");
    return v;
  }

  /// `n` as true or false.
  bool boolean(const YAML::Node& n, const std::string& key) const {
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
      throw isa::InputError(at(n, key) + "expected true or false, got '" + (n.IsScalar() ? n.Scalar() : "?") + "'");
    return v;
  }

  /// A band: {min, max} (either may be left out) or {value, rel}.
  Band band(const YAML::Node& n, const std::string& key) const {
    keys(n, key, {"min", "max", "value", "rel"});
    Band b;
    if (n["value"]) {
      if (n["min"] || n["max"]) throw isa::InputError(at(n, key) + "give min/max or value/rel, not both");
      const double v = number(n["value"], key + ".value");
      const double rel = n["rel"] ? number(n["rel"], key + ".rel") : 0.0;
      if (rel < 0) throw isa::InputError(at(n["rel"], key + ".rel") + "must not be negative");
      b.min = v - std::fabs(v) * rel;
      b.max = v + std::fabs(v) * rel;
      return b;
    }
    if (n["rel"]) throw isa::InputError(at(n, key) + "rel needs value");
    if (n["min"]) b.min = number(n["min"], key + ".min");
    if (n["max"]) b.max = number(n["max"], key + ".max");
    if (!b.min && !b.max) throw isa::InputError(at(n, key) + "a band needs min, max, or value");
    if (b.min && b.max && *b.min > *b.max) throw isa::InputError(at(n, key) + "min is above max");
    return b;
  }

 private:
  std::string file_;  ///< the EXPECT file
};

/// `s`'s folder ("" for none) with a trailing slash.
std::string folder_of(const std::string& s) {
  const auto slash = s.find_last_of('/');
  return slash == std::string::npos ? "" : s.substr(0, slash + 1);
}

/// Whether numpy descriptor `d` holds floats (bf16 travels as raw "<u2" bits: an integer here).
bool is_float_descr(const std::string& d) {
  return d == "<f4" || d == "<f2" || d == "<f8";
}

/// The elements of `a` as doubles (refuses descriptors a run never writes).
std::vector<double> values_of(const NpyArray& a, const std::string& what) {
  const std::string& d = a.descr;
  const size_t es = d == "<f8" || d == "<i8" || d == "<u8"   ? 8
                    : d == "<f4" || d == "<i4" || d == "<u4" ? 4
                    : d == "<f2" || d == "<i2" || d == "<u2" ? 2
                    : d == "|i1" || d == "|u1" || d == "|b1" ? 1
                                                             : 0;
  if (es == 0) throw isa::InputError(what + ": dtype '" + d + "' is not one npusim compares");
  std::vector<double> v(a.data.size() / es);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint8_t* p = &a.data[es * i];
    if (d == "<f4") {
      float f;
      std::memcpy(&f, p, 4);
      v[i] = f;
    } else if (d == "<f8") {
      std::memcpy(&v[i], p, 8);
    } else if (d == "<f2") {
      v[i] = from_device(static_cast<uint16_t>(p[0] | (p[1] << 8)), isa::TensorType::FP16);
    } else if (d[1] == 'i') {
      int64_t x = 0;
      std::memcpy(&x, p, es);
      const int shift = static_cast<int>(64 - 8 * es);  // sign-extend from es bytes
      v[i] = static_cast<double>(static_cast<int64_t>(static_cast<uint64_t>(x) << shift) >> shift);
    } else {
      uint64_t x = 0;
      std::memcpy(&x, p, es);
      v[i] = static_cast<double>(x);
    }
  }
  return v;
}

/// `v` as a short number ("1234", "0.00123").
std::string num(double v) {
  return format_g(v, 6);
}

/// "(1, 3, 8, 8)".
std::string shape_text(const std::vector<uint64_t>& s) {
  std::string t = "(";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + ")";
}

/// `value` against `b`, as a check called `name` with `unit`.
Check band_check(const std::string& name, double value, const Band& b, const std::string& unit) {
  Check c{name, true, ""};
  const std::string range = "[" + (b.min ? num(*b.min) : std::string("-inf")) + ", " +
                            (b.max ? num(*b.max) : std::string("inf")) + "]" + (unit.empty() ? "" : " " + unit);
  c.detail = num(value) + (unit.empty() ? "" : " " + unit) + " within " + range;
  if (b.min && value < *b.min) {
    c.passed = false;
    c.detail = num(value) + (unit.empty() ? "" : " " + unit) + " is below " + range + " by " + num(*b.min - value) +
               (*b.min != 0 ? " (" + num(100 * (*b.min - value) / std::fabs(*b.min)) + "%)" : "");
  } else if (b.max && value > *b.max) {
    c.passed = false;
    c.detail = num(value) + (unit.empty() ? "" : " " + unit) + " is above " + range + " by " + num(value - *b.max) +
               (*b.max != 0 ? " (" + num(100 * (value - *b.max) / std::fabs(*b.max)) + "%)" : "");
  }
  return c;
}

/// One output against its expectation.
Check output_check(const std::string& name, const OutputExpectation& x, const NpyArray& out) {
  Check c{"output " + name, false, ""};
  const NpyArray ref = read_npy(x.reference);
  if (ref.shape != out.shape) {
    c.detail = "shape " + shape_text(out.shape) + " differs from the reference's " + shape_text(ref.shape) + " (" +
               x.reference + ")";
    return c;
  }
  const bool fp = is_float_descr(out.descr);
  if (fp != is_float_descr(ref.descr)) {
    c.detail = "dtype '" + out.descr + "' against the reference's '" + ref.descr + "' (" + x.reference + ")";
    return c;
  }
  const std::vector<double> o = values_of(out, "output " + name), r = values_of(ref, x.reference);
  if (!fp || x.exact) {  // integers (and floats asked to be exact): every element equal
    size_t bad = 0, first = o.size();
    for (size_t i = 0; i < o.size(); ++i)
      if (!(o[i] == r[i]) && !(std::isnan(o[i]) && std::isnan(r[i]))) bad++, first = std::min(first, i);
    c.passed = bad == 0;
    c.detail = bad == 0 ? "exact: all " + std::to_string(o.size()) + " elements equal"
                        : std::to_string(bad) + " of " + std::to_string(o.size()) +
                              " elements differ (exact); first at flat index " + std::to_string(first) + ": " +
                              num(o[first]) + " expected " + num(r[first]);
    return c;
  }
  const double atol = x.atol.value_or(0), rtol = x.rtol.value_or(0);
  const bool elementwise = x.atol || x.rtol;
  size_t bad = 0, worst = 0;
  double worst_excess = -1, max_abs = 0, dot = 0, no = 0, nr = 0;
  for (size_t i = 0; i < o.size(); ++i) {
    const double err = std::fabs(o[i] - r[i]);
    max_abs = std::max(max_abs, std::isnan(err) ? INFINITY : err);
    dot += o[i] * r[i], no += o[i] * o[i], nr += r[i] * r[i];
    const double excess = (std::isnan(err) ? INFINITY : err) - (atol + rtol * std::fabs(r[i]));
    if (elementwise && excess > 0) {
      bad++;
      if (excess > worst_excess) worst_excess = excess, worst = i;
    }
  }
  // Two zero tensors are identical; one zero tensor against another is as far as can be.
  const double cosine = no == 0 && nr == 0 ? 1.0 : no == 0 || nr == 0 ? 0.0 : dot / std::sqrt(no * nr);
  std::ostringstream d;
  d << "max |diff| " << num(max_abs) << ", cosine " << format_g(cosine, 8);
  c.passed = true;
  if (elementwise) {
    d << "; " << bad << " of " << o.size() << " elements outside atol " << num(atol) << " + rtol " << num(rtol)
      << " x |ref|";
    if (bad) {
      d << " (worst at flat index " << worst << ": " << num(o[worst]) << " expected " << num(r[worst]) << ")";
      c.passed = false;
    }
  }
  if (x.cosine) {
    d << "; cosine needs >= " << format_g(*x.cosine, 8);
    if (!(cosine >= *x.cosine)) c.passed = false;
  }
  c.detail = d.str();
  return c;
}

/// A number at `path` (dotted) in `j`, if there.
std::optional<double> figure(const nlohmann::ordered_json& j, const std::string& path) {
  const nlohmann::ordered_json* p = &j;
  for (size_t b = 0, dot; b <= path.size(); b = dot + 1) {
    dot = path.find('.', b);
    if (dot == std::string::npos) dot = path.size();
    const std::string k = path.substr(b, dot - b);
    if (!p->is_object() || !p->contains(k)) return std::nullopt;
    p = &(*p)[k];
  }
  if (!p->is_number()) return std::nullopt;
  return p->get<double>();
}

/// XML text with &, <, >, " escaped.
std::string xml(const std::string& s) {
  std::string o;
  for (char ch : s) switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += ch;
    }
  return o;
}

}  // namespace

Expectations load_expectations(const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    throw isa::InputError(file + ": cannot read the expectations file: " + std::strerror(errno));
  } catch (const YAML::Exception& e) {
    throw isa::InputError(file + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  const Reader rd(file);
  Expectations x;
  x.file = file;
  if (!root.IsMap()) throw isa::InputError(file + ": expected a mapping (npusim_expect, outputs, cycles, ...)");
  rd.keys(root, "", {"npusim_expect", "outputs", "cycles", "latency_s", "energy_j", "operators", "fallback"});
  if (!root["npusim_expect"])
    throw isa::InputError(
        file + ": npusim_expect: missing (the format version: npusim_expect: " + std::to_string(kExpectVersion) + ")");
  if (rd.number(root["npusim_expect"], "npusim_expect") != kExpectVersion)
    throw isa::InputError(rd.at(root["npusim_expect"], "npusim_expect") + "version '" + root["npusim_expect"].Scalar() +
                          "' is not supported (this build reads " + std::to_string(kExpectVersion) + ")");
  const std::string dir = folder_of(file);
  if (const YAML::Node outs = root["outputs"]) {
    if (!outs.IsMap()) throw isa::InputError(rd.at(outs, "outputs") + "expected a mapping of output names");
    for (auto it = outs.begin(); it != outs.end(); ++it) {
      const std::string name = it->first.as<std::string>(), key = "outputs." + name;
      const YAML::Node n = it->second;
      rd.keys(n, key, {"reference", "atol", "rtol", "cosine", "exact"});
      OutputExpectation o;
      if (!n["reference"] || !n["reference"].IsScalar())
        throw isa::InputError(rd.at(n, key) + "reference: missing (the expected tensor as .npy)");
      o.reference = n["reference"].Scalar();
      if (o.reference.empty() || o.reference[0] != '/') o.reference = dir + o.reference;
      if (n["atol"]) o.atol = rd.number(n["atol"], key + ".atol");
      if (n["rtol"]) o.rtol = rd.number(n["rtol"], key + ".rtol");
      if (n["cosine"]) o.cosine = rd.number(n["cosine"], key + ".cosine");
      if (n["exact"]) o.exact = rd.boolean(n["exact"], key + ".exact");
      if (o.exact && (o.atol || o.rtol || o.cosine))
        throw isa::InputError(rd.at(n, key) + "exact: true takes no atol, rtol or cosine");
      if ((o.atol && *o.atol < 0) || (o.rtol && *o.rtol < 0))
        throw isa::InputError(rd.at(n, key) + "atol and rtol must not be negative");
      (void)read_npy(o.reference);  // a missing or broken reference is an error now, not after the run
      x.outputs[name] = o;
    }
  }
  if (root["cycles"]) x.cycles = rd.band(root["cycles"], "cycles");
  if (root["latency_s"]) x.latency_s = rd.band(root["latency_s"], "latency_s");
  if (root["energy_j"]) x.energy_j = rd.band(root["energy_j"], "energy_j");
  if (const YAML::Node ops = root["operators"]) {
    if (!ops.IsMap()) throw isa::InputError(rd.at(ops, "operators") + "expected a mapping of operator names");
    for (auto it = ops.begin(); it != ops.end(); ++it) {
      const std::string name = it->first.as<std::string>();
      x.operators[name] = rd.band(it->second, "operators." + name);
    }
  }
  if (const YAML::Node f = root["fallback"]) {
    rd.keys(f, "fallback", {"max_host_operators", "max_host_time_ratio"});
    if (f["max_host_operators"]) {
      const double v = rd.number(f["max_host_operators"], "fallback.max_host_operators");
      if (v < 0 || v != std::floor(v))
        throw isa::InputError(rd.at(f["max_host_operators"], "fallback.max_host_operators") +
                              "expected a non-negative integer");
      x.max_host_operators = static_cast<uint64_t>(v);
    }
    if (f["max_host_time_ratio"])
      x.max_host_time_ratio = rd.number(f["max_host_time_ratio"], "fallback.max_host_time_ratio");
  }
  return x;
}

std::vector<Check> check_expectations(const Expectations& e, bool ok, const std::string& fault,
                                      const nlohmann::ordered_json& stats,
                                      const std::map<std::string, NpyArray>& outputs) {
  std::vector<Check> cs;
  cs.push_back({"run", ok, ok ? "finished" : "FAULT " + fault});
  for (const auto& [name, x] : e.outputs) {
    auto it = outputs.find(name);
    if (it == outputs.end()) {
      std::string names;
      for (const auto& [n, a] : outputs) names += (names.empty() ? "" : ", ") + n;
      cs.push_back({"output " + name, false,
                    ok ? "the run has no output '" + name + "' (outputs: " + names + ")"
                       : "no outputs (the run did not finish, or was timing-only)"});
      continue;
    }
    cs.push_back(output_check(name, x, it->second));
  }
  auto band_of = [&](const std::string& name, const std::string& path, const std::optional<Band>& b,
                     const std::string& unit) {
    if (!b) return;
    const auto v = figure(stats, path);
    if (!v)
      cs.push_back({name, false, "stats.json has no " + path + (ok ? "" : " (the run faulted)")});
    else
      cs.push_back(band_check(name, *v, *b, unit));
  };
  band_of("cycles", "total_cycles", e.cycles, "cycles");
  band_of("latency_s", "seconds", e.latency_s, "s");
  band_of("energy_j", "power.energy_j.total", e.energy_j, "J");
  for (const auto& [name, b] : e.operators) {
    if (!stats.contains("operators") || !stats["operators"].contains(name)) {
      std::string names;
      if (stats.contains("operators"))
        for (const auto& [n, v] : stats["operators"].items()) names += (names.empty() ? "" : ", ") + n;
      cs.push_back({"operator " + name, false, "the run has no operator '" + name + "' (operators: " + names + ")"});
      continue;
    }
    band_of("operator " + name, "operators." + name + ".cycles", b, "cycles");
  }
  // The fallback policy: by default no operator may run on the host (a model that falls back
  // "finishes" in a few NPU cycles while the host does the work).
  Check f{"fallback", true, ""};
  const uint64_t host_ops =
      stats.contains("fallback") ? stats["fallback"].value("host_operators", uint64_t{0}) : uint64_t{0};
  const double host_ratio = stats.contains("fallback") ? stats["fallback"].value("host_time_ratio", 0.0) : 0.0;
  f.detail = std::to_string(host_ops) + " host operator(s) (at most " + std::to_string(e.max_host_operators) +
             "), host time " + num(100 * host_ratio) + "% of the run";
  if (host_ops > e.max_host_operators) {
    f.passed = false;
    std::string names;
    for (const auto& h : stats["fallback"]["host"]) names += (names.empty() ? "" : ", ") + h.get<std::string>();
    f.detail += ": " + names + " ran on the host";
  }
  if (e.max_host_time_ratio) {
    f.detail += " (at most " + num(100 * *e.max_host_time_ratio) + "%)";
    if (host_ratio > *e.max_host_time_ratio) f.passed = false;
  }
  cs.push_back(f);
  return cs;
}

std::string checks_text(const std::vector<Check>& checks) {
  std::ostringstream os;
  size_t failed = 0;
  for (const Check& c : checks) {
    os << (c.passed ? "  pass " : "  FAIL ") << c.name << ": " << c.detail << "\n";
    failed += !c.passed;
  }
  os << "expectations: " << checks.size() - failed << " of " << checks.size() << " passed"
     << (failed ? ", " + std::to_string(failed) + " failed" : std::string()) << "\n";
  return os.str();
}

std::string junit_xml(const std::string& suite, const std::vector<Check>& checks, double seconds) {
  size_t failed = 0;
  for (const Check& c : checks) failed += !c.passed;
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  os << "<testsuites tests=\"" << checks.size() << "\" failures=\"" << failed << "\">\n";
  os << "  <testsuite name=\"" << xml(suite) << "\" tests=\"" << checks.size() << "\" failures=\"" << failed
     << "\" errors=\"0\" time=\"" << format_g(seconds, 6) << "\">\n";
  for (const Check& c : checks) {
    os << "    <testcase classname=\"" << xml(suite) << "\" name=\"" << xml(c.name) << "\" time=\"0\">";
    if (c.passed)
      os << "<system-out>" << xml(c.detail) << "</system-out>";
    else
      os << "\n      <failure message=\"" << xml(c.detail) << "\">" << xml(c.detail) << "</failure>\n    ";
    os << "</testcase>\n";
  }
  os << "  </testsuite>\n</testsuites>\n";
  return os.str();
}

void record_expectations(const std::string& file, const nlohmann::ordered_json& stats,
                         const std::map<std::string, NpyArray>& outputs, double rel) {
  std::string stem = file;
  const auto slash = stem.find_last_of('/');
  const auto dot = stem.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) stem = stem.substr(0, dot);
  const std::string base = slash == std::string::npos ? stem : stem.substr(slash + 1);
  std::ostringstream y;
  y << "# Recorded by npusim run --record-expect from " << stats.value("program", std::string("?")) << " on "
    << stats["config"].value("name", std::string("?")) << " (config hash "
    << stats["config"].value("hash", std::string("?")) << ", program hash "
    << stats.value("program_hash", std::string("?")) << ", npusim " << stats.value("npusim_version", std::string("?"))
    << ").\n# Format: docs/cli.md, Expectations.\n";
  y << "npusim_expect: " << kExpectVersion << "\n";
  if (!outputs.empty()) {
    y << "outputs:\n";
    for (const auto& [name, a] : outputs) {
      const std::string ref = base + "." + name + ".npy";
      write_npy(folder_of(file) + ref, a);
      y << "  " << name << ": {reference: " << ref;
      if (is_float_descr(a.descr))  // fp16 arithmetic: a percent of the value, and the direction kept
        y << ", atol: 0.01, rtol: 0.01, cosine: 0.999";
      else
        y << ", exact: true";
      y << "}\n";
    }
  }
  auto band = [&](const char* key, const std::optional<double>& v) {
    if (!v) return;
    y << key << ": {value: " << config::exact_number_text(*v) << ", rel: " << config::exact_number_text(rel) << "}\n";
  };
  band("cycles", figure(stats, "total_cycles"));
  band("latency_s", figure(stats, "seconds"));
  band("energy_j", figure(stats, "power.energy_j.total"));
  const uint64_t host_ops =
      stats.contains("fallback") ? stats["fallback"].value("host_operators", uint64_t{0}) : uint64_t{0};
  y << "fallback: {max_host_operators: " << host_ops << "}\n";
  write_text_file(file, y.str());
}

}  // namespace npusim::cli
