// libFuzzer target for the .npus assembler. Oracle: it either throws InputError or produces a
// program whose container reads back equal and whose disassembly reassembles to the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "isa/assembler.h"
#include "isa/diag.h"
#include "isa/disassembler.h"
#include "isa/npub.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npusim::isa;
  AssembleOptions opts;
  opts.allow_files = false;        // no reads from the file system
  opts.max_data_bytes = 1u << 20;  // keep each input cheap
  Program prog;
  try {
    prog = assemble(std::string(reinterpret_cast<const char*>(data), size), "fuzz.npus", opts).program;
  } catch (const InputError&) {
    return 0;
  }
  const std::vector<uint8_t> bin = write_npub(prog);
  if (!(read_npub(bin) == prog)) {
    std::fprintf(stderr, "container round trip changed the program\n");
    std::abort();
  }
  opts.check_deadlock = false;
  if (write_npub(assemble(disassemble(prog), "fuzz.npus", opts).program) != bin) {
    std::fprintf(stderr, "disassemble/assemble round trip changed the bytes\n");
    std::abort();
  }
  return 0;
}
