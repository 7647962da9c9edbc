// Expectations of a run (`npusim run ... --expect EXPECT.yaml`): output tolerances per tensor,
// bands on cycles, latency, energy and named operators, and a fallback policy, checked against
// the run's outputs and stats.json; a readable diff, JUnit XML (`--junit`) for CI systems, and
// `--record-expect`, which writes an EXPECT file (and its reference tensors) from a run. The
// format is docs/cli.md "Expectations".
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tools/workload/npy.h"

namespace npusim::cli {

/// A band on one figure: [min, max], either given or as value ± rel (a fraction of value).
struct Band {
  std::optional<double> min;  ///< lowest value that passes
  std::optional<double> max;  ///< highest value that passes
};

/// What one output tensor must hold.
struct OutputExpectation {
  std::string reference;         ///< .npy with the expected values (path as resolved)
  std::optional<double> atol;    ///< floats: |out - ref| <= atol + rtol x |ref| per element
  std::optional<double> rtol;    ///< floats: see atol
  std::optional<double> cosine;  ///< floats: cosine similarity with the reference at least this
  bool exact = false;            ///< bit-exact values (always for integer tensors)
};

/// A parsed EXPECT.yaml.
struct Expectations {
  std::string file;                                  ///< where it was read from
  std::map<std::string, OutputExpectation> outputs;  ///< by output name (as --output-dir names them)
  std::optional<Band> cycles;                        ///< total_cycles
  std::optional<Band> latency_s;                     ///< seconds
  std::optional<Band> energy_j;                      ///< power.energy_j.total
  std::map<std::string, Band> operators;             ///< operators.<name>.cycles
  uint64_t max_host_operators = 0;                   ///< fallback: host operators that may run (default none)
  std::optional<double> max_host_time_ratio;         ///< fallback: host time / run time at most
};

/// Reads `file` strictly: an unknown key, a wrong type or a missing reference is an input error
/// naming the file, line and key. Reference paths are relative to the file's folder.
Expectations load_expectations(const std::string& file);

/// One checked expectation: a JUnit test case.
struct Check {
  std::string name;     ///< "output y", "cycles", "operator conv1", "fallback", "run"
  bool passed = false;  ///< within its tolerance or band
  std::string detail;   ///< what was measured against what was expected (one line; the diff)
};

/// Checks `e` against a run: `ok` and `fault` (the fault's first line) its end, `stats` its stats.json tree, `outputs`
/// its output tensors as --output-dir writes them (empty for a timing-only run: output checks fail).
std::vector<Check> check_expectations(const Expectations& e, bool ok, const std::string& fault,
                                      const nlohmann::ordered_json& stats,
                                      const std::map<std::string, NpyArray>& outputs);

/// The checks as readable text: one line per check, failures marked, and a last line with the
/// count (the diff a CI log shows).
std::string checks_text(const std::vector<Check>& checks);

/// The checks as JUnit XML: one testsuite `suite` with a testcase per check (a <failure> with the
/// detail for a failed one), `seconds` the wall time.
std::string junit_xml(const std::string& suite, const std::vector<Check>& checks, double seconds);

/// Writes an EXPECT file for a run to `file`: each output's values as `<file stem>.<name>.npy`
/// beside it (exact for integers; cosine, atol and rtol for floats), the cycle, latency and
/// energy bands at `rel` of the measured values, and the fallback policy the run meets (its host
/// operators, at most).
void record_expectations(const std::string& file, const nlohmann::ordered_json& stats,
                         const std::map<std::string, NpyArray>& outputs, double rel);

}  // namespace npusim::cli
