// Simulated time. Timing models work in integer femtoseconds so that clocks such as 700 MHz
// (1428571 fs) stay exact to 1e-6 and every run is deterministic; 2^64 fs is 5.1 hours.
#pragma once

#include <cmath>
#include <cstdint>

namespace npusim {

using Femtos = uint64_t;  ///< a point or span of simulated time in femtoseconds
inline constexpr double kFemtosPerSecond = 1e15;
/// The latest representable time; conversions saturate here instead of wrapping (a value this
/// large ends any run at its watchdog).
inline constexpr Femtos kFemtosMax = UINT64_MAX;

/// Clock period in fs for a frequency in Hz (rounded to nearest).
inline Femtos period_fs(double hz) {
  const double fs = std::round(kFemtosPerSecond / hz);
  if (!(fs >= 1)) return 1;  // above 1 PHz (configs stop at 100 GHz): one femtosecond
  return fs >= 18446744073709549568.0 ? kFemtosMax : static_cast<Femtos>(fs);
}
/// Seconds to fs, rounded up so that a positive latency never becomes zero; saturates at
/// kFemtosMax (configs keep latencies below 1 s, so this is only a backstop).
inline Femtos seconds_to_fs(double s) {
  const double fs = std::ceil(s * kFemtosPerSecond - 1e-6);
  if (!(fs > 0)) return 0;
  return fs >= 18446744073709549568.0 ? kFemtosMax : static_cast<Femtos>(fs);  // largest double below 2^64
}

}  // namespace npusim
