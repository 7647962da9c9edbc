// `npusim generate`: greedy decoding with a KV-cache decoder: the prompt's prefill, then one
// simulated decode step per new token (tools/llm/generator.h); stats per phase and per token.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/stats.h"
#include "isa/diag.h"
#include "sim/npu_config.h"
#include "tools/cli/command.h"
#include "tools/cli/reports.h"
#include "tools/llm/generator.h"
#include "tools/workload/npy.h"

namespace npusim::cli {
namespace {

/// The prompt: an integer .npy of any shape with one sequence (read as int64).
std::vector<int64_t> read_tokens(const std::string& file) {
  const NpyArray a = read_npy(file);
  std::vector<int64_t> t;
  const size_t n = a.data.size();
  if (a.descr == "<i8") {
    t.resize(n / 8);
    std::memcpy(t.data(), a.data.data(), n);
  } else if (a.descr == "<i4") {
    std::vector<int32_t> v(n / 4);
    std::memcpy(v.data(), a.data.data(), n);
    t.assign(v.begin(), v.end());
  } else {
    throw isa::InputError(file + ": tokens must be an int64 or int32 .npy, got dtype '" + a.descr + "'");
  }
  if (t.empty()) throw isa::InputError(file + ": the prompt holds no tokens");
  return t;
}

/// Value at quantile q (0..1) of `v` (nearest rank; v non-empty).
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(std::max(0.0, std::ceil(q * static_cast<double>(v.size())) - 1));
  return v[std::min(i, v.size() - 1)];
}

/// Sums each operator's cycles over the steps of one phase.
nlohmann::ordered_json operator_cycles(const std::vector<llm::StepResult>& steps) {
  std::vector<std::pair<std::string, uint64_t>> order;  // first-seen order
  std::map<std::string, size_t> at;
  for (const auto& s : steps)
    for (const auto& [name, c] : s.operator_cycles) {
      auto [it, fresh] = at.emplace(name, order.size());
      if (fresh) order.emplace_back(name, 0);
      order[it->second].second += c;
    }
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [name, c] : order) j[name] = c;
  return j;
}

/// `--plan`: cache bytes per token and what fits the device memory.
int plan(const Args& a, const config::NpuConfig& cfg, llm::Generator& g, uint32_t prompt, uint32_t max_context) {
  uint64_t memory = 0;
  if (!config::parse_bytes(a.value("--memory", "4GiB"), memory) || memory == 0)
    throw UsageError("--memory expects a size such as 4GiB, got '" + a.value("--memory") + "'");
  const auto [weights, scratch] = g.weight_and_scratch_bytes(prompt);
  const uint64_t kv = g.kv_bytes_per_token();
  const uint64_t free = memory > weights + scratch ? memory - weights - scratch : 0;
  const uint64_t tokens = free / kv;  // cache tokens that fit, over all sequences
  std::printf(
      "plan for %s on %s (%u layers, %u heads x %u head_dim):\n"
      "  KV cache: %llu bytes per token (layers x 2 x heads x head_dim x 2 B)\n"
      "  weights %llu bytes, per-step scratch and IO %llu bytes, device memory %llu bytes\n"
      "  cache tokens that fit: %llu; largest context at batch 1: %llu (--max-context %u)\n"
      "  largest batch at context %u: %llu\n",
      a.positional()[0].c_str(), cfg.name.c_str(), g.layers(), g.heads(), g.head_dim(),
      static_cast<unsigned long long>(kv), static_cast<unsigned long long>(weights),
      static_cast<unsigned long long>(scratch), static_cast<unsigned long long>(memory),
      static_cast<unsigned long long>(tokens), static_cast<unsigned long long>(std::min<uint64_t>(tokens, max_context)),
      max_context, max_context, static_cast<unsigned long long>(tokens / max_context));
  return kExitOk;
}

int cmd_generate(const Args& a) {
  if (a.positional().size() != 1 || !ends_with(a.positional()[0], ".onnx"))
    throw UsageError("generate needs exactly one decoder model (.onnx)");
  if (!a.has("--config")) throw UsageError("generate needs --config CONFIG.yaml (e.g. configs/edge.yaml)");
  if (!a.has("--tokens")) throw UsageError("generate needs --tokens PROMPT.npy");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  llm::GeneratorOptions o;
  o.max_context = static_cast<uint32_t>(a.number("--max-context", 128));
  o.bucket_tokens = static_cast<uint32_t>(a.number("--bucket", 32));
  o.precision = a.value("--precision", "fp16");
  if (o.max_context == 0 || o.bucket_tokens == 0) throw UsageError("--max-context and --bucket must be positive");
  const std::vector<int64_t> prompt = read_tokens(a.value("--tokens"));
  const uint64_t n = a.number("--new-tokens", 16);
  const std::string model = a.positional()[0];
  llm::Generator g(cfg, model, o);
  if (a.flag("--plan")) return plan(a, cfg, g, static_cast<uint32_t>(prompt.size()), o.max_context);
  if (n == 0) throw UsageError("--new-tokens must be at least 1");
  if (prompt.size() + n > o.max_context)
    throw isa::InputError(model + ": a prompt of " + std::to_string(prompt.size()) + " tokens plus " +
                          std::to_string(n) + " new tokens does not fit the maximum context of " +
                          std::to_string(o.max_context) + " tokens (--max-context)");
  std::vector<llm::StepResult> pre, dec;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> out;
  try {
    pre.push_back(g.prefill(prompt));
    out.push_back(pre[0].next_token);
    while (out.size() < n) {  // the last token is not fed back: n - 1 decode steps
      dec.push_back(g.decode_step(out.back()));
      out.push_back(dec.back().next_token);
    }
  } catch (const llm::StepFault& e) {  // e.g. a position past the model's position table
    std::fprintf(stderr, "error: %s: %s\n", model.c_str(), e.what());
    return kExitFault;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.has("--output")) {
    NpyArray arr{"<i8", {out.size()}, std::vector<uint8_t>(out.size() * 8)};
    std::memcpy(arr.data.data(), out.data(), arr.data.size());
    write_npy(a.value("--output"), arr);
  }
  std::vector<double> tpot;
  double dec_j = 0, dec_bytes = 0;
  for (const auto& s : dec)
    tpot.push_back(s.seconds), dec_j += s.energy_j, dec_bytes += static_cast<double>(s.dram_bytes);
  const double nd = static_cast<double>(dec.size());
  const double tpot_mean = dec.empty() ? 0 : (std::accumulate(tpot.begin(), tpot.end(), 0.0) / nd);
  const double total_s = pre[0].seconds + tpot_mean * nd;
  const double total_j = pre[0].energy_j + dec_j;
  double sim_wall = pre[0].wall_s;  // the simulations' wall time, without compiling
  for (const auto& st : dec) sim_wall += st.wall_s;
  if (a.has("--stats")) {
    nlohmann::ordered_json j;
    j["config"] = cfg.name;
    j["model"] = model;
    j["prompt_tokens"] = prompt.size();
    j["new_tokens"] = out.size();
    j["max_context"] = o.max_context;
    j["bucket_tokens"] = o.bucket_tokens;
    j["ttft_s"] = pre[0].seconds;
    j["tpot_s"] = {{"mean", tpot_mean},
                   {"p50", dec.empty() ? 0 : quantile(tpot, 0.5)},
                   {"p99", dec.empty() ? 0 : quantile(tpot, 0.99)}};
    j["tokens_per_s"] = tpot_mean > 0 ? 1 / tpot_mean : 0;  // decode throughput: 1 / TPOT
    j["end_to_end_s"] = total_s;
    j["kv_cache_bytes_per_token"] = g.kv_bytes_per_token();
    j["kv_cache_bytes"] = g.kv_bytes_per_token() * g.context();
    j["dram_bytes_per_token"] = dec.empty() ? 0.0 : dec_bytes / nd;  // per decode step
    j["energy_j_per_token"] = total_j / static_cast<double>(out.size());
    j["energy_j"] = total_j;
    double copy_s = 0;  // modelled host time of the cache's host round trips (not in TTFT/TPOT)
    for (const auto* v : {&pre, &dec})
      for (const auto& st : *v) copy_s += st.host_kv_copy_s;
    j["host_kv_copy_s"] = copy_s;
    j["wall_s"] = json_f(wall, 6);  // compiling each phase's program once included
    j["simulator_wall_s_per_token"] = json_f(sim_wall / static_cast<double>(out.size()), 6);  // simulation only
    nlohmann::ordered_json steps = nlohmann::ordered_json::array();
    for (const auto* v : {&pre, &dec})
      for (const auto& s : *v)
        steps.push_back({{"phase", s.phase},
                         {"context", s.context},
                         {"past_bucket", s.past_bucket},
                         {"token", s.next_token},
                         {"cycles", s.cycles},
                         {"seconds", s.seconds},
                         {"energy_j", s.energy_j},
                         {"dram_bytes", s.dram_bytes},
                         {"host_kv_copy_s", s.host_kv_copy_s}});
    j["steps"] = steps;
    j["operator_cycles"] = {{"prefill", operator_cycles(pre)}, {"decode", operator_cycles(dec)}};
    write_text_file(a.value("--stats"), stats::json_text(j));
  }
  if (a.has("--trace")) {  // one track per phase, one slice per step, back to back
    nlohmann::ordered_json ev = nlohmann::ordered_json::array();
    ev.push_back({{"ph", "M"}, {"pid", 1}, {"tid", 1}, {"name", "thread_name"}, {"args", {{"name", "prefill"}}}});
    ev.push_back({{"ph", "M"}, {"pid", 1}, {"tid", 2}, {"name", "thread_name"}, {"args", {{"name", "decode"}}}});
    double t_us = 0;
    int k = 0;
    for (const auto* v : {&pre, &dec})
      for (const auto& s : *v) {
        const bool p = s.phase == "prefill";
        ev.push_back({{"ph", "X"},
                      {"pid", 1},
                      {"tid", p ? 1 : 2},
                      {"name", p ? std::string("prefill") : "decode " + std::to_string(++k)},
                      {"ts", t_us},
                      {"dur", s.seconds * 1e6},
                      {"args",
                       {{"context", s.context},
                        {"past_bucket", s.past_bucket},
                        {"cycles", s.cycles},
                        {"token", s.next_token},
                        {"dram_bytes", s.dram_bytes}}}});
        t_us += s.seconds * 1e6;
      }
    write_text_file(a.value("--trace"), nlohmann::ordered_json({{"traceEvents", ev}}).dump() + "\n");
  }
  if (!a.flag("--quiet")) {
    std::printf(
        "generated %zu tokens on %s: TTFT %s, TPOT %s mean (%zu decode steps), %.6g tokens/s; "
        "KV cache %llu bytes/token; %.3g s wall, %.3g s simulating per token\n",
        out.size(), cfg.name.c_str(), config::time_text(pre[0].seconds).c_str(), config::time_text(tpot_mean).c_str(),
        dec.size(), tpot_mean > 0 ? 1 / tpot_mean : 0.0, static_cast<unsigned long long>(g.kv_bytes_per_token()), wall,
        sim_wall / static_cast<double>(out.size()));
  }
  return kExitOk;
}

const bool registered = register_command({
    "generate",
    15,
    "greedy token generation with a KV-cache decoder (TTFT, TPOT, tokens/s, cache sizing)",
    "usage: npusim generate --config CONFIG.yaml MODEL.onnx --tokens PROMPT.npy [--new-tokens N]\n"
    "                       [--output TOKENS.npy] [--stats FILE] [--trace FILE] [--max-context L]\n"
    "                       [--bucket B] [--plan [--memory BYTES]]\n",
    "Prefills the prompt, then runs one simulated decode step per new token, greedily (argmax).\n"
    "MODEL takes input_ids, position_ids, attention_mask [batch, 1, seq, past + seq] and\n"
    "past_key_values.N.key/value [batch, heads, past, head_dim], and returns logits and\n"
    "present.N.key/value (= Concat(past, new)); scripts/make_tiny_gpt.py builds one. Each phase is\n"
    "compiled with static shapes: seq = prompt length or 1, past = a context bucket (a multiple of\n"
    "--bucket holding the context so far, the mask hiding its unused tail), so a decode step's\n"
    "cost grows with the context.\n",
    {
        valued("--config", "CONFIG.yaml", "the NPU"),
        valued("--tokens", "PROMPT.npy", "the prompt: int64 or int32 token ids, one sequence"),
        valued("--new-tokens", "N", "tokens to generate (default 16)"),
        valued("--output", "TOKENS.npy", "the generated tokens (int64 [N])"),
        valued("--stats", "FILE",
               "TTFT, TPOT mean/p50/p99, tokens/s, KV bytes, DRAM bytes and energy\n"
               "per token, per-step figures and per-operator cycles per phase (JSON)"),
        valued("--trace", "FILE", "Perfetto trace: one track per phase, one slice per step"),
        valued("--max-context", "L", "tokens a sequence may hold (default 128): prompt + N beyond it is refused"),
        valued("--bucket", "B", "context bucket of the decode programs, in tokens (default 32)"),
        valued("--precision", "P", "fp16 (default) or bf16"),
        flag("--plan", "print the KV cache bytes per token and the largest context and batch that fit"),
        valued("--memory", "BYTES", "(--plan) the device memory for weights and cache (default 4GiB)"),
        flag("--quiet", "no summary"),
    },
    "Exit code 1 when a step faults on the device (e.g. a position beyond the model's position\n"
    "table: --max-context must not exceed it). Exit code 2 when the prompt plus the new tokens exceed --max-context, "
    "or the model lacks the\n"
    "KV-cache inputs and outputs. tokens/s is the decode rate, 1 / mean TPOT.\n",
    cmd_generate,
});

}  // namespace
}  // namespace npusim::cli
