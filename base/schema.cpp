// Strict loading and self-description of configs.
#include "base/schema.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "base/input_file.h"
#include "base/units.h"

namespace npusim::config {

std::string impl_in_yaml(const Section& s, const char* key, const std::string& def) {
  if (!s.node() || !s.node()->IsMap()) return def;  // not a mapping: load_section reports that
  const YAML::Node n = (*s.node())[key];
  return n && n.IsScalar() ? n.Scalar() : def;
}

namespace {

std::string scalar(const YAML::Node& n) {
  if (!n.IsScalar())
    throw std::invalid_argument("expected a single value, found a " + std::string(n.IsMap() ? "mapping" : "list"));
  return n.Scalar();
}

std::string num_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string list_text(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + "]";
}

/// `text` when `parse` reads it back as exactly `v`, else the shortest exact decimal of `v`: a
/// value's text must tell every two values apart (hashes and cache keys are built from it).
template <class Parse>
std::string exact_text(const std::string& text, double v, const char* base_unit, Parse parse) {
  double back = 0;
  if (parse(text, back) && back == v) return text;
  return exact_number_text(v) + base_unit;
}

}  // namespace

std::string yaml_quoted(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      out += esc;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string exact_number_text(double v) {
  char buf[40];
  for (int digits = 6; digits <= 17; ++digits) {  // the shortest %g that reads back exactly
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string fnv1a64_hex(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 (Fowler, Noll, Vo): offset basis and prime
  for (const unsigned char ch : bytes) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(h));
  return buf;
}

void Section::add(ParamDecl d) {
  for (const auto& p : params_)
    if (p.name == d.name) throw std::logic_error("parameter " + path_ + "." + d.name + " declared twice");
  if (!d.value) throw std::logic_error("parameter " + path_ + "." + d.name + " declares no value text");
  params_.push_back(std::move(d));
}

void Section::integer(const char* name, uint32_t& field, const char* unit, const char* desc,
                      std::optional<uint32_t> def, uint32_t min, uint32_t max) {
  if (def && sets_defaults()) field = *def;
  const std::string range = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  ParamDecl d{name, "int", unit, desc, def ? std::to_string(*def) : "", !def, {}, nullptr, nullptr, nullptr};
  d.load = [&field, min, max, range](const YAML::Node& n) {
    const std::string t = scalar(n);
    unsigned long long v = 0;
    if (!parse_unsigned(t, v) || v < min || v > max)
      throw std::invalid_argument("expected " + range + ", got '" + t + "'");
    field = static_cast<uint32_t>(v);
  };
  d.value = [&field] { return std::to_string(field); };
  add(std::move(d));
}

namespace {
/// A finite number in [min, max], or std::invalid_argument saying what was expected.
double real_in(const std::string& t, double min, double max) {
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end || !std::isfinite(v) || v < min || v > max)
    throw std::invalid_argument("expected a number in [" + num_text(min) + ", " + num_text(max) + "], got '" + t + "'");
  return v;
}
}  // namespace

void Section::real(const char* name, double& field, const char* unit, const char* desc, std::optional<double> def,
                   double min, double max) {
  if (def && sets_defaults()) field = *def;
  ParamDecl d{name, "float", unit, desc, def ? num_text(*def) : "", !def, {}, nullptr, nullptr, nullptr};
  d.load = [&field, min, max](const YAML::Node& n) { field = real_in(scalar(n), min, max); };
  d.value = [&field] { return exact_number_text(field); };
  add(std::move(d));
}

void Section::boolean(const char* name, bool& field, const char* desc, std::optional<bool> def) {
  if (def && sets_defaults()) field = *def;
  ParamDecl d{name, "bool", "", desc, def ? (*def ? "true" : "false") : "", !def, {}, nullptr, nullptr, nullptr};
  d.load = [&field](const YAML::Node& n) {
    const std::string t = scalar(n);
    if (t == "true")
      field = true;
    else if (t == "false")
      field = false;
    else
      throw std::invalid_argument("expected true or false, got '" + t + "'");
  };
  d.value = [&field] { return std::string(field ? "true" : "false"); };
  add(std::move(d));
}

void Section::text(const char* name, std::string& field, const char* desc, std::optional<std::string> def) {
  if (def && sets_defaults()) field = *def;
  ParamDecl d{name, "string", "", desc, def ? *def : "", !def, {}, nullptr, nullptr, nullptr};
  d.load = [&field](const YAML::Node& n) { field = scalar(n); };
  d.value = [&field] { return yaml_quoted(field); };
  add(std::move(d));
}

void Section::file(const char* name, std::string& field, const char* desc) {
  ParamDecl d{name, "file", "", desc, "", true, {}, nullptr, nullptr, nullptr};
  d.load = [&field](const YAML::Node& n) { field = scalar(n); };
  // The design point is what the file holds, wherever it lies: its content's hash and size.
  d.identity = [&field] {
    std::string bytes;
    try {  // a FIFO or a directory is refused here too (the loader reports it where it reads it)
      bytes = read_input_file(field, "file");
    } catch (const InputError&) {
      return "unreadable " + yaml_quoted(field);
    }
    return "content " + fnv1a64_hex(bytes) + " " + std::to_string(bytes.size()) + "B";
  };
  d.value = [&field] { return yaml_quoted(field); };
  add(std::move(d));
}

void Section::choice(const char* name, std::string& field, std::vector<std::string> choices, const char* desc,
                     std::optional<std::string> def) {
  if (def && sets_defaults()) field = *def;
  ParamDecl d{name, "enum", "", desc, def ? *def : "", !def, choices, nullptr, nullptr, nullptr};
  d.load = [&field, choices](const YAML::Node& n) {
    const std::string t = scalar(n);
    if (std::find(choices.begin(), choices.end(), t) == choices.end())
      throw std::invalid_argument("expected one of " + list_text(choices) + ", got '" + t + "'");
    field = t;
  };
  d.value = [&field] { return field; };
  add(std::move(d));
}

void Section::choice_list(const char* name, std::vector<std::string>& field, std::vector<std::string> choices,
                          const char* desc, std::optional<std::vector<std::string>> def) {
  if (def && sets_defaults()) field = *def;
  ParamDecl d{name, "enum list", "", desc, def ? list_text(*def) : "", !def, choices, nullptr, nullptr, nullptr};
  d.load = [&field, choices](const YAML::Node& n) {
    if (!n.IsSequence()) throw std::invalid_argument("expected a list such as " + list_text(choices));
    std::vector<std::string> v;
    for (const auto& e : n) {
      const std::string t = scalar(e);
      if (std::find(choices.begin(), choices.end(), t) == choices.end())
        throw std::invalid_argument("expected elements from " + list_text(choices) + ", got '" + t + "'");
      if (std::find(v.begin(), v.end(), t) != v.end()) throw std::invalid_argument("'" + t + "' listed twice");
      v.push_back(t);
    }
    if (v.empty()) throw std::invalid_argument("expected at least one element");
    field = v;
  };
  d.value = [&field] { return list_text(field); };
  add(std::move(d));
}

void Section::bytes(const char* name, uint64_t& field, const char* desc, std::optional<uint64_t> def, uint64_t min,
                    uint64_t max) {
  if (def && sets_defaults()) field = *def;
  ParamDecl d{name, "bytes", "bytes", desc, def ? bytes_text(*def) : "", !def, {}, nullptr, nullptr, nullptr};
  d.load = [&field, min, max](const YAML::Node& n) {
    const std::string t = scalar(n);
    uint64_t v;
    if (!parse_bytes(t, v)) throw std::invalid_argument("expected a size such as 512KiB, 64B or 4096, got '" + t + "'");
    if (v < min || v > max)
      throw std::invalid_argument("size " + t + " out of range [" + bytes_text(min) + ", " + bytes_text(max) + "]");
    field = v;
  };
  d.value = [&field] { return bytes_text(field); };  // exact: bytes_text never rounds
  add(std::move(d));
}

namespace {
/// "value out of range [lo, hi]" for a quantity with units, or nothing when `v` is inside.
void check_range(double v, double min, double max, const std::string& text, std::string (*unit_text)(double)) {
  if (v < min || v > max)
    throw std::invalid_argument(text + " is out of range [" + unit_text(min) + ", " + unit_text(max) + "]");
}
}  // namespace

void Section::frequency(const char* name, double& field, const char* desc, std::optional<double> def, double min,
                        double max) {
  if (def && sets_defaults()) field = *def;
  ParamDecl d{name, "frequency", "Hz", desc, def ? frequency_text(*def) : "", !def, {}, nullptr, nullptr, nullptr};
  d.load = [&field, min, max](const YAML::Node& n) {
    const std::string t = scalar(n);
    double v = 0;
    if (!parse_frequency(t, v) || !std::isfinite(v))
      throw std::invalid_argument("expected a frequency such as 1GHz or 700MHz, got '" + t + "'");
    check_range(v, min, max, t, frequency_text);
    field = v;
  };
  d.value = [&field] { return exact_text(frequency_text(field), field, "Hz", parse_frequency); };
  add(std::move(d));
}

void Section::bandwidth(const char* name, double& field, const char* desc, std::optional<double> def, double min,
                        double max) {
  if (def && sets_defaults()) field = *def;
  ParamDecl d{name, "bandwidth", "B/s", desc, def ? bandwidth_text(*def) : "", !def, {}, nullptr, nullptr, nullptr};
  d.load = [&field, min, max](const YAML::Node& n) {
    const std::string t = scalar(n);
    double v = 0;
    if (!parse_bandwidth(t, v) || !std::isfinite(v))
      throw std::invalid_argument("expected a bandwidth such as 12.8GB/s, got '" + t + "'");
    check_range(v, min, max, t, bandwidth_text);
    field = v;
  };
  d.value = [&field] { return exact_text(bandwidth_text(field), field, "B/s", parse_bandwidth); };
  add(std::move(d));
}

void Section::time(const char* name, double& field, const char* desc, std::optional<double> def, double min,
                   double max) {
  if (def && sets_defaults()) field = *def;
  ParamDecl d{name, "time", "s", desc, def ? time_text(*def) : "", !def, {}, nullptr, nullptr, nullptr};
  d.load = [&field, min, max](const YAML::Node& n) {
    const std::string t = scalar(n);
    double v = 0;
    if (!parse_time(t, v) || !std::isfinite(v))
      throw std::invalid_argument("expected a time such as 45ns or 7.8us, got '" + t + "'");
    check_range(v, min, max, t, time_text);
    field = v;
  };
  d.value = [&field] { return exact_text(time_text(field), field, "s", parse_time); };
  add(std::move(d));
}

void Section::real_list(const char* name, std::vector<double>& field, const char* unit, const char* desc,
                        std::optional<std::vector<double>> def, double min, double max) {
  if (def && sets_defaults()) field = *def;
  std::string def_text;
  if (def) {
    std::vector<std::string> t;
    for (double v : *def) t.push_back(num_text(v));
    def_text = list_text(t);
  }
  ParamDecl d{name, "float list", unit, desc, def_text, !def, {}, nullptr, nullptr, nullptr};
  d.load = [&field, min, max](const YAML::Node& n) {
    if (!n.IsSequence()) throw std::invalid_argument("expected a list of numbers such as [85, 90]");
    std::vector<double> v;
    for (const auto& e : n) v.push_back(real_in(scalar(e), min, max));
    if (v.empty()) throw std::invalid_argument("expected at least one element");
    field = v;
  };
  d.value = [&field] {
    std::vector<std::string> t;
    for (double v : field) t.push_back(exact_number_text(v));
    return list_text(t);
  };
  add(std::move(d));
}

void Section::custom(const char* name, const char* type, const char* unit, const char* desc,
                     std::optional<std::string> def_text, std::function<void(const YAML::Node&)> load,
                     std::function<std::string()> value) {
  add({name, type, unit, desc, def_text ? *def_text : "", !def_text, {}, std::move(load), std::move(value), nullptr});
}

void Section::child(const char* name, const char* desc, Describe describe) {
  children_.push_back({name, desc, std::move(describe)});
}

namespace {

std::string where(const std::string& file, const YAML::Mark& m) {
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

void load_section(Section& s, const YAML::Node& node, const std::string& file) {
  if (node && !node.IsNull() && !node.IsMap())
    throw ConfigError(where(file, node.Mark()) + ": error: " + s.path() + ": expected a mapping of keys");
  std::set<std::string> seen;
  if (node && node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar())
        throw ConfigError(where(file, it->first.Mark()) + ": error: " + (s.path().empty() ? "" : s.path() + ": ") +
                          "keys must be plain names, found a " +
                          (it->first.IsMap()        ? "mapping"
                           : it->first.IsSequence() ? "list"
                                                    : "null"));
      const std::string key = it->first.Scalar();
      const std::string path = s.path().empty() ? key : s.path() + "." + key;
      if (!seen.insert(key).second)
        throw ConfigError(where(file, it->first.Mark()) + ": error: " + path + ": key given twice");
      const auto p =
          std::find_if(s.params().begin(), s.params().end(), [&](const ParamDecl& d) { return d.name == key; });
      if (p != s.params().end()) {
        try {
          p->load(it->second);
        } catch (const std::invalid_argument& e) {
          throw ConfigError(where(file, it->second.Mark()) + ": error: " + path + ": " + e.what());
        }
        continue;
      }
      const auto c = std::find_if(s.children().begin(), s.children().end(),
                                  [&](const Section::Child& ch) { return ch.name == key; });
      if (c != s.children().end()) continue;  // loaded below
      // Unknown: name the closest valid key.
      std::string best;
      size_t best_d = SIZE_MAX;
      auto consider = [&](const std::string& cand) {
        const size_t d = edit_distance(key, cand);
        if (d < best_d) best_d = d, best = cand;
      };
      for (const auto& d : s.params()) consider(d.name);
      for (const auto& ch : s.children()) consider(ch.name);
      std::string msg = where(file, it->first.Mark()) + ": error: unknown key '" + key + "'" +
                        (s.path().empty() ? "" : " in " + s.path());
      if (!best.empty() && best_d <= std::max<size_t>(2, key.size() / 2)) msg += " (did you mean '" + best + "'?)";
      std::string valid;
      for (const auto& d : s.params()) valid += (valid.empty() ? "" : ", ") + d.name;
      for (const auto& ch : s.children()) valid += (valid.empty() ? "" : ", ") + ch.name;
      throw ConfigError(msg + "; valid keys: " + valid);
    }
  }
  for (const auto& p : s.params())
    if (p.required && !seen.count(p.name))
      throw ConfigError(where(file, node ? node.Mark() : YAML::Mark()) +
                        ": error: " + (s.path().empty() ? "" : s.path() + ": ") + "missing required key '" + p.name +
                        "' (" + p.description + ")");
  for (const auto& c : s.children()) {
    // A key that is absent yields an invalid node in yaml-cpp: use an empty (null) one instead.
    YAML::Node child;
    if (node && node.IsMap() && node[c.name].IsDefined()) child = node[c.name];
    Section cs(s.path().empty() ? c.name : s.path() + "." + c.name, &child);
    c.describe(cs);
    load_section(cs, child, file);
  }
  for (const auto& check : s.checks()) {
    try {
      check();
    } catch (const std::invalid_argument& e) {
      throw ConfigError(where(file, node ? node.Mark() : YAML::Mark()) +
                        ": error: " + (s.path().empty() ? "" : s.path() + ": ") + e.what());
    }
  }
}

void print_section(const Section& s, std::ostringstream& os) {
  for (const auto& p : s.params()) {
    const std::string path = s.path().empty() ? p.name : s.path() + "." + p.name;
    std::string type = p.type;
    if (!p.choices.empty())
      type += " {" + [&] {
        std::string c;
        for (size_t i = 0; i < p.choices.size(); ++i) c += (i ? "|" : "") + p.choices[i];
        return c;
      }() + "}";
    char line[512];
    std::snprintf(line, sizeof line, "%-34s %-22s %-7s %-12s %s\n", path.c_str(), type.c_str(),
                  p.unit.empty() ? "-" : p.unit.c_str(), p.required ? "(required)" : p.default_text.c_str(),
                  p.description.c_str());
    os << line;
  }
  for (const auto& c : s.children()) {
    // "<key>=<name>" children (impl=banked, solver=zoh) list one implementation's keys, which
    // live in the parent mapping.
    const size_t eq = c.name.find('=');
    const bool impl = eq != std::string::npos;
    Section cs(impl ? s.path() : (s.path().empty() ? c.name : s.path() + "." + c.name), nullptr);
    c.describe(cs);
    if (impl)
      os << "\n# " << s.path() << " with " << c.name.substr(0, eq) << ": " << c.name.substr(eq + 1) << " ("
         << c.description << ")\n";
    else
      os << "\n# " << cs.path() << ": " << c.description << "\n";
    print_section(cs, os);
  }
}

}  // namespace

void load(const Describe& describe, const YAML::Node& root, const std::string& file) {
  Section top("", &root);
  describe(top);
  try {
    load_section(top, root, file);
  } catch (const YAML::Exception& e) {  // anything yaml-cpp raises on odd trees still names the place
    throw ConfigError(where(file, e.mark) + ": error: " + e.msg);
  }
}

namespace {

/// One section's values in flow style: {key: value, child: {...}}.
std::string flow_values(const Section& s, bool identity) {
  std::string out;
  auto item = [&out](const std::string& key, const std::string& value) {
    out += (out.empty() ? "" : ", ") + key + ": " + value;
  };
  for (const auto& p : s.params()) item(p.name, identity && p.identity ? p.identity() : p.value());
  for (const auto& c : s.children()) {
    Section cs = Section::values(s.path().empty() ? c.name : s.path() + "." + c.name);
    c.describe(cs);
    item(c.name, flow_values(cs, identity));
  }
  return "{" + out + "}";
}

std::string walk_values(const Describe& describe, bool identity) {
  Section top = Section::values("");
  describe(top);
  std::string out;
  for (const auto& p : top.params()) out += p.name + ": " + (identity && p.identity ? p.identity() : p.value()) + "\n";
  for (const auto& c : top.children()) {
    Section cs = Section::values(c.name);
    c.describe(cs);
    out += c.name + ": " + flow_values(cs, identity) + "\n";
  }
  return out;
}

}  // namespace

std::string values_text(const Describe& describe) {
  return walk_values(describe, false);
}

std::string identity_text(const Describe& describe) {
  return walk_values(describe, true);
}

std::string describe_text(const Describe& describe) {
  Section top("", nullptr);
  describe(top);
  std::ostringstream os;
  char head[256];
  std::snprintf(head, sizeof head, "%-34s %-22s %-7s %-12s %s\n", "key", "type", "unit", "default", "description");
  os << head;
  print_section(top, os);
  return os.str();
}

}  // namespace npusim::config
