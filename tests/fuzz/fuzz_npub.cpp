// libFuzzer target for the strict .npub reader. Oracle: the reader either throws InputError or
// returns a program that survives write → read and disassemble → assemble unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "isa/assembler.h"
#include "isa/diag.h"
#include "isa/disassembler.h"
#include "isa/npub.h"

namespace {

/// Parses the input as is and, so that mutations get past the checksum to the deeper checks,
/// again with total_size and CRC32 repaired. Returns false when both are rejected.
bool parse(const uint8_t* data, size_t size, npusim::isa::Program& prog) {
  using namespace npusim::isa;
  try {
    prog = read_npub(data, size);
    return true;
  } catch (const InputError&) {
  }
  if (size < kNpubHeaderBytes) return false;
  std::vector<uint8_t> fixed(data, data + size);
  for (int i = 0; i < 4; ++i) {
    fixed[44 + i] = static_cast<uint8_t>(size >> (8 * i));
    fixed[48 + i] = 0;
  }
  const uint32_t crc = crc32(fixed.data(), fixed.size());
  for (int i = 0; i < 4; ++i) fixed[48 + i] = static_cast<uint8_t>(crc >> (8 * i));
  try {
    prog = read_npub(fixed);
    return true;
  } catch (const InputError&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npusim::isa;
  Program prog;
  if (!parse(data, size, prog)) return 0;
  const std::vector<uint8_t> bin = write_npub(prog);
  if (!(read_npub(bin) == prog)) {
    std::fprintf(stderr, "write/read round trip changed the program\n");
    std::abort();
  }
  AssembleOptions opts;
  opts.check_deadlock = false;
  opts.allow_files = false;
  const Program again = assemble(disassemble(prog), "fuzz.npus", opts).program;
  if (!(again == prog)) {
    std::fprintf(stderr, "disassemble/assemble round trip changed the program\n");
    std::abort();
  }
  return 0;
}
