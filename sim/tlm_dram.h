// The DRAM behind a TLM-2.0 target socket, and the DMA's initiator side (a memory::DramPort).
//
// Loosely timed: one b_transport per DMA transfer, annotated with the delay from the current
// simulation time to the first burst's issue time. The payload's address/length describe the
// transfer's first run; a BurstTrainExtension carries the whole burst train (runs, burst size,
// outstanding window), which the target times burst by burst on its DRAM model
// (memory::issue_bursts) before returning the delay to the last completion. Nothing waits inside
// b_transport, so the engines stay temporally decoupled (one wait per instruction), and the
// socket is where another DRAM model or a monitor can be bound. A plain payload without the
// extension is served as a single request.
#pragma once

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <systemc>
#include <tlm>

#include "memory/dma.h"
#include "memory/dram.h"

namespace npusim {

/// sc_time from femtoseconds; the kernel's resolution is 1 fs, so this is the raw value (and far
/// cheaper than the double-and-unit constructor).
inline sc_core::sc_time femtos(Femtos t) {
  return sc_core::sc_time::from_value(t);
}
inline Femtos sim_now_fs() {
  return static_cast<Femtos>(sc_core::sc_time_stamp().value());
}  // resolution: 1 fs

/// Carries a DMA burst train on a generic payload (ignorable by targets that do not know it).
struct BurstTrainExtension : tlm::tlm_extension<BurstTrainExtension> {
  const memory::BurstTrain* train = nullptr;  ///< the train (owned by the initiator, valid during the call)
  tlm::tlm_extension_base* clone() const override { return new BurstTrainExtension(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override {
    train = static_cast<const BurstTrainExtension&>(other).train;
  }
};

/// TLM target: DRAM timing.
class DramTarget : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<DramTarget> socket;  ///< bursts arrive here

  DramTarget(sc_core::sc_module_name name, memory::DramModel& model)
      : sc_module(name), socket("socket"), model_(model) {
    socket.register_b_transport(this, &DramTarget::b_transport);
  }

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
    const Femtos now = sim_now_fs();
    Femtos done;
    BurstTrainExtension* ext = nullptr;
    trans.get_extension(ext);
    if (ext && ext->train) {
      memory::BurstTrain train = *ext->train;
      train.issue = now + static_cast<Femtos>(delay.value());
      done = memory::issue_bursts(model_, train, ring_);
    } else {
      done = model_.access(now + static_cast<Femtos>(delay.value()), trans.get_address(), trans.get_data_length(),
                           trans.is_write());
    }
    delay = femtos(done - now);
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  memory::DramModel& model_;  ///< timing model
  std::vector<Femtos> ring_;  ///< scratch for issue_bursts
};

/// TLM initiator used by the DMA model: each burst is one b_transport (timing only; the data move
/// in the functional model, so the payload carries no data pointer).
class DramInitiator : public sc_core::sc_module, public memory::DramPort {
 public:
  tlm_utils::simple_initiator_socket<DramInitiator> socket;  ///< bound to DramTarget::socket

  explicit DramInitiator(sc_core::sc_module_name name) : sc_module(name), socket("socket") {
    trans_.set_data_ptr(nullptr);
    trans_.set_byte_enable_ptr(nullptr);
    trans_.set_extension(&ext_);
  }
  ~DramInitiator() override { trans_.clear_extension(&ext_); }

  Femtos transfer(const memory::BurstTrain& train) override {
    const uint64_t first_bytes = train.runs->empty() ? 0 : train.runs->front().bytes;
    trans_.set_command(train.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    trans_.set_address(train.runs->empty() ? 0 : train.runs->front().addr);
    trans_.set_data_length(static_cast<unsigned>(first_bytes));
    trans_.set_streaming_width(static_cast<unsigned>(first_bytes));
    trans_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    ext_.train = &train;
    const Femtos now = sim_now_fs();
    sc_core::sc_time delay = femtos(train.issue - now);
    socket->b_transport(trans_, delay);
    ext_.train = nullptr;
    return now + static_cast<Femtos>(delay.value());
  }

 private:
  tlm::tlm_generic_payload trans_;  ///< reused for every transfer
  BurstTrainExtension ext_;         ///< carries the burst train
};

}  // namespace npusim
