#include "sim/load.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>

namespace npusim {
namespace {

/// Arrival times in [0, duration).
std::vector<double> arrivals(const LoadOptions& o) {
  std::vector<double> t;
  if (o.arrivals == "trace") {
    for (double x : o.trace)
      if (x >= 0 && (o.duration_s <= 0 || x < o.duration_s)) t.push_back(x);
    std::sort(t.begin(), t.end());
    return t;
  }
  if (!(o.rate_per_s > 0) || !(o.duration_s > 0)) throw std::invalid_argument("a rate and a duration are needed");
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto exp_gap = [&](double rate) { return -std::log(1.0 - u(rng)) / rate; };  // exponential inter-arrival
  if (o.arrivals == "poisson") {
    for (double now = exp_gap(o.rate_per_s); now < o.duration_s; now += exp_gap(o.rate_per_s)) t.push_back(now);
    return t;
  }
  if (o.arrivals == "onoff") {
    if (!(o.on_s > 0) || o.off_s < 0) throw std::invalid_argument("on/off periods must be positive");
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
  throw std::invalid_argument("arrivals must be poisson, onoff or trace");
}

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

}  // namespace

double percentile_of(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, i ? i - 1 : 0)];
}

LoadResult run_load(const std::vector<double>& service_s, const LoadOptions& o) {
  if (o.max_batch == 0 || service_s.size() < o.max_batch)
    throw std::invalid_argument("service times are needed for batches 1 to max_batch");
  const std::vector<double> at = arrivals(o);
  LoadResult r;
  r.requests = at.size();
  r.latency_s.assign(at.size(), 0);
  r.wait_s.assign(at.size(), 0);
  r.batches.assign(o.max_batch, 0);
  const double sample = o.sample_s > 0 ? o.sample_s : std::max(o.duration_s, 1e-9) / 1000;
  double next_sample = 0, free_at = 0;
  size_t next = 0;                     // next arrival
  std::deque<size_t> queue;            // waiting requests (indices)
  auto sample_until = [&](double t) {  // queue length is piecewise constant between events
    while (next_sample <= t) {
      r.queue_length.push_back({next_sample, static_cast<uint32_t>(queue.size())});
      next_sample += sample;
    }
  };
  double now = 0;  // time of the last event handled; every queued request arrived by then
  auto admit = [&] {
    now = std::max(now, at[next]);
    sample_until(now);
    queue.push_back(next++);
  };
  while (next < at.size() || !queue.empty()) {
    if (queue.empty()) {
      admit();
      continue;
    }
    // When the next batch goes: at once (device permitting) when it is full; else when the device
    // is free and the oldest request has waited max_wait. An arrival before then joins it first.
    double go =
        queue.size() >= o.max_batch ? std::max(now, free_at) : std::max(free_at, at[queue.front()] + o.max_wait_s);
    if (queue.size() < o.max_batch && next < at.size() && at[next] <= go) {
      admit();
      continue;
    }
    go = std::max(go, now);
    sample_until(go);
    const auto b = static_cast<uint32_t>(std::min<size_t>(queue.size(), o.max_batch));
    const double done = go + service_s[b - 1];
    for (uint32_t i = 0; i < b; ++i) {
      const size_t k = queue.front();
      queue.pop_front();
      r.wait_s[k] = go - at[k];
      r.latency_s[k] = done - at[k];
    }
    ++r.batches[b - 1];
    r.busy_s += service_s[b - 1];
    free_at = done;
    now = go;
    r.makespan_s = done;
  }
  sample_until(std::max(o.duration_s, r.makespan_s));
  return r;
}

std::string load_json(const LoadResult& r, const std::vector<double>& service_s, const LoadOptions& o) {
  const auto& l = r.latency_s;
  const double mean = l.empty() ? 0 : std::accumulate(l.begin(), l.end(), 0.0) / static_cast<double>(l.size());
  const double wmean =
      r.wait_s.empty() ? 0 : std::accumulate(r.wait_s.begin(), r.wait_s.end(), 0.0) / static_cast<double>(l.size());
  uint32_t max_q = 0;
  for (const auto& [t, q] : r.queue_length) max_q = std::max(max_q, q);
  std::string s =
      "{\"requests\": " + std::to_string(r.requests) + ", \"offered_rate_per_s\": " + num(o.rate_per_s) +
      ", \"arrivals\": \"" + o.arrivals + "\", \"duration_s\": " + num(o.duration_s) +
      ", \"makespan_s\": " + num(r.makespan_s) +
      ", \"throughput_per_s\": " + num(r.makespan_s > 0 ? static_cast<double>(r.requests) / r.makespan_s : 0) +
      ", \"utilization\": " + num(r.makespan_s > 0 ? r.busy_s / r.makespan_s : 0) +
      ", \"latency_s\": {\"mean\": " + num(mean) + ", \"p50\": " + num(percentile_of(l, 0.5)) +
      ", \"p95\": " + num(percentile_of(l, 0.95)) + ", \"p99\": " + num(percentile_of(l, 0.99)) +
      ", \"max\": " + num(l.empty() ? 0 : *std::max_element(l.begin(), l.end())) +
      "}, \"wait_s\": {\"mean\": " + num(wmean) + ", \"p99\": " + num(percentile_of(r.wait_s, 0.99)) +
      "}, \"max_queue_length\": " + std::to_string(max_q) + ", \"max_batch\": " + std::to_string(o.max_batch) +
      ", \"max_wait_s\": " + num(o.max_wait_s) + ", \"seed\": " + std::to_string(o.seed) + ", \"service_s\": [";
  for (size_t i = 0; i < o.max_batch; ++i) s += std::string(i ? ", " : "") + num(service_s[i]);
  s += "], \"batches\": [";
  for (size_t i = 0; i < r.batches.size(); ++i) s += std::string(i ? ", " : "") + std::to_string(r.batches[i]);
  return s + "]}";
}

std::string load_prometheus(const LoadResult& r, const std::string& model) {
  std::ostringstream os;
  const std::string lbl = "{model=\"" + model + "\"";
  os << "# HELP npusim_request_latency_seconds Request latency (arrival to completion), simulated.\n"
     << "# TYPE npusim_request_latency_seconds histogram\n";
  const double buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};
  std::vector<double> l = r.latency_s;
  std::sort(l.begin(), l.end());
  for (double b : buckets)
    os << "npusim_request_latency_seconds_bucket" << lbl << ",le=\"" << num(b) << "\"} "
       << (std::upper_bound(l.begin(), l.end(), b) - l.begin()) << "\n";
  os << "npusim_request_latency_seconds_bucket" << lbl << ",le=\"+Inf\"} " << l.size() << "\n"
     << "npusim_request_latency_seconds_sum" << lbl << "} " << num(std::accumulate(l.begin(), l.end(), 0.0)) << "\n"
     << "npusim_request_latency_seconds_count" << lbl << "} " << l.size() << "\n"
     << "# HELP npusim_throughput_requests_per_second Completed requests per simulated second.\n"
     << "# TYPE npusim_throughput_requests_per_second gauge\n"
     << "npusim_throughput_requests_per_second" << lbl << "} "
     << num(r.makespan_s > 0 ? static_cast<double>(r.requests) / r.makespan_s : 0) << "\n"
     << "# HELP npusim_device_utilization Fraction of time the NPU was busy.\n"
     << "# TYPE npusim_device_utilization gauge\n"
     << "npusim_device_utilization" << lbl << "} " << num(r.makespan_s > 0 ? r.busy_s / r.makespan_s : 0) << "\n";
  return os.str();
}

}  // namespace npusim
