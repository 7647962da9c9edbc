// Serving under load (`npusim load`): a request stream (Poisson, bursty on/off, or the timestamps
// of a trace) served by the NPU with a dynamic batching policy (dispatch when max_batch requests
// wait or the oldest has waited max_wait), one batch at a time, first come first served. The
// service time of a batch of b is the simulated latency of the program compiled for batch b (the
// simulator is run once per b beforehand), so the queueing simulation itself is pure arithmetic
// and runs in milliseconds for millions of requests. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "sim/npu_config.h"
#include "sim/simulator.h"

namespace npusim {

/// Requests one run may have, generated or from an arrival trace: each costs about 40 bytes
/// (arrival, latency, wait, queue slot) and more while served, so this keeps a run near a gigabyte
/// at most however large --rate x --duration or a trace is.
inline constexpr double kMaxRequests = 1e7;

struct LoadOptions {
  double rate_per_s = 100;           ///< mean arrival rate
  double duration_s = 10;            ///< arrivals during this time (all are served)
  std::string arrivals = "poisson";  ///< poisson | onoff | trace
  double on_s = 1, off_s = 1;        ///< onoff: bursts of Poisson arrivals at rate x (on+off)/on, then silence
  std::vector<double> trace;         ///< trace: arrival times (s), ascending
  uint32_t max_batch = 1;            ///< largest batch
  double max_wait_s = 0;             ///< longest the oldest request waits for a batch to fill
  uint64_t seed = 1;                 ///< random stream
  double sample_s = 0;               ///< queue-length series interval (0: duration / 1000)
};

struct LoadResult {
  uint64_t requests = 0;          ///< arrived (and served)
  std::vector<double> latency_s;  ///< per request: completion - arrival
  std::vector<double> wait_s;     ///< per request: dispatch - arrival
  double makespan_s = 0;          ///< last completion
  double span_s = 0;              ///< the run: 0 to max(duration, last completion)
  double busy_s = 0;              ///< device busy time
  /// Completed requests per second of the run.
  double throughput_per_s() const { return span_s > 0 ? static_cast<double>(requests) / span_s : 0.0; }
  std::vector<uint64_t> batches;                          ///< batches[b - 1]: batches of size b
  std::vector<std::pair<double, uint32_t>> queue_length;  ///< (time, waiting requests) samples
};

/// Arrival times in [0, duration) of the process `opts.arrivals` (poisson, onoff, trace), seeded.
std::vector<double> arrival_times(const LoadOptions& opts);

/// `service_s[b - 1]`: the service time of a batch of b (b = 1 .. max_batch).
LoadResult run_load(const std::vector<double>& service_s, const LoadOptions& opts);

/// One tenant: its own request stream, queue, batching policy and model.
struct Tenant {
  std::string name;               ///< label in reports
  LoadOptions load;               ///< arrivals and batching
  std::vector<double> service_s;  ///< its model's batch service times
  int priority = 0;               ///< higher is served first; ties go to the oldest waiting request
  /// Time slice (s): when any tenant has one, the device is shared round robin instead of by
  /// priority: the tenant holding the device keeps it for batches that start within its slice,
  /// then the next tenant in order with a batch ready takes over (batches are not preempted).
  double slice_s = 0;
  double cold_start_s = 0;  ///< added to the tenant's first batch (loading its weights)
  /// operators[b - 1]: the operator timeline of a batch of b, from the batch's start (for traces;
  /// may be empty).
  std::vector<std::vector<MarkerSpan>> operators;
  /// engines[b - 1]: each engine's busy stretches in a batch of b, from the batch's start (for
  /// traces; may be empty).
  std::vector<std::vector<EngineSpan>> engines;
};

/// A device span for traces: one batch of one tenant.
struct BatchSpan {
  size_t tenant = 0;
  double start_s = 0, end_s = 0;
  uint32_t size = 0;
  double cold_s = 0;  ///< of which the cold start (at the beginning)
};

/// Power and temperature in the loop (optional): batch service times and energies depend on the
/// clock the governor picks from the temperature the work produces.
struct PowerLoop {
  const config::NpuConfig* cfg = nullptr;  ///< power, thermal, dvfs, governor
  /// Seconds and dynamic energy (J, at `volts`) of tenant t's batch of b at clock hz.
  std::function<std::pair<double, double>(size_t t, uint32_t b, double hz, double volts)> batch;
};

/// One governor poll (the power-in-the-loop time series).
struct ThermalSample {
  double t_s = 0, temp_c = 0, hz = 0, power_w = 0;  ///< time, hottest node, clock, average power since the last poll
};

struct TenantsResult {
  std::vector<LoadResult> tenants;             ///< per tenant (same order)
  std::vector<BatchSpan> spans;                ///< every batch, in order
  std::vector<std::vector<double>> arrival_s;  ///< per tenant: arrival times
  double makespan_s = 0, busy_s = 0;           ///< whole device: last completion, busy time
  double span_s = 0;                           ///< the run: 0 to max(longest duration, last completion)
  /// Fraction of the run the device was busy.
  double utilization() const { return span_s > 0 ? busy_s / span_s : 0.0; }
  // With a PowerLoop:
  double energy_j = 0;                  ///< dynamic + leakage, whole run
  std::vector<double> tenant_energy_j;  ///< dynamic energy of each tenant's batches
  double max_temp_c = 0;                ///< hottest node
  double first_throttle_s = -1;         ///< time of the first clock change (-1: none)
  std::vector<ThermalSample> thermal;   ///< per poll
  bool critical = false;                ///< THERMAL_CRITICAL: the run stopped
  std::string fault;                    ///< its message
};

/// Several tenants sharing the device: one batch at a time, strict priority between tenants whose
/// batch may go (full, or its oldest request waited max_wait), the oldest request among equals;
/// or, when tenants have time slices, round robin by slice among tenants ready at once.
TenantsResult run_tenants(const std::vector<Tenant>& tenants, const PowerLoop* power = nullptr);

/// Chrome/Perfetto trace: a track per tenant with every request's span, a device track with batches.
std::string tenants_trace(const TenantsResult& r, const std::vector<Tenant>& tenants);

/// Report as JSON: counts, throughput, utilization, latency p50/p95/p99/max and mean, wait, batches.
nlohmann::ordered_json load_json(const LoadResult& r, const std::vector<double>& service_s, const LoadOptions& opts);
/// Prometheus text exposition: a latency histogram and gauges.
std::string load_prometheus(const TenantsResult& r, const std::vector<Tenant>& tenants, bool with_power);
/// Percentile q (0..1) of v (nearest rank).
double percentile_of(std::vector<double> v, double q);

}  // namespace npusim
