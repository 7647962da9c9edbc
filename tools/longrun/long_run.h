// Long runs (`npusim run --repeat N | --duration T`): power, temperature and throttling over
// minutes of simulated time. They reuse per-program timing: the program is simulated once per
// clock frequency the governor visits (each in a child process, SystemC allowing one simulation
// per process), giving its latency and its activity profile in 64 equal slices of progress; the
// run then advances progress through those slices at the current frequency, so minutes of
// simulated time cost milliseconds. This is exact while the program's timing does not depend on
// state carried between runs (it does not: every run starts from the same memories and empty
// queues) and a frequency change mid-run takes effect at once for the rest of the run.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/governor.h"
#include "sim/run_power.h"

namespace npusim {

/// A program's timing and activity at one clock: latency and action counts in equal slices of
/// progress.
struct InferenceProfile {
  double hz = 0;                       ///< clock it was simulated at
  double seconds = 0;                  ///< latency
  std::vector<arch::Activity> slices;  ///< counts per 1/slices.size() of progress (cycles excluded)
};
inline constexpr size_t kProfileSlices = 64;
InferenceProfile profile_of(const RunResult& r, double hz);

/// Simulates `prog` (timing only) at clock `hz` in a child process and returns its profile.
/// Throws isa::InputError when the run faults.
InferenceProfile profile_in_child(const config::NpuConfig& cfg, const isa::Program& prog,
                                  const std::map<std::string, std::vector<uint8_t>>& inputs, double hz);

/// Limits of one long run (docs/power.md), checked before it starts: thermal steps (the run's
/// work is linear in its events: steps, polls, samples; not in its inferences), governor polls and
/// samples.
inline constexpr double kMaxLongRunThermalSteps = 1e8;
inline constexpr double kMaxLongRunPolls = 1e8;
inline constexpr double kMaxLongRunSamples = 1e6;

struct LongRunOptions {
  uint64_t repeat = 0;    ///< inferences to run (0: until duration)
  double duration_s = 0;  ///< simulated time to run (0: until repeat)
  double sample_s = 0;    ///< time-series interval (0: the thermal step, at most 20000 rows)
};

/// One row of the time series.
struct PowerSample {
  double t_s = 0, power_w = 0, heat_c = 0, max_c = 0, hz = 0, volts = 0;  ///< averages over the interval
  int level = 0;                                                          ///< governor level at its end
  uint64_t inferences = 0;                                                ///< completed so far
};

struct ThrottleEvent {
  double t_s = 0, temp_c = 0, from_hz = 0, to_hz = 0;  ///< when, at what temperature, clock change
};

/// Inference latencies in order, run-length encoded: back-to-back inferences at one clock take the
/// same time, so millions of them are a few runs.
class LatencyRuns {
 public:
  /// Appends `count` inferences of `seconds` each (merged with the last run when equal).
  void add(double seconds, uint64_t count = 1);
  bool empty() const { return runs_.empty(); }
  uint64_t count() const { return count_; }
  double front() const { return runs_.empty() ? 0 : runs_.front().first; }
  double back() const { return runs_.empty() ? 0 : runs_.back().first; }
  double min() const;
  double max() const;
  /// Nearest-rank percentile: the ceil(q * count)-th smallest latency (0 when empty).
  double percentile(double q) const;
  /// (latency, consecutive inferences), in order.
  const std::vector<std::pair<double, uint64_t>>& runs() const { return runs_; }

 private:
  std::vector<std::pair<double, uint64_t>> runs_;
  uint64_t count_ = 0;  ///< inferences in all
};

struct LongRunResult {
  uint64_t inferences = 0;            ///< completed
  double seconds = 0;                 ///< simulated
  arch::Energy energy{};              ///< joules by component
  LatencyRuns latencies_s;            ///< per completed inference
  std::vector<ThrottleEvent> events;  ///< clock changes
  std::vector<PowerSample> samples;   ///< time series
  double max_temp_c = 0;              ///< hottest node, whole run
  bool critical = false;              ///< THERMAL_CRITICAL fault
  std::string fault;                  ///< its message
  std::vector<double> simulated_hz;   ///< clocks profiled (one simulation each)
};

/// Runs back to back under the governor. `profile(hz)` returns the program's profile at a clock.
LongRunResult run_long(const config::NpuConfig& cfg, const std::function<InferenceProfile(double hz)>& profile,
                       const LongRunOptions& opts);
/// stats.json's "long_run" as a JSON tree: latencies, energy, throttle events, clocks simulated.
nlohmann::ordered_json long_run_json(const LongRunResult& r);
std::string long_run_csv(const LongRunResult& r);
/// Chrome trace with counter tracks for power, temperature and clock.
std::string long_run_trace(const LongRunResult& r);

}  // namespace npusim
