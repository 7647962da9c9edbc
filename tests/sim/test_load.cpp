// The serving simulation (sim/load.h) against queueing theory and its own promises.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>
#include <tuple>

#include "sim/npu_config.h"
#include "tools/load/load.h"

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
  const auto a = load_json(run_load(s, o), s, o), b = load_json(run_load(s, o), s, o);
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

TEST(Load, TimeSlicesShareAnOverloadedDeviceInProportion) {
  // Two tenants that each alone would keep the device busy (2000/s of 1 ms requests), slices of
  // 10 ms and 30 ms: round robin gives them 1/4 and 3/4 of the device. Priorities do not apply
  // with slices (the first tenant's higher priority changes nothing).
  Tenant a, b;
  a.name = "a", b.name = "b";
  a.load.rate_per_s = b.load.rate_per_s = 2000;
  a.load.duration_s = b.load.duration_s = 20;
  b.load.seed = 2;
  a.service_s = b.service_s = {1e-3};
  a.slice_s = 10e-3, b.slice_s = 30e-3;
  a.priority = 5;
  // Shares while both are backlogged: batches that start in [1 s, 20 s) (after that the backlogs
  // drain, each tenant's whole backlog being served in the end).
  auto share_of_a = [](const TenantsResult& r) {
    double busy[2] = {0, 0};
    for (const BatchSpan& span : r.spans)
      if (span.start_s >= 1 && span.start_s < 20) busy[span.tenant] += span.end_s - span.start_s;
    return busy[0] / (busy[0] + busy[1]);
  };
  EXPECT_NEAR(share_of_a(run_tenants({a, b})), 0.25, 0.01);
  // Equal slices: an even split, whichever tenant has priority.
  b.slice_s = 10e-3;
  EXPECT_NEAR(share_of_a(run_tenants({a, b})), 0.5, 0.01);
  // Without slices the higher priority takes the whole device while it has work.
  a.slice_s = b.slice_s = 0;
  EXPECT_GT(share_of_a(run_tenants({a, b})), 0.99);
}

TEST(Load, ASliceBoundsTheWaitBehindANoisyNeighbour) {
  // A light tenant (100/s) beside a bulk tenant that saturates the device: with 5 ms slices a
  // light request waits for at most the bulk tenant's slice and the batch that overran it, plus
  // the light requests ahead of it (its own slice, 5 ms, and one more batch): 12 ms.
  Tenant light, bulk;
  light.name = "light", bulk.name = "bulk";
  light.load.rate_per_s = 100, bulk.load.rate_per_s = 3000;
  light.load.duration_s = bulk.load.duration_s = 10;
  bulk.load.seed = 3;
  light.service_s = bulk.service_s = {1e-3};
  light.slice_s = bulk.slice_s = 5e-3;
  const TenantsResult r = run_tenants({light, bulk});
  const auto& w = r.tenants[0].wait_s;
  EXPECT_LE(*std::max_element(w.begin(), w.end()), 2 * (5e-3 + 1e-3) + 1e-9);
  EXPECT_LT(percentile_of(w, 0.99), 6e-3);
  // Without slices (FCFS at equal priority) the light tenant queues behind the bulk backlog.
  light.slice_s = bulk.slice_s = 0;
  const TenantsResult f = run_tenants({light, bulk});
  EXPECT_GT(percentile_of(f.tenants[0].wait_s, 0.99), 0.1);
}

TEST(Load, TraceOperatorsLineUpWithTheirBatch) {
  // Two requests, the first cold: each batch's operators start after its cold start and end with it.
  Tenant t;
  t.name = "m";
  t.load.arrivals = "trace";
  t.load.duration_s = 10;
  t.load.trace = {1.0, 2.0};
  t.service_s = {0.01};
  t.cold_start_s = 0.25;
  t.operators = {{{"conv", 0, 0.004}, {"fc", 0.004, 0.01}}};
  const TenantsResult r = run_tenants({t});
  const std::string trace = tenants_trace(r, {t});
  // Batch 1: 1.0 s + 0.25 s cold; conv at 1.25 s, fc at 1.254 s (microseconds in the trace).
  EXPECT_NE(trace.find("\"name\": \"conv\", \"ts\": 1250000, \"dur\": 4000}"), std::string::npos) << trace;
  EXPECT_NE(trace.find("\"name\": \"fc\", \"ts\": 1254000, \"dur\": 6000}"), std::string::npos);
  // Batch 2 is warm: at 2.0 s.
  EXPECT_NE(trace.find("\"name\": \"conv\", \"ts\": 2000000, \"dur\": 4000}"), std::string::npos);
}

/// Edge's power, thermal and governor; a model that takes 1 ms at 1 GHz (compute-bound: time scales
/// with 1/f) and 2 mJ per request at 0.85 V (2 W when busy).
PowerLoop synthetic_power(const config::NpuConfig& cfg) {
  PowerLoop p;
  p.cfg = &cfg;
  p.batch = [](size_t, uint32_t b, double hz, double volts) {
    const double v = volts / 0.85;
    return std::pair<double, double>{b * 1e-3 * 1e9 / hz, b * 2e-3 * v * v};
  };
  return p;
}

TEST(Load, AThermalRunShowsP99RisingAfterTheTrip) {
  // edge.yaml in a 70 C enclosure at 70% load: the die crosses 85 C within minutes, step_wise
  // lowers the clock, service times grow by the frequency ratio and the tail follows.
  config::NpuConfig cfg = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  cfg.thermal.ambient_c = 70;
  const PowerLoop power = synthetic_power(cfg);
  Tenant t;
  t.load.rate_per_s = 700;
  t.load.duration_s = 400;
  t.service_s = {1e-3};
  const TenantsResult r = run_tenants({t}, &power);
  ASSERT_FALSE(r.critical) << r.fault;
  ASSERT_GT(r.first_throttle_s, 0) << "never throttled; hottest " << r.max_temp_c;
  std::vector<double> before, after;
  for (size_t k = 0; k < r.arrival_s[0].size(); ++k)
    (r.arrival_s[0][k] < r.first_throttle_s ? before : after).push_back(r.tenants[0].latency_s[k]);
  ASSERT_GT(before.size(), 1000u);
  ASSERT_GT(after.size(), 1000u);
  EXPECT_GT(percentile_of(after, 0.99), 1.2 * percentile_of(before, 0.99));
  std::printf("first throttle at %.1f s; p99 %.3g ms before, %.3g ms after; hottest %.2f C; %.1f J\n",
              r.first_throttle_s, 1e3 * percentile_of(before, 0.99), 1e3 * percentile_of(after, 0.99), r.max_temp_c,
              r.energy_j);
  EXPECT_GT(r.max_temp_c, 85);
  EXPECT_LT(r.max_temp_c, 90);                  // held near the trip
  EXPECT_GT(r.energy_j, r.tenant_energy_j[0]);  // leakage on top of the batches' energy
}

TEST(Load, ReachingTheCriticalTemperatureStopsTheRun) {
  config::NpuConfig cfg = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  cfg.thermal.ambient_c = 97;  // 3 K below critical: the first busy seconds get there
  cfg.governor.impl = "none";
  cfg.governor.trips_c = {96};
  const PowerLoop power = synthetic_power(cfg);
  Tenant t;
  t.load.rate_per_s = 900;
  t.load.duration_s = 100;
  t.service_s = {1e-3};
  const TenantsResult r = run_tenants({t}, &power);
  EXPECT_TRUE(r.critical);
  EXPECT_NE(r.fault.find("THERMAL_CRITICAL"), std::string::npos);
}

TEST(Load, BadOptions_bad) {
  LoadOptions o;
  o.max_batch = 4;
  EXPECT_THROW(run_load({1e-3}, o), std::invalid_argument);  // no service times for batches 2-4
  o.max_batch = 1;
  o.arrivals = "sometimes";
  EXPECT_THROW(run_load({1e-3}, o), InputError);
  // Bounded work: an infinite or enormous rate, a long duration, a tiny sample interval are
  // refused before anything is generated; a zero duration is an input error, not a crash.
  o.arrivals = "poisson";
  for (const auto& [rate, duration, sample] : std::vector<std::tuple<double, double, double>>{
           {INFINITY, 10, 0}, {1e12, 10, 0}, {100, 1e9, 0}, {100, 0, 0}, {100, 10, 1e-12}, {NAN, 10, 0}}) {
    o.rate_per_s = rate, o.duration_s = duration, o.sample_s = sample;
    EXPECT_THROW(run_load({1e-3}, o), InputError) << rate << " " << duration << " " << sample;
  }
  // An overloaded run far past its duration keeps a bounded queue-length series.
  o.rate_per_s = 1e5, o.duration_s = 10, o.sample_s = 1e-5;
  const LoadResult r = run_load({1e-3}, o);  // a thousand times more arrivals than service
  EXPECT_LE(r.queue_length.size(), size_t{1} << 21);
  EXPECT_GT(r.makespan_s, 900.0);
}

}  // namespace
}  // namespace npusim
