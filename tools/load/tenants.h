// Tenants of `npusim load`: who sends requests, at what rate and with what batching policy, read
// from a tenants file (`--tenants T.yaml`, docs/serving.md) or from the command line's options.
// Every key is declared once (base/schema.h: type, unit, default, range), as config parameters
// are: the file is read strictly (unknown keys, bad values and duplicate names are errors naming
// the file, the line, the tenant and the key), and the options of a single tenant go through the
// same declarations.
//
//   tenants:
//     - {name: interactive, model: mlp.onnx, rate: 2000/s, priority: 1}
//     - {name: bulk, model: mlp.onnx, rate: 20000/s, arrivals: onoff, on: 100ms, off: 100ms, max_batch: 8}
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/schema.h"
#include "isa/program.h"
#include "sim/npu_config.h"
#include "tools/load/load.h"

namespace npusim {

/// One tenant as declared, before its model is timed.
struct TenantSpec {
  Tenant tenant;                   ///< name, arrivals (trace:FILE not yet read), batching, priority, slice
  std::string model;               ///< .onnx, .npub or .npus
  std::string precision = "fp16";  ///< ONNX models: fp16 or bf16
};

/// Declares a tenant's keys, bound to `t` (a tenants file's entries).
void describe_tenant(config::Section& s, TenantSpec& t);

/// The tenants of a tenants file (a mapping with the key `tenants`, a list of tenants). Files it
/// names (model, trace:FILE) are relative to it. `defaults` (key -> text, e.g. the command
/// line's duration) apply to tenants that do not give the key.
std::vector<TenantSpec> load_tenants_file(const std::string& file, const std::map<std::string, std::string>& defaults);

/// One tenant from key -> text, as a tenants file would give them (the command line's options:
/// `--max-batch 8` is max_batch: 8); a bad value is an error naming the option.
TenantSpec tenant_from_options(const std::map<std::string, std::string>& kv);

/// The tenant as run_tenants serves it: its arrival trace read (trace:FILE), and its model timed
/// on `cfg` for every batch size (an ONNX model compiled for batch b; a program run b times back
/// to back), with its cold start (weights from DRAM at peak bandwidth) and timelines. `programs`,
/// when given, receives its program per batch size (one for a program: batch b runs it b times).
Tenant make_tenant(const config::NpuConfig& cfg, const TenantSpec& spec, std::vector<isa::Program>* programs = nullptr);

}  // namespace npusim
