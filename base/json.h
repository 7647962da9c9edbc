// Numbers for npusim's JSON outputs, which are nlohmann::ordered_json trees (members in the order
// they are set) written by stats::json_text (base/stats.h). A report that shows a figure with
// `digits` significant digits stores the number that %g text reads back as, so the JSON holds the
// figure the report always printed; non-finite values stay as they are and are written as null.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/text.h"

namespace npusim {

/// `v` as %.<digits>g prints it: the nearest double to that text, or the integer itself when the
/// text is an integer (%g writes 1250000 for 1.25e6 at 7 or more digits, and so does json_text).
inline nlohmann::ordered_json json_g(double v, int digits) {
  if (!std::isfinite(v)) return v;
  const double r = std::strtod(format_g(v, digits).c_str(), nullptr);
  if (r == std::floor(r) && std::fabs(r) < std::pow(10.0, digits) && std::fabs(r) < 9e15)
    return static_cast<int64_t>(r);
  return r;
}

/// `v` as %.<decimals>f prints it (std::to_string writes 6 decimals).
inline nlohmann::ordered_json json_f(double v, int decimals) {
  if (!std::isfinite(v)) return v;
  char buf[400];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return std::strtod(buf, nullptr);
}

}  // namespace npusim
