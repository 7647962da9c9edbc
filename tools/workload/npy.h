// NumPy .npy files (format versions 1.0-3.0, C order) for run inputs and outputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "isa/program.h"

namespace npusim {

struct NpyArray {
  std::string descr;            ///< numpy dtype descriptor, e.g. "|i1", "<f2"
  std::vector<uint64_t> shape;  ///< dimensions
  std::vector<uint8_t> data;    ///< raw little-endian elements
};

/// Reads a .npy file; throws isa::InputError naming the file and the problem.
NpyArray read_npy(const std::string& path);
/// Writes a .npy (version 1.0) file.
void write_npy(const std::string& path, const NpyArray& a);

/// numpy descriptor for a tensor type (bf16 travels as its raw bits, "<u2").
std::string npy_descr(isa::TensorType t);

}  // namespace npusim
