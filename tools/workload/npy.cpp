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
  // The header is a Python dict literal, parsed strictly (NumPy's format: exactly the keys
  // 'descr', 'fortran_order' and 'shape', each once; shape a tuple of non-negative integers).
  size_t i = 0;
  auto ws = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\n' || h[i] == '\t')) ++i;
  };
  auto expect = [&](char c, const char* what) {
    ws();
    if (i >= h.size() || h[i] != c)
      throw bad(std::string("header: expected ") + what + " at byte " + std::to_string(i));
    ++i;
  };
  auto quoted = [&] {
    ws();
    if (i >= h.size() || (h[i] != '\'' && h[i] != '"'))
      throw bad("header: expected a quoted string at byte " + std::to_string(i));
    const char q = h[i++];
    const size_t end = h.find(q, i);
    if (end == std::string::npos) throw bad("header: unterminated string");
    std::string v = h.substr(i, end - i);
    i = end + 1;
    return v;
  };
  bool have_descr = false, have_order = false, have_shape = false;
  uint64_t count = 1;
  expect('{', "'{'");
  for (;;) {
    ws();
    if (i < h.size() && h[i] == '}') break;
    const std::string key = quoted();
    expect(':', "':'");
    ws();
    if (key == "descr" && !have_descr) {
      a.descr = quoted();
      have_descr = true;
    } else if (key == "fortran_order" && !have_order) {
      if (h.compare(i, 5, "False") == 0) {
        i += 5;
      } else if (h.compare(i, 4, "True") == 0) {
        throw bad("Fortran order is not supported (use C order)");
      } else {
        throw bad("header: fortran_order must be True or False");
      }
      have_order = true;
    } else if (key == "shape" && !have_shape) {
      expect('(', "'(' opening the shape");
      for (;;) {
        ws();
        if (i < h.size() && h[i] == ')') break;
        const size_t start = i;
        uint64_t v = 0;
        while (i < h.size() && h[i] >= '0' && h[i] <= '9') {
          if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, static_cast<uint64_t>(h[i] - '0'), &v))
            throw bad("header: a shape dimension overflows");
          ++i;
        }
        if (i == start || (i < h.size() && (h[i] == '.' || h[i] == 'e')))
          throw bad("header: shape dimensions must be non-negative integers, got '" +
                    h.substr(start, std::min<size_t>(h.find_first_of(",)", start) - start, 20)) + "'");
        if (__builtin_mul_overflow(count, v, &count)) throw bad("header: the shape's element count overflows");
        a.shape.push_back(v);
        ws();
        if (i < h.size() && h[i] == ',')
          ++i;
        else if (i >= h.size() || h[i] != ')')
          throw bad("header: expected ',' or ')' in the shape");
      }
      ++i;  // ')'
      have_shape = true;
    } else {
      throw bad("header: unexpected or repeated key '" + key + "'");
    }
    ws();
    if (i < h.size() && h[i] == ',') {
      ++i;
      continue;
    }
    ws();
    if (i >= h.size() || h[i] != '}') throw bad("header: expected ',' or '}' after '" + key + "'");
  }
  if (!have_descr || !have_order || !have_shape) throw bad("header lacks one of 'descr', 'fortran_order', 'shape'");
  if (a.descr == "<i1" || a.descr == "i1") a.descr = "|i1";
  if (a.descr == "<u1" || a.descr == "u1") a.descr = "|u1";
  unsigned es = 0;
  if (a.descr.size() >= 3) es = static_cast<unsigned>(a.descr[2] - '0');
  if (a.descr.size() != 3 || (a.descr[0] != '<' && a.descr[0] != '|') || es == 0 || es > 8)
    throw bad("unsupported dtype '" + a.descr + "' (little-endian integers or floats)");
  const size_t data_off = offset + header_len;
  if (count > (b.size() - data_off) / es || b.size() - data_off != count * es)
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
