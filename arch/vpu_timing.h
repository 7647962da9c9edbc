// VPU timing: how long a vector instruction occupies the vector unit. An interface with
// implementations chosen by `vpu.impl`, each registered where it is defined (arch/vpu_lanes.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/schema.h"
#include "isa_ops.h"

namespace npusim::arch {

struct VpuConfig {
  std::string impl = "lanes";   ///< the VpuTiming implementation
  uint32_t lanes = 16;          ///< elements processed per cycle
  uint32_t latency_cycles = 4;  ///< pipeline depth added to every instruction
};
void describe_vpu(config::Section& s, VpuConfig& c);

/// What one VPU instruction does, as the timing model sees it.
struct VpuWork {
  isa::Opcode op{};       ///< the instruction (add, requant, pool, sfu, ...)
  uint64_t elements = 0;  ///< element operations it performs (its footprint)
};

/// Contract: cycles depend only on the work and the config (deterministic, no state); the SRAM
/// traffic is timed separately by the SRAM model, so this is the unit's own occupancy.
class VpuTiming {
 public:
  virtual ~VpuTiming() = default;
  virtual uint64_t cycles(const VpuWork& w) const = 0;
};
using VpuRegistry = config::Registry<VpuConfig, VpuTiming>;

}  // namespace npusim::arch
