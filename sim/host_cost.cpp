// The host cost model's parameters and closed form.
#include "sim/host_cost.h"

namespace npusim::config {

void describe_host(Section& s, HostConfig& c) {
  // An MSI-X interrupt reaches a Linux driver's handler in 1-2 us, waking the runtime thread that
  // launches the kernel takes another few us (cyclictest wake-up latencies on a non-RT kernel),
  // and the resume is one posted MMIO doorbell write (< 1 us): 5 us in all.
  s.time("irq_round_trip", c.irq_round_trip_s,
         "fixed host time per host operator: irq to the driver, kernel launch, resuming the device", 5e-6, 0, 1);
  // PCIe 4.0 x8 carries 15.75 GB/s raw; ~75% of it is left for payload after TLP headers and
  // flow control, ~12 GB/s. The host reads its inputs from device memory and writes its outputs back.
  s.bandwidth("bandwidth", c.bandwidth_bytes_per_s,
              "bandwidth of the host's reads and writes of device memory (DRAM/PCIe path)", 12e9, 1e6, 1e13);
  // One core at ~3 GHz running a scalar-to-partly-vectorized reference kernel: ~4 G simple element
  // operations per second; an operator's cost per element is in compiler/host_kernels.cpp.
  s.real("op_rate", c.op_rate_per_s, "op/s",
         "element operations per second of the host kernels (one element of Add costs 1)", 4e9, 1e6, 1e15);
}

}  // namespace npusim::config

namespace npusim {

double host_seconds(const config::HostConfig& c, const HostWork& w) {
  return c.irq_round_trip_s + static_cast<double>(w.read_bytes + w.write_bytes) / c.bandwidth_bytes_per_s +
         static_cast<double>(w.elements) * w.ops_per_element / c.op_rate_per_s;
}

}  // namespace npusim
