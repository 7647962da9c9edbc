// A small command-line parser: positional arguments plus `--name value`, `--name=value`, `-o value`
// and boolean `--flag`. Each subcommand declares its options; anything else is a usage error.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/units.h"

namespace npusim::cli {

/// A usage error (exit code 2, with a pointer to --help).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parsed arguments of one subcommand.
class Args {
 public:
  /// `valued`: options that take a value (e.g. "-o", "--queue-depth"); `flags`: boolean options.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& valued, const std::set<std::string>& flags) {
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
        if (valued.count(a)) {
          if (!has_value) {
            if (i + 1 >= argv.size()) throw UsageError("option " + a + " needs a value");
            value = argv[++i];
          }
          values_[a] = value;
          all_values_[a].push_back(value);
        } else if (flags.count(a) && !has_value) {
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
  bool flag(const std::string& name) const { return flags_.count(name) > 0; }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string value(const std::string& name, const std::string& def = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second;
  }
  /// Every value of a repeatable option, in order.
  std::vector<std::string> values(const std::string& name) const {
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
  std::vector<std::string> positional_;                         ///< non-option arguments in order
  std::map<std::string, std::string> values_;                   ///< valued options (last occurrence)
  std::map<std::string, std::vector<std::string>> all_values_;  ///< every occurrence
  std::set<std::string> flags_;                                 ///< boolean options present
};

}  // namespace npusim::cli
