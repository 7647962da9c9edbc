// npusim: one executable, one subcommand per job. Exit codes (docs/cli.md):
//   0 success, 1 a simulation/runtime fault, 2 a usage or input error.
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "isa/assembler.h"
#include "isa/diag.h"
#include "isa/disassembler.h"
#include "isa/npub.h"
#include "isa/summary.h"
#include "sim/cli/args.h"
#include "sim/config/npu_config.h"
#include "sim/config/units.h"
#include "sim/version.h"

namespace npusim::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitInput = 2;

/// One subcommand.
struct Command {
  const char* name;     ///< word after `npusim`
  const char* summary;  ///< one line for `npusim --help`
  const char* usage;    ///< full help text
  std::function<int(const std::vector<std::string>&)> run;  ///< body; returns the exit code
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Loads a program from `.npub` (strict reader) or `.npus` (assembler).
isa::Program load_program(const std::string& path) {
  if (ends_with(path, ".npus")) return isa::assemble_file(path).program;
  return isa::load_npub_file(path);
}

int cmd_asm(const std::vector<std::string>& argv) {
  const Args a(argv, {"-o", "--queue-depth"}, {"--no-deadlock-check"});
  if (a.positional().size() != 1) throw UsageError("asm needs exactly one input file");
  const std::string in = a.positional()[0];
  std::string out = a.value("-o");
  if (out.empty()) out = (ends_with(in, ".npus") ? in.substr(0, in.size() - 5) : in) + ".npub";
  isa::AssembleOptions opts;
  opts.check_deadlock = !a.flag("--no-deadlock-check");
  opts.queue_depth = static_cast<unsigned>(a.number("--queue-depth", 0));
  const auto result = isa::assemble_file(in, opts);
  const auto bytes = isa::write_npub(result.program);
  isa::write_file_bytes(out, bytes);
  std::printf("%s: %zu instructions, %zu bytes -> %s\n", in.c_str(), result.program.text.size(), bytes.size(), out.c_str());
  return kExitOk;
}

int cmd_disasm(const std::vector<std::string>& argv) {
  const Args a(argv, {"-o"}, {});
  if (a.positional().size() != 1) throw UsageError("disasm needs exactly one input file");
  const isa::Program prog = isa::load_npub_file(a.positional()[0]);
  const std::string text = isa::disassemble(prog);
  if (a.has("-o")) {
    std::ofstream out(a.value("-o"), std::ios::binary);
    if (!out) throw isa::InputError(a.value("-o") + ": cannot write");
    out << text;
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return kExitOk;
}

int cmd_info(const std::vector<std::string>& argv) {
  const Args a(argv, {}, {"--isa", "--version", "--config"});
  if (a.flag("--config")) {
    if (a.positional().empty()) {
      std::fputs(config::npu_config_reference().c_str(), stdout);
      return kExitOk;
    }
    for (const auto& path : a.positional()) {
      const config::NpuConfig c = config::load_npu_config(path);
      std::printf("# %s (hash 0x%016llx)\n%s", path.c_str(), static_cast<unsigned long long>(c.hash()),
                  config::npu_config_summary(c).c_str());
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
  if (a.positional().size() == 1) {
    const std::string path = a.positional()[0];
    const isa::Program prog = load_program(path);
    std::printf("%s\n%s", path.c_str(), isa::program_summary(prog).c_str());
    return kExitOk;
  }
  throw UsageError("info needs --isa, --config, --version or one program file");
}

const std::vector<Command>& commands() {
  static const std::vector<Command> cmds = {
      {"asm", "assemble .npus text into an .npub container",
       "usage: npusim asm IN.npus [-o OUT.npub] [--queue-depth N] [--no-deadlock-check]\n"
       "\n"
       "Assembles IN.npus (docs/npus-syntax.md) into an .npub container (docs/npub-format.md).\n"
       "Errors read FILE:LINE:COL: error: MESSAGE. The program is proved free of deadlock by an\n"
       "abstract run over its semaphores (engine queues of N entries; default unbounded) unless\n"
       "--no-deadlock-check is given. -o defaults to IN with the extension .npub.\n",
       cmd_asm},
      {"disasm", "print an .npub container as .npus text",
       "usage: npusim disasm IN.npub [-o OUT.npus]\n"
       "\n"
       "Reads IN.npub with the strict reader and prints it as .npus text; assembling that text gives\n"
       "the identical .npub. Each instruction line ends with '; #index @byte-offset'.\n",
       cmd_disasm},
      {"info", "describe the ISA, this build, or a program",
       "usage: npusim info --isa | --config [CONFIG.yaml...] | --version | PROGRAM.(npub|npus)\n"
       "\n"
       "  --isa       every instruction, field and parameter kind, from the ISA definition\n"
       "  --config    every config parameter (type, unit, default, description); with files:\n"
       "              load and check them, print the effective values and the config hash\n"
       "  --version   simulator, ISA and container versions\n"
       "  PROGRAM     target, tables, instruction mix, MACs, DRAM traffic, deadlock proof\n",
       cmd_info},
  };
  return cmds;
}

void print_help() {
  std::printf(
      "npusim %s: a cycle-approximate NPU simulator\n\nusage: npusim COMMAND [ARGS...]   (npusim COMMAND --help for details)\n\ncommands:\n",
      kVersion);
  for (const auto& c : commands()) std::printf("  %-8s %s\n", c.name, c.summary);
  std::printf(
      "\nexit codes: 0 success, 1 simulation/runtime fault, 2 usage or input error\n"
      "docs: docs/ (isa.md, npub-format.md, npus-syntax.md, cli.md)\n");
}

}  // namespace
}  // namespace npusim::cli

int main(int argc, char** argv) {
  using namespace npusim::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (args.size() >= 2) args = {args[1], "--help"};
    else {
      print_help();
      return args.empty() ? kExitInput : kExitOk;
    }
  }
  if (args[0] == "--version") args = {"info", "--version"};
  const std::string name = args[0];
  for (const auto& c : commands()) {
    if (name != c.name) continue;
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const auto& r : rest)
      if (r == "--help" || r == "-h") {
        std::fputs(c.usage, stdout);
        return kExitOk;
      }
    try {
      return c.run(rest);
    } catch (const UsageError& e) {
      std::fprintf(stderr, "npusim %s: %s\n%s", c.name, e.what(), c.usage);
      return kExitInput;
    } catch (const npusim::config::ConfigError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return kExitInput;
    } catch (const npusim::isa::InputError& e) {
      const std::string msg = e.what();
      // Assembler messages already carry "file:line:col: error:"; others get a prefix.
      if (msg.find(": error: ") != std::string::npos) std::fprintf(stderr, "%s\n", msg.c_str());
      else std::fprintf(stderr, "error: %s\n", msg.c_str());
      return kExitInput;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "error: out of memory\n");
      return kExitInput;
    }
  }
  std::fprintf(stderr, "npusim: unknown command '%s' (see npusim --help)\n", name.c_str());
  return kExitInput;
}
