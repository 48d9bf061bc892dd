#include "enas/train/run_dir.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>

#include "enas/util/error.h"

namespace enas {

namespace fs = std::filesystem;

namespace {

std::vector<std::pair<int64_t, std::string>> checkpoints_in(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  static const std::regex pattern(R"(ckpt-(\d+)\.pt)");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, pattern)) out.emplace_back(std::stoll(m[1]), entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string default_run_path(const std::string& command) {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return fmt::format("runs/{}-{}", command, stamp);
}

}  // namespace

RunDir RunDir::open(const std::string& requested, const std::string& command, bool resume,
                    bool reset) {
  std::string path = requested.empty() ? default_run_path(command) : requested;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    require(fs::is_directory(path, ec), "output folder {} exists and is not a folder", path);
  }
  if (resume) {
    require(!checkpoints_in(path).empty(),
            "--resume: {} holds no checkpoint (ckpt-<epoch>.pt) to resume from", path);
  } else if (!checkpoints_in(path).empty()) {
    require(reset,
            "output folder {} already holds a run; pass --resume to continue it, "
            "--reset_output_dir to start over, or another --out",
            path);
    for (const auto& entry : fs::directory_iterator(path)) fs::remove_all(entry.path());
  }
  fs::create_directories(path, ec);
  require(!ec, "cannot create output folder {}: {}", path, ec.message());
  // Probe that files can be created there now rather than after an hour of training.
  std::string probe = path + "/.write-test";
  {
    std::ofstream out(probe);
    require(out.good(), "output folder {} is not writable: {}", path, std::strerror(errno));
  }
  fs::remove(probe, ec);
  return RunDir(path);
}

void RunDir::write_file(const std::string& name, const std::string& text) const {
  std::string tmp = file(name + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    require(out.good(), "cannot write {}: {}", tmp, std::strerror(errno));
  }
  fs::rename(tmp, file(name));
}

std::optional<std::string> RunDir::latest_checkpoint() const {
  auto all = checkpoints_in(path_);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

void RunDir::save_checkpoint(
    int64_t epoch, const nlohmann::json& meta,
    const std::function<void(torch::serialize::OutputArchive&)>& fill) const {
  torch::serialize::OutputArchive archive;
  archive.write("meta", c10::IValue(meta.dump()));
  fill(archive);
  std::string final_path = file(fmt::format("ckpt-{}.pt", epoch));
  std::string tmp = final_path + ".tmp";
  try {
    archive.save_to(tmp);
  } catch (const c10::Error& e) {
    fail("cannot write checkpoint {}: {}", tmp, e.what_without_backtrace());
  }
  fs::rename(tmp, final_path);
  auto all = checkpoints_in(path_);
  for (size_t i = 0; i + 2 < all.size(); ++i) fs::remove(all[i].second);
}

nlohmann::json load_checkpoint(const std::string& path,
                               const std::function<void(torch::serialize::InputArchive&)>& read) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    fail("cannot read checkpoint {}: {}", path, e.what_without_backtrace());
  }
  c10::IValue meta;
  archive.read("meta", meta);
  read(archive);
  return nlohmann::json::parse(meta.toStringRef());
}

}  // namespace enas
