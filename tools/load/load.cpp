#include "tools/load/load.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "arch/governor.h"
#include "arch/power.h"
#include "arch/thermal.h"
#include "base/errors.h"
#include "base/json.h"
#include "base/stats.h"
#include "base/text.h"
#include "isa/spec.h"
#include "sim/run_power.h"

namespace npusim {
namespace {

/// Queue-length samples kept per tenant: past this the series is thinned to every other sample at
/// twice the interval (a run that overloads the device can last far beyond its duration).
constexpr size_t kMaxQueueSamples = size_t{1} << 21;
/// Fewest samples per duration --sample-interval may ask for beyond this is refused.
constexpr double kMaxSamplesPerDuration = 1e6;

}  // namespace

std::vector<double> arrival_times(const LoadOptions& o) {
  std::vector<double> t;
  if (!std::isfinite(o.duration_s) || o.duration_s < 0)
    throw InputError("duration " + format_g(o.duration_s, 6) + " s: expected a finite time of at least 0");
  if (o.sample_s < 0 || !std::isfinite(o.sample_s) ||
      (o.sample_s > 0 && o.duration_s / o.sample_s > kMaxSamplesPerDuration))
    throw InputError("sample interval " + format_g(o.sample_s, 6) + " s: at most " +
                     format_g(kMaxSamplesPerDuration, 6) + " queue-length samples per run (at least " +
                     format_g(o.duration_s / kMaxSamplesPerDuration, 6) + " s for a duration of " +
                     format_g(o.duration_s, 6) + " s)");
  if (o.arrivals == "trace") {
    for (double x : o.trace)
      if (x >= 0 && (o.duration_s <= 0 || x < o.duration_s)) t.push_back(x);
    std::sort(t.begin(), t.end());
    return t;
  }
  if (!(o.duration_s > 0)) throw InputError("duration 0 s: a generated request stream needs a duration above 0");
  if (!(o.rate_per_s > 0) || !std::isfinite(o.rate_per_s))
    throw InputError("rate " + format_g(o.rate_per_s, 6) + "/s: expected a finite rate above 0");
  if (o.rate_per_s * o.duration_s > kMaxRequests)
    throw InputError("rate " + format_g(o.rate_per_s, 6) + "/s for " + format_g(o.duration_s, 6) + " s is " +
                     format_g(o.rate_per_s * o.duration_s, 6) + " requests, more than the " +
                     format_g(kMaxRequests, 6) + " a run may have (lower the rate or the duration)");
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto exp_gap = [&](double rate) { return -std::log(1.0 - u(rng)) / rate; };  // exponential inter-arrival
  if (o.arrivals == "poisson") {
    for (double now = exp_gap(o.rate_per_s); now < o.duration_s; now += exp_gap(o.rate_per_s)) t.push_back(now);
    return t;
  }
  if (o.arrivals == "onoff") {
    if (!(o.on_s > 0) || o.off_s < 0 || !std::isfinite(o.on_s) || !std::isfinite(o.off_s))
      throw InputError("on/off periods " + format_g(o.on_s, 6) + " s and " + format_g(o.off_s, 6) +
                       " s: expected a finite on period above 0 and an off period of at least 0");
    const double period = o.on_s + o.off_s, burst_rate = o.rate_per_s * period / o.on_s;  // same mean rate
    double now = 0;
    for (;;) {
      now += exp_gap(burst_rate);
      const double in_period = std::fmod(now, period);
      if (in_period >= o.on_s) now += period - in_period;  // skip the silence (memoryless: no bias)
      if (now >= o.duration_s) break;
      if (std::fmod(now, period) < o.on_s) t.push_back(now);
    }
    return t;
  }
  throw InputError("arrivals '" + o.arrivals + "': expected poisson, onoff or trace");
}

namespace {

std::string num(double v) {  // this output's precision
  return format_g(v, 9);
}

}  // namespace

double percentile_of(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, i ? i - 1 : 0)];
}

LoadResult run_load(const std::vector<double>& service_s, const LoadOptions& o) {
  Tenant t;
  t.load = o;
  t.service_s = service_s;
  return run_tenants({t}).tenants[0];
}

TenantsResult run_tenants(const std::vector<Tenant>& ts, const PowerLoop* power) {
  TenantsResult out;
  out.tenant_energy_j.assign(ts.size(), 0);
  // Power in the loop: the thermal network integrated up to t_th, the governor polled on its period.
  std::unique_ptr<arch::ThermalNetwork> net;
  std::unique_ptr<ThermalIntegrator> heat;
  std::unique_ptr<arch::Governor> gov;
  std::unique_ptr<arch::EnergyModel> model;
  arch::Setting set;
  double t_th = 0, next_poll = 0, poll_j = 0, poll_from = 0;
  if (power) {
    net = std::make_unique<arch::ThermalNetwork>(power->cfg->thermal, power->cfg->thermal.step_s);
    heat = std::make_unique<ThermalIntegrator>(*net);
    gov = arch::make_governor(power->cfg->governor);
    model = std::make_unique<arch::EnergyModel>(power->cfg->power);
    set = gov->initial();
    next_poll = power->cfg->governor.poll_s;
    out.max_temp_c = net->max_temperature();
  }
  // Integrates [t_th, to) at `dyn_w` of dynamic power plus leakage, polling the governor on the way.
  auto advance = [&](double to, double dyn_w) {
    while (power && !out.critical && t_th < to) {
      const double end = std::min(to, next_poll), dt = end - t_th;
      const double joules = (dyn_w + model->leakage_w(set.volts, net->heat_node_temperature())) * dt;
      heat->feed(dt, joules);
      out.energy_j += joules;
      poll_j += joules;
      t_th = end;
      out.max_temp_c = std::max(out.max_temp_c, net->max_temperature());
      if (end < next_poll) break;
      const double hottest = net->max_temperature();
      out.thermal.push_back({t_th, hottest, set.hz, t_th > poll_from ? poll_j / (t_th - poll_from) : 0});
      poll_j = 0, poll_from = t_th;
      next_poll += power->cfg->governor.poll_s;
      if (hottest >= power->cfg->governor.critical_c) {
        out.critical = true;
        char b[160];
        std::snprintf(b, sizeof b, "THERMAL_CRITICAL: %.4g C at t = %.6g s reaches governor.critical (%.4g C)", hottest,
                      t_th, power->cfg->governor.critical_c);
        out.fault = b;
        return;
      }
      const arch::Setting nxt = gov->poll(hottest, set);
      if ((nxt.hz != set.hz || nxt.volts != set.volts) && out.first_throttle_s < 0) out.first_throttle_s = t_th;
      set = nxt;
    }
  };
  struct State {
    std::vector<double> at;    ///< arrivals
    size_t next = 0;           ///< next arrival
    std::deque<size_t> queue;  ///< waiting requests
    double sample = 0, next_sample = 0;
    bool warm = false;  ///< weights loaded
  };
  std::vector<State> st(ts.size());
  double horizon = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const LoadOptions& o = ts[i].load;
    if (o.max_batch == 0 || ts[i].service_s.size() < o.max_batch)
      throw std::invalid_argument("tenant '" + ts[i].name + "': service times are needed for batches 1 to max_batch");
    st[i].at = arrival_times(o);
    st[i].sample = o.sample_s > 0 ? o.sample_s : std::max(o.duration_s, 1e-9) / 1000;
    horizon = std::max(horizon, o.duration_s);
    LoadResult r;
    r.requests = st[i].at.size();
    r.latency_s.assign(st[i].at.size(), 0);
    r.wait_s.assign(st[i].at.size(), 0);
    r.batches.assign(o.max_batch, 0);
    out.tenants.push_back(std::move(r));
  }
  auto sample_until = [&](size_t i, double t) {  // queue length is piecewise constant between events
    while (st[i].next_sample <= t) {
      auto& series = out.tenants[i].queue_length;
      series.push_back({st[i].next_sample, static_cast<uint32_t>(st[i].queue.size())});
      st[i].next_sample += st[i].sample;
      if (series.size() >= kMaxQueueSamples) {  // bounded: every other sample, twice the interval
        for (size_t k = 0; 2 * k < series.size(); ++k) series[k] = series[2 * k];
        series.resize((series.size() + 1) / 2);
        st[i].sample *= 2;
        st[i].next_sample = series.back().first + st[i].sample;
      }
    }
  };
  double now = 0, free_at = 0;
  // Time slices: the tenant holding the device and how much of its slice it has used.
  const bool sliced = std::any_of(ts.begin(), ts.end(), [](const Tenant& t) { return t.slice_s > 0; });
  size_t owner = 0;
  double used = 0;
  // Round-robin rank among tenants ready at the same moment: the owner while its slice lasts, then
  // the tenants after it in order, the owner last once its slice is spent.
  auto slice_rank = [&](size_t i) {
    if (i == owner) return used < ts[i].slice_s ? size_t{0} : ts.size();
    return (i + ts.size() - owner) % ts.size();
  };
  for (;;) {
    // The next arrival over all tenants, and each tenant's earliest dispatch moment.
    size_t na = ts.size();
    for (size_t i = 0; i < ts.size(); ++i)
      if (st[i].next < st[i].at.size() && (na == ts.size() || st[i].at[st[i].next] < st[na].at[st[na].next])) na = i;
    const double next_arrival = na < ts.size() ? st[na].at[st[na].next] : INFINITY;
    size_t pick = ts.size();
    double go = INFINITY;
    for (size_t i = 0; i < ts.size(); ++i) {
      if (st[i].queue.empty()) continue;
      const LoadOptions& o = ts[i].load;
      const bool more = st[i].next < st[i].at.size();
      const double ready = st[i].queue.size() >= o.max_batch || !more
                               ? std::max(now, free_at)
                               : std::max(free_at, st[i].at[st[i].queue.front()] + o.max_wait_s);
      // Earlier wins; at the same moment the higher priority, then the older head request.
      const auto better = [&] {
        if (pick == ts.size() || ready < go) return true;
        if (ready > go) return false;
        if (sliced) return slice_rank(i) < slice_rank(pick);
        if (ts[i].priority != ts[pick].priority) return ts[i].priority > ts[pick].priority;
        return st[i].at[st[i].queue.front()] < st[pick].at[st[pick].queue.front()];
      };
      if (better()) pick = i, go = ready;
    }
    if (pick == ts.size() && na == ts.size()) break;  // nothing queued, nothing to come
    if (out.critical) break;
    // An arrival before the next dispatch joins its queue first (it may fill a batch or change who goes).
    if (na < ts.size() && (pick == ts.size() || next_arrival <= go)) {
      now = std::max(now, next_arrival);
      sample_until(na, now);
      st[na].queue.push_back(st[na].next++);
      continue;
    }
    go = std::max(go, now);
    State& s = st[pick];
    const LoadOptions& o = ts[pick].load;
    sample_until(pick, go);
    const auto b = static_cast<uint32_t>(std::min<size_t>(s.queue.size(), o.max_batch));
    double service = ts[pick].service_s[b - 1], dyn_j = 0;
    if (power) {  // at the governor's current clock; the idle time before it at leakage only
      advance(go, 0);
      if (out.critical) break;
      std::tie(service, dyn_j) = power->batch(pick, b, set.hz, set.volts);
      out.tenant_energy_j[pick] += dyn_j;
    }
    const double cold = s.warm ? 0.0 : ts[pick].cold_start_s;
    service += cold, s.warm = true;
    if (pick != owner) owner = pick, used = 0;
    used += service;
    const double done = go + service;
    if (power) advance(done, dyn_j / service);
    LoadResult& r = out.tenants[pick];
    for (uint32_t k = 0; k < b; ++k) {
      const size_t q = s.queue.front();
      s.queue.pop_front();
      r.wait_s[q] = go - s.at[q];
      r.latency_s[q] = done - s.at[q];
    }
    ++r.batches[b - 1];
    r.busy_s += service;
    r.makespan_s = done;
    out.busy_s += service;
    out.makespan_s = done;
    out.spans.push_back({pick, go, done, b, cold});
    free_at = done;
    now = go;
  }
  out.span_s = std::max(horizon, out.makespan_s);
  for (size_t i = 0; i < ts.size(); ++i) {
    sample_until(i, out.span_s);
    out.arrival_s.push_back(st[i].at);
    out.tenants[i].span_s = std::max(ts[i].load.duration_s, out.tenants[i].makespan_s);
  }
  return out;
}

std::string tenants_trace(const TenantsResult& r, const std::vector<Tenant>& ts) {
  using nlohmann::ordered_json;
  constexpr int kOperatorTrack = 1000000;        // after the tenants' tracks
  constexpr size_t kMaxOperatorEvents = 500000;  // ~50 MB of JSON
  ordered_json events = ordered_json::array();
  auto track_name = [&](std::optional<int> tid, const char* what, const std::string& name) {
    ordered_json e;
    e["ph"] = "M", e["pid"] = 1;
    if (tid) e["tid"] = *tid;
    e["name"] = what, e["args"] = {{"name", name}};
    events.push_back(std::move(e));
  };
  auto span = [&](int tid, const std::string& name, double start_us, double dur_us) {
    ordered_json e;
    e["ph"] = "X", e["pid"] = 1, e["tid"] = tid, e["name"] = name;
    e["ts"] = json_g(start_us, 9), e["dur"] = json_g(dur_us, 9);
    events.push_back(std::move(e));
  };
  track_name(std::nullopt, "process_name", "npusim load");
  track_name(0, "thread_name", "NPU batches");
  for (size_t i = 0; i < ts.size(); ++i) track_name(static_cast<int>(i + 1), "thread_name", "requests " + ts[i].name);
  for (const auto& b : r.spans)
    span(0, ts[b.tenant].name + " batch of " + std::to_string(b.size), b.start_s * 1e6, (b.end_s - b.start_s) * 1e6);
  // Each batch's operators (the ONNX nodes as the simulator ran them) on one track, and its engines'
  // busy stretches on a track per engine: placed after the batch's cold start and stretched to its
  // service time when the clock changed; capped together to keep traces loadable.
  track_name(kOperatorTrack, "thread_name", "NPU operators");
  for (size_t e = 0; e < isa::kEngineCount; ++e)
    track_name(kOperatorTrack + 1 + static_cast<int>(e), "thread_name",
               std::string("NPU engine ") + isa::engine_name(static_cast<isa::Engine>(e)));
  size_t count = 0;
  // timelines(t)[b - 1]: spans of a batch of b; track_of / name_of: where each span goes and its label.
  auto emit = [&](auto timelines, auto track_of, auto name_of) {
    for (const auto& b : r.spans) {
      const Tenant& t = ts[b.tenant];
      const auto& all = timelines(t);
      if (b.size > all.size() || all[b.size - 1].empty()) continue;
      const auto& spans = all[b.size - 1];
      if ((count += spans.size()) > kMaxOperatorEvents) break;
      const double nominal = t.service_s[b.size - 1];
      const double k = nominal > 0 ? (b.end_s - b.start_s - b.cold_s) / nominal : 1.0;
      for (const auto& sp : spans)
        span(track_of(sp), name_of(sp, t), (b.start_s + b.cold_s + k * sp.start_s) * 1e6,
             k * (sp.end_s - sp.start_s) * 1e6);
    }
  };
  emit(
      [](const Tenant& t) -> const auto& { return t.operators; }, [](const MarkerSpan&) { return kOperatorTrack; },
      [](const MarkerSpan& op, const Tenant&) { return op.name; });
  emit(
      [](const Tenant& t) -> const auto& { return t.engines; },
      [](const EngineSpan& sp) { return kOperatorTrack + 1 + static_cast<int>(sp.engine); },
      [](const EngineSpan& sp, const Tenant& t) { return std::string(isa::engine_name(sp.engine)) + " " + t.name; });
  for (size_t i = 0; i < ts.size(); ++i)  // requests as async spans (they overlap on a tenant's track)
    for (size_t k = 0; k < r.arrival_s[i].size(); ++k)
      span(static_cast<int>(i + 1), "request " + std::to_string(k), r.arrival_s[i][k] * 1e6,
           r.tenants[i].latency_s[k] * 1e6);
  ordered_json trace;
  trace["displayTimeUnit"] = "ms";
  trace["traceEvents"] = std::move(events);
  return stats::json_text(trace);
}

nlohmann::ordered_json load_json(const LoadResult& r, const std::vector<double>& service_s, const LoadOptions& o) {
  const auto& l = r.latency_s;
  const double mean = l.empty() ? 0 : std::accumulate(l.begin(), l.end(), 0.0) / static_cast<double>(l.size());
  const double wmean =
      r.wait_s.empty() ? 0 : std::accumulate(r.wait_s.begin(), r.wait_s.end(), 0.0) / static_cast<double>(l.size());
  uint32_t max_q = 0;
  for (const auto& [t, q] : r.queue_length) max_q = std::max(max_q, q);
  auto g9 = [](double v) { return json_g(v, 9); };  // this output's precision
  nlohmann::ordered_json j;
  j["requests"] = r.requests;
  j["offered_rate_per_s"] = g9(o.rate_per_s);
  j["arrivals"] = o.arrivals;
  j["duration_s"] = g9(o.duration_s);
  j["makespan_s"] = g9(r.makespan_s);
  j["throughput_per_s"] = g9(r.throughput_per_s());
  j["utilization"] = g9(r.span_s > 0 ? r.busy_s / r.span_s : 0);
  j["latency_s"] = {{"mean", g9(mean)},
                    {"p50", g9(percentile_of(l, 0.5))},
                    {"p95", g9(percentile_of(l, 0.95))},
                    {"p99", g9(percentile_of(l, 0.99))},
                    {"max", g9(l.empty() ? 0 : *std::max_element(l.begin(), l.end()))}};
  j["wait_s"] = {{"mean", g9(wmean)}, {"p99", g9(percentile_of(r.wait_s, 0.99))}};
  j["max_queue_length"] = max_q;
  j["max_batch"] = o.max_batch;
  j["max_wait_s"] = g9(o.max_wait_s);
  j["seed"] = o.seed;
  nlohmann::ordered_json service = nlohmann::ordered_json::array();
  for (size_t i = 0; i < o.max_batch; ++i) service.push_back(g9(service_s[i]));
  j["service_s"] = std::move(service);
  j["batches"] = r.batches;
  return j;
}

std::string load_prometheus(const TenantsResult& r, const std::vector<Tenant>& ts, bool with_power) {
  // One HELP/TYPE block per metric family, a labelled series per tenant (text exposition 0.0.4).
  std::ostringstream os;
  // Label values escape backslash, double quote and newline (the exposition format's rule).
  auto lbl = [&](size_t i) {
    std::string v;
    for (char c : ts[i].name) v += c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == '\n' ? "\\n" : std::string(1, c);
    return "{tenant=\"" + v + "\"";
  };
  os << "# HELP npusim_request_latency_seconds Request latency (arrival to completion), simulated.\n"
     << "# TYPE npusim_request_latency_seconds histogram\n";
  const double buckets[] = {0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
  for (size_t i = 0; i < ts.size(); ++i) {
    std::vector<double> l = r.tenants[i].latency_s;
    std::sort(l.begin(), l.end());
    for (double b : buckets)
      os << "npusim_request_latency_seconds_bucket" << lbl(i) << ",le=\"" << num(b) << "\"} "
         << (std::upper_bound(l.begin(), l.end(), b) - l.begin()) << "\n";
    os << "npusim_request_latency_seconds_bucket" << lbl(i) << ",le=\"+Inf\"} " << l.size() << "\n"
       << "npusim_request_latency_seconds_sum" << lbl(i) << "} " << num(std::accumulate(l.begin(), l.end(), 0.0))
       << "\n"
       << "npusim_request_latency_seconds_count" << lbl(i) << "} " << l.size() << "\n";
  }
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    os << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    for (size_t i = 0; i < ts.size(); ++i) os << name << lbl(i) << "} " << num(value(i)) << "\n";
  };
  family("npusim_throughput_requests_per_second", "gauge", "Completed requests per simulated second.", [&](size_t i) {
    const LoadResult& t = r.tenants[i];
    return t.throughput_per_s();
  });
  family("npusim_queue_length_max", "gauge", "Longest queue the tenant saw.", [&](size_t i) {
    size_t m = 0;
    for (const auto& q : r.tenants[i].queue_length) m = std::max<size_t>(m, q.second);
    return static_cast<double>(m);
  });
  family("npusim_device_busy_seconds_total", "counter", "Simulated seconds the NPU spent on the tenant's batches.",
         [&](size_t i) { return r.tenants[i].busy_s; });
  // Cold starts: the tenant's first batch paid loading its model (BatchSpan::cold_s).
  auto first_batch = [&](size_t i) -> const BatchSpan* {
    for (const BatchSpan& b : r.spans)
      if (b.tenant == i) return &b;
    return nullptr;
  };
  family("npusim_cold_start_requests_total", "counter", "Requests served by the batch that loaded the model.",
         [&](size_t i) {
           const BatchSpan* b = first_batch(i);
           return b && b->cold_s > 0 ? static_cast<double>(b->size) : 0.0;
         });
  family("npusim_cold_start_seconds", "gauge", "Simulated seconds the first batch spent loading the model.",
         [&](size_t i) {
           const BatchSpan* b = first_batch(i);
           return b ? b->cold_s : 0.0;
         });
  os << "# HELP npusim_device_utilization Fraction of time the NPU was busy.\n"
     << "# TYPE npusim_device_utilization gauge\n"
     << "npusim_device_utilization " << num(r.utilization()) << "\n";
  if (with_power) {
    family("npusim_energy_per_inference_joules", "gauge", "Dynamic energy per request at the clocks the run used.",
           [&](size_t i) {
             const uint64_t n = r.tenants[i].requests;
             return n ? r.tenant_energy_j[i] / static_cast<double>(n) : 0.0;
           });
    const double hz = r.thermal.empty() ? 0 : r.thermal.back().hz;
    os << "# HELP npusim_energy_joules_total Energy of the whole run, leakage included.\n"
       << "# TYPE npusim_energy_joules_total counter\nnpusim_energy_joules_total " << num(r.energy_j) << "\n"
       << "# HELP npusim_temperature_max_celsius Hottest thermal node over the run.\n"
       << "# TYPE npusim_temperature_max_celsius gauge\nnpusim_temperature_max_celsius " << num(r.max_temp_c) << "\n"
       << "# HELP npusim_clock_hz NPU clock at the end of the run.\n"
       << "# TYPE npusim_clock_hz gauge\nnpusim_clock_hz " << num(hz) << "\n";
    size_t changes = 0;
    for (size_t k = 1; k < r.thermal.size(); ++k) changes += r.thermal[k].hz != r.thermal[k - 1].hz;
    os << "# HELP npusim_throttle_events_total Clock changes the governor made.\n"
       << "# TYPE npusim_throttle_events_total counter\nnpusim_throttle_events_total " << changes << "\n";
  }
  return os.str();
}

}  // namespace npusim
