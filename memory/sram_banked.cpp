// `impl: banked`: lines interleave round-robin over banks; each bank moves `ports` bank-width
// beats per cycle, so an access of n lines on one bank takes ceil(n x beats_per_line / ports)
// cycles, and accesses that meet on a bank wait for it (conflicts).
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "base/units.h"
#include "memory/sram.h"

namespace npusim::memory {
namespace {

class BankedSram final : public SramModel {
 public:
  explicit BankedSram(const SramConfig& c)
      : SramModel(c, 1),
        beats_per_line_(std::max<uint32_t>(1, c.line_bytes / c.bank_width_bytes)),
        bank_free_(c.banks, 0) {}

  Femtos access(Femtos t, uint64_t line, uint64_t lines) override {
    count(lines);
    const uint64_t full = lines / c_.banks, extra = lines % c_.banks;
    Femtos done = t;
    for (uint32_t i = 0; i < c_.banks && i < lines; ++i) {
      const auto bank = static_cast<uint32_t>((line + i) % c_.banks);
      const uint64_t n = full + (i < extra ? 1 : 0);
      const uint64_t cycles = (n * beats_per_line_ + c_.ports - 1) / c_.ports;
      const Femtos start = std::max(t, bank_free_[bank]);
      if (start > t) stats_.bank_conflict_cycles += (start - t + period_ - 1) / period_;
      bank_free_[bank] = start + cycles * period_;
      done = std::max(done, bank_free_[bank]);
    }
    return done + c_.latency_cycles * period_;
  }

 private:
  uint32_t beats_per_line_;        ///< bank-width beats per line
  std::vector<Femtos> bank_free_;  ///< per bank: free from
};

const bool registered = SramRegistry::add(
    {"banked", "banks x ports, lines interleaved, conflicts serialise",
     [](config::Section& s, SramConfig& c) {
       s.integer("banks", c.banks, "", "independent banks (lines interleave across them)", 8, 1, 1024);
       s.integer("bank_width", c.bank_width_bytes, "bytes", "bytes one bank port moves per cycle", 64, 1, 4096);
       s.integer("ports", c.ports, "", "ports per bank", 1, 1, 8);
       s.check([&c] {
         if (c.line_bytes % c.bank_width_bytes && c.bank_width_bytes % c.line_bytes)
           throw std::invalid_argument("line_bytes (" + std::to_string(c.line_bytes) + ") and bank_width (" +
                                       std::to_string(c.bank_width_bytes) + ") must divide one another");
         if (c.size_bytes % (uint64_t{c.line_bytes} * c.banks))
           throw std::invalid_argument("size (" + config::bytes_text(c.size_bytes) +
                                       ") must be a multiple of banks x line_bytes (" +
                                       std::to_string(uint64_t{c.line_bytes} * c.banks) + " bytes)");
       });
     },
     [](const SramConfig& c) { return std::make_unique<BankedSram>(c); }});

}  // namespace
}  // namespace npusim::memory
