// Tenants files and options, declared once (base/schema.h), and the tenants' service times.
#include "tools/load/tenants.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "base/input_file.h"
#include "base/text.h"
#include "base/units.h"
#include "compiler/compile.h"
#include "isa/diag.h"
#include "tools/workload/workload.h"

namespace npusim {
namespace {

/// Largest tenants file read (a few hundred bytes per tenant).
constexpr uint64_t kMaxTenantsFileBytes = uint64_t{1} << 20;
/// Longest time a tenant's key takes (durations, bursts, waits, slices): a million seconds, 11.6 days.
constexpr double kMaxTenantTimeS = 1e6;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string scalar_text(const YAML::Node& n) {
  if (!n.IsScalar())
    throw std::invalid_argument("expected a single value, found a " + std::string(n.IsMap() ? "mapping" : "list"));
  return n.Scalar();
}

std::string where(const std::string& file, const YAML::Mark& m) {
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

/// `e` ("file:line:col: error: what") with `label` ("tenant 1 (bulk)") before what.
[[noreturn]] void rethrow_labelled(const config::ConfigError& e, const std::string& label) {
  std::string m = e.what();
  const auto at = m.find(": error: ");
  if (at == std::string::npos) throw config::ConfigError(label + ": " + m);
  m.insert(at + 9, label + ": ");
  throw config::ConfigError(m);
}

/// Reads the arrival times of `trace:FILE` into o.trace (and sets o.arrivals to "trace").
void read_arrival_trace(LoadOptions& o) {
  const std::string file = o.arrivals.substr(6);
  require_input_file(file, "arrival trace");  // a FIFO would block, a directory read as empty
  std::ifstream in(file);
  if (!in) throw isa::InputError(file + ": cannot open");
  // One arrival per line: a time in seconds from the start, in the first column (further
  // columns are ignored); an optional header line first; any order (they are sorted).
  std::string line;
  size_t k = 0, beyond = 0;
  bool header_allowed = true;
  while (std::getline(in, line)) {
    ++k;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string first = line.substr(0, line.find(','));
    char* e = nullptr;
    const double x = std::strtod(first.c_str(), &e);
    const bool number = !first.empty() && e != first.c_str() &&
                        std::all_of(static_cast<const char*>(e), first.c_str() + first.size(),
                                    [](char c) { return c == ' ' || c == '\t'; });
    if (!number && header_allowed) {  // a header such as "timestamp" or "time_s,request"
      header_allowed = false;
      continue;
    }
    header_allowed = false;
    if (!number || !std::isfinite(x) || x < 0)
      throw isa::InputError(file + ":" + std::to_string(k) +
                            ": expected an arrival time in seconds (a finite number >= 0), got '" + first + "'");
    if (x >= o.duration_s) ++beyond;
    if (static_cast<double>(o.trace.size()) >= kMaxRequests)
      throw isa::InputError(file + ":" + std::to_string(k) + ": more than " + npusim::format_g(kMaxRequests, 6) +
                            " arrivals, the most a run may have (split the trace)");
    o.trace.push_back(x);
  }
  if (o.trace.empty()) throw isa::InputError(file + ": no arrival times (one time in seconds per line)");
  if (beyond == o.trace.size())
    throw isa::InputError(file + ": every arrival is at or after the duration (" + config::time_text(o.duration_s) +
                          "); raise --duration");
  if (beyond)
    std::fprintf(stderr, "note: %s: %zu of %zu arrivals come at or after the duration (%s) and are left out\n",
                 file.c_str(), beyond, o.trace.size(), config::time_text(o.duration_s).c_str());
  o.rate_per_s = static_cast<double>(o.trace.size() - beyond) / o.duration_s;  // offered: what the trace holds
  o.arrivals = "trace";
}

/// A program's latency on `cfg` (timing only; inputs as zeros) and its cold start: the time to
/// stream its constant regions (weights) from DRAM at the configuration's peak bandwidth.
struct ProgramTiming {
  double seconds = 0, cold_start_s = 0;  ///< latency; weights from DRAM at peak bandwidth
  std::vector<MarkerSpan> operators;     ///< operator timeline
  std::vector<EngineSpan> engines;       ///< engine busy stretches
};
ProgramTiming program_timing(const config::NpuConfig& cfg, const isa::Program& prog) {
  const RunResult r = timing_run(cfg, prog, /*engine_spans=*/true);
  uint64_t weights = 0;
  for (const auto& reg : prog.regions)
    if (reg.role == isa::RegionRole::Const) weights += reg.size;
  return {r.seconds, r.dram_peak_bandwidth > 0 ? static_cast<double>(weights) / r.dram_peak_bandwidth : 0.0,
          r.marker_spans, r.engine_spans};
}

}  // namespace

void describe_tenant(config::Section& s, TenantSpec& spec) {
  Tenant& t = spec.tenant;
  LoadOptions& o = t.load;
  if (s.sets_defaults()) o.rate_per_s = 100, o.arrivals = "poisson", t.priority = 0, o.seed = 1;
  s.text("name", t.name, "labels its report entries, trace tracks and metric series (unique)", "default");
  s.text("model", spec.model, "what it runs: .onnx, .npub or .npus (relative to the tenants file)", std::nullopt);
  s.custom(
      "rate", "rate", "1/s", "mean arrival rate, requests per second (300/s or 300)", "100/s",
      [&o](const YAML::Node& n) {
        const std::string text = scalar_text(n);
        const std::string r = ends_with(text, "/s") ? text.substr(0, text.size() - 2) : text;
        char* end = nullptr;
        const double v = std::strtod(r.c_str(), &end);
        if (r.empty() || *end || !std::isfinite(v) || !(v > 0))
          throw std::invalid_argument("expected requests per second such as 300/s, got '" + text + "'");
        o.rate_per_s = v;
      },
      [&o] { return config::exact_number_text(o.rate_per_s) + "/s"; });
  s.custom(
      "arrivals", "poisson|onoff|trace:FILE", "",
      "Poisson arrivals, bursts (on/off at the same mean rate), or the times of a CSV (one per line)", "poisson",
      [&o](const YAML::Node& n) {
        const std::string v = scalar_text(n);
        if (v != "poisson" && v != "onoff" && !(v.rfind("trace:", 0) == 0 && v.size() > 6))
          throw std::invalid_argument("expected poisson, onoff or trace:FILE.csv, got '" + v + "'");
        o.arrivals = v;
      },
      [&o] { return config::yaml_quoted(o.arrivals); });
  s.time("duration", o.duration_s, "requests arrive during this time (all are served)", 10.0, 0, kMaxTenantTimeS);
  s.time("on", o.on_s, "(onoff) length of a burst", 1.0, 0, kMaxTenantTimeS);
  s.time("off", o.off_s, "(onoff) length of a pause", 1.0, 0, kMaxTenantTimeS);
  s.integer("max_batch", o.max_batch, "requests", "largest batch", 1, 1, 64);
  s.time("max_wait", o.max_wait_s, "longest the oldest request waits for a fuller batch", 0.0, 0, kMaxTenantTimeS);
  s.custom(
      "priority", "int", "", "higher is served first (ties: the oldest waiting request)", "0",
      [&t](const YAML::Node& n) {
        const std::string v = scalar_text(n);
        char* end = nullptr;
        const long p = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end || p < -1000 || p > 1000)
          throw std::invalid_argument("expected an integer in [-1000, 1000], got '" + v + "'");
        t.priority = static_cast<int>(p);
      },
      [&t] { return std::to_string(t.priority); });
  s.time("slice", t.slice_s, "time slice: tenants with one share the device round robin (0: by priority)", 0.0, 0,
         kMaxTenantTimeS);
  s.custom(
      "seed", "int", "", "seed of its arrival stream", "1",
      [&o](const YAML::Node& n) {
        const std::string v = scalar_text(n);
        unsigned long long x = 0;
        if (!config::parse_unsigned(v, x))
          throw std::invalid_argument("expected a non-negative integer, got '" + v + "'");
        o.seed = x;
      },
      [&o] { return std::to_string(o.seed); });
  s.text("precision", spec.precision, "(.onnx) fp16 or bf16", "fp16");
  s.check([&t] {
    // Names label report entries, trace tracks and Prometheus series: printable, no quotes or backslashes.
    if (t.name.empty() || std::any_of(t.name.begin(), t.name.end(), [](char c) {
          return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
        }))
      throw std::invalid_argument("name '" + t.name +
                                  "' must be non-empty printable text without quotes or backslashes");
  });
  s.check([&spec] {
    if (spec.model.empty()) throw std::invalid_argument("model names no file");
  });
  s.check([&o] {
    if (!(o.on_s > 0)) throw std::invalid_argument("on expects a burst longer than 0s");
  });
  s.check([&spec] {
    const std::string& p = spec.precision;
    if (ends_with(spec.model, ".onnx") && p != "fp16" && p != "bf16")
      throw std::invalid_argument("precision expects fp16 or bf16 for an ONNX model, got '" + p +
                                  "' (for int8, serve the .npub of `npusim compile --precision int8 --calibrate DIR`)");
  });
}

std::vector<TenantSpec> load_tenants_file(const std::string& file, const std::map<std::string, std::string>& defaults) {
  if (!defaults.empty()) {  // checked once, as options, before they stand in for absent keys
    std::map<std::string, std::string> kv = defaults;
    kv.emplace("model", "-");
    tenant_from_options(kv);
  }
  YAML::Node root;
  try {
    root = YAML::Load(read_input_file(file, "tenants file", kMaxTenantsFileBytes));
  } catch (const YAML::Exception& e) {
    throw config::ConfigError(where(file, e.mark) + ": error: invalid YAML: " + e.msg);
  }
  if (!root.IsDefined() || root.IsNull())
    throw config::ConfigError(file + ":1:1: error: expected a mapping with the key 'tenants', found nothing");
  if (!root.IsMap())
    throw config::ConfigError(where(file, root.Mark()) + ": error: expected a mapping with the key 'tenants'");
  std::vector<TenantSpec> specs;
  // The file: one key, `tenants`, a list of tenants (each a mapping of the keys describe_tenant declares).
  auto describe_file = [&](config::Section& s) {
    s.custom(
        "tenants", "list of tenants", "", "who sends requests (docs/serving.md)", std::nullopt,
        [&](const YAML::Node& list) {
          if (!list.IsSequence()) throw std::invalid_argument("expected a list of tenants");
          for (size_t i = 0; i < list.size(); ++i) {
            YAML::Node e = list[i];
            const YAML::Node& read = e;  // lookups that add nothing
            std::string label = "tenant " + std::to_string(i);
            if (read.IsMap() && read["name"] && read["name"].IsScalar()) label += " (" + read["name"].Scalar() + ")";
            if (!e.IsMap())
              throw config::ConfigError(where(file, e.Mark()) + ": error: " + label + ": expected a mapping");
            TenantSpec t;
            try {
              for (const auto& [key, text] : defaults)
                if (!read[key]) e[key] = text;
              config::load([&t](config::Section& ts) { describe_tenant(ts, t); }, e, file);
            } catch (const config::ConfigError& err) {
              rethrow_labelled(err, label);
            }
            // Files named in a tenants file are relative to it (as a sweep file's are).
            t.model = path_beside(file, t.model);
            if (t.tenant.load.arrivals.rfind("trace:", 0) == 0)
              t.tenant.load.arrivals = "trace:" + path_beside(file, t.tenant.load.arrivals.substr(6));
            for (size_t j = 0; j < specs.size(); ++j)  // names label the reports' and metrics' series
              if (specs[j].tenant.name == t.tenant.name)
                throw config::ConfigError(where(file, e.Mark()) + ": error: " + label + ": name '" + t.tenant.name +
                                          "' is taken by tenant " + std::to_string(j));
            specs.push_back(std::move(t));
          }
        },
        [&] { return "[" + std::to_string(specs.size()) + " tenants]"; });
  };
  config::load(describe_file, root, file);
  if (specs.empty()) throw isa::InputError(file + ": 'tenants' lists no tenant");
  return specs;
}

TenantSpec tenant_from_options(const std::map<std::string, std::string>& kv) {
  TenantSpec t;
  YAML::Node none(YAML::NodeType::Map);
  config::Section s("", &none);
  describe_tenant(s, t);  // the defaults
  for (const auto& entry : kv) {
    const std::string& key = entry.first;  // (a structured binding cannot be captured in C++17)
    const std::string& text = entry.second;
    const auto p =
        std::find_if(s.params().begin(), s.params().end(), [&](const config::ParamDecl& d) { return d.name == key; });
    if (p == s.params().end()) throw std::logic_error("a tenant has no key '" + key + "'");
    std::string option = "--" + key;
    std::replace(option.begin(), option.end(), '_', '-');
    try {
      p->load(YAML::Node(text));
    } catch (const std::invalid_argument& e) {
      throw isa::InputError(option + ": " + e.what());
    }
  }
  for (const auto& check : s.checks()) {
    try {
      check();
    } catch (const std::invalid_argument& e) {
      throw isa::InputError(std::string("options: ") + e.what());
    }
  }
  return t;
}

Tenant make_tenant(const config::NpuConfig& cfg, const TenantSpec& spec, std::vector<isa::Program>* programs) {
  Tenant t = spec.tenant;
  LoadOptions& o = t.load;
  if (o.arrivals.rfind("trace:", 0) == 0) read_arrival_trace(o);
  // Service time of a batch of b: the model compiled for batch b (ONNX), else b runs back to back.
  const bool onnx = ends_with(spec.model, ".onnx");
  for (uint32_t b = 1; b <= o.max_batch; ++b) {
    if (onnx) {
      compiler::CompileOptions co;
      co.precision = spec.precision;
      const compiler::CompiledModel m =
          compiler::compile(compiler::import_onnx(spec.model, {b, {}}), target_info(cfg), co);
      ProgramTiming pt = program_timing(cfg, m.program);
      t.service_s.push_back(pt.seconds);
      t.operators.push_back(std::move(pt.operators));
      t.engines.push_back(std::move(pt.engines));
      if (b == 1) t.cold_start_s = pt.cold_start_s;
      if (programs) programs->push_back(m.program);
    } else if (b == 1) {
      const isa::Program prog = load_program(spec.model);
      ProgramTiming pt = program_timing(cfg, prog);
      t.service_s.push_back(pt.seconds);
      t.operators.push_back(std::move(pt.operators));
      t.engines.push_back(std::move(pt.engines));
      t.cold_start_s = pt.cold_start_s;
      if (programs) programs->push_back(prog);
    } else {
      t.service_s.push_back(b * t.service_s[0]);
      // b runs back to back: the first run's timelines repeated, each shifted by one service time.
      const auto repeated = [&](auto spans) {
        decltype(spans) all;
        for (uint32_t k = 0; k < b; ++k)
          for (auto sp : spans) {
            sp.start_s += k * t.service_s[0], sp.end_s += k * t.service_s[0];
            all.push_back(sp);
          }
        return all;
      };
      t.operators.push_back(repeated(t.operators[0]));
      t.engines.push_back(repeated(t.engines[0]));
    }
  }
  return t;
}

}  // namespace npusim
