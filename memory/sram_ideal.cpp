// `impl: ideal`: every access takes only the access latency, with unlimited bandwidth and no
// conflicts. For isolating compute and DRAM effects (e.g. checking the MXU closed form).
#include "memory/sram.h"

namespace npusim::memory {
namespace {

class IdealSram final : public SramModel {
 public:
  explicit IdealSram(const SramConfig& c) : SramModel(c, 1) {}
  Femtos access(Femtos t, uint64_t, uint64_t lines) override {
    count(lines);
    return t + c_.latency_cycles * period_;
  }
};

const bool registered =
    SramRegistry::add({"ideal", "latency only: unlimited bandwidth, no conflicts", [](config::Section&, SramConfig&) {},
                       [](const SramConfig& c) { return std::make_unique<IdealSram>(c); }});

}  // namespace
}  // namespace npusim::memory
