// DMA engine timing: channels, burst size, outstanding requests, setup latency, over a DRAM port.
//
// A transfer is cut into bursts of `burst_bytes` (following its address runs, split at burst
// boundaries); at most `outstanding` bursts of a channel are in flight (Little's law bounds a
// channel to outstanding x burst / latency); transfers on one channel are serialised, channels run
// in parallel and meet in the DRAM model's channels and banks. Which channel serves a transfer is
// the arbitration policy: an interface with implementations chosen by `dma: {impl: ...}`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/schema.h"
#include "base/stats.h"
#include "base/time.h"
#include "isa/spec.h"
#include "memory/dram.h"

namespace npusim::memory {

struct DmaConfig {
  std::string impl;            ///< channel arbitration policy
  uint32_t channels = 2;       ///< independent DMA channels
  uint32_t burst_bytes = 64;   ///< bytes per DRAM request
  uint32_t outstanding = 16;   ///< bursts in flight per channel
  uint32_t setup_cycles = 20;  ///< descriptor decode before the first burst
};

void describe_dma(config::Section& s, DmaConfig& c);

/// Chooses the channel for a transfer. Contract: deterministic; returns an index < channels.
class DmaArbiter {
 public:
  virtual ~DmaArbiter() = default;
  /// `free_at`: when each channel finishes its current work; `t`: request time.
  virtual uint32_t pick(const std::vector<Femtos>& free_at, Femtos t, isa::Engine requester) = 0;
};
using DmaArbiterRegistry = config::Registry<DmaConfig, DmaArbiter>;

/// One contiguous piece of a transfer in DRAM.
struct DmaRun {
  uint64_t addr = 0;   ///< DRAM byte address
  uint64_t bytes = 0;  ///< length
};

/// The bursts of one DMA transfer: what crosses to the DRAM as one transaction.
struct BurstTrain {
  Femtos issue = 0;                 ///< when the first burst may issue
  const std::vector<DmaRun>* runs;  ///< address runs, in order
  bool write = false;               ///< direction
  uint32_t burst_bytes = 64;        ///< burst size (bursts split at burst-aligned boundaries)
  uint32_t outstanding = 16;        ///< bursts in flight at most
};

/// Issues a burst train on a DRAM model: bursts issue at `issue` until `outstanding` are in
/// flight, then each waits for the oldest to complete. Returns the last completion.
Femtos issue_bursts(DramModel& dram, const BurstTrain& train, std::vector<Femtos>& ring);

/// Where DMA transfers go: the DRAM model directly (unit tests) or through a TLM-2.0 socket
/// (sim/tlm_dram.h, the SystemC model). Either way issue_bursts times the bursts.
class DramPort {
 public:
  virtual ~DramPort() = default;
  virtual Femtos transfer(const BurstTrain& train) = 0;
};

/// A DramPort that calls the model directly.
class DirectDramPort final : public DramPort {
 public:
  explicit DirectDramPort(DramModel& m) : m_(m) {}
  Femtos transfer(const BurstTrain& train) override { return issue_bursts(m_, train, ring_); }

 private:
  DramModel& m_;              ///< the model
  std::vector<Femtos> ring_;  ///< scratch for issue_bursts
};

/// What the DMA engine counts (stats.json `memory.dma`).
struct DmaStats {
  uint64_t transfers = 0;            ///< transfers (one per DMA instruction)
  uint64_t bytes = 0;                ///< bytes moved, both directions
  uint64_t channel_wait_cycles = 0;  ///< cycles transfers waited for their channel to free

  /// Declares these counters into `g`.
  void declare(stats::Group& g) const;
};

class DmaModel {
 public:
  DmaModel(const DmaConfig& c, DramPort& dram, Femtos period);
  /// Transfers `runs` starting no earlier than `t`; returns {channel used, completion time}.
  std::pair<uint32_t, Femtos> transfer(Femtos t, const std::vector<DmaRun>& runs, bool write,
                                       isa::Engine requester = isa::Engine::Load);
  void set_period(Femtos p) { period_ = p; }
  const DmaStats& stats() const { return stats_; }

 private:
  DmaConfig c_;                          ///< parameters
  DramPort& dram_;                       ///< the memory behind it
  Femtos period_;                        ///< NPU clock period
  std::unique_ptr<DmaArbiter> arbiter_;  ///< channel choice
  std::vector<Femtos> channel_free_;     ///< per channel: free from
  DmaStats stats_;                       ///< updated by transfer()
};

}  // namespace npusim::memory
