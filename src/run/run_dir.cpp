#include "enas/run/run_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>

#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/zip_verify.h"

namespace enas {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLockName = ".enas.lock";

// What a run writes: deleted by --reset_output_dir and by the clean-up of a run that never
// started; nothing else in a run folder is ever touched.
const std::set<std::string> kRunFiles = {
    "config.json",   "log.txt",      "metrics.jsonl", "arcs.jsonl", "result.json", "best_arc.txt",
    "best_arc.json", "best_arc.svg", "best_arc.dot",  "arc.svg",    "arc.dot",     "report.html",
    "vocab.txt",     "data.json",    "model.onnx",    "eval.json",  kLockName};

/// Files that make a folder "hold a run" (a lone log is a run that died before its first step).
bool marks_a_run(const std::string& name) {
  return name == "config.json" || name == "result.json" || parse_checkpoint_name(name);
}

/// A checkpoint set aside by a resume from an earlier one (RunDir::checkpoint_to_resume).
bool superseded_checkpoint(const std::string& name) {
  const std::string tail = ".superseded";
  return name.size() > tail.size() &&
         name.compare(name.size() - tail.size(), tail.size(), tail) == 0 &&
         parse_checkpoint_name(name.substr(0, name.size() - tail.size()));
}

/// "<name>.tmp": how earlier versions named their temporaries.
bool old_temporary(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
}

std::vector<std::string> entries_of(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::string default_run_path(const std::string& command) {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  // Two runs started in the same second get different folders.
  std::string base = fmt::format("runs/{}-{}", command, stamp), path = base;
  for (int n = 2; fs::exists(path); ++n) path = fmt::format("{}-{}", base, n);
  return path;
}

std::string CheckpointId::file_name() const {
  return batch == 0 ? fmt::format("ckpt-{}.pt", epoch) : fmt::format("ckpt-{}-{}.pt", epoch, batch);
}

std::optional<CheckpointId> parse_checkpoint_name(const std::string& name) {
  if (name.size() < 9 || name.rfind("ckpt-", 0) != 0 || name.substr(name.size() - 3) != ".pt") {
    return std::nullopt;
  }
  const std::string body = name.substr(5, name.size() - 8);
  const auto dash = body.find('-');
  auto number = [](const std::string& s) -> std::optional<int64_t> {
    if (s.empty() || s.size() > 15 || s.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    return std::stoll(s);
  };
  CheckpointId id;
  auto epoch = number(body.substr(0, dash));
  if (!epoch) return std::nullopt;
  id.epoch = *epoch;
  if (dash != std::string::npos) {
    auto batch = number(body.substr(dash + 1));
    if (!batch || *batch == 0) return std::nullopt;
    id.batch = *batch;
  }
  return id;
}

bool is_run_file(const std::string& name) {
  // The exact names a run writes: "ckpt-notes.txt" is not a checkpoint, and stays.
  const auto written = [](const std::string& n) {
    return kRunFiles.count(n) || parse_checkpoint_name(n) || superseded_checkpoint(n);
  };
  if (written(name)) return true;
  if (is_atomic_temporary(name)) return written(name.substr(1, name.rfind(".tmp-") - 1));
  return old_temporary(name) && written(name.substr(0, name.size() - 4));
}

struct RunDir::State {
  std::string path, command;
  bool resume = false;
  std::string resume_from;
  bool created = false;       // the folder did not exist before
  bool lock_created = false;  // nor did its lock file
  bool cleanup = false;       // a new run, checked: on failure before its start, remove its files
  bool started = false;
  bool follower = false;  // another process owns the folder
  int lock_fd = -1;
  std::string config_text;
  std::string resume_checkpoint;  // chosen once

  ~State() {
    if (cleanup && !started) {
      // A new run that failed before its first step leaves nothing behind.
      for (const auto& name : entries_of(path)) {
        if (is_run_file(name) && name != kLockName) ::unlink((path + "/" + name).c_str());
      }
    }
    if (!started && (cleanup || lock_created)) {
      ::unlink((path + "/" + kLockName).c_str());
    }
    if (created && !started) ::rmdir(path.c_str());  // only if empty: never a stranger's file
    if (lock_fd >= 0) ::close(lock_fd);
  }

  /// Takes the folder's lock, or says who holds it.
  void lock() {
    const std::string lock_path = path + "/" + kLockName;
    const int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
    lock_fd = ::open(lock_path.c_str(), flags | O_EXCL, 0644);
    lock_created = lock_fd >= 0;
    if (lock_fd < 0 && errno == EEXIST) lock_fd = ::open(lock_path.c_str(), flags, 0644);
    if (lock_fd < 0 && errno == ELOOP) fail("{} is a symbolic link: remove it", lock_path);
    require(lock_fd >= 0, "output folder {} is not writable: {}", path, std::strerror(errno));
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      char buf[128] = {0};
      const ssize_t n = ::pread(lock_fd, buf, sizeof(buf) - 1, 0);
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "another process";
      while (!holder.empty() && holder.back() == '\n') holder.pop_back();
      ::close(lock_fd);
      lock_fd = -1;
      lock_created = false;
      fail("run folder {} is in use by {}; wait for it to end or pass another --out", path, holder);
    }
    const std::string me = fmt::format("process {} (enas {})\n", ::getpid(), command);
    const bool written =
        ::ftruncate(lock_fd, 0) == 0 &&
        ::pwrite(lock_fd, me.data(), me.size(), 0) == static_cast<ssize_t>(me.size());
    const int err = errno;
    require(written, "cannot write {}: {}", lock_path, std::strerror(err));
  }
};

RunDir RunDir::open(const std::string& requested, const std::string& command, bool resume,
                    bool reset, const std::string& resume_from) {
  require(!(resume && reset), "--resume and --reset_output_dir contradict each other: pick one");
  auto s = std::make_shared<State>();
  s->path = requested.empty() ? default_run_path(command) : requested;
  s->command = command;
  s->resume = resume;
  s->resume_from = resume_from;
  const std::string& path = s->path;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    require(fs::is_directory(path, ec), "output folder {} exists and is not a folder", path);
  } else {
    require(!resume, "--resume: {} does not exist", path);
    fs::create_directories(path, ec);
    require(!ec, "cannot create output folder {}: {}", path, ec.message());
    s->created = true;
  }
  s->lock();
  // A folder of ours has the lock file a run left (or, before there was one, a run's record);
  // anything else already there is somebody's, whatever its files are called.
  const bool had_lock = !s->lock_created;

  std::vector<std::string> strangers, links;
  bool holds_run = false;
  for (const auto& name : entries_of(path)) {
    if (!is_run_file(name)) {
      strangers.push_back(name);
      continue;
    }
    holds_run = holds_run || marks_a_run(name);
    if (fs::is_symlink(path + "/" + name, ec)) links.push_back(name);
  }
  require(links.empty(),
          "{}/{} is a symbolic link: a run folder's files must be its own (remove the link)", path,
          links.empty() ? "" : links.front());
  if (!had_lock && !holds_run) {
    std::vector<std::string> present;
    for (const auto& name : entries_of(path)) {
      if (name != kLockName) present.push_back(name);
    }
    require(present.empty(),
            "output folder {} holds files no enas run wrote ({}{}); pass a new or empty folder "
            "as --out",
            path, present.empty() ? "" : present.front(),
            present.size() > 1 ? fmt::format(" and {} more", present.size() - 1) : "");
  }
  if (!holds_run && !strangers.empty()) {
    fail(
        "output folder {} holds files no enas run wrote ({}{}); pass a new or empty folder as "
        "--out",
        path, strangers.front(),
        strangers.size() > 1 ? fmt::format(" and {} more", strangers.size() - 1) : "");
  }
  RunDir run(s);
  if (resume) {
    require(!run.checkpoints().empty(),
            "--resume: {} holds no checkpoint (ckpt-<epoch>.pt) to resume from", path);
  } else if (holds_run) {
    require(reset,
            "output folder {} already holds a run; pass --resume to continue it, "
            "--reset_output_dir to start over, or another --out",
            path);
  }
  // Stale temporaries, and with reset (or after a run that never started) the run's files.
  for (const auto& name : entries_of(path)) {
    if (name == kLockName || !is_run_file(name)) continue;
    if (!resume || is_atomic_temporary(name) || old_temporary(name)) {
      const bool gone = ::unlink((path + "/" + name).c_str()) == 0 || errno == ENOENT;
      const int err = errno;
      require(gone, "cannot delete {}: {}", path + "/" + name, std::strerror(err));
    }
  }
  s->cleanup = !resume;
  if (reset && !strangers.empty()) {
    warn(fmt::format("--reset_output_dir kept {} file(s) no run writes in {} ({})",
                     strangers.size(), path, strangers.front()));
  }
  return run;
}

RunDir RunDir::follow(const std::string& path, const std::string& command,
                      const std::string& resume_checkpoint) {
  auto s = std::make_shared<State>();
  s->path = path;
  s->command = command;
  s->follower = true;
  s->resume = !resume_checkpoint.empty();
  s->resume_checkpoint = resume_checkpoint;
  return RunDir(s);
}

bool RunDir::writes() const { return !state_->follower; }

const std::string& RunDir::path() const { return state_->path; }

std::string RunDir::resume_command() const {
  return fmt::format("enas {} --resume --out {}", state_->command, state_->path);
}

void RunDir::write_file(const std::string& name, const std::string& text) const {
  if (state_->follower) return;
  write_file_atomic(file(name), text);
}

void RunDir::set_config(const std::string& json_text) const {
  state_->config_text = json_text;
  if (state_->started) write_file("config.json", json_text);
}

void RunDir::mark_started() const {
  if (state_->started) return;
  if (!state_->config_text.empty()) write_file("config.json", state_->config_text);
  state_->started = true;
}

std::vector<std::pair<CheckpointId, std::string>> RunDir::checkpoints() const {
  std::vector<std::pair<CheckpointId, std::string>> out;
  for (const auto& name : entries_of(path())) {
    if (auto id = parse_checkpoint_name(name)) out.emplace_back(*id, file(name));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

std::optional<std::string> RunDir::latest_checkpoint() const {
  auto all = checkpoints();
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

std::optional<std::string> RunDir::latest_epoch_checkpoint() const {
  auto all = checkpoints();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->first.at_epoch_end()) return it->second;
  }
  return std::nullopt;
}

std::string RunDir::checkpoint_to_resume() const {
  if (!state_->resume_checkpoint.empty()) return state_->resume_checkpoint;
  require(!state_->follower, "--resume: rank 0 named no checkpoint to resume from");
  auto all = checkpoints();
  require(!all.empty(), "--resume: {} holds no checkpoint to resume from", path());
  size_t chosen = all.size() - 1;
  if (!state_->resume_from.empty()) {
    const std::string name = fs::path(state_->resume_from).filename();
    auto it = std::find_if(all.begin(), all.end(),
                           [&](const auto& c) { return fs::path(c.second).filename() == name; });
    require(it != all.end(), "--resume_from {}: no such checkpoint in {}", state_->resume_from,
            path());
    chosen = static_cast<size_t>(it - all.begin());
    const std::string damage = zip_damage(it->second);
    require(damage.empty(), "--resume_from: checkpoint {} is damaged: {}", it->second, damage);
  } else if (const std::string damage = zip_damage(all.back().second); !damage.empty()) {
    std::string intact;
    for (size_t i = all.size() - 1; i-- > 0 && intact.empty();) {
      if (zip_damage(all[i].second).empty()) intact = all[i].second;
    }
    fail("the newest checkpoint {} is damaged: {}; {}", all.back().second, damage,
         intact.empty() ? std::string("no intact checkpoint is left: start over with "
                                      "--reset_output_dir")
                        : fmt::format("the one before it, {}, is intact: add --resume_from {} "
                                      "to continue from there",
                                      intact, fs::path(intact).filename().string()));
  }
  for (size_t i = chosen + 1; i < all.size(); ++i) {
    const std::string aside = all[i].second + ".superseded";
    const bool moved = ::rename(all[i].second.c_str(), aside.c_str()) == 0;
    const int err = errno;
    require(moved, "cannot rename {}: {}", all[i].second, std::strerror(err));
    warn(fmt::format("{} is newer than the checkpoint resumed from: renamed to {}", all[i].second,
                     aside));
  }
  state_->resume_checkpoint = all[chosen].second;
  return state_->resume_checkpoint;
}

std::string RunDir::save_checkpoint(
    CheckpointId id, const nlohmann::json& meta,
    const std::function<void(torch::serialize::OutputArchive&)>& fill) const {
  if (state_->follower) return file(id.file_name());
  torch::serialize::OutputArchive archive;
  archive.write("meta", c10::IValue(meta.dump()));
  fill(archive);
  const std::string final_path = file(id.file_name());
  AtomicFile out(final_path);
  // Streamed through AtomicFile, whose sink never fails: an error shows at commit() as an
  // enas::Error, never inside torch's writer (which would terminate the process).
  archive.save_to([&out](const void* data, size_t n) { return out.write(data, n); });
  out.commit();
  mark_started();
  // Keep the newest two epoch-end checkpoints, and the newest mid-epoch one if it is newer.
  auto all = checkpoints();
  int epoch_ends_kept = 0;
  bool newer_than_epoch_ends = true, mid_kept = false;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    bool keep;
    if (it->first.at_epoch_end()) {
      keep = epoch_ends_kept++ < 2;
      newer_than_epoch_ends = false;
    } else {
      keep = newer_than_epoch_ends && !mid_kept;
      mid_kept = mid_kept || keep;
    }
    if (!keep) ::unlink(it->second.c_str());
  }
  return final_path;
}

}  // namespace enas
