// A block header that reaches up into the SystemC model: layering.py must refuse it.
#pragma once
#include "sim/simulator.h"
