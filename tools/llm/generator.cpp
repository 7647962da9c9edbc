// Greedy generation with a KV-cache decoder: the phase programs and the cache (tools/llm/generator.h).
#include "tools/llm/generator.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "arch/power.h"
#include "compiler/graph.h"
#include "sim/host_cost.h"
#include "tools/workload/npy.h"
#include "tools/workload/workload.h"

namespace npusim::llm {

/// One compiled (batch, seq, past) program and its IO bindings by ONNX name.
struct Generator::Phase {
  compiler::CompiledModel m;                             ///< the program
  std::map<std::string, const compiler::IoBinding*> in;  ///< inputs by ONNX name
  bool costed = false;                                   ///< `cost` holds its data-free timing
  StepCost cost;                                         ///< see step_cost()
};

namespace {
std::string past_name(uint32_t i) {
  return "past_key_values." + std::to_string(i / 2) + (i % 2 ? ".value" : ".key");
}
std::string present_name(uint32_t i) {
  return "present." + std::to_string(i / 2) + (i % 2 ? ".value" : ".key");
}

/// The dims of one phase: `batch` sequences of `seq` new tokens over `past` cached ones.
std::map<std::string, int64_t> phase_dims(uint32_t seq, uint32_t past, uint32_t batch = 1) {
  return {{"batch", batch}, {"seq", seq}, {"past", past}, {"total", past + seq}};
}

/// A float32 array as .npy bytes for host_to_device_elements.
NpyArray f32(std::vector<uint64_t> shape, const std::vector<float>& v) {
  NpyArray a{"<f4", std::move(shape), std::vector<uint8_t>(v.size() * 4)};
  std::memcpy(a.data.data(), v.data(), a.data.size());
  return a;
}
NpyArray i64(const std::vector<int64_t>& v) {
  NpyArray a{"<i8", {1, v.size()}, std::vector<uint8_t>(v.size() * 8)};
  std::memcpy(a.data.data(), v.data(), a.data.size());
  return a;
}
}  // namespace

Generator::Generator(const config::NpuConfig& cfg, const std::string& onnx_path, GeneratorOptions o)
    : cfg_(cfg), path_(onnx_path), o_(o) {
  if (o_.bucket_tokens == 0) throw std::invalid_argument("the context bucket must be at least one token");
  compiler::ImportOptions io;
  io.dims = phase_dims(1, o_.bucket_tokens);
  compiler::Graph g;
  try {
    g = compiler::import_onnx(path_, io);
  } catch (const compiler::CompileError&) {
    // A model without the named dims (batch, seq, past, total) is no KV-cache decoder: say what it
    // lacks below when it imports as it is; otherwise the import's own error stands.
    try {
      g = compiler::import_onnx(path_, {});
    } catch (const compiler::CompileError&) {
      throw;
    }
    if (std::count(g.inputs.begin(), g.inputs.end(), "input_ids") > 0) throw;
  }
  auto has_input = [&](const std::string& n) { return std::count(g.inputs.begin(), g.inputs.end(), n) > 0; };
  for (const char* n : {"input_ids", "position_ids", "attention_mask"})
    if (!has_input(n))
      throw compiler::CompileError(path_ + ": a KV-cache decoder needs graph input '" + n +
                                   "' (scripts/make_tiny_gpt.py documents the layout)");
  while (has_input(past_name(2 * layers_))) ++layers_;
  if (layers_ == 0)
    throw compiler::CompileError(path_ +
                                 ": a KV-cache decoder needs inputs past_key_values.N.key/value [batch, heads, "
                                 "past, head_dim]; none found");
  const auto& s = g.tensor(past_name(0)).shape;
  if (s.size() != 4)
    throw compiler::CompileError(path_ + ": past_key_values.0.key must be [batch, heads, past, head_dim]");
  heads_ = static_cast<uint32_t>(s[1]);
  head_dim_ = static_cast<uint32_t>(s[3]);
  for (uint32_t i = 0; i < 2 * layers_; ++i) {
    if (!has_input(past_name(i))) throw compiler::CompileError(path_ + ": input " + past_name(i) + " is missing");
    if (std::count(g.outputs.begin(), g.outputs.end(), present_name(i)) == 0)
      throw compiler::CompileError(path_ + ": output " + present_name(i) + " is missing");
  }
  if (std::count(g.outputs.begin(), g.outputs.end(), "logits") == 0)
    throw compiler::CompileError(path_ + ": a KV-cache decoder needs graph output 'logits' [batch, seq, vocab]");
  cache_.assign(2 * layers_, std::vector<float>(uint64_t{heads_} * o_.max_context * head_dim_, 0.0f));
}

Generator::~Generator() = default;

uint64_t Generator::kv_bytes_per_token() const {
  const uint64_t elem = o_.precision == "fp32" ? 4 : 2;  // fp16 / bf16 cache
  return uint64_t{2} * layers_ * heads_ * head_dim_ * elem;
}

Generator::Phase& Generator::phase(uint32_t seq, uint32_t past, uint32_t batch) {
  auto& p = phases_[{batch, seq, past}];
  if (!p) {
    p = std::make_unique<Phase>();
    compiler::ImportOptions io;
    io.dims = phase_dims(seq, past, batch);
    compiler::CompileOptions co;
    co.precision = o_.precision;
    co.fallback = false;  // every step runs on the NPU
    p->m = compiler::compile(compiler::import_onnx(path_, io), target_info(cfg_), co);
    for (const auto& b : p->m.inputs) p->in[b.onnx_name] = &b;
  }
  return *p;
}

uint32_t Generator::bucket_of(uint32_t context) const {
  return std::max(1u, (context + o_.bucket_tokens - 1) / o_.bucket_tokens) * o_.bucket_tokens;
}

StepCost Generator::step_cost(uint32_t batch, uint32_t seq, uint32_t past) {
  Phase& p = phase(seq, past, batch);
  if (!p.costed) {
    const RunResult r = timing_run(cfg_, p.m.program);
    p.cost = {r.total_cycles, r.seconds, r.dram.bytes_read + r.dram.bytes_written};
    p.costed = true;
  }
  return p.cost;
}

std::pair<uint64_t, uint64_t> Generator::weight_and_scratch_bytes(uint32_t prompt_tokens) {
  const uint32_t top = (o_.max_context - 1) / o_.bucket_tokens * o_.bucket_tokens;
  uint64_t weights = 0, scratch = 0;
  for (const Phase* p : {&phase(prompt_tokens, o_.bucket_tokens), &phase(1, std::max(top, o_.bucket_tokens))}) {
    uint64_t w = 0, s = 0;
    for (const auto& r : p->m.program.regions)
      (r.role == isa::RegionRole::Const ? w : s) += r.size;  // inputs, outputs, scratch: per step
    weights = std::max(weights, w);
    scratch = std::max(scratch, s);
  }
  return {weights, scratch};
}

StepResult Generator::step(const std::vector<int64_t>& ids, const char* name) {
  const uint32_t seq = static_cast<uint32_t>(ids.size());
  if (len_ + seq > o_.max_context)
    throw std::invalid_argument(std::to_string(len_) + " cached + " + std::to_string(seq) + " new tokens exceed the " +
                                "maximum context of " + std::to_string(o_.max_context) + " tokens");
  const uint32_t past = bucket_of(len_);  // the bucket holding the context before the step
  Phase& p = phase(seq, past);
  std::map<std::string, std::vector<uint8_t>> inputs;
  auto put = [&](const std::string& onnx, const NpyArray& arr) {
    const compiler::IoBinding& b = *p.in.at(onnx);
    const isa::IoTensor& io = io_entry(p.m.program, b.io_name);
    inputs[b.io_name] = to_device_layout(b, io, host_to_device_elements(b, io, arr, path_));
  };
  std::vector<int64_t> pos(seq);
  for (uint32_t i = 0; i < seq; ++i) pos[i] = len_ + i;
  put("input_ids", i64(ids));
  put("position_ids", i64(pos));
  // Query i (position len + i) sees the cached keys j < len of the bucket and the new keys k <= i.
  const uint32_t total = past + seq;
  std::vector<float> mask(uint64_t{seq} * total, 0.0f);
  for (uint32_t i = 0; i < seq; ++i) {
    for (uint32_t j = 0; j < len_; ++j) mask[uint64_t{i} * total + j] = 1;
    for (uint32_t k = 0; k <= i; ++k) mask[uint64_t{i} * total + past + k] = 1;
  }
  put("attention_mask", f32({1, 1, seq, total}, mask));
  for (uint32_t t = 0; t < 2 * layers_; ++t) {
    std::vector<float> v(uint64_t{heads_} * past * head_dim_, 0.0f);
    const uint32_t rows = std::min(past, o_.max_context);
    for (uint32_t h = 0; h < heads_; ++h)
      std::copy_n(cache_[t].begin() + uint64_t{h} * o_.max_context * head_dim_, uint64_t{rows} * head_dim_,
                  v.begin() + uint64_t{h} * past * head_dim_);
    put(past_name(t), f32({1, heads_, past, head_dim_}, v));
  }
  RunOptions ro;
  ro.trace = o_.trace;
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = simulate(cfg_, p.m.program, inputs, ro);
  StepResult s;
  s.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!r.ok)
    throw StepFault(std::string(name) + " step at context " + std::to_string(len_) + " (past bucket " +
                    std::to_string(past) + ") faulted: " + r.fault_message);
  s.phase = name;
  s.past_bucket = past;
  s.cycles = r.total_cycles;
  s.seconds = r.seconds;
  const arch::EnergyModel em(cfg_.power);
  s.energy_j = arch::total(em.dynamic(r.activity.total(), cfg_.power.v_nominal)) +
               em.leakage_w(cfg_.power.v_nominal, cfg_.power.leakage_t_ref_c) * r.seconds;
  s.dram_bytes = r.dram.bytes_read + r.dram.bytes_written;
  HostWork copy;  // the past written to the device before the step, the new rows read after it
  copy.node = name;
  copy.op = "kv_copy";
  copy.write_bytes = kv_bytes_per_token() * past;
  copy.read_bytes = kv_bytes_per_token() * seq;
  copy.ops_per_element = 0;
  s.host_kv_copy_s = host_seconds(cfg_.host, copy);
  s.operator_cycles = r.marker_cycles;
  s.trace_json = r.trace_json;
  for (const auto& b : p.m.outputs) {
    const NpyArray a = device_to_host(b, io_entry(p.m.program, b.io_name), r.outputs.at(b.io_name));
    const float* f = reinterpret_cast<const float*>(a.data.data());
    if (b.onnx_name == "logits") {  // [1, seq, vocab]: argmax of the last position (first on ties)
      const uint64_t vocab = a.shape.back();
      const float* last = f + (seq - 1) * vocab;
      s.next_token = std::max_element(last, last + vocab) - last;
      continue;
    }
    for (uint32_t t = 0; t < 2 * layers_; ++t) {
      if (b.onnx_name != present_name(t)) continue;
      // present [1, heads, past + seq, head_dim]: its last seq rows are this step's, at len_...
      for (uint32_t h = 0; h < heads_; ++h)
        std::copy_n(f + (uint64_t{h} * total + past) * head_dim_, uint64_t{seq} * head_dim_,
                    cache_[t].begin() + (uint64_t{h} * o_.max_context + len_) * head_dim_);
    }
  }
  len_ += seq;
  s.context = len_;
  return s;
}

StepResult Generator::prefill(const std::vector<int64_t>& tokens) {
  if (tokens.empty()) throw std::invalid_argument("the prompt is empty");
  len_ = 0;
  for (auto& c : cache_) std::fill(c.begin(), c.end(), 0.0f);
  return step(tokens, "prefill");
}

StepResult Generator::decode_step(int64_t token) {
  return step({token}, "decode");
}

}  // namespace npusim::llm
