// LLM serving with iteration-level continuous batching (tools/load/llm_serving.h).
#include "tools/load/llm_serving.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>

#include "base/errors.h"
#include "base/json.h"
#include "base/stats.h"
#include "base/text.h"
#include "tools/load/load.h"

namespace npusim {
namespace {

std::string num(double v) {  // this output's precision
  return format_g(v, 9);
}

/// A sequence in the running batch.
struct Running {
  size_t request = 0;      ///< index into the requests
  uint32_t context = 0;    ///< tokens in its cache
  uint32_t generated = 0;  ///< tokens it has produced
};

/// Parses an unsigned integer filling all of `s` (no sign, no spaces).
bool parse_u32(const std::string& s, uint32_t& out) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) || s.size() > 9)
    return false;
  out = static_cast<uint32_t>(std::stoul(s));
  return true;
}

/// Mean, p50, p90, p99 and max of `v` as JSON.
nlohmann::ordered_json summary(const std::vector<double>& v) {
  const double mean = v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return {{"mean", json_g(mean, 9)},
          {"p50", json_g(percentile_of(v, 0.5), 9)},
          {"p90", json_g(percentile_of(v, 0.9), 9)},
          {"p99", json_g(percentile_of(v, 0.99), 9)},
          {"max", json_g(v.empty() ? 0 : *std::max_element(v.begin(), v.end()), 9)}};
}

/// The served requests' TTFT, TPOT (those with two tokens or more) and latency.
struct Samples {
  std::vector<double> ttft, tpot, latency;
};
Samples samples(const LlmServeResult& r, const std::vector<LlmRequest>* reqs) {
  Samples s;
  for (size_t i = 0; i < r.requests.size(); ++i) {
    const LlmRequestResult& q = r.requests[i];
    if (q.refused) continue;
    s.ttft.push_back(q.ttft_s);
    if (q.done_s > q.first_token_s) s.tpot.push_back(q.tpot_s);
    if (reqs) s.latency.push_back(q.done_s - (*reqs)[i].arrival_s);
  }
  return s;
}

/// Time-weighted mean of the used cache tokens over [0, makespan] (occupancy is piecewise
/// constant between samples).
double mean_used_tokens(const LlmServeResult& r) {
  if (r.makespan_s <= 0 || r.occupancy.empty()) return 0;
  double area = 0;
  for (size_t k = 0; k + 1 < r.occupancy.size(); ++k)
    area += static_cast<double>(r.occupancy[k].used_tokens) * (r.occupancy[k + 1].t_s - r.occupancy[k].t_s);
  return area / r.makespan_s;
}

}  // namespace

LlmServeResult run_llm_serving(const std::vector<LlmRequest>& reqs, const LlmServeOptions& o,
                               const LlmStepCosts& cost) {
  if (o.max_batch == 0 || o.kv_capacity_tokens == 0 || o.max_context == 0)
    throw std::invalid_argument("LLM serving needs a maximum batch, a KV-cache capacity and a maximum context above 0");
  LlmServeResult r;
  r.requests.resize(reqs.size());
  std::vector<size_t> order(reqs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return reqs[a].arrival_s < reqs[b].arrival_s; });
  // Admission reserves a request's whole footprint (prompt + output tokens), so a running
  // sequence never runs out of cache and nothing is preempted.
  auto need = [&](size_t i) { return uint64_t{reqs[i].prompt_tokens} + reqs[i].output_tokens; };
  std::deque<size_t> waiting;    // arrived, admissible some day, first come first served
  std::vector<Running> running;  // the batch
  uint64_t reserved = 0;         // tokens reserved by the running sequences
  size_t next = 0;               // next arrival in `order`
  double t = 0;
  auto sample = [&] {
    LlmOccupancy s;
    s.t_s = t;
    for (const Running& q : running) s.used_tokens += q.context;
    s.reserved_tokens = reserved;
    s.running = static_cast<uint32_t>(running.size());
    s.waiting = static_cast<uint32_t>(waiting.size());
    r.occupancy.push_back(s);
  };
  auto finish = [&](size_t i) {
    LlmRequestResult& q = r.requests[i];
    q.done_s = t;
    const uint32_t n = reqs[i].output_tokens;
    q.tpot_s = n > 1 ? (q.done_s - q.first_token_s) / (n - 1) : 0;
    reserved -= need(i);
    ++r.served;
    r.tokens += n;
    r.makespan_s = std::max(r.makespan_s, t);
  };
  for (;;) {
    // Arrivals up to now join the queue, or are refused when they can never fit.
    for (; next < order.size() && reqs[order[next]].arrival_s <= t; ++next) {
      const size_t i = order[next];
      LlmRequestResult& q = r.requests[i];
      const LlmRequest& rq = reqs[i];
      if (rq.prompt_tokens == 0 || rq.output_tokens == 0)
        q.refusal = "a request needs at least one prompt token and one output token";
      else if (need(i) > o.max_context)
        q.refusal = std::to_string(rq.prompt_tokens) + " prompt + " + std::to_string(rq.output_tokens) +
                    " output tokens exceed the maximum context of " + std::to_string(o.max_context) + " tokens";
      else if (need(i) > o.kv_capacity_tokens)
        q.refusal = std::to_string(need(i)) + " tokens exceed the KV-cache capacity of " +
                    std::to_string(o.kv_capacity_tokens) + " tokens";
      if (!q.refusal.empty()) {
        q.refused = true;
        ++r.refused;
        continue;
      }
      waiting.push_back(i);
    }
    if (running.empty() && waiting.empty()) {
      if (next == order.size()) break;
      t = std::max(t, reqs[order[next]].arrival_s);  // idle until the next arrival
      continue;
    }
    // Prefill first: the oldest waiting request is admitted when a batch slot is free and its
    // footprint fits beside the reservations; its prefill runs now, before the next decode step
    // (head of line: a request that does not fit yet holds back the ones behind it).
    if (!waiting.empty() && running.size() < o.max_batch && reserved + need(waiting.front()) <= o.kv_capacity_tokens) {
      const size_t i = waiting.front();
      waiting.pop_front();
      reserved += need(i);
      sample();
      LlmIteration it;
      it.start_s = t, it.prefill = true, it.batch = 1, it.context = reqs[i].prompt_tokens, it.request = i;
      t += cost.prefill_s(reqs[i].prompt_tokens);
      it.end_s = t;
      r.iterations.push_back(it);
      r.busy_s += it.end_s - it.start_s;
      LlmRequestResult& q = r.requests[i];
      q.admitted_s = it.start_s;
      q.first_token_s = t;
      q.ttft_s = t - reqs[i].arrival_s;
      if (reqs[i].output_tokens == 1)
        finish(i);
      else
        running.push_back({i, reqs[i].prompt_tokens, 1});
      continue;
    }
    if (running.empty())  // a waiting request fits an empty device (checked on arrival)
      throw std::logic_error("LLM serving: a waiting request does not fit an idle device");
    // One decode iteration of the whole batch: every sequence appends one token.
    uint32_t longest = 0;
    for (const Running& q : running) longest = std::max(longest, q.context);
    sample();
    LlmIteration it;
    it.start_s = t, it.batch = static_cast<uint32_t>(running.size()), it.context = longest;
    t += cost.decode_s(it.batch, longest);
    it.end_s = t;
    r.iterations.push_back(it);
    r.busy_s += it.end_s - it.start_s;
    std::vector<Running> still;
    for (Running q : running) {
      ++q.context, ++q.generated;
      if (q.generated == reqs[q.request].output_tokens)
        finish(q.request);  // leaves the batch after this iteration
      else
        still.push_back(q);
    }
    running = std::move(still);
  }
  sample();  // the empty end state
  r.tokens_per_s = r.makespan_s > 0 ? static_cast<double>(r.tokens) / r.makespan_s : 0;
  return r;
}

nlohmann::ordered_json llm_json(const LlmServeResult& r, const LlmServeOptions& o) {
  const Samples s = samples(r, nullptr);
  uint64_t prefills = 0, decodes = 0, batch_sum = 0, max_used = 0, max_reserved = 0;
  uint32_t max_batch_seen = 0;
  for (const LlmIteration& it : r.iterations) {
    if (it.prefill) {
      ++prefills;
      continue;
    }
    ++decodes, batch_sum += it.batch;
    max_batch_seen = std::max(max_batch_seen, it.batch);
  }
  for (const LlmOccupancy& c : r.occupancy)
    max_used = std::max(max_used, c.used_tokens), max_reserved = std::max(max_reserved, c.reserved_tokens);
  nlohmann::ordered_json refusals = nlohmann::ordered_json::array();
  for (size_t i = 0; i < r.requests.size(); ++i)
    if (r.requests[i].refused) refusals.push_back({{"request", i}, {"reason", r.requests[i].refusal}});
  nlohmann::ordered_json j;
  j["requests"] = r.requests.size();
  j["served"] = r.served;
  j["refused"] = r.refused;
  j["tokens"] = r.tokens;
  j["tokens_per_s"] = json_g(r.tokens_per_s, 9);
  j["makespan_s"] = json_g(r.makespan_s, 9);
  j["utilization"] = json_g(r.makespan_s > 0 ? r.busy_s / r.makespan_s : 0, 9);
  j["ttft_s"] = summary(s.ttft);
  j["tpot_s"] = summary(s.tpot);
  j["iterations"] = {{"prefill", prefills},
                     {"decode", decodes},
                     {"mean_decode_batch", json_g(decodes ? static_cast<double>(batch_sum) / decodes : 0, 9)},
                     {"max_decode_batch", max_batch_seen}};
  j["kv_cache"] = {{"capacity_tokens", o.kv_capacity_tokens},
                   {"max_used_tokens", max_used},
                   {"max_reserved_tokens", max_reserved},
                   {"mean_used_tokens", json_g(mean_used_tokens(r), 9)}};
  j["max_batch"] = o.max_batch;
  j["max_context"] = o.max_context;
  j["refusals"] = std::move(refusals);
  return j;
}

std::string llm_prometheus(const LlmServeResult& r, const LlmServeOptions& o) {
  std::ostringstream os;
  const Samples s = samples(r, nullptr);
  auto histogram = [&](const char* name, const char* help, std::vector<double> v) {
    os << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    std::sort(v.begin(), v.end());
    const double buckets[] = {1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01,
                              0.02, 0.05, 0.1,  0.2,  0.5,  1,    2,    5,    10};
    for (double b : buckets)
      os << name << "_bucket{le=\"" << num(b) << "\"} " << (std::upper_bound(v.begin(), v.end(), b) - v.begin())
         << "\n";
    os << name << "_bucket{le=\"+Inf\"} " << v.size() << "\n"
       << name << "_sum " << num(std::accumulate(v.begin(), v.end(), 0.0)) << "\n"
       << name << "_count " << v.size() << "\n";
  };
  histogram("npusim_llm_ttft_seconds", "Time to first token (arrival to the end of the prefill), simulated.", s.ttft);
  histogram("npusim_llm_tpot_seconds", "Time per output token after the first, per request, simulated.", s.tpot);
  auto gauge = [&](const char* name, const char* type, const char* help, double v) {
    os << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
       << name << " " << num(v) << "\n";
  };
  gauge("npusim_llm_tokens_per_second", "gauge", "Generated tokens per simulated second of the run.", r.tokens_per_s);
  gauge("npusim_llm_generated_tokens_total", "counter", "Tokens generated for served requests.",
        static_cast<double>(r.tokens));
  os << "# HELP npusim_llm_requests_total Requests by outcome.\n# TYPE npusim_llm_requests_total counter\n"
     << "npusim_llm_requests_total{outcome=\"served\"} " << r.served << "\n"
     << "npusim_llm_requests_total{outcome=\"refused\"} " << r.refused << "\n";
  uint64_t max_used = 0;
  for (const LlmOccupancy& c : r.occupancy) max_used = std::max(max_used, c.used_tokens);
  gauge("npusim_llm_kv_cache_capacity_tokens", "gauge", "KV-cache tokens the device holds.",
        static_cast<double>(o.kv_capacity_tokens));
  gauge("npusim_llm_kv_cache_used_tokens_max", "gauge", "Most KV-cache tokens in use at once.",
        static_cast<double>(max_used));
  gauge("npusim_llm_kv_cache_occupancy_mean_ratio", "gauge", "Time-weighted mean of used over capacity.",
        mean_used_tokens(r) / static_cast<double>(o.kv_capacity_tokens));
  uint64_t decodes = 0, batch_sum = 0;
  for (const LlmIteration& it : r.iterations)
    if (!it.prefill) ++decodes, batch_sum += it.batch;
  gauge("npusim_llm_decode_batch_mean", "gauge", "Mean sequences per decode iteration.",
        decodes ? static_cast<double>(batch_sum) / static_cast<double>(decodes) : 0.0);
  gauge("npusim_device_utilization", "gauge", "Fraction of time the NPU was busy.",
        r.makespan_s > 0 ? r.busy_s / r.makespan_s : 0.0);
  return os.str();
}

std::string llm_trace(const LlmServeResult& r, const std::vector<LlmRequest>& reqs, const LlmServeOptions& o) {
  using nlohmann::ordered_json;
  ordered_json ev = ordered_json::array();
  auto name_track = [&](int tid, const std::string& name) {
    ev.push_back({{"ph", "M"}, {"pid", 1}, {"tid", tid}, {"name", "thread_name"}, {"args", {{"name", name}}}});
  };
  ev.push_back({{"ph", "M"}, {"pid", 1}, {"name", "process_name"}, {"args", {{"name", "npusim load --llm"}}}});
  name_track(0, "NPU iterations");
  for (uint32_t k = 0; k < o.max_batch; ++k) name_track(static_cast<int>(k + 1), "batch slot " + std::to_string(k));
  for (const LlmIteration& it : r.iterations)
    ev.push_back(
        {{"ph", "X"},
         {"pid", 1},
         {"tid", 0},
         {"name", it.prefill ? "prefill " + std::to_string(it.request) : "decode x" + std::to_string(it.batch)},
         {"ts", json_g(it.start_s * 1e6, 9)},
         {"dur", json_g((it.end_s - it.start_s) * 1e6, 9)},
         {"args", {{"batch", it.batch}, {"context", it.context}}}});
  // Each served request on the lowest batch slot free from its admission to its last token (a slot
  // is one of max_batch sequences the batch holds at once).
  std::vector<double> slot_free(o.max_batch, -1.0);
  std::vector<size_t> by_admission;
  for (size_t i = 0; i < r.requests.size(); ++i)
    if (!r.requests[i].refused) by_admission.push_back(i);
  std::stable_sort(by_admission.begin(), by_admission.end(),
                   [&](size_t a, size_t b) { return r.requests[a].admitted_s < r.requests[b].admitted_s; });
  for (size_t i : by_admission) {
    const LlmRequestResult& q = r.requests[i];
    size_t k = 0;
    while (k + 1 < slot_free.size() && slot_free[k] > q.admitted_s) ++k;
    slot_free[k] = q.done_s;
    ev.push_back({{"ph", "X"},
                  {"pid", 1},
                  {"tid", static_cast<int>(k + 1)},
                  {"name", "request " + std::to_string(i)},
                  {"ts", json_g(q.admitted_s * 1e6, 9)},
                  {"dur", json_g((q.done_s - q.admitted_s) * 1e6, 9)},
                  {"args",
                   {{"prompt_tokens", reqs[i].prompt_tokens},
                    {"output_tokens", reqs[i].output_tokens},
                    {"ttft_s", json_g(q.ttft_s, 9)},
                    {"tpot_s", json_g(q.tpot_s, 9)}}}});
  }
  for (const LlmOccupancy& c : r.occupancy) {
    ev.push_back({{"ph", "C"},
                  {"pid", 1},
                  {"name", "KV cache tokens"},
                  {"ts", json_g(c.t_s * 1e6, 9)},
                  {"args", {{"used", c.used_tokens}, {"reserved", c.reserved_tokens}}}});
    ev.push_back({{"ph", "C"},
                  {"pid", 1},
                  {"name", "sequences"},
                  {"ts", json_g(c.t_s * 1e6, 9)},
                  {"args", {{"running", c.running}, {"waiting", c.waiting}}}});
  }
  ordered_json trace;
  trace["displayTimeUnit"] = "ms";
  trace["traceEvents"] = std::move(ev);
  return stats::json_text(trace);
}

std::vector<LlmRequest> read_llm_trace(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw InputError(file + ": cannot open the LLM request trace");
  std::vector<LlmRequest> out;
  std::string line;
  size_t k = 0;
  while (std::getline(in, line)) {
    ++k;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) {
      x.erase(0, x.find_first_not_of(" \t"));
      x.erase(x.find_last_not_of(" \t") + 1);
      f.push_back(x);
    }
    char* e = nullptr;
    const double at = f.empty() ? 0 : std::strtod(f[0].c_str(), &e);
    const bool time_ok = !f.empty() && !f[0].empty() && e == f[0].c_str() + f[0].size();
    if (k == 1 && !time_ok) continue;  // a header such as arrival_s,prompt_tokens,output_tokens
    LlmRequest q;
    if (f.size() < 3 || !time_ok || !std::isfinite(at) || at < 0 || !parse_u32(f[1], q.prompt_tokens) ||
        !parse_u32(f[2], q.output_tokens) || q.prompt_tokens == 0 || q.output_tokens == 0)
      throw InputError(file + ":" + std::to_string(k) +
                       ": expected arrival_s,prompt_tokens,output_tokens (a time >= 0 and two integers >= 1), got '" +
                       line + "'");
    if (static_cast<double>(out.size()) >= kMaxRequests)
      throw InputError(file + ":" + std::to_string(k) + ": more than " + format_g(kMaxRequests, 6) +
                       " requests, the most a run may have");
    q.arrival_s = at;
    out.push_back(q);
  }
  if (out.empty()) throw InputError(file + ": no requests (arrival_s,prompt_tokens,output_tokens per line)");
  return out;
}

LengthDist parse_length_dist(const std::string& text, const std::string& what) {
  LengthDist d;
  const size_t dots = text.find("..");
  const bool ok = dots == std::string::npos
                      ? parse_u32(text, d.lo) && (d.hi = d.lo, true)
                      : parse_u32(text.substr(0, dots), d.lo) && parse_u32(text.substr(dots + 2), d.hi);
  if (!ok || d.lo == 0 || d.hi < d.lo)
    throw InputError(what + " '" + text + "': expected a token count N or a uniform range A..B (1 <= A <= B)");
  return d;
}

std::vector<LlmRequest> llm_requests(const std::vector<double>& arrival_s, LengthDist prompt, LengthDist output,
                                     uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);  // apart from the arrival stream of the same seed
  std::uniform_int_distribution<uint32_t> p(prompt.lo, prompt.hi), n(output.lo, output.hi);
  std::vector<LlmRequest> out;
  out.reserve(arrival_s.size());
  for (double t : arrival_s) {
    LlmRequest q;
    q.arrival_s = t;
    q.prompt_tokens = p(rng);
    q.output_tokens = n(rng);
    out.push_back(q);
  }
  return out;
}

}  // namespace npusim
