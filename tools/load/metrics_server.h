// A minimal HTTP endpoint for Prometheus scrapes: GET /metrics on 127.0.0.1 answers the text
// exposition (format 0.0.4); anything else gets 404. One connection at a time, no keep-alive.
#pragma once

#include <functional>
#include <string>

namespace npusim {

struct MetricsServerOptions {
  int port = 0;           ///< TCP port on 127.0.0.1 (0: the kernel picks one)
  double linger_s = 0;    ///< stop after this many seconds (0: until SIGINT or SIGTERM)
  std::string port_file;  ///< when set, the bound port is written here once listening
  bool announce = true;   ///< print the URL (with the bound port) on stdout once listening
};

/// Serves `body()` at /metrics until the linger time ends or a SIGINT/SIGTERM arrives.
/// Throws std::runtime_error when the port cannot be bound. Returns the number of scrapes served.
int serve_metrics(const MetricsServerOptions& o, const std::function<std::string()>& body);

}  // namespace npusim
