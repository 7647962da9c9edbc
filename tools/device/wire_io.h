// Sending one message of the socket protocol (include/npusim/wire.h), optionally passing a file
// descriptor: shared by the server, the C API's socket transport and the tests' raw client.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "npusim/wire.h"

namespace npusim::device {

/// One message's bytes: the header, then the payload; `claimed_len` (tests only) puts another
/// length in the header than follows it.
inline std::vector<uint8_t> wire_frame(uint16_t type, uint64_t req, uint64_t cycle, const void* payload, uint32_t len,
                                       uint32_t claimed_len = UINT32_MAX) {
  const npu_wire_header h{type, 0, claimed_len == UINT32_MAX ? len : claimed_len, req, cycle};
  std::vector<uint8_t> buf(sizeof h + len);
  std::memcpy(buf.data(), &h, sizeof h);
  if (len) std::memcpy(buf.data() + sizeof h, payload, len);
  return buf;
}

/// An ERROR message: the NPU_E* code, then the text.
inline std::vector<uint8_t> wire_error_frame(uint64_t req, uint64_t cycle, int32_t code, const std::string& text) {
  std::vector<uint8_t> p(4 + text.size());
  std::memcpy(p.data(), &code, 4);
  std::memcpy(p.data() + 4, text.data(), text.size());
  return wire_frame(NPU_MSG_ERROR, req, cycle, p.data(), static_cast<uint32_t>(p.size()));
}

/// Sends one message (blocking), optionally passing a file descriptor.
inline bool wire_send(int fd, uint16_t type, uint64_t req, uint64_t cycle, const void* payload, uint32_t len,
                      int pass_fd = -1, uint32_t claimed_len = UINT32_MAX) {
  std::vector<uint8_t> buf = wire_frame(type, req, cycle, payload, len, claimed_len);
  iovec iov{buf.data(), buf.size()};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {  // the descriptor travels as SCM_RIGHTS ancillary data
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  size_t sent = 0;
  while (sent < buf.size()) {
    const ssize_t n = ::sendmsg(fd, &m, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;  // a signal (a driver's timer, SIGCHLD) is no error
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
    if (sent < buf.size()) {  // the rest without the descriptor
      iov.iov_base = buf.data() + sent;
      iov.iov_len = buf.size() - sent;
      m.msg_control = nullptr;
      m.msg_controllen = 0;
    }
  }
  return true;
}

}  // namespace npusim::device
