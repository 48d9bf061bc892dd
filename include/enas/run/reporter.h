#pragma once
/// Training loops emit events; listeners turn them into console lines, log.txt, metrics.jsonl and
/// a search's arcs.jsonl. A progress display or a plot is just another listener.
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "enas/util/files.h"

namespace enas {

/// One logged child training step (every log_every steps).
struct StepEvent {
  int64_t epoch = 0;  // global_step / batches_per_epoch, as the authors print it
  int64_t step = 0;   // global step, 1-based after the first update
  double loss = 0, lr = 0, grad_norm = 0;
  int64_t correct = 0, batch = 0;
  double minutes = 0;
};

/// Every training step, the controller's too, before any number is read back from the device:
/// what a progress display counts (the logged StepEvent comes only every log_every steps).
struct TickEvent {
  const char* phase = "child";  // child | controller
  int64_t epoch = 0;            // epochs completed
  int64_t step = 0;             // global step of the phase (child: as StepEvent's)
  int64_t items = 0;            // images or tokens the step trained on (controller: 0)
};

/// An accuracy measured on a whole split.
struct EvalEvent {
  int64_t epoch = 0, step = 0;
  std::string split;  // valid | test
  double accuracy = 0;
  int64_t correct = 0, total = 0;
};

/// The end of an epoch.
struct EpochEvent {
  int64_t epoch = 0, step = 0;  // epochs completed, global step
  double train_loss = 0, train_acc = 0, lr = 0, seconds = 0, images_per_s = 0;
};

class Listener {
 public:
  virtual ~Listener() = default;
  virtual void on_message(const std::string& text) {}
  virtual void on_step(const StepEvent& e) {}
  virtual void on_tick(const TickEvent& e) {}
  virtual void on_eval(const EvalEvent& e) {}
  virtual void on_epoch(const EpochEvent& e) {}
  /// Any other record for metrics.jsonl ("kind" names it).
  virtual void on_record(const nlohmann::json& record) {}
  /// An architecture a search sampled and scored ("kind": controller | shown | derive).
  virtual void on_arc(const nlohmann::json& record) {}
  /// A checkpoint is about to be written: what was reported so far must be on disk.
  virtual void on_sync() {}
};

class Reporter {
 public:
  void add(std::shared_ptr<Listener> listener) { listeners_.push_back(std::move(listener)); }
  void message(const std::string& text);
  void step(const StepEvent& e);
  void tick(const TickEvent& e);
  void eval(const EvalEvent& e);
  void epoch(const EpochEvent& e);
  void record(const nlohmann::json& r);
  void arc(const nlohmann::json& r);
  void sync();

 private:
  std::vector<std::shared_ptr<Listener>> listeners_;
};

/// Prints the authors' log lines to stdout and, when `log_path` is set, appends them to it
/// (a failed write is an enas::Error).
class ConsoleListener : public Listener {
 public:
  explicit ConsoleListener(const std::string& log_path = "");
  void on_message(const std::string& text) override;
  void on_step(const StepEvent& e) override;
  void on_eval(const EvalEvent& e) override;
  void on_epoch(const EpochEvent& e) override;

 private:
  void line(const std::string& text);
  std::unique_ptr<AppendFile> log_;
  std::mutex mutex_;
};

/// Appends one JSON object per event to metrics.jsonl, each checked (a failed write is an
/// enas::Error).
class MetricsListener : public Listener {
 public:
  explicit MetricsListener(const std::string& path);
  void on_step(const StepEvent& e) override;
  void on_eval(const EvalEvent& e) override;
  void on_epoch(const EpochEvent& e) override;
  void on_record(const nlohmann::json& record) override;

 private:
  void write(const nlohmann::json& j);
  AppendFile out_;
};

/// Appends one JSON object per scored architecture to a search's arcs.jsonl, each checked.
class ArcsListener : public Listener {
 public:
  explicit ArcsListener(const std::string& path);
  void on_arc(const nlohmann::json& record) override;
  void on_sync() override;

 private:
  AppendFile out_;
};

}  // namespace enas
