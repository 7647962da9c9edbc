#include "base/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "base/schema.h"
#include "base/text.h"

namespace npusim::stats {

/// One member of a group: a statistic, a nested group or a repeated group.
struct Group::Node {
  enum class Kind { Counter, Value, Text, Group, Each };
  Kind kind = Kind::Counter;                       ///< what it is
  std::string name;                                ///< JSON key
  std::string unit;                                ///< statistics: unit ("" for none)
  std::string desc;                                ///< one line
  std::function<uint64_t()> count;                 ///< Counter: its value
  std::function<double()> real;                    ///< Value: its value
  std::function<std::string()> text;               ///< Text: its value
  std::function<bool()> present;                   ///< Text: written at all (empty: always)
  std::unique_ptr<Group> group;                    ///< Group: its members
  std::string placeholder;                         ///< Each: the key as listed ("<engine>")
  std::function<std::vector<std::string>()> keys;  ///< Each: the instances' keys
  std::function<void(Group&, size_t)> declare;     ///< Each: declares instance i
  /// `k` as listed.
  static const char* kind_name(Kind k) {
    switch (k) {
      case Kind::Counter: return "counter";
      case Kind::Value: return "value";
      case Kind::Text: return "text";
      default: return "group";
    }
  }
};

Group::Group() = default;
Group::~Group() = default;

void Group::add(Node n) {
  for (const auto& m : nodes_)
    if (m->name == n.name) throw std::logic_error("statistic '" + n.name + "' declared twice");
  nodes_.push_back(std::make_unique<Node>(std::move(n)));
}

Group& Group::group(const std::string& name, const std::string& desc, std::function<bool()> present) {
  for (const auto& m : nodes_)
    if (m->name == name && m->kind == Node::Kind::Group) return *m->group;
  Node n;
  n.kind = Node::Kind::Group;
  n.name = name;
  n.desc = desc;
  n.present = std::move(present);
  n.group = std::make_unique<Group>();
  add(std::move(n));
  return *nodes_.back()->group;
}

void Group::counter(const std::string& name, const uint64_t& count, const std::string& unit, const std::string& desc) {
  const uint64_t* p = &count;
  counter(
      name, [p] { return *p; }, unit, desc);
}

void Group::counter(const std::string& name, std::function<uint64_t()> get, const std::string& unit,
                    const std::string& desc) {
  Node n;
  n.kind = Node::Kind::Counter;
  n.name = name, n.unit = unit, n.desc = desc;
  n.count = std::move(get);
  add(std::move(n));
}

void Group::value(const std::string& name, const double& v, const std::string& unit, const std::string& desc) {
  const double* p = &v;
  value(
      name, [p] { return *p; }, unit, desc);
}

void Group::value(const std::string& name, std::function<double()> get, const std::string& unit,
                  const std::string& desc) {
  Node n;
  n.kind = Node::Kind::Value;
  n.name = name, n.unit = unit, n.desc = desc;
  n.real = std::move(get);
  add(std::move(n));
}

void Group::text(const std::string& name, std::function<std::string()> get, const std::string& desc,
                 std::function<bool()> present) {
  Node n;
  n.kind = Node::Kind::Text;
  n.name = name, n.desc = desc;
  n.text = std::move(get);
  n.present = std::move(present);
  add(std::move(n));
}

void Group::each(const std::string& name, const std::string& placeholder, const std::string& desc,
                 std::function<std::vector<std::string>()> keys, std::function<void(Group&, size_t)> declare) {
  Node n;
  n.kind = Node::Kind::Each;
  n.name = name, n.desc = desc, n.placeholder = placeholder;
  n.keys = std::move(keys);
  n.declare = std::move(declare);
  add(std::move(n));
}

nlohmann::ordered_json Group::json() const {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& n : nodes_) switch (n->kind) {
      case Node::Kind::Counter: j[n->name] = n->count(); break;
      case Node::Kind::Value: {
        // Reports carry 6 significant digits: the nearest double to that decimal, so the JSON
        // number reads back as exactly what %.6g prints.
        const double v = n->real();
        j[n->name] = std::isfinite(v) ? std::strtod(format_g(v, 6).c_str(), nullptr) : v;
        break;
      }
      case Node::Kind::Text:
        if (!n->present || n->present()) j[n->name] = n->text();
        break;
      case Node::Kind::Group:
        if (!n->present || n->present()) j[n->name] = n->group->json();
        break;
      case Node::Kind::Each: {
        nlohmann::ordered_json& all = j[n->name] = nlohmann::ordered_json::object();
        const std::vector<std::string> keys = n->keys();
        for (size_t i = 0; i < keys.size(); ++i) {
          Group instance;
          n->declare(instance, i);
          all[keys[i]] = instance.json();
        }
        break;
      }
    }
  return j;
}

void Group::list(const std::string& prefix, std::vector<Entry>& out) const {
  // This group's statistics first, then its groups (as the config reference lists sections).
  for (const auto& n : nodes_)
    if (n->kind != Node::Kind::Group && n->kind != Node::Kind::Each)
      out.push_back({prefix + n->name, Node::kind_name(n->kind), n->unit, n->desc, static_cast<bool>(n->present)});
  for (const auto& n : nodes_) {
    const std::string path = prefix + n->name;
    if (n->kind == Node::Kind::Group) {
      out.push_back({path, "group", "", n->desc, static_cast<bool>(n->present)});
      n->group->list(path + ".", out);
    } else if (n->kind == Node::Kind::Each) {  // one instance stands for all
      out.push_back({path, "group", "", n->desc});
      Group instance;
      n->declare(instance, 0);
      instance.list(path + "." + n->placeholder + ".", out);
    }
  }
}

std::vector<Entry> Group::entries() const {
  std::vector<Entry> out;
  list("", out);
  return out;
}

namespace {

/// `v` on one line. Real numbers as the shortest %g that reads back exactly (a value declared with
/// 6 significant digits prints as %.6g would); texts with invalid UTF-8 replaced, never an exception.
std::string one_line(const nlohmann::ordered_json& v) {
  if (v.is_number_float() && std::isfinite(v.get<double>())) return config::exact_number_text(v.get<double>());
  if (v.is_array() || v.is_object()) {
    std::string o = v.is_array() ? "[" : "{";
    const char* sep = "";
    for (const auto& [k, m] : v.items()) {
      o += sep;
      if (v.is_object()) o += one_line(k) + ": ";
      o += one_line(m);
      sep = ", ";
    }
    return o + (v.is_array() ? "]" : "}");
  }
  return v.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

/// A non-empty array with an object among its elements (report entries, trace events): written
/// one element per line.
bool list_of_objects(const nlohmann::ordered_json& v) {
  return v.is_array() && std::any_of(v.begin(), v.end(), [](const nlohmann::ordered_json& e) { return e.is_object(); });
}

/// An object no member of which is a non-empty object or a list of objects: written on one line.
bool flat(const nlohmann::ordered_json& obj) {
  for (const auto& [k, v] : obj.items())
    if ((v.is_object() && !v.empty()) || list_of_objects(v)) return false;
  return true;
}

void write(const nlohmann::ordered_json& v, const std::string& indent, std::ostringstream& os) {
  if (list_of_objects(v)) {
    os << "[\n";
    size_t i = 0;
    for (const auto& e : v) os << indent << "  " << one_line(e) << (++i < v.size() ? ",\n" : "\n");
    os << indent << "]";
    return;
  }
  if (!v.is_object() || flat(v)) {
    os << one_line(v);
    return;
  }
  os << "{\n";
  size_t i = 0;
  for (const auto& [k, m] : v.items()) {
    os << indent << "  " << one_line(k) << ": ";
    write(m, indent + "  ", os);
    os << (++i < v.size() ? ",\n" : "\n");
  }
  os << indent << "}";
}

}  // namespace

std::string json_text(const nlohmann::ordered_json& j) {
  std::ostringstream os;
  write(j, "", os);
  os << "\n";
  return os.str();
}

std::string json_text(const Group& g) {
  return json_text(g.json());
}

nlohmann::ordered_json json_schema(const std::vector<Entry>& entries, const std::string& id, const std::string& title,
                                   const std::vector<std::pair<std::string, std::string>>& extra) {
  auto object = [](const std::string& desc) {
    nlohmann::ordered_json o;
    o["type"] = "object";
    o["description"] = desc;
    o["properties"] = nlohmann::ordered_json::object();
    o["required"] = nlohmann::ordered_json::array();
    return o;
  };
  nlohmann::ordered_json root;
  root["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  root["$id"] = id;
  root["title"] = title;
  root.update(object(title));
  // Entries come parents first (list() writes a group before its members), so each entry's
  // parent object exists when it arrives: a path's parts are property names, or a
  // `<name>` part (such as `<engine>`) for a repeated group's instances.
  auto node_of = [&root, &object](const std::vector<std::string>& parts) -> nlohmann::ordered_json& {
    nlohmann::ordered_json* o = &root;
    for (const std::string& p : parts) {
      if (p.size() > 2 && p.front() == '<' && p.back() == '>') {  // any key: one schema for every instance
        o = &(*o)["additionalProperties"];
        if (!o->is_object()) *o = object("each " + p);
      } else {
        o = &(*o)["properties"][p];
      }
    }
    return *o;
  };
  for (const Entry& e : entries) {
    std::vector<std::string> parts;
    for (size_t b = 0, dot; b <= e.path.size(); b = dot + 1) {
      dot = e.path.find('.', b);
      if (dot == std::string::npos) dot = e.path.size();
      parts.push_back(e.path.substr(b, dot - b));
    }
    const std::string name = parts.back();
    parts.pop_back();
    nlohmann::ordered_json& parent = node_of(parts);
    nlohmann::ordered_json s;
    if (e.kind == "group") {
      s = object(e.description);
    } else if (e.kind == "counter") {
      s = {{"type", "integer"}, {"minimum", 0}, {"description", e.description}};
    } else if (e.kind == "value") {
      s = {{"type", nlohmann::ordered_json::array({"number", "null"})}, {"description", e.description}};
    } else {
      s = {{"type", "string"}, {"description", e.description}};
    }
    if (!e.unit.empty()) s["x-unit"] = e.unit;
    parent["properties"][name] = s;
    if (!e.optional) parent["required"].push_back(name);
  }
  for (const auto& [name, desc] : extra) root["properties"][name] = {{"type", "object"}, {"description", desc}};
  return root;
}

std::string reference_text(const std::vector<Entry>& entries) {
  std::ostringstream os;
  char line[512];
  auto row = [&](const std::string& path, const std::string& kind, const std::string& unit, const std::string& desc) {
    std::snprintf(line, sizeof line, "%-44s %-8s %-7s %s\n", path.c_str(), kind.c_str(), unit.c_str(), desc.c_str());
    os << line;
  };
  row("statistic", "kind", "unit", "description");
  for (const Entry& e : entries) {
    if (e.kind == "group")
      os << "\n# " << e.path << ": " << e.description << "\n";
    else
      row(e.path, e.kind, e.unit.empty() ? "-" : e.unit, e.description);
  }
  return os.str();
}

}  // namespace npusim::stats
