// Human-readable facts about a program (for `npusim info PROGRAM` and the quick start).
#pragma once

#include <cstdint>
#include <string>

#include "isa/program.h"

namespace npusim::isa {

/// Static totals of a program, from its instructions and tables.
struct ProgramStats {
  uint64_t instructions_per_engine[kEngineCount] = {};  ///< TEXT entries by engine
  uint64_t macs = 0;                                    ///< sum of m*n*k over matmuls
  uint64_t load_bytes = 0;                              ///< DRAM bytes read by load (box sizes)
  uint64_t store_bytes = 0;                             ///< DRAM bytes written by store
};
ProgramStats program_stats(const Program& prog);

/// Multi-line summary: target, tables, instruction mix, MACs, traffic, deadlock proof.
std::string program_summary(const Program& prog);

/// Human-readable ISA listing from the tables (`npusim info --isa`).
std::string isa_listing();

}  // namespace npusim::isa
