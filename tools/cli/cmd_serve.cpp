// `npusim serve` (the register-level device behind a UNIX socket) and `npusim replay` (a recorded
// register trace against a fresh device).
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "base/units.h"
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
  o.shared_die = a.flag("--shared-die");
  for (const std::string& spec : a.values("--fault")) {
    try {
      o.faults.push_back(device::parse_fault(spec));
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--") + e.what());
    }
  }
  auto seconds = [&](const char* name, double& out) {
    if (a.has(name) && (!config::parse_time(a.value(name), out) || !(out >= 0) || out > 1e9))
      throw UsageError(std::string(name) + " expects a time such as 30s or 0 (none), got '" + a.value(name) + "'");
  };
  seconds("--idle-timeout", o.idle_timeout_s);
  seconds("--job-wall-limit", o.job_wall_limit_s);
  if (a.has("--record-limit") && !config::parse_bytes(a.value("--record-limit"), o.record_limit_bytes))
    throw UsageError("--record-limit expects a size such as 100MiB or 0 (none), got '" + a.value("--record-limit") +
                     "'");
  if (a.has("--socket-mode")) {
    const std::string m = a.value("--socket-mode");
    char* end = nullptr;
    const unsigned long mode = std::strtoul(m.c_str(), &end, 8);
    if (m.empty() || *end || mode > 0777 || (mode & 0600) != 0600)
      throw UsageError("--socket-mode expects octal permissions that keep the owner's rw, such as 0600 or 0660, got '" +
                       m + "'");
    o.socket_mode = static_cast<unsigned>(mode);
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
  uint64_t max_memory = uint64_t{16} << 30;
  if (a.has("--max-memory") && (!config::parse_bytes(a.value("--max-memory"), max_memory) || max_memory == 0))
    throw UsageError("--max-memory expects a size such as 4GiB, got '" + a.value("--max-memory") + "'");
  try {
    return device::replay(cfg, a.positional()[0], max_memory) == 0 ? kExitOk : kExitFault;
  } catch (const std::runtime_error& e) {
    throw isa::InputError(e.what());
  }
}

const bool registered_serve = register_command({
    "serve",
    50,
    "serve the device on a UNIX socket for drivers in other processes",
    "usage: npusim serve --config CONFIG.yaml --socket PATH [--record RUN.rtrace] [--exit-when-idle]\n"
    "                    [--fault TYPE[:insn=N][:factor=N][:count=N][:job=N] ...] [--socket-mode MODE]\n"
    "                    [--idle-timeout T] [--job-wall-limit T] [--record-limit BYTES] [--shared-die]\n",
    "Runs the register-level device (docs/device.md) behind a UNIX socket speaking the protocol of\n"
    "include/npusim/wire.h (docs/wire-protocol.md); clients share host memory as memfds. Jobs run when\n"
    "their doorbell is written, so sessions are deterministic. --record writes a register trace for\n"
    "npusim replay; --exit-when-idle stops when the last client has gone. Each client gets a\n"
    "context of the device of its own (docs/device.md, Contexts): its registers, queue, interrupts,\n"
    "errors, counters, resets and die (clock, temperature, throttling); it reaches only its own\n"
    "buffers. --shared-die puts every context on one die, as a chip's virtual functions share it.\n"
    "--fault arms a fault when a client's context starts its job N (with --shared-die: the\n"
    "device's job N; default 1; 0: at once), as a driver's\n"
    "FI_ARG/FI_CTRL writes would: bus_error, ecc or hang_engine at instruction insn (default 0),\n"
    "drop_irq, spurious_irq, slow_dram (DRAM bandwidth / factor, default 2) or stuck_reset, for\n"
    "count jobs (or resets). E.g. --fault bus_error:insn=1:job=3 fails the third job.\n",
    {
        valued("--config", "CONFIG.yaml", "the NPU behind the device"),
        valued("--socket", "PATH", "the UNIX socket to listen on"),
        valued("--record", "RUN.rtrace", "write a register trace for npusim replay"),
        flag("--exit-when-idle", "stop when the last client has gone"),
        repeated("--fault", "TYPE[:insn=N][:factor=N][:count=N][:job=N]", "arm a fault when job N starts (above)"),
        valued("--socket-mode", "MODE", "octal permissions of the socket (default 0600: its owner only)"),
        valued("--idle-timeout", "T", "close a connection silent for T (default 60s; 0: never)"),
        valued("--job-wall-limit", "T",
               "end a job running longer than T of wall-clock time with WATCHDOG (default 10s; 0: none)"),
        valued("--record-limit", "BYTES", "stop --record past this size, marked truncated (default 1GiB; 0: none)"),
        flag("--shared-die", "run every client's context on one die: device time, temperature and throttling shared"),
    },
    "",
    cmd_serve,
});

const bool registered_replay = register_command({
    "replay",
    60,
    "replay a recorded register trace and check every read",
    "usage: npusim replay RUN.rtrace --config CONFIG.yaml [--max-memory BYTES]\n",
    "Replays the register writes, memory contents and idle time of a trace recorded by\n"
    "npusim serve --record against a fresh device and checks that every register read returns\n"
    "what was recorded (exit 1 naming the first line that differs).\n",
    {
        valued("--config", "CONFIG.yaml", "the NPU the trace was recorded on"),
        valued("--max-memory", "BYTES", "refuse a trace whose buffers need more than this in all (default 16GiB)"),
    },
    "",
    cmd_replay,
});

}  // namespace
}  // namespace npusim::cli
