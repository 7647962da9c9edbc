// Simulated time. Timing models work in integer femtoseconds so that clocks such as 700 MHz
// (1428571 fs) stay exact to 1e-6 and every run is deterministic; 2^64 fs is 5.1 hours.
#pragma once

#include <cmath>
#include <cstdint>

namespace npusim {

using Femtos = uint64_t;  ///< a point or span of simulated time in femtoseconds
inline constexpr double kFemtosPerSecond = 1e15;

/// Clock period in fs for a frequency in Hz (rounded to nearest).
inline Femtos period_fs(double hz) {
  return static_cast<Femtos>(std::llround(kFemtosPerSecond / hz));
}
/// Seconds to fs, rounded up so that a positive latency never becomes zero.
inline Femtos seconds_to_fs(double s) {
  return static_cast<Femtos>(std::ceil(s * kFemtosPerSecond - 1e-6));
}

}  // namespace npusim
