// libFuzzer target for the YAML config loader. Oracle: any input either loads or raises a
// ConfigError (a message with file:line:col); anything else escaping is a bug.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sim/npu_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    npusim::config::load_npu_config_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  } catch (const npusim::config::ConfigError& e) {
    if (std::string(e.what()).rfind("fuzz.yaml", 0) != 0) {
      std::fprintf(stderr, "error without location: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
