// The host cost model: how long the host takes for an operator the compiler left to it (host
// fallback, compiler/host_kernels.h). The device raises an irq, waits, and resumes when the host
// answers; the simulated clock advances by this model's time meanwhile (docs/compiler.md, "Host
// fallback").
#pragma once

#include <cstdint>
#include <string>

#include "base/schema.h"

namespace npusim::config {

/// Config section `host`: the host CPU and its path to the device memory.
struct HostConfig {
  double irq_round_trip_s = 5e-6;       ///< irq to the driver, kernel launch, the device's resume
  double bandwidth_bytes_per_s = 12e9;  ///< the host's reads and writes of device memory (PCIe)
  double op_rate_per_s = 4e9;           ///< element operations per second of the host kernel
};

/// Declares section `host` bound to `c`.
void describe_host(Section& s, HostConfig& c);

}  // namespace npusim::config

namespace npusim {

/// What one host operator does, as the cost model sees it.
struct HostWork {
  std::string node;            ///< the ONNX node's name
  std::string op;              ///< its operator (Div, Softmax, ...)
  uint64_t read_bytes = 0;     ///< bytes of its inputs in device memory
  uint64_t write_bytes = 0;    ///< bytes of its outputs
  uint64_t elements = 0;       ///< elements of its largest tensor (input or output)
  double ops_per_element = 1;  ///< the operator's host cost per element, in element operations
};

/// The modelled host time in seconds:
///   irq_round_trip + (read_bytes + write_bytes) / bandwidth + elements x ops_per_element / op_rate.
/// The three terms do not overlap: the reference kernel reads its inputs, computes, then writes.
double host_seconds(const config::HostConfig& c, const HostWork& w);

}  // namespace npusim
