#include "enas/util/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

#include "enas/util/error.h"

namespace enas {

namespace {

std::string folder_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Eight hex digits no other process or earlier call can predict or repeat.
std::string random_suffix() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t seed = [] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }();
  std::mt19937_64 rng(
      seed ^ (static_cast<uint64_t>(getpid()) << 20) ^ counter.fetch_add(1) ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", static_cast<unsigned>(rng() & 0xffffffffu));
  return buf;
}

/// write(2) until all of `n` bytes are out; returns false with errno set on failure.
bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t done = ::write(fd, data, n);
    if (done < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (done == 0) {
      errno = EIO;
      return false;
    }
    data += done;
    n -= static_cast<size_t>(done);
  }
  return true;
}

/// A reason in words; EFBIG is what a file-size limit (ulimit -f) gives.
std::string reason(int err) {
  if (err == EFBIG) return std::string(std::strerror(err)) + " (the file-size limit, ulimit -f)";
  return std::strerror(err);
}

}  // namespace

bool is_atomic_temporary(const std::string& name) {
  const auto at = name.rfind(".tmp-");
  if (name.size() < 2 || name[0] != '.' || at == std::string::npos || name.size() != at + 13) {
    return false;
  }
  for (size_t i = at + 5; i < name.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  return true;
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  const std::string folder = folder_of(path_);
  for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
    tmp_ = folder + "/." + base_of(path_) + ".tmp-" + random_suffix();
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd_ < 0 && errno != EEXIST) break;
  }
  require(fd_ >= 0, "cannot write {}: cannot create a temporary file in {}: {}", path_, folder,
          reason(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::remember(const char* op) {
  if (errno_ == 0) {
    errno_ = errno ? errno : EIO;
    failed_ = op;
  }
}

size_t AtomicFile::write(const void* data, size_t n) {
  if (errno_ == 0 && !write_all(fd_, static_cast<const char*>(data), n)) remember("write");
  bytes_ += n;
  return n;
}

void AtomicFile::commit() {
  require(fd_ >= 0 && !tmp_.empty(), "{}: committed twice", path_);
  if (errno_ == 0 && ::fsync(fd_) != 0) remember("fsync");
  const int closed = ::close(fd_);
  fd_ = -1;
  if (errno_ == 0 && closed != 0) remember("close");
  if (errno_ == 0 && ::rename(tmp_.c_str(), path_.c_str()) != 0) remember("rename");
  if (errno_ != 0) {
    ::unlink(tmp_.c_str());
    tmp_.clear();
    fail("cannot write {} ({} of {} bytes): {}", path_, failed_, bytes_, reason(errno_));
  }
  tmp_.clear();  // renamed: nothing to remove
  // The rename is durable only once the folder's entry is on the disk.
  const std::string folder = folder_of(path_);
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  require(dir >= 0, "cannot sync folder {} after writing {}: {}", folder, path_, reason(errno));
  const int synced = ::fsync(dir);
  const int err = errno;
  ::close(dir);
  // Some file systems cannot sync a folder (EINVAL): the data itself is synced already.
  require(synced == 0 || err == EINVAL, "cannot sync folder {} after writing {}: {}", folder, path_,
          reason(err));
}

void write_file_atomic(const std::string& path, const std::string& text) {
  AtomicFile file(path);
  file.write(text);
  file.commit();
}

AppendFile::AppendFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0 && errno == ELOOP) fail("cannot write {}: it is a symbolic link", path_);
  require(fd_ >= 0, "cannot open {} for writing: {}", path_, reason(errno));
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AppendFile::append(const std::string& record) {
  // (The status first: the order in which a call's arguments are evaluated is unspecified.)
  const bool ok = write_all(fd_, record.data(), record.size());
  const int err = errno;
  require(ok, "cannot write {}: {}", path_, reason(err));
}

void AppendFile::sync() {
  const bool ok = ::fdatasync(fd_) == 0 || errno == EINVAL;
  const int err = errno;
  require(ok, "cannot write {} (fdatasync): {}", path_, reason(err));
}

std::string read_small_file(const std::string& path, const std::string& what, uint64_t max_bytes) {
  // Opened first, then asked what it is: the answer is about the file read, and O_NONBLOCK keeps
  // a FIFO from blocking the open (it is then refused as not a regular file).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  const int open_err = errno;
  require(fd >= 0, "cannot read {} {}: {}", what, path, std::strerror(open_err));
  struct stat st {};
  const bool found = ::fstat(fd, &st) == 0;
  const int err = errno;
  if (!found || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > max_bytes) ::close(fd);
  require(found, "cannot read {} {}: {}", what, path, std::strerror(err));
  require(!S_ISDIR(st.st_mode), "cannot read {} {}: it is a folder, not a file", what, path);
  require(S_ISREG(st.st_mode),
          "cannot read {} {}: it is not a regular file (a device, a FIFO or a socket)", what, path);
  require(static_cast<uint64_t>(st.st_size) <= max_bytes,
          "{} {} is {} bytes; more than the {} bytes such a file can be (is it the right file?)",
          what, path, st.st_size, max_bytes);
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int read_err = errno;
      ::close(fd);
      require(n == 0, "cannot read {} {}: {}", what, path, std::strerror(read_err));
      break;
    }
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > max_bytes) ::close(fd);
    require(text.size() <= max_bytes, "{} {} is more than {} bytes", what, path, max_bytes);
  }
  return text;
}

}  // namespace enas
