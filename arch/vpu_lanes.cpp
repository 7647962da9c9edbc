// `vpu: {impl: lanes}`: a pipelined SIMD unit, `latency` cycles deep, `lanes` elements wide.
#include "arch/vpu_timing.h"

namespace npusim::arch {
namespace {

class LanesVpu final : public VpuTiming {
 public:
  explicit LanesVpu(const VpuConfig& c) : c_(c) {}
  /// Pipeline latency plus one pass of `lanes` elements per cycle: latency + ceil(elements / lanes).
  uint64_t cycles(const VpuWork& w) const override {
    return c_.latency_cycles + (w.elements + c_.lanes - 1) / c_.lanes;
  }

 private:
  VpuConfig c_;  ///< lanes and latency
};

const bool registered = VpuRegistry::add(
    {"lanes", "pipelined SIMD: latency + ceil(elements / lanes) cycles per instruction, whatever the operation",
     [](config::Section&, VpuConfig&) {}, [](const VpuConfig& c) { return std::make_unique<LanesVpu>(c); }});

}  // namespace

void describe_vpu(config::Section& s, VpuConfig& c) {
  s.integer("lanes", c.lanes, "elements", "elements processed per cycle", 16, 1, 65536);
  s.integer("latency", c.latency_cycles, "cycles", "pipeline latency per instruction", 4, 0, 10000);
  config::impl_choice<VpuConfig, VpuTiming>(s, c, "VPU timing model", "lanes");
}

}  // namespace npusim::arch
