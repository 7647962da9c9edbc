// `npusim serve` (the register-level device behind a UNIX socket) and `npusim replay` (a recorded
// register trace against a fresh device).
#include <stdexcept>
#include <string>

#include "isa/diag.h"
#include "sim/npu_config.h"
#include "tools/cli/command.h"
#include "tools/device/server.h"

namespace npusim::cli {
namespace {

/// `npusim serve`: the device behind a UNIX socket (docs/wire-protocol.md).
int cmd_serve(const Args& a) {
  if (!a.has("--config") || !a.has("--socket")) throw UsageError("serve needs --config CONFIG.yaml and --socket PATH");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  device::ServeOptions o;
  o.socket_path = a.value("--socket");
  o.record_path = a.value("--record");
  o.exit_when_idle = a.flag("--exit-when-idle");
  for (const std::string& spec : a.values("--fault")) {
    try {
      o.faults.push_back(device::parse_fault(spec));
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--") + e.what());
    }
  }
  try {
    return device::serve(cfg, o);
  } catch (const std::runtime_error& e) {
    throw isa::InputError(e.what());
  }
}

/// `npusim replay`: a recorded register trace against a fresh device.
int cmd_replay(const Args& a) {
  if (a.positional().size() != 1 || !a.has("--config"))
    throw UsageError("replay needs TRACE.rtrace and --config CONFIG.yaml");
  const config::NpuConfig cfg = config::load_npu_config(a.value("--config"));
  try {
    return device::replay(cfg, a.positional()[0]) == 0 ? kExitOk : kExitFault;
  } catch (const std::runtime_error& e) {
    throw isa::InputError(e.what());
  }
}

const bool registered_serve = register_command({
    "serve",
    50,
    "serve the device on a UNIX socket for drivers in other processes",
    "usage: npusim serve --config CONFIG.yaml --socket PATH [--record RUN.rtrace] [--exit-when-idle]\n"
    "                    [--fault TYPE[:insn=N][:factor=N][:count=N][:job=N] ...]\n",
    "Runs the register-level device (docs/device.md) behind a UNIX socket speaking the protocol of\n"
    "include/npusim/wire.h (docs/wire-protocol.md); clients share host memory as memfds. Jobs run when\n"
    "their doorbell is written, so sessions are deterministic. --record writes a register trace for\n"
    "npusim replay; --exit-when-idle stops when the last client has gone.\n"
    "--fault arms a fault when the device starts job N (default 1; 0: at once), as a driver's\n"
    "FI_ARG/FI_CTRL writes would: bus_error, ecc or hang_engine at instruction insn (default 0),\n"
    "drop_irq, spurious_irq, slow_dram (DRAM bandwidth / factor, default 2) or stuck_reset, for\n"
    "count jobs (or resets). E.g. --fault bus_error:insn=1:job=3 fails the third job.\n",
    {
        valued("--config", "CONFIG.yaml", "the NPU behind the device"),
        valued("--socket", "PATH", "the UNIX socket to listen on"),
        valued("--record", "RUN.rtrace", "write a register trace for npusim replay"),
        flag("--exit-when-idle", "stop when the last client has gone"),
        repeated("--fault", "TYPE[:insn=N][:factor=N][:count=N][:job=N]", "arm a fault when job N starts (above)"),
    },
    "",
    cmd_serve,
});

const bool registered_replay = register_command({
    "replay",
    60,
    "replay a recorded register trace and check every read",
    "usage: npusim replay RUN.rtrace --config CONFIG.yaml\n",
    "Replays the register writes, memory contents and idle time of a trace recorded by\n"
    "npusim serve --record against a fresh device and checks that every register read returns\n"
    "what was recorded (exit 1 naming the first line that differs).\n",
    {
        valued("--config", "CONFIG.yaml", "the NPU the trace was recorded on"),
    },
    "",
    cmd_replay,
});

}  // namespace
}  // namespace npusim::cli
