// RTL co-simulation speed: clock cycles per second of the Verilated array (4x4, 8x8, 16x16, both
// dataflows) on a fixed set of tiles, and how much faster the analytical model answers the same
// tiles. Prints figures; asserts nothing about speed.
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "arch/mxu_timing.h"
#include "rtl/systolic_rtl.h"

int main() {
  using namespace npusim;
  using clock = std::chrono::steady_clock;
  std::printf("%-8s %-4s %8s %14s %12s %16s %12s\n", "array", "flow", "tiles", "RTL cycles", "RTL wall s",
              "RTL cycles/s", "analytical x");
  for (uint32_t n : rtl::available_sizes())
    for (auto flow : {arch::Dataflow::WeightStationary, arch::Dataflow::OutputStationary}) {
      auto array = rtl::make_systolic_rtl(n, n);
      std::mt19937 rng(n);
      std::uniform_int_distribution<uint32_t> dim(1, 4 * n);
      std::vector<arch::MatmulShape> shapes;
      for (int i = 0; i < 40; ++i) shapes.push_back({dim(rng) + 64, dim(rng), dim(rng), false});
      uint64_t cycles = 0;
      const auto t0 = clock::now();
      for (const auto& s : shapes) {
        std::vector<uint8_t> a(size_t{s.m} * s.k, 3), b(size_t{s.k} * s.n, 5);
        cycles += rtl::run_tile(*array, flow, s, a.data(), b.data(), false).cycles;
      }
      const double rtl_s = std::chrono::duration<double>(clock::now() - t0).count();
      // The analytical model on the same tiles, repeated to get a measurable time.
      const int reps = 20000;
      uint64_t sink = 0;
      const auto t1 = clock::now();
      for (int r = 0; r < reps; ++r)
        for (const auto& s : shapes) sink += arch::scalesim_closed_form(n, n, flow, s).cycles;
      const double an_s = std::chrono::duration<double>(clock::now() - t1).count() / reps;
      std::printf("%2ux%-5u %-4s %8zu %14llu %12.4f %16.3e %12.3e%s\n", n, n,
                  flow == arch::Dataflow::WeightStationary ? "ws" : "os", shapes.size(),
                  static_cast<unsigned long long>(cycles), rtl_s, array->simulated_cycles() / rtl_s, rtl_s / an_s,
                  sink == 0 ? " (?)" : "");
    }
  return 0;
}
