// DMA configuration and timing.
#include "memory/dma.h"

#include <algorithm>
#include <stdexcept>

namespace npusim::memory {

void describe_dma(config::Section& s, DmaConfig& c) {
  s.integer("channels", c.channels, "", "independent DMA channels (shared by load and store)", 2, 1, 64);
  s.integer("burst_bytes", c.burst_bytes, "bytes", "bytes per DRAM request", 64, 4, 1 << 16);
  s.integer("outstanding", c.outstanding, "", "bursts in flight per channel", 16, 1, 1024);
  s.integer("setup", c.setup_cycles, "cycles", "descriptor decode before the first burst", 20, 0, 100000);
}

DmaModel::DmaModel(const DmaConfig& c, DramModel& dram, Femtos period)
    : c_(c), dram_(dram), period_(period), channel_free_(c.channels, 0) {}

std::pair<uint32_t, Femtos> DmaModel::transfer(Femtos t, const std::vector<DmaRun>& runs, bool write) {
  // Earliest free channel (lowest index on ties: deterministic).
  const auto it = std::min_element(channel_free_.begin(), channel_free_.end());
  const auto ch = static_cast<uint32_t>(it - channel_free_.begin());
  Femtos issue = std::max(t, *it) + Femtos{c_.setup_cycles} * period_;
  std::deque<Femtos> in_flight;  // completion times of outstanding bursts, in issue order
  Femtos done = issue;
  for (const DmaRun& r : runs) {
    for (uint64_t off = 0; off < r.bytes;) {
      // Bursts stay inside burst-aligned windows, as a real DMA splits at burst boundaries.
      const uint64_t a = r.addr + off;
      const uint64_t n = std::min<uint64_t>(r.bytes - off, c_.burst_bytes - a % c_.burst_bytes);
      if (in_flight.size() == c_.outstanding) {
        issue = std::max(issue, in_flight.front());
        in_flight.pop_front();
      }
      const Femtos end = dram_.access(issue, a, n, write);
      in_flight.push_back(end);
      done = std::max(done, end);
      bytes_ += n;
      off += n;
    }
  }
  *it = done;
  return {ch, done};
}

}  // namespace npusim::memory
