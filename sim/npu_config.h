// The whole NPU configuration: what `configs/*.yaml` holds. Each block declares its own
// parameters (describe_* next to its model); this file wires them into one tree and adds the
// cross-block checks.
#pragma once

#include <cstdint>
#include <string>

#include "arch/governor.h"
#include "arch/mxu_timing.h"
#include "arch/power.h"
#include "arch/thermal.h"
#include "arch/vpu_timing.h"
#include "base/schema.h"
#include "memory/dma.h"
#include "memory/dram.h"
#include "memory/sram.h"
#include "sim/host_cost.h"

namespace npusim::config {

struct QueueConfig {
  uint32_t depth = 8;  ///< entries in each engine's instruction queue
};

struct NpuConfig {
  std::string name;                        ///< human name of the part
  double clock_hz = 1e9;                   ///< NPU clock
  arch::MxuConfig mxu;                     ///< systolic array
  memory::SramConfig spad;                 ///< scratchpad
  memory::SramConfig acc;                  ///< accumulator
  memory::DmaConfig dma;                   ///< DMA engines
  memory::DramConfig dram;                 ///< external memory
  arch::VpuConfig vpu;                     ///< vector unit
  QueueConfig queues;                      ///< engine queues
  HostConfig host;                         ///< the host running fallback operators
  arch::PowerConfig power;                 ///< energy per action and leakage
  arch::ThermalConfig thermal;             ///< RC network
  std::vector<arch::OperatingPoint> opps;  ///< DVFS table, fastest first (first = clock)
  arch::GovernorConfig governor;           ///< throttling
  std::string source;                      ///< file it was loaded from
  /// FNV-1a hash of the design point: every declared parameter of every section and of the chosen
  /// implementations, and the content of files the config names (what `.target hash=`,
  /// CONFIG_HASH and stats.json refer to). The name of the file it came from is not part of it.
  uint64_t hash() const;
};

/// The physical design the area and energy models price, from c's blocks (loading sets
/// c.power.design to it; code that changes a block afterwards sets it again).
arch::DesignShape design_of(const NpuConfig& c);

/// Declares the whole tree, bound to `c`.
void describe_npu(Section& s, NpuConfig& c);

/// Loads and checks a YAML file. Throws ConfigError ("file:line:col: error: ...").
NpuConfig load_npu_config(const std::string& path);
/// Same from text (for tests); `name` is used in messages.
NpuConfig load_npu_config_text(const std::string& yaml, const std::string& name);

/// `npusim info --config`: every parameter with type, unit, default and description.
std::string npu_config_reference();

/// Effective values of every declared parameter as YAML (one line per block; it loads back to an
/// equal config), derived from the declarations (config::values_text).
std::string npu_config_summary(const NpuConfig& c);
/// The same with each parameter's identity (a named file's content instead of its path): what
/// the hash and the sweep's cache keys are built from.
std::string npu_config_identity(const NpuConfig& c);

}  // namespace npusim::config
