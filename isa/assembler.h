// `.npus` text → Program. Grammar and directives: docs/npus-syntax.md. Every error reads
// `file:line:col: error: message`; up to `max_errors` are reported before giving up.
#pragma once

#include <string>
#include <vector>

#include "isa/program.h"

namespace npusim::isa {

struct AssembleOptions {
  bool check_deadlock = true;                   ///< run the abstract semaphore machine and reject deadlocking programs
  unsigned queue_depth = 0;                     ///< engine queue depth for that proof (0: unbounded)
  int max_errors = 20;                          ///< stop after this many errors
  bool allow_files = true;                      ///< honour `.data NAME file="..."` (fuzzers turn it off)
  uint64_t max_data_bytes = uint64_t{1} << 30;  ///< largest initial image of one region
};

/// Result of assembling: source line of each instruction (for diagnostics).
struct AssembleResult {
  Program program;                ///< the program
  std::vector<int> source_lines;  ///< line of each instruction in the source
};

/// Assembles `source`; `path` is used in messages and to resolve `.data file=` paths.
/// Throws InputError with all collected messages (one per line).
AssembleResult assemble(const std::string& source, const std::string& path, const AssembleOptions& opts = {});

/// Reads and assembles a file.
AssembleResult assemble_file(const std::string& path, const AssembleOptions& opts = {});

}  // namespace npusim::isa
