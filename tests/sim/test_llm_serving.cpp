// LLM serving with continuous batching (tools/load/llm_serving.h) against closed forms, with a
// synthetic cost model: a prefill of p tokens costs P0 + P1 p, a decode iteration of b sequences
// D0 + D1 b (the longest context is recorded, and priced where a test says so).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/load/llm_serving.h"

namespace npusim {
namespace {

constexpr double P0 = 100e-6, P1 = 2e-6, D0 = 50e-6, D1 = 10e-6;

LlmStepCosts linear_costs() {
  LlmStepCosts c;
  c.prefill_s = [](uint32_t p) { return P0 + P1 * p; };
  c.decode_s = [](uint32_t b, uint32_t) { return D0 + D1 * b; };
  return c;
}

LlmServeOptions opts(uint32_t batch, uint64_t capacity) {
  LlmServeOptions o;
  o.max_batch = batch;
  o.kv_capacity_tokens = capacity;
  o.max_context = 128;
  return o;
}

TEST(LlmServing, ASingleRequestsTtftIsItsPrefillAndTpotItsDecodeSteps) {
  // TTFT = prefill(8); the 15 decode steps at batch 1, priced by context here: TPOT = their mean.
  LlmStepCosts c = linear_costs();
  std::vector<uint32_t> contexts;
  c.decode_s = [&](uint32_t b, uint32_t ctx) {
    contexts.push_back(ctx);
    return D0 + D1 * b + 1e-7 * ctx;
  };
  const LlmServeResult r = run_llm_serving({{0.5, 8, 16}}, opts(4, 1000), c);
  ASSERT_EQ(r.served, 1u);
  EXPECT_NEAR(r.requests[0].ttft_s, P0 + P1 * 8, 1e-15);
  double sum = 0;
  for (uint32_t k = 0; k < 15; ++k) sum += D0 + D1 + 1e-7 * (8 + k);
  EXPECT_NEAR(r.requests[0].tpot_s, sum / 15, 1e-15);
  ASSERT_EQ(contexts.size(), 15u);  // the context before each step: the prompt, then one more each
  for (uint32_t k = 0; k < 15; ++k) EXPECT_EQ(contexts[k], 8 + k);
  EXPECT_EQ(r.tokens, 16u);
  EXPECT_NEAR(r.makespan_s, 0.5 + P0 + P1 * 8 + sum, 1e-12);
}

TEST(LlmServing, SimultaneousRequestsShareDecodeIterations) {
  // Four requests at t = 0, batch 4, prefill first: the four prefills run back to back, then 9
  // decode iterations of 4 (10 tokens each). TTFT of the k-th: k prefills; every TPOT: D0 + 4 D1.
  const std::vector<LlmRequest> reqs(4, LlmRequest{0, 10, 10});
  const LlmServeResult r = run_llm_serving(reqs, opts(4, 1000), linear_costs());
  const double pre = P0 + P1 * 10;
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_NEAR(r.requests[k].ttft_s, (k + 1) * pre, 1e-12);
    // All finish together; request k's first decode gap holds the 3 - k prefills after its own.
    EXPECT_NEAR(r.requests[k].done_s, 4 * pre + 9 * (D0 + 4 * D1), 1e-12);
  }
  EXPECT_NEAR(r.requests[3].tpot_s, D0 + 4 * D1, 1e-12);
  for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(r.requests[k].tpot_s, ((3 - k) * pre + 9 * (D0 + 4 * D1)) / 9, 1e-12);
  const auto j = llm_json(r, opts(4, 1000));
  EXPECT_EQ(j["iterations"]["decode"], 9);
  EXPECT_EQ(j["iterations"]["max_decode_batch"], 4);
}

TEST(LlmServing, TheMaxBatchCapsTheRunningSequences) {
  // Batch 2: the third request starts only when the first two are done (same lengths).
  const std::vector<LlmRequest> reqs(3, LlmRequest{0, 4, 5});
  const LlmServeResult r = run_llm_serving(reqs, opts(2, 1000), linear_costs());
  const double pre = P0 + P1 * 4, two = 2 * pre + 4 * (D0 + 2 * D1);
  EXPECT_NEAR(r.requests[1].done_s, two, 1e-12);
  EXPECT_NEAR(r.requests[2].admitted_s, two, 1e-12);
  EXPECT_NEAR(r.requests[2].done_s, two + pre + 4 * (D0 + D1), 1e-12);
  for (const auto& it : r.iterations) EXPECT_LE(it.batch, 2u);
}

TEST(LlmServing, AdmissionRespectsTheKvCapacity) {
  // Each request reserves 8 + 8 = 16 tokens; a capacity of 40 admits two at once, never three.
  const std::vector<LlmRequest> reqs(5, LlmRequest{0, 8, 8});
  const LlmServeResult r = run_llm_serving(reqs, opts(8, 40), linear_costs());
  EXPECT_EQ(r.served, 5u);
  for (const auto& c : r.occupancy) {
    EXPECT_LE(c.reserved_tokens, 40u);
    EXPECT_LE(c.used_tokens, c.reserved_tokens);
    EXPECT_LE(c.running, 2u);
  }
  uint32_t most = 0;
  for (const auto& it : r.iterations) most = std::max(most, it.batch);
  EXPECT_EQ(most, 2u);
}

TEST(LlmServing, RequestsThatCanNeverFitAreRefusedWithTheReason) {
  const LlmServeResult r = run_llm_serving({{0, 100, 40}, {0, 30, 30}, {0, 4, 4}}, opts(4, 50), linear_costs());
  EXPECT_EQ(r.served, 1u);
  EXPECT_EQ(r.refused, 2u);
  EXPECT_EQ(r.requests[0].refusal, "100 prompt + 40 output tokens exceed the maximum context of 128 tokens");
  EXPECT_EQ(r.requests[1].refusal, "60 tokens exceed the KV-cache capacity of 50 tokens");
  EXPECT_FALSE(r.requests[2].refused);
  const std::string prom = llm_prometheus(r, opts(4, 50));
  EXPECT_NE(prom.find("npusim_llm_requests_total{outcome=\"refused\"} 2\n"), std::string::npos);
  EXPECT_NE(prom.find("npusim_llm_ttft_seconds_count 1\n"), std::string::npos);
}

TEST(LlmServing, AnIdleDeviceWaitsForTheNextArrival) {
  // Two requests far apart: each sees an empty device, so each has the single-request TTFT.
  const LlmServeResult r = run_llm_serving({{1.0, 6, 3}, {0.0, 6, 3}}, opts(4, 100), linear_costs());
  EXPECT_NEAR(r.requests[0].ttft_s, P0 + P1 * 6, 1e-12);
  EXPECT_NEAR(r.requests[1].ttft_s, P0 + P1 * 6, 1e-12);
  EXPECT_NEAR(r.busy_s, 2 * (P0 + P1 * 6 + 2 * (D0 + D1)), 1e-12);
  EXPECT_NEAR(r.tokens_per_s, 6 / r.makespan_s, 1e-9);
}

TEST(LlmServing, LengthDistributionsAndTracesAreReadStrictly) {
  EXPECT_EQ(parse_length_dist("16", "x").lo, 16u);
  EXPECT_EQ(parse_length_dist("4..32", "x").hi, 32u);
  EXPECT_THROW(parse_length_dist("0", "x"), std::exception);
  EXPECT_THROW(parse_length_dist("9..3", "x"), std::exception);
  EXPECT_THROW(parse_length_dist("a", "x"), std::exception);
  const auto q = llm_requests({0.1, 0.2, 0.3}, {4, 32}, {8, 8}, 7);
  ASSERT_EQ(q.size(), 3u);
  for (const auto& x : q) {
    EXPECT_TRUE(x.prompt_tokens >= 4 && x.prompt_tokens <= 32);
    EXPECT_EQ(x.output_tokens, 8u);
  }
}

}  // namespace
}  // namespace npusim
