// The `.npub` container: a 64-byte header, a section table and nine kinds of sections.
// Every byte is documented in docs/npub-format.md. The reader is strict: anything malformed is an
// InputError naming the section, entry, field or instruction index; it never crashes or hangs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/input_file.h"
#include "isa/program.h"

namespace npusim::isa {

/// Container format version written by this build (the reader accepts the same major).
inline constexpr uint16_t kNpubVersionMajor = 1;
inline constexpr uint16_t kNpubVersionMinor = 1;
/// "NPUB" as a little-endian u32.
inline constexpr uint32_t kNpubMagic = 0x4255504Eu;
inline constexpr uint32_t kNpubHeaderBytes = 64;

/// Section types, in the order the writer emits them.
enum class SectionType : uint32_t {
  Text = 1,
  Desc = 2,
  Param = 3,
  Regions = 4,
  Const = 5,
  Io = 6,
  Sems = 7,
  Debug = 8,
  Strtab = 9
};
const char* section_name(uint32_t type);

/// Serialises a program (validated first) into container bytes.
std::vector<uint8_t> write_npub(const Program& prog);
/// Writes the container straight to a file, streaming the regions' initial images from the
/// program (no copy of them is made); returns the bytes written. Errors name the file.
uint64_t write_npub_file(const Program& prog, const std::string& path);
/// Parses and validates container bytes. Throws InputError.
Program read_npub(const uint8_t* data, size_t size);
inline Program read_npub(const std::vector<uint8_t>& b) {
  return read_npub(b.data(), b.size());
}

/// File helpers; errors name the file. Reading refuses anything but a regular file and files over
/// `max_bytes` (before reading them); `what` says what the file is for.
std::vector<uint8_t> read_file_bytes(const std::string& path, const char* what = "file",
                                     uint64_t max_bytes = kMaxInputFileBytes);
void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes);
Program load_npub_file(const std::string& path);

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320; the zlib/PNG CRC).
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

}  // namespace npusim::isa
