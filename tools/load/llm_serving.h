// LLM serving (`npusim load --llm`): requests with a prompt and an output length, served by one
// NPU with iteration-level continuous batching. Between two iterations requests join (after their
// prefill) and leave (after their last token) the running batch; admission respects a maximum
// batch and the KV-cache capacity. The cost of an iteration comes from a cost model the caller
// gives (the CLI's: the decoder's step programs, timed once per shape by llm::Generator), so the
// scheduling itself is arithmetic. docs/serving.md "LLM serving" documents the policy.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace npusim {

/// One request: when it arrives, its prompt, and the tokens it asks for.
struct LlmRequest {
  double arrival_s = 0;        ///< arrival time
  uint32_t prompt_tokens = 0;  ///< prompt length (prefilled in one iteration)
  uint32_t output_tokens = 0;  ///< tokens to generate (the first by the prefill, the rest by decode iterations)
};

/// Scheduler limits.
struct LlmServeOptions {
  uint32_t max_batch = 8;           ///< most sequences in the running batch
  uint64_t kv_capacity_tokens = 0;  ///< cache tokens the device holds, over all sequences
  uint32_t max_context = 128;       ///< tokens one sequence may hold (prompt + output)
};

/// The cost model of iterations (seconds).
struct LlmStepCosts {
  /// The prefill of one prompt of `prompt_tokens` tokens (batch 1, an empty cache).
  std::function<double(uint32_t prompt_tokens)> prefill_s;
  /// One decode iteration of `batch` sequences whose longest context before the step is `context`.
  std::function<double(uint32_t batch, uint32_t context)> decode_s;
};

/// One iteration on the device.
struct LlmIteration {
  double start_s = 0, end_s = 0;  ///< on the device
  bool prefill = false;           ///< a prefill (of `request`) or a decode step of the batch
  uint32_t batch = 0;             ///< sequences in it (1 for a prefill)
  uint32_t context = 0;           ///< longest context before the step (decode) or prompt length (prefill)
  size_t request = 0;             ///< (prefill) which request
};

/// Cache occupancy at the start of an iteration.
struct LlmOccupancy {
  double t_s = 0;                ///< time
  uint64_t used_tokens = 0;      ///< tokens in the cache (the running sequences' contexts)
  uint64_t reserved_tokens = 0;  ///< tokens reserved by admission (prompt + output per running sequence)
  uint32_t running = 0;          ///< sequences in the batch
  uint32_t waiting = 0;          ///< requests arrived, not admitted
};

/// Per request (in arrival order).
struct LlmRequestResult {
  bool refused = false;      ///< never admitted: it cannot fit (see `refusal`)
  std::string refusal;       ///< why
  double admitted_s = 0;     ///< when its prefill started
  double first_token_s = 0;  ///< when its prefill ended (its first token)
  double done_s = 0;         ///< when its last token came
  /// Time to first token: first_token - arrival (queueing included).
  double ttft_s = 0;
  /// Time per output token after the first: (done - first_token) / (output - 1); 0 for one token.
  double tpot_s = 0;
};

struct LlmServeResult {
  std::vector<LlmRequestResult> requests;  ///< per request, in the order given
  std::vector<LlmIteration> iterations;    ///< every iteration, in order
  std::vector<LlmOccupancy> occupancy;     ///< at every iteration's start, and at the end
  uint64_t served = 0, refused = 0;        ///< requests
  uint64_t tokens = 0;                     ///< generated (by served requests)
  double makespan_s = 0;                   ///< last completion
  double busy_s = 0;                       ///< device busy time
  /// Generated tokens per second over the run, 0 to the last completion.
  double tokens_per_s = 0;
};

/// Serves `reqs` (sorted by arrival here; results keep the given order). Throws std::invalid_argument
/// for limits of zero.
LlmServeResult run_llm_serving(const std::vector<LlmRequest>& reqs, const LlmServeOptions& o, const LlmStepCosts& cost);

/// Report: counts, TTFT/TPOT/latency percentiles, tokens/s, batch sizes, occupancy, refusals.
nlohmann::ordered_json llm_json(const LlmServeResult& r, const LlmServeOptions& o);
/// Prometheus text exposition: TTFT and TPOT histograms, throughput, occupancy and refusal gauges.
std::string llm_prometheus(const LlmServeResult& r, const LlmServeOptions& o);
/// Perfetto trace: a device track of iterations, a track per batch slot with each request's
/// residence (its prefill and decode), and counters of batch size and cache occupancy.
std::string llm_trace(const LlmServeResult& r, const std::vector<LlmRequest>& reqs, const LlmServeOptions& o);

/// Reads `FILE.csv`: arrival_s,prompt_tokens,output_tokens per line (an optional header line);
/// errors name the line.
std::vector<LlmRequest> read_llm_trace(const std::string& file);
/// A token-length distribution: "N" (fixed) or "A..B" (uniform integers); errors name `what`.
struct LengthDist {
  uint32_t lo = 0, hi = 0;  ///< inclusive bounds
};
LengthDist parse_length_dist(const std::string& text, const std::string& what);
/// Requests at the arrival times of `arrivals` (load.h's generator: poisson, onoff or a trace's
/// times) with prompt and output lengths drawn uniformly from the distributions (seeded by
/// `arrivals.seed`).
std::vector<LlmRequest> llm_requests(const std::vector<double>& arrival_s, LengthDist prompt, LengthDist output,
                                     uint64_t seed);

}  // namespace npusim
