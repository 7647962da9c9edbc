// Layer-level speed: ResNet-50's 53 convolutions on a 32x32 array in WS, OS and IS (a SCALE-Sim
// .cfg with stall-free bandwidth), wall time per run (best of many) and the process's peak memory.
// With SCALE-Sim report folders (its -p output, one per dataflow) it also compares every layer's
// total cycles with SCALE-Sim's COMPUTE_REPORT.csv.
//
//   bench_topology TOPOLOGY.csv [SCALESIM_RUNS_DIR]   (runs named <anything>_<ws|os|is>)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tools/topology/topology.h"

using namespace npusim;

namespace {

std::string scalesim_cfg(const std::string& df) {
  return "[general]\nrun_name = bench_" + df +
         "\n[architecture_presets]\nArrayHeight: 32\nArrayWidth: 32\nIfmapSramSzkB: 64\nFilterSramSzkB: 64\n"
         "OfmapSramSzkB: 64\nIfmapOffset: 0\nFilterOffset: 10000000\nOfmapOffset: 20000000\nBandwidth: 10\n"
         "Dataflow: " +
         df + "\nMemoryBanks: 1\n[run_presets]\nInterfaceBandwidth: CALC\n";
}

/// Total cycles per layer from a SCALE-Sim COMPUTE_REPORT.csv (empty when absent).
std::vector<uint64_t> scalesim_cycles(const std::string& file) {
  std::vector<uint64_t> out;
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string id, cycles;
    if (std::getline(ss, id, ',') && std::getline(ss, cycles, ',')) out.push_back(std::stoull(cycles));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_topology TOPOLOGY.csv [SCALESIM_RUNS_DIR]\n");
    return 2;
  }
  const auto layers = topology::load_topology(argv[1]);
  std::printf("%zu layers from %s on a 32x32 array, ideal memory (SCALE-Sim CALC)\n", layers.size(), argv[1]);
  std::printf("%-4s %14s %14s %12s %s\n", "flow", "total cycles", "wall per run", "runs", "vs SCALE-Sim");
  for (const char* df : {"ws", "os", "is"}) {
    const std::string cfg_file =
        std::filesystem::temp_directory_path() / ("bench_topology_" + std::string(df) + ".cfg");
    std::ofstream(cfg_file) << scalesim_cfg(df);
    topology::LayerMemory mem;
    const config::NpuConfig cfg = topology::load_scalesim_cfg(cfg_file, mem);
    // Best of many runs: the figure is the model's cost, not the machine's noise.
    double best = 1e9;
    std::vector<topology::LayerResult> rs;
    int runs = 0;
    const auto start = std::chrono::steady_clock::now();
    while (runs < 5 || std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 0.5) {
      const auto t0 = std::chrono::steady_clock::now();
      rs = topology::run_layers(cfg, mem, topology::load_topology(argv[1]));
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      ++runs;
    }
    uint64_t total = 0;
    for (const auto& r : rs) total += r.total_cycles;
    std::string versus = "-";
    if (argc > 2) {
      for (const auto& e : std::filesystem::directory_iterator(argv[2])) {
        const std::string name = e.path().filename().string();
        if (name.size() < 3 || name.substr(name.size() - 3) != "_" + std::string(df)) continue;
        const auto ref = scalesim_cycles((e.path() / "COMPUTE_REPORT.csv").string());
        if (ref.empty()) continue;
        size_t same = 0;
        for (size_t i = 0; i < ref.size() && i < rs.size(); ++i) same += ref[i] == rs[i].total_cycles;
        versus = std::to_string(same) + "/" + std::to_string(ref.size()) + " layers identical (" + name + ")";
      }
    }
    std::printf("%-4s %14llu %11.3f ms %12d %s\n", df, static_cast<unsigned long long>(total), 1e3 * best, runs,
                versus.c_str());
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf("peak resident memory of this process: %.1f MiB\n", u.ru_maxrss / 1024.0);
  return 0;
}
