#include "arch/power.h"

#include <algorithm>
#include <cmath>

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

double total(const Energy& e) {
  double s = 0;
  for (double x : e) s += x;
  return s;
}

}  // namespace npusim::arch
