// Helpers shared by the isa tests.
#pragma once

#include <dirent.h>

#include <algorithm>
#include <string>
#include <vector>

#include "isa/assembler.h"
#include "isa/diag.h"
#include "isa/npub.h"

namespace npusim::isa::testing {

/// Every `.npus` program bundled in traces/, sorted.
inline std::vector<std::string> trace_files() {
  std::vector<std::string> out;
  if (DIR* d = opendir(NPUSIM_TRACES)) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".npus") == 0) out.push_back(std::string(NPUSIM_TRACES) + "/" + n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Assembles text (throws InputError with the assembler's messages).
inline Program assemble_text(const std::string& text, const AssembleOptions& opts = {}) {
  return assemble(text, "test.npus", opts).program;
}

/// Rewrites the CRC of container bytes after a deliberate mutation, so deeper checks are reached.
inline void fix_crc(std::vector<uint8_t>& b) {
  for (int i = 0; i < 4; ++i) b[48 + i] = 0;
  const uint32_t crc = crc32(b.data(), b.size());
  for (int i = 0; i < 4; ++i) b[48 + i] = static_cast<uint8_t>(crc >> (8 * i));
}

inline uint32_t get_u32(const std::vector<uint8_t>& b, size_t off) {
  return b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (static_cast<uint32_t>(b[off + 3]) << 24);
}
inline void put_u32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

/// Offset and size of a section in container bytes (type as in SectionType); {0,0} if absent.
inline std::pair<uint32_t, uint32_t> find_section(const std::vector<uint8_t>& b, SectionType type) {
  const uint32_t count = b[36] | (b[37] << 8), table = get_u32(b, 40);
  for (uint32_t i = 0; i < count; ++i)
    if (get_u32(b, table + 16 * i) == static_cast<uint32_t>(type))
      return {get_u32(b, table + 16 * i + 8), get_u32(b, table + 16 * i + 12)};
  return {0, 0};
}

}  // namespace npusim::isa::testing
