// Power, thermal and DVFS: the RC network against closed forms, ZOH against forward Euler, the
// energy bookkeeping against the simulator's own counters, and throttling and the critical
// temperature in long runs of a real program.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "arch/governor.h"
#include "arch/thermal.h"
#include "base/stats.h"
#include "fork_run.h"
#include "isa/assembler.h"
#include "sim/npu_config.h"
#include "tools/longrun/long_run.h"

namespace npusim {
namespace {

config::NpuConfig load(const std::string& name) {
  return config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/" + name);
}

/// A config with `extra` YAML appended to edge.yaml (later keys do not override: tests give
/// sections edge.yaml lacks or rewrite by text replacement).
config::NpuConfig edge_with(const std::string& from, const std::string& to) {
  std::ifstream in(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const auto at = text.find(from);
  if (at == std::string::npos) throw std::logic_error("edge.yaml lacks '" + from + "'");
  text.replace(at, from.size(), to);
  return config::load_npu_config_text(text, "edge-variant.yaml");
}

TEST(Thermal, SteadyStateIsAmbientPlusPowerTimesResistance) {
  const auto cfg = load("edge.yaml");
  arch::ThermalConfig tc = cfg.thermal;
  arch::ThermalNetwork net(tc, 0.5);  // 0.5 s steps: 2000 s is ten board time constants
  EXPECT_NEAR(net.resistance_to_ambient(), 2.0 + 4.0 + 12.0, 1e-9);
  const double p = 2.0;
  for (int i = 0; i < 4000; ++i) net.step(p);
  const double want = tc.ambient_c + p * 18.0;
  EXPECT_NEAR(net.heat_node_temperature(), want, 0.005 * (want - tc.ambient_c));
  EXPECT_NEAR(net.steady_state(p)(0), want, 1e-9);
}

TEST(Thermal, StepResponseFollowsTheTimeConstant) {
  // One node: C = 1.3 J/K, R = 4 K/W, tau = 5.2 s; T(t) = T_amb + P R (1 - e^{-t/tau}).
  arch::ThermalConfig tc;
  tc.ambient_c = 25;
  tc.nodes = {{"die", 1.3}};
  tc.links = {{"die", "ambient", 4.0}};
  arch::ThermalNetwork net(tc, 0.01);
  ASSERT_EQ(net.time_constants().size(), 1u);
  EXPECT_NEAR(net.time_constants()[0], 5.2, 1e-9);
  for (int k = 1; k <= 3; ++k) {
    for (int i = 0; i < 520; ++i) net.step(3.0);
    const double want = 25 + 3.0 * 4.0 * (1 - std::exp(-k));
    EXPECT_NEAR(net.heat_node_temperature(), want, 1e-9) << "after " << k << " time constants";
  }
}

TEST(Thermal, ManyStepsAtOnceEqualOneAtATime) {
  const auto cfg = load("edge.yaml");
  arch::ThermalNetwork a(cfg.thermal, 1e-3), b(cfg.thermal, 1e-3);
  a.step(5.0), b.step(5.0);                      // away from ambient first
  for (int i = 0; i < 100000; ++i) a.step(0.7);  // 100 s, one step at a time
  b.step_many(0.7, 100000);                      // squared
  for (Eigen::Index i = 0; i < a.temperatures().size(); ++i)
    EXPECT_NEAR(a.temperatures()(i), b.temperatures()(i), 1e-9) << "node " << i;
  // 2^62 steps (146 million years of simulated time) reach the steady state, at once.
  b.step_many(0.7, uint64_t{1} << 62);
  for (Eigen::Index i = 0; i < b.temperatures().size(); ++i)
    EXPECT_NEAR(b.temperatures()(i), b.steady_state(0.7)(i), 1e-9) << "node " << i;
}

TEST(Thermal, PresetTimeConstantsMatchTheReference) {
  // reference/power-thermal-speed.md section 2.3: edge 24 ms / 4.8 s / 196 s; datacenter
  // 0.59 ms / 16 ms / 7.7 s (rounded there: 5% here).
  const auto edge = arch::ThermalNetwork(load("edge.yaml").thermal, 1e-3).time_constants();
  const auto dc = arch::ThermalNetwork(load("datacenter.yaml").thermal, 1e-3).time_constants();
  const double e_want[3] = {0.024, 4.8, 196}, d_want[3] = {0.00059, 0.016, 7.7};
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(edge[i], e_want[i], 0.05 * e_want[i]) << i;
    EXPECT_NEAR(dc[i], d_want[i], 0.05 * d_want[i]) << i;
  }
}

TEST(Thermal, ZohIsStableAtTenMillisecondsWhereEulerIsNot) {
  // The datacenter die node (tau 0.59 ms) at a 10 ms step: forward Euler's step matrix has a
  // spectral radius far above 1 and its temperatures explode; ZOH lands on the steady state.
  arch::ThermalConfig tc = load("datacenter.yaml").thermal;
  arch::ThermalNetwork zoh(tc, 0.010);
  tc.solver = "euler";
  arch::ThermalNetwork euler(tc, 0.010);
  EXPECT_LT(zoh.spectral_radius(), 1.0);
  EXPECT_GT(euler.spectral_radius(), 10.0);
  for (int i = 0; i < 200000; ++i) zoh.step(300);  // 2000 s: ~260 sink time constants
  for (int i = 0; i < 100; ++i) euler.step(300);
  EXPECT_NEAR(zoh.heat_node_temperature(), zoh.steady_state(300)(0), 1e-6);
  EXPECT_GT(std::abs(euler.heat_node_temperature()), 1e6);
}

TEST(Power, LeakageFollowsVoltageAndTemperature) {
  // Leakage at the reference = logic density x leaking logic area + SRAM density x SRAM area
  // (the DRAM PHY excluded); then x (V / V_nominal)^gamma x exp(beta (T - T_ref)).
  arch::PowerConfig pc;
  pc.logic_leakage_w_per_mm2 = 0.1, pc.sram_leakage_w_per_mm2 = 0.02;
  pc.leakage_t_ref_c = 25, pc.leakage_beta = 0.036, pc.leakage_v_exp = 1, pc.v_nominal = 0.75;
  const arch::EnergyModel m(pc);
  const arch::Area a = m.area();
  const double sram =
      a[static_cast<size_t>(arch::AreaPart::Scratchpad)] + a[static_cast<size_t>(arch::AreaPart::Accumulator)];
  const double logic = arch::area_total(a) - sram - a[static_cast<size_t>(arch::AreaPart::DramPhy)];
  const double ref = 0.1 * logic + 0.02 * sram;
  EXPECT_NEAR(m.leakage_w(0.75, 25), ref, 1e-15);
  EXPECT_NEAR(m.leakage_w(0.75, 25 + std::log(2.0) / 0.036), 2 * ref, 1e-12);  // doubles every ln2/beta K
  EXPECT_NEAR(m.leakage_w(0.375, 25), ref / 2, 1e-12);
}

TEST(Power, DoublingTheDesignRaisesAreaLeakageAndAccessEnergy) {
  // Each doubling of docs/power.md "Cost model": a 2x scratchpad or accumulator (same banks:
  // each bank twice as big) raises its area by 2^sram_area_exp, its pJ per byte by 2^sram_kb_exp
  // and leakage by its SRAM density x the added area; a 2x array (rows and cols) raises the MXU
  // area 4x, the clocked area and so the clock energy per cycle, and logic leakage; 2x DRAM
  // channels double the PHY and controller area and raise leakage by the controllers' share.
  const auto base = load("edge.yaml");
  const arch::EnergyModel m0(base.power);
  const arch::Area a0 = m0.area();
  auto part = [](const arch::Area& a, arch::AreaPart p) { return a[static_cast<size_t>(p)]; };
  arch::Activity one_cycle;
  one_cycle.cycles = 1;
  const double clock0 = m0.dynamic(one_cycle, 0.75)[static_cast<size_t>(arch::Component::Clock)];
  const double leak0 = m0.leakage_w(0.75, 25);
  const auto& pc = base.power;
  {  // scratchpad
    auto c = base;
    c.spad.size_bytes *= 2;
    c.power.design = config::design_of(c);
    const arch::EnergyModel m(c.power);
    EXPECT_NEAR(part(m.area(), arch::AreaPart::Scratchpad),
                part(a0, arch::AreaPart::Scratchpad) * std::pow(2, pc.sram_area_exp), 1e-12);
    EXPECT_NEAR(arch::sram_pj_per_byte(c.power, c.power.design.spad),
                arch::sram_pj_per_byte(pc, pc.design.spad) * std::pow(2, pc.sram_kb_exp), 1e-12);
    EXPECT_GT(arch::area_total(m.area()), arch::area_total(a0));
    EXPECT_GT(m.leakage_w(0.75, 25), leak0);
  }
  {  // accumulator
    auto c = base;
    c.acc.size_bytes *= 2;
    c.power.design = config::design_of(c);
    const arch::EnergyModel m(c.power);
    EXPECT_NEAR(part(m.area(), arch::AreaPart::Accumulator),
                part(a0, arch::AreaPart::Accumulator) * std::pow(2, pc.sram_area_exp), 1e-12);
    EXPECT_NEAR(arch::sram_pj_per_byte(c.power, c.power.design.acc),
                arch::sram_pj_per_byte(pc, pc.design.acc) * std::pow(2, pc.sram_kb_exp), 1e-12);
    EXPECT_GT(m.leakage_w(0.75, 25), leak0);
  }
  {  // array
    auto c = base;
    c.mxu.rows *= 2, c.mxu.cols *= 2;
    c.power.design = config::design_of(c);
    const arch::EnergyModel m(c.power);
    EXPECT_NEAR(part(m.area(), arch::AreaPart::Mxu), 4 * part(a0, arch::AreaPart::Mxu), 1e-12);
    const double clock = m.dynamic(one_cycle, 0.75)[static_cast<size_t>(arch::Component::Clock)];
    EXPECT_NEAR(clock - clock0, pc.clock_pj_per_mm2 * 3 * part(a0, arch::AreaPart::Mxu) * 1e-12, 1e-18);
    EXPECT_NEAR(m.leakage_w(0.75, 25) - leak0,
                pc.logic_leakage_w_per_mm2 * 3 * part(a0, arch::AreaPart::Mxu) * (1 + pc.noc_fraction), 1e-12);
  }
  {  // DRAM channels
    auto c = base;
    c.dram.channels *= 2;
    c.power.design = config::design_of(c);
    const arch::EnergyModel m(c.power);
    EXPECT_NEAR(part(m.area(), arch::AreaPart::DramPhy), 2 * part(a0, arch::AreaPart::DramPhy), 1e-12);
    EXPECT_NEAR(part(m.area(), arch::AreaPart::DramCtrl), 2 * part(a0, arch::AreaPart::DramCtrl), 1e-12);
    EXPECT_NEAR(m.leakage_w(0.75, 25) - leak0,
                pc.logic_leakage_w_per_mm2 * part(a0, arch::AreaPart::DramCtrl) * (1 + pc.noc_fraction), 1e-12);
    EXPECT_GT(m.dynamic(one_cycle, 0.75)[static_cast<size_t>(arch::Component::Clock)], clock0);
  }
  // DRAM energy per bit follows the technology; an explicit value overrides it.
  auto c = base.power;
  c.dram_technology = "hbm3";
  EXPECT_DOUBLE_EQ(arch::dram_pj_per_bit(c), 4.05);
  c.dram_pj_per_bit = 3;
  EXPECT_DOUBLE_EQ(arch::dram_pj_per_bit(c), 3);
  // The RTL cross-check: the 16x16 int8 MXU area against yosys cells at ~1.1 um^2 (Nangate 45 nm,
  // mostly 0.8 um^2 gates plus 4.5 um^2 flip-flops) over the same utilization, within 30 %.
  auto i8 = base;
  i8.mxu.dtypes = {"i8"};
  i8.power.design = config::design_of(i8);
  const double model_um2_45 =
      part(arch::area_of(i8.power), arch::AreaPart::Mxu) / (pc.area_factor * 1e-6) * pc.logic_utilization;
  const double rtl_um2_45 = arch::mxu_rtl_cells(16, 16) * 1.1;
  EXPECT_NEAR(model_um2_45 / rtl_um2_45, 1.0, 0.3);
}

TEST(Power, RunEnergyIsTheSumOfCountsTimesEnergies) {
  // The double-buffered GEMM trace on edge: every component's energy must equal the simulator's
  // own counters (MACs, SRAM and DRAM bytes, instructions, cycles) times the configured energy,
  // scaled by (V / V_nominal)^2 at the first operating point (0.85 V).
  const std::string out = testing::in_child([] {
    const auto cfg = load("edge.yaml");
    const auto prog = isa::assemble_file(std::string(NPUSIM_TRACES) + "/gemm_i8_db.npus", {}).program;
    std::map<std::string, std::vector<uint8_t>> in;
    for (const auto& io : prog.io)
      if (prog.regions[io.region].role == isa::RegionRole::Input)
        in[io.name] = std::vector<uint8_t>(prog.regions[io.region].size, 1);
    RunOptions o;
    o.timing_only = true;
    const RunResult r = simulate(cfg, prog, in, o);
    if (!r.ok) return "FAULT " + r.fault_message;
    arch::ThermalNetwork net(cfg.thermal, cfg.thermal.step_s);
    const PowerReport p = power_of_run(cfg, r, net);
    const auto& pc = cfg.power;
    const double vs = (0.85 / pc.v_nominal) * (0.85 / pc.v_nominal), pj = 1e-12;
    uint64_t instr = 0;
    for (const auto& e : r.engines) instr += e.instructions;
    const double cycles = r.seconds * cfg.clock_hz;
    const double dram = static_cast<double>(r.dram.bytes_read + r.dram.bytes_written);
    // SRAM pJ per byte: one bank's CACTI fit a KB^b (w/64)^c x factor over w/8 bytes (edge: 512 KiB
    // in 8 banks and 128 KiB in 4, both 64-byte ports).
    auto sram_pj = [&pc](double bank_kb) {
      return pc.sram_read_pj * std::pow(bank_kb, pc.sram_kb_exp) * std::pow(512.0 / 64, pc.sram_width_exp) *
             pc.sram_energy_factor / 64;
    };
    const double spad_pj = sram_pj(64), acc_pj = sram_pj(32);
    const double want[] = {
        static_cast<double>(r.macs) * pc.mac_int_pj * pc.tech_factor * vs * pj,         // mac (all int8)
        -1,                                                                             // vpu: counted below
        static_cast<double>(instr) * pc.instruction_pj * pc.tech_factor * vs * pj,      // control
        cycles * pc.clock_pj_per_mm2 * arch::clocked_mm2(arch::area_of(pc)) * vs * pj,  // clock
        static_cast<double>(r.spad.bytes) * spad_pj * vs * pj,                          // scratchpad
        static_cast<double>(r.acc.bytes) * acc_pj * vs * pj,                            // accumulator
        dram * 8 * 8.0 * pj,                                                            // dram: LPDDR4 8 pJ/bit
        dram * pc.dma_pj_per_byte * vs * pj,                                            // dma
    };
    std::ostringstream os;
    for (size_t i = 0; i < 8; ++i) {
      if (want[i] < 0) continue;
      const double got = p.energy[i];
      if (std::abs(got - want[i]) > 1e-9 * std::max(1e-30, want[i]))
        os << arch::component_name(static_cast<arch::Component>(i)) << ": got " << got << " want " << want[i] << "\n";
    }
    // Leakage: the run is microseconds long, so the die stays at ambient.
    const double leak = arch::EnergyModel(pc).leakage_w(0.85, cfg.thermal.ambient_c) * r.seconds;
    if (std::abs(p.energy[static_cast<size_t>(arch::Component::Leakage)] - leak) > 1e-6 * leak)
      os << "leakage: got " << p.energy[8] << " want " << leak << "\n";
    if (std::abs(arch::total(p.energy) - p.avg_w * r.seconds) > 1e-9 * arch::total(p.energy)) os << "average\n";
    if (!(p.peak_w >= p.avg_w)) os << "peak below average\n";
    return os.str().empty() ? std::string("OK") : os.str();
  });
  EXPECT_EQ(out, "OK");
}

/// A compute-bound program: weights and activations loaded once, then many matmuls.
const char* kComputeBound = R"(.npus 1.0
.target line=64 dtypes=i8
.region x role=input size=16KiB
.io x region=x dtype=i8 shape=[16384]
.desc A region=x dtype=i8 box=[64, 128] stride=[64]
.sem l2m consumer=mxu
load s[0], A !sig(l2m)
matmul acc[0], s[0], s[0], m=128, n=64, k=64, dtype=i8 !wait(l2m)
)";

std::string compute_bound_program() {
  std::string s = kComputeBound;
  for (int i = 0; i < 400; ++i) s += "matmul acc[0], s[0], s[0], m=128, n=64, k=64, accumulate, dtype=i8\n";
  return s + "finish\n";
}

LongRunResult long_run(const config::NpuConfig& cfg, const LongRunOptions& o) {
  const isa::Program prog = isa::assemble(compute_bound_program(), "compute.npus", {}).program;
  const std::map<std::string, std::vector<uint8_t>> in = {{"x", std::vector<uint8_t>(16384, 3)}};
  return run_long(
      cfg, [&](double hz) { return profile_in_child(cfg, prog, in, hz); }, o);
}

TEST(Throttle, SustainedEdgeLoadCrossesTheTripAndLatencyRisesByTheFrequencyRatio) {
  // edge.yaml in an 84 C enclosure: the die crosses the 85 C trip within minutes; step_wise then
  // drops one operating point, and a compute-bound program's latency rises by f_before / f_after.
  // (The area-based leakage of the 2.2 mm^2 edge design, ~0.02 W at 25 C, heats the die ~3 K at
  // 18 K/W under this load: an 80 C enclosure stays at 83 C.)
  const auto cfg = edge_with("ambient: 35", "ambient: 84");
  LongRunOptions o;
  o.duration_s = 600;
  const LongRunResult r = long_run(cfg, o);
  ASSERT_FALSE(r.critical) << r.fault;
  ASSERT_FALSE(r.events.empty()) << "never throttled; hottest " << r.max_temp_c << " C";
  const ThrottleEvent& first = r.events.front();
  EXPECT_GT(first.temp_c, 85.0);
  EXPECT_EQ(first.from_hz, 1000e6);
  EXPECT_EQ(first.to_hz, 900e6);
  const double before = r.latencies_s.front();
  // The first inference that ran entirely at the lower clock.
  double after = 0;
  double t = 0;
  for (const auto& [l, n] : r.latencies_s.runs()) {
    if (t > first.t_s + 1e-9) {
      after = l;
      break;
    }
    t += l * static_cast<double>(n);
  }
  ASSERT_GT(after, 0);
  EXPECT_NEAR(after / before, 1000.0 / 900.0, 0.01 * 1000.0 / 900.0);
  EXPECT_GE(r.simulated_hz.size(), 2u);
}

TEST(LongRun, EventStepsEqualAThermalStepByStepReference) {
  // A program of constant power (every slice alike) whose 7 us latency divides no event: the run
  // takes inferences thousands at a time, and must equal a reference that steps the thermal
  // network every thermal.step with that step's dynamic energy plus its leakage at the step's
  // temperature.
  const config::NpuConfig cfg = load("edge.yaml");
  InferenceProfile p;
  p.hz = cfg.clock_hz;
  p.seconds = 7e-6;
  arch::Activity slice;
  slice.macs_int = 1e4, slice.vpu_ops = 2e3, slice.spad_bytes = 3e4, slice.dram_bytes = 5e3, slice.cycles = 109.375;
  p.slices.assign(kProfileSlices, slice);
  LongRunOptions o;
  o.duration_s = 2;
  const LongRunResult r = run_long(
      cfg, [&](double) { return p; }, o);
  const arch::EnergyModel model(cfg.power);
  arch::ThermalNetwork net(cfg.thermal, cfg.thermal.step_s);
  const arch::Setting set = arch::make_governor(cfg.governor)->initial();
  arch::Activity per_step = slice.scaled(kProfileSlices * cfg.thermal.step_s / p.seconds);
  double joules = 0;
  for (int i = 0; i < 2000; ++i) {
    const double e = arch::total(dynamic_with_clock(model, per_step, cfg.thermal.step_s, set.hz, set.volts)) +
                     model.leakage_w(set.volts, net.heat_node_temperature()) * cfg.thermal.step_s;
    joules += e;
    net.step(e / cfg.thermal.step_s);
  }
  EXPECT_EQ(r.inferences, static_cast<uint64_t>(2 / 7e-6));  // 285714 whole ones; the last is partial
  EXPECT_NEAR(arch::total(r.energy), joules, 1e-9 * joules);
  EXPECT_NEAR(r.max_temp_c, net.max_temperature(), 1e-9 * net.max_temperature());
  EXPECT_EQ(r.latencies_s.count(), r.inferences);
  EXPECT_EQ(r.latencies_s.percentile(0.5), 7e-6);
  EXPECT_LT(r.latencies_s.runs().size(), 5000u);  // a few runs per thermal step at most
}

TEST(Throttle, ReachingTheCriticalTemperatureFaultsCleanly) {
  // No throttling and a critical temperature just above the enclosure's: THERMAL_CRITICAL.
  config::NpuConfig hot = load("edge.yaml");
  hot.thermal.ambient_c = 80;
  hot.governor.impl = "none";
  hot.governor.trips_c = {81};
  hot.governor.critical_c = 82;
  LongRunOptions o;
  o.duration_s = 600;
  const LongRunResult r = long_run(hot, o);
  ASSERT_TRUE(r.critical);
  EXPECT_NE(r.fault.find("THERMAL_CRITICAL"), std::string::npos) << r.fault;
  EXPECT_NE(r.fault.find("reaches governor.critical (82 C)"), std::string::npos) << r.fault;
  EXPECT_LT(r.seconds, 600);
  EXPECT_GT(r.inferences, 0u);
}

TEST(Power, JsonReportsWriteNonFiniteFiguresAsNullAndEscapeNames) {
  // power_json, long_run_json and long_run_trace build trees: a NaN or infinite figure is written
  // as null and a name with quotes stays a string, so the text always parses; figures keep %.6g.
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  PowerReport p;
  p.avg_w = nan;
  p.peak_w = inf;
  p.hz = 1e9;
  p.volts = 0.123456789;
  p.operator_j = {{"conv \"a\"", 1.5e-6}};
  const auto pj = nlohmann::ordered_json::parse(stats::json_text(power_json(p)));
  EXPECT_TRUE(pj["average_w"].is_null());
  EXPECT_TRUE(pj["peak_w"].is_null());
  EXPECT_EQ(pj["clock_hz"], 1e9);
  EXPECT_EQ(pj["volts"], 0.123457);
  EXPECT_EQ(pj["energy_j"]["total"], 0);
  EXPECT_EQ(pj["operators_j"]["conv \"a\""], 1.5e-6);

  LongRunResult r;
  r.inferences = 2;
  r.seconds = 1;
  r.max_temp_c = nan;
  r.latencies_s.add(0.25);
  r.latencies_s.add(0.5);
  r.events = {{0.5, nan, 1e9, 9e8}};
  r.samples.resize(1);
  r.samples[0].t_s = 0.001;
  r.samples[0].power_w = inf;
  r.samples[0].hz = 1e9;
  r.critical = true;
  r.fault = "THERMAL_CRITICAL: \"x\"\n";
  const auto lj = nlohmann::ordered_json::parse(stats::json_text(long_run_json(r)));
  EXPECT_TRUE(lj["max_temperature_c"].is_null());
  EXPECT_EQ(lj["latency_s"]["p50"], 0.25);
  EXPECT_TRUE(lj["throttle_events"][0]["temperature_c"].is_null());
  EXPECT_EQ(lj["throttle_events"][0]["to_hz"], 9e8);
  EXPECT_EQ(lj["critical"], true);
  EXPECT_EQ(lj["fault"], r.fault);
  const auto tj = nlohmann::ordered_json::parse(long_run_trace(r));
  ASSERT_EQ(tj["traceEvents"].size(), 5u);  // process name, three counters, one clock change
  EXPECT_TRUE(tj["traceEvents"][1]["args"]["W"].is_null());
  EXPECT_EQ(tj["traceEvents"][1]["ts"], 1000);
  EXPECT_EQ(tj["traceEvents"][4]["name"], "throttle 1000 -> 900 MHz");
}

TEST(Throttle, TripDividerDividesTheClockAtEachTrip) {
  arch::GovernorConfig g;
  g.impl = "trip_divider";
  g.trips_c = {85, 90, 95};
  g.dividers = {2, 4, 8};
  g.opps = {{500e6, 0.8}};
  const auto gov = arch::make_governor(g);
  arch::Setting s = gov->initial();
  EXPECT_EQ(s.hz, 500e6);
  EXPECT_EQ(gov->poll(84.9, s).hz, 500e6);
  EXPECT_EQ(gov->poll(85, s).hz, 250e6);
  EXPECT_EQ(gov->poll(91, s).hz, 125e6);
  EXPECT_EQ(gov->poll(99, s).hz, 62.5e6);  // the Coral dev-board levels: 500, 250, 125, 62.5 MHz
  EXPECT_EQ(gov->poll(99, s).volts, 0.8);
}

TEST(Throttle, ConfigChecks_bad) {
  auto expect = [](const std::string& from, const std::string& to, const std::string& msg) {
    try {
      edge_with(from, to);
      ADD_FAILURE() << "accepted: " << to;
    } catch (const config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
    }
  };
  expect("clock: 1GHz", "clock: 950MHz", "must equal the first (fastest) of dvfs.operating_points");
  expect("[board, ambient, 12.0]", "[board, die, 12.0]", "some node has no path to ambient");
  expect("trips: [85]", "trips: [85, 80]", "trips must be ascending");
  expect("[die, package, 2.0]", "[die, pkg, 2.0]", "names a node not in thermal.nodes");
  expect("[[1000, 0.85], [900, 0.80]", "[[1000, 0.85], [1200, 0.80]", "strictly descending");
}

}  // namespace
}  // namespace npusim
