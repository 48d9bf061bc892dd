#include "enas/run/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

namespace enas {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool known(double x) { return std::isfinite(x) && x >= 0; }

// `steps` steps at `each` seconds: 0 when none are left, NaN when the cost was never measured.
double cost(int64_t steps, double each) {
  if (steps <= 0) return 0;
  return known(each) ? static_cast<double>(steps) * each : kNaN;
}

// 3.5, 64.0, 812, 12.3k: three significant figures or so.
std::string format_rate(double x) {
  if (x < 100) return fmt::format("{:.1f}", x);
  if (x < 10000) return fmt::format("{:.0f}", x);
  if (x < 1e7) return fmt::format("{:.1f}k", x / 1e3);
  return fmt::format("{:.1f}M", x / 1e6);
}

// A number of the record, or NaN.
double number(const nlohmann::json& r, const char* key) {
  auto it = r.find(key);
  return it != r.end() && it->is_number() ? it->get<double>() : kNaN;
}

std::string text(const nlohmann::json& r, const char* key, const std::string& otherwise) {
  auto it = r.find(key);
  return it != r.end() && it->is_string() ? it->get<std::string>() : otherwise;
}

int64_t integer(const nlohmann::json& r, const char* key, int64_t otherwise) {
  auto it = r.find(key);
  return it != r.end() && it->is_number_integer() ? it->get<int64_t>() : otherwise;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!known(seconds)) return "--";
  if (seconds >= 1000.0 * 86400) return ">999d";
  const int64_t t = std::llround(seconds);
  const int64_t days = t / 86400, h = t % 86400 / 3600, m = t % 3600 / 60, s = t % 60;
  if (days > 0) return fmt::format("{}d {:02d}:{:02d}:{:02d}", days, h, m, s);
  return fmt::format("{}:{:02d}:{:02d}", h, m, s);
}

Eta estimate_eta(const EtaInput& in) {
  Eta out;
  if (in.child_steps <= 0) return out;  // the stage's size is unknown
  const int64_t child_left =
      in.in_controller ? 0 : std::max<int64_t>(0, in.child_steps - in.child_done);
  const int64_t controller_left =
      in.in_controller ? std::max<int64_t>(0, in.controller_steps - in.controller_done)
                       : in.controller_steps;
  out.epoch = cost(child_left, in.child_step_s) + cost(controller_left, in.controller_step_s);
  if (in.epochs <= 0) return out;
  const int64_t epochs_left = std::max<int64_t>(0, in.epochs - in.epoch - 1);
  if (epochs_left == 0) {
    out.stage = out.epoch;
    return out;
  }
  const double per_epoch = known(in.epoch_s) ? in.epoch_s
                                             : cost(in.child_steps, in.child_step_s) +
                                                   cost(in.controller_steps, in.controller_step_s);
  out.stage = out.epoch + static_cast<double>(epochs_left) * per_epoch;
  return out;
}

void TickWindow::add(double time, int64_t items) {
  if (!ticks_.empty()) items_ += items;
  ticks_.emplace_back(time, items);
  while (ticks_.size() > kTicks) {
    ticks_.pop_front();
    items_ -= ticks_.front().second;  // the new first tick's items start the window
  }
  if (ticks_.size() < 2) return;
  const double span = ticks_.back().first - ticks_.front().first;
  if (span <= 0) return;
  step_s_ = span / static_cast<double>(ticks_.size() - 1);
  items_s_ = static_cast<double>(items_) / span;
}

ProgressListener::ProgressListener(std::FILE* out, Clock clock, int width)
    : out_(out), clock_(std::move(clock)), width_(width) {
  if (!clock_) {
    clock_ = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
  }
}

ProgressListener::ProgressListener(Sink sink, Clock clock, int width)
    : ProgressListener(static_cast<std::FILE*>(nullptr), std::move(clock), width) {
  sink_ = std::move(sink);
}

ProgressListener::~ProgressListener() {
  try {
    finish();
  } catch (...) {
    // A destructor does not throw; a terminal that cannot be written to has nothing to clear.
  }
}

bool ProgressListener::wanted(std::FILE* out) {
  if (!out || !isatty(fileno(out))) return false;
  const char* term = std::getenv("TERM");
  return term && *term && std::strcmp(term, "dumb") != 0;
}

void ProgressListener::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  clear_locked();
}

std::string ProgressListener::line() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return line_locked();
}

void ProgressListener::write(const std::string& text) {
  if (sink_) {
    sink_(text);
  } else if (out_) {
    std::fwrite(text.data(), 1, text.size(), out_);
    std::fflush(out_);
  }
}

int ProgressListener::columns() const {
  if (width_ > 0) return width_;
  winsize ws{};
  if (out_ && ioctl(fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 100;
}

void ProgressListener::clear_locked() {
  if (!shown_) return;
  write("\r\033[K");
  shown_ = false;
  force_draw_ = true;
}

void ProgressListener::draw_locked() {
  std::string shown = line_locked();
  // One column short of the width: a terminal that wraps on writing the last column would
  // otherwise move every redraw down a line.
  const size_t room = static_cast<size_t>(std::max(columns() - 1, 0));
  if (shown.size() > room) shown.resize(room);
  write("\r" + shown + "\033[K");
  shown_ = true;
}

std::string ProgressListener::line_locked() const {
  if (!ticked_) return "";
  const Phase& p = in_controller_ ? controller_ : child_;
  std::vector<std::string> parts;
  parts.push_back(stages_ > 1 ? fmt::format("{} {}/{}", command_, stage_, stages_) : command_);
  parts.push_back(epochs_ > 0 ? fmt::format("epoch {}/{}", epoch_ + 1, epochs_)
                              : fmt::format("epoch {}", epoch_ + 1));
  const char* name = in_controller_ ? "controller" : "child";
  parts.push_back(p.steps > 0 ? fmt::format("{} {}/{}", name,
                                            std::clamp<int64_t>(p.done(), 0, p.steps), p.steps)
                              : fmt::format("{} step {}", name, p.last));
  if (in_controller_) {
    const double s = p.window.seconds_per_step();
    if (known(s) && s > 0) {
      parts.push_back(s < 1 ? fmt::format("{} step/s", format_rate(1 / s))
                            : fmt::format("{:.1f} s/step", s));
    }
    if (std::isfinite(reward_)) parts.push_back(fmt::format("reward {:.3f}", reward_));
  } else {
    const double r = p.window.items_per_second();
    if (known(r)) parts.push_back(format_rate(r) + (tokens_ ? " tok/s" : " img/s"));
    if (tokens_) {
      if (std::isfinite(ppl_)) parts.push_back(fmt::format("ppl {:.2f}", ppl_));
    } else if (std::isfinite(loss_)) {
      parts.push_back(std::isfinite(acc_) ? fmt::format("loss {:.3f} acc {:.3f}", loss_, acc_)
                                          : fmt::format("loss {:.3f}", loss_));
    }
  }
  EtaInput in;
  in.epochs = epochs_;
  in.epoch = epoch_;
  in.child_steps = child_.steps;
  in.child_done = child_.epoch == epoch_ ? child_.done() : 0;
  in.controller_steps = controller_.steps;
  in.controller_done = controller_.epoch == epoch_ ? controller_.done() : 0;
  in.in_controller = in_controller_;
  in.child_step_s = child_.window.seconds_per_step();
  in.controller_step_s = controller_.window.seconds_per_step();
  if (!epoch_seconds_.empty()) {
    in.epoch_s = std::accumulate(epoch_seconds_.begin(), epoch_seconds_.end(), 0.0) /
                 static_cast<double>(epoch_seconds_.size());
  }
  const Eta eta = estimate_eta(in);
  parts.push_back("epoch ETA " + format_duration(eta.epoch));
  // Of a pipeline's stages only this one's size is known: its ETA is the stage's.
  parts.push_back((stages_ > 1 ? "stage ETA " : "run ETA ") + format_duration(eta.stage));
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : "  ") + part;
  return out;
}

void ProgressListener::reset_stage() {
  child_ = Phase{};
  controller_ = Phase{};
  in_controller_ = false;
  ticked_ = false;
  run_broken_ = true;
  epoch_seconds_.clear();
  epoch_whole_ = false;
  loss_ = acc_ = ppl_ = reward_ = kNaN;
  force_draw_ = true;
}

void ProgressListener::on_tick(const TickEvent& e) {
  std::lock_guard<std::mutex> lock(mutex_);
  const double now = clock_();
  const bool controller = e.phase && std::strcmp(e.phase, "controller") == 0;
  Phase& p = controller ? controller_ : child_;
  if (p.epoch != e.epoch) {
    // Counted from the phase's last step in the epoch before, which holds whatever the number
    // of steps an epoch really had (the LM's segments vary); else from where the epoch would
    // start (a resume).
    p.base = p.epoch >= 0 && e.epoch == p.epoch + 1 ? p.last : e.epoch * p.steps;
    p.epoch = e.epoch;
  }
  p.last = e.step;
  const bool new_phase = !ticked_ || controller != in_controller_;
  if (new_phase || run_broken_) p.window.start();
  p.window.add(now, e.items);
  run_broken_ = false;
  in_controller_ = controller;

  // A whole epoch is timed from its first tick to the next epoch's first tick.
  if (!ticked_) {
    epoch_ = e.epoch;
    epoch_start_ = now;
    epoch_whole_ = !controller && p.done() == 1;
  } else if (e.epoch != epoch_) {
    if (epoch_whole_ && e.epoch == epoch_ + 1) epoch_seconds_.push_back(now - epoch_start_);
    epoch_whole_ = e.epoch == epoch_ + 1;
    epoch_ = e.epoch;
    epoch_start_ = now;
  }
  ticked_ = true;

  if (force_draw_ || new_phase || now - last_draw_ >= kRedrawSeconds) {
    draw_locked();
    last_draw_ = now;
    force_draw_ = false;
  }
}

void ProgressListener::on_message(const std::string&) {
  std::lock_guard<std::mutex> lock(mutex_);
  clear_locked();
}

void ProgressListener::on_step(const StepEvent& e) {
  std::lock_guard<std::mutex> lock(mutex_);
  loss_ = e.loss;
  acc_ = e.batch > 0 ? static_cast<double>(e.correct) / static_cast<double>(e.batch) : kNaN;
  clear_locked();
}

void ProgressListener::on_eval(const EvalEvent&) {
  std::lock_guard<std::mutex> lock(mutex_);
  run_broken_ = true;  // an evaluation between two steps is no step's time
  clear_locked();
}

void ProgressListener::on_epoch(const EpochEvent&) {
  std::lock_guard<std::mutex> lock(mutex_);
  run_broken_ = true;
  clear_locked();
}

void ProgressListener::on_sync() {
  std::lock_guard<std::mutex> lock(mutex_);
  run_broken_ = true;  // a checkpoint's write is no step's time either
}

void ProgressListener::on_record(const nlohmann::json& r) {
  if (!r.is_object()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string kind = text(r, "kind", "");
  if (kind == "stage") {
    reset_stage();
    command_ = text(r, "command", "train");
    stage_ = integer(r, "stage", 1);
    stages_ = integer(r, "stages", 1);
  }
  // The CLI's "stage" record names the stage when the run starts; the trainer's "plan" says
  // what it will count once it knows (after a resume's checkpoint is read). Either may hold both.
  if ((kind == "stage" || kind == "plan") && r.contains("epochs")) {
    epochs_ = integer(r, "epochs", 0);
    epoch_ = integer(r, "start_epoch", 0);
    child_.steps = integer(r, "steps_per_epoch", 0);
    controller_.steps = integer(r, "controller_steps_per_epoch", 0);
    tokens_ = text(r, "unit", "images") == "tokens";
  } else if (kind == "lm_step") {
    ppl_ = number(r, "ppl");
  } else if (kind == "controller") {
    reward_ = number(r, "reward");
  } else if (kind == "eval" || kind == "lm_eval" || kind == "lm_epoch") {
    run_broken_ = true;
  }
}

}  // namespace enas
