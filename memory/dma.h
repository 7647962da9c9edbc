// DMA engine timing: channels, burst size, outstanding requests, setup latency, over a DramModel.
//
// A transfer is cut into bursts of `burst_bytes` (following its address runs); at most
// `outstanding` bursts of a channel are in flight (Little's law bounds a channel to
// outstanding x burst / latency); transfers on one channel are serialised, channels run in parallel
// and meet in the DRAM model's channels and banks.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "memory/dram.h"
#include "sim/config/schema.h"
#include "sim/time.h"

namespace npusim::memory {

struct DmaConfig {
  uint32_t channels = 2;        ///< independent DMA channels
  uint32_t burst_bytes = 64;    ///< bytes per DRAM request
  uint32_t outstanding = 16;    ///< bursts in flight per channel
  uint32_t setup_cycles = 20;   ///< descriptor fetch/decode before the first burst
};

void describe_dma(config::Section& s, DmaConfig& c);

/// One contiguous piece of a transfer in DRAM.
struct DmaRun {
  uint64_t addr = 0;   ///< DRAM byte address
  uint64_t bytes = 0;  ///< length
};

class DmaModel {
 public:
  DmaModel(const DmaConfig& c, DramModel& dram, Femtos period);
  /// Transfers `runs` starting no earlier than `t`; returns {channel used, completion time}.
  std::pair<uint32_t, Femtos> transfer(Femtos t, const std::vector<DmaRun>& runs, bool write);
  void set_period(Femtos p) { period_ = p; }
  uint64_t bytes() const { return bytes_; }

 private:
  DmaConfig c_;                          ///< parameters
  DramModel& dram_;                      ///< the memory behind it
  Femtos period_;                        ///< NPU clock period
  std::vector<Femtos> channel_free_;     ///< per channel: free from
  uint64_t bytes_ = 0;                   ///< bytes moved
};

}  // namespace npusim::memory
