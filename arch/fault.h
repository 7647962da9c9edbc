// Device faults: what a run raises when a program misbehaves on the device (exit code 1).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "isa/spec.h"

namespace npusim::arch {

/// Fault classes (the codes a driver sees in ERR_INFO0 later).
enum class FaultCode : uint8_t {
  RegionBounds = 1,      ///< a descriptor walk or region write leaves its region
  SramBounds = 2,        ///< a tile leaves the scratchpad or accumulator
  SemOverflow = 3,       ///< a signal past 65535
  SemConsumer = 4,       ///< a wait by an engine other than the declared consumer
  Deadlock = 5,          ///< every unfinished engine waits and nothing is in flight
  Watchdog = 6,          ///< the run exceeded its cycle budget
  TargetMismatch = 7,    ///< the program needs a different configuration
  BadBinding = 8,        ///< host inputs do not match the program's I/O tensors
  CosimMismatch = 9,     ///< the RTL array's result differs from the functional model (mxu impl rtl)
  ThermalCritical = 10,  ///< the die reached governor.critical
  BusError = 17,         ///< a DMA got a bus error (device fault injection)
  Ecc = 18,              ///< an uncorrectable SRAM error (device fault injection)
};
const char* fault_name(FaultCode c);

class Fault : public std::runtime_error {
 public:
  Fault(FaultCode code, std::string message, int64_t index = -1, isa::Engine engine = isa::Engine::Ctrl)
      : std::runtime_error(std::move(message)), code_(code), index_(index), engine_(engine) {}
  FaultCode code() const { return code_; }
  int64_t index() const { return index_; }  ///< instruction index, -1 if none
  isa::Engine engine() const { return engine_; }
  /// The memory access to blame: a byte offset in program region `region` (-1: none).
  Fault& at(int32_t region, uint64_t offset) {
    region_ = region, offset_ = offset;
    return *this;
  }
  int32_t region() const { return region_; }
  uint64_t offset() const { return offset_; }

 private:
  FaultCode code_;
  int64_t index_;
  isa::Engine engine_;
  int32_t region_ = -1;  ///< region of the faulting access
  uint64_t offset_ = 0;  ///< its byte offset in the region
};

}  // namespace npusim::arch
