// SRAM configuration (common keys; each implementation adds its own) and construction.
#include "memory/sram.h"

#include <stdexcept>

#include "base/units.h"

namespace npusim::memory {

void describe_sram(config::Section& s, SramConfig& c, uint64_t default_size) {
  s.bytes("size", c.size_bytes, "capacity", default_size, 64, uint64_t{1} << 32);
  s.integer("line_bytes", c.line_bytes, "bytes", "line size: the unit of ISA line addresses (power of two)", 64, 1,
            4096);
  s.integer("latency", c.latency_cycles, "cycles", "access latency", 2, 0, 1000);
  s.check([&c] {
    if (c.line_bytes & (c.line_bytes - 1))
      throw std::invalid_argument("line_bytes (" + std::to_string(c.line_bytes) + ") must be a power of two");
    if (c.size_bytes % c.line_bytes)
      throw std::invalid_argument("size (" + config::bytes_text(c.size_bytes) + ") must be a multiple of line_bytes");
  });
  // After the common keys, so their checks run first.
  config::impl_choice<SramConfig, SramModel>(s, c, "SRAM timing model", "banked");
}

void SramStats::declare(stats::Group& g, const double& seconds) const {
  g.counter("accesses", accesses, "", "requests, each a run of consecutive lines");
  g.counter("bytes", bytes, "bytes", "bytes moved");
  g.value(
      "bandwidth_bytes_per_s", [this, &seconds] { return static_cast<double>(bytes) / (seconds > 0 ? seconds : 1); },
      "B/s", "bytes / seconds");
  g.counter("bank_conflict_cycles", bank_conflict_cycles, "cycles",
            "banked: cycles requests waited for busy banks or ports (each bank's wait)");
}

std::unique_ptr<SramModel> make_sram(const SramConfig& c, Femtos period) {
  auto m = SramRegistry::make(c);
  m->set_period(period);
  return m;
}

}  // namespace npusim::memory
