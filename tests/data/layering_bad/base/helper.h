// The bottom floor naming a tool: refused too.
#pragma once
#include "tools/cli/args.h"
