// `npusim serve`: the device behind a UNIX socket (include/npusim/wire.h, docs/wire-protocol.md),
// shared by any number of clients, with host memory shared as memfds; and register traces:
// `--record` logs every register access (and the memory a job sees when its doorbell is rung) so
// `npusim replay` can run the same session again and check every read.
#pragma once

#include <string>

#include "sim/config/npu_config.h"

namespace npusim::device {

struct ServeOptions {
  std::string socket_path;      ///< where to listen
  std::string record_path;      ///< register trace to write ("" none)
  bool exit_when_idle = false;  ///< stop when the last client has gone (tests, CI)
};

/// Serves until SIGINT/SIGTERM (or, with exit_when_idle, the last client leaves). Returns 0.
int serve(const config::NpuConfig& cfg, const ServeOptions& opts);

/// Replays a register trace against a fresh device; returns 0 when every recorded read matches,
/// else prints the first difference (file:line) and returns 1.
int replay(const config::NpuConfig& cfg, const std::string& trace_path);

}  // namespace npusim::device
