#include "base/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace npusim {
namespace {

[[noreturn]] void refuse(const std::string& path, const char* what, const std::string& why) {
  throw InputError(path + ": cannot read " + what + ": " + why);
}

}  // namespace

const char* describe_file_type(unsigned mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

uint64_t require_input_file(const std::string& path, const char* what) {
  if (path.empty()) throw InputError(std::string("empty path given for the ") + what);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) refuse(path, what, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) refuse(path, what, std::string("it is ") + describe_file_type(st.st_mode) + ", not a file");
  if (::access(path.c_str(), R_OK) != 0) refuse(path, what, std::strerror(errno));
  return static_cast<uint64_t>(st.st_size);
}

namespace {

/// read_input_file into any contiguous byte buffer (std::string, std::vector<uint8_t>).
template <class Buffer>
Buffer read_whole(const std::string& path, const char* what, uint64_t max_bytes) {
  require_input_file(path, what);
  // Open without blocking (the path could have been swapped for a FIFO since the check), then
  // check what was opened, so the size limit holds before a byte is read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) refuse(path, what, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    refuse(path, what, std::string("it is ") + describe_file_type(st.st_mode) + ", not a file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    refuse(path, what,
           std::to_string(st.st_size) + " bytes, more than the " + std::to_string(max_bytes) + " bytes accepted");
  }
  Buffer out(static_cast<size_t>(st.st_size), 0);
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, reinterpret_cast<char*>(out.data()) + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      refuse(path, what, std::strerror(e));
    }
    if (n == 0) break;  // shrank while reading: what is there
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

}  // namespace

std::string read_input_file(const std::string& path, const char* what, uint64_t max_bytes) {
  return read_whole<std::string>(path, what, max_bytes);
}

std::vector<uint8_t> read_input_bytes(const std::string& path, const char* what, uint64_t max_bytes) {
  return read_whole<std::vector<uint8_t>>(path, what, max_bytes);
}

}  // namespace npusim
