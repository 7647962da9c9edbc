// Greedy generation with a decoder that takes and returns its KV cache (the Hugging Face layout:
// input_ids, position_ids, attention_mask, past_key_values.N.key/value in; logits and
// present.N.key/value out). The model is compiled per phase with static shapes (--dim seq=S
// --dim past=B): prefill runs the prompt (seq = prompt length), each decode step one token
// (seq = 1). `past` is a context bucket B (a multiple of bucket_tokens, the smallest that holds the
// context so far); the attention mask masks the bucket's unused tail, so a decode step's cost
// grows with the context in steps of one bucket. Programs are compiled once per (batch, seq, B).
// `npusim generate` drives it; LLM serving (`npusim load --llm`) prices its iterations with
// step_cost(), the same programs timed without data.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "compiler/compile.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"

namespace npusim::llm {

/// How to build and run the phases.
struct GeneratorOptions {
  uint32_t max_context = 128;      ///< tokens a sequence may hold (prompt + generated)
  uint32_t bucket_tokens = 32;     ///< decode programs are compiled for past = multiples of this
  std::string precision = "fp16";  ///< device type of activations, weights and the cache
  bool trace = false;              ///< collect each step's Perfetto trace
};

/// What one simulated step (prefill or decode) cost.
struct StepResult {
  std::string phase;         ///< "prefill" or "decode"
  uint32_t context = 0;      ///< tokens in the cache after the step
  uint32_t past_bucket = 0;  ///< the program's past length B
  int64_t next_token = 0;    ///< argmax of the last position's logits
  uint64_t cycles = 0;       ///< simulated cycles
  double seconds = 0;        ///< simulated seconds
  double energy_j = 0;       ///< dynamic energy plus leakage at the reference temperature
  uint64_t dram_bytes = 0;   ///< DRAM bytes read and written
  double wall_s = 0;         ///< simulator wall time of the step
  /// Modelled host time (host cost model: irq round trip + bytes / host bandwidth) of moving the
  /// cache between steps as this implementation does: the step's new rows out, its past in. Not in
  /// `seconds` (a device-resident cache would not pay it).
  double host_kv_copy_s = 0;
  std::vector<std::pair<std::string, uint64_t>> operator_cycles;  ///< per ONNX node
  std::string trace_json;                                         ///< with GeneratorOptions::trace
};

/// What one step program costs, timed without data (timing-only simulation: the same cycles as a
/// run with the step's values, which test llm_serve checks against `generate`'s steps).
struct StepCost {
  uint64_t cycles = 0;      ///< simulated cycles
  double seconds = 0;       ///< simulated seconds
  uint64_t dram_bytes = 0;  ///< DRAM bytes read and written
};

/// A step's program faulted on the device (the message is the device's, with the phase and context).
class StepFault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One sequence's greedy generation on one configured NPU (batch 1).
class Generator {
 public:
  /// Imports `onnx_path` and checks its inputs and outputs have the KV-cache layout (else
  /// compiler::CompileError naming what is missing).
  Generator(const config::NpuConfig& cfg, const std::string& onnx_path, GeneratorOptions o);
  ~Generator();

  /// Runs the prompt and resets the cache to it; returns the first generated token's step.
  /// Throws std::invalid_argument when the prompt does not fit max_context.
  StepResult prefill(const std::vector<int64_t>& tokens);
  /// Appends `token` at the next position and returns the step (the next token's argmax).
  /// Throws std::invalid_argument when the cache is full.
  StepResult decode_step(int64_t token);

  /// The cost of the program for `batch` sequences of `seq` new tokens each over a past bucket
  /// `past` (a multiple of bucket_tokens): compiled and simulated once per (batch, seq, past).
  StepCost step_cost(uint32_t batch, uint32_t seq, uint32_t past);
  /// The past bucket of a step taken with `context` cached tokens: the smallest multiple of
  /// bucket_tokens holding them, at least one bucket.
  uint32_t bucket_of(uint32_t context) const;

  uint32_t context() const { return len_; }        ///< tokens in the cache
  uint32_t layers() const { return layers_; }      ///< decoder layers (past tensors / 2)
  uint32_t heads() const { return heads_; }        ///< attention heads
  uint32_t head_dim() const { return head_dim_; }  ///< per head
  /// Cache bytes per token on the device: layers x 2 (K, V) x heads x head_dim x element size.
  uint64_t kv_bytes_per_token() const;
  /// Device bytes of the weights and the largest scratch of the programs compiled so far
  /// (compiles the prefill program for `prompt_tokens` and the largest decode bucket if needed).
  std::pair<uint64_t, uint64_t> weight_and_scratch_bytes(uint32_t prompt_tokens);

 private:
  struct Phase;  // one compiled (batch, seq, past) program
  Phase& phase(uint32_t seq, uint32_t past, uint32_t batch = 1);
  StepResult step(const std::vector<int64_t>& ids, const char* name);

  config::NpuConfig cfg_;                                                              ///< the NPU
  std::string path_;                                                                   ///< the model
  GeneratorOptions o_;                                                                 ///< options
  uint32_t layers_ = 0, heads_ = 0, head_dim_ = 0;                                     ///< cache geometry
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, std::unique_ptr<Phase>> phases_;  ///< by (batch, seq, past)
  /// The cache, per past tensor (2 per layer, key then value), in model order [heads, max_context,
  /// head_dim] as float32 of device-type values (fp16 round trips exactly).
  std::vector<std::vector<float>> cache_;
  uint32_t len_ = 0;  ///< tokens in the cache
};

}  // namespace npusim::llm
