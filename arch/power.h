// Energy and power (DESIGN section 5, reference/power-thermal-speed.md sections 1 and 3): the
// timing model counts actions (MACs by type, SRAM and DRAM bytes, VPU element operations,
// instructions, cycles); an energy model (`power.impl`, an EnergyModelImpl registered where it is
// defined) turns counts into joules by component at a voltage, and gives leakage power at a
// voltage and temperature. `per_action` (arch/energy_per_action.cpp): energy = sum of count x
// energy per action x (V / V_nominal)^2, where SRAM energies follow each SRAM's capacity, width and
// banks and clock energy the clocked area; leakage = area-weighted densities x (V / V_nominal)^gamma
// x exp(beta (T - T_ref)). The area model (area_of) prices the design (DesignShape) by part.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "base/schema.h"

namespace npusim::arch {

/// One SRAM as the area and energy models see it (filled from the config's SRAM block).
struct SramShape {
  double bytes = 512 * 1024;  ///< capacity
  uint32_t banks = 8;         ///< independent banks (each modelled as its own array of bytes / banks)
  uint32_t width_bytes = 64;  ///< bytes one bank port moves per access
  uint32_t ports = 1;         ///< ports per bank
};

/// The physical design the cost models price: derived from the other config blocks (sim/npu_config.cpp
/// design_of), never declared itself, so the config hash already covers it.
struct DesignShape {
  uint32_t mxu_rows = 16, mxu_cols = 16;  ///< MAC array
  bool mxu_float = true;                  ///< the array also does fp16/bf16 (wider PEs)
  SramShape spad;                         ///< scratchpad
  SramShape acc{128 * 1024, 4, 64, 1};    ///< accumulator
  uint32_t dma_channels = 2;              ///< DMA engines
  uint32_t dram_channels = 2;             ///< DRAM channels (a PHY and a controller each)
  uint32_t dram_bus_bits = 16;            ///< data pins per DRAM channel
  uint32_t vpu_lanes = 16;                ///< VPU lanes
};

/// Energies, areas and leakage. Logic energies and areas are 45 nm figures (Horowitz ISSCC'14,
/// Aladdin ISCA'14) scaled by `tech_factor` (energy) and `area_factor` (area) to the target node;
/// SRAM by the CACTI 7 fits of reference section 1.4 scaled by `sram_energy_factor` and
/// `sram_area_factor`; DRAM per bit by technology (docs/power.md "Cost model").
struct PowerConfig {
  std::string impl = "per_action";         ///< the EnergyModelImpl implementation
  double tech_factor = 0.066;              ///< 45 nm / 0.9 V logic energy -> target (Stillmaker-Baas: 7 nm / 0.75 V)
  double v_nominal = 0.75;                 ///< core voltage at which the energies hold (V)
  double node_nm = 7;                      ///< technology node the factors below target (reported; nm)
  double area_factor = 0.059;              ///< 45 nm logic area -> target node (Stillmaker-Baas: 7 nm)
  double mac_int_pj = 0.3;                 ///< int8 x int8 -> int32 MAC at 45 nm (0.2 mul + 0.1 add)
  double mac_float_pj = 2.0;               ///< fp16 x fp16 -> fp32 MAC at 45 nm (1.1 mul + 0.9 add)
  double vpu_op_pj = 0.5;                  ///< one VPU element operation at 45 nm (an fp32 add plus a compare)
  double instruction_pj = 10;              ///< decode and sequencing per instruction at 45 nm
  double clock_pj_per_mm2 = 100;           ///< clock tree and flip-flop clock pins per cycle per mm^2 of clocked logic
  double sram_read_pj = 0.469;             ///< CACTI 7 22 nm fit: E = a KB^b (w/64)^c pJ per access of w bits, a
  double sram_kb_exp = 0.554;              ///< the fit's capacity exponent b (KB of one bank)
  double sram_width_exp = 0.723;           ///< the fit's width exponent c (w = port width in bits)
  double sram_energy_factor = 0.564;       ///< 22 nm SRAM energy -> target node (sqrt(node / 22), hwcomponents-cacti)
  double sram_area_mm2 = 0.00364;          ///< CACTI 7 45 nm fit: area = a KB^b mm^2 per bank, a
  double sram_area_exp = 0.982;            ///< the area fit's exponent b
  double sram_port_area = 0.7;             ///< extra area per additional port (fraction of a one-port array)
  double sram_area_factor = 0.078;         ///< 45 nm SRAM area -> target node (bit cell 0.346 -> 0.027 um^2)
  std::string dram_technology = "lpddr4";  ///< sets dram_pj_per_bit and the PHY area when they are 0
  double dram_pj_per_bit = 0;              ///< DRAM per bit moved; 0: the technology's
  double dram_phy_mm2_per_bit = 0;  ///< DRAM PHY area per data pin at any node (analog, I/O); 0: the technology's
  double dram_ctrl_um2 = 60000;     ///< DRAM controller logic per channel at 45 nm
  double dma_pj_per_byte = 0.5;     ///< DMA engine and interconnect energy per byte at the target node
  double mac_int_um2 = 1000;        ///< int8 PE at 45 nm (Aladdin: 8x8 mul ~400, 32-bit add 278, 48 register bits 287)
  double mac_float_um2 = 2500;      ///< extra per PE for fp16/bf16 (11-bit mantissa multiplier, fp32 adder)
  double vpu_lane_um2 = 8000;       ///< one VPU lane at 45 nm (32-bit multiplier 6350 + adder, compare, registers)
  double dma_channel_um2 = 20000;   ///< one DMA engine at 45 nm (address generators and a burst buffer)
  double control_um2 = 50000;       ///< instruction fetch, decode, queues and semaphores at 45 nm
  double logic_utilization = 0.7;   ///< placed standard-cell density (logic area = cells / utilization)
  double noc_fraction = 0.1;        ///< interconnect and wiring as a fraction of logic and SRAM area
  double logic_leakage_w_per_mm2 = 0.1;  ///< logic leakage density at v_nominal and leakage_t_ref
  double sram_leakage_w_per_mm2 = 0.02;  ///< SRAM leakage density (HVT cells) at v_nominal and leakage_t_ref
  double leakage_t_ref_c = 25;           ///< reference temperature of the leakage densities (deg C)
  double leakage_beta = 0.036;           ///< leakage temperature coefficient (1/K; doubles every ln2/beta K)
  double leakage_v_exp = 1;              ///< leakage voltage exponent gamma
  DesignShape design;                    ///< what is priced: derived from the other blocks, not declared
};
void describe_power(config::Section& s, PowerConfig& c);

/// Where energy goes.
enum class Component { Mac, Vpu, Control, Clock, Scratchpad, Accumulator, Dram, Dma, Leakage, Count };
inline constexpr size_t kComponents = static_cast<size_t>(Component::Count);
const char* component_name(Component c);

/// Where area goes (mm^2 at the config's node).
enum class AreaPart { Mxu, Vpu, Scratchpad, Accumulator, Dma, DramPhy, DramCtrl, Control, Noc, Count };
inline constexpr size_t kAreaParts = static_cast<size_t>(AreaPart::Count);
const char* area_part_name(AreaPart p);
using Area = std::array<double, kAreaParts>;  ///< mm^2 by part

/// Area of one SRAM (mm^2): banks x ports x sram_area_mm2 KB_bank^sram_area_exp x sram_area_factor.
double sram_area_mm2(const PowerConfig& c, const SramShape& s);
/// Dynamic energy per byte accessed of one SRAM (pJ at v_nominal): one bank's CACTI access energy
/// sram_read_pj KB_bank^b (8 width / 64)^c x sram_energy_factor, divided by the width in bytes.
double sram_pj_per_byte(const PowerConfig& c, const SramShape& s);
/// DRAM energy per bit: dram_pj_per_bit, or the technology's when 0 (docs/power.md table).
double dram_pj_per_bit(const PowerConfig& c);
/// DRAM PHY area per data pin (mm^2): dram_phy_mm2_per_bit, or the technology's when 0.
double dram_phy_mm2_per_bit(const PowerConfig& c);
/// The technologies dram_technology accepts.
const std::vector<std::string>& dram_technologies();
/// Area of c.design by part (docs/power.md "Cost model").
Area area_of(const PowerConfig& c);
/// Logic area that the clock reaches (MXU, VPU, DMA, DRAM controllers, control): what clock power scales with.
double clocked_mm2(const Area& a);
/// The yosys generic-cell count of rtl/systolic_array.v for a rows x cols int8 array, fitted exactly
/// to the 4x4, 8x8 and 16x16 syntheses of docs/rtl.md: the MXU area's cross-check.
double mxu_rtl_cells(uint32_t rows, uint32_t cols);

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
  /// Area of the design by part (mm^2).
  Area area() const { return area_of(c_); }
  const PowerConfig& config() const { return c_; }

 private:
  PowerConfig c_;                                ///< its parameters
  std::shared_ptr<const EnergyModelImpl> impl_;  ///< the chosen implementation
};

double total(const Energy& e);
/// Sum of an Area (mm^2).
double area_total(const Area& a);

}  // namespace npusim::arch
