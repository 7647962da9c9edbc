// `npusim serve`: the device behind a UNIX socket (include/npusim/wire.h, docs/wire-protocol.md),
// shared by any number of clients, with host memory shared as memfds; and register traces:
// `--record` logs every register access (and the memory a job sees when its doorbell is rung) so
// `npusim replay` can run the same session again and check every read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/npu_config.h"
#include "tools/device/device.h"

namespace npusim::device {

struct ServeOptions {
  std::string socket_path;             ///< where to listen
  std::string record_path;             ///< register trace to write ("" none)
  bool exit_when_idle = false;         ///< stop when the last client has gone (tests, CI)
  std::vector<ScheduledFault> faults;  ///< armed by the device itself at their jobs (--fault)
  unsigned socket_mode = 0600;         ///< permissions of the socket (owner only unless widened)
  double idle_timeout_s = 60;          ///< a connection silent this long is closed (0: never)
  double job_wall_limit_s = 10;        ///< wall-clock seconds one job may run before WATCHDOG (0: no limit)
  uint64_t record_limit_bytes = uint64_t{1} << 30;  ///< --record stops (marked truncated) past this (0: no limit)
  /// Every context runs on one die (one clock, temperature and governor, as a chip's virtual
  /// functions do), so clients see each other's device time and heat; by default each has its own.
  bool shared_die = false;
};

/// Serves until SIGINT/SIGTERM (or, with exit_when_idle, the last client leaves). Returns 0.
/// Each client gets a context of the device of its own (docs/device.md, "Contexts"). Throws
/// std::runtime_error when the socket cannot be created (an existing path that is not a socket, a
/// live server on it, a path too long).
int serve(const config::NpuConfig& cfg, const ServeOptions& opts);

/// Replays a register trace against a fresh device; returns 0 when every recorded read matches,
/// else prints the first difference (file:line) and returns 1. A malformed line, or buffers over
/// `max_memory_bytes` in all, throws std::runtime_error naming file:line.
int replay(const config::NpuConfig& cfg, const std::string& trace_path, uint64_t max_memory_bytes = uint64_t{16} << 30);

}  // namespace npusim::device
