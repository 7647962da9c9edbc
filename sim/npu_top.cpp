// The SystemC model of the NPU: a fetch process and one process per engine (DESIGN section 2).
//
// Each engine takes the next instruction from its in-order queue, waits for its semaphore (or, for
// barrier/finish, for the engines it drains), asks the timing models when it will complete (the
// MXU closed form, DMA over DRAM, SRAM bank timelines), advances time with one wait, applies the
// instruction's functional effect, and signals. No clock process exists: time moves in whole
// instructions, so the kernel costs a few events per tile.
#define SC_INCLUDE_DYNAMIC_PROCESSES
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <systemc>

#include "arch/functional.h"
#include "arch/mxu_timing.h"
#include "base/json.h"
#include "base/stats.h"
#include "isa/deadlock.h"
#include "isa/diag.h"
#include "isa_ops.h"
#include "memory/dma.h"
#include "memory/sram.h"
#include "sim/simulator.h"
#include "sim/tlm_dram.h"

namespace npusim {
namespace {

using isa::Engine;
using isa::Opcode;
namespace f = isa::fields;
constexpr int kEngines = isa::kEngineCount;

/// One trace event (Chrome "X" complete event).
struct TraceEvent {
  std::string name;   ///< label
  int track;          ///< tid
  Femtos start, end;  ///< span
};

class NpuTop : public sc_core::sc_module {
 public:
  NpuTop(sc_core::sc_module_name name, const config::NpuConfig& cfg, const isa::Program& prog, arch::Memories& mem,
         const RunOptions& opts)
      : sc_module(name),
        cfg_(cfg),
        prog_(prog),
        mem_(mem),
        opts_(opts),
        period_(period_fs(cfg.clock_hz)),
        functional_(prog, cfg.spad.line_bytes, mem),
        mxu_(arch::MxuRegistry::make(cfg.mxu)),
        vpu_(arch::VpuRegistry::make(cfg.vpu)),
        dram_(memory::DramRegistry::make(cfg.dram)),
        dram_target_("dram", *dram_),
        dram_port_("dma_port"),
        dma_(cfg.dma, dram_port_, period_),
        spad_(memory::make_sram(cfg.spad, period_)),
        acc_(memory::make_sram(cfg.acc, period_)),
        sems_(prog.sems.size()),
        sem_events_(prog.sems.size()),
        enclosing_(),
        analytical_(make_analytical(cfg.mxu)) {
    dram_port_.socket.bind(dram_target_.socket);
    for (size_t i = 0; i < sems_.size(); ++i) sems_[i] = prog.sems[i].init;
    find_marker_spans();
    marker_activity_.resize(prog.markers.size());
    sc_core::sc_spawn([this] { fetch(); }, "fetch");
    for (int e = 0; e < kEngines; ++e)
      sc_core::sc_spawn([this, e] { engine(e); },
                        (std::string("engine_") + isa::engine_name(static_cast<Engine>(e))).c_str());
  }

  static std::unique_ptr<arch::MxuTiming> make_analytical(arch::MxuConfig c) {
    c.impl = "analytical";
    return arch::MxuRegistry::make(c);
  }

  bool finished() const { return finished_; }
  bool faulted() const { return faulted_; }

  /// Fills the result's counters.
  void collect(RunResult& r) const {
    for (size_t e = 0; e < kEngines; ++e)
      for (const auto& [from, to] : busy_[e])
        r.engine_spans.push_back({static_cast<isa::Engine>(e), static_cast<double>(from) / kFemtosPerSecond,
                                  static_cast<double>(to) / kFemtosPerSecond});
    r.total_cycles = (end_fs_ + period_ - 1) / period_;
    r.seconds = static_cast<double>(end_fs_) / kFemtosPerSecond;
    r.engines = stats_;
    r.macs = macs_;
    r.mxu_utilization = r.total_cycles ? static_cast<double>(macs_) /
                                             (static_cast<double>(r.total_cycles) * cfg_.mxu.rows * cfg_.mxu.cols)
                                       : 0;
    r.dram = dram_->stats();
    r.dram_peak_bandwidth = dram_->peak_bandwidth();
    r.spad = spad_->stats();
    r.acc = acc_->stats();
    r.dma = dma_.stats();
    std::vector<Femtos> total(prog_.markers.size(), 0);
    for (const auto& sp : spans_)
      if (sp.last_end > 0) {
        total[sp.marker] += sp.last_end - sp.first_start;
        r.marker_spans.push_back({prog_.markers[sp.marker], static_cast<double>(sp.first_start) / kFemtosPerSecond,
                                  static_cast<double>(sp.last_end) / kFemtosPerSecond});
      }
    for (size_t i = 0; i < prog_.markers.size(); ++i) {
      r.marker_cycles.push_back({prog_.markers[i], (total[i] + period_ - 1) / period_});
      r.marker_activity.push_back({prog_.markers[i], marker_activity_[i]});
    }
    r.activity = activity_;
    r.cosim = cosim_;
    r.host_ops = host_ops_;
    for (const auto& h : host_ops_) r.host_total_s += h.modelled_s;
  }

  void record_fault(arch::FaultCode code, const std::string& message) {
    if (faulted_) return;
    faulted_ = true;
    fault_code_ = code;
    fault_message_ = message;
    end_fs_ = sim_now_fs();
    sc_core::sc_stop();
  }
  arch::FaultCode fault_code() const { return fault_code_; }
  int64_t fault_index() const { return fault_index_; }
  int32_t fault_region() const { return fault_region_; }
  uint64_t fault_offset() const { return fault_offset_; }
  /// The run ended because its wall-clock limit ran out (not its cycle budget).
  bool wall_limit_hit() const { return wall_limit_hit_; }

  bool hang_injected() const { return injected_ && opts_.inject_hang; }
  Engine fault_engine() const { return fault_engine_; }
  const std::string& fault_message() const { return fault_message_; }

  /// Every engine's PC and what it waits for, and the semaphore values (deadlock/watchdog reports).
  std::string state() const {
    std::ostringstream os;
    for (int e = 0; e < kEngines; ++e) {
      os << "  " << isa::engine_name(static_cast<Engine>(e)) << ": ";
      if (queue_[e].empty()) {
        os << "idle\n";
        continue;
      }
      const uint32_t pc = queue_[e].front();
      const isa::InstrSpec* in = isa::find_instr(prog_.text[pc].opcode());
      os << "pc #" << pc << " (" << in->name << ")";
      const isa::SemUse& u = functional_.decoded(pc).sem;
      if (waiting_[e] && u.wait)
        os << " waits for semaphore '" << prog_.sems[u.wait_sem].name << "' >= " << int(u.wait_n);
      else if (waiting_[e])
        os << " waits for the engines it drains";
      os << ", " << queue_[e].size() << " queued\n";
    }
    os << "  fetch: " << (fetch_pc_ < prog_.text.size() ? "at #" + std::to_string(fetch_pc_) : std::string("done"))
       << "\n  semaphores:";
    for (size_t i = 0; i < sems_.size(); ++i) os << " " << prog_.sems[i].name << "=" << sems_[i];
    return os.str() + "\n";
  }

  /// Chrome/Perfetto trace, a tree written by stats::json_text: track names (process, engines, DMA
  /// and DRAM channels, markers), then one complete ("X") event per span, ts and dur in
  /// microseconds to 6 decimals (%.6f figures, base/json.h json_f).
  std::string trace_json() const {
    using nlohmann::ordered_json;
    ordered_json events = ordered_json::array();
    auto meta = [&](std::optional<int> tid, const char* what, const std::string& name) {
      ordered_json e;
      e["ph"] = "M", e["pid"] = 1;
      if (tid) e["tid"] = *tid;
      e["name"] = what, e["args"] = {{"name", name}};
      events.push_back(std::move(e));
    };
    meta(std::nullopt, "process_name", "npusim " + cfg_.name);
    // Track names: engines, DMA channels, DRAM channels, markers.
    for (int e = 0; e < kEngines; ++e)
      meta(e, "thread_name", std::string("engine ") + isa::engine_name(static_cast<Engine>(e)));
    for (uint32_t c = 0; c < cfg_.dma.channels; ++c)
      meta(kDmaTrack + static_cast<int>(c), "thread_name", "dma channel " + std::to_string(c));
    for (uint32_t c = 0; c < dram_->channel_count(); ++c)
      meta(kDramTrack + static_cast<int>(c), "thread_name", "dram channel " + std::to_string(c));
    meta(kMarkerTrack, "thread_name", "operators (markers)");
    if (!host_ops_.empty()) meta(kHostTrack, "thread_name", "host");
    auto span = [&](const TraceEvent& ev) {
      ordered_json e;
      e["ph"] = "X", e["pid"] = 1, e["tid"] = ev.track, e["name"] = ev.name;
      e["ts"] = json_f(static_cast<double>(ev.start) / 1e9, 6);  // microseconds
      e["dur"] = json_f(static_cast<double>(ev.end - ev.start) / 1e9, 6);
      events.push_back(std::move(e));
    };
    for (const auto& ev : trace_) span(ev);
    for (const auto& sp : spans_)
      if (sp.last_end > 0) span({prog_.markers[sp.marker], kMarkerTrack, sp.first_start, sp.last_end});
    // The host track: one slice per host operator, its modelled time, named by its operator.
    for (const auto& h : host_ops_) {
      ordered_json e;
      e["ph"] = "X", e["pid"] = 1, e["tid"] = kHostTrack, e["name"] = h.work.op + " " + h.work.node;
      e["ts"] = json_f(h.start_s * 1e6, 6);  // microseconds
      e["dur"] = json_f((h.end_s - h.start_s) * 1e6, 6);
      e["args"] = {{"operator", h.work.op},
                   {"node", h.work.node},
                   {"elements", h.work.elements},
                   {"read_bytes", h.work.read_bytes},
                   {"write_bytes", h.work.write_bytes},
                   {"modelled_ns", json_f(h.modelled_s * 1e9, 3)}};
      events.push_back(std::move(e));
    }
    ordered_json trace;
    trace["displayTimeUnit"] = "ns";
    trace["traceEvents"] = std::move(events);
    return stats::json_text(trace);
  }

 private:
  static constexpr int kDmaTrack = 100, kDramTrack = 200, kMarkerTrack = 300, kHostTrack = 400;  ///< trace tid bases

  bool is_fence(uint32_t idx) const { return std::holds_alternative<arch::FenceOp>(functional_.decoded(idx).ops); }

  /// Dispatches TEXT in order into the engine queues; stops behind a full queue or a fence.
  void fetch() {
    for (fetch_pc_ = 0; fetch_pc_ < prog_.text.size(); ++fetch_pc_) {
      const int e = static_cast<int>(prog_.text[fetch_pc_].engine());
      while (queue_[e].size() >= cfg_.queues.depth) sc_core::wait(popped_[e]);
      queue_[e].push_back(static_cast<uint32_t>(fetch_pc_));
      pushed_[e].notify(sc_core::SC_ZERO_TIME);
      if (is_fence(static_cast<uint32_t>(fetch_pc_))) {
        fence_pending_ = true;
        while (fence_pending_) sc_core::wait(fence_done_);
      }
    }
  }

  /// True when every engine in `mask` (other than `self`) has completed all instructions before `idx`.
  bool drained(uint32_t mask, int self, uint32_t idx) const {
    for (int o = 0; o < kEngines; ++o)
      if (o != self && (mask & (1u << o)) && !queue_[o].empty() && queue_[o].front() < idx) return false;
    return true;
  }

  void engine(int e) {
    const Engine eng = static_cast<Engine>(e);
    for (;;) {
      while (queue_[e].empty()) sc_core::wait(pushed_[e]);
      const uint32_t idx = queue_[e].front();
      const isa::Instruction& inst = prog_.text[idx];
      const arch::Decoded& dec = functional_.decoded(idx);
      const Opcode op = dec.op;
      const isa::SemUse& u = dec.sem;
      // Wait: semaphore, then (fences) the drained engines.
      const Femtos wait_start = sim_now_fs();
      waiting_[e] = true;
      if (u.wait)
        while (sems_[u.wait_sem] < u.wait_n) sc_core::wait(sem_events_[u.wait_sem]);
      if (const auto* fence = std::get_if<arch::FenceOp>(&dec.ops))
        while (!drained(fence->engines, e, idx)) sc_core::wait(completed_);
      waiting_[e] = false;
      if (u.wait) sems_[u.wait_sem] -= u.wait_n;
      if (injects_here(idx, eng)) {  // device fault injection
        injected_ = true;
        if (opts_.inject_hang) {
          sc_core::sc_event never;
          sc_core::wait(never);  // the engine hangs; the watchdog ends the run
        }
        arch::Fault injected(opts_.inject_fault, "injected fault");
        try {  // a bus error blames the instruction's first DRAM access
          const arch::Footprint fp = functional_.plan(idx);
          if (!fp.dram.empty()) {
            const auto [region, offset] = functional_.locate(fp.dram.front().first);
            injected.at(region, offset);
          }
        } catch (const arch::Fault&) {  // the instruction would fault anyway: no address to blame
        }
        report(injected, idx, eng);
        return;
      }
      if (opts_.wall_limit_s > 0 && std::chrono::steady_clock::now() > wall_deadline_) {
        fault_index_ = idx;
        fault_engine_ = eng;
        wall_limit_hit_ = true;
        char limit[32];
        std::snprintf(limit, sizeof limit, "%g", opts_.wall_limit_s);
        record_fault(arch::FaultCode::Watchdog, std::string("WATCHDOG: the wall-clock limit of ") + limit +
                                                    " s ran out before instruction #" + std::to_string(idx) + "\n" +
                                                    state());
        return;
      }
      const Femtos start = sim_now_fs();
      stats_[e].sem_wait_cycles += (start - wait_start) / period_;
      // Time it.
      Femtos compute_fs = 0;
      Femtos done = start;
      arch::Activity act;
      try {
        done = complete_time(idx, start, compute_fs, act);
      } catch (const arch::Fault& fault) {
        report(fault, idx, eng);
        return;
      }
      if (done > start) sc_core::wait(femtos(done - start));
      // Effect, then signal.
      try {
        if (!opts_.timing_only) functional_.execute(idx);
      } catch (const arch::Fault& fault) {
        report(fault, idx, eng);
        return;
      }
      if (op == Opcode::Matmul && !check_cosim(idx)) return;
      effects(idx, start, done);
      activity_.add(static_cast<double>(start) / kFemtosPerSecond, static_cast<double>(done) / kFemtosPerSecond, act);
      for (uint32_t sp : enclosing_[idx]) marker_activity_[spans_[sp].marker] += act;
      if (opts_.engine_spans) {  // merge with the previous stretch when this instruction follows on
        auto& b = busy_[e];
        if (!b.empty() && start <= b.back().second)
          b.back().second = std::max(b.back().second, done);
        else
          b.push_back({start, done});
      }
      auto& s = stats_[e];
      ++s.instructions;
      s.busy_cycles += (done - start) / period_;
      s.mem_stall_cycles += (done - start > compute_fs ? done - start - compute_fs : 0) / period_;
      if (opts_.trace) {
        const isa::InstrSpec* spec = isa::find_instr(inst.opcode());
        trace_.push_back({std::string(spec->name) + " #" + std::to_string(idx), e, start, done});
      }
      if (u.signal) {
        if (sems_[u.sig_sem] >= isa::spec().semaphore_max) {
          record_fault(arch::FaultCode::SemOverflow, "SEM_OVERFLOW: instruction #" + std::to_string(idx) + " (" +
                                                         isa::engine_name(eng) + ") signals semaphore '" +
                                                         prog_.sems[u.sig_sem].name + "' past " +
                                                         std::to_string(isa::spec().semaphore_max) + "\n" + state());
          return;
        }
        ++sems_[u.sig_sem];
        sem_events_[u.sig_sem].notify(sc_core::SC_ZERO_TIME);
      }
      queue_[e].pop_front();
      popped_[e].notify(sc_core::SC_ZERO_TIME);
      completed_.notify(sc_core::SC_ZERO_TIME);
      if (is_fence(idx)) {
        fence_pending_ = false;
        fence_done_.notify(sc_core::SC_ZERO_TIME);
      }
      if (op == Opcode::Finish) {
        finished_ = true;
        end_fs_ = done;
        sc_core::sc_stop();
        return;
      }
    }
  }

  bool injects_here(uint32_t idx, Engine eng) const {
    if (injected_ || opts_.inject_at < 0 || idx < opts_.inject_at) return false;
    if (opts_.inject_hang) return true;
    if (opts_.inject_fault == arch::FaultCode::BusError) return eng == Engine::Load || eng == Engine::Store;
    return eng != Engine::Ctrl;
  }

  void report(const arch::Fault& fault, uint32_t idx, Engine eng) {
    fault_index_ = idx;
    fault_engine_ = eng;
    fault_region_ = fault.region(), fault_offset_ = fault.offset();
    const isa::InstrSpec* spec = isa::find_instr(prog_.text[idx].opcode());
    record_fault(fault.code(), std::string(arch::fault_name(fault.code())) + ": instruction #" + std::to_string(idx) +
                                   " (" + spec->name + " on " + isa::engine_name(eng) + "): " + fault.what());
  }

  /// One `mark begin` .. `mark end` pair: the operator's instructions lie strictly between them.
  struct MarkerSpan {
    uint32_t marker = 0;              ///< marker id
    Femtos first_start = ~Femtos{0};  ///< earliest issue of an enclosed instruction
    Femtos last_end = 0;              ///< latest completion of one
  };

  /// Pairs begin/end marks (nesting allowed) and records which spans enclose each instruction.
  void find_marker_spans() {
    enclosing_.resize(prog_.text.size());
    std::vector<uint32_t> open;  // span ids
    for (uint32_t i = 0; i < prog_.text.size(); ++i) {
      if (const auto* mark = std::get_if<arch::MarkOp>(&functional_.decoded(i).ops)) {
        const uint32_t m = mark->marker;
        if (mark->begin) {
          open.push_back(static_cast<uint32_t>(spans_.size()));
          spans_.push_back({m, ~Femtos{0}, 0});
        } else {
          // Close the innermost open span of this marker (an unmatched end is ignored).
          for (size_t k = open.size(); k-- > 0;)
            if (spans_[open[k]].marker == m) {
              open.erase(open.begin() + static_cast<std::ptrdiff_t>(k));
              break;
            }
        }
        continue;
      }
      enclosing_[i] = open;
    }
  }

  /// A matmul through a computing MXU model (RTL co-simulation): its operands from the scratchpad
  /// (zeros in timing-only runs), its product kept to compare with the functional model once that
  /// has executed the instruction (check_cosim). Returns the model's cycles.
  uint64_t cosim_matmul(uint32_t idx, const arch::MatmulOp& mm, const arch::MatmulShape& s) {
    const uint32_t line = cfg_.spad.line_bytes;
    // A[m][k] and B[k][n] as row-major bytes, undoing trans_a / trans_b (int8 operands: one byte each).
    std::vector<uint8_t> a(size_t{s.m} * s.k), b(size_t{s.k} * s.n);
    const bool ta = mm.trans_a, tb = mm.trans_b;
    const uint64_t a0 = mm.a.line, b0 = mm.b.line, arl = mm.a.row_lines, brl = mm.b.row_lines;
    for (uint32_t i = 0; i < s.m; ++i)
      for (uint32_t j = 0; j < s.k; ++j)
        a[size_t{i} * s.k + j] = ta ? mem_.spad[(a0 + j * arl) * line + i] : mem_.spad[(a0 + i * arl) * line + j];
    for (uint32_t i = 0; i < s.k; ++i)
      for (uint32_t j = 0; j < s.n; ++j)
        b[size_t{i} * s.n + j] = tb ? mem_.spad[(b0 + j * brl) * line + i] : mem_.spad[(b0 + i * brl) * line + j];
    CosimPending p;
    p.row.index = idx;
    p.row.m = s.m, p.row.n = s.n, p.row.k = s.k;
    p.row.a_unsigned = mm.dtype == isa::ElemType::U8;
    const arch::MxuTile t = mxu_->run(s, a.data(), b.data(), p.row.a_unsigned, p.product);
    p.row.folds = t.folds;
    p.row.model_cycles = t.cycles;
    p.row.analytical_cycles = analytical_->tile(s).cycles;
    // The accumulator before the instruction (accumulate adds to it).
    const uint64_t c0 = mm.c.line;
    p.before.resize(size_t{s.m} * s.n);
    if (mm.accumulate)
      for (uint32_t i = 0; i < s.m; ++i)
        std::memcpy(&p.before[size_t{i} * s.n], &mem_.acc[(c0 + i * mm.c.row_lines) * line], size_t{s.n} * 4);
    cosim_pending_[idx] = std::move(p);
    return t.cycles;
  }

  /// After the functional model executed matmul `idx`: the accumulator must hold before + the
  /// co-simulated product. Returns false (and records COSIM_MISMATCH) when it does not.
  bool check_cosim(uint32_t idx) {
    auto it = cosim_pending_.find(idx);
    if (it == cosim_pending_.end()) return true;
    CosimPending p = std::move(it->second);
    cosim_pending_.erase(it);
    if (!opts_.timing_only) {
      const auto& c = std::get<arch::MatmulOp>(functional_.decoded(idx).ops).c;
      const uint32_t line = cfg_.spad.line_bytes;
      const uint64_t c0 = c.line, rl = c.row_lines;
      std::string first;
      for (uint32_t i = 0; i < p.row.m; ++i)
        for (uint32_t j = 0; j < p.row.n; ++j) {
          int32_t got;
          std::memcpy(&got, &mem_.acc[(c0 + i * rl) * line + size_t{j} * 4], 4);
          const size_t e = size_t{i} * p.row.n + j;
          const auto want =
              static_cast<int32_t>(static_cast<uint32_t>(p.before[e]) + static_cast<uint32_t>(p.product[e]));
          if (got != want && p.row.mismatches++ == 0)
            first = "(" + std::to_string(i) + ", " + std::to_string(j) + "): RTL " + std::to_string(want) +
                    ", functional model " + std::to_string(got);
        }
      if (p.row.mismatches) {
        cosim_.push_back(p.row);
        record_fault(arch::FaultCode::CosimMismatch,
                     "COSIM_MISMATCH: instruction #" + std::to_string(idx) + " (matmul " + std::to_string(p.row.m) +
                         "x" + std::to_string(p.row.n) + "x" + std::to_string(p.row.k) +
                         "): " + std::to_string(p.row.mismatches) + " element(s) differ, first at " + first);
        return false;
      }
    }
    cosim_.push_back(p.row);
    return true;
  }

  /// Side effects beyond the functional model: markers, immediate semaphore writes.
  void effects(uint32_t idx, Femtos start, Femtos done) {
    for (uint32_t sp : enclosing_[idx]) {
      spans_[sp].first_start = std::min(spans_[sp].first_start, start);
      spans_[sp].last_end = std::max(spans_[sp].last_end, done);
    }
    const arch::Decoded& dec = functional_.decoded(idx);
    if (const auto* set = std::get_if<arch::SemSetOp>(&dec.ops)) {
      sems_[set->sem] = set->value;
      sem_events_[set->sem].notify(sc_core::SC_ZERO_TIME);
    } else if (const auto* irq = std::get_if<arch::IrqOp>(&dec.ops)) {
      if (opts_.irq_handler && !opts_.timing_only) opts_.irq_handler(irq->code, mem_);
    } else if (const auto* mm = std::get_if<arch::MatmulOp>(&dec.ops)) {
      macs_ += uint64_t{mm->m} * mm->n * mm->k;
    }
  }

  /// When instruction `idx`, issued at `t`, completes; `compute_fs` gets the part that is the
  /// engine's own work (the rest is memory stall). Throws arch::Fault for bounds violations.
  /// `act` gets the instruction's action counts (for energy).
  Femtos complete_time(uint32_t idx, Femtos t, Femtos& compute_fs, arch::Activity& act) {
    const arch::Decoded& dec = functional_.decoded(idx);
    const Opcode op = dec.op;
    const auto* mm = std::get_if<arch::MatmulOp>(&dec.ops);
    const arch::Footprint fp = functional_.plan(idx);
    act.instructions = 1;
    for (const auto& [line, lines] : fp.spad) act.spad_bytes += static_cast<double>(lines) * cfg_.spad.line_bytes;
    for (const auto& [line, lines] : fp.acc) act.acc_bytes += static_cast<double>(lines) * cfg_.acc.line_bytes;
    act.dram_bytes = static_cast<double>(fp.dram_bytes);
    if (dec.engine == Engine::Vpu) act.vpu_ops = static_cast<double>(fp.elements);
    if (mm) (mm->integer() ? act.macs_int : act.macs_float) = double{1} * mm->m * mm->n * mm->k;
    Femtos sram_done = t;
    for (const auto& [line, lines] : fp.spad) sram_done = std::max(sram_done, spad_->access(t, line, lines));
    for (const auto& [line, lines] : fp.acc) sram_done = std::max(sram_done, acc_->access(t, line, lines));
    switch (dec.engine) {
      case Engine::Load:
      case Engine::Store: {
        if (op == Opcode::Fill) {
          compute_fs = sram_done - t;
          return sram_done;
        }
        std::vector<memory::DmaRun> runs;
        for (const auto& [a, n] : fp.dram) runs.push_back({a, n});
        const auto [channel, dma_done] = dma_.transfer(t, runs, fp.dram_write, dec.engine);
        compute_fs = Femtos{cfg_.dma.setup_cycles} * period_;
        const Femtos done = std::max(dma_done, sram_done);
        if (opts_.trace) {
          trace_.push_back({std::string(fp.dram_write ? "write " : "read ") + std::to_string(fp.dram_bytes) + " B #" +
                                std::to_string(idx),
                            kDmaTrack + static_cast<int>(channel), t, done});
          std::vector<bool> used(dram_->channel_count(), false);
          for (const auto& run : fp.dram)
            for (uint64_t a = run.first; a < run.first + run.second; a += cfg_.dram.interleave_bytes)
              used[dram_->channel_of(a)] = true;
          for (uint32_t c = 0; c < used.size(); ++c)
            if (used[c]) trace_.push_back({"#" + std::to_string(idx), kDramTrack + static_cast<int>(c), t, done});
        }
        return done;
      }
      case Engine::Mxu: {
        const arch::MatmulShape s{mm->m, mm->n, mm->k, mm->reuse_b};
        compute_fs = (mxu_->computes() && mm->integer() ? cosim_matmul(idx, *mm, s) : mxu_->tile(s).cycles) * period_;
        return std::max(t + compute_fs, sram_done);
      }
      case Engine::Vpu: {
        compute_fs = vpu_->cycles({dec.op, fp.elements}) * period_;
        return std::max(t + compute_fs, sram_done);
      }
      default: {
        if (!fp.dram.empty()) {  // wr.imm, perf.snap: a small DMA write
          std::vector<memory::DmaRun> runs;
          for (const auto& [a, n] : fp.dram) runs.push_back({a, n});
          compute_fs = period_;
          return std::max(t + period_, dma_.transfer(t, runs, true, dec.engine).second);
        }
        const bool fence = std::holds_alternative<arch::FenceOp>(dec.ops);
        compute_fs = fence ? 0 : period_;  // one cycle of sequencer work; fences only wait
        if (const auto* irq = std::get_if<arch::IrqOp>(&dec.ops)) compute_fs += host_time(irq->code, t);
        return t + compute_fs;
      }
    }
  }

  /// The host's modelled time for irq `code` issued at `t` (0 when the host has no work for it),
  /// recorded in host_ops_. The irq completes one sequencer cycle plus this after it issues.
  Femtos host_time(uint32_t code, Femtos t) {
    if (!opts_.host_work) return 0;
    const std::optional<HostWork> work = opts_.host_work(code);
    if (!work) return 0;
    HostOpTime h;
    h.code = code;
    h.work = *work;
    h.modelled_s = host_seconds(cfg_.host, h.work);
    const auto fs = static_cast<Femtos>(std::llround(h.modelled_s * kFemtosPerSecond));
    h.start_s = static_cast<double>(t + period_) / kFemtosPerSecond;  // raised after its sequencer cycle
    h.end_s = static_cast<double>(t + period_ + fs) / kFemtosPerSecond;
    host_ops_.push_back(std::move(h));
    return fs;
  }

  const config::NpuConfig& cfg_;  ///< configuration
  const isa::Program& prog_;      ///< program
  arch::Memories& mem_;           ///< memories
  RunOptions opts_;               ///< options
  bool wall_limit_hit_ = false;   ///< the run ended at opts_.wall_limit_s
  /// When opts_.wall_limit_s runs out (steady clock; set at construction).
  std::chrono::steady_clock::time_point wall_deadline_ =
      std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                             std::chrono::duration<double>(std::min(opts_.wall_limit_s, 1e9)));
  Femtos period_;                                          ///< clock period
  arch::FunctionalModel functional_;                       ///< numerics
  std::unique_ptr<arch::MxuTiming> mxu_;                   ///< MXU timing
  std::unique_ptr<arch::VpuTiming> vpu_;                   ///< VPU timing
  std::unique_ptr<memory::DramModel> dram_;                ///< DRAM timing
  DramTarget dram_target_;                                 ///< DRAM behind a TLM-2.0 target socket
  DramInitiator dram_port_;                                ///< the DMA's TLM-2.0 initiator
  memory::DmaModel dma_;                                   ///< DMA timing
  std::unique_ptr<memory::SramModel> spad_, acc_;          ///< SRAM timing
  std::vector<uint32_t> sems_;                             ///< semaphore values
  std::vector<sc_core::sc_event> sem_events_;              ///< per semaphore: signalled
  std::deque<uint32_t> queue_[kEngines];                   ///< per engine: dispatched, not completed
  sc_core::sc_event pushed_[kEngines], popped_[kEngines];  ///< queue changes
  sc_core::sc_event completed_;                            ///< any instruction completed
  bool injected_ = false;                                  ///< the injected fault happened
  int64_t fault_index_ = -1;                               ///< instruction of the fault
  int32_t fault_region_ = -1;                              ///< region of the access to blame (-1: none)
  uint64_t fault_offset_ = 0;                              ///< its offset in the region
  Engine fault_engine_ = Engine::Ctrl;                     ///< its engine
  arch::ActivityTimeline activity_;                        ///< action counts over time
  /// A co-simulated matmul waiting for the functional model.
  struct CosimPending {
    CosimRow row;                  ///< what is reported
    std::vector<int32_t> product;  ///< the computing model's A x B
    std::vector<int32_t> before;   ///< the accumulator tile before (accumulate), else zeros
  };
  std::map<uint32_t, CosimPending> cosim_pending_;                     ///< by instruction index
  std::vector<CosimRow> cosim_;                                        ///< completed co-simulated matmuls
  std::vector<arch::Activity> marker_activity_;                        ///< action counts per marker
  sc_core::sc_event fence_done_;                                       ///< a barrier/finish completed
  bool fence_pending_ = false;                                         ///< fetch waits for a fence
  bool waiting_[kEngines] = {};                                        ///< engine blocked on a wait
  size_t fetch_pc_ = 0;                                                ///< next instruction to dispatch
  std::array<EngineStats, kEngines> stats_{};                          ///< counters
  std::array<std::vector<std::pair<Femtos, Femtos>>, kEngines> busy_;  ///< busy stretches (opts_.engine_spans)
  uint64_t macs_ = 0;                                                  ///< matmul MACs
  std::vector<MarkerSpan> spans_;                                      ///< every begin/end pair
  std::vector<std::vector<uint32_t>> enclosing_;                       ///< per instruction: spans it belongs to
  std::unique_ptr<arch::MxuTiming> analytical_;                        ///< the closed form, beside a computing model
  std::vector<TraceEvent> trace_;                                      ///< collected when opts_.trace
  std::vector<HostOpTime> host_ops_;                                   ///< irqs answered with host work
  bool finished_ = false, faulted_ = false;                            ///< outcome
  arch::FaultCode fault_code_{};                                       ///< first fault
  std::string fault_message_;                                          ///< its message
  Femtos end_fs_ = 0;                                                  ///< finish (or fault) time
};

}  // namespace

// What this model counts, declared once (the memory models declare their own counters). The tree is
// declared over a RunResult, which holds every counter when the run is over.

void EngineStats::declare(stats::Group& g, const uint64_t& total_cycles) const {
  g.counter("instructions", instructions, "", "completed instructions");
  g.counter("busy_cycles", busy_cycles, "cycles", "issue to completion, summed over its instructions");
  g.counter("sem_wait_cycles", sem_wait_cycles, "cycles",
            "blocked on a semaphore wait or on the engines a barrier drains");
  g.counter("mem_stall_cycles", mem_stall_cycles, "cycles", "busy beyond the engine's own compute time (memory-bound)");
  g.value(
      "utilization",
      [this, &total_cycles] { return total_cycles ? static_cast<double>(busy_cycles) / total_cycles : 0; }, "",
      "busy_cycles / total_cycles");
}

void declare_run_stats(stats::Group& root, const RunResult& r, const config::NpuConfig& cfg, const isa::Program& prog) {
  root.counter("total_cycles", r.total_cycles, "cycles", "cycles until finish completed (or the fault)");
  root.value("seconds", r.seconds, "s", "simulated time until finish completed (or the fault)");
  root.counter(
      "instructions", [&prog] { return static_cast<uint64_t>(prog.text.size()); }, "", "instructions in the program");
  root.counter("macs", r.macs, "", "multiply-accumulates of the completed matmuls");
  root.value("mxu_utilization", r.mxu_utilization, "", "macs / (total_cycles x mxu.rows x mxu.cols)");
  root.each(
      "engines", "<engine>", "per engine: ctrl, load, store, mxu, vpu",
      [] {
        std::vector<std::string> names;
        for (int e = 0; e < kEngines; ++e) names.push_back(isa::engine_name(static_cast<Engine>(e)));
        return names;
      },
      [&r](stats::Group& g, size_t e) { r.engines[e].declare(g, r.total_cycles); });
  stats::Group& mem = root.group("memory", "the memory models");
  stats::Group& dram =
      mem.group("dram", "external memory (config dram); banked counts row events per interleave chunk");
  dram.text(
      "impl", [&cfg] { return cfg.dram.impl; }, "the DRAM timing model");
  r.dram.declare(dram, r.seconds, r.dram_peak_bandwidth);
  stats::Group& spad = mem.group("scratchpad", "the scratchpad SRAM (config scratchpad)");
  spad.text(
      "impl", [&cfg] { return cfg.spad.impl; }, "the SRAM timing model");
  r.spad.declare(spad, r.seconds);
  stats::Group& acc = mem.group("accumulator", "the accumulator SRAM (config accumulator)");
  acc.text(
      "impl", [&cfg] { return cfg.acc.impl; }, "the SRAM timing model");
  r.acc.declare(acc, r.seconds);
  stats::Group& dma = mem.group("dma", "the DMA engine between DRAM and the SRAMs (config dma)");
  dma.text(
      "impl", [&cfg] { return cfg.dma.impl; }, "the channel arbitration policy");
  r.dma.declare(dma);
  root.each(
      "operators", "<marker>", "per DEBUG marker (operator; ONNX node)",
      [&r] {
        std::vector<std::string> names;
        for (const auto& m : r.marker_cycles) names.push_back(m.first);
        return names;
      },
      [&r](stats::Group& g, size_t i) {
        g.counter(
            "cycles", [&r, i] { return r.marker_cycles[i].second; }, "cycles",
            "first issue to last completion of the instructions between its mark begin and mark end");
      });
}

void check_target(const config::NpuConfig& cfg, const isa::Program& prog) {
  const isa::Target& t = prog.target;
  auto mismatch = [&](const std::string& what) {
    throw isa::InputError("program does not fit config '" + cfg.name + "': " + what);
  };
  if (t.line_bytes != cfg.spad.line_bytes)
    mismatch("it uses " + std::to_string(t.line_bytes) + "-byte lines, the config " +
             std::to_string(cfg.spad.line_bytes) + "-byte lines");
  if (t.mxu_rows && (t.mxu_rows != cfg.mxu.rows || t.mxu_cols != cfg.mxu.cols))
    mismatch("it was tiled for a " + std::to_string(t.mxu_rows) + "x" + std::to_string(t.mxu_cols) +
             " array, the config has " + std::to_string(cfg.mxu.rows) + "x" + std::to_string(cfg.mxu.cols));
  if (t.spad_bytes > cfg.spad.size_bytes) mismatch("it needs a " + std::to_string(t.spad_bytes) + "-byte scratchpad");
  if (t.acc_bytes > cfg.acc.size_bytes) mismatch("it needs a " + std::to_string(t.acc_bytes) + "-byte accumulator");
  for (int i = 0; i < isa::spec().dtype_count; ++i)
    if ((t.dtype_mask >> i) & 1) {
      const std::string d = isa::spec().dtypes[i].name;
      if (std::find(cfg.mxu.dtypes.begin(), cfg.mxu.dtypes.end(), d) == cfg.mxu.dtypes.end())
        mismatch("it needs MXU dtype " + d + ", which the config's mxu.dtypes lacks");
    }
  if (t.config_hash && t.config_hash != cfg.hash()) {
    char b[160];
    std::snprintf(b, sizeof b, "it requires config hash 0x%016llx, this config hashes to 0x%016llx",
                  static_cast<unsigned long long>(t.config_hash), static_cast<unsigned long long>(cfg.hash()));
    mismatch(b);
  }
  // Every matmul dtype used must be supported, whatever the header says.
  for (size_t i = 0; i < prog.text.size(); ++i)
    if (static_cast<Opcode>(prog.text[i].opcode()) == Opcode::Matmul) {
      const std::string d =
          isa::find_field(*isa::find_instr("matmul"), "dtype")->enum_values[prog.text[i].get(f::matmul::dtype)];
      if (std::find(cfg.mxu.dtypes.begin(), cfg.mxu.dtypes.end(), d) == cfg.mxu.dtypes.end())
        mismatch("instruction #" + std::to_string(i) + " multiplies " + d + ", which the config's mxu.dtypes lacks");
    }
}

namespace {
RunResult run_on(const config::NpuConfig& cfg, const isa::Program& prog, arch::Memories& mem, const RunOptions& opts);
}  // namespace

RunResult simulate(const config::NpuConfig& cfg, const isa::Program& prog,
                   const std::map<std::string, std::vector<uint8_t>>& inputs, const RunOptions& opts) {
  check_target(cfg, prog);
  // Memories: SRAMs, and every region with its initial contents or input tensor.
  // Timing-only runs never touch data: only the sizes are needed (for bounds checks).
  arch::Memories mem;
  mem.spad_bytes = cfg.spad.size_bytes;
  mem.acc_bytes = cfg.acc.size_bytes;
  if (!opts.timing_only) {
    uint64_t need = cfg.spad.size_bytes + cfg.acc.size_bytes;
    std::string largest;
    uint64_t largest_bytes = 0;
    bool overflow = false;  // the sum passes 2^64 (sizes are 64-bit)
    for (const auto& r : prog.regions) {
      overflow = overflow || need > UINT64_MAX - r.size;
      need = overflow ? UINT64_MAX : need + r.size;
      if (r.size > largest_bytes) largest_bytes = r.size, largest = r.name;
    }
    if (need > opts.max_memory_bytes)
      throw isa::InputError("the program needs " + (overflow ? std::string("more than 2^64") : std::to_string(need)) +
                            " bytes of host memory (its largest region '" + largest + "' has " +
                            std::to_string(largest_bytes) + "), more than the limit of " +
                            std::to_string(opts.max_memory_bytes) +
                            " bytes for a functional run (run it --timing-only, or raise npusim run --max-memory)");
    mem.spad.assign(cfg.spad.size_bytes, 0);
    mem.acc.assign(cfg.acc.size_bytes, 0);
  }
  uint64_t base = 0;
  for (const auto& r : prog.regions) {
    const uint64_t align = std::max<uint64_t>(r.align, 4096);  // regions start on page boundaries
    base = (base + align - 1) / align * align;
    mem.region_base.push_back(base);
    base += r.size;
    if (r.size > (uint64_t{1} << 34)) throw isa::InputError("region '" + r.name + "' is larger than 16 GiB");
    mem.region_size.push_back(r.size);
    mem.regions.emplace_back();
    if (opts.timing_only) continue;
    mem.regions.back().assign(r.size, 0);
    std::copy(r.init.begin(), r.init.end(), mem.regions.back().begin());
  }
  for (const auto& io : prog.io) {
    if (prog.regions[io.region].role != isa::RegionRole::Input) continue;
    uint64_t bytes = isa::tensor_type_bytes(io.dtype);
    for (int k = 0; k < io.rank; ++k) bytes *= io.dims[k];
    const auto it = inputs.find(io.name);
    if (it == inputs.end()) {
      if (opts.timing_only) continue;  // timing does not depend on the data
      throw isa::InputError("no data for input tensor '" + io.name + "'");
    }
    if (it->second.size() != bytes)
      throw isa::InputError("input '" + io.name + "': " + std::to_string(it->second.size()) + " bytes given, " +
                            std::to_string(bytes) + " expected");
    if (!opts.timing_only)
      std::copy(it->second.begin(), it->second.end(),
                mem.regions[io.region].begin() + static_cast<std::ptrdiff_t>(io.offset));
  }
  for (const auto& [name, data] : inputs) {
    bool known = false;
    for (const auto& io : prog.io)
      known = known || (io.name == name && prog.regions[io.region].role == isa::RegionRole::Input);
    if (!known) throw isa::InputError("the program has no input tensor named '" + name + "'");
  }
  RunResult r = run_on(cfg, prog, mem, opts);
  if (r.ok && !opts.timing_only)
    for (const auto& io : prog.io) {
      if (prog.regions[io.region].role != isa::RegionRole::Output) continue;
      uint64_t bytes = isa::tensor_type_bytes(io.dtype);
      for (int k = 0; k < io.rank; ++k) bytes *= io.dims[k];
      const auto& reg = mem.regions[io.region];
      r.outputs[io.name].assign(reg.begin() + static_cast<std::ptrdiff_t>(io.offset),
                                reg.begin() + static_cast<std::ptrdiff_t>(io.offset + bytes));
    }
  return r;
}

RunResult simulate_regions(const config::NpuConfig& cfg, const isa::Program& prog,
                           std::vector<std::vector<uint8_t>>& regions, const RunOptions& opts) {
  check_target(cfg, prog);
  if (regions.size() != prog.regions.size())
    throw isa::InputError("the program has " + std::to_string(prog.regions.size()) + " regions, " +
                          std::to_string(regions.size()) + " given");
  arch::Memories mem;
  mem.spad_bytes = cfg.spad.size_bytes;
  mem.acc_bytes = cfg.acc.size_bytes;
  mem.spad.assign(cfg.spad.size_bytes, 0);
  mem.acc.assign(cfg.acc.size_bytes, 0);
  uint64_t base = 0;
  for (size_t i = 0; i < prog.regions.size(); ++i) {
    if (regions[i].size() != prog.regions[i].size)
      throw isa::InputError("region '" + prog.regions[i].name + "': " + std::to_string(regions[i].size()) +
                            " bytes given, " + std::to_string(prog.regions[i].size) + " expected");
    const uint64_t align = std::max<uint64_t>(prog.regions[i].align, 4096);
    base = (base + align - 1) / align * align;
    mem.region_base.push_back(base);
    base += prog.regions[i].size;
    mem.region_size.push_back(prog.regions[i].size);
  }
  mem.regions = std::move(regions);
  RunResult r = run_on(cfg, prog, mem, opts);
  regions = std::move(mem.regions);
  return r;
}

namespace {

RunResult run_on(const config::NpuConfig& cfg, const isa::Program& prog, arch::Memories& mem, const RunOptions& opts) {
  // A fresh simulation context per run, so one process can simulate many programs (the device model
  // runs job after job). SystemC 2.3.4 keeps its kernel state in sc_curr_simcontext; replacing it
  // before elaboration and deleting it after the module is gone starts every run at time 0. This
  // relies on those exported globals (not IEEE 1666; checked by the Simulator.RunsTwiceInOneProcess test).
  struct FreshContext {
    sc_core::sc_simcontext* ctx = new sc_core::sc_simcontext;
    FreshContext() { sc_core::sc_curr_simcontext = sc_core::sc_default_global_context = ctx; }
    ~FreshContext() {
      delete ctx;
      sc_core::sc_curr_simcontext = sc_core::sc_default_global_context = nullptr;
    }
  } context;
  sc_core::sc_set_time_resolution(1, sc_core::SC_FS);
  // sc_stop() at finish is the normal end of a run, not news.
  sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  NpuTop top("npu", cfg, prog, mem, opts);
  const Femtos period = period_fs(cfg.clock_hz);
  const double watchdog_fs = static_cast<double>(opts.watchdog_cycles) * static_cast<double>(period);
  sc_core::sc_start(sc_core::sc_time(std::min(watchdog_fs, 1.8e19), sc_core::SC_FS), sc_core::SC_EXIT_ON_STARVATION);

  RunResult r;
  if (!top.finished() && !top.faulted()) {
    if (sc_core::sc_pending_activity() || top.hang_injected())  // a hung engine: the watchdog ends it
      top.record_fault(arch::FaultCode::Watchdog,
                       "WATCHDOG: no finish after " + std::to_string(opts.watchdog_cycles) + " cycles\n" + top.state());
    else
      top.record_fault(arch::FaultCode::Deadlock,
                       "DEADLOCK: every unfinished engine waits and nothing is in flight\n" + top.state());
  }
  top.collect(r);
  r.ok = top.finished() && !top.faulted();
  if (top.faulted()) {
    r.fault_code = top.fault_code();
    r.fault_message = top.fault_message();
    r.fault_index = top.fault_index();
    r.fault_region = top.fault_region();
    r.fault_offset = top.fault_offset();
    r.fault_engine = top.fault_engine();
    // A hung engine stops making events, so the kernel starves before the watchdog's time: the
    // run still lasted until the watchdog fired.
    if (r.fault_code == arch::FaultCode::Watchdog && !top.wall_limit_hit() && r.total_cycles < opts.watchdog_cycles) {
      r.total_cycles = opts.watchdog_cycles;
      r.seconds = static_cast<double>(opts.watchdog_cycles) / cfg.clock_hz;
    }
  }
  if (opts.trace) r.trace_json = top.trace_json();
  return r;
}

}  // namespace

}  // namespace npusim

// libsystemc.so defines main() and references sc_main; npusim has its own main, so this is never
// called, but the symbol must exist.
int sc_main(int, char**) {
  return 2;
}
