#include "tools/load/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace npusim {
namespace {

std::atomic<bool> g_stop{false};  ///< set by SIGINT/SIGTERM while serving
void on_signal(int) {
  g_stop = true;
}

/// Writes all of `s` (the peer may close early: errors end the answer quietly).
void send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

/// Reads the request head (up to the blank line, at most 8 KiB, at most 2 s) and answers it.
bool answer(int fd, const std::function<std::string()>& body) {
  std::string req;
  char buf[1024];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 8192) {
    pollfd p{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    req.append(buf, static_cast<size_t>(n));
  }
  const bool metrics = req.rfind("GET /metrics ", 0) == 0 || req.rfind("GET /metrics?", 0) == 0;
  const std::string text = metrics ? body() : "not found: try /metrics\n";
  send_all(fd, std::string(metrics ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.0 404 Not Found\r\n") +
                   "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
                   std::to_string(text.size()) + "\r\nConnection: close\r\n\r\n" + text);
  return metrics;
}

}  // namespace

int serve_metrics(const MetricsServerOptions& o, const std::function<std::string()>& body) {
  const int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) throw std::runtime_error(std::string("metrics endpoint: socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // localhost only: no authentication here
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  if (::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(ls, 16) != 0) {
    const std::string err = std::strerror(errno);
    ::close(ls);
    throw std::runtime_error("metrics endpoint: cannot listen on 127.0.0.1:" + std::to_string(o.port) + ": " + err);
  }
  socklen_t len = sizeof addr;
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len);
  if (!o.port_file.empty()) std::ofstream(o.port_file) << ntohs(addr.sin_port) << "\n";
  if (o.announce) {
    std::printf("  metrics on http://127.0.0.1:%u/metrics %s\n", ntohs(addr.sin_port),
                o.linger_s > 0 ? "until the linger time ends" : "until interrupted");
    std::fflush(stdout);
  }
  g_stop = false;
  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.linger_s);
  int scrapes = 0;
  while (!g_stop) {
    int wait_ms = 200;  // wake up to notice signals and the linger deadline
    if (o.linger_s > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      wait_ms = static_cast<int>(std::min<long long>(wait_ms, left.count()));
    }
    pollfd p{ls, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) <= 0) continue;
    const int fd = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    scrapes += answer(fd, body);
    ::close(fd);
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::close(ls);
  return scrapes;
}

}  // namespace npusim
