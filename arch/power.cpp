#include "arch/power.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace npusim::arch {

const char* component_name(Component c) {
  static const char* const names[kComponents] = {"mac",         "vpu",  "control", "clock",  "scratchpad",
                                                 "accumulator", "dram", "dma",     "leakage"};
  return names[static_cast<size_t>(c)];
}

Activity& Activity::operator+=(const Activity& o) {
  macs_int += o.macs_int, macs_float += o.macs_float, vpu_ops += o.vpu_ops, instructions += o.instructions;
  spad_bytes += o.spad_bytes, acc_bytes += o.acc_bytes, dram_bytes += o.dram_bytes, cycles += o.cycles;
  return *this;
}

Activity Activity::scaled(double k) const {
  Activity a = *this;
  a.macs_int *= k, a.macs_float *= k, a.vpu_ops *= k, a.instructions *= k;
  a.spad_bytes *= k, a.acc_bytes *= k, a.dram_bytes *= k, a.cycles *= k;
  return a;
}

void ActivityTimeline::add(double start_s, double end_s, const Activity& a) {
  end_s = std::max(end_s, start_s);
  while (end_s > bin_s_ * static_cast<double>(max_bins_)) {  // coarsen: merge neighbouring bins
    std::vector<Activity> merged((bins_.size() + 1) / 2);
    for (size_t i = 0; i < bins_.size(); ++i) merged[i / 2] += bins_[i];
    bins_ = std::move(merged);
    bin_s_ *= 2;
  }
  const auto first = static_cast<size_t>(start_s / bin_s_);
  const size_t last = std::min(max_bins_ - 1, static_cast<size_t>(end_s / bin_s_));
  if (bins_.size() <= last) bins_.resize(last + 1);
  if (end_s <= start_s || first == last) {
    bins_[std::min(first, last)] += a;
    return;
  }
  for (size_t b = first; b <= last; ++b) {  // share of [start, end) inside bin b
    const double lo = std::max(start_s, static_cast<double>(b) * bin_s_);
    const double hi = std::min(end_s, static_cast<double>(b + 1) * bin_s_);
    if (hi > lo) bins_[b] += a.scaled((hi - lo) / (end_s - start_s));
  }
}

Activity ActivityTimeline::total() const {
  Activity t;
  for (const auto& b : bins_) t += b;
  return t;
}

const char* area_part_name(AreaPart p) {
  static const char* const names[kAreaParts] = {"mxu",      "vpu",       "scratchpad", "accumulator", "dma",
                                                "dram_phy", "dram_ctrl", "control",    "noc"};
  return names[static_cast<size_t>(p)];
}

namespace {

/// A DRAM technology's energy per bit and PHY area per data pin.
struct DramTechnology {
  const char* name;
  double pj_per_bit;       ///< device + I/O energy per bit moved
  double phy_mm2_per_bit;  ///< PHY (SerDes-less parallel interface) area per data pin
};

// Energies: DDR3 70, LPDDR4 8, HBM2 6.25, HBM3 4.05 pJ/bit are the hwcomponents-cacti DRAM table
// (Chatterjee et al. MICRO'17; reference section 1.3). The others are derived, and marked so in
// docs/power.md: LPDDR4X = LPDDR4 with the ~40 % I/O share at a 0.6 V instead of 1.1 V VDDQ
// (8 x (0.6 + 0.4 x (0.6/1.1)^2) = 5.8); LPDDR5 5.0 (its 0.5 V VDDQ and data-copy-free writes,
// about 15 % below LPDDR4X); DDR5 12 (DDR3's 70 scaled by DDR4's and DDR5's lower VDD and on-die
// termination, between LPDDR4 and DDR3 as in Micron's power calculators); HBM2e 5.5 (between HBM2
// and HBM3). PHY areas (assumptions of the order of published PHY IP): an x32 LPDDR4/5 PHY about
// 2 mm^2 (0.06 mm^2 per pin), a DDR PHY with its larger drivers 0.08, an HBM PHY about 12 mm^2 per
// 1024-bit stack (0.012 per pin, microbumps).
const DramTechnology kDramTechnologies[] = {
    {"lpddr4", 8.0, 0.06}, {"lpddr4x", 5.8, 0.06}, {"lpddr5", 5.0, 0.06}, {"ddr3", 70.0, 0.08},
    {"ddr5", 12.0, 0.08},  {"hbm2", 6.25, 0.012},  {"hbm2e", 5.5, 0.012}, {"hbm3", 4.05, 0.012},
};

const DramTechnology& dram_technology(const PowerConfig& c) {
  for (const auto& t : kDramTechnologies)
    if (c.dram_technology == t.name) return t;
  throw std::invalid_argument("unknown dram_technology '" + c.dram_technology + "'");
}

/// One bank's capacity in KB (the fits' unit: 1 KB = 1024 bytes).
double bank_kb(const SramShape& s) {
  return s.bytes / 1024.0 / std::max<uint32_t>(1, s.banks);
}

}  // namespace

const std::vector<std::string>& dram_technologies() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& t : kDramTechnologies) v.emplace_back(t.name);
    return v;
  }();
  return names;
}

double dram_pj_per_bit(const PowerConfig& c) {
  return c.dram_pj_per_bit > 0 ? c.dram_pj_per_bit : dram_technology(c).pj_per_bit;
}

double dram_phy_mm2_per_bit(const PowerConfig& c) {
  return c.dram_phy_mm2_per_bit > 0 ? c.dram_phy_mm2_per_bit : dram_technology(c).phy_mm2_per_bit;
}

double sram_area_mm2(const PowerConfig& c, const SramShape& s) {
  // An N-bank SRAM is N arrays of bytes / N (reference section 1.4: CACTI 45 nm, 128-bit port,
  // 8 KB 0.028 ... 8 MB 25.2 mm^2, fitted as a KB^b); each further port adds sram_port_area.
  const double ports = 1 + c.sram_port_area * (std::max<uint32_t>(1, s.ports) - 1.0);
  return std::max<uint32_t>(1, s.banks) * ports * c.sram_area_mm2 * std::pow(bank_kb(s), c.sram_area_exp) *
         c.sram_area_factor;
}

double sram_pj_per_byte(const PowerConfig& c, const SramShape& s) {
  // One access reads or writes one bank's port width: CACTI 7 22 nm fit (reference section 1.4)
  // a KB^b (w / 64)^c pJ for w bits, to the node by sram_energy_factor.
  const double width_bits = 8.0 * std::max<uint32_t>(1, s.width_bytes);
  const double access_pj = c.sram_read_pj * std::pow(bank_kb(s), c.sram_kb_exp) *
                           std::pow(width_bits / 64, c.sram_width_exp) * c.sram_energy_factor;
  return access_pj / (width_bits / 8);
}

Area area_of(const PowerConfig& c) {
  const DesignShape& d = c.design;
  constexpr double um2 = 1e-6;                                     // mm^2 per um^2
  const double logic = c.area_factor * um2 / c.logic_utilization;  // 45 nm cell um^2 -> placed mm^2 at the node
  Area a{};
  const double pe_um2 = c.mac_int_um2 + (d.mxu_float ? c.mac_float_um2 : 0);
  a[static_cast<size_t>(AreaPart::Mxu)] = static_cast<double>(d.mxu_rows) * d.mxu_cols * pe_um2 * logic;
  a[static_cast<size_t>(AreaPart::Vpu)] = d.vpu_lanes * c.vpu_lane_um2 * logic;
  a[static_cast<size_t>(AreaPart::Scratchpad)] = sram_area_mm2(c, d.spad);
  a[static_cast<size_t>(AreaPart::Accumulator)] = sram_area_mm2(c, d.acc);
  a[static_cast<size_t>(AreaPart::Dma)] = d.dma_channels * c.dma_channel_um2 * logic;
  a[static_cast<size_t>(AreaPart::DramPhy)] =
      static_cast<double>(d.dram_channels) * d.dram_bus_bits * dram_phy_mm2_per_bit(c);
  a[static_cast<size_t>(AreaPart::DramCtrl)] = d.dram_channels * c.dram_ctrl_um2 * logic;
  a[static_cast<size_t>(AreaPart::Control)] = c.control_um2 * logic;
  // Interconnect: a share of what it connects (the PHY's own wiring is in its area).
  double connected = 0;
  for (size_t i = 0; i < static_cast<size_t>(AreaPart::Noc); ++i)
    if (i != static_cast<size_t>(AreaPart::DramPhy)) connected += a[i];
  a[static_cast<size_t>(AreaPart::Noc)] = c.noc_fraction * connected;
  return a;
}

double clocked_mm2(const Area& a) {
  return a[static_cast<size_t>(AreaPart::Mxu)] + a[static_cast<size_t>(AreaPart::Vpu)] +
         a[static_cast<size_t>(AreaPart::Dma)] + a[static_cast<size_t>(AreaPart::DramCtrl)] +
         a[static_cast<size_t>(AreaPart::Control)];
}

double mxu_rtl_cells(uint32_t rows, uint32_t cols) {
  const double r = rows, c = cols;
  return 1058.09375 * r * c + 1082.0625 * (r + c) - 164;
}

double area_total(const Area& a) {
  double s = 0;
  for (double x : a) s += x;
  return s;
}

double total(const Energy& e) {
  double s = 0;
  for (double x : e) s += x;
  return s;
}

}  // namespace npusim::arch
