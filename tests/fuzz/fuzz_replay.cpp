// libFuzzer target for `npusim replay`'s register-trace reader, and through it the device: traces
// can add buffers, fill them and ring doorbells, so fuzzed rings, job entries and programs reach
// the device's job path. Oracle: a replay returns 0 or 1, or throws std::runtime_error naming
// the trace file; anything else escaping, a crash or a hang is a bug.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "sim/npu_config.h"
#include "tools/device/server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const npusim::config::NpuConfig cfg = npusim::config::load_npu_config(NPUSIM_CONFIGS "/edge.yaml");
  static const std::string path = "/tmp/npusim_fuzz_replay_" + std::to_string(::getpid()) + ".rtrace";
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  try {
    const int rc = npusim::device::replay(cfg, path, uint64_t{64} << 20);  // 64 MiB of buffers at most
    if (rc != 0 && rc != 1) std::abort();
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).rfind(path, 0) != 0) {
      std::fprintf(stderr, "error without the file: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
