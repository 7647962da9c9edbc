// SRAM configuration and bank timing.
#include "memory/sram.h"

#include <algorithm>
#include <stdexcept>

#include "sim/config/units.h"

namespace npusim::memory {

void describe_sram(config::Section& s, SramConfig& c, uint64_t default_size) {
  s.bytes("size", c.size_bytes, "capacity", default_size, 64, uint64_t{1} << 32);
  s.integer("banks", c.banks, "", "independent banks (lines interleave across them)", 8, 1, 1024);
  s.integer("bank_width", c.bank_width_bytes, "bytes", "bytes one bank port moves per cycle", 64, 1, 4096);
  s.integer("ports", c.ports, "", "ports per bank", 1, 1, 8);
  s.integer("line_bytes", c.line_bytes, "bytes", "line size: the unit of ISA line addresses (power of two)", 64, 1, 4096);
  s.integer("latency", c.latency_cycles, "cycles", "access latency", 2, 0, 1000);
  s.check([&c] {
    if (c.line_bytes & (c.line_bytes - 1)) throw std::invalid_argument("line_bytes (" + std::to_string(c.line_bytes) + ") must be a power of two");
    if (c.line_bytes % c.bank_width_bytes && c.bank_width_bytes % c.line_bytes)
      throw std::invalid_argument("line_bytes (" + std::to_string(c.line_bytes) + ") and bank_width (" +
                                  std::to_string(c.bank_width_bytes) + ") must divide one another");
    if (c.size_bytes % (uint64_t{c.line_bytes} * c.banks))
      throw std::invalid_argument("size (" + config::bytes_text(c.size_bytes) + ") must be a multiple of banks x line_bytes (" +
                                  std::to_string(uint64_t{c.line_bytes} * c.banks) + " bytes)");
  });
}

SramModel::SramModel(const SramConfig& c, Femtos period)
    : c_(c), period_(period), beats_per_line_(std::max<uint32_t>(1, c.line_bytes / c.bank_width_bytes)), bank_free_(c.banks, 0) {}

Femtos SramModel::access(Femtos t, uint64_t line, uint64_t lines) {
  ++accesses_;
  // Lines per bank for this access: consecutive lines spread round-robin over the banks.
  const uint64_t full = lines / c_.banks, extra = lines % c_.banks;
  Femtos done = t;
  for (uint32_t i = 0; i < c_.banks && i < lines; ++i) {
    const uint32_t bank = static_cast<uint32_t>((line + i) % c_.banks);
    const uint64_t n = full + (i < extra ? 1 : 0);
    const uint64_t cycles = (n * beats_per_line_ + c_.ports - 1) / c_.ports;
    const Femtos start = std::max(t, bank_free_[bank]);
    if (start > t) conflict_cycles_ += (start - t + period_ - 1) / period_;
    bank_free_[bank] = start + cycles * period_;
    done = std::max(done, bank_free_[bank]);
  }
  return done + c_.latency_cycles * period_;
}

}  // namespace npusim::memory
