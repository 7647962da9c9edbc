// Long runs: back-to-back inferences under the thermal network and the governor (see long_run.h).
#include "tools/longrun/long_run.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "base/errors.h"
#include "base/json.h"
#include "base/stats.h"
#include "base/text.h"
#include "isa/diag.h"

namespace npusim {
namespace {
constexpr size_t kLeak = static_cast<size_t>(arch::Component::Leakage);

std::string num(double v) {  // this output's precision
  return format_g(v, 6);
}
nlohmann::ordered_json jnum(double v) {  // the same figure in JSON
  return json_g(v, 6);
}
}  // namespace

InferenceProfile profile_of(const RunResult& r, double hz) {
  InferenceProfile p;
  p.hz = hz;
  p.seconds = r.seconds;
  p.slices.assign(kProfileSlices, {});
  const auto& bins = r.activity.bins();
  const double w = r.activity.bin_seconds(), slice = r.seconds / kProfileSlices;
  for (size_t b = 0; b < bins.size(); ++b) {  // spread each bin over the slices it overlaps
    const double lo = static_cast<double>(b) * w, hi = std::min(r.seconds, lo + w);
    if (hi <= lo || slice <= 0) {
      p.slices.back() += bins[b];
      continue;
    }
    for (auto k = static_cast<size_t>(lo / slice); k < kProfileSlices && static_cast<double>(k) * slice < hi; ++k) {
      const double a = std::max(lo, static_cast<double>(k) * slice),
                   z = std::min(hi, static_cast<double>(k + 1) * slice);
      if (z > a) p.slices[k] += bins[b].scaled((z - a) / (hi - lo));
    }
  }
  return p;
}

InferenceProfile profile_in_child(const config::NpuConfig& cfg, const isa::Program& prog,
                                  const std::map<std::string, std::vector<uint8_t>>& inputs, double hz) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {  // child: one simulation, the profile (or the fault) down the pipe
    ::close(fds[0]);
    config::NpuConfig c = cfg;
    c.clock_hz = hz;
    RunOptions o;
    o.timing_only = true;
    std::string msg;
    std::vector<double> out;
    try {
      const RunResult r = simulate(c, prog, inputs, o);
      if (!r.ok) {
        msg = r.fault_message;
      } else {
        const InferenceProfile p = profile_of(r, hz);
        out.push_back(p.seconds);
        for (const auto& a : p.slices)
          out.insert(out.end(), {a.macs_int, a.macs_float, a.vpu_ops, a.instructions, a.spad_bytes, a.acc_bytes,
                                 a.dram_bytes, a.cycles});
      }
    } catch (const std::exception& e) {
      msg = e.what();
    }
    const uint64_t n = out.size(), m = msg.size();
    auto put = [&](const void* d, size_t len) {
      const char* p = static_cast<const char*>(d);
      while (len > 0) {
        const ssize_t k = ::write(fds[1], p, len);
        if (k <= 0) ::_exit(3);
        p += k, len -= static_cast<size_t>(k);
      }
    };
    put(&n, 8);
    put(out.data(), n * 8);
    put(&m, 8);
    put(msg.data(), m);
    ::close(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  auto get = [&](void* d, size_t len) {
    char* p = static_cast<char*>(d);
    while (len > 0) {
      const ssize_t k = ::read(fds[0], p, len);
      if (k <= 0) throw std::runtime_error("profiling child ended early");
      p += k, len -= static_cast<size_t>(k);
    }
  };
  uint64_t n = 0, m = 0;
  std::vector<double> in;
  std::string msg;
  try {
    get(&n, 8);
    in.resize(n);
    get(in.data(), n * 8);
    get(&m, 8);
    msg.resize(m);
    get(msg.data(), m);
  } catch (...) {
    ::close(fds[0]);
    ::waitpid(pid, nullptr, 0);
    throw;
  }
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  if (!msg.empty()) throw isa::InputError("profiling at " + num(hz / 1e6) + " MHz: " + msg);
  if (in.size() != 1 + 8 * kProfileSlices) throw std::runtime_error("profiling child sent a malformed profile");
  InferenceProfile p;
  p.hz = hz;
  p.seconds = in[0];
  for (size_t k = 0; k < kProfileSlices; ++k) {
    const double* v = &in[1 + 8 * k];
    arch::Activity a;
    a.macs_int = v[0], a.macs_float = v[1], a.vpu_ops = v[2], a.instructions = v[3];
    a.spad_bytes = v[4], a.acc_bytes = v[5], a.dram_bytes = v[6], a.cycles = v[7];
    p.slices.push_back(a);
  }
  return p;
}

LongRunResult run_long(const config::NpuConfig& cfg, const std::function<InferenceProfile(double)>& profile,
                       const LongRunOptions& opts) {
  if (opts.repeat == 0 && !(opts.duration_s > 0))
    throw std::invalid_argument("a long run needs a repeat count or a duration");
  const arch::EnergyModel model(cfg.power);
  arch::ThermalNetwork net(cfg.thermal, cfg.thermal.step_s);
  ThermalIntegrator heat(net);
  const auto gov = arch::make_governor(cfg.governor);
  arch::Setting set = gov->initial();
  std::map<double, InferenceProfile> cache;
  LongRunResult r;
  auto prof = [&](double hz) -> const InferenceProfile& {
    auto it = cache.find(hz);
    if (it == cache.end()) {
      it = cache.emplace(hz, profile(hz)).first;
      r.simulated_hz.push_back(hz);
      if (!(it->second.seconds > 0)) throw std::invalid_argument("the program takes no time");
    }
    return it->second;
  };
  // Bounded work: the run steps through 64 slices per inference, every governor poll and every
  // sample, and keeps each inference's latency; past these limits it is refused up front.
  const double est_s = opts.duration_s > 0 ? opts.duration_s : static_cast<double>(opts.repeat) * prof(set.hz).seconds;
  const double est_inferences = opts.repeat ? static_cast<double>(opts.repeat) : est_s / prof(set.hz).seconds;
  if (est_s / cfg.thermal.step_s > kMaxLongRunThermalSteps)
    throw InputError("the long run would take " + format_g(est_s / cfg.thermal.step_s, 3) + " thermal steps (" +
                     format_g(est_s, 3) + " s simulated" +
                     (opts.repeat ? ", " + format_g(est_inferences, 3) + " inferences" : std::string()) +
                     ", every thermal.step), more than " + format_g(kMaxLongRunThermalSteps, 3) +
                     " (lower --repeat or --duration, or raise thermal.step)");
  if (est_s / cfg.governor.poll_s > kMaxLongRunPolls)
    throw InputError("the long run would poll the governor " + format_g(est_s / cfg.governor.poll_s, 3) + " times (" +
                     format_g(est_s, 3) + " s every governor.poll), more than " + format_g(kMaxLongRunPolls, 3) +
                     " (lower --duration or raise governor.poll)");
  if (opts.sample_s < 0 || !std::isfinite(opts.sample_s) ||
      (opts.sample_s > 0 && est_s / opts.sample_s > kMaxLongRunSamples))
    throw InputError("--sample-interval " + format_g(opts.sample_s, 3) + " s gives " +
                     format_g(est_s / opts.sample_s, 3) + " samples over " + format_g(est_s, 3) + " s, more than the " +
                     format_g(kMaxLongRunSamples, 3) + " a time series may have (at least " +
                     format_g(est_s / kMaxLongRunSamples, 3) + " s)");
  const double sample_s =
      opts.sample_s > 0
          ? opts.sample_s
          : std::max(cfg.thermal.step_s,
                     (opts.duration_s > 0 ? opts.duration_s : opts.repeat * prof(set.hz).seconds * 1.5) / 20000);
  double t = 0, next_poll = cfg.governor.poll_s, next_sample = sample_s, inf_start = 0, progress = 0;
  PowerSample acc;  // integrals over the current sample interval
  double acc_s = 0;
  r.max_temp_c = net.max_temperature();
  const auto done = [&] {
    return (opts.repeat && r.inferences >= opts.repeat) || (opts.duration_s > 0 && t >= opts.duration_s - 1e-15);
  };
  // `dt` seconds of activity `a` at the current operating point: energy, heat, the sample's integrals.
  const auto advance = [&](const arch::Activity& a, double dt) {
    const arch::Energy e = dynamic_with_clock(model, a, dt, set.hz, set.volts);
    const double leak_w = model.leakage_w(set.volts, net.heat_node_temperature());
    add_energy(r.energy, e);
    r.energy[kLeak] += leak_w * dt;
    heat.feed(dt, arch::total(e) + leak_w * dt);
    acc.power_w += arch::total(e) + leak_w * dt;
    acc.heat_c += net.heat_node_temperature() * dt;
    acc.max_c += net.max_temperature() * dt;
    acc.hz += set.hz * dt;
    acc.volts += set.volts * dt;
    acc_s += dt;
    t += dt;
    r.max_temp_c = std::max(r.max_temp_c, net.max_temperature());
  };
  // Each profile's activity up to a point of progress x in [0, 1]: prefix sums of the slices,
  // linear within a slice (a slice's activity is spread evenly over it).
  std::map<double, std::vector<arch::Activity>> prefix;
  const auto activity_to = [&](const InferenceProfile& p, double x) {
    auto it = prefix.find(p.hz);
    if (it == prefix.end()) {
      std::vector<arch::Activity> c(kProfileSlices + 1);
      for (size_t k = 0; k < kProfileSlices; ++k) (c[k + 1] = c[k]) += p.slices[k];
      it = prefix.emplace(p.hz, std::move(c)).first;
    }
    const double pos = std::clamp(x, 0.0, 1.0) * kProfileSlices;
    const auto k = std::min(kProfileSlices - 1, static_cast<size_t>(pos));
    arch::Activity a = it->second[k];
    a += p.slices[k].scaled(pos - static_cast<double>(k));
    return a;
  };
  const auto minus = [](arch::Activity a, const arch::Activity& b) {
    a += b.scaled(-1);
    return a;
  };
  // Event to event: a governor poll, a sample, a thermal step (temperatures, so leakage, change only
  // there), the end of the run, or an inference's end. Between two events the operating point and
  // the temperatures hold, so the activity in between adds up exactly: whole inferences are taken
  // k at a time and a partial one by its prefix sums. The work is linear in the events, not in
  // the inferences (a 300 s run of a 2 us program is 1.5e8 inferences but 3e5 thermal steps).
  while (!done()) {
    const InferenceProfile& p = prof(set.hz);
    double horizon = std::min({next_poll - t, next_sample - t, heat.until_step()});
    if (opts.duration_s > 0) horizon = std::min(horizon, opts.duration_s - t);
    horizon = std::max(horizon, 0.0);
    // Whole inferences that end before the next event.
    double whole = progress == 0 ? std::floor(horizon / p.seconds) : 0;
    if (whole * p.seconds >= horizon) whole = std::max(0.0, whole - 1);
    if (opts.repeat) whole = std::min(whole, static_cast<double>(opts.repeat - r.inferences));
    if (whole >= 1) {
      advance(activity_to(p, 1).scaled(whole), whole * p.seconds);
      r.latencies_s.add(p.seconds, static_cast<uint64_t>(whole));
      r.inferences += static_cast<uint64_t>(whole);
      inf_start = t;
    } else {  // the current inference up to the next event or its end
      const double dt = std::min(horizon, (1 - progress) * p.seconds);
      const double to = progress + dt / p.seconds;
      advance(minus(activity_to(p, to), activity_to(p, progress)), dt);
      progress = to;
      if (progress >= 1 - 1e-12) {  // an inference completed; the next starts at once
        r.latencies_s.add(t - inf_start);
        ++r.inferences;
        inf_start = t;
        progress = 0;
      }
    }
    if (t >= next_sample - 1e-15 || done()) {
      if (acc_s > 0) {
        PowerSample s{
            t,         acc.power_w / acc_s, acc.heat_c / acc_s, acc.max_c / acc_s, acc.hz / acc_s, acc.volts / acc_s,
            set.level, r.inferences};
        r.samples.push_back(s);
      }
      acc = {};
      acc_s = 0;
      next_sample += sample_s;
    }
    if (t >= next_poll - 1e-15) {
      next_poll += cfg.governor.poll_s;
      const double hottest = net.max_temperature();
      if (hottest >= cfg.governor.critical_c) {
        r.critical = true;
        r.fault = "THERMAL_CRITICAL: " + num(hottest) + " C at t = " + num(t) + " s reaches governor.critical (" +
                  num(cfg.governor.critical_c) + " C); the device stopped after " + std::to_string(r.inferences) +
                  " inferences";
        break;
      }
      const arch::Setting next = gov->poll(hottest, set);
      if (next.hz != set.hz || next.volts != set.volts) r.events.push_back({t, hottest, set.hz, next.hz});
      set = next;
    }
  }
  heat.flush();
  r.seconds = t;
  return r;
}

void LatencyRuns::add(double seconds, uint64_t count) {
  if (count == 0) return;
  if (!runs_.empty() && runs_.back().first == seconds)
    runs_.back().second += count;
  else
    runs_.emplace_back(seconds, count);
  count_ += count;
}

double LatencyRuns::min() const {
  double m = runs_.empty() ? 0 : runs_.front().first;
  for (const auto& [s, n] : runs_) m = std::min(m, s);
  return m;
}

double LatencyRuns::max() const {
  double m = runs_.empty() ? 0 : runs_.front().first;
  for (const auto& [s, n] : runs_) m = std::max(m, s);
  return m;
}

double LatencyRuns::percentile(double q) const {
  if (runs_.empty()) return 0;
  std::vector<std::pair<double, uint64_t>> v = runs_;
  std::sort(v.begin(), v.end());
  const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (const auto& [s, n] : v)
    if ((seen += n) >= rank) return s;
  return v.back().first;
}

// stats.json's "long_run", members in their documented order; "fault" only after a THERMAL_CRITICAL.
nlohmann::ordered_json long_run_json(const LongRunResult& r) {
  using nlohmann::ordered_json;
  const auto& l = r.latencies_s;
  ordered_json j;
  j["inferences"] = r.inferences;
  j["simulated_s"] = jnum(r.seconds);
  j["energy_j"] = energy_json(r.energy);
  j["energy_per_inference_j"] = jnum(r.inferences ? arch::total(r.energy) / static_cast<double>(r.inferences) : 0);
  j["average_w"] = jnum(r.seconds > 0 ? arch::total(r.energy) / r.seconds : 0);
  j["max_temperature_c"] = jnum(r.max_temp_c);
  ordered_json& lat = j["latency_s"];
  lat["first"] = jnum(l.front());
  lat["last"] = jnum(l.back());
  lat["min"] = jnum(l.min());
  lat["p50"] = jnum(l.percentile(0.5));
  lat["p99"] = jnum(l.percentile(0.99));
  lat["max"] = jnum(l.max());
  j["throttle_events"] = ordered_json::array();
  for (const auto& e : r.events) {
    ordered_json ev;
    ev["t_s"] = jnum(e.t_s);
    ev["temperature_c"] = jnum(e.temp_c);
    ev["from_hz"] = jnum(e.from_hz);
    ev["to_hz"] = jnum(e.to_hz);
    j["throttle_events"].push_back(std::move(ev));
  }
  j["simulated_clocks_hz"] = ordered_json::array();
  for (const double hz : r.simulated_hz) j["simulated_clocks_hz"].push_back(jnum(hz));
  j["critical"] = r.critical;
  if (r.critical) j["fault"] = r.fault;
  return j;
}

std::string long_run_csv(const LongRunResult& r) {
  std::ostringstream os;
  os << "time_s,power_w,heat_node_c,max_node_c,clock_mhz,volts,throttle_level,inferences\n";
  for (const auto& s : r.samples)
    os << num(s.t_s) << "," << num(s.power_w) << "," << num(s.heat_c) << "," << num(s.max_c) << "," << num(s.hz / 1e6)
       << "," << num(s.volts) << "," << s.level << "," << s.inferences << "\n";
  return os.str();
}

// A tree written by stats::json_text: the process name, three counter events per sample (ts in
// microseconds), then an instant event per clock change, each figure to 6 significant digits.
std::string long_run_trace(const LongRunResult& r) {
  using nlohmann::ordered_json;
  ordered_json events = ordered_json::array();
  events.push_back({{"ph", "M"}, {"pid", 1}, {"name", "process_name"}, {"args", {{"name", "npusim long run"}}}});
  auto counter = [&](const char* name, const ordered_json& ts, ordered_json args) {
    ordered_json e;
    e["ph"] = "C", e["pid"] = 1, e["name"] = name, e["ts"] = ts, e["args"] = std::move(args);
    events.push_back(std::move(e));
  };
  for (const auto& s : r.samples) {
    const ordered_json ts = jnum(s.t_s * 1e6);
    counter("power (W)", ts, {{"W", jnum(s.power_w)}});
    counter("temperature (C)", ts, {{"heat node", jnum(s.heat_c)}, {"hottest", jnum(s.max_c)}});
    counter("clock (MHz)", ts, {{"MHz", jnum(s.hz / 1e6)}});
  }
  for (const auto& e : r.events) {
    ordered_json i;
    i["ph"] = "i", i["pid"] = 1, i["tid"] = 1, i["s"] = "g";
    i["name"] = "throttle " + num(e.from_hz / 1e6) + " -> " + num(e.to_hz / 1e6) + " MHz";
    i["ts"] = jnum(e.t_s * 1e6);
    events.push_back(std::move(i));
  }
  ordered_json trace;
  trace["displayTimeUnit"] = "ms";
  trace["traceEvents"] = std::move(events);
  return stats::json_text(trace);
}

}  // namespace npusim
