// DRAM statistics: what every implementation counts (memory/dram.h), declared once.
#include "memory/dram.h"

namespace npusim::memory {

void DramStats::declare(stats::Group& g, const double& seconds, const double& peak_bytes_per_s) const {
  // Achieved bandwidth over the whole run (a zero-length run counts as one second).
  auto achieved = [this, &seconds] {
    return static_cast<double>(bytes_read + bytes_written) / (seconds > 0 ? seconds : 1);
  };
  g.counter("reads", reads, "", "read requests (DMA bursts)");
  g.counter("writes", writes, "", "write requests (DMA bursts)");
  g.counter("bytes_read", bytes_read, "bytes", "bytes read");
  g.counter("bytes_written", bytes_written, "bytes", "bytes written");
  g.value("bandwidth_bytes_per_s", achieved, "B/s", "bytes read and written / seconds");
  g.value("peak_bytes_per_s", peak_bytes_per_s, "B/s", "the model's peak data bandwidth over all channels");
  g.value(
      "bandwidth_utilization", [achieved, &peak_bytes_per_s] { return achieved() / peak_bytes_per_s; }, "",
      "bandwidth_bytes_per_s / peak_bytes_per_s");
  g.counter("row_hits", row_hits, "", "banked: accesses that hit the open row of their bank (simple: 0)");
  g.counter("row_misses", row_misses, "", "banked: accesses that first closed another row (tRP + tRCD)");
  g.counter("row_empty", row_empty, "", "banked: accesses that opened a row in an idle bank (tRCD)");
  g.counter("refresh_stalls", refresh_stalls, "", "banked: accesses that waited for a refresh window to end");
  g.value(
      "bus_busy_s", [this] { return static_cast<double>(busy_fs) / kFemtosPerSecond; }, "s",
      "data-bus transfer time summed over channels");
}

}  // namespace npusim::memory
