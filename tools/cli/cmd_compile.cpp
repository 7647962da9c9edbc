// `npusim compile` (an ONNX model to an .npub) and `npusim calibrate` (the RTL array's latency
// table for a configuration).
#include <cstdio>
#include <fstream>
#include <string>

#include "isa/diag.h"
#include "isa/npub.h"
#ifdef NPUSIM_HAS_RTL
#include "rtl/calibrate.h"
#endif
#include "sim/npu_config.h"
#include "tools/cli/command.h"
#include "tools/cli/onnx_model.h"

namespace npusim::cli {
namespace {

int cmd_compile(const Args& a) {
  if (a.positional().size() != 1) throw UsageError("compile needs exactly one model.onnx");
  if (!a.has("--config")) throw UsageError("compile needs --config CONFIG.yaml");
  const std::string in = a.positional()[0];
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  const BuildOptions bo = build_options(a);
  const BuiltModel built = compile_model(in, cfg, bo);
  const compiler::CompiledModel& m = built.m;
  if (!m.host_ops.empty()) {
    std::string nodes;
    for (const auto& h : m.host_ops) nodes += (nodes.empty() ? "" : ", ") + h.node.name + " (" + h.node.op + ")";
    throw isa::InputError(in + ": " + std::to_string(m.host_ops.size()) +
                          " operator(s) would run on the host: " + nodes +
                          "; an .npub cannot carry host kernels, so run the model directly (npusim run model.onnx), or "
                          "see --no-fallback");
  }
  std::string out = a.value("-o");
  if (out.empty()) out = (ends_with(in, ".onnx") ? in.substr(0, in.size() - 5) : in) + ".npub";
  const uint64_t bytes = isa::write_npub_file(m.program, out);
  std::printf("%s: %zu operators -> %zu instructions, %llu bytes -> %s\n", in.c_str(), m.operators.size(),
              m.program.text.size(), static_cast<unsigned long long>(bytes), out.c_str());
  return kExitOk;
}

/// `npusim calibrate`: the RTL latency table for a config's array.
int cmd_calibrate(const Args& a) {
  if (!a.has("--config") || !a.has("-o")) throw UsageError("calibrate needs --config CONFIG.yaml and -o TABLE.yaml");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
#ifdef NPUSIM_HAS_RTL
  rtl::CalibrationStats st;
  arch::LatencyTable t;
  try {
    t = rtl::calibrate(cfg.mxu, &st);
  } catch (const std::invalid_argument& e) {
    throw isa::InputError(a.value("--config") + ": " + e.what());
  }
  std::ofstream out(a.value("-o"));
  if (!out) throw isa::InputError(a.value("-o") + ": cannot write");
  out << t.to_yaml();
  std::printf(
      "%s: %llu tile shapes on the %ux%u %s RTL array (%llu RTL cycles in %.3g s, %.3g Mcycles/s); "
      "fitted per-fold cost %.6g cycles; analytical model within %.4g%% of the RTL on every shape\n",
      a.value("-o").c_str(), static_cast<unsigned long long>(st.tiles), cfg.mxu.rows, cfg.mxu.cols,
      cfg.mxu.dataflow.c_str(), static_cast<unsigned long long>(st.rtl_cycles), st.wall_s,
      st.rtl_cycles / st.wall_s / 1e6, t.fold_cost, 100 * st.max_deviation);
  return kExitOk;
#else
  (void)cfg;
  throw UsageError("this npusim was built without Verilator (NPUSIM_RTL=OFF): no RTL to calibrate");
#endif
}

const bool registered_compile = register_command({
    "compile",
    80,
    "compile an ONNX model for a configuration",
    "usage: npusim compile MODEL.onnx --config CONFIG.yaml [-o OUT.npub] [--precision fp16|bf16|int8]\n"
    "                      [--calibrate DIR] [--no-fallback] [--dim NAME=VALUE ...]\n",
    "Lowers an ONNX model (opsets 10-17) to an npusim program for the NPU that CONFIG describes.\n"
    "The model is prepared first as an exporter's output needs: --dim fixes named dynamic\n"
    "dimensions, shapes are inferred and shape arithmetic (Shape, Gather, Concat, Range ...) folded\n"
    "into constants until every tensor is static, Identity/Dropout and unused nodes go and a\n"
    "BatchNormalization after a Conv is folded into it (docs/compiler.md, Preparation). Then each\n"
    "operator is tiled to the scratchpad and accumulator, with one DEBUG marker per\n"
    "node (stats and traces are per operator). Float activations and weights use --precision\n"
    "(default fp16); integer tensors keep their type, so quantized models run bit-exact (int64\n"
    "is int32 on the device, narrowed and checked at the host boundary; bool is uint8 0/1).\n"
    "--precision int8 quantizes a float model after training: activation ranges from the float\n"
    "reference on the samples in --calibrate DIR (each .npy one input), uint8 activations (int8\n"
    "where the MXU has no u8 mode), int8 per-channel weights. The operators lowered to the NPU are\n"
    "listed by npusim info --operators (and in docs/compiler.md); anything else\n"
    "runs on the host with a reference kernel when one exists (Softplus, ...; its time is\n"
    "modelled; npusim run model.onnx only, since an .npub cannot carry host kernels) and is\n"
    "otherwise an error naming the node. --no-fallback makes\n"
    "every operator without an NPU lowering an error.\n",
    {
        valued("--config", "CONFIG.yaml", "the NPU to compile for"),
        valued("-o", "OUT.npub", "the program to write (default: MODEL with the extension .npub)"),
        valued("--precision", "fp16|bf16|int8", "float activations and weights (default fp16; int8 quantizes)"),
        valued("--calibrate", "DIR", "(int8) calibration samples: every DIR/*.npy is one input sample"),
        flag("--no-fallback", "operators without an NPU lowering are errors"),
        repeated("--dim", "NAME=VALUE", "fix the model's dynamic dimension NAME (batch, sequence ...; repeat)"),
    },
    "",
    cmd_compile,
});

const bool registered_calibrate = register_command({
    "calibrate",
    70,
    "measure MXU tile latencies on the RTL array and write a latency table",
    "usage: npusim calibrate --config CONFIG.yaml -o TABLE.yaml\n",
    "Runs a sweep of matmul tile shapes through the Verilated systolic array (rtl/systolic_array.v)\n"
    "of CONFIG's size and dataflow (4x4, 8x8 or 16x16; ws or os) and writes their cycles as a\n"
    "latency table that `mxu: {impl: table, file: TABLE.yaml}` loads (docs/rtl.md).\n",
    {
        valued("--config", "CONFIG.yaml", "the NPU whose array is measured"),
        valued("-o", "TABLE.yaml", "the latency table to write"),
    },
    "",
    cmd_calibrate,
});

}  // namespace
}  // namespace npusim::cli
