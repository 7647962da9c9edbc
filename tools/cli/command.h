// The subcommands of `npusim`: each declares itself once, in its own file (cmd_*.cpp), with its
// options and its usage prose, and registers into one table:
//
//   const bool registered = register_command({"asm", 80, "assemble ...", "usage: npusim asm ...\n",
//                                             "Assembles ...\n", {valued("-o", "OUT.npub", "...")}, "", cmd_asm});
//
// From the declarations come the parser's accepted options (Args), the usage text
// (`npusim COMMAND --help`), the command list (`npusim --help`) and the option tables of
// docs/cli.md (`npusim help --markdown`, checked by the cli_docs_current test).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tools/cli/args.h"

namespace npusim::cli {

/// Exit codes (docs/cli.md).
constexpr int kExitOk = 0;     ///< success
constexpr int kExitFault = 1;  ///< a simulation or runtime fault
constexpr int kExitInput = 2;  ///< a usage or input error

/// One subcommand.
struct Command {
  std::string name;                     ///< word after `npusim`
  int rank = 0;                         ///< place in `npusim --help` (ascending)
  std::string summary;                  ///< one line for `npusim --help`
  std::string synopsis;                 ///< the "usage: npusim NAME ..." lines
  std::string description;              ///< prose before the options ("" for none)
  std::vector<Option> options;          ///< every option it accepts
  std::string epilogue;                 ///< prose after the options ("" for none)
  std::function<int(const Args&)> run;  ///< body; returns the exit code
};

/// Adds `c` to the table (at static initialisation, from the subcommand's file); returns true.
bool register_command(Command c);
/// Every registered subcommand, by rank.
const std::vector<Command>& commands();
/// The subcommand called `name`, or nullptr.
const Command* find_command(const std::string& name);

/// `npusim NAME --help`: the synopsis, the description, one line per option (name and value,
/// help text) and the epilogue.
std::string usage_text(const Command& c);
/// Every subcommand's options as Markdown tables (`npusim help --markdown`, docs/cli.md).
std::string options_markdown();

/// Records the process's command line (main, once) for reports: the words shell-quoted where
/// they need it, joined by spaces.
void set_command_line(int argc, const char* const* argv);
/// The command line set_command_line recorded ("" before).
const std::string& command_line();

/// `s` ends with `suffix`.
bool ends_with(const std::string& s, const std::string& suffix);

}  // namespace npusim::cli
