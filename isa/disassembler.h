// Program → `.npus` text. Reassembling the output gives the identical program (and `.npub`).
#pragma once

#include <string>

#include "isa/program.h"

namespace npusim::isa {

/// Text of one instruction without comments, e.g. "matmul acc[0x0], s[0x0], s[0x40], m=16, n=16, k=64 !sig(x)".
std::string disassemble_instruction(const Instruction& inst, const Program& prog);

/// The whole program: directives, then instructions with "; #index @byte-offset" comments.
std::string disassemble(const Program& prog);

}  // namespace npusim::isa
