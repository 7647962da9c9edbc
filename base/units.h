// Quantities with units as written in YAML configs: sizes (512KiB), frequencies (1GHz),
// bandwidths (12.8GB/s), times (45ns). Each parser returns false on text it cannot read.
#pragma once

#include <cstdint>
#include <string>

namespace npusim::config {

/// Bytes: an integer with optional B, KiB, MiB, GiB (binary) or kB, MB, GB (decimal).
bool parse_bytes(const std::string& text, uint64_t& out);
/// Hertz: a number with Hz, kHz, MHz or GHz.
bool parse_frequency(const std::string& text, double& out_hz);
/// Bytes per second: a number with B/s, kB/s, MB/s, GB/s, KiB/s, MiB/s or GiB/s.
bool parse_bandwidth(const std::string& text, double& out_bytes_per_s);
/// Seconds: a number with s, ms, us or ns.
bool parse_time(const std::string& text, double& out_s);

/// Canonical text for printing (512KiB, 1GHz, 12.8GB/s, 45ns).
std::string bytes_text(uint64_t v);
std::string frequency_text(double hz);
std::string bandwidth_text(double bytes_per_s);
std::string time_text(double s);

/// A plain non-negative integer (decimal, 0x hex or 0 octal), nothing else; false otherwise.
bool parse_unsigned(const std::string& text, unsigned long long& out);

/// Edit distance, for "did you mean" hints.
size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace npusim::config
