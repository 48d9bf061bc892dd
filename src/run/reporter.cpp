#include "enas/run/reporter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "enas/util/error.h"
#include "enas/util/text.h"

namespace enas {

void Reporter::message(const std::string& text) {
  for (auto& l : listeners_) l->on_message(text);
}
void Reporter::step(const StepEvent& e) {
  for (auto& l : listeners_) l->on_step(e);
}
void Reporter::tick(const TickEvent& e) {
  for (auto& l : listeners_) l->on_tick(e);
}
void Reporter::eval(const EvalEvent& e) {
  for (auto& l : listeners_) l->on_eval(e);
}
void Reporter::epoch(const EpochEvent& e) {
  for (auto& l : listeners_) l->on_epoch(e);
}
void Reporter::arc(const nlohmann::json& r) {
  for (auto& l : listeners_) l->on_arc(r);
}

void Reporter::sync() {
  for (auto& l : listeners_) l->on_sync();
}

void Reporter::record(const nlohmann::json& r) {
  for (auto& l : listeners_) l->on_record(r);
}

ConsoleListener::ConsoleListener(const std::string& log_path) {
  if (!log_path.empty()) log_ = std::make_unique<AppendFile>(log_path);
}

void ConsoleListener::line(const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  write_stdout(text + "\n");
  if (log_) log_->append(text + "\n");
}

void ConsoleListener::on_message(const std::string& text) {
  // Multi-line messages go out as they are; a trailing newline is not doubled.
  if (!text.empty() && text.back() == '\n') {
    line(text.substr(0, text.size() - 1));
  } else {
    line(text);
  }
}

void ConsoleListener::on_step(const StepEvent& e) {
  // main.py's format, field for field.
  line(
      fmt::format("epoch={:<6d}ch_step={:<6d} loss={:<8.6f} lr={:<8.4f} |g|={:<8.4f} "
                  "tr_acc={:<3d}/{:>3d} mins={:<10.2f}",
                  e.epoch, e.step, e.loss, e.lr, e.grad_norm, e.correct, e.batch, e.minutes));
}

void ConsoleListener::on_eval(const EvalEvent& e) {
  line(fmt::format("Eval at {}", e.step));
  line(fmt::format("{}_accuracy: {:<6.4f}", e.split, e.accuracy));
}

void ConsoleListener::on_epoch(const EpochEvent& e) {
  line(
      fmt::format("Epoch {} done: train_loss={:.4f} train_acc={:.4f} lr={:.5f} {:.1f} s, {:.0f} "
                  "images/s",
                  e.epoch, e.train_loss, e.train_acc, e.lr, e.seconds, e.images_per_s));
}

MetricsListener::MetricsListener(const std::string& path) : out_(path) {}

void MetricsListener::write(const nlohmann::json& j) { out_.append(j.dump() + "\n"); }

void MetricsListener::on_step(const StepEvent& e) {
  write({{"kind", "step"},
         {"epoch", e.epoch},
         {"step", e.step},
         {"loss", e.loss},
         {"lr", e.lr},
         {"grad_norm", e.grad_norm},
         {"train_acc", e.batch ? double(e.correct) / e.batch : 0.0},
         {"minutes", e.minutes}});
}

void MetricsListener::on_eval(const EvalEvent& e) {
  write({{"kind", "eval"},
         {"epoch", e.epoch},
         {"step", e.step},
         {"split", e.split},
         {"accuracy", e.accuracy},
         {"correct", e.correct},
         {"total", e.total}});
}

void MetricsListener::on_epoch(const EpochEvent& e) {
  write({{"kind", "epoch"},
         {"epoch", e.epoch},
         {"step", e.step},
         {"train_loss", e.train_loss},
         {"train_acc", e.train_acc},
         {"lr", e.lr},
         {"seconds", e.seconds},
         {"images_per_s", e.images_per_s}});
}

void MetricsListener::on_record(const nlohmann::json& record) { write(record); }

ArcsListener::ArcsListener(const std::string& path) : out_(path) {}

void ArcsListener::on_arc(const nlohmann::json& record) { out_.append(record.dump() + "\n"); }

void ArcsListener::on_sync() { out_.sync(); }

}  // namespace enas
