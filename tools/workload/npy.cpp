// .npy reading and writing (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
#include "tools/workload/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "isa/diag.h"
#include "isa/npub.h"

namespace npusim {

std::string npy_descr(isa::TensorType t) {
  switch (t) {
    case isa::TensorType::I8: return "|i1";
    case isa::TensorType::U8: return "|u1";
    case isa::TensorType::I16: return "<i2";
    case isa::TensorType::I32: return "<i4";
    case isa::TensorType::FP16: return "<f2";
    case isa::TensorType::BF16: return "<u2";
    case isa::TensorType::FP32: return "<f4";
  }
  return "?";
}

NpyArray read_npy(const std::string& path) {
  const std::vector<uint8_t> b = isa::read_file_bytes(path);
  auto bad = [&](const std::string& why) { return isa::InputError(path + ": not a valid .npy file: " + why); };
  if (b.size() < 10 || std::memcmp(b.data(), "\x93NUMPY", 6) != 0) throw bad("bad magic");
  const uint8_t major = b[6];
  size_t header_len, offset;
  if (major == 1) {
    header_len = b[8] | (b[9] << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (b.size() < 12) throw bad("truncated header");
    header_len = b[8] | (b[9] << 8) | (b[10] << 16) | (static_cast<size_t>(b[11]) << 24);
    offset = 12;
  } else {
    throw bad("unsupported version " + std::to_string(major));
  }
  if (offset + header_len > b.size()) throw bad("truncated header");
  const std::string h(b.begin() + static_cast<std::ptrdiff_t>(offset),
                      b.begin() + static_cast<std::ptrdiff_t>(offset + header_len));
  NpyArray a;
  auto field = [&](const std::string& key) {
    const auto k = h.find("'" + key + "'");
    if (k == std::string::npos) throw bad("header lacks '" + key + "'");
    return h.substr(h.find(':', k) + 1);
  };
  const std::string d = field("descr");
  const auto q1 = d.find('\''), q2 = d.find('\'', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos) throw bad("bad descr");
  a.descr = d.substr(q1 + 1, q2 - q1 - 1);
  if (a.descr == "<i1" || a.descr == "i1") a.descr = "|i1";
  if (a.descr == "<u1" || a.descr == "u1") a.descr = "|u1";
  if (field("fortran_order").find("False") == std::string::npos)
    throw bad("Fortran order is not supported (use C order)");
  const std::string s = field("shape");
  const auto p1 = s.find('('), p2 = s.find(')');
  if (p1 == std::string::npos || p2 == std::string::npos) throw bad("bad shape");
  std::stringstream dims(s.substr(p1 + 1, p2 - p1 - 1));
  std::string dim;
  uint64_t count = 1;
  while (std::getline(dims, dim, ',')) {
    if (dim.find_first_not_of(' ') == std::string::npos) continue;
    const uint64_t v = std::stoull(dim);
    a.shape.push_back(v);
    count *= v;
  }
  unsigned es = 0;
  if (a.descr.size() >= 3) es = static_cast<unsigned>(a.descr[2] - '0');
  if (a.descr.size() != 3 || (a.descr[0] != '<' && a.descr[0] != '|') || es == 0 || es > 8)
    throw bad("unsupported dtype '" + a.descr + "' (little-endian integers or floats)");
  const size_t data_off = offset + header_len;
  if (b.size() - data_off != count * es)
    throw bad("data is " + std::to_string(b.size() - data_off) + " bytes, shape and dtype need " +
              std::to_string(count * es));
  a.data.assign(b.begin() + static_cast<std::ptrdiff_t>(data_off), b.end());
  return a;
}

void write_npy(const std::string& path, const NpyArray& a) {
  std::string shape = "(";
  for (size_t i = 0; i < a.shape.size(); ++i)
    shape += std::to_string(a.shape[i]) + (a.shape.size() == 1 || i + 1 < a.shape.size() ? "," : "");
  shape += ")";
  std::string header = "{'descr': '" + a.descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so that magic + length + header + '\n' is a multiple of 64 bytes.
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw isa::InputError(path + ": cannot write");
  const char preamble[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};  // magic, version 1.0
  out.write(preamble, 8);
  out.put(static_cast<char>(header.size() & 0xFF));
  out.put(static_cast<char>(header.size() >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(a.data.data()), static_cast<std::streamsize>(a.data.size()));
  if (!out) throw isa::InputError(path + ": write failed");
}

}  // namespace npusim
