// The operator registry: every family's registration function, called from one list.
//
// Why an explicit list rather than self-registering static initialisers: npusim_compiler is a
// STATIC library, and the linker only takes an object file out of an archive when something
// references a symbol in it. A family file whose only reference is its own static initialiser
// would be dropped silently, and its operators would vanish from the NPU lowering (falling back to
// the host or failing) in whichever executable happened not to reference it. Calling each
// family's register_*_ops from here references every family file from the registry, which the
// lowering always uses, so the operators are there in every binary whatever the library type or
// link order, and they register in a defined order (static initialisers across files have none).
#include "compiler/op_registry.h"

#include <cstring>

#include "compiler/compile.h"
#include "isa/spec.h"

namespace npusim::compiler {

const OpRegistry& OpRegistry::get() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    // The families, in the order supported_operators() lists them.
    const struct {
      const char* family;
      void (*add_ops)(OpRegistry&);
    } families[] = {
        {"matmul", register_matmul_ops},       {"conv", register_conv_ops},           {"pool", register_pool_ops},
        {"deconv", register_deconv_ops},       {"normalize", register_normalize_ops}, {"reduce", register_reduce_ops},
        {"layout", register_layout_ops},       {"eltwise", register_eltwise_ops},     {"resize", register_resize_ops},
        {"quantized", register_quantized_ops}, {"gather", register_gather_ops},       {"select", register_select_ops},
        {"recurrent", register_recurrent_ops},
    };
    for (const auto& f : families) {
      r.family_ = f.family;
      f.add_ops(r);
    }
    r.family_.clear();
    return r;
  }();
  return registry;
}

void OpRegistry::add(std::string name, LowerFn lower, unsigned flags, std::optional<uint32_t> sfu_fn) {
  if (name.empty() || !lower) throw CompileError("internal error: an operator registration without a name or lowering");
  if (const OpInfo* old = find(name))
    throw CompileError("internal error: operator '" + name + "' is registered twice (families " + old->family +
                       " and " + family_ + ")");
  OpInfo op;
  op.name = std::move(name);
  op.lower = lower;
  op.flags = flags;
  op.sfu_fn = sfu_fn;
  op.family = family_;
  names_.push_back(op.name);
  ops_.push_back(std::move(op));
}

const OpInfo* OpRegistry::find(const std::string& name) const {
  for (const OpInfo& op : ops_)
    if (op.name == name) return &op;
  return nullptr;
}

const std::vector<std::string>& supported_operators() {
  return OpRegistry::get().names();
}

namespace {

/// The name of an `sfu` function code, from the ISA definition.
std::string sfu_name(uint32_t fn) {
  const isa::IsaSpec& s = isa::spec();
  for (unsigned i = 0; i < s.instr_count; ++i) {
    if (std::strcmp(s.instrs[i].name, "sfu") != 0) continue;
    for (unsigned k = 0; k < s.instrs[i].field_count; ++k) {
      const isa::FieldSpec& fs = s.instrs[i].fields[k];
      if (std::strcmp(fs.name, "fn") == 0 && fn < fs.enum_count) return fs.enum_values[fn];
    }
  }
  return std::to_string(fn);
}

std::string padded(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

std::string operators_table() {
  std::string out = "| operator | family | properties |\n|---|---|---|\n";
  for (const OpInfo& op : OpRegistry::get().ops()) {
    std::string props;
    auto prop = [&](const std::string& p) { props += (props.empty() ? "" : ", ") + p; };
    if (op.has(kFloatOnly)) prop("float only");
    if (op.has(kQuantized)) prop("quantized");
    if (op.has(kImage)) prop("image");
    if (op.has(kElementwise)) prop("element-wise");
    if (op.has(kDecomposed)) prop("decomposed in preparation");
    if (op.has(kAnyLayout)) prop("any layout");
    if (op.sfu_fn) prop("sfu " + sfu_name(*op.sfu_fn));
    out += "| " + padded(op.name, 18) + " | " + padded(op.family, 9) + " | " + (props.empty() ? "-" : props) + " |\n";
  }
  return out;
}

}  // namespace npusim::compiler
