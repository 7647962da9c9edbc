// DMA configuration, timing, and the channel arbitration policies.
#include "memory/dma.h"

#include <algorithm>
#include <stdexcept>

namespace npusim::memory {

void describe_dma(config::Section& s, DmaConfig& c) {
  config::impl_choice<DmaConfig, DmaArbiter>(s, c, "channel arbitration policy", "earliest_free");
  s.integer("channels", c.channels, "", "independent DMA channels (shared by load and store)", 2, 1, 64);
  s.integer("burst_bytes", c.burst_bytes, "bytes", "bytes per DRAM request", 64, 4, 1 << 16);
  s.integer("outstanding", c.outstanding, "", "bursts in flight per channel", 16, 1, 1024);
  s.integer("setup", c.setup_cycles, "cycles", "descriptor decode before the first burst", 20, 0, 100000);
}

DmaModel::DmaModel(const DmaConfig& c, DramPort& dram, Femtos period)
    : c_(c), dram_(dram), period_(period), arbiter_(DmaArbiterRegistry::make(c)), channel_free_(c.channels, 0) {}

void DmaStats::declare(stats::Group& g) const {
  g.counter("transfers", transfers, "", "transfers (DMA instructions, wr.imm and perf.snap included)");
  g.counter("bytes", bytes, "bytes", "bytes moved, both directions");
  g.counter("channel_wait_cycles", channel_wait_cycles, "cycles",
            "cycles transfers waited for their channel to finish earlier work");
}

Femtos issue_bursts(DramModel& dram, const BurstTrain& train, std::vector<Femtos>& ring) {
  ring.resize(train.outstanding);
  Femtos issue = train.issue, done = train.issue;
  uint64_t issued = 0;  // bursts so far; ring[i % outstanding] holds burst i's completion
  for (const DmaRun& r : *train.runs) {
    for (uint64_t off = 0; off < r.bytes;) {
      const uint64_t a = r.addr + off;
      const uint64_t n = std::min<uint64_t>(r.bytes - off, train.burst_bytes - a % train.burst_bytes);
      // The window is full: the next burst issues when the oldest outstanding one completes.
      if (issued >= train.outstanding) issue = std::max(issue, ring[issued % train.outstanding]);
      const Femtos end = dram.access(issue, a, n, train.write);
      ring[issued % train.outstanding] = end;
      ++issued;
      done = std::max(done, end);
      off += n;
    }
  }
  return done;
}

std::pair<uint32_t, Femtos> DmaModel::transfer(Femtos t, const std::vector<DmaRun>& runs, bool write,
                                               isa::Engine requester) {
  const uint32_t ch = arbiter_->pick(channel_free_, t, requester);
  const Femtos start = std::max(t, channel_free_[ch]);
  BurstTrain train;
  train.issue = start + Femtos{c_.setup_cycles} * period_;
  train.runs = &runs;
  train.write = write;
  train.burst_bytes = c_.burst_bytes;
  train.outstanding = c_.outstanding;
  const Femtos done = std::max(train.issue, dram_.transfer(train));
  ++stats_.transfers;
  for (const DmaRun& r : runs) stats_.bytes += r.bytes;
  stats_.channel_wait_cycles += (start - t + period_ - 1) / period_;
  channel_free_[ch] = done;
  return {ch, done};
}

namespace {

/// The channel that frees first (lowest index on ties).
class EarliestFree final : public DmaArbiter {
 public:
  uint32_t pick(const std::vector<Femtos>& free_at, Femtos, isa::Engine) override {
    return static_cast<uint32_t>(std::min_element(free_at.begin(), free_at.end()) - free_at.begin());
  }
};

/// Channels in turn, whatever their state.
class RoundRobin final : public DmaArbiter {
 public:
  uint32_t pick(const std::vector<Femtos>& free_at, Femtos, isa::Engine) override {
    const auto ch = static_cast<uint32_t>(next_ % free_at.size());
    ++next_;
    return ch;
  }

 private:
  uint64_t next_ = 0;  ///< transfers so far
};

/// LOAD on even channels, STORE on odd ones (earliest free within the set): reads and writes never
/// queue behind each other.
class PerEngine final : public DmaArbiter {
 public:
  uint32_t pick(const std::vector<Femtos>& free_at, Femtos, isa::Engine requester) override {
    const uint32_t first = (requester == isa::Engine::Store && free_at.size() > 1) ? 1 : 0;
    const uint32_t step = free_at.size() > 1 ? 2 : 1;
    uint32_t best = first;
    for (uint32_t c = first; c < free_at.size(); c += step)
      if (free_at[c] < free_at[best]) best = c;
    return best;
  }
};

const bool registered =
    DmaArbiterRegistry::add({"earliest_free", "the channel that frees first", [](config::Section&, DmaConfig&) {},
                             [](const DmaConfig&) { return std::make_unique<EarliestFree>(); }}) &&
    DmaArbiterRegistry::add({"round_robin", "channels in turn", [](config::Section&, DmaConfig&) {},
                             [](const DmaConfig&) { return std::make_unique<RoundRobin>(); }}) &&
    DmaArbiterRegistry::add({"per_engine", "load on even channels, store on odd ones",
                             [](config::Section&, DmaConfig&) {},
                             [](const DmaConfig&) { return std::make_unique<PerEngine>(); }});

}  // namespace
}  // namespace npusim::memory
