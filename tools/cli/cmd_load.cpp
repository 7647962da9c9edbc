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
#include "tools/llm/generator.h"
#include "tools/load/llm_serving.h"
#include "tools/load/load.h"
#include "tools/load/metrics_server.h"
#include "tools/load/tenants.h"
#include "tools/workload/workload.h"

namespace npusim::cli {
namespace {

/// `npusim load --llm`: LLM requests served with continuous batching (tools/load/llm_serving.h).
/// An iteration costs what the decoder's step program for its shape costs (llm::Generator::
/// step_cost): a prefill, the program for (batch 1, seq = prompt, past = one bucket); a decode
/// iteration of b sequences, the program compiled for batch b at the bucket of the longest context
/// (the shorter ones padded and masked, as a static-shape batch runs). Each shape is compiled and
/// simulated once; the scheduling between is arithmetic.
int cmd_load_llm(const Args& a, const config::NpuConfig& cfg) {
  const std::string model = a.positional()[0];
  if (!ends_with(model, ".onnx")) throw UsageError("load --llm needs a KV-cache decoder model (.onnx)");
  std::map<std::string, std::string> kv{{"model", model}, {"name", model}};
  const std::pair<const char*, const char*> flags[] = {
      {"--rate", "rate"}, {"--duration", "duration"},   {"--arrivals", "arrivals"}, {"--on", "on"},
      {"--off", "off"},   {"--max-batch", "max_batch"}, {"--seed", "seed"},         {"--precision", "precision"}};
  for (const auto& [flag, key] : flags)
    if (a.has(flag)) kv[key] = a.value(flag);
  if (!a.has("--max-batch")) kv["max_batch"] = "8";
  const TenantSpec spec = tenant_from_options(kv);
  const LoadOptions& lo = spec.tenant.load;
  std::vector<LlmRequest> reqs;
  if (lo.arrivals.rfind("trace:", 0) == 0) {
    reqs = read_llm_trace(lo.arrivals.substr(6));  // arrival_s,prompt_tokens,output_tokens per line
  } else {
    reqs = llm_requests(arrival_times(lo), parse_length_dist(a.value("--prompt-tokens", "8"), "--prompt-tokens"),
                        parse_length_dist(a.value("--output-tokens", "16"), "--output-tokens"), lo.seed);
  }
  llm::GeneratorOptions go;
  go.max_context = static_cast<uint32_t>(a.number("--max-context", 128));
  go.bucket_tokens = static_cast<uint32_t>(a.number("--bucket", 32));
  go.precision = spec.precision;
  if (go.max_context == 0 || go.bucket_tokens == 0) throw UsageError("--max-context and --bucket must be positive");
  llm::Generator g(cfg, model, go);
  LlmServeOptions so;
  so.max_batch = lo.max_batch;
  so.max_context = go.max_context;
  if (a.has("--kv-capacity")) {
    so.kv_capacity_tokens = a.number("--kv-capacity", 0);
    if (so.kv_capacity_tokens == 0) throw UsageError("--kv-capacity expects a number of tokens above 0");
  } else {  // what the device memory holds beside the weights and one step's scratch (generate --plan)
    uint64_t memory = 0;
    if (!config::parse_bytes(a.value("--memory", "4GiB"), memory) || memory == 0)
      throw UsageError("--memory expects a size such as 4GiB, got '" + a.value("--memory") + "'");
    uint32_t longest_prompt = 1;
    for (const LlmRequest& q : reqs)
      if (q.prompt_tokens < go.max_context) longest_prompt = std::max(longest_prompt, q.prompt_tokens);
    const auto [weights, scratch] = g.weight_and_scratch_bytes(longest_prompt);
    so.kv_capacity_tokens = memory > weights + scratch ? (memory - weights - scratch) / g.kv_bytes_per_token() : 0;
    if (so.kv_capacity_tokens == 0)
      throw isa::InputError(model + ": the weights and scratch (" + std::to_string(weights + scratch) +
                            " bytes) leave no room for a KV cache in " + std::to_string(memory) + " bytes (--memory)");
  }
  // The step shapes the run visited, (batch, seq, past) -> cost, for the report.
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, llm::StepCost> shapes;
  auto priced = [&](uint32_t b, uint32_t seq, uint32_t past) {
    return (shapes[{b, seq, past}] = g.step_cost(b, seq, past)).seconds;
  };
  LlmStepCosts cost;
  cost.prefill_s = [&](uint32_t prompt) { return priced(1, prompt, g.bucket_of(0)); };
  cost.decode_s = [&](uint32_t b, uint32_t context) { return priced(b, 1, g.bucket_of(context)); };
  const auto t0 = std::chrono::steady_clock::now();
  const LlmServeResult r = run_llm_serving(reqs, so, cost);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::ordered_json report;
  report["config"] = cfg.name;
  report["model"] = model;
  report["prefill_policy"] = "prefill-first";
  report["bucket_tokens"] = go.bucket_tokens;
  report["kv_cache_bytes_per_token"] = g.kv_bytes_per_token();
  report.update(llm_json(r, so));
  nlohmann::ordered_json steps = nlohmann::ordered_json::array();
  for (const auto& [shape, c] : shapes)
    steps.push_back({{"batch", std::get<0>(shape)},
                     {"seq", std::get<1>(shape)},
                     {"past", std::get<2>(shape)},
                     {"cycles", c.cycles},
                     {"seconds", c.seconds},
                     {"dram_bytes", c.dram_bytes}});
  report["step_programs"] = std::move(steps);  // each compiled and simulated once
  report["wall_s"] = json_f(wall, 6);          // compiling and timing each step shape once included
  if (a.has("--report")) write_text_file(a.value("--report"), stats::json_text(report));
  if (a.has("--metrics")) write_text_file(a.value("--metrics"), llm_prometheus(r, so));
  if (a.has("--trace")) write_text_file(a.value("--trace"), llm_trace(r, reqs, so));
  if (a.has("--kv-csv")) {
    std::string csv = "time_s,used_tokens,reserved_tokens,running,waiting\n";
    for (const LlmOccupancy& c : r.occupancy)
      csv += format_g(c.t_s, 9) + "," + std::to_string(c.used_tokens) + "," + std::to_string(c.reserved_tokens) + "," +
             std::to_string(c.running) + "," + std::to_string(c.waiting) + "\n";
    write_text_file(a.value("--kv-csv"), csv);
  }
  if (a.has("--latency-csv")) {
    std::string csv = "request,arrival_s,prompt_tokens,output_tokens,ttft_s,tpot_s,latency_s,refused\n";
    for (size_t i = 0; i < reqs.size(); ++i) {
      const LlmRequestResult& q = r.requests[i];
      csv += std::to_string(i) + "," + format_g(reqs[i].arrival_s, 9) + "," + std::to_string(reqs[i].prompt_tokens) +
             "," + std::to_string(reqs[i].output_tokens) + "," + format_g(q.ttft_s, 9) + "," + format_g(q.tpot_s, 9) +
             "," + format_g(q.refused ? 0.0 : q.done_s - reqs[i].arrival_s, 9) + "," + (q.refused ? "1" : "0") + "\n";
    }
    write_text_file(a.value("--latency-csv"), csv);
  }
  for (size_t i = 0; i < reqs.size(); ++i)
    if (r.requests[i].refused)
      std::fprintf(stderr, "note: request %zu (arrival %s) refused: %s\n", i, format_g(reqs[i].arrival_s, 9).c_str(),
                   r.requests[i].refusal.c_str());
  if (!a.flag("--quiet")) {
    const nlohmann::ordered_json& tt = report["ttft_s"];
    const nlohmann::ordered_json& tp = report["tpot_s"];
    std::printf(
        "llm load on %s: %llu requests, %llu served, %llu refused; %llu tokens, %.6g tokens/s; TTFT p50 %.6g s, p99 "
        "%.6g s; TPOT p50 %.6g s, p99 %.6g s; mean decode batch %.4g; KV cache %llu tokens, at most %llu used (%.3g s "
        "wall)\n",
        cfg.name.c_str(), static_cast<unsigned long long>(reqs.size()), static_cast<unsigned long long>(r.served),
        static_cast<unsigned long long>(r.refused), static_cast<unsigned long long>(r.tokens), r.tokens_per_s,
        tt["p50"].get<double>(), tt["p99"].get<double>(), tp["p50"].get<double>(), tp["p99"].get<double>(),
        report["iterations"]["mean_decode_batch"].get<double>(), static_cast<unsigned long long>(so.kv_capacity_tokens),
        report["kv_cache"]["max_used_tokens"].get<unsigned long long>(), wall);
  }
  return kExitOk;
}

/// `npusim load`: request streams against the NPU with dynamic batching (tools/load/load.h).
int cmd_load(const Args& a) {
  if (!a.has("--config")) throw UsageError("load needs --config CONFIG.yaml");
  if (a.positional().size() != 1 && !a.has("--tenants"))
    throw UsageError("load needs one MODEL (.onnx, .npub or .npus) or --tenants TENANTS.yaml");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  if (a.flag("--llm")) {
    if (a.positional().size() != 1 || a.has("--tenants") || a.flag("--thermal") || a.has("--thermal-csv"))
      throw UsageError("load --llm serves one decoder MODEL.onnx (no --tenants or --thermal)");
    for (const char* o : {"--max-wait", "--priority", "--queue-csv", "--metrics-port", "--no-cold-start"})
      if (std::string(o) == "--no-cold-start" ? a.flag(o) : a.has(o))
        throw UsageError(std::string(o) + " does not apply to load --llm (continuous batching: docs/serving.md)");
    return cmd_load_llm(a, cfg);
  }
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
    "       npusim load --config CONFIG.yaml --tenants TENANTS.yaml [--duration 60s] [outputs]\n"
    "       npusim load --config CONFIG.yaml DECODER.onnx --llm [--prompt-tokens A..B] [--output-tokens A..B]\n"
    "                   [--arrivals poisson|onoff|trace:REQS.csv] [--max-batch N] [--kv-capacity TOKENS]\n"
    "                   [--max-context L] [--bucket B] [--kv-csv K.csv] [outputs]\n",
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
    "--llm serves a KV-cache decoder (npusim generate's models) with iteration-level continuous\n"
    "batching: requests (prompt and output lengths from --prompt-tokens/--output-tokens, or a trace\n"
    "of arrival_s,prompt_tokens,output_tokens) join the batch after their prefill and leave it after\n"
    "their last token; admission reserves prompt + output tokens of the KV cache; a request that can\n"
    "never fit is refused. Reports TTFT/TPOT percentiles, tokens/s and cache occupancy.\n"
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
        valued("--max-batch", "N", "largest batch, 1 to 64 (default 1; with --llm 8)"),
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
        flag("--llm", "serve MODEL as a KV-cache decoder with continuous batching (docs/serving.md)"),
        valued("--prompt-tokens", "N|A..B", "(--llm) prompt length, fixed or uniform (default 8)"),
        valued("--output-tokens", "N|A..B", "(--llm) tokens generated per request, fixed or uniform (default 16)"),
        valued("--kv-capacity", "TOKENS", "(--llm) KV-cache tokens the device holds (default: what --memory leaves)"),
        valued("--memory", "BYTES", "(--llm) device memory for weights, scratch and cache (default 4GiB)"),
        valued("--max-context", "L", "(--llm) tokens one sequence may hold (default 128)"),
        valued("--bucket", "B", "(--llm) context bucket of the decode programs (default 32)"),
        valued("--kv-csv", "K.csv", "(--llm) cache occupancy and batch over time"),
        flag("--quiet", "no summary"),
    },
    "",
    cmd_load,
});

}  // namespace
}  // namespace npusim::cli
