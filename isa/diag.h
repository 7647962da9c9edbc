// Errors with context. Every parser and reader in isa/ reports problems as an InputError whose
// message already names the place (file:line:col, or section/entry/field/instruction index).
#pragma once

#include <stdexcept>
#include <string>

namespace npusim::isa {

/// Bad input (malformed file, bad field, failed check). The CLI maps it to exit code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace npusim::isa
