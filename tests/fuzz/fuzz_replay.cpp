// libFuzzer target for `npusim replay`'s register-trace reader, and through it the device: traces
// can add buffers, fill them and ring doorbells, so fuzzed rings, job entries and programs reach
// the device's job path. Each input runs between a victim context's prelude and postlude: q3 opens,
// shares a buffer and sets registers of its own before the fuzzed lines (which may not name q3;
// their read_reg lines are dropped so that any differing read is the victim's), and afterwards
// every one of its registers must read as it left them (its own die: no device time passed, the
// power-on temperature), with no error or interrupt raised in it
// (a context's state depends only on its own lines). Oracle: a replay returns 0 (1 only when the
// victim was disturbed: abort), or throws std::runtime_error naming the trace file; anything else
// escaping, a crash or a hang is a bug.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "npusim/regs.h"
#include "sim/npu_config.h"
#include "tools/device/device.h"
#include "tools/device/server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const npusim::config::NpuConfig cfg = npusim::config::load_npu_config(NPUSIM_CONFIGS "/edge.yaml");
  static const std::string path = "/tmp/npusim_fuzz_replay_" + std::to_string(::getpid()) + ".rtrace";
  const std::string input(reinterpret_cast<const char*>(data), size);
  if (input.find("q3") != std::string::npos) return 0;  // the victim's context is not the fuzzer's
  const std::string victim_buffer = std::to_string(uint64_t{4} << 32);
  std::ostringstream trace;
  trace << "die own\nq3 open\nq3 mem_add " << victim_buffer << " 64\nq3 load_mem " << victim_buffer << " "
        << std::string(128, 'a') << "\n";
  const std::pair<uint32_t, uint32_t> regs[] = {{NPU_REG_SCRATCH, 0x1234},
                                                {NPU_REG_INT_ENABLE, 0xFF},
                                                {NPU_REG_WATCHDOG, 123456},
                                                {NPU_Q_SQ_SIZE(3), 4},
                                                {NPU_Q_SQ_BASE_LO(3), 0}};
  for (const auto& [off, v] : regs) trace << "q3 write_reg " << off << " " << v << "\n";
  std::istringstream lines(input);
  for (std::string line; std::getline(lines, line);)
    if (line.find("read_reg") == std::string::npos) trace << line << "\n";
  trace << "\n";
  for (const auto& [off, v] : regs) trace << "q3 read_reg " << off << " " << (off == NPU_REG_SCRATCH ? ~v : v) << "\n";
  trace << "q3 read_reg " << NPU_REG_ERR_STATUS << " 0\nq3 read_reg " << NPU_REG_INT_STATUS << " 0\n";
  // Its die is its own: no device time passed for it, its temperature is the power-on one.
  static const uint32_t cold_mc =
      static_cast<uint32_t>(std::lround(std::max(0.0, npusim::device::Die(cfg).temperature_c()) * 1000));
  trace << "q3 read_reg " << NPU_REG_CYCLE_LO << " 0\nq3 read_reg " << NPU_REG_CYCLE_HI << " 0\nq3 read_reg "
        << NPU_REG_TEMP_MC << " " << cold_mc << "\nq3 read_reg " << NPU_REG_THROTTLE_LEVEL << " 0\n";
  std::ofstream(path, std::ios::binary) << trace.str();
  try {
    const int rc = npusim::device::replay(cfg, path, uint64_t{64} << 20);  // 64 MiB of buffers at most
    if (rc != 0) {
      std::fprintf(stderr, "the fuzzed lines disturbed the victim context q3 (replay returned %d)\n", rc);
      std::abort();
    }
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).rfind(path, 0) != 0) {
      std::fprintf(stderr, "error without the file: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
