// Abstract semaphore machine; see deadlock.h for the rules and why one run suffices.
#include "isa/deadlock.h"

#include <algorithm>
#include <deque>
#include <sstream>

#include "isa_ops.h"

namespace npusim::isa {
namespace {

bool is_fence(const Instruction& inst) {
  const auto op = static_cast<Opcode>(inst.opcode());
  return op == Opcode::Barrier || op == Opcode::Finish;
}

/// Engines a barrier/finish drains (bit per engine).
uint32_t fence_mask(const Instruction& inst) {
  if (static_cast<Opcode>(inst.opcode()) == Opcode::Finish) return (1u << kEngineCount) - 1;
  return inst.get(fields::barrier::engines);
}

std::string mask_names(uint32_t mask) {
  std::string s;
  for (int e = 0; e < kEngineCount; ++e)
    if (mask & (1u << e)) s += (s.empty() ? "" : "|") + std::string(engine_name(static_cast<Engine>(e)));
  return s;
}

}  // namespace

std::optional<DeadlockReport> find_deadlock(const Program& prog, unsigned queue_depth) {
  const size_t n = prog.text.size();
  std::vector<uint32_t> sem(prog.sems.size());
  for (size_t i = 0; i < sem.size(); ++i) sem[i] = prog.sems[i].init;
  std::deque<uint32_t> queue[kEngineCount];  // dispatched, not yet completed, per engine
  std::vector<bool> done(n, false);          // completed instructions
  size_t fetch = 0;
  bool fence_pending = false;  // a dispatched barrier/finish has not completed

  for (;;) {
    bool progress = false;
    // Fetch: dispatch in order until a queue is full or a fence is outstanding.
    while (fetch < n && !fence_pending) {
      const auto e = static_cast<size_t>(prog.text[fetch].engine());
      if (queue_depth && queue[e].size() >= queue_depth) break;
      queue[e].push_back(static_cast<uint32_t>(fetch));
      if (is_fence(prog.text[fetch])) fence_pending = true;
      ++fetch;
      progress = true;
    }
    // Execute the head of each engine's queue if it can issue.
    for (int e = 0; e < kEngineCount; ++e) {
      if (queue[e].empty()) continue;
      const uint32_t idx = queue[e].front();
      const Instruction& inst = prog.text[idx];
      const SemUse u = sem_use(inst);
      if (u.wait && sem[u.wait_sem] < u.wait_n) continue;
      if (is_fence(inst)) {
        // Earlier instructions of the masked engines must all have completed.
        bool drained = true;
        const uint32_t mask = fence_mask(inst);
        for (int o = 0; o < kEngineCount; ++o)
          if (o != e && (mask & (1u << o)) && !queue[o].empty() && queue[o].front() < idx) drained = false;
        if (!drained) continue;
        fence_pending = false;
      }
      if (u.wait) sem[u.wait_sem] -= u.wait_n;
      if (static_cast<Opcode>(inst.opcode()) == Opcode::SemSet)
        sem[inst.get(fields::sem_set::sem)] = inst.get(fields::sem_set::value);
      if (u.signal) ++sem[u.sig_sem];
      done[idx] = true;
      queue[e].pop_front();
      progress = true;
    }
    if (!progress) break;
  }

  bool finished = fetch == n;
  for (const auto& q : queue) finished = finished && q.empty();
  if (finished) return std::nullopt;

  DeadlockReport r;
  r.fetch_index = static_cast<uint32_t>(fetch);
  r.fetch_stalled = fetch < n;
  r.sem_values = sem;
  for (int e = 0; e < kEngineCount; ++e) {
    if (queue[e].empty()) continue;
    BlockedEngine b;
    b.engine = static_cast<Engine>(e);
    b.index = queue[e].front();
    const Instruction& inst = prog.text[b.index];
    const SemUse u = sem_use(inst);
    std::ostringstream why;
    if (u.wait && sem[u.wait_sem] < u.wait_n) {
      why << "semaphore '" << prog.sems[u.wait_sem].name << "' >= " << int(u.wait_n) << " (value " << sem[u.wait_sem]
          << ")";
      // Who could still signal it: every unfinished instruction (queued or not yet fetched).
      for (uint32_t i = 0; i < n; ++i) {
        const SemUse v = sem_use(prog.text[i]);
        if (!done[i] && v.signal && v.sig_sem == u.wait_sem) b.producers.push_back(i);
      }
    } else if (is_fence(inst)) {
      if (static_cast<Opcode>(inst.opcode()) == Opcode::Finish)
        why << "every engine to drain (finish)";
      else
        why << "barrier draining " << mask_names(fence_mask(inst) & ~(1u << e));
    }
    b.waits_for = why.str();
    r.blocked.push_back(b);
  }
  // Earliest instruction first: the usual root of the cycle.
  std::sort(r.blocked.begin(), r.blocked.end(),
            [](const BlockedEngine& a, const BlockedEngine& b) { return a.index < b.index; });
  return r;
}

std::string DeadlockReport::describe(const Program& prog, const std::vector<int>* lines) const {
  auto at = [&](uint32_t i) {
    std::string s = "#" + std::to_string(i);
    if (lines && i < lines->size()) s += " (line " + std::to_string((*lines)[i]) + ")";
    const InstrSpec* in = find_instr(prog.text[i].opcode());
    return std::string(in ? in->name : "?") + " " + s;
  };
  std::ostringstream os;
  os << "deadlock: the program cannot finish; engines and what they wait for:\n";
  for (const auto& b : blocked) {
    os << "  " << engine_name(b.engine) << " at " << at(b.index) << " waits for " << b.waits_for;
    if (!b.waits_for.empty() && b.waits_for.rfind("semaphore", 0) == 0) {
      if (b.producers.empty()) {
        os << "; no remaining instruction signals it";
      } else {
        os << "; it would be signalled by";
        size_t shown = 0;
        for (uint32_t p : b.producers) {
          if (shown++ == 4) {
            os << " ...";
            break;
          }
          os << " " << engine_name(prog.text[p].engine()) << " " << at(p)
             << (p >= fetch_index ? " [not dispatched]" : "");
        }
      }
    }
    os << "\n";
  }
  if (fetch_stalled) os << "  fetch stopped before " << at(fetch_index) << " (queue full or behind a barrier)\n";
  os << "  semaphores:";
  for (size_t i = 0; i < sem_values.size(); ++i) os << " " << prog.sems[i].name << "=" << sem_values[i];
  os << "\n";
  return os.str();
}

}  // namespace npusim::isa
