#include "enas/util/zip_verify.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "enas/util/text.h"

namespace enas {

namespace {

// The zip format's records (PKWARE APPNOTE 6.3): end of central directory, its zip64 form and
// locator, central directory entries, local headers.
constexpr uint32_t kEndSig = 0x06054b50, kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) { return u16(p) | (static_cast<uint32_t>(u16(p + 2)) << 16); }
uint64_t u64(const uint8_t* p) { return u32(p) | (static_cast<uint64_t>(u32(p + 4)) << 32); }

/// A file read with pread, every range checked against its size.
class Reader {
 public:
  explicit Reader(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat st {};
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
    if (fd_ >= 0) error_ = 0;
  }
  ~Reader() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int error() const { return error_; }
  uint64_t size() const { return size_; }
  /// `n` bytes at `offset`, or empty when the range is not inside the file.
  std::vector<uint8_t> read(uint64_t offset, uint64_t n) const {
    if (offset > size_ || n > size_ - offset) return {};
    std::vector<uint8_t> out(n);
    uint64_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, out.data() + done, n - done, offset + done);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return {};
      done += static_cast<uint64_t>(got);
    }
    return out;
  }

 private:
  int fd_;
  int error_ = errno;
  uint64_t size_ = 0;
};

struct Entry {
  std::string name;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t size = 0, local_offset = 0;
};

/// The central directory, or an error message.
std::string read_directory(const Reader& f, std::vector<Entry>& entries) {
  const uint64_t tail = std::min<uint64_t>(f.size(), 65535 + 22);
  const auto end = f.read(f.size() - tail, tail);
  if (end.size() < 22) return fmt::format("it is {} bytes, too short for a checkpoint", f.size());
  int64_t at = static_cast<int64_t>(end.size()) - 22;
  while (at >= 0 && u32(&end[at]) != kEndSig) --at;
  if (at < 0) return fmt::format("it is {} bytes and has no zip directory: cut short?", f.size());
  const uint64_t end_offset = f.size() - tail + static_cast<uint64_t>(at);
  uint64_t count = u16(&end[at + 10]), dir_size = u32(&end[at + 12]), dir_at = u32(&end[at + 16]);
  if (count == 0xffff || dir_size == 0xffffffffu || dir_at == 0xffffffffu) {
    const auto locator = end_offset >= 20 ? f.read(end_offset - 20, 20) : std::vector<uint8_t>{};
    if (locator.size() != 20 || u32(locator.data()) != kLocator64Sig) {
      return "its zip64 directory locator is damaged";
    }
    const auto end64 = f.read(u64(&locator[8]), 56);
    if (end64.size() != 56 || u32(end64.data()) != kEnd64Sig)
      return "its zip64 directory is damaged";
    count = u64(&end64[32]);
    dir_size = u64(&end64[40]);
    dir_at = u64(&end64[48]);
  }
  const auto dir = f.read(dir_at, dir_size);
  if (dir.size() != dir_size || dir_size == 0) return "its zip directory is damaged";
  size_t p = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (p + 46 > dir.size() || u32(&dir[p]) != kCentralSig) return "its zip directory is damaged";
    Entry e;
    e.method = u16(&dir[p + 10]);
    e.crc = u32(&dir[p + 16]);
    uint64_t compressed = u32(&dir[p + 20]);
    e.size = u32(&dir[p + 24]);
    const size_t name_len = u16(&dir[p + 28]), extra_len = u16(&dir[p + 30]);
    const size_t comment_len = u16(&dir[p + 32]);
    e.local_offset = u32(&dir[p + 42]);
    if (p + 46 + name_len + extra_len + comment_len > dir.size()) {
      return "its zip directory is damaged";
    }
    e.name.assign(reinterpret_cast<const char*>(&dir[p + 46]), name_len);
    // Sizes and offsets too large for 32 bits are in the zip64 extra field, in this order.
    for (size_t x = p + 46 + name_len; x + 4 <= p + 46 + name_len + extra_len;) {
      const uint16_t id = u16(&dir[x]), len = u16(&dir[x + 2]);
      size_t v = x + 4;
      if (id == 1) {
        if (e.size == 0xffffffffu && v + 8 <= x + 4 + len) e.size = u64(&dir[v]), v += 8;
        if (compressed == 0xffffffffu && v + 8 <= x + 4 + len) compressed = u64(&dir[v]), v += 8;
        if (e.local_offset == 0xffffffffu && v + 8 <= x + 4 + len) e.local_offset = u64(&dir[v]);
      }
      x += 4 + len;
    }
    if (e.method == 0 && compressed != e.size) return "its zip directory is damaged";
    entries.push_back(std::move(e));
    p += 46 + name_len + extra_len + comment_len;
  }
  // The directory holds its `count` entries and nothing else (a changed count reads as fewer).
  if (p != dir.size()) return "its zip directory is damaged";
  return "";
}

// What identifies a file's bytes without reading them: any write changes the change time
// (which no program can set back), a replacement (checkpoints are renamed into place) the inode.
struct Stamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t ctime_ns = 0, mtime_ns = 0;
  bool operator==(const Stamp& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && ctime_ns == o.ctime_ns &&
           mtime_ns == o.mtime_ns;
  }
};

int64_t ns(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

bool stamp_of(const std::string& path, Stamp& stamp) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  stamp = {st.st_dev, st.st_ino, st.st_size, ns(st.st_ctim), ns(st.st_mtim)};
  return true;
}

// Files found intact by this process, as they were then: a resume reads its checkpoint three
// times (choosing it, checking its kind, loading it) and verifies its bytes once. File times
// are kept at the kernel's tick, so a write in the same tick as the check would leave the stamp
// as it was: only files unchanged for a second before the check are remembered.
constexpr int64_t kSettledNs = 1000000000;
std::mutex intact_mutex;
std::map<std::string, Stamp> intact;
std::atomic<uint64_t> bytes_verified{0};

std::string check_records(const std::string& path) {
  Reader f(path);
  if (!f.ok()) return fmt::format("it cannot be opened: {}", std::strerror(f.error()));
  std::vector<Entry> entries;
  std::string bad = read_directory(f, entries);
  if (!bad.empty()) return bad;
  if (entries.empty()) return "it holds no records";
  constexpr uint64_t kChunk = 1 << 22;
  for (const auto& e : entries) {
    const auto local = f.read(e.local_offset, 30);
    if (local.size() != 30 || u32(local.data()) != kLocalSig) {
      return fmt::format("the header of record '{}' is damaged", escaped(e.name));
    }
    // The directory's name of a record is its header's: a changed byte in either is damage.
    const auto local_name = f.read(e.local_offset + 30, u16(&local[26]));
    if (std::string(local_name.begin(), local_name.end()) != e.name) {
      return fmt::format(
          "its zip directory is damaged (record '{}' is named otherwise in its "
          "header)",
          escaped(e.name));
    }
    if (e.method != 0) continue;  // compressed: libtorch never writes these
    const uint64_t data_at = e.local_offset + 30 + u16(&local[26]) + u16(&local[28]);
    if (data_at > f.size() || e.size > f.size() - data_at) {
      return fmt::format("it is {} bytes, cut short inside record '{}'", f.size(), escaped(e.name));
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < e.size; done += kChunk) {
      const uint64_t n = std::min(kChunk, e.size - done);
      const auto bytes = f.read(data_at + done, n);
      if (bytes.size() != n) return fmt::format("record '{}' cannot be read", escaped(e.name));
      crc = crc32(crc, bytes.data(), static_cast<uInt>(n));
    }
    bytes_verified += e.size;
    if (static_cast<uint32_t>(crc) != e.crc) {
      return fmt::format("record '{}' fails its CRC-32 check (its bytes changed after writing)",
                         escaped(e.name));
    }
  }
  return "";
}

}  // namespace

std::string zip_damage(const std::string& path) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  Stamp before;
  const bool stamped = stamp_of(path, before);
  if (stamped) {
    std::lock_guard<std::mutex> lock(intact_mutex);
    auto it = intact.find(path);
    if (it != intact.end() && it->second == before) return "";
  }
  std::string damage = check_records(path);
  Stamp after;
  // Only bytes that did not change while they were read count as verified.
  if (damage.empty() && stamped && before.ctime_ns < ns(now) - kSettledNs &&
      stamp_of(path, after) && after == before) {
    std::lock_guard<std::mutex> lock(intact_mutex);
    intact[path] = after;
  }
  return damage;
}

uint64_t zip_bytes_verified() { return bytes_verified.load(); }

}  // namespace enas
