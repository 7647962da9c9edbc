#include "arch/governor.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>

namespace npusim::arch {
namespace {

Setting at_level(const std::vector<OperatingPoint>& opps, int level) {
  return {opps[static_cast<size_t>(level)].hz, opps[static_cast<size_t>(level)].volts, level};
}

class NoGovernor : public Governor {
 public:
  explicit NoGovernor(const GovernorConfig& s) : s_(s) {}
  Setting poll(double, const Setting& current) override { return current; }
  Setting initial() const override { return at_level(s_.opps, 0); }

 private:
  GovernorConfig s_;
};

class StepWise : public Governor {
 public:
  explicit StepWise(const GovernorConfig& s) : s_(s) {}
  Setting poll(double t_c, const Setting& current) override {
    const double trip = s_.trips_c.front();
    const int slowest = static_cast<int>(s_.opps.size()) - 1;
    if (t_c > trip && current.level < slowest) return at_level(s_.opps, current.level + 1);
    if (t_c < trip - s_.hysteresis_c && current.level > 0) return at_level(s_.opps, current.level - 1);
    return current;
  }
  Setting initial() const override { return at_level(s_.opps, 0); }

 private:
  GovernorConfig s_;
};

class TripDivider : public Governor {
 public:
  explicit TripDivider(const GovernorConfig& s) : s_(s) {}
  Setting poll(double t_c, const Setting&) override {
    int level = 0;  // the highest trip crossed
    for (size_t i = 0; i < s_.trips_c.size(); ++i)
      if (t_c >= s_.trips_c[i]) level = static_cast<int>(i) + 1;
    const OperatingPoint& top = s_.opps.front();
    const double div = level == 0 ? 1.0 : s_.dividers[static_cast<size_t>(level - 1)];
    return {top.hz / div, top.volts, level};
  }
  Setting initial() const override { return {s_.opps.front().hz, s_.opps.front().volts, 0}; }

 private:
  GovernorConfig s_;
};

const bool registered = [] {
  GovernorRegistry::add({"none", "no throttling: always the fastest operating point", [](config::Section&, auto&) {},
                         [](const GovernorConfig& s) { return std::make_unique<NoGovernor>(s); }});
  GovernorRegistry::add({"step_wise",
                         "Linux step_wise: one operating point slower while above trips[0], one faster below "
                         "trips[0] - hysteresis",
                         [](config::Section& sec, GovernorConfig& s) {
                           sec.real("hysteresis", s.hysteresis_c, "K",
                                    "speed up again once below trips[0] - hysteresis", 3, 0, 100);
                         },
                         [](const GovernorConfig& s) { return std::make_unique<StepWise>(s); }});
  GovernorRegistry::add({"trip_divider",
                         "Coral Edge TPU driver: the highest trip crossed selects a divider of the fastest clock",
                         [](config::Section& sec, GovernorConfig& s) {
                           sec.real_list("dividers", s.dividers, "", "clock divider for each trip crossed",
                                         std::vector<double>{2, 4, 8}, 1, 1e6);
                           sec.check([&s] {
                             if (s.dividers.size() != s.trips_c.size())
                               throw std::invalid_argument("dividers needs one entry per trip (" +
                                                           std::to_string(s.trips_c.size()) + ")");
                           });
                         },
                         [](const GovernorConfig& s) { return std::make_unique<TripDivider>(s); }});
  return true;
}();

}  // namespace

void describe_governor(config::Section& s, GovernorConfig& c) {
  (void)registered;
  // Trip points as the Coral driver (85/90/95 C) and Linux step_wise; poll 100 ms (Linux passive
  // polling 100-250 ms; the Coral driver polls every 5 s).
  s.time("poll", c.poll_s, "how often the governor reads the temperature", 0.1, 1e-6, 60);
  s.real("critical", c.critical_c, "C", "THERMAL_CRITICAL fault at or above this temperature", 105, -273, 1000);
  s.real_list("trips", c.trips_c, "C", "trip temperatures, ascending", std::vector<double>{85}, -273, 1000);
  config::impl_choice<GovernorConfig, Governor>(s, c, "throttling policy", "none");
  s.check([&c] {
    if (!std::is_sorted(c.trips_c.begin(), c.trips_c.end())) throw std::invalid_argument("trips must be ascending");
    if (c.trips_c.back() >= c.critical_c)
      throw std::invalid_argument("the last trip (" + std::to_string(c.trips_c.back()) +
                                  " C) must lie below critical (" + std::to_string(c.critical_c) + " C)");
    if (!(c.poll_s > 0)) throw std::invalid_argument("poll must be positive");
  });
}

void describe_dvfs(config::Section& s, std::vector<OperatingPoint>& opps) {
  s.custom(
      "operating_points", "list of [MHz, V]", "MHz, V",
      "DVFS table, fastest first; the config's clock must be the first entry (empty: the clock at "
      "power.v_nominal only)",
      std::string("[]"),
      [&opps](const YAML::Node& n) {
        if (!n.IsSequence()) throw std::invalid_argument("expected a list of [MHz, V] pairs");
        std::vector<OperatingPoint> v;
        for (const auto& e : n) {
          if (!e.IsSequence() || e.size() != 2 || !e[0].IsScalar() || !e[1].IsScalar())
            throw std::invalid_argument("expected [MHz, V] pairs such as [1000, 0.85]");
          char* end1 = nullptr;
          char* end2 = nullptr;
          const double mhz = std::strtod(e[0].Scalar().c_str(), &end1);
          const double volts = std::strtod(e[1].Scalar().c_str(), &end2);
          if (*end1 || *end2 || !(mhz > 0) || !(volts > 0) || !std::isfinite(mhz) || !std::isfinite(volts))
            throw std::invalid_argument("expected positive [MHz, V] pairs, got [" + e[0].Scalar() + ", " +
                                        e[1].Scalar() + "]");
          if (mhz < 1 || mhz > 1e5 || volts > 10)  // the clock's range (base/schema.h frequency)
            throw std::invalid_argument("operating point [" + e[0].Scalar() + ", " + e[1].Scalar() +
                                        "] out of range: MHz in [1, 100000], V in (0, 10]");
          if (!v.empty() && mhz >= v.back().hz / 1e6)
            throw std::invalid_argument("operating points must be listed fastest first, strictly descending");
          v.push_back({mhz * 1e6, volts});
        }
        opps = v;
      },
      [&opps] {
        std::string t;
        for (const auto& o : opps)
          t += (t.empty() ? "[" : ", ") +
               ("[" + config::exact_number_text(o.hz / 1e6) + ", " + config::exact_number_text(o.volts) + "]");
        return t.empty() ? std::string("[]") : t + "]";
      });
}

std::unique_ptr<Governor> make_governor(const GovernorConfig& cfg) {
  (void)registered;
  if (cfg.opps.empty()) throw std::logic_error("governor without operating points");
  return GovernorRegistry::make(cfg);
}

}  // namespace npusim::arch
