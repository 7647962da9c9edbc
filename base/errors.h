// The error every layer raises for bad input: a user's file, field or value, with a message that
// already names the place (file:line:col, key path, node, instruction index). The CLI maps it to
// exit code 2; anything else that escapes is a bug in npusim.
#pragma once

#include <stdexcept>
#include <string>

namespace npusim {

/// Bad input (malformed file, bad field, failed check).
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace npusim
