// DVFS and thermal throttling (DESIGN section 5, reference/power-thermal-speed.md section 2.5):
// an operating-point table (frequency, voltage) and governors that pick the clock from the
// temperature they poll. Implementations register under `governor: {impl: ...}`:
//   none          always the fastest operating point;
//   step_wise     Linux's step_wise: one operating point slower while above the trip, one faster
//                 once below trip - hysteresis;
//   trip_divider  the Coral Edge TPU driver: the highest trip crossed selects a clock divider of
//                 the fastest point (voltage unchanged).
// Every governor shares the critical temperature, at which the device faults (THERMAL_CRITICAL).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/schema.h"

namespace npusim::arch {

/// One operating point.
struct OperatingPoint {
  double hz = 1e9;      ///< clock
  double volts = 0.75;  ///< core voltage
};

struct GovernorConfig {
  std::string impl = "none";                 ///< implementation
  double poll_s = 0.1;                       ///< how often it reads the temperature
  double critical_c = 105;                   ///< THERMAL_CRITICAL fault at or above this
  std::vector<double> trips_c = {85};        ///< trip temperatures (step_wise uses the first)
  double hysteresis_c = 3;                   ///< step_wise: speed up again below trip - hysteresis
  std::vector<double> dividers = {2, 4, 8};  ///< trip_divider: clock divider per trip crossed
  std::vector<OperatingPoint> opps;          ///< the DVFS table, fastest first (from dvfs:, set at load)
};

/// The clock a governor asks for.
struct Setting {
  double hz = 0, volts = 0;  ///< operating point
  int level = 0;             ///< 0 = fastest; higher = more throttled
};

class Governor {
 public:
  virtual ~Governor() = default;
  /// The setting after a poll that read `t_c` (the hottest node), given the current one.
  virtual Setting poll(double t_c, const Setting& current) = 0;
  /// The setting before any poll.
  virtual Setting initial() const = 0;
};

using GovernorRegistry = config::Registry<GovernorConfig, Governor>;
/// Builds the governor `cfg.impl` over `cfg.opps`.
std::unique_ptr<Governor> make_governor(const GovernorConfig& cfg);
void describe_governor(config::Section& s, GovernorConfig& c);

/// The `dvfs.operating_points` parameter: [[MHz, V], ...], fastest first.
void describe_dvfs(config::Section& s, std::vector<OperatingPoint>& opps);

}  // namespace npusim::arch
