// The DRAM behind a TLM-2.0 target socket, and the DMA's initiator side (a memory::DramPort).
//
// Loosely timed: the initiator calls b_transport with the delay from the current simulation time
// to the burst's issue time; the target books the burst on the DRAM model and returns the delay to
// its completion. Nothing waits inside b_transport, so the engines stay temporally decoupled (one
// wait per instruction) while every burst still crosses a standard socket, where another DRAM model
// (e.g. a cycle-level one) or a monitor can be bound.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "memory/dma.h"
#include "memory/dram.h"

namespace npusim {

inline sc_core::sc_time femtos(Femtos t) { return sc_core::sc_time(static_cast<double>(t), sc_core::SC_FS); }
inline Femtos sim_now_fs() { return static_cast<Femtos>(sc_core::sc_time_stamp().value()); }  // resolution: 1 fs

/// TLM target: DRAM timing.
class DramTarget : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<DramTarget> socket;  ///< bursts arrive here

  DramTarget(sc_core::sc_module_name name, memory::DramModel& model) : sc_module(name), socket("socket"), model_(model) {
    socket.register_b_transport(this, &DramTarget::b_transport);
  }

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
    const Femtos arrival = sim_now_fs() + static_cast<Femtos>(delay.value());
    const Femtos done = model_.access(arrival, trans.get_address(), trans.get_data_length(), trans.is_write());
    delay = femtos(done - sim_now_fs());
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  memory::DramModel& model_;  ///< timing model
};

/// TLM initiator used by the DMA model: each burst is one b_transport (timing only; the data move
/// in the functional model, so the payload carries no data pointer).
class DramInitiator : public sc_core::sc_module, public memory::DramPort {
 public:
  tlm_utils::simple_initiator_socket<DramInitiator> socket;  ///< bound to DramTarget::socket

  explicit DramInitiator(sc_core::sc_module_name name) : sc_module(name), socket("socket") {
    trans_.set_data_ptr(nullptr);
    trans_.set_streaming_width(0);
    trans_.set_byte_enable_ptr(nullptr);
  }

  Femtos access(Femtos t, uint64_t addr, uint64_t bytes, bool write) override {
    trans_.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    trans_.set_address(addr);
    trans_.set_data_length(static_cast<unsigned>(bytes));
    trans_.set_streaming_width(static_cast<unsigned>(bytes));
    trans_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    const Femtos now = sim_now_fs();
    sc_core::sc_time delay = femtos(t - now);
    socket->b_transport(trans_, delay);
    return now + static_cast<Femtos>(delay.value());
  }

 private:
  tlm::tlm_generic_payload trans_;  ///< reused for every burst
};

}  // namespace npusim
