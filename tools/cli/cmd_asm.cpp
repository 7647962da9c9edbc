// `npusim asm` and `npusim disasm`: .npus text to an .npub container and back.
#include <cstdio>
#include <fstream>
#include <string>

#include "isa/assembler.h"
#include "isa/diag.h"
#include "isa/disassembler.h"
#include "isa/npub.h"
#include "tools/cli/command.h"

namespace npusim::cli {
namespace {

int cmd_asm(const Args& a) {
  if (a.positional().size() != 1) throw UsageError("asm needs exactly one input file");
  const std::string in = a.positional()[0];
  std::string out = a.value("-o");
  if (out.empty()) out = (ends_with(in, ".npus") ? in.substr(0, in.size() - 5) : in) + ".npub";
  isa::AssembleOptions opts;
  opts.check_deadlock = !a.flag("--no-deadlock-check");
  opts.queue_depth = static_cast<unsigned>(a.number("--queue-depth", 0));
  const auto result = isa::assemble_file(in, opts);
  const uint64_t bytes = isa::write_npub_file(result.program, out);
  std::printf("%s: %zu instructions, %llu bytes -> %s\n", in.c_str(), result.program.text.size(),
              static_cast<unsigned long long>(bytes), out.c_str());
  return kExitOk;
}

int cmd_disasm(const Args& a) {
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

const bool registered_asm = register_command({
    "asm",
    90,
    "assemble .npus text into an .npub container",
    "usage: npusim asm IN.npus [-o OUT.npub] [--queue-depth N] [--no-deadlock-check]\n",
    "Assembles IN.npus (docs/npus-syntax.md) into an .npub container (docs/npub-format.md).\n"
    "Errors read FILE:LINE:COL: error: MESSAGE. The program is proved free of deadlock by an\n"
    "abstract run over its semaphores (engine queues of N entries; default unbounded) unless\n"
    "--no-deadlock-check is given. -o defaults to IN with the extension .npub.\n",
    {
        valued("-o", "OUT.npub", "the container to write (default: IN with the extension .npub)"),
        valued("--queue-depth", "N", "engine queue entries the deadlock proof assumes (default 0: unbounded)"),
        flag("--no-deadlock-check", "skip the deadlock proof"),
    },
    "",
    cmd_asm,
});

const bool registered_disasm = register_command({
    "disasm",
    100,
    "print an .npub container as .npus text",
    "usage: npusim disasm IN.npub [-o OUT.npus]\n",
    "Reads IN.npub with the strict reader and prints it as .npus text; assembling that text gives\n"
    "the identical .npub. Each instruction line ends with '; #index @byte-offset'.\n",
    {
        valued("-o", "OUT.npus", "write the text there instead of standard output"),
    },
    "",
    cmd_disasm,
});

}  // namespace
}  // namespace npusim::cli
