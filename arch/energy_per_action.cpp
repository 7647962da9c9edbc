// `power: {impl: per_action}`: a fixed energy per counted action, scaled by voltage squared, and
// leakage scaled by voltage and temperature (DESIGN section 5).
#include <cmath>

#include "arch/power.h"

namespace npusim::arch {
namespace {

class PerActionEnergy final : public EnergyModelImpl {
 public:
  explicit PerActionEnergy(const PowerConfig& c) : c_(c) {}
  Energy dynamic(const Activity& a, double v) const override {
    constexpr double pj = 1e-12;
    const double vs = (v / c_.v_nominal) * (v / c_.v_nominal);  // dynamic energy ~ C V^2
    const double logic = c_.tech_factor * vs * pj;
    Energy e{};
    e[static_cast<size_t>(Component::Mac)] = (a.macs_int * c_.mac_int_pj + a.macs_float * c_.mac_float_pj) * logic;
    e[static_cast<size_t>(Component::Vpu)] = a.vpu_ops * c_.vpu_op_pj * logic;
    e[static_cast<size_t>(Component::Control)] = a.instructions * c_.instruction_pj * logic;
    e[static_cast<size_t>(Component::Clock)] = a.cycles * c_.clock_pj_per_cycle * logic;
    e[static_cast<size_t>(Component::Scratchpad)] = a.spad_bytes * c_.spad_pj_per_byte * vs * pj;
    e[static_cast<size_t>(Component::Accumulator)] = a.acc_bytes * c_.acc_pj_per_byte * vs * pj;
    e[static_cast<size_t>(Component::Dram)] = a.dram_bytes * 8 * c_.dram_pj_per_bit * pj;  // its own supply
    e[static_cast<size_t>(Component::Dma)] = a.dram_bytes * c_.dma_pj_per_byte * vs * pj;
    return e;
  }

  double leakage_w(double v, double t_c) const override {
    return c_.leakage_w * std::pow(v / c_.v_nominal, c_.leakage_v_exp) *
           std::exp(c_.leakage_beta * (t_c - c_.leakage_t_ref_c));
  }

 private:
  PowerConfig c_;  ///< energies per action and leakage
};

void per_action_params(config::Section& s, PowerConfig& c) {
  // Defaults: Horowitz ISSCC'14 45 nm / 0.9 V scaled to 7 nm / 0.75 V (x0.066, Stillmaker-Baas);
  // SRAM from the CACTI 7 22 nm fit E = 0.469 KB^0.554 (width/64)^0.723 pJ per access scaled to
  // 7 nm (x0.56) for a 512 KiB, 64-byte-line scratchpad; LPDDR4 8 pJ/bit; leakage of an edge part
  // (0.06 W at 25 C, beta 0.036/K as HotSpot). Sources: reference/power-thermal-speed.md.
  s.real("tech_factor", c.tech_factor, "", "scales the 45 nm / 0.9 V logic energies to the target node and voltage",
         0.066, 1e-4, 100);
  s.real("mac_int_pj", c.mac_int_pj, "pJ", "int8 x int8 -> int32 MAC at 45 nm (Horowitz: 0.2 mul + 0.1 add)", 0.3, 0,
         1e6);
  s.real("mac_float_pj", c.mac_float_pj, "pJ", "fp16 x fp16 -> fp32 MAC at 45 nm (Horowitz: 1.1 mul + 0.9 add)", 2.0, 0,
         1e6);
  s.real("vpu_op_pj", c.vpu_op_pj, "pJ", "one VPU element operation at 45 nm", 0.5, 0, 1e6);
  s.real("instruction_pj", c.instruction_pj, "pJ", "decode and sequencing per instruction at 45 nm", 10, 0, 1e9);
  s.real("clock_pj_per_cycle", c.clock_pj_per_cycle, "pJ", "clock tree and idle logic per cycle at 45 nm", 20, 0, 1e9);
  s.real("spad_pj_per_byte", c.spad_pj_per_byte, "pJ", "scratchpad access energy per byte at the target node", 0.35, 0,
         1e6);
  s.real("acc_pj_per_byte", c.acc_pj_per_byte, "pJ", "accumulator access energy per byte at the target node", 0.25, 0,
         1e6);
  s.real("dram_pj_per_bit", c.dram_pj_per_bit, "pJ", "DRAM energy per bit moved (LPDDR4 8, HBM2 6.25, DDR3 70)", 8, 0,
         1e6);
  s.real("dma_pj_per_byte", c.dma_pj_per_byte, "pJ", "DMA engine and interconnect energy per byte at the target node",
         0.5, 0, 1e6);
  s.real("leakage", c.leakage_w, "W", "leakage power at v_nominal and leakage_t_ref", 0.06, 0, 1e6);
  s.real("leakage_t_ref", c.leakage_t_ref_c, "C", "temperature at which leakage holds", 25, -273, 1000);
  s.real("leakage_beta", c.leakage_beta, "1/K", "leakage temperature coefficient (doubles every ln2/beta kelvin)",
         0.036, 0, 1);
  s.real("leakage_v_exp", c.leakage_v_exp, "", "leakage voltage exponent (P ~ V^exp)", 1, 0, 10);
}

const bool registered =
    EnergyRegistry::add({"per_action",
                         "energy per counted action x (V / v_nominal)^2; leakage by voltage and "
                         "temperature",
                         per_action_params, [](const PowerConfig& c) { return std::make_unique<PerActionEnergy>(c); }});

}  // namespace

void describe_power(config::Section& s, PowerConfig& c) {
  s.real("v_nominal", c.v_nominal, "V", "core voltage at which the energies hold (dynamic energy scales as V^2)", 0.75,
         0.1, 5);
  config::impl_choice<PowerConfig, EnergyModelImpl>(s, c, "energy model", "per_action");
}

}  // namespace npusim::arch
