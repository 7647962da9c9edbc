// npusim: one executable, one subcommand per job (each in its own cmd_*.cpp, registered into
// tools/cli/command.h's table). This file only dispatches and maps errors to exit codes
// (docs/cli.md): 0 success, 1 a simulation/runtime fault, 2 a usage or input error.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/schema.h"
#include "base/version.h"
#include "compiler/compile.h"
#include "isa/diag.h"
#include "tools/cli/command.h"

namespace npusim::cli {
namespace {

void print_help() {
  std::printf(
      "npusim %s: a cycle-approximate NPU simulator\n\nusage: npusim COMMAND [ARGS...]   (npusim COMMAND --help for "
      "details)\n\ncommands:\n",
      kVersion);
  for (const auto& c : commands()) std::printf("  %-8s %s\n", c.name.c_str(), c.summary.c_str());
  std::printf(
      "\nexit codes: 0 success, 1 simulation/runtime fault, 2 usage or input error\n"
      "docs: docs/ (isa.md, npub-format.md, npus-syntax.md, cli.md)\n");
}

/// Runs `c` on its arguments; every error becomes a message and an exit code.
int dispatch(const Command& c, const std::vector<std::string>& rest) {
  const std::string usage = usage_text(c);
  for (const auto& r : rest)
    if (r == "--help" || r == "-h") {
      std::fputs(usage.c_str(), stdout);
      return kExitOk;
    }
  try {
    return c.run(Args(rest, c.options));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "npusim %s: %s\n%s", c.name.c_str(), e.what(), usage.c_str());
    return kExitInput;
  } catch (const compiler::CompileError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitInput;
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return kExitInput;
  } catch (const isa::InputError& e) {
    const std::string msg = e.what();
    // Assembler messages already carry "file:line:col: error:"; others get a prefix.
    if (msg.find(": error: ") != std::string::npos)
      std::fprintf(stderr, "%s\n", msg.c_str());
    else
      std::fprintf(stderr, "error: %s\n", msg.c_str());
    return kExitInput;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return kExitInput;
  } catch (const std::exception& e) {  // a bug if it happens: still a message, never an abort
    std::fprintf(stderr, "npusim %s: internal error: %s\n", c.name.c_str(), e.what());
    return kExitInput;
  }
}

}  // namespace
}  // namespace npusim::cli

int main(int argc, char** argv) {
  using namespace npusim::cli;
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);  // the SystemC banner is noise on a CLI
  std::vector<std::string> args(argv + 1, argv + argc);
  set_command_line(argc, argv);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (args.size() >= 2 && args[0] == "help" && args[1] == "--markdown") {  // docs/cli.md's option tables
      try {
        std::fputs(options_markdown().c_str(), stdout);
      } catch (const std::logic_error& e) {  // a synopsis naming an undeclared option
        std::fprintf(stderr, "npusim help: internal error: %s\n", e.what());
        return kExitInput;
      }
      return kExitOk;
    }
    if (args.size() >= 2)
      args = {args[1], "--help"};
    else {
      print_help();
      return args.empty() ? kExitInput : kExitOk;
    }
  }
  if (args[0] == "--version") args = {"info", "--version"};
  if (const Command* c = find_command(args[0])) return dispatch(*c, {args.begin() + 1, args.end()});
  std::fprintf(stderr, "npusim: unknown command '%s' (see npusim --help)\n", args[0].c_str());
  return kExitInput;
}
