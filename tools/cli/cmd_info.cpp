// `npusim info`: the ISA, the config parameters, the operators, the statistics, this build, or a
// program, each printed from the declarations the code uses.
#include <cstdio>
#include <string>

#include "base/version.h"
#include "compiler/op_registry.h"
#include "isa/npub.h"
#include "isa/spec.h"
#include "isa/summary.h"
#include "sim/npu_config.h"
#include "sim/run_power.h"
#include "sim/simulator.h"
#include "tools/cli/command.h"
#include "tools/workload/workload.h"

namespace npusim::cli {
namespace {

int cmd_info(const Args& a) {
  if (a.flag("--config")) {
    if (a.positional().empty()) {
      std::fputs(config::npu_config_reference().c_str(), stdout);
      return kExitOk;
    }
    for (const auto& path : a.positional()) {
      const config::NpuConfig c = config::load_npu_config(path);
      std::printf("# %s (hash 0x%016llx)\n%s", path.c_str(), static_cast<unsigned long long>(c.hash()),
                  config::npu_config_summary(c).c_str());
      // The design's area by part, as YAML comments so the output still loads back as a config.
      std::string area = area_text(c);
      for (size_t at = 0; at < area.size();) {
        const size_t end = area.find('\n', at);
        std::printf("# %s\n", area.substr(at, end - at).c_str());
        at = end + 1;
      }
    }
    return kExitOk;
  }
  if (a.flag("--version")) {
    std::printf("npusim %s (ISA %d.%d, .npub %d.%d)\n", kVersion, isa::spec().version_major, isa::spec().version_minor,
                isa::kNpubVersionMajor, isa::kNpubVersionMinor);
    return kExitOk;
  }
  if (a.flag("--isa")) {
    std::fputs(isa::isa_listing().c_str(), stdout);
    return kExitOk;
  }
  if (a.flag("--operators")) {
    std::fputs(compiler::operators_table().c_str(), stdout);
    return kExitOk;
  }
  if (a.flag("--stats-schema")) {
    std::fputs(stats_schema().c_str(), stdout);
    return kExitOk;
  }
  if (a.flag("--stats")) {
    std::fputs(stats_reference().c_str(), stdout);
    return kExitOk;
  }
  if (a.positional().size() == 1) {
    const std::string path = a.positional()[0];
    const isa::Program prog = load_program(path);
    std::printf("%s\n%s", path.c_str(), isa::program_summary(prog).c_str());
    return kExitOk;
  }
  throw UsageError("info needs --isa, --config, --operators, --stats, --version or one program file");
}

const bool registered = register_command({
    "info",
    110,
    "describe the ISA, this build, or a program",
    "usage: npusim info --isa | --config [CONFIG.yaml...] | --operators | --stats | --version | "
    "PROGRAM.(npub|npus)\n",
    "",
    {
        flag("--isa", "every instruction, field and parameter kind, from the ISA definition"),
        flag("--config",
             "every config parameter (type, unit, default, description); with files:\n"
             "load and check them, print the effective values, the config hash and the\n"
             "area by part (mm^2)"),
        flag("--operators",
             "the ONNX operators the compiler lowers to the NPU, with their family and\n"
             "properties (docs/compiler.md holds the same table)"),
        flag("--stats", "every statistic of stats.json (path, kind, unit, description; docs/stats.md)"),
        flag("--stats-schema", "the JSON Schema of stats.json, from the same declarations (docs/stats.schema.json)"),
        flag("--version", "simulator, ISA and container versions"),
    },
    "With PROGRAM (.npub or .npus): its target, tables, instruction mix, MACs, DRAM traffic and\n"
    "deadlock proof.\n",
    cmd_info,
});

}  // namespace
}  // namespace npusim::cli
