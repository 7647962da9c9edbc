// bench_device: what the register-level device costs a driver's test suite. Runs the same job
// (traces/mlp_i8.npus, and the double-buffered GEMM) many times through the C API in process
// (`sim:`) and over `npusim serve`'s socket (`unix:`, a server in a child process), and the same
// program through the simulator directly; prints jobs per second and the device's overhead per job.
//   bench_device [JOBS]
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "isa/assembler.h"
#include "isa/npub.h"
#include "npusim/npu.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/device/server.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Runs `jobs` submissions of `npub` on the device at `uri`; the wall time, and the cycles of one job.
std::pair<double, uint64_t> run_jobs(const std::string& uri, const std::vector<uint8_t>& npub, int jobs) {
  npu_device* dev = nullptr;
  if (npu_open(uri.c_str(), &dev) != NPU_OK) {
    std::fprintf(stderr, "bench_device: npu_open(%s): %s\n", uri.c_str(), npu_last_error());
    std::exit(1);
  }
  npu_region_info regions[16];
  uint32_t count = 16;
  npu_program_regions(npub.data(), npub.size(), regions, &count);
  npu_job job{};
  job.struct_size = sizeof job;
  job.flags = NPU_JOB_FLAG_IRQ_ON_DONE;
  uint64_t addr;
  npu_bo_create(dev, npub.size(), &job.program_bo, &addr);
  std::memcpy(npu_bo_map(dev, job.program_bo), npub.data(), npub.size());
  job.program_bytes = npub.size();
  job.region_count = count;
  for (uint32_t i = 0; i < count; ++i)
    if (regions[i].role != NPU_REGION_CONST) npu_bo_create(dev, regions[i].size, &job.region_bo[i], &addr);
  npu_result r{};
  const auto t0 = Clock::now();
  for (int j = 0; j < jobs; ++j) {
    uint64_t s;
    if (npu_submit(dev, 0, &job, &s) != NPU_OK || npu_wait(dev, s, npu_time_ns(dev) + 1000000000ull, &r) != NPU_OK) {
      std::fprintf(stderr, "bench_device: job %d failed on %s: %s\n", j, uri.c_str(), npu_last_error());
      std::exit(1);
    }
  }
  const double wall = seconds_since(t0);
  npu_close(dev);
  return {wall, r.cycles};
}

}  // namespace

int main(int argc, char** argv) {
  const int jobs = argc > 1 ? std::atoi(argv[1]) : 2000;
  const std::string cfg_path = std::string(NPUSIM_SOURCE) + "/configs/edge.yaml";
  const auto cfg = npusim::config::load_npu_config(cfg_path);
  // A server in a child process for the socket transport.
  const std::string sock = "/tmp/npusim-bench-device-" + std::to_string(::getpid()) + ".sock";
  const pid_t server = ::fork();
  if (server == 0) {
    npusim::device::ServeOptions o;
    o.socket_path = sock;
    ::_exit(npusim::device::serve(cfg, o));
  }
  for (int i = 0; i < 500 && ::access(sock.c_str(), F_OK) != 0; ++i) ::usleep(10000);
  ::usleep(100000);
  std::printf("%d jobs per program on edge (%s), one queue, submit then wait\n", jobs, cfg_path.c_str());
  std::printf("%-12s %10s %14s %14s %14s %16s\n", "program", "cycles", "direct (us)", "sim: (us)", "unix: (us)",
              "unix: jobs/s");
  for (const char* name : {"mlp_i8", "gemm_i8_db"}) {
    const auto prog = npusim::isa::assemble_file(std::string(NPUSIM_SOURCE) + "/traces/" + name + ".npus").program;
    const std::vector<uint8_t> npub = npusim::isa::write_npub(prog);
    // The simulator alone, on the region contents a job would bind (zeros; constants from the container).
    const auto t0 = Clock::now();
    uint64_t direct_cycles = 0;
    for (int j = 0; j < jobs; ++j) {
      std::vector<std::vector<uint8_t>> regions;
      for (const auto& r : prog.regions) {
        regions.emplace_back(r.size, 0);
        std::copy(r.init.begin(), r.init.end(), regions.back().begin());
      }
      direct_cycles = npusim::simulate_regions(cfg, prog, regions, {}).total_cycles;
    }
    const double direct = seconds_since(t0);
    const auto [local, local_cycles] = run_jobs("sim:" + cfg_path, npub, jobs);
    const auto [remote, remote_cycles] = run_jobs("unix:" + sock, npub, jobs);
    if (local_cycles != direct_cycles || remote_cycles != direct_cycles) {
      std::fprintf(stderr, "bench_device: %s: cycles differ (direct %llu, sim: %llu, unix: %llu)\n", name,
                   static_cast<unsigned long long>(direct_cycles), static_cast<unsigned long long>(local_cycles),
                   static_cast<unsigned long long>(remote_cycles));
      return 1;
    }
    std::printf("%-12s %10llu %14.1f %14.1f %14.1f %16.0f\n", name, static_cast<unsigned long long>(direct_cycles),
                1e6 * direct / jobs, 1e6 * local / jobs, 1e6 * remote / jobs, jobs / remote);
  }
  ::kill(server, SIGTERM);
  ::waitpid(server, nullptr, 0);
  return 0;
}
