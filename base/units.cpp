// Unit parsing and printing for configs.
#include "base/units.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace npusim::config {
namespace {

/// Splits "12.8GB/s" into 12.8 and "GB/s". Rejects empty numbers, NaN and infinities.
bool split_number(const std::string& text, double& value, std::string& suffix) {
  if (text.empty()) return false;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(value)) return false;
  suffix = std::string(end);
  while (!suffix.empty() && suffix.front() == ' ') suffix.erase(suffix.begin());
  return true;
}

bool scaled(const std::string& text, const std::vector<std::pair<const char*, double>>& units, bool allow_bare,
            double& out) {
  double v;
  std::string suffix;
  if (!split_number(text, v, suffix)) return false;
  if (suffix.empty()) {
    if (!allow_bare) return false;
    out = v;
    return true;
  }
  for (const auto& [name, factor] : units)
    if (suffix == name) {
      out = v * factor;
      return true;
    }
  return false;
}

std::string trim_number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

}  // namespace

bool parse_bytes(const std::string& text, uint64_t& out) {
  double v;
  if (!scaled(
          text,
          {{"B", 1}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}},
          true, v))
    return false;
  if (v < 0 || v != std::floor(v) || v > 9.0e18) return false;
  out = static_cast<uint64_t>(v);
  return true;
}

bool parse_frequency(const std::string& text, double& out) {
  return scaled(text, {{"Hz", 1}, {"kHz", 1e3}, {"MHz", 1e6}, {"GHz", 1e9}}, false, out) && out > 0;
}

bool parse_bandwidth(const std::string& text, double& out) {
  return scaled(text,
                {{"B/s", 1},
                 {"kB/s", 1e3},
                 {"MB/s", 1e6},
                 {"GB/s", 1e9},
                 {"KiB/s", 1024.0},
                 {"MiB/s", 1048576.0},
                 {"GiB/s", 1073741824.0}},
                false, out) &&
         out > 0;
}

bool parse_time(const std::string& text, double& out) {
  return scaled(text, {{"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}, {"ps", 1e-12}}, false, out) && out >= 0;
}

std::string bytes_text(uint64_t v) {
  if (v && v % (1ull << 30) == 0) return std::to_string(v >> 30) + "GiB";
  if (v && v % (1ull << 20) == 0) return std::to_string(v >> 20) + "MiB";
  if (v && v % (1ull << 10) == 0) return std::to_string(v >> 10) + "KiB";
  return std::to_string(v) + "B";
}

std::string frequency_text(double hz) {
  if (hz >= 1e9) return trim_number(hz / 1e9) + "GHz";
  if (hz >= 1e6) return trim_number(hz / 1e6) + "MHz";
  if (hz >= 1e3) return trim_number(hz / 1e3) + "kHz";
  return trim_number(hz) + "Hz";
}

std::string bandwidth_text(double b) {
  if (b >= 1e9) return trim_number(b / 1e9) + "GB/s";
  if (b >= 1e6) return trim_number(b / 1e6) + "MB/s";
  return trim_number(b) + "B/s";
}

std::string time_text(double s) {
  if (s == 0) return "0ns";
  if (s < 1e-6) return trim_number(s * 1e9) + "ns";
  if (s < 1e-3) return trim_number(s * 1e6) + "us";
  if (s < 1) return trim_number(s * 1e3) + "ms";
  return trim_number(s) + "s";
}

bool parse_unsigned(const std::string& text, unsigned long long& out) {
  if (text.empty() || text[0] == '-' || text[0] == '+' || text[0] == ' ') return false;
  size_t used = 0;
  try {
    out = std::stoull(text, &used, 0);
  } catch (const std::exception&) {
    return false;
  }
  return used == text.size();
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace npusim::config
