#pragma once
/// Every file the project writes goes through this header. Whole files (checkpoints, config.json,
/// result.json, best_arc.*) are written atomically: a temporary beside the target, created with
/// O_EXCL | O_NOFOLLOW under an unpredictable name, fsync, rename over the target, fsync of the
/// folder. Logs (log.txt, metrics.jsonl, arcs.jsonl) are appended record by record. Every status
/// is checked: a failure is an enas::Error naming the file and the operating system's reason, the
/// partial temporary is removed and the previous version of the target stays as it was.
#include <cstddef>
#include <cstdint>
#include <string>

namespace enas {

/// A file written in one piece. `write` never throws: the first error is remembered and the rest
/// of the bytes are dropped, so that a serializer writing through it (torch's checkpoint writer
/// throws from a destructor when its sink fails) never sees a failure; `commit` reports it.
/// Destroyed without a successful commit, the temporary is removed and the target is untouched.
class AtomicFile {
 public:
  /// Creates the temporary in `path`'s folder; throws enas::Error when it cannot.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends `n` bytes; returns `n` (a failure shows at commit()).
  size_t write(const void* data, size_t n);
  void write(const std::string& text) { write(text.data(), text.size()); }
  /// Bytes accepted so far.
  uint64_t size() const { return bytes_; }
  /// Flushes to the disk, closes and renames over the target, then syncs the folder. Throws
  /// enas::Error on any failure, the target then keeping its previous content.
  void commit();

 private:
  void remember(const char* op);
  std::string path_, tmp_;
  int fd_ = -1;
  int errno_ = 0;            // the first failure's errno
  const char* failed_ = "";  // ... and what failed
  uint64_t bytes_ = 0;
};

/// Writes `text` to `path` with an AtomicFile.
void write_file_atomic(const std::string& path, const std::string& text);

/// A log opened for appending: O_APPEND | O_NOFOLLOW (a symbolic link planted in its place is
/// refused), each record written whole with one checked call.
class AppendFile {
 public:
  /// Opens (creating) `path`; throws enas::Error when it cannot.
  explicit AppendFile(std::string path);
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  /// Appends `record`; throws enas::Error naming the file when not all of it was written.
  void append(const std::string& record);
  /// Flushes what was appended to the disk (at checkpoints); throws enas::Error on failure.
  void sync();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

/// The whole content of the regular file `path`, at most `max_bytes` long. `what` names it in
/// errors ("config file", "architecture file"), which say what is wrong in words: missing, a
/// folder, too large, unreadable.
std::string read_small_file(const std::string& path, const std::string& what, uint64_t max_bytes);

/// Whether `name` is a temporary that AtomicFile makes (".<target>.tmp-<8 hex digits>").
bool is_atomic_temporary(const std::string& name);

}  // namespace enas
