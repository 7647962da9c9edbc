// The statistics tree (base/stats.h): declarations read by reference when written, nesting,
// repeated groups, the listing, the JSON layout. And the run's tree (sim/): stats.json holds
// exactly what stats_reference() lists, and docs/stats.md holds stats_reference().
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/json.h"
#include "base/stats.h"
#include "fork_run.h"
#include "isa/assembler.h"
#include "sim/simulator.h"

namespace npusim {
namespace {

TEST(StatsTree, ReadsCountersWhenWrittenNotWhenDeclared) {
  struct {
    uint64_t hits = 0;  ///< a component's counter
    double busy_s = 0;  ///< and a real one
  } c;
  stats::Group root;
  stats::Group& g = root.group("dram", "DRAM");
  g.counter("row_hits", c.hits, "", "hits");
  g.value("busy_s", c.busy_s, "s", "busy");
  g.counter(
      "twice", [&c] { return 2 * c.hits; }, "", "derived");
  c.hits = 7, c.busy_s = 0.25;
  EXPECT_EQ(root.json().dump(), R"({"dram":{"row_hits":7,"busy_s":0.25,"twice":14}})");
  c.hits = 8;
  EXPECT_EQ(root.json()["dram"]["row_hits"], 8u);
}

TEST(StatsTree, GroupsAreFoundAgainByName) {
  uint64_t a = 1, b = 2;
  stats::Group root;
  root.group("memory", "m").group("dram", "d").counter("a", a, "", "a");
  root.group("memory", "m").group("dram", "d").counter("b", b, "", "b");
  EXPECT_EQ(root.json().dump(), R"({"memory":{"dram":{"a":1,"b":2}}})");
  EXPECT_THROW(root.group("memory", "m").group("dram", "d").counter("a", b, "", "again"), std::logic_error);
}

TEST(StatsTree, ValuesCarrySixSignificantDigits) {
  const double third = 1.0 / 3, big = 12345678.9;
  stats::Group root;
  root.value("third", third, "", "");
  root.value("big", big, "", "");
  const nlohmann::ordered_json j = root.json();
  EXPECT_EQ(j["third"].get<double>(), 0.333333);
  EXPECT_EQ(j["big"].get<double>(), 1.23457e7);
}

TEST(StatsTree, TextsCanBeConditional) {
  bool ok = true;
  stats::Group root;
  root.text(
      "status", [&ok] { return std::string(ok ? "ok" : "BUS_ERROR"); }, "outcome");
  root.text(
      "fault", [] { return std::string("bad \"thing\"\n"); }, "message", [&ok] { return !ok; });
  EXPECT_EQ(root.json().dump(), R"({"status":"ok"})");
  ok = false;
  EXPECT_EQ(root.json().dump(), R"({"status":"BUS_ERROR","fault":"bad \"thing\"\n"})");
  EXPECT_EQ(root.entries().size(), 2u);  // listed either way
}

TEST(StatsTree, RepeatedGroupsWriteEveryInstanceAndListOne) {
  std::vector<std::pair<std::string, uint64_t>> ops;
  stats::Group root;
  root.each(
      "operators", "<operator>", "per operator",
      [&ops] {
        std::vector<std::string> k;
        for (const auto& o : ops) k.push_back(o.first);
        return k;
      },
      [&ops](stats::Group& g, size_t i) {
        g.counter(
            "cycles", [&ops, i] { return ops[i].second; }, "cycles", "its cycles");
      });
  EXPECT_EQ(root.json().dump(), R"({"operators":{}})");
  const auto e = root.entries();  // listed while empty: getters are not read
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].path, "operators");
  EXPECT_EQ(e[0].kind, "group");
  EXPECT_EQ(e[1].path, "operators.<operator>.cycles");
  EXPECT_EQ(e[1].unit, "cycles");
  ops = {{"fc1", 10}, {"fc2", 20}};
  EXPECT_EQ(root.json().dump(), R"({"operators":{"fc1":{"cycles":10},"fc2":{"cycles":20}}})");
}

TEST(StatsTree, JsonTextPutsFlatObjectsOnOneLine) {
  const auto j = nlohmann::ordered_json::parse(
      R"({"a": 1, "config": {"name": "x", "hz": 1e9}, "engines": {"mxu": {"busy": 2}}, "ops": {}, "l": [1, 2]})");
  EXPECT_EQ(stats::json_text(j),
            "{\n"
            "  \"a\": 1,\n"
            "  \"config\": {\"name\": \"x\", \"hz\": 1e+09},\n"
            "  \"engines\": {\n"
            "    \"mxu\": {\"busy\": 2}\n"
            "  },\n"
            "  \"ops\": {},\n"
            "  \"l\": [1, 2]\n"
            "}\n");
  EXPECT_EQ(nlohmann::ordered_json::parse(stats::json_text(j)), j);
}

TEST(StatsTree, JsonTextPutsListsOfObjectsOneElementPerLine) {
  const auto j = nlohmann::ordered_json::parse(
      R"({"name": "x", "tenants": [{"a": 1, "l": {"p50": 2}}, {"a": 3}], "power": {"w": 1.5, "at": [{"t": 0}]}})");
  EXPECT_EQ(stats::json_text(j),
            "{\n"
            "  \"name\": \"x\",\n"
            "  \"tenants\": [\n"
            "    {\"a\": 1, \"l\": {\"p50\": 2}},\n"
            "    {\"a\": 3}\n"
            "  ],\n"
            "  \"power\": {\n"
            "    \"w\": 1.5,\n"
            "    \"at\": [\n"
            "      {\"t\": 0}\n"
            "    ]\n"
            "  }\n"
            "}\n");
  EXPECT_EQ(nlohmann::ordered_json::parse(stats::json_text(j)), j);
  EXPECT_EQ(stats::json_text(nlohmann::ordered_json::array({1, 2})), "[1, 2]\n");
}

TEST(StatsTree, JsonTextWritesNonFiniteNumbersAsNull) {
  nlohmann::ordered_json j;
  j["nan"] = std::nan("");
  j["inf"] = HUGE_VAL;
  j["ninf"] = -HUGE_VAL;
  j["list"] = {1.5, std::nan("")};
  EXPECT_EQ(stats::json_text(j), "{\"nan\": null, \"inf\": null, \"ninf\": null, \"list\": [1.5, null]}\n");
}

TEST(StatsTree, JsonNumbersHoldTheFiguresReportsPrint) {
  // json_g: what %g prints, integers as integers; json_f: what %f prints.
  EXPECT_EQ(stats::json_text(nlohmann::ordered_json::array({json_g(1250000, 9), json_g(0.123456789123, 9),
                                                            json_g(1e9, 9), json_g(2.5e-7, 6), json_f(0.0123, 6),
                                                            json_f(1.0 / 3, 6), json_g(std::nan(""), 9)})),
            "[1250000, 0.123456789, 1e+09, 2.5e-07, 0.0123, 0.333333, null]\n");
}

TEST(StatsTree, ReferenceTextListsPathKindUnitAndDescription) {
  uint64_t n = 0;
  stats::Group root;
  root.counter("total_cycles", n, "cycles", "until finish");
  root.group("memory", "the memory models").counter("bytes", n, "bytes", "moved");
  const std::string t = stats::reference_text(root.entries());
  EXPECT_NE(t.find("total_cycles                                 counter  cycles  until finish\n"), std::string::npos)
      << t;
  EXPECT_NE(t.find("\n# memory: the memory models\nmemory.bytes "), std::string::npos) << t;
}

/// The statistics' paths stats_reference() lists (its first column), groups left out.
std::set<std::string> listed_paths() {
  std::set<std::string> paths;
  std::istringstream in(stats_reference());
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') paths.insert(line.substr(0, line.find(' ')));
  return paths;
}

/// Every statistic's path in `j` (engine and operator names as the reference's placeholders).
void json_paths(const nlohmann::json& j, const std::string& prefix, std::set<std::string>& out) {
  for (const auto& [k, v] : j.items()) {
    const std::string key = prefix == "engines." ? "<engine>" : prefix == "operators." ? "<marker>" : k;
    if (v.is_object())
      json_paths(v, prefix + key + ".", out);
    else
      out.insert(prefix + key);
  }
}

TEST(StatsReference, ListsExactlyWhatStatsJsonHolds) {
  const auto c = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  const isa::Program p = isa::assemble_file(std::string(NPUSIM_TRACES) + "/mlp_i8.npus").program;
  const std::string text = testing::in_child([&] {
    const RunResult r = simulate(c, p, {{"x", std::vector<uint8_t>(16 * 128, 1)}}, RunOptions{});
    return stats_json(r, c, p, "mlp_i8.npus");
  });
  std::set<std::string> written;
  json_paths(nlohmann::json::parse(text), "", written);
  std::set<std::string> listed = listed_paths();
  for (auto it = listed.begin(); it != listed.end();)  // fault.* is written only when the run faulted
    it = it->rfind("fault.", 0) == 0 ? listed.erase(it) : std::next(it);
  EXPECT_EQ(written, listed) << text << stats_reference();
  EXPECT_NE(text.find("\"stats_version\": " + std::to_string(kStatsVersion) + ",\n"), std::string::npos) << text;
}

// docs/stats.schema.json is stats_schema(), generated from the declarations (npusim info --stats-schema).
TEST(StatsReference, DocsStatsSchemaIsCurrent) {
  std::ifstream in(NPUSIM_DOCS "/stats.schema.json");
  ASSERT_TRUE(in) << NPUSIM_DOCS "/stats.schema.json";
  std::stringstream doc;
  doc << in.rdbuf();
  EXPECT_EQ(doc.str(), stats_schema())
      << "docs/stats.schema.json is stale: npusim info --stats-schema > docs/stats.schema.json";
  // Every declared statistic is in it, and a fault's members are optional (written only on a fault).
  const std::string s = stats_schema();
  for (const char* key : {"\"npusim_version\"", "\"isa_version\"", "\"program_hash\"", "\"command_line\"",
                          "\"precision\"", "\"instruction\"", "\"address\"", "\"additionalProperties\""})
    EXPECT_NE(s.find(key), std::string::npos) << key;
}

TEST(StatsReference, DocsStatsMdIsCurrent) {
  std::ifstream in(NPUSIM_DOCS "/stats.md");
  ASSERT_TRUE(in) << NPUSIM_DOCS "/stats.md";
  std::stringstream doc;
  doc << in.rdbuf();
  // The block between the markers, inside its code fence.
  const std::string begin = "<!-- BEGIN stats_reference() -->\n```\n", end = "```\n<!-- END stats_reference() -->";
  const std::string d = doc.str();
  const size_t b = d.find(begin), e = d.find(end);
  ASSERT_TRUE(b != std::string::npos && e != std::string::npos && b < e) << "docs/stats.md lacks the markers";
  const std::string want = stats_reference();
  EXPECT_EQ(d.substr(b + begin.size(), e - b - begin.size()), want);
  if (d.substr(b + begin.size(), e - b - begin.size()) != want)
    std::cout << "docs/stats.md is stale: replace the block between its markers with stats_reference():\n"
              << begin << want << end << "\n";
}

}  // namespace
}  // namespace npusim
