// `npusim load`: request streams against the NPU with dynamic batching, tenants and power in the
// loop (tools/load/load.h).
#include <yaml-cpp/yaml.h>

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

#include "base/text.h"
#include "base/units.h"
#include "compiler/compile.h"
#include "isa/diag.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/cli/command.h"
#include "tools/cli/reports.h"
#include "tools/load/load.h"
#include "tools/load/metrics_server.h"
#include "tools/workload/workload.h"

namespace npusim::cli {
namespace {

/// A program's latency on `cfg` (timing only; inputs as zeros) and its cold start: the time to
/// stream its constant regions (weights) from DRAM at the configuration's peak bandwidth.
struct ProgramTiming {
  double seconds = 0, cold_start_s = 0;  ///< latency; weights from DRAM at peak bandwidth
  std::vector<MarkerSpan> operators;     ///< operator timeline
  std::vector<EngineSpan> engines;       ///< engine busy stretches
};
ProgramTiming program_timing(const config::NpuConfig& cfg, const isa::Program& prog) {
  const RunResult r = timing_run(cfg, prog, /*engine_spans=*/true);
  uint64_t weights = 0;
  for (const auto& reg : prog.regions)
    if (reg.role == isa::RegionRole::Const) weights += reg.size;
  return {r.seconds, r.dram_peak_bandwidth > 0 ? static_cast<double>(weights) / r.dram_peak_bandwidth : 0.0,
          r.marker_spans, r.engine_spans};
}

/// One tenant's options from CLI flags or a tenants.yaml entry (key -> text). `programs` (optional)
/// receives its compiled program per batch size (one entry for a .npub: batch b runs it b times).
Tenant make_tenant(const config::NpuConfig& cfg, const std::map<std::string, std::string>& kv, const std::string& where,
                   std::vector<isa::Program>* programs = nullptr) {
  static const std::set<std::string> keys = {"name",      "model",     "rate",     "arrivals", "on",
                                             "off",       "max_batch", "max_wait", "priority", "seed",
                                             "precision", "duration",  "slice"};
  for (const auto& [k, v] : kv)
    if (!keys.count(k)) throw isa::InputError(where + ": unknown key '" + k + "'");
  auto get = [&](const std::string& k, const std::string& def) {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  };
  Tenant t;
  t.name = get("name", "default");
  // Names label report entries, trace tracks and Prometheus series: printable, no quotes or backslashes.
  if (t.name.empty() || std::any_of(t.name.begin(), t.name.end(), [](char c) {
        return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
      }))
    throw isa::InputError(where + ": name '" + t.name +
                          "' must be non-empty printable text without quotes or backslashes");
  const std::string model = get("model", "");
  if (model.empty()) throw isa::InputError(where + ": no model");
  LoadOptions& o = t.load;
  std::string rate = get("rate", "100/s");
  if (ends_with(rate, "/s")) rate = rate.substr(0, rate.size() - 2);
  char* end = nullptr;
  o.rate_per_s = std::strtod(rate.c_str(), &end);
  if (rate.empty() || *end || !(o.rate_per_s > 0))
    throw isa::InputError(where + ": rate expects requests per second such as 300/s");
  auto time_of = [&](const char* k, double& field, const char* def) {
    const std::string v = get(k, def);
    if (!config::parse_time(v, field))
      throw isa::InputError(where + ": " + k + " expects a time such as 60s or 2ms, got '" + v + "'");
  };
  time_of("duration", o.duration_s, "10s");
  time_of("max_wait", o.max_wait_s, "0s");
  time_of("on", o.on_s, "1s");
  time_of("off", o.off_s, "1s");
  if (!(o.on_s > 0)) throw isa::InputError(where + ": on expects a burst longer than 0s");
  time_of("slice", t.slice_s, "0s");
  unsigned long long n = 0;
  if (!config::parse_unsigned(get("max_batch", "1"), n) || n < 1 || n > 64)
    throw isa::InputError(where + ": max_batch expects 1 to 64");
  o.max_batch = static_cast<uint32_t>(n);
  if (!config::parse_unsigned(get("seed", "1"), n)) throw isa::InputError(where + ": seed expects an integer");
  o.seed = n;
  {
    const std::string pr = get("priority", "0");
    char* pe = nullptr;
    const long v = std::strtol(pr.c_str(), &pe, 10);
    if (pr.empty() || *pe || v < -1000 || v > 1000)
      throw isa::InputError(where + ": priority expects an integer from -1000 to 1000, got '" + pr + "'");
    t.priority = static_cast<int>(v);
  }
  o.arrivals = get("arrivals", "poisson");
  if (o.arrivals.rfind("trace:", 0) == 0) {
    const std::string file = o.arrivals.substr(6);
    std::ifstream in(file);
    if (!in) throw isa::InputError(file + ": cannot open");
    // One arrival per line: a time in seconds from the start, in the first column (further
    // columns are ignored); an optional header line first; any order (they are sorted).
    std::string line;
    size_t k = 0, beyond = 0;
    bool header_allowed = true;
    while (std::getline(in, line)) {
      ++k;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      const std::string first = line.substr(0, line.find(','));
      char* e = nullptr;
      const double x = std::strtod(first.c_str(), &e);
      const bool number = !first.empty() && e != first.c_str() &&
                          std::all_of(static_cast<const char*>(e), first.c_str() + first.size(),
                                      [](char c) { return c == ' ' || c == '\t'; });
      if (!number && header_allowed) {  // a header such as "timestamp" or "time_s,request"
        header_allowed = false;
        continue;
      }
      header_allowed = false;
      if (!number || !std::isfinite(x) || x < 0)
        throw isa::InputError(file + ":" + std::to_string(k) +
                              ": expected an arrival time in seconds (a finite number >= 0), got '" + first + "'");
      if (x >= o.duration_s) ++beyond;
      o.trace.push_back(x);
    }
    if (o.trace.empty()) throw isa::InputError(file + ": no arrival times (one time in seconds per line)");
    if (beyond == o.trace.size())
      throw isa::InputError(file + ": every arrival is at or after the duration (" + config::time_text(o.duration_s) +
                            "); raise --duration");
    if (beyond)
      std::fprintf(stderr, "note: %s: %zu of %zu arrivals come at or after the duration (%s) and are left out\n",
                   file.c_str(), beyond, o.trace.size(), config::time_text(o.duration_s).c_str());
    o.rate_per_s = static_cast<double>(o.trace.size() - beyond) / o.duration_s;  // offered: what the trace holds
    o.arrivals = "trace";
  } else if (o.arrivals != "poisson" && o.arrivals != "onoff") {
    throw isa::InputError(where + ": arrivals expects poisson, onoff or trace:FILE.csv");
  }
  // Service time of a batch of b: the model compiled for batch b (ONNX), else b runs back to back.
  const bool onnx = ends_with(model, ".onnx");
  if (const std::string p = get("precision", "fp16"); onnx && p != "fp16" && p != "bf16")
    throw isa::InputError(where + ": precision expects fp16 or bf16 for an ONNX model, got '" + p +
                          "' (for int8, serve the .npub of `npusim compile --precision int8 --calibrate DIR`)");
  for (uint32_t b = 1; b <= o.max_batch; ++b) {
    if (onnx) {
      compiler::CompileOptions co;
      co.precision = get("precision", "fp16");
      const compiler::CompiledModel m = compiler::compile(compiler::import_onnx(model, b), target_info(cfg), co);
      ProgramTiming pt = program_timing(cfg, m.program);
      t.service_s.push_back(pt.seconds);
      t.operators.push_back(std::move(pt.operators));
      t.engines.push_back(std::move(pt.engines));
      if (b == 1) t.cold_start_s = pt.cold_start_s;
      if (programs) programs->push_back(m.program);
    } else if (b == 1) {
      const isa::Program prog = load_program(model);
      ProgramTiming pt = program_timing(cfg, prog);
      t.service_s.push_back(pt.seconds);
      t.operators.push_back(std::move(pt.operators));
      t.engines.push_back(std::move(pt.engines));
      t.cold_start_s = pt.cold_start_s;
      if (programs) programs->push_back(prog);
    } else {
      t.service_s.push_back(b * t.service_s[0]);
      // b runs back to back: the first run's timelines repeated, each shifted by one service time.
      const auto repeated = [&](auto spans) {
        decltype(spans) all;
        for (uint32_t k = 0; k < b; ++k)
          for (auto sp : spans) {
            sp.start_s += k * t.service_s[0], sp.end_s += k * t.service_s[0];
            all.push_back(sp);
          }
        return all;
      };
      t.operators.push_back(repeated(t.operators[0]));
      t.engines.push_back(repeated(t.engines[0]));
    }
  }
  return t;
}

/// `npusim load`: request streams against the NPU with dynamic batching (tools/load/load.h).
int cmd_load(const Args& a) {
  if (!a.has("--config")) throw UsageError("load needs --config CONFIG.yaml");
  if (a.positional().size() != 1 && !a.has("--tenants"))
    throw UsageError("load needs one MODEL (.onnx, .npub or .npus) or --tenants TENANTS.yaml");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  const bool thermal = a.flag("--thermal") || a.has("--thermal-csv");
  std::vector<Tenant> ts;
  std::vector<std::vector<isa::Program>> programs;  // per tenant, per batch size (with --thermal)
  if (a.has("--tenants")) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(a.value("--tenants"));
    } catch (const YAML::Exception& e) {
      throw isa::InputError(a.value("--tenants") + ": " + e.msg);
    }
    if (!root["tenants"] || !root["tenants"].IsSequence())
      throw isa::InputError(a.value("--tenants") + ": expected a list under 'tenants'");
    for (size_t i = 0; i < root["tenants"].size(); ++i) {
      const YAML::Node e = root["tenants"][i];
      const std::string where = a.value("--tenants") + ": tenant " + std::to_string(i);
      if (!e.IsMap()) throw isa::InputError(where + ": expected a mapping");
      std::map<std::string, std::string> kv;
      for (const auto& p : e) {
        if (!p.first.IsScalar()) throw isa::InputError(where + ": expected a name as the key, got a list or mapping");
        if (!p.second.IsScalar()) throw isa::InputError(where + ": '" + p.first.Scalar() + "' must be a scalar");
        kv[p.first.Scalar()] = p.second.Scalar();
      }
      // Files named in a tenants file are relative to it (as a sweep file's are).
      auto resolve = [&](const std::string& f) { return path_beside(a.value("--tenants"), f); };
      if (kv.count("model")) kv["model"] = resolve(kv["model"]);
      if (kv.count("arrivals") && kv["arrivals"].rfind("trace:", 0) == 0)
        kv["arrivals"] = "trace:" + resolve(kv["arrivals"].substr(6));
      if (!kv.count("duration") && a.has("--duration")) kv["duration"] = a.value("--duration");
      programs.emplace_back();
      ts.push_back(make_tenant(cfg, kv, where, thermal ? &programs.back() : nullptr));
      for (size_t j = 0; j + 1 < ts.size(); ++j)  // names label the reports' and metrics' series
        if (ts[j].name == ts.back().name)
          throw isa::InputError(where + ": name '" + ts.back().name + "' is taken by tenant " + std::to_string(j));
    }
    if (ts.empty()) throw isa::InputError(a.value("--tenants") + ": 'tenants' lists no tenant");
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
    programs.emplace_back();
    ts.push_back(make_tenant(cfg, kv, "options", thermal ? &programs.back() : nullptr));
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
  std::string json = "{\"config\": \"" + cfg.name + "\", \"makespan_s\": " + std::to_string(r.makespan_s) +
                     ", \"utilization\": " + std::to_string(r.utilization()) + ", \"tenants\": [";
  const std::string prom = load_prometheus(r, ts, thermal);
  std::string queue = "tenant,time_s,queue_length\n", lat = "tenant,arrival_s,latency_s\n";
  for (size_t i = 0; i < ts.size(); ++i) {
    const LoadResult& t = r.tenants[i];
    std::string one = load_json(t, ts[i].service_s, ts[i].load);
    size_t cold = 0;  // the requests of the tenant's first batch (the one that loaded its weights)
    for (const auto& sp : r.spans)
      if (sp.tenant == i) {
        cold = sp.size;
        break;
      }
    char cold_text[200];
    std::snprintf(cold_text, sizeof cold_text,
                  ", \"cold_start_s\": %.9g, \"cold_requests\": %zu, \"cold_start_ratio\": %.9g, \"slice_s\": %.9g, ",
                  ts[i].cold_start_s, cold, t.requests ? static_cast<double>(cold) / t.requests : 0.0, ts[i].slice_s);
    one.insert(
        1, "\"name\": " + json_string(ts[i].name) + ", \"priority\": " + std::to_string(ts[i].priority) + cold_text);
    json += std::string(i ? ", " : "") + one;
    for (const auto& [tm, n] : t.queue_length)
      queue += ts[i].name + "," + std::to_string(tm) + "," + std::to_string(n) + "\n";
    for (size_t k = 0; k < t.latency_s.size(); ++k)
      lat += ts[i].name + "," + std::to_string(r.arrival_s[i][k]) + "," + std::to_string(t.latency_s[k]) + "\n";
  }
  json += "]";
  if (thermal) {
    char b[256];
    std::snprintf(b, sizeof b,
                  ", \"power\": {\"energy_j\": %.9g, \"average_w\": %.9g, \"max_temp_c\": %.6g, "
                  "\"first_throttle_s\": %.9g, \"critical\": %s, \"energy_per_inference_j\": [",
                  r.energy_j, r.makespan_s > 0 ? r.energy_j / r.makespan_s : 0.0, r.max_temp_c, r.first_throttle_s,
                  r.critical ? "true" : "false");
    json += b;
    for (size_t i = 0; i < ts.size(); ++i) {
      const uint64_t n = r.tenants[i].requests;
      std::snprintf(b, sizeof b, "%s%.9g", i ? ", " : "", n ? r.tenant_energy_j[i] / n : 0.0);
      json += b;
    }
    json += "], \"clock_changes\": [";
    double hz = 0;
    bool first = true;
    for (const ThermalSample& s : r.thermal) {
      if (s.hz == hz) continue;
      std::snprintf(b, sizeof b, "%s{\"t_s\": %.9g, \"hz\": %.9g, \"temp_c\": %.6g}", first ? "" : ", ", s.t_s, s.hz,
                    s.temp_c);
      json += b, hz = s.hz, first = false;
    }
    json += "]}";
  }
  json += "}";
  if (a.has("--thermal-csv")) {
    std::string csv = "time_s,temp_c,clock_hz,power_w\n";
    for (const ThermalSample& s : r.thermal) {
      char b[128];
      std::snprintf(b, sizeof b, "%.9g,%.6g,%.9g,%.6g\n", s.t_s, s.temp_c, s.hz, s.power_w);
      csv += b;
    }
    write_text_file(a.value("--thermal-csv"), csv);
  }
  if (a.has("--report")) write_text_file(a.value("--report"), json + "\n");
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
