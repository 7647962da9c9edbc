// `npusim load`: request streams against the NPU with dynamic batching, tenants and power in the
// loop (tools/load/load.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "base/json.h"
#include "base/stats.h"
#include "base/units.h"
#include "compiler/compile.h"
#include "isa/diag.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/cli/command.h"
#include "tools/cli/reports.h"
#include "tools/load/load.h"
#include "tools/load/metrics_server.h"
#include "tools/load/tenants.h"
#include "tools/workload/workload.h"

namespace npusim::cli {
namespace {

/// `npusim load`: request streams against the NPU with dynamic batching (tools/load/load.h).
int cmd_load(const Args& a) {
  if (!a.has("--config")) throw UsageError("load needs --config CONFIG.yaml");
  if (a.positional().size() != 1 && !a.has("--tenants"))
    throw UsageError("load needs one MODEL (.onnx, .npub or .npus) or --tenants TENANTS.yaml");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  const bool thermal = a.flag("--thermal") || a.has("--thermal-csv");
  std::vector<Tenant> ts;
  std::vector<std::vector<isa::Program>> programs;  // per tenant, per batch size (with --thermal)
  std::vector<TenantSpec> specs;
  if (a.has("--tenants")) {
    std::map<std::string, std::string> defaults;  // for tenants that give none
    if (a.has("--duration")) defaults["duration"] = a.value("--duration");
    specs = load_tenants_file(a.value("--tenants"), defaults);
  } else {
    std::map<std::string, std::string> kv{{"model", a.positional()[0]}, {"name", a.positional()[0]}};
    const std::pair<const char*, const char*> flags[] = {{"--rate", "rate"},
                                                         {"--duration", "duration"},
                                                         {"--arrivals", "arrivals"},
                                                         {"--on", "on"},
                                                         {"--off", "off"},
                                                         {"--max-batch", "max_batch"},
                                                         {"--max-wait", "max_wait"},
                                                         {"--seed", "seed"},
                                                         {"--precision", "precision"},
                                                         {"--priority", "priority"}};
    for (const auto& [flag, key] : flags)
      if (a.has(flag)) kv[key] = a.value(flag);
    specs.push_back(tenant_from_options(kv));
  }
  for (const TenantSpec& spec : specs) {
    programs.emplace_back();
    ts.push_back(make_tenant(cfg, spec, thermal ? &programs.back() : nullptr));
  }
  if (a.flag("--no-cold-start"))
    for (auto& t : ts) t.cold_start_s = 0;
  const auto t0 = std::chrono::steady_clock::now();
  // Power in the loop: a batch's time and dynamic energy at the governor's clock, simulated once per
  // (tenant, batch size, clock) the run visits.
  PowerLoop loop;
  std::map<std::tuple<size_t, uint32_t, double>, std::pair<double, double>> at_clock;  // -> (s, J at 1 V)
  const arch::EnergyModel energy(cfg.power);
  if (thermal) {
    loop.cfg = &cfg;
    loop.batch = [&](size_t t, uint32_t b, double hz, double volts) {
      const bool per_batch = programs[t].size() >= b;  // compiled for this batch size, else b runs
      const auto key = std::make_tuple(t, per_batch ? b : 1u, hz);
      auto it = at_clock.find(key);
      if (it == at_clock.end()) {
        config::NpuConfig c = cfg;
        c.clock_hz = hz;
        const RunResult run = timing_run(c, programs[t][per_batch ? b - 1 : 0]);
        arch::Activity act = run.activity.total();
        act.cycles = run.seconds * hz;
        it = at_clock.emplace(key, std::make_pair(run.seconds, arch::total(energy.dynamic(act, 1.0)))).first;
      }
      // Dynamic energy scales with V^2 (CV^2 switching); a .npub batch of b is b runs.
      const double k = per_batch ? 1.0 : b;
      return std::make_pair(k * it->second.first, k * it->second.second * volts * volts);
    };
  }
  const TenantsResult r = run_tenants(ts, thermal ? &loop : nullptr);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::ordered_json report;
  report["config"] = cfg.name;
  report["makespan_s"] = json_f(r.makespan_s, 6);
  report["utilization"] = json_f(r.utilization(), 6);
  report["tenants"] = nlohmann::ordered_json::array();
  const std::string prom = load_prometheus(r, ts, thermal);
  std::string queue = "tenant,time_s,queue_length\n", lat = "tenant,arrival_s,latency_s\n";
  for (size_t i = 0; i < ts.size(); ++i) {
    const LoadResult& t = r.tenants[i];
    size_t cold = 0;  // the requests of the tenant's first batch (the one that loaded its weights)
    for (const auto& sp : r.spans)
      if (sp.tenant == i) {
        cold = sp.size;
        break;
      }
    nlohmann::ordered_json one;
    one["name"] = ts[i].name;
    one["priority"] = ts[i].priority;
    one["cold_start_s"] = json_g(ts[i].cold_start_s, 9);
    one["cold_requests"] = cold;
    one["cold_start_ratio"] = json_g(t.requests ? static_cast<double>(cold) / t.requests : 0.0, 9);
    one["slice_s"] = json_g(ts[i].slice_s, 9);
    one.update(load_json(t, ts[i].service_s, ts[i].load));
    report["tenants"].push_back(std::move(one));
    for (const auto& [tm, n] : t.queue_length)
      queue += ts[i].name + "," + std::to_string(tm) + "," + std::to_string(n) + "\n";
    for (size_t k = 0; k < t.latency_s.size(); ++k)
      lat += ts[i].name + "," + std::to_string(r.arrival_s[i][k]) + "," + std::to_string(t.latency_s[k]) + "\n";
  }
  if (thermal) {
    nlohmann::ordered_json power;
    power["energy_j"] = json_g(r.energy_j, 9);
    power["average_w"] = json_g(r.makespan_s > 0 ? r.energy_j / r.makespan_s : 0.0, 9);
    power["max_temp_c"] = json_g(r.max_temp_c, 6);
    power["first_throttle_s"] = json_g(r.first_throttle_s, 9);
    power["critical"] = r.critical;
    power["energy_per_inference_j"] = nlohmann::ordered_json::array();
    for (size_t i = 0; i < ts.size(); ++i) {
      const uint64_t n = r.tenants[i].requests;
      power["energy_per_inference_j"].push_back(json_g(n ? r.tenant_energy_j[i] / n : 0.0, 9));
    }
    power["clock_changes"] = nlohmann::ordered_json::array();
    double hz = 0;
    for (const ThermalSample& s : r.thermal) {
      if (s.hz == hz) continue;
      nlohmann::ordered_json change;
      change["t_s"] = json_g(s.t_s, 9), change["hz"] = json_g(s.hz, 9), change["temp_c"] = json_g(s.temp_c, 6);
      power["clock_changes"].push_back(std::move(change));
      hz = s.hz;
    }
    report["power"] = std::move(power);
  }
  if (a.has("--thermal-csv")) {
    std::string csv = "time_s,temp_c,clock_hz,power_w\n";
    for (const ThermalSample& s : r.thermal) {
      char b[128];
      std::snprintf(b, sizeof b, "%.9g,%.6g,%.9g,%.6g\n", s.t_s, s.temp_c, s.hz, s.power_w);
      csv += b;
    }
    write_text_file(a.value("--thermal-csv"), csv);
  }
  if (a.has("--report")) write_text_file(a.value("--report"), stats::json_text(report));
  if (a.has("--metrics")) write_text_file(a.value("--metrics"), prom);
  if (a.has("--queue-csv")) write_text_file(a.value("--queue-csv"), queue);
  if (a.has("--latency-csv")) write_text_file(a.value("--latency-csv"), lat);
  if (a.has("--trace")) write_text_file(a.value("--trace"), tenants_trace(r, ts));
  if (!a.flag("--quiet")) {
    std::printf("load on %s: NPU busy %.1f%% of %.6g s (%.3g s of wall time for the queueing simulation)\n",
                cfg.name.c_str(), 100 * r.utilization(), r.span_s, wall);
    for (size_t i = 0; i < ts.size(); ++i) {
      const LoadResult& t = r.tenants[i];
      const auto& l = t.latency_s;
      std::printf(
          "  %s: %llu requests (%s, %.6g/s offered, priority %d), throughput %.6g/s; latency p50 %.6g s, "
          "p95 %.6g s, p99 %.6g s, max %.6g s; service %.6g s alone, cold start %.3g s\n",
          ts[i].name.c_str(), static_cast<unsigned long long>(t.requests), ts[i].load.arrivals.c_str(),
          ts[i].load.rate_per_s, ts[i].priority, t.throughput_per_s(), percentile_of(l, 0.5), percentile_of(l, 0.95),
          percentile_of(l, 0.99), l.empty() ? 0.0 : *std::max_element(l.begin(), l.end()), ts[i].service_s[0],
          ts[i].cold_start_s);
      if (thermal && t.requests)
        std::printf("    energy %.6g J per inference (dynamic, at the clocks the governor chose)\n",
                    r.tenant_energy_j[i] / static_cast<double>(t.requests));
    }
    if (thermal) {
      std::printf("  power: %.6g J in all (leakage included), hottest %.4g C, ", r.energy_j, r.max_temp_c);
      if (r.first_throttle_s >= 0)
        std::printf("first clock change at %.6g s\n", r.first_throttle_s);
      else
        std::printf("no throttling\n");
    }
  }
  if (r.critical) std::fprintf(stderr, "npusim load: %s\n", r.fault.c_str());
  if (a.has("--metrics-port")) {
    // The finished run's metrics stay up for Prometheus to scrape (the simulation itself takes
    // well under the usual 15 s scrape interval).
    MetricsServerOptions mo;
    unsigned long long port = 0;
    if (!config::parse_unsigned(a.value("--metrics-port"), port) || port > 65535)
      throw UsageError("--metrics-port expects a TCP port (0 to 65535)");
    mo.port = static_cast<int>(port);
    if (a.has("--metrics-linger") && !config::parse_time(a.value("--metrics-linger"), mo.linger_s))
      throw UsageError("--metrics-linger expects a time such as 30s");
    mo.port_file = a.value("--metrics-port-file");
    mo.announce = !a.flag("--quiet");
    try {
      serve_metrics(mo, [&] { return prom; });
    } catch (const std::runtime_error& e) {
      throw isa::InputError(e.what());
    }
  }
  return r.critical ? kExitFault : kExitOk;
}

const bool registered = register_command({
    "load",
    20,
    "serve a request stream with dynamic batching: latency percentiles and throughput",
    "usage: npusim load --config CONFIG.yaml MODEL.(onnx|npub|npus) [--rate 300/s] [--duration 60s]\n"
    "                   [--arrivals poisson|onoff|trace:FILE.csv] [--on 1s --off 1s] [--max-batch N]\n"
    "                   [--max-wait 2ms] [--seed S] [--priority P] [--report R.json] [--metrics M.prom]\n"
    "                   [--queue-csv Q.csv] [--latency-csv L.csv] [--trace T.json] [--no-cold-start]\n"
    "                   [--thermal] [--thermal-csv TH.csv] [--metrics-port P [--metrics-linger 30s]]\n"
    "       npusim load --config CONFIG.yaml --tenants TENANTS.yaml [--duration 60s] [outputs]\n",
    "Requests arrive (Poisson, bursty on/off at the same mean rate, or the timestamps of a CSV) and\n"
    "are served first come first served, a batch at a time: a batch goes when max-batch requests\n"
    "wait or the oldest has waited max-wait. A batch of b takes the simulated latency of the model\n"
    "compiled for batch b (ONNX; a .npub runs b times back to back). Reports p50/p95/p99/max latency,\n"
    "throughput and utilization; --metrics writes a Prometheus text file, --trace a Perfetto trace of\n"
    "requests and batches. Several tenants (--tenants) share the device by priority; each tenant's\n"
    "first batch pays its cold start (weights from DRAM). --thermal puts power and temperature in the\n"
    "loop: each batch runs at the clock the governor picks, its energy heats the thermal network, and\n"
    "the report gains energy per inference, the hottest temperature and the clock changes\n"
    "(--thermal-csv: temperature, clock and power per governor poll); THERMAL_CRITICAL exits 1.\n"
    "--metrics-port serves the metrics at http://127.0.0.1:P/metrics after the run, until\n"
    "interrupted or for --metrics-linger.\n"
    "docs/serving.md.\n",
    {
        valued("--config", "CONFIG.yaml", "the NPU"),
        valued("--tenants", "TENANTS.yaml",
               "several tenants from a file instead of MODEL and the options below\n"
               "(docs/serving.md); --duration is the default of its tenants"),
        valued("--rate", "R/s", "mean arrival rate (default 100/s)"),
        valued("--duration", "T", "how long requests arrive (default 10s)"),
        valued("--arrivals", "poisson|onoff|trace:FILE.csv",
               "the arrival process (default poisson); a trace holds one\n"
               "arrival time in seconds per line"),
        valued("--on", "T", "(onoff) length of a burst (default 1s)"),
        valued("--off", "T", "(onoff) length of a pause (default 1s)"),
        valued("--max-batch", "N", "largest batch, 1 to 64 (default 1)"),
        valued("--max-wait", "T", "longest the oldest request waits for a fuller batch (default 0s)"),
        valued("--seed", "S", "arrival process seed (default 1)"),
        valued("--precision", "P", "(.onnx) fp16 (default) or bf16"),
        valued("--priority", "P", "the tenant's priority, -1000 to 1000 (default 0)"),
        flag("--no-cold-start", "no tenant pays loading its weights on its first batch"),
        flag("--thermal", "power and temperature in the loop, at the governor's clocks"),
        valued("--thermal-csv", "TH.csv", "(implies --thermal) temperature, clock and power per governor poll"),
        valued("--report", "R.json", "the report as JSON"),
        valued("--metrics", "M.prom", "Prometheus text exposition of the run"),
        valued("--queue-csv", "Q.csv", "queue length over time, per tenant"),
        valued("--latency-csv", "L.csv", "every request's arrival and latency, per tenant"),
        valued("--trace", "T.json", "Perfetto trace of requests, batches, operators and engines"),
        valued("--metrics-port", "P", "serve the metrics at http://127.0.0.1:P/metrics after the run (0: any port)"),
        valued("--metrics-linger", "T", "(--metrics-port) stop serving after T (default: until interrupted)"),
        valued("--metrics-port-file", "FILE", "(--metrics-port) write the port there once listening"),
        flag("--quiet", "no summary"),
    },
    "",
    cmd_load,
});

}  // namespace
}  // namespace npusim::cli
