#include "sim/run_power.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "base/json.h"

namespace npusim {

void ThermalIntegrator::feed(double seconds, double joules) {
  const double dt = net_.step_s();
  while (seconds > 0) {
    // A long stretch at constant power (an idle device, a long inference): all but its last whole
    // step at once (ThermalNetwork::step_many), the rest as below.
    if (pending_s_ == 0 && seconds > (arch::ThermalNetwork::kDirectSteps + 2) * dt) {
      const double power = joules / seconds;
      const auto whole = static_cast<uint64_t>(std::min(std::floor(seconds / dt) - 1, 0x1p62));
      net_.step_many(power, whole);
      seconds -= static_cast<double>(whole) * dt;
      joules = power * seconds;
    }
    const double take = std::min(seconds, dt - pending_s_);
    const double share = joules * take / seconds;
    pending_j_ += share;
    pending_s_ += take;
    joules -= share;
    seconds -= take;
    if (pending_s_ >= dt * (1 - 1e-9)) {
      net_.step(pending_j_ / dt);
      pending_s_ = pending_j_ = 0;
    }
  }
}

void ThermalIntegrator::flush() {
  if (pending_s_ <= 0) return;
  net_.step(pending_j_ / net_.step_s());
  pending_s_ = pending_j_ = 0;
}

namespace {
constexpr size_t kLeak = static_cast<size_t>(arch::Component::Leakage);

nlohmann::ordered_json num(double v) {  // this output's precision
  return json_g(v, 6);
}
}  // namespace

arch::Energy dynamic_with_clock(const arch::EnergyModel& m, arch::Activity a, double seconds, double hz, double volts) {
  a.cycles += seconds * hz;
  return m.dynamic(a, volts);
}

void add_energy(arch::Energy& to, const arch::Energy& e) {
  for (size_t i = 0; i < arch::kComponents; ++i) to[i] += e[i];
}

// One member per component in arch::Component order, then "total".
nlohmann::ordered_json energy_json(const arch::Energy& e) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (size_t i = 0; i < arch::kComponents; ++i) j[arch::component_name(static_cast<arch::Component>(i))] = num(e[i]);
  j["total"] = num(arch::total(e));
  return j;
}

nlohmann::ordered_json area_json(const arch::Area& a) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (size_t i = 0; i < arch::kAreaParts; ++i) j[arch::area_part_name(static_cast<arch::AreaPart>(i))] = num(a[i]);
  j["total"] = num(arch::area_total(a));
  return j;
}

std::string area_text(const config::NpuConfig& cfg) {
  const arch::Area a = arch::area_of(cfg.power);
  const double total = arch::area_total(a);
  std::ostringstream os;
  char line[160];
  std::snprintf(line, sizeof line, "area at %g nm (docs/power.md \"Cost model\"):\n", cfg.power.node_nm);
  os << line;
  for (size_t i = 0; i < arch::kAreaParts; ++i) {
    std::snprintf(line, sizeof line, "  %-12s %10.4f mm^2  %5.1f%%\n",
                  arch::area_part_name(static_cast<arch::AreaPart>(i)), a[i], total > 0 ? 100 * a[i] / total : 0);
    os << line;
  }
  std::snprintf(line, sizeof line, "  %-12s %10.4f mm^2\n", "total", total);
  os << line;
  std::snprintf(line, sizeof line,
                "  cross-check: rtl/systolic_array.v at %ux%u is %.0f yosys generic cells (int8 PEs only)\n",
                cfg.mxu.rows, cfg.mxu.cols, arch::mxu_rtl_cells(cfg.mxu.rows, cfg.mxu.cols));
  os << line;
  return os.str();
}

PowerReport power_of_run(const config::NpuConfig& cfg, const RunResult& r, arch::ThermalNetwork& net) {
  const arch::EnergyModel model(cfg.power);
  PowerReport p;
  p.area = model.area();
  p.node_nm = cfg.power.node_nm;
  p.hz = cfg.clock_hz;
  p.volts = cfg.opps.empty() ? cfg.power.v_nominal : cfg.opps.front().volts;
  for (const auto& o : cfg.opps)
    if (std::abs(o.hz - cfg.clock_hz) <= 1e-6 * cfg.clock_hz) p.volts = o.volts;
  p.seconds = r.seconds;
  p.window_s = r.activity.bin_seconds();
  p.t_start_c = p.t_max_c = net.heat_node_temperature();
  ThermalIntegrator heat(net);
  const auto& bins = r.activity.bins();
  const double w = r.activity.bin_seconds();
  double leak_j = 0;
  for (size_t b = 0; b < bins.size(); ++b) {
    const double dur = std::max(0.0, std::min(w, r.seconds - static_cast<double>(b) * w));
    const arch::Energy e = dynamic_with_clock(model, bins[b], dur, p.hz, p.volts);
    const double leak_w = model.leakage_w(p.volts, net.heat_node_temperature());
    add_energy(p.energy, e);
    p.energy[kLeak] += leak_w * dur;
    leak_j += leak_w * dur;
    if (dur > 0) p.peak_w = std::max(p.peak_w, arch::total(e) / dur + leak_w);
    heat.feed(dur > 0 ? dur : 0, arch::total(e) + leak_w * dur);
    p.t_max_c = std::max(p.t_max_c, net.heat_node_temperature());
  }
  heat.flush();
  p.t_end_c = net.heat_node_temperature();
  p.t_max_c = std::max(p.t_max_c, p.t_end_c);
  p.avg_w = r.seconds > 0 ? arch::total(p.energy) / r.seconds : 0;
  // Per operator: its dynamic counts, its clock cycles and its share of leakage by time.
  for (size_t i = 0; i < r.marker_activity.size(); ++i) {
    const double sec = static_cast<double>(r.marker_cycles[i].second) / p.hz;
    const arch::Energy e = dynamic_with_clock(model, r.marker_activity[i].second, sec, p.hz, p.volts);
    p.operator_j.push_back(
        {r.marker_activity[i].first, arch::total(e) + (r.seconds > 0 ? leak_j * sec / r.seconds : 0)});
  }
  return p;
}

// Members in the order stats.json has always had them; operators_j in marker order.
nlohmann::ordered_json power_json(const PowerReport& p) {
  nlohmann::ordered_json j;
  j["energy_j"] = energy_json(p.energy);
  j["energy_per_inference_j"] = num(arch::total(p.energy));
  j["average_w"] = num(p.avg_w);
  j["peak_w"] = num(p.peak_w);
  j["peak_window_s"] = num(p.window_s);
  j["clock_hz"] = num(p.hz);
  j["volts"] = num(p.volts);
  j["temperature_c"] = {{"start", num(p.t_start_c)}, {"end", num(p.t_end_c)}, {"max", num(p.t_max_c)}};
  j["operators_j"] = nlohmann::ordered_json::object();
  for (const auto& [name, joules] : p.operator_j) j["operators_j"][name] = num(joules);
  j["area_mm2"] = area_json(p.area);
  j["node_nm"] = num(p.node_nm);
  return j;
}

}  // namespace npusim
