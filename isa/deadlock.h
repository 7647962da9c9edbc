// Static deadlock check: one abstract run of a program over its semaphores.
//
// Each semaphore has one consumer engine, so the engines form a Kahn process network with bounded
// FIFOs: whether the program completes, and the final semaphore values, do not depend on timing.
// One run in any order that respects the rules therefore decides it for every timing. The rules
// are those of the device (docs/isa.md): in-order dispatch into per-engine queues of
// `queue_depth` entries (0: unbounded); dispatch stops after a barrier or finish until it
// completes; an instruction issues when its wait can be satisfied; barrier completes when the
// masked engines have completed every earlier instruction; finish when all have.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "isa/program.h"

namespace npusim::isa {

/// Why one engine cannot go on.
struct BlockedEngine {
  Engine engine{};                  ///< the engine
  uint32_t index = 0;               ///< instruction index at the head of its queue
  std::string waits_for;            ///< e.g. "semaphore 'ld_mx' >= 2 (value 0)" or "barrier on load|mxu"
  std::vector<uint32_t> producers;  ///< unfinished instructions that would signal what it waits on
};

/// A deadlock found by the abstract run.
struct DeadlockReport {
  std::vector<BlockedEngine> blocked;  ///< every engine with unfinished work
  uint32_t fetch_index = 0;            ///< next instruction the fetch unit would dispatch
  bool fetch_stalled = false;          ///< fetch waits for a full queue or a barrier
  std::vector<uint32_t> sem_values;    ///< semaphore values when everything stopped
  /// Multi-line description; `lines` (optional) maps instruction index → source line.
  std::string describe(const Program& prog, const std::vector<int>* lines = nullptr) const;
};

/// Runs the abstract machine; returns a report when the program cannot reach its end.
std::optional<DeadlockReport> find_deadlock(const Program& prog, unsigned queue_depth = 0);

}  // namespace npusim::isa
