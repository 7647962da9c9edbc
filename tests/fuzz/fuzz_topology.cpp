// libFuzzer target for the layer-list readers: SCALE-Sim topology CSVs and .cfg files. The first
// byte picks the reader, the rest is the file. Oracle: any input either loads or raises
// isa::InputError naming the file; a topology that loads also runs through the layer model on a
// 32x32 array without faults of its own.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "isa/diag.h"
#include "tools/topology/topology.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const std::string dir = [] {
    char tmpl[] = "/tmp/fuzz_topology_XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  const bool cfg = data[0] & 1;
  const std::string path = dir + (cfg ? "/in.cfg" : "/in.csv");
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  try {
    npusim::topology::LayerMemory mem;
    if (cfg) {
      npusim::topology::load_scalesim_cfg(path, mem);
    } else {
      static const std::string base = [] {
        const std::string p = dir + "/base.cfg";
        std::ofstream(p) << "[architecture_presets]\nArrayHeight: 32\nArrayWidth: 32\nIfmapSramSzkB: 64\n"
                            "FilterSramSzkB: 64\nOfmapSramSzkB: 64\nDataflow: ws\n";
        return p;
      }();
      const auto layers = npusim::topology::load_topology(path);
      if (layers.size() <= 4096) {  // depthwise rows may expand a lot: keep each input fast
        const auto cfg32 = npusim::topology::load_scalesim_cfg(base, mem);
        npusim::topology::run_layers(cfg32, mem, layers);
      }
    }
  } catch (const npusim::isa::InputError& e) {
    if (std::string(e.what()).find(path) == std::string::npos) {
      std::fprintf(stderr, "error without the file name: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
