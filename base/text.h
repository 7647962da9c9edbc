// Text formatting shared by npusim's JSON, CSV and Prometheus outputs: one number formatter and one
// JSON string escaper, so every report writes numbers and names the same way.
#pragma once

#include <string>

namespace npusim {

/// `v` with `digits` significant digits, as printf's %g writes it (e.g. 6 -> "0.0287258").
std::string format_g(double v, int digits);

/// `s` as a JSON string literal: quotes and backslashes escaped, control characters as \u00XX.
std::string json_string(const std::string& s);

}  // namespace npusim
