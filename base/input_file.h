// One way to open an input file: every path npusim reads goes through here, so a FIFO, a
// directory or a device given where a file should be is refused with the path and what it is
// (a FIFO would block the reader forever; a directory reads as an I/O error deep in a parser).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/errors.h"

namespace npusim {

/// Largest input file read whole unless a caller says otherwise (a 1 GiB model or table is
/// already far beyond what any input needs).
inline constexpr uint64_t kMaxInputFileBytes = uint64_t{4} << 30;

/// What a file of st_mode `mode` is, in words ("a directory", "a FIFO (named pipe)", ...).
const char* describe_file_type(unsigned mode);

/// Throws InputError unless `path` names an existing regular file that can be opened for
/// reading: "PATH: cannot read WHAT: it is a directory" (a FIFO, a socket, a device, missing,
/// permission denied). `what` says what the file is for ("config", "model", "tenants file").
/// Returns the file's size in bytes.
uint64_t require_input_file(const std::string& path, const char* what);

/// Reads `path` whole after require_input_file, refusing a file over `max_bytes` before reading.
std::string read_input_file(const std::string& path, const char* what, uint64_t max_bytes = kMaxInputFileBytes);
/// The same, into bytes (a program or data image read once, without a copy through a string).
std::vector<uint8_t> read_input_bytes(const std::string& path, const char* what,
                                      uint64_t max_bytes = kMaxInputFileBytes);

}  // namespace npusim
