// The power and temperature of one simulated run (DESIGN section 5). A run's action counts
// (RunResult::activity) become energy with arch::EnergyModel; power heats the RC network
// (arch::ThermalNetwork), whose temperature sets leakage. Long runs under a governor build on this
// (tools/longrun/long_run.h).
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/governor.h"
#include "arch/power.h"
#include "arch/thermal.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"

namespace npusim {

/// Feeds (duration, energy) chunks into a thermal network, one constant-power step of the
/// network's step per step_s of simulated time; a partial last step deposits its energy as a full
/// step at the average power (energy is conserved).
class ThermalIntegrator {
 public:
  explicit ThermalIntegrator(arch::ThermalNetwork& net) : net_(net) {}
  void feed(double seconds, double joules);
  void flush();
  /// Seconds until the network next steps (its temperatures stay as they are until then).
  double until_step() const { return net_.step_s() - pending_s_; }

 private:
  arch::ThermalNetwork& net_;
  double pending_s_ = 0, pending_j_ = 0;
};

/// Energy and power of one run.
struct PowerReport {
  arch::Energy energy{};                                   ///< joules by component, leakage included
  double seconds = 0;                                      ///< run time
  double avg_w = 0, peak_w = 0, window_s = 0;              ///< average; peak over windows of window_s
  double volts = 0, hz = 0;                                ///< operating point
  double t_start_c = 0, t_end_c = 0, t_max_c = 0;          ///< heat-node temperature
  std::vector<std::pair<std::string, double>> operator_j;  ///< per DEBUG marker (dynamic + clock + leakage share)
  arch::Area area{};                                       ///< the design's area by part (mm^2)
  double node_nm = 0;                                      ///< the node the area holds at
};

/// The power of run `r` at its configured clock and the first operating point's voltage, starting
/// from the network's current state (ambient for a fresh network).
PowerReport power_of_run(const config::NpuConfig& cfg, const RunResult& r, arch::ThermalNetwork& net);
/// `p` as a JSON tree (stats.json's "power"): energy by component, average and peak power, clock,
/// temperatures, joules per operator and the area by part, each figure to 6 significant digits (base/json.h json_g).
nlohmann::ordered_json power_json(const PowerReport& p);

/// Dynamic energy of `a` plus the clock over `seconds` at `hz` and `volts`.
arch::Energy dynamic_with_clock(const arch::EnergyModel& m, arch::Activity a, double seconds, double hz, double volts);
/// Adds `e` to `to`, component by component.
void add_energy(arch::Energy& to, const arch::Energy& e);
/// Joules by component and their total as a JSON object, to 6 significant digits.
nlohmann::ordered_json energy_json(const arch::Energy& e);
/// mm^2 by area part and their total as a JSON object, to 6 significant digits.
nlohmann::ordered_json area_json(const arch::Area& a);
/// `npusim info --config FILE`'s area table: mm^2 and share by part, the node, and the MXU's RTL
/// cross-check (yosys cells of rtl/systolic_array.v at that size).
std::string area_text(const config::NpuConfig& cfg);

}  // namespace npusim
