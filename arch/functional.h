// Exact functional model of every instruction (docs/isa.md is the specification).
//
// plan() computes what an instruction touches (DRAM runs, SRAM lines) and raises bounds faults;
// execute() moves and computes the data. The timing model uses plan() only, so `--timing-only`
// skips execute() and still sees the same faults and the same cycles. Both read the program's
// instructions decoded once, when the model is built (arch/decoded.h).
#pragma once

#include <cstdint>
#include <vector>

#include "arch/decoded.h"
#include "arch/fault.h"
#include "isa/program.h"

namespace npusim::arch {

/// Device memories the functional model reads and writes.
struct Memories {
  uint64_t spad_bytes = 0;            ///< scratchpad size
  uint64_t acc_bytes = 0;             ///< accumulator size
  std::vector<uint64_t> region_size;  ///< size of each region
  std::vector<uint64_t> region_base;  ///< device address of each region (for DRAM timing)
  // Contents, used by execute() only (empty in timing-only runs):
  std::vector<uint8_t> spad;                  ///< scratchpad bytes
  std::vector<uint8_t> acc;                   ///< accumulator bytes
  std::vector<std::vector<uint8_t>> regions;  ///< DRAM contents per region id
};

/// What one instruction touches.
struct Footprint {
  std::vector<std::pair<uint64_t, uint64_t>> dram;  ///< (device address, bytes) runs, in order
  uint64_t dram_bytes = 0;                          ///< sum of the runs
  bool dram_write = false;                          ///< store/wr.imm/perf.snap
  std::vector<std::pair<uint64_t, uint64_t>> spad;  ///< scratchpad tiles touched: (first line, lines)
  std::vector<std::pair<uint64_t, uint64_t>> acc;   ///< accumulator tiles touched
  uint64_t elements = 0;                            ///< VPU elements processed (for lane timing)
  uint64_t macs = 0;                                ///< matmul multiply-accumulates
};

class FunctionalModel {
 public:
  /// `line_bytes`: the configured SRAM line size (must equal the program's target line size).
  /// Decodes every instruction of `prog` (a validated program).
  FunctionalModel(const isa::Program& prog, uint32_t line_bytes, Memories& mem);
  /// Instruction `index`, decoded.
  const Decoded& decoded(uint32_t index) const { return decoded_[index]; }
  /// Footprint of instruction `index`; throws Fault on bounds violations.
  Footprint plan(uint32_t index) const;
  /// The program region holding device address `address` and the offset in it ({-1, 0}: none).
  std::pair<int32_t, uint64_t> locate(uint64_t address) const;
  /// Performs instruction `index` on the memories (call plan() first).
  void execute(uint32_t index);

 private:
  const isa::Program& prog_;      ///< the program
  uint32_t line_;                 ///< line bytes
  Memories& mem_;                 ///< state
  std::vector<Decoded> decoded_;  ///< every instruction of prog_, decoded, by index
};

/// Requantizes one value per docs/isa.md "Requantization" (exposed for tests and the compiler).
int32_t requantize(int32_t x, int32_t multiplier, int32_t shift, uint8_t mode);

/// The `sfu` instruction's function `fn` (isa::fields::sfu::fn_*) in binary64 (docs/isa.md).
double special_function(uint32_t fn, double x);

}  // namespace npusim::arch
