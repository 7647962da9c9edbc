// The operators the compiler lowers to the NPU, one registration per operator. Each operator
// family (compiler/ops/*.cpp) registers its operators next to their lowerings, with the
// properties the rest of the compiler derives from: the supported list (and the "operator not
// supported" error), the float-only check, the image layout marking, the SFU function codes and
// which operators are integer-only (no float reference). Adding an operator touches its family's
// file (and its docs/compiler.md line, which the test compiler_operators_docs compares).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/graph.h"

namespace npusim::compiler {

namespace lowering {
class Lowering;
}

struct OpInfo;

/// Lowers node `n` (operator `op`); false when it leaves the node to its host kernel (then it
/// falls back as an operator without a lowering does: to the host, or an error).
using LowerFn = bool (*)(lowering::Lowering& L, const Node& n, const OpInfo& op);

/// Operator properties (OpInfo::flags).
enum OpFlag : unsigned {
  kFloatOnly = 1u << 0,    ///< float tensors only: integer outputs are an error (use the quantized operators)
  kImage = 1u << 1,        ///< input 0 and output 0 are images (NHWC on the device)
  kElementwise = 1u << 2,  ///< element-wise: the image layout propagates through it (both ways)
  kQuantized = 1u << 3,    ///< an integer (quantized) operator: no float reference evaluates it
  kDecomposed = 1u << 4,   ///< graph preparation rewrites it into other operators (it is never lowered itself)
  kAnyLayout = 1u << 5,    ///< takes and gives either layout: the image layout propagates between its rank-4 tensors
};

struct OpInfo {
  std::string name;                ///< ONNX operator type
  LowerFn lower = nullptr;         ///< the lowering
  unsigned flags = 0;              ///< OpFlag bits
  std::optional<uint32_t> sfu_fn;  ///< the `sfu` function code of a special-function operator
  std::string family;              ///< the family that registered it (set by the registry)

  bool has(OpFlag f) const { return (flags & f) != 0; }
};

class OpRegistry {
 public:
  /// Every family's operators, registered once on first use (see op_registry.cpp).
  static const OpRegistry& get();

  /// Registers an operator of the family being registered: its ONNX name, lowering, OpFlag bits
  /// and, for a special function, its `sfu` code. Registering a name twice is a programming error
  /// (throws).
  void add(std::string name, LowerFn lower, unsigned flags, std::optional<uint32_t> sfu_fn = std::nullopt);
  /// The operator's registration; null when the NPU lowering does not cover it.
  const OpInfo* find(const std::string& name) const;
  /// In registration order (families in op_registry.cpp's order).
  const std::vector<OpInfo>& ops() const { return ops_; }
  /// The names, in registration order.
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<OpInfo> ops_;
  std::vector<std::string> names_;
  std::string family_;  ///< the family being registered
};

// One registration function per family (compiler/ops/<family>.cpp), all called by
// OpRegistry::get(), so the list of families lives in one place.
void register_matmul_ops(OpRegistry& r);
void register_conv_ops(OpRegistry& r);
void register_pool_ops(OpRegistry& r);
void register_deconv_ops(OpRegistry& r);
void register_normalize_ops(OpRegistry& r);
void register_reduce_ops(OpRegistry& r);
void register_layout_ops(OpRegistry& r);
void register_eltwise_ops(OpRegistry& r);
void register_resize_ops(OpRegistry& r);
void register_quantized_ops(OpRegistry& r);
void register_gather_ops(OpRegistry& r);
void register_select_ops(OpRegistry& r);
void register_recurrent_ops(OpRegistry& r);  // compiler/recurrent.cpp: unrolled by graph preparation

/// A table of the registered operators (`npusim info --operators`; docs/compiler.md holds a copy).
std::string operators_table();

}  // namespace npusim::compiler
