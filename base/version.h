// The simulator's version string (bumped with releases; the ISA and container carry their own).
#pragma once

namespace npusim {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace npusim
