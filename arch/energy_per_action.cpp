// `power: {impl: per_action}`: an energy per counted action, scaled by voltage squared, with SRAM
// energies from each SRAM's shape and clock energy from the clocked area; leakage from the area,
// scaled by voltage and temperature (DESIGN section 5, docs/power.md "Cost model").
#include <cmath>

#include "arch/power.h"

namespace npusim::arch {
namespace {

class PerActionEnergy final : public EnergyModelImpl {
 public:
  explicit PerActionEnergy(const PowerConfig& c)
      : c_(c),
        clocked_mm2_(clocked_mm2(area_of(c))),
        spad_pj_(sram_pj_per_byte(c, c.design.spad)),
        acc_pj_(sram_pj_per_byte(c, c.design.acc)),
        dram_pj_(dram_pj_per_bit(c)) {
    const Area area = area_of(c);
    sram_mm2_ = area[static_cast<size_t>(AreaPart::Scratchpad)] + area[static_cast<size_t>(AreaPart::Accumulator)];
    // Logic that leaks: everything but the SRAM arrays and the DRAM PHY (whose static power, DLLs
    // and termination, is the DRAM interface's and not modelled here).
    logic_mm2_ = area_total(area) - sram_mm2_ - area[static_cast<size_t>(AreaPart::DramPhy)];
  }
  Energy dynamic(const Activity& a, double v) const override {
    constexpr double pj = 1e-12;
    const double vs = (v / c_.v_nominal) * (v / c_.v_nominal);  // dynamic energy ~ C V^2
    const double logic = c_.tech_factor * vs * pj;
    Energy e{};
    e[static_cast<size_t>(Component::Mac)] = (a.macs_int * c_.mac_int_pj + a.macs_float * c_.mac_float_pj) * logic;
    e[static_cast<size_t>(Component::Vpu)] = a.vpu_ops * c_.vpu_op_pj * logic;
    e[static_cast<size_t>(Component::Control)] = a.instructions * c_.instruction_pj * logic;
    // Clock: every cycle charges the clock load of the clocked logic (no clock gating).
    e[static_cast<size_t>(Component::Clock)] = a.cycles * c_.clock_pj_per_mm2 * clocked_mm2_ * vs * pj;
    e[static_cast<size_t>(Component::Scratchpad)] = a.spad_bytes * spad_pj_ * vs * pj;
    e[static_cast<size_t>(Component::Accumulator)] = a.acc_bytes * acc_pj_ * vs * pj;
    e[static_cast<size_t>(Component::Dram)] = a.dram_bytes * 8 * dram_pj_ * pj;  // its own supply
    e[static_cast<size_t>(Component::Dma)] = a.dram_bytes * c_.dma_pj_per_byte * vs * pj;
    return e;
  }

  double leakage_w(double v, double t_c) const override {
    const double at_ref = c_.logic_leakage_w_per_mm2 * logic_mm2_ + c_.sram_leakage_w_per_mm2 * sram_mm2_;
    return at_ref * std::pow(v / c_.v_nominal, c_.leakage_v_exp) *
           std::exp(c_.leakage_beta * (t_c - c_.leakage_t_ref_c));
  }

 private:
  PowerConfig c_;            ///< energies per action, areas and leakage densities
  double clocked_mm2_;       ///< logic the clock reaches (clocked_mm2)
  double spad_pj_, acc_pj_;  ///< scratchpad and accumulator pJ per byte at v_nominal
  double dram_pj_;           ///< DRAM pJ per bit
  double sram_mm2_ = 0;      ///< SRAM arrays (leak at sram_leakage_w_per_mm2)
  double logic_mm2_ = 0;     ///< leaking logic (logic_leakage_w_per_mm2)
};

void per_action_params(config::Section& s, PowerConfig& c) {
  // Sources (reference/power-thermal-speed.md): logic energies Horowitz ISSCC'14 45 nm / 0.9 V,
  // scaled to 7 nm / 0.75 V by x0.066 and areas by x0.059 (Stillmaker-Baas, sections 1.1, 1.5);
  // SRAM the CACTI 7 fits of section 1.4; PE and lane areas from the Aladdin 40 nm component
  // library (section 1.2); DRAM by technology (section 1.3). docs/power.md "Cost model" derives
  // every default and marks the assumptions.
  s.real("tech_factor", c.tech_factor, "", "scales the 45 nm / 0.9 V logic energies to the target node and voltage",
         0.066, 1e-4, 100);
  s.real("area_factor", c.area_factor, "", "scales 45 nm logic areas to the target node (Stillmaker-Baas: 7 nm 0.059)",
         0.059, 1e-4, 100);
  s.real("node", c.node_nm, "nm", "technology node the factors target (reported with the area)", 7, 1, 1000);
  s.real("mac_int_pj", c.mac_int_pj, "pJ", "int8 x int8 -> int32 MAC at 45 nm (Horowitz: 0.2 mul + 0.1 add)", 0.3, 0,
         1e6);
  s.real("mac_float_pj", c.mac_float_pj, "pJ", "fp16 x fp16 -> fp32 MAC at 45 nm (Horowitz: 1.1 mul + 0.9 add)", 2.0, 0,
         1e6);
  s.real("vpu_op_pj", c.vpu_op_pj, "pJ", "one VPU element operation at 45 nm", 0.5, 0, 1e6);
  s.real("instruction_pj", c.instruction_pj, "pJ", "decode and sequencing per instruction at 45 nm", 10, 0, 1e9);
  s.real("clock_pj_per_mm2", c.clock_pj_per_mm2, "pJ",
         "clock energy per cycle per mm^2 of clocked logic at the node and v_nominal", 100, 0, 1e9);
  s.real("sram_read_pj", c.sram_read_pj, "pJ", "SRAM access energy fit a KB^b (w/64)^c at 22 nm (CACTI 7): a", 0.469, 0,
         1e6);
  s.real("sram_kb_exp", c.sram_kb_exp, "", "the SRAM energy fit's exponent of one bank's KB (b)", 0.554, 0, 2);
  s.real("sram_width_exp", c.sram_width_exp, "", "the SRAM energy fit's exponent of the port width (c)", 0.723, 0, 2);
  s.real("sram_energy_factor", c.sram_energy_factor, "", "scales 22 nm SRAM energy to the node (sqrt(node / 22))",
         0.564, 1e-4, 100);
  s.real("sram_area", c.sram_area_mm2, "mm^2", "SRAM area fit a KB^b per bank at 45 nm (CACTI 7): a", 0.00364, 0, 1e3);
  s.real("sram_area_exp", c.sram_area_exp, "", "the SRAM area fit's exponent (b)", 0.982, 0, 2);
  s.real("sram_port_area", c.sram_port_area, "", "extra SRAM area per additional port, as a fraction of one port's",
         0.7, 0, 10);
  s.real("sram_area_factor", c.sram_area_factor, "",
         "scales 45 nm SRAM area to the node (bit cell 0.346 -> 0.027 um^2)", 0.078, 1e-4, 100);
  s.choice("dram_technology", c.dram_technology, dram_technologies(),
           "DRAM technology: sets DRAM energy per bit and PHY area per pin (docs/power.md)", "lpddr4");
  s.real("dram_pj_per_bit", c.dram_pj_per_bit, "pJ", "DRAM energy per bit moved; 0: dram_technology's", 0, 0, 1e6);
  s.real("dram_phy_area_per_bit", c.dram_phy_mm2_per_bit, "mm^2", "DRAM PHY area per data pin; 0: dram_technology's", 0,
         0, 100);
  s.real("dram_ctrl_area", c.dram_ctrl_um2, "um^2", "DRAM controller logic per channel at 45 nm", 60000, 0, 1e9);
  s.real("dma_pj_per_byte", c.dma_pj_per_byte, "pJ", "DMA engine and interconnect energy per byte at the target node",
         0.5, 0, 1e6);
  s.real("mac_int_area", c.mac_int_um2, "um^2", "one int8 PE (multiplier, 32-bit adder, registers) at 45 nm", 1000, 0,
         1e9);
  s.real("mac_float_area", c.mac_float_um2, "um^2", "extra area per PE when the array does fp16/bf16, at 45 nm", 2500,
         0, 1e9);
  s.real("vpu_lane_area", c.vpu_lane_um2, "um^2", "one VPU lane at 45 nm", 8000, 0, 1e9);
  s.real("dma_channel_area", c.dma_channel_um2, "um^2", "one DMA engine at 45 nm", 20000, 0, 1e9);
  s.real("control_area", c.control_um2, "um^2", "instruction fetch, decode, queues and semaphores at 45 nm", 50000, 0,
         1e9);
  s.real("logic_utilization", c.logic_utilization, "", "placed standard-cell density (area = cells / utilization)", 0.7,
         0.05, 1);
  s.real("noc_fraction", c.noc_fraction, "", "interconnect area as a fraction of the logic and SRAM it connects", 0.1,
         0, 10);
  s.real("logic_leakage", c.logic_leakage_w_per_mm2, "W/mm^2", "logic leakage density at v_nominal and leakage_t_ref",
         0.1, 0, 1e3);
  s.real("sram_leakage", c.sram_leakage_w_per_mm2, "W/mm^2", "SRAM leakage density at v_nominal and leakage_t_ref",
         0.02, 0, 1e3);
  s.real("leakage_t_ref", c.leakage_t_ref_c, "C", "temperature at which the leakage densities hold", 25, -273, 1000);
  s.real("leakage_beta", c.leakage_beta, "1/K", "leakage temperature coefficient (doubles every ln2/beta kelvin)",
         0.036, 0, 1);
  s.real("leakage_v_exp", c.leakage_v_exp, "", "leakage voltage exponent (P ~ V^exp)", 1, 0, 10);
}

const bool registered =
    EnergyRegistry::add({"per_action",
                         "energy per counted action x (V / v_nominal)^2 (SRAM by shape, clock by "
                         "clocked area); leakage by area, voltage and temperature",
                         per_action_params, [](const PowerConfig& c) { return std::make_unique<PerActionEnergy>(c); }});

}  // namespace

void describe_power(config::Section& s, PowerConfig& c) {
  s.real("v_nominal", c.v_nominal, "V", "core voltage at which the energies hold (dynamic energy scales as V^2)", 0.75,
         0.1, 5);
  config::impl_choice<PowerConfig, EnergyModelImpl>(s, c, "energy model", "per_action");
}

}  // namespace npusim::arch
