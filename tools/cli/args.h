// A small command-line parser: positional arguments plus `--name value`, `--name=value`, `-o value`
// and boolean `--flag`. Each subcommand declares its options once (tools/cli/command.h): the parser
// accepts exactly those, and the usage text and docs/cli.md list them; anything else is a usage error.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/units.h"

namespace npusim::cli {

/// A usage error (exit code 2, with the subcommand's usage).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One option of a subcommand, declared once.
struct Option {
  enum class Kind {
    Flag,      ///< boolean, no value (`--quiet`)
    Value,     ///< one value; given twice, the last one counts (`--config C.yaml`)
    Repeated,  ///< a value per occurrence, every one kept in order (`--input A=a.npy --input B=b.npy`)
  };
  std::string name;         ///< "--config", "-o"
  Kind kind = Kind::Flag;   ///< flag or valued
  std::string placeholder;  ///< what the value looks like ("CONFIG.yaml"); "" for a flag
  std::string help;         ///< one line per '\n'-separated part (continuations are indented)
  bool takes_value() const { return kind != Kind::Flag; }
};

/// A boolean option.
inline Option flag(std::string name, std::string help) {
  return {std::move(name), Option::Kind::Flag, "", std::move(help)};
}
/// An option with a value.
inline Option valued(std::string name, std::string placeholder, std::string help) {
  return {std::move(name), Option::Kind::Value, std::move(placeholder), std::move(help)};
}
/// An option that may be given several times (Args::values).
inline Option repeated(std::string name, std::string placeholder, std::string help) {
  return {std::move(name), Option::Kind::Repeated, std::move(placeholder), std::move(help)};
}

/// Parsed arguments of one subcommand.
class Args {
 public:
  /// Parses `argv` against the declared `options`.
  Args(const std::vector<std::string>& argv, const std::vector<Option>& options) {
    for (const Option& o : options) declared_[o.name] = o.kind;
    for (size_t i = 0; i < argv.size(); ++i) {
      std::string a = argv[i];
      if (a.size() > 1 && a[0] == '-' && a != "-") {
        std::string value;
        bool has_value = false;
        const auto eq = a.find('=');
        if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
          value = a.substr(eq + 1);
          a = a.substr(0, eq);
          has_value = true;
        }
        const auto d = declared_.find(a);
        if (d != declared_.end() && d->second != Option::Kind::Flag) {
          if (!has_value) {
            if (i + 1 >= argv.size()) throw UsageError("option " + a + " needs a value");
            value = argv[++i];
          }
          values_[a] = value;
          all_values_[a].push_back(value);
        } else if (d != declared_.end() && !has_value) {
          flags_.insert(a);
        } else {
          throw UsageError("unknown option '" + argv[i] + "'");
        }
      } else {
        positional_.push_back(a);
      }
    }
  }
  const std::vector<std::string>& positional() const { return positional_; }
  bool flag(const std::string& name) const { return expect(name, false), flags_.count(name) > 0; }
  bool has(const std::string& name) const { return expect(name, true), values_.count(name) > 0; }
  std::string value(const std::string& name, const std::string& def = "") const {
    expect(name, true);
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second;
  }
  /// Every value of a repeatable option, in order.
  std::vector<std::string> values(const std::string& name) const {
    const auto d = declared_.find(name);
    if (d == declared_.end() || d->second != Option::Kind::Repeated)
      throw std::logic_error("option " + name + " is not declared repeatable");
    auto it = all_values_.find(name);
    return it == all_values_.end() ? std::vector<std::string>{} : it->second;
  }
  /// Non-negative integer option.
  unsigned long long number(const std::string& name, unsigned long long def) const {
    if (!has(name)) return def;
    const std::string v = value(name);
    unsigned long long n = 0;
    if (!config::parse_unsigned(v, n))
      throw UsageError("option " + name + " expects a non-negative integer, got '" + v + "'");
    return n;
  }

 private:
  /// A name the subcommand does not declare (or declares as the other kind) is a bug in its body.
  void expect(const std::string& name, bool valued) const {
    const auto d = declared_.find(name);
    if (d == declared_.end() || (d->second != Option::Kind::Flag) != valued)
      throw std::logic_error("option " + name + " is not declared as " + (valued ? "taking a value" : "a flag"));
  }
  std::map<std::string, Option::Kind> declared_;                ///< the subcommand's options
  std::vector<std::string> positional_;                         ///< non-option arguments in order
  std::map<std::string, std::string> values_;                   ///< valued options (last occurrence)
  std::map<std::string, std::vector<std::string>> all_values_;  ///< every occurrence
  std::set<std::string> flags_;                                 ///< boolean options present
};

}  // namespace npusim::cli
