// `dram: {impl: simple}`: a fixed latency plus one pipe at the peak bandwidth.
// A request starts when the pipe is free, occupies it for bytes / bandwidth and completes
// `latency` later, so back-to-back streaming reaches exactly the peak bandwidth.
#include <algorithm>

#include "memory/dram.h"

namespace npusim::memory {
namespace {

class SimpleDram final : public DramModel {
 public:
  explicit SimpleDram(const DramConfig& c)
      : latency_fs_(seconds_to_fs(c.latency_s)),
        fs_per_byte_(kFemtosPerSecond / c.bandwidth),
        bandwidth_(c.bandwidth) {}

  Femtos access(Femtos t, uint64_t, uint64_t bytes, bool write) override {
    const Femtos start = std::max(t, pipe_free_);
    // Transfer time from the exact byte count (no per-request rounding drift).
    const Femtos transfer = static_cast<Femtos>(std::ceil(static_cast<double>(bytes) * fs_per_byte_));
    pipe_free_ = start + transfer;
    (write ? stats_.writes : stats_.reads) += 1;
    (write ? stats_.bytes_written : stats_.bytes_read) += bytes;
    stats_.busy_fs += transfer;
    return pipe_free_ + latency_fs_;
  }
  double peak_bandwidth() const override { return bandwidth_; }
  uint32_t channel_count() const override { return 1; }
  uint32_t channel_of(uint64_t) const override { return 0; }

 private:
  Femtos latency_fs_;     ///< fixed access latency
  double fs_per_byte_;    ///< 1 / bandwidth
  double bandwidth_;      ///< bytes/s
  Femtos pipe_free_ = 0;  ///< when the data pipe can start the next transfer
};

const bool registered =
    DramRegistry::add({"simple", "fixed latency + peak bandwidth, one pipe",
                       [](config::Section& s, DramConfig& c) {
                         s.time("latency", c.latency_s, "access latency added to every request", 100e-9, 0, 1e-3);
                         s.bandwidth("bandwidth", c.bandwidth, "peak data bandwidth", std::nullopt);
                       },
                       [](const DramConfig& c) { return std::make_unique<SimpleDram>(c); }});

}  // namespace
}  // namespace npusim::memory
