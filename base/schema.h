// Config schema: each component declares its parameters once, bound to the fields it reads.
// The same declarations load YAML (strictly: types, units, ranges, unknown keys, required keys)
// and print `npusim info --config`. Swappable blocks declare an `impl:` key whose choices come
// from a Registry, each implementation registering its own parameters where it is defined.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/errors.h"

namespace YAML {
class Node;  // yaml-cpp's; only schema.cpp and the loaders that read custom shapes include it
}  // namespace YAML

namespace npusim::config {

/// A config error; the message already reads "file:line:col: error: key.path: what was expected".
class ConfigError : public InputError {
 public:
  using InputError::InputError;
};

/// One declared parameter.
struct ParamDecl {
  std::string name;                             ///< YAML key
  std::string type;                             ///< int, float, bool, string, enum, bytes, frequency, bandwidth, time
  std::string unit;                             ///< cycles, bytes, Hz, B/s, s, ... ("" for none)
  std::string description;                      ///< one line
  std::string default_text;                     ///< printed default ("" when required)
  bool required = false;                        ///< no default
  std::vector<std::string> choices;             ///< enum values
  std::function<void(const YAML::Node&)> load;  ///< parse + assign; throws std::invalid_argument
  std::function<std::string()> value;           ///< the bound field's current value as text (config summary)
  std::function<std::string()> identity;        ///< what the design-point hash reads (empty: `value`)
};

class Section;
/// Adds a section's parameters and children (called once to load, once to print).
using Describe = std::function<void(Section&)>;

/// One YAML mapping: its parameters and child mappings.
class Section {
 public:
  /// What a walk of the declarations does: load YAML into the fields, catalog (describe) every parameter
  /// (npusim info --config; every implementation's), or read the values of a loaded config (its
  /// summary and hash; only the chosen implementations', and no field is written).
  enum class Mode { Load, Catalog, Values };

  /// `node`: the mapping being loaded, or nullptr when only describing (npusim info --config).
  Section(std::string path, const YAML::Node* node)
      : path_(std::move(path)), node_(node), mode_(node ? Mode::Load : Mode::Catalog) {}
  /// A walk over the values of a loaded config.
  static Section values(std::string path) { return Section(std::move(path), nullptr, Mode::Values); }

  /// Unsigned integer in [min, max]; `def` empty = required.
  void integer(const char* name, uint32_t& field, const char* unit, const char* desc, std::optional<uint32_t> def,
               uint32_t min = 0, uint32_t max = UINT32_MAX);
  /// Real number in [min, max].
  void real(const char* name, double& field, const char* unit, const char* desc, std::optional<double> def,
            double min = -1e300, double max = 1e300);
  void boolean(const char* name, bool& field, const char* desc, std::optional<bool> def);
  void text(const char* name, std::string& field, const char* desc, std::optional<std::string> def);
  /// A required path to a file the block reads (e.g. an MXU latency table): the design point's
  /// hash covers the file's content, not where it lies.
  void file(const char* name, std::string& field, const char* desc);
  /// One of `choices`.
  void choice(const char* name, std::string& field, std::vector<std::string> choices, const char* desc,
              std::optional<std::string> def);
  /// A list of `choices` (e.g. dtypes: [i8, fp16]).
  void choice_list(const char* name, std::vector<std::string>& field, std::vector<std::string> choices,
                   const char* desc, std::optional<std::vector<std::string>> def);
  /// Sizes: 512KiB, 64B, 4096.
  void bytes(const char* name, uint64_t& field, const char* desc, std::optional<uint64_t> def, uint64_t min = 0,
             uint64_t max = UINT64_MAX);
  /// Frequencies: 1GHz, 700MHz, in [min, max]. The default range keeps a clock period an exact
  /// integer of femtoseconds well inside base/time.h's 5-hour range (1 MHz: 1e9 fs per cycle).
  void frequency(const char* name, double& field_hz, const char* desc, std::optional<double> def, double min = 1e6,
                 double max = 1e11);
  /// Bandwidths: 12.8GB/s, in [min, max] bytes per second.
  void bandwidth(const char* name, double& field_bytes_per_s, const char* desc, std::optional<double> def,
                 double min = 1e3, double max = 1e15);
  /// Times: 45ns, 7.8us, in [min, max] seconds (by default at most 1 s: simulated time is
  /// integer femtoseconds, 2^64 fs = 5.1 hours, so one latency must stay far below that).
  void time(const char* name, double& field_s, const char* desc, std::optional<double> def, double min = 0,
            double max = 1);
  /// A list of numbers (e.g. trip temperatures), each in [min, max]; at least one element.
  void real_list(const char* name, std::vector<double>& field, const char* unit, const char* desc,
                 std::optional<std::vector<double>> def, double min = -1e300, double max = 1e300);
  /// A parameter with its own YAML shape (e.g. a list of [name, value] rows): `type` and `def_text`
  /// are what `npusim info --config` prints; `load` parses and assigns, throwing
  /// std::invalid_argument with what was expected; `value` writes the current value exactly, as
  /// YAML the loader reads back (exact_number_text for numbers).
  void custom(const char* name, const char* type, const char* unit, const char* desc,
              std::optional<std::string> def_text, std::function<void(const YAML::Node&)> load,
              std::function<std::string()> value);
  /// A child mapping (absent in YAML = all defaults).
  void child(const char* name, const char* desc, Describe describe);
  /// A cross-field check run after loading; `check` throws std::invalid_argument with the message.
  void check(std::function<void()> check) { checks_.push_back(std::move(check)); }

  const std::string& path() const { return path_; }
  /// The mapping being loaded (nullptr when describing or reading values).
  const YAML::Node* node() const { return node_; }
  Mode mode() const { return mode_; }
  /// Declaring a parameter assigns its default (not when reading a loaded config's values).
  bool sets_defaults() const { return mode_ != Mode::Values; }
  const std::vector<ParamDecl>& params() const { return params_; }

  /// Declared children, in order.
  struct Child {
    std::string name, description;
    Describe describe;
  };
  const std::vector<Child>& children() const { return children_; }
  const std::vector<std::function<void()>>& checks() const { return checks_; }

 private:
  Section(std::string path, const YAML::Node* node, Mode mode) : path_(std::move(path)), node_(node), mode_(mode) {}
  void add(ParamDecl d);
  std::string path_;        ///< dotted key path ("" at the top)
  const YAML::Node* node_;  ///< the mapping being loaded, or nullptr
  Mode mode_;               ///< what this walk does
  std::vector<ParamDecl> params_;
  std::vector<Child> children_;
  std::vector<std::function<void()>> checks_;
};

/// Implementations of one swappable block, selected by `impl:` in YAML. Each implementation
/// registers itself, in the file that defines it, with its name, its parameters (declared on the
/// block's config struct `Cfg`) and a factory for the block's interface `Model`:
///
///   static const bool registered = Registry<DramConfig, DramModel>::add({"simple", "...", params, make});
template <class Cfg, class Model>
class Registry {
 public:
  struct Entry {
    std::string name;                                        ///< value of impl: (or the block's key)
    std::string description;                                 ///< one line
    std::function<void(Section&, Cfg&)> params;              ///< its parameters
    std::function<std::unique_ptr<Model>(const Cfg&)> make;  ///< builds the model
  };
  static bool add(Entry e) {
    auto& v = entries();
    v.push_back(std::move(e));
    std::sort(v.begin(), v.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
    return true;
  }
  static const Entry* find(const std::string& name) {
    for (const auto& e : entries())
      if (e.name == name) return &e;
    return nullptr;
  }
  static std::vector<std::string> names() {
    std::vector<std::string> n;
    for (const auto& e : entries()) n.push_back(e.name);
    return n;
  }
  /// Builds the implementation `cfg.impl` names (the config loader has checked it exists).
  static std::unique_ptr<Model> make(const Cfg& cfg) { return make(cfg.impl, cfg); }
  /// Builds the implementation `name` (for a block whose choice has another key).
  static std::unique_ptr<Model> make(const std::string& name, const Cfg& cfg) {
    const Entry* e = find(name);
    if (!e) throw std::logic_error("no implementation '" + name + "' registered");
    return e->make(cfg);
  }
  static std::vector<Entry>& entries() {
    static std::vector<Entry> v;  // function-local: safe to use during static initialisation
    return v;
  }
};

/// The value of `key` (usually `impl`) in the mapping `s` is loading (`def` when absent or not a
/// scalar).
std::string impl_in_yaml(const Section& s, const char* key, const std::string& def);

/// Declares the key `key` in `s` choosing one of the registered implementations into `chosen`,
/// and the chosen implementation's parameters; when only describing, every implementation's
/// parameters as children named "<key>=<name>". Most blocks use `impl` and `cfg.impl` (below);
/// a block whose YAML has long named the choice otherwise (thermal.solver) passes its own key.
template <class Cfg, class Model>
void impl_choice(Section& s, Cfg& cfg, std::string& chosen, const char* key, const char* desc, const std::string& def) {
  using R = Registry<Cfg, Model>;
  s.choice(key, chosen, R::names(), desc, def);
  if (s.mode() == Section::Mode::Values) {  // a loaded config: the chosen implementation's values
    if (const auto* e = R::find(chosen)) e->params(s, cfg);
    return;
  }
  if (s.mode() == Section::Mode::Catalog) {
    for (const auto& e : R::entries()) {
      auto params = e.params;
      s.child((std::string(key) + "=" + e.name).c_str(), e.description.c_str(),
              [params, &cfg](Section& c) { params(c, cfg); });
    }
    return;
  }
  // Loading: add the chosen implementation's parameters. An unknown name is reported by the
  // choice itself; nothing is added then, so that is the only error.
  if (const auto* e = R::find(impl_in_yaml(s, key, def))) e->params(s, cfg);
}

/// `impl:` choosing `cfg.impl`.
template <class Cfg, class Model>
void impl_choice(Section& s, Cfg& cfg, const char* desc, const std::string& def) {
  impl_choice<Cfg, Model>(s, cfg, cfg.impl, "impl", desc, def);
}

/// Loads `root` into the sections `describe` declares. `file` names the source in messages.
void load(const Describe& describe, const YAML::Node& root, const std::string& file);

/// Every parameter (impl alternatives included) as lines: path, type, unit, default, description.
std::string describe_text(const Describe& describe);

/// The values of a loaded config, every declared parameter of every section (of the chosen
/// implementations), as YAML: one line per top-level key, sections in flow style. It loads back
/// to the same config; no two configs that differ in any parameter give the same text.
std::string values_text(const Describe& describe);
/// The same with each parameter's identity (a file's content instead of its path): what a
/// design point's hash and cache keys are built from.
std::string identity_text(const Describe& describe);

/// The shortest decimal text (%g, 6 to 17 digits) that reads back as exactly `v`.
std::string exact_number_text(double v);
/// `s` as a YAML double-quoted scalar (quotes, backslashes and control characters escaped).
std::string yaml_quoted(const std::string& s);
/// FNV-1a 64 of `bytes` as 0x followed by 16 hex digits.
std::string fnv1a64_hex(const std::string& bytes);

}  // namespace npusim::config
