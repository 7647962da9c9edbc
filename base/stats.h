// Statistics: each component declares the counters it keeps, once, where it counts them (name,
// unit, one-line description), into a tree of groups (`memory.dram`, `engines.mxu`, ...). The same
// declarations write stats.json and list every statistic (`npusim info --stats`, docs/stats.md):
// components never format output.
//
// A declaration binds a counter by reference, or a getter for what is derived from counters
// (rates, ratios); nothing is read until the tree is written, so a tree may be declared over
// zero-valued structures just to be listed.
//
//   stats::Group root;
//   root.group("dram", "DRAM model").counter("row_hits", s.row_hits, "", "accesses that hit an open row");
//   std::string text = stats::json_text(root.json());
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace npusim::stats {

/// One declared statistic or group, as listed.
struct Entry {
  std::string path;         ///< dotted path in the JSON ("memory.dram.row_hits"; "<engine>" for a repeated group)
  std::string kind;         ///< group, counter (integer), value (real number) or text
  std::string unit;         ///< cycles, bytes, B/s, s, ... ("" for none)
  std::string description;  ///< one line
  bool optional = false;    ///< written only in some runs (a `present` predicate decides)
};

/// A group of statistics: named counters, values, texts and nested groups, in declaration order.
class Group {
 public:
  Group();
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  /// The nested group `name` (created on first use; later calls return the same group).
  /// `present`, when given, decides at writing time whether it is written at all (it is always
  /// listed, as optional).
  Group& group(const std::string& name, const std::string& desc, std::function<bool()> present = {});
  /// An integer count held by the component, read when the tree is written.
  void counter(const std::string& name, const uint64_t& count, const std::string& unit, const std::string& desc);
  /// Refused: a temporary would be gone by the time the tree is written (use a getter).
  void counter(const std::string& name, const uint64_t&& count, const std::string& unit,
               const std::string& desc) = delete;
  /// An integer computed when the tree is written.
  void counter(const std::string& name, std::function<uint64_t()> get, const std::string& unit,
               const std::string& desc);
  /// A real number held by the component; written with 6 significant digits.
  void value(const std::string& name, const double& v, const std::string& unit, const std::string& desc);
  /// Refused: a temporary would be gone by the time the tree is written (use a getter).
  void value(const std::string& name, const double&& v, const std::string& unit, const std::string& desc) = delete;
  /// A real number computed when the tree is written (rates, ratios); 6 significant digits.
  void value(const std::string& name, std::function<double()> get, const std::string& unit, const std::string& desc);
  /// A text (an implementation's name, a status). `present`, when given, decides at writing time
  /// whether it is written at all (it is always listed).
  void text(const std::string& name, std::function<std::string()> get, const std::string& desc,
            std::function<bool()> present = {});
  /// A group repeated once per key (engines, operators): `keys` gives the instances' names when the
  /// tree is written, and `declare(g, i)` declares instance i's statistics into g. Listed once, with
  /// `placeholder` (e.g. "<engine>") for the key and instance 0 declared; so `declare` may read
  /// instance i only inside getters when the list can be empty.
  void each(const std::string& name, const std::string& placeholder, const std::string& desc,
            std::function<std::vector<std::string>()> keys, std::function<void(Group&, size_t)> declare);

  /// The current values, as a JSON object in declaration order.
  nlohmann::ordered_json json() const;
  /// Every group and statistic below this one (not itself), in declaration order, each group's
  /// statistics before its nested groups.
  std::vector<Entry> entries() const;

 private:
  struct Node;
  /// Appends a member; a name declared twice is a logic_error.
  void add(Node n);
  /// Appends the entries below this group, their paths starting with `prefix`.
  void list(const std::string& prefix, std::vector<Entry>& out) const;
  std::vector<std::unique_ptr<Node>> nodes_;  ///< members in declaration order
};

/// `j` as npusim writes JSON reports: an object of plain values on one line, any other object one
/// member per line (two-space indent), arrays on one line except lists of objects (report
/// entries, trace events), one element per line; real numbers as the shortest %g that reads back
/// exactly, non-finite ones as null; ends with a newline.
std::string json_text(const nlohmann::ordered_json& j);
/// The tree's current values as json_text writes them.
std::string json_text(const Group& g);

/// A JSON Schema (draft 2020-12) for the trees `entries` lists: each group an object with its
/// members as properties (required unless optional; groups named `<...>` (such as `<engine>`) as any key), counters
/// non-negative integers, values numbers (or null when not finite), texts strings. `extra`
/// (name -> description) adds optional top-level objects that are not declared statistics.
nlohmann::ordered_json json_schema(const std::vector<Entry>& entries, const std::string& id, const std::string& title,
                                   const std::vector<std::pair<std::string, std::string>>& extra);

/// `entries` as aligned text: a header, then one line per statistic (path, kind, unit,
/// description), each group opened by a "# path: description" line.
std::string reference_text(const std::vector<Entry>& entries);

}  // namespace npusim::stats
