// The layout family's shared moves (compiler/ops/layout.cpp), used by the operators that change
// where a tensor's axes lie: Transpose (layout.cpp), the Reduce operators (reduce.cpp: reduced
// axes last), Softmax over an inner axis (normalize.cpp) and Conv1d (conv.cpp: channels last).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/lowering.h"
#include "compiler/op_registry.h"

namespace npusim::compiler::lowering {

/// out = in (row-major, shape `shape`) with axes permuted by `perm`, on the NPU: DMA
/// permutations (the last axis stays last) and VPU tile transposes (the last two axes swap); a
/// permutation that moves the last axis runs as DMA-move the new last axis next to the last, swap
/// the last two, DMA-move the leading axes into place (intermediates among the activations).
/// Returns an empty string, or why it cannot run (then nothing was emitted).
std::string permute(Lowering& L, const Node& n, const Location& in, const std::vector<int64_t>& shape,
                    const std::vector<int64_t>& perm, const Location& out);

}  // namespace npusim::compiler::lowering
