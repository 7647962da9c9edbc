// Energy and power (DESIGN section 5, reference/power-thermal-speed.md sections 1 and 3): the
// timing model counts actions (MACs by type, SRAM and DRAM bytes, VPU element operations,
// instructions, cycles); an energy model (`power.impl`, an EnergyModelImpl registered where it is
// defined) turns counts into joules by component at a voltage, and gives leakage power at a
// voltage and temperature. `per_action` (arch/energy_per_action.cpp): energy = sum of count x
// energy per action x (V / V_nominal)^2, leakage P_ref x (V / V_nominal)^gamma x exp(beta (T - T_ref)).
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "base/schema.h"

namespace npusim::arch {

/// Per-action energies and leakage. Logic energies are Horowitz's 45 nm / 0.9 V figures scaled by
/// `tech_factor`; SRAM energies are per byte at the target node (CACTI 7 fit); DRAM per bit.
struct PowerConfig {
  std::string impl = "per_action";  ///< the EnergyModelImpl implementation
  double tech_factor = 0.066;       ///< 45 nm / 0.9 V logic energy -> target (Stillmaker-Baas: 7 nm / 0.75 V)
  double v_nominal = 0.75;          ///< core voltage at which the energies hold (V)
  double mac_int_pj = 0.3;          ///< int8 x int8 -> int32 MAC at 45 nm (0.2 mul + 0.1 add)
  double mac_float_pj = 2.0;        ///< fp16 x fp16 -> fp32 MAC at 45 nm (1.1 mul + 0.9 add)
  double vpu_op_pj = 0.5;           ///< one VPU element operation at 45 nm (an fp32 add plus a compare)
  double instruction_pj = 10;       ///< decode and sequencing per instruction at 45 nm
  double clock_pj_per_cycle = 20;   ///< clock tree and idle logic per cycle at 45 nm
  double spad_pj_per_byte = 0.35;   ///< scratchpad access per byte at the target node
  double acc_pj_per_byte = 0.25;    ///< accumulator access per byte at the target node
  double dram_pj_per_bit = 8;       ///< DRAM per bit moved (LPDDR4 8, HBM2 6.25, DDR3 70)
  double dma_pj_per_byte = 0.5;     ///< DMA engine and interconnect per byte at the target node
  double leakage_w = 0.06;          ///< leakage at v_nominal and leakage_t_ref
  double leakage_t_ref_c = 25;      ///< reference temperature of leakage_w (deg C)
  double leakage_beta = 0.036;      ///< leakage temperature coefficient (1/K; doubles every ln2/beta K)
  double leakage_v_exp = 1;         ///< leakage voltage exponent gamma
};
void describe_power(config::Section& s, PowerConfig& c);

/// Where energy goes.
enum class Component { Mac, Vpu, Control, Clock, Scratchpad, Accumulator, Dram, Dma, Leakage, Count };
inline constexpr size_t kComponents = static_cast<size_t>(Component::Count);
const char* component_name(Component c);

/// Action counts (doubles: they are also spread over time windows).
struct Activity {
  double macs_int = 0;      ///< integer MACs
  double macs_float = 0;    ///< fp16/bf16 MACs
  double vpu_ops = 0;       ///< VPU element operations
  double instructions = 0;  ///< completed instructions
  double spad_bytes = 0;    ///< scratchpad bytes accessed
  double acc_bytes = 0;     ///< accumulator bytes accessed
  double dram_bytes = 0;    ///< DRAM bytes read or written (also the DMA's bytes)
  double cycles = 0;        ///< clock cycles
  Activity& operator+=(const Activity& o);
  Activity scaled(double k) const;
};

/// Activity over simulated time in equal bins: an instruction's counts are spread uniformly over
/// its [start, end). The bin width doubles (neighbours merge) whenever the run outgrows
/// `max_bins`, so memory stays bounded for any run length.
class ActivityTimeline {
 public:
  explicit ActivityTimeline(double bin_s = 1e-6, size_t max_bins = 4096) : bin_s_(bin_s), max_bins_(max_bins) {}
  void add(double start_s, double end_s, const Activity& a);
  double bin_seconds() const { return bin_s_; }
  const std::vector<Activity>& bins() const { return bins_; }
  Activity total() const;

 private:
  double bin_s_;
  size_t max_bins_;
  std::vector<Activity> bins_;
};

using Energy = std::array<double, kComponents>;  ///< joules by component

/// Contract: energies depend only on the counts, the voltage, the temperature and the config
/// (deterministic, no state); Energy[Leakage] of dynamic() is 0 (leakage is power, integrated by
/// the caller over time and temperature).
class EnergyModelImpl {
 public:
  virtual ~EnergyModelImpl() = default;
  /// Dynamic energy of `a` at core voltage `v` (J by component).
  virtual Energy dynamic(const Activity& a, double v) const = 0;
  /// Leakage power (W) at core voltage `v` and temperature `t_c`.
  virtual double leakage_w(double v, double t_c) const = 0;
};
using EnergyRegistry = config::Registry<PowerConfig, EnergyModelImpl>;

/// The configured energy model (`power.impl`): what the simulator, long runs, load and the device
/// call. Cheap to copy (the implementation is shared and immutable).
class EnergyModel {
 public:
  explicit EnergyModel(const PowerConfig& c) : c_(c), impl_(EnergyRegistry::make(c)) {}
  /// Dynamic energy of `a` at core voltage `v` (the Leakage entry is 0).
  Energy dynamic(const Activity& a, double v) const { return impl_->dynamic(a, v); }
  /// Leakage power (W) at core voltage `v` and temperature `t_c`.
  double leakage_w(double v, double t_c) const { return impl_->leakage_w(v, t_c); }
  const PowerConfig& config() const { return c_; }

 private:
  PowerConfig c_;                                ///< its parameters
  std::shared_ptr<const EnergyModelImpl> impl_;  ///< the chosen implementation
};

double total(const Energy& e);

}  // namespace npusim::arch
