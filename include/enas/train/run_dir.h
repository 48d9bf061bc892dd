#pragma once
/// A run folder: config.json, log.txt, metrics.jsonl, checkpoints (ckpt-<epoch>.pt, the last two
/// kept, each written to a temporary file and renamed into place).
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace enas {

class RunDir {
 public:
  /// Opens `path` ("" = runs/<command>-<date>-<time>). A folder that already holds a checkpoint
  /// is an error unless `resume` (continue it) or `reset` (empty it first). Checks that the folder
  /// can be written and says why not.
  static RunDir open(const std::string& path, const std::string& command, bool resume, bool reset);

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  /// Writes `text` to `name` atomically (temporary file + rename).
  void write_file(const std::string& name, const std::string& text) const;

  /// The newest checkpoint, if any.
  std::optional<std::string> latest_checkpoint() const;

  /// Saves checkpoint `epoch`: `fill` writes into the archive; `meta` is stored beside it.
  /// Keeps the newest two checkpoints.
  void save_checkpoint(int64_t epoch, const nlohmann::json& meta,
                       const std::function<void(torch::serialize::OutputArchive&)>& fill) const;

 private:
  explicit RunDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

/// Reads a checkpoint: `read` gets the archive; returns its meta.
nlohmann::json load_checkpoint(const std::string& path,
                               const std::function<void(torch::serialize::InputArchive&)>& read);

}  // namespace enas
