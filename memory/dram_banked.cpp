// `dram: {impl: banked}`: channels x banks with open-row buffers, JEDEC-style core timings and
// periodic refresh, at transaction (interleave-chunk) granularity.
//
// Address map (low to high): chunk offset | channel | column chunk | bank | row, with
// chunk = interleave_bytes; so a sequential stream alternates channels every chunk and stays in
// one row of one bank per channel for row_bytes / interleave_bytes chunks (row hits).
// Per chunk: the bank is ready at `bank_ready`; a row hit issues the column command at once, an
// empty bank first activates (tRCD), a conflict first precharges (tRP + tRCD). Data appear tCL after
// the column command and then occupy the channel's data bus for chunk / (bus bytes x data rate).
// Commands to different banks overlap; data transfers on one channel serialise on its bus.
// Refresh: every tREFI each channel is unavailable for tRFC and all its rows close.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "memory/dram.h"

namespace npusim::memory {
namespace {

class BankedDram final : public DramModel {
 public:
  explicit BankedDram(const DramConfig& c)
      : c_(c),
        t_rcd_(seconds_to_fs(c.t_rcd_s)),
        t_cl_(seconds_to_fs(c.t_cl_s)),
        t_rp_(seconds_to_fs(c.t_rp_s)),
        t_refi_(seconds_to_fs(c.t_refi_s)),
        t_rfc_(seconds_to_fs(c.t_rfc_s)),
        channel_bandwidth_(c.bus_bits / 8.0 * c.data_rate_mtps * 1e6),
        fs_per_byte_(kFemtosPerSecond / channel_bandwidth_),
        chunks_per_row_(c.row_bytes / c.interleave_bytes),
        channels_(c.channels) {
    for (auto& ch : channels_) ch.banks.resize(c.banks);
    // The address map is all divisions and remainders; with power-of-two sizes (every bundled
    // config) they become shifts and masks on this hot path.
    pow2_ = is_pow2(c.interleave_bytes) && is_pow2(c.channels) && is_pow2(chunks_per_row_) && is_pow2(c.banks);
    if (pow2_) {
      interleave_shift_ = log2(c.interleave_bytes);
      channel_shift_ = log2(c.channels);
      row_chunk_shift_ = log2(chunks_per_row_);
      bank_shift_ = log2(c.banks);
    }
    full_chunk_fs_ = static_cast<Femtos>(std::ceil(static_cast<double>(c.interleave_bytes) * fs_per_byte_));
  }

  Femtos access(Femtos t, uint64_t addr, uint64_t bytes, bool write) override {
    (write ? stats_.writes : stats_.reads) += 1;
    (write ? stats_.bytes_written : stats_.bytes_read) += bytes;
    Femtos done = t;
    const uint64_t end = addr + bytes;
    for (uint64_t a = addr; a < end;) {
      const uint64_t chunk_end = std::min(end, (a / c_.interleave_bytes + 1) * c_.interleave_bytes);
      done = std::max(done, chunk(t, a, chunk_end - a));
      a = chunk_end;
    }
    return done;
  }
  double peak_bandwidth() const override { return channel_bandwidth_ * c_.channels; }
  uint32_t channel_count() const override { return c_.channels; }
  uint32_t channel_of(uint64_t addr) const override {
    return static_cast<uint32_t>((addr / c_.interleave_bytes) % c_.channels);
  }

 private:
  struct Bank {
    bool open = false;  ///< a row is in the row buffer
    uint64_t row = 0;   ///< which row
    Femtos ready = 0;   ///< earliest next command
  };
  struct Channel {
    std::vector<Bank> banks;      ///< bank state
    Femtos bus_free = 0;          ///< data bus free from
    uint64_t refreshes_done = 0;  ///< refresh windows already applied (rows closed)
  };

  /// Delays `start` past any refresh window of the channel it falls into; closes rows after one.
  Femtos after_refresh(Channel& ch, Femtos start) {
    if (!t_refi_) return start;
    // k: the refresh window [k*tREFI, k*tREFI + tRFC) at or before start. Requests mostly arrive in
    // the same or the next interval as the channel's last one, so avoid the division then.
    uint64_t k = ch.refreshes_done;
    const Femtos base = k * t_refi_;
    if (start < base || start >= base + 2 * t_refi_)
      k = start / t_refi_;
    else if (start >= base + t_refi_)
      k = k + 1;
    if (k == 0) return start;
    if (k > ch.refreshes_done) {  // a refresh happened since this channel was last used
      for (auto& b : ch.banks) b.open = false;
      ch.refreshes_done = k;
    }
    const Femtos window_end = k * t_refi_ + t_rfc_;
    if (start < window_end) {
      ++stats_.refresh_stalls;
      return window_end;
    }
    return start;
  }

  static bool is_pow2(uint64_t v) { return v && !(v & (v - 1)); }
  static unsigned log2(uint64_t v) { return static_cast<unsigned>(__builtin_ctzll(v)); }

  Femtos chunk(Femtos t, uint64_t addr, uint64_t bytes) {
    uint64_t line, channel, local, bank_index, row;
    if (pow2_) {
      line = addr >> interleave_shift_;
      channel = line & (c_.channels - 1);
      local = line >> channel_shift_;
      bank_index = (local >> row_chunk_shift_) & (c_.banks - 1);
      row = local >> (row_chunk_shift_ + bank_shift_);
    } else {
      line = addr / c_.interleave_bytes;
      channel = line % c_.channels;
      local = line / c_.channels;
      bank_index = (local / chunks_per_row_) % c_.banks;
      row = local / (chunks_per_row_ * c_.banks);
    }
    Channel& ch = channels_[channel];
    Bank& b = ch.banks[bank_index];
    Femtos cmd = after_refresh(ch, std::max(t, b.ready));
    if (b.open && b.row == row) {
      ++stats_.row_hits;
    } else if (!b.open) {
      ++stats_.row_empty;
      cmd += t_rcd_;
    } else {
      ++stats_.row_misses;
      cmd += t_rp_ + t_rcd_;
    }
    b.open = true;
    b.row = row;
    const Femtos transfer = bytes == c_.interleave_bytes
                                ? full_chunk_fs_
                                : static_cast<Femtos>(std::ceil(static_cast<double>(bytes) * fs_per_byte_));
    const Femtos data_start = std::max(cmd + t_cl_, ch.bus_free);
    ch.bus_free = data_start + transfer;
    // The next column command to this bank may issue once this one's data slot is known.
    b.ready = data_start - t_cl_;
    stats_.busy_fs += transfer;
    return ch.bus_free;
  }

  DramConfig c_;                                 ///< parameters
  Femtos t_rcd_, t_cl_, t_rp_, t_refi_, t_rfc_;  ///< timings
  double channel_bandwidth_;                     ///< bytes/s per channel
  double fs_per_byte_;                           ///< transfer time of one byte on a channel
  Femtos full_chunk_fs_;                         ///< transfer time of one interleave chunk
  bool pow2_ = false;                            ///< address map by shifts (all sizes powers of two)
  unsigned interleave_shift_ = 0, channel_shift_ = 0, row_chunk_shift_ = 0, bank_shift_ = 0;  ///< log2 of the sizes
  uint64_t chunks_per_row_;        ///< interleave chunks per row
  std::vector<Channel> channels_;  ///< state
};

const bool registered = DramRegistry::add(
    {"banked", "channels x banks, row buffers, tRCD/tCL/tRP, refresh",
     [](config::Section& s, DramConfig& c) {
       s.integer("channels", c.channels, "", "independent channels", 1, 1, 64);
       s.integer("banks", c.banks, "", "banks per channel", 8, 1, 256);
       s.integer("bus_bits", c.bus_bits, "bits", "data bus width per channel", 32, 8, 1024);
       s.real("data_rate", c.data_rate_mtps, "MT/s", "transfers per second per data pin", 3200, 1, 1e5);
       s.bytes("row_bytes", c.row_bytes, "row (page) size of one bank", 2048, 64, 1 << 20);
       s.bytes("interleave", c.interleave_bytes, "channel interleaving granularity", 256, 16, 1 << 20);
       s.time("tRCD", c.t_rcd_s, "activate to column command", 18e-9, 0, 1e-3);
       s.time("tCL", c.t_cl_s, "column command to first data", 18e-9, 0, 1e-3);
       s.time("tRP", c.t_rp_s, "precharge (close a row)", 18e-9, 0, 1e-3);
       s.time("tREFI", c.t_refi_s, "refresh interval (0: no refresh)", 3.9e-6);
       s.time("tRFC", c.t_rfc_s, "refresh cycle time", 280e-9, 0, 1e-3);
       s.check([&c] {
         if (c.row_bytes % c.interleave_bytes)
           throw std::invalid_argument("row_bytes (" + std::to_string(c.row_bytes) +
                                       ") must be a multiple of interleave (" + std::to_string(c.interleave_bytes) +
                                       ")");
         if (c.t_refi_s > 0 && c.t_rfc_s >= c.t_refi_s) throw std::invalid_argument("tRFC must be shorter than tREFI");
       });
     },
     [](const DramConfig& c) { return std::make_unique<BankedDram>(c); }});

}  // namespace

void describe_dram(config::Section& s, DramConfig& c) {
  config::impl_choice<DramConfig, DramModel>(s, c, "DRAM timing model", "simple");
}

}  // namespace npusim::memory
