// Errors with context. Every parser and reader in isa/ reports problems as an InputError whose
// message already names the place (file:line:col, or section/entry/field/instruction index).
#pragma once

#include "base/errors.h"

namespace npusim::isa {

/// Bad input (malformed file, bad field, failed check): base/errors.h's, which the CLI maps to exit
/// code 2.
using npusim::InputError;

}  // namespace npusim::isa
