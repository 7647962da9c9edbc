// The serving simulation (sim/load.h) against queueing theory and its own promises.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "sim/load.h"

namespace npusim {
namespace {

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

TEST(Load, PoissonArrivalsWithDeterministicServiceMatchMD1) {
  // M/D/1: mean wait in queue W = rho D / (2 (1 - rho)). With rho = 0.5 and D = 1 ms, W = 0.5 ms.
  // About 500,000 requests per run: over seeds 1-20 the relative error of the mean wait stayed
  // within -0.3%..+1.1% (rho 0.5) and -1.4%..+2.5% (rho 0.8), so 3% at a fixed seed is the
  // statistical tolerance of this run length, not a loose one.
  for (double rho : {0.5, 0.8}) {
    LoadOptions o;
    o.rate_per_s = rho / 1e-3;
    o.duration_s = 500000 / o.rate_per_s;
    o.seed = 11;
    const LoadResult r = run_load({1e-3}, o);
    const double want = rho * 1e-3 / (2 * (1 - rho));
    EXPECT_NEAR(mean(r.wait_s), want, 0.03 * want) << "rho " << rho;
    EXPECT_NEAR(r.busy_s / r.makespan_s, rho, 0.01);
    EXPECT_NEAR(static_cast<double>(r.requests) / o.duration_s, o.rate_per_s, 0.01 * o.rate_per_s);
  }
}

TEST(Load, BatchingRaisesThroughputAndTailLatency) {
  // Service 1 ms alone, 1.5 ms for a batch of 8 (weights loaded once).
  std::vector<double> service;
  for (int b = 1; b <= 8; ++b) service.push_back(1e-3 + (b - 1) * 0.5e-3 / 7);
  LoadOptions heavy;
  heavy.rate_per_s = 2000;  // twice what batch 1 can serve
  heavy.duration_s = 20;
  const LoadResult one = run_load(service, heavy);
  heavy.max_batch = 8;
  const LoadResult eight = run_load(service, heavy);
  const double tp1 = static_cast<double>(one.requests) / one.makespan_s,
               tp8 = static_cast<double>(eight.requests) / eight.makespan_s;
  EXPECT_NEAR(tp1, 1000, 20);  // capped at 1 / 1 ms
  EXPECT_NEAR(tp8, 2000, 40);  // keeps up with the offered load
  EXPECT_LT(percentile_of(eight.latency_s, 0.99), percentile_of(one.latency_s, 0.99) / 100);
  // At light load, waiting for a batch to fill costs tail latency.
  LoadOptions light;
  light.rate_per_s = 100;
  light.duration_s = 200;
  const LoadResult greedy = run_load(service, light);
  light.max_batch = 8;
  light.max_wait_s = 5e-3;
  const LoadResult waiting = run_load(service, light);
  EXPECT_GT(percentile_of(waiting.latency_s, 0.99), percentile_of(greedy.latency_s, 0.99) + 3e-3);
  EXPECT_GT(waiting.batches[1] + waiting.batches[2], 0u);  // some batches did form
}

TEST(Load, AFixedSeedGivesAnIdenticalReport) {
  LoadOptions o;
  o.rate_per_s = 700;
  o.duration_s = 30;
  o.max_batch = 4;
  o.max_wait_s = 1e-3;
  o.arrivals = "onoff";
  o.on_s = 0.5;
  o.off_s = 1.5;
  const std::vector<double> s = {1e-3, 1.2e-3, 1.4e-3, 1.6e-3};
  const std::string a = load_json(run_load(s, o), s, o), b = load_json(run_load(s, o), s, o);
  EXPECT_EQ(a, b);
  o.seed = 2;
  EXPECT_NE(load_json(run_load(s, o), s, o), a);
}

TEST(Load, OnOffKeepsTheMeanRateAndTracesReplayTimestamps) {
  LoadOptions o;
  o.rate_per_s = 400;
  o.duration_s = 400;
  o.arrivals = "onoff";
  o.on_s = 1;
  o.off_s = 3;
  const LoadResult r = run_load({1e-4}, o);
  EXPECT_NEAR(static_cast<double>(r.requests) / o.duration_s, 400, 8);
  LoadOptions t;
  t.arrivals = "trace";
  t.duration_s = 10;
  t.trace = {0.5, 0.1, 0.1, 3.0, 12.0};  // unsorted; 12 s is past the duration
  const LoadResult rt = run_load({0.2}, t);
  ASSERT_EQ(rt.requests, 4u);
  EXPECT_NEAR(rt.latency_s[0], 0.2, 1e-12);  // 0.1: served at once
  EXPECT_NEAR(rt.latency_s[1], 0.4, 1e-12);  // 0.1: waits for the first
  EXPECT_NEAR(rt.makespan_s, 3.2, 1e-12);
}

TEST(Load, PriorityShieldsATenantFromANoisyNeighbour) {
  // A light interactive tenant and a bursty bulk tenant that saturates the device during bursts.
  Tenant interactive, bulk;
  interactive.name = "interactive";
  interactive.load.rate_per_s = 100;
  interactive.load.duration_s = 50;
  interactive.service_s = {1e-3};
  bulk.name = "bulk";
  bulk.load.rate_per_s = 600;
  bulk.load.duration_s = 50;
  bulk.load.arrivals = "onoff";
  bulk.load.on_s = 0.5;
  bulk.load.off_s = 0.5;  // 1200/s during bursts: beyond the 1000/s the device serves
  bulk.load.seed = 5;
  bulk.service_s = {1e-3};
  const TenantsResult equal = run_tenants({interactive, bulk});
  interactive.priority = 1;
  const TenantsResult prio = run_tenants({interactive, bulk});
  const double p99_equal = percentile_of(equal.tenants[0].latency_s, 0.99),
               p99_prio = percentile_of(prio.tenants[0].latency_s, 0.99);
  EXPECT_GT(p99_equal, 0.05);  // stuck behind the burst's queue
  EXPECT_LT(p99_prio, 3e-3);   // waits at most for the batch in service, then goes first
  EXPECT_EQ(prio.tenants[0].requests + prio.tenants[1].requests, equal.tenants[0].requests + equal.tenants[1].requests);
}

TEST(Load, TheFirstBatchPaysTheColdStart) {
  Tenant t;
  t.load.arrivals = "trace";
  t.load.duration_s = 10;
  t.load.trace = {1.0, 2.0, 3.0};
  t.service_s = {0.01};
  t.cold_start_s = 0.25;
  const TenantsResult r = run_tenants({t});
  EXPECT_NEAR(r.tenants[0].latency_s[0], 0.26, 1e-12);
  EXPECT_NEAR(r.tenants[0].latency_s[1], 0.01, 1e-12);
  EXPECT_NEAR(r.tenants[0].latency_s[2], 0.01, 1e-12);
}

TEST(Load, BadOptions_bad) {
  LoadOptions o;
  o.max_batch = 4;
  EXPECT_THROW(run_load({1e-3}, o), std::invalid_argument);  // no service times for batches 2-4
  o.max_batch = 1;
  o.arrivals = "sometimes";
  EXPECT_THROW(run_load({1e-3}, o), std::invalid_argument);
}

}  // namespace
}  // namespace npusim
