// libFuzzer target for the ONNX importer and the compiler. Oracle: any input either compiles to
// a valid program or raises CompileError; anything else escaping (or a crash) is a bug.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "compiler/compile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/npusim_fuzz_onnx_" + std::to_string(getpid()) + ".onnx";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  npusim::compiler::TargetInfo t;
  t.spad_bytes = 512 * 1024;
  t.acc_bytes = 128 * 1024;
  t.mxu_dtypes = {"fp16", "bf16"};
  try {
    const auto g = npusim::compiler::import_onnx(path);
    npusim::compiler::compile(g, t, {});
  } catch (const npusim::compiler::CompileError&) {
  }
  return 0;
}
