#pragma once
/// The progress display: one line on a terminal, redrawn in place, with the stage, the epoch, the
/// phase's step in its epoch, the rate, the last loss and accuracy, and the time left in the epoch
/// and in the stage. It is one listener of the reporter, like the console: the CLI adds it only on
/// a terminal (ProgressListener::wanted) and without --json.
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "enas/run/reporter.h"

namespace enas {

/// "H:MM:SS" below a day ("0:04:10"), "Nd HH:MM:SS" from a day on ("2d 03:00:00"), rounded to the
/// second; "--" for a time that is unknown (NaN), infinite or negative.
std::string format_duration(double seconds);

/// Where a stage stands and what its steps cost: the input of estimate_eta. NaN is unknown.
struct EtaInput {
  int64_t epochs = 0;                       // of the stage, resumed ones included
  int64_t epoch = 0;                        // the epoch in progress, 0-based (= epochs completed)
  int64_t child_steps = 0, child_done = 0;  // per epoch; done in the epoch in progress
  int64_t controller_steps = 0, controller_done = 0;  // 0 per epoch: no controller (train)
  bool in_controller = false;  // the epoch's child pass is over (a search trains the child first)
  double child_step_s = std::numeric_limits<double>::quiet_NaN();       // measured, per step
  double controller_step_s = std::numeric_limits<double>::quiet_NaN();  // measured, per step
  double epoch_s = std::numeric_limits<double>::quiet_NaN();  // measured whole epoch, evals in
};

/// Seconds left in the epoch in progress and in the whole stage (NaN: unknown).
struct Eta {
  double epoch = std::numeric_limits<double>::quiet_NaN();
  double stage = std::numeric_limits<double>::quiet_NaN();
};

/// The epoch's remaining child steps x child seconds per step + its remaining controller steps x
/// controller seconds per step (a phase with steps left whose cost was never measured makes it
/// unknown, rather than a guess); the stage adds the remaining epochs x the measured time of a
/// whole epoch, or of its steps when no whole epoch was seen.
Eta estimate_eta(const EtaInput& in);

/// The recent ticks of one phase, contiguous (a pause breaks the run: start()): seconds per step
/// and items per second over at most the last kTicks ticks, so that a rate follows the run's
/// current speed rather than its average since the start.
class TickWindow {
 public:
  static constexpr size_t kTicks = 64;
  /// Forgets the ticks (the measured values stay until new ones replace them).
  void start() {
    ticks_.clear();
    items_ = 0;
  }
  void add(double time, int64_t items);
  /// NaN before two ticks were ever seen in one run.
  double seconds_per_step() const { return step_s_; }
  double items_per_second() const { return items_s_; }

 private:
  std::deque<std::pair<double, int64_t>> ticks_;
  int64_t items_ = 0;  // of ticks_ after the first
  double step_s_ = std::numeric_limits<double>::quiet_NaN();
  double items_s_ = std::numeric_limits<double>::quiet_NaN();
};

/// Draws the line on ticks, at most every kRedrawSeconds of its clock, always on the first tick of
/// a stage or of a phase and on the first tick after the line was cleared. The line is "\r" +
/// text + "\033[K", cut to the terminal's width - 1 columns; it never prints a newline. Before an
/// event the console prints as lines (message, step, eval, epoch) it clears the line, so that the
/// console's line (printed by a listener added after this one) starts at column 0; the next tick
/// draws it again.
///
/// It reads the "stage" record (command, stage, stages, epochs, start_epoch, steps_per_epoch,
/// controller_steps_per_epoch, unit), "lm_step" (ppl) and "controller" (reward). A tick's `epoch`
/// is the epoch its step belongs to (epochs completed before it); its step in that epoch is
/// counted from the last step of the phase in the epoch before, or from epoch x steps_per_epoch
/// for the first epoch seen (a resumed one included).
class ProgressListener : public Listener {
 public:
  using Sink = std::function<void(const std::string&)>;
  using Clock = std::function<double()>;  // seconds
  static constexpr double kRedrawSeconds = 0.2;

  /// Draws on `out`. An empty `clock` is std::chrono::steady_clock; `width` 0 asks the terminal
  /// (TIOCGWINSZ on `out`) at each draw, 100 columns when it cannot tell.
  explicit ProgressListener(std::FILE* out = stderr, Clock clock = {}, int width = 0);
  /// Hands each piece of output to `sink` (tests); `width` 0 is 100 columns.
  explicit ProgressListener(Sink sink, Clock clock = {}, int width = 0);
  ~ProgressListener() override;
  ProgressListener(const ProgressListener&) = delete;
  ProgressListener& operator=(const ProgressListener&) = delete;

  /// True when `out` is a terminal that understands "\r" and "\033[K": isatty, and TERM set and
  /// not "dumb" (NO_COLOR does not matter: the line has no colour).
  static bool wanted(std::FILE* out);

  /// Clears the line if one is shown (the next tick draws it again).
  void finish();

  /// The text of the line as it would be drawn now, uncut ("" before the first tick).
  std::string line() const;

  void on_message(const std::string& text) override;
  void on_step(const StepEvent& e) override;
  void on_tick(const TickEvent& e) override;
  void on_eval(const EvalEvent& e) override;
  void on_epoch(const EpochEvent& e) override;
  void on_record(const nlohmann::json& record) override;
  void on_sync() override;

 private:
  /// One phase's position in its epoch and its recent speed.
  struct Phase {
    int64_t steps = 0;   // per epoch (0: unknown)
    int64_t epoch = -1;  // of its last tick (-1: none in this stage)
    int64_t base = 0;    // global step before the epoch's first step
    int64_t last = 0;    // global step of its last tick
    TickWindow window;
    int64_t done() const { return last - base; }
  };

  void clear_locked();
  void draw_locked();
  std::string line_locked() const;
  void write(const std::string& text);
  int columns() const;
  void reset_stage();

  std::FILE* out_ = nullptr;
  Sink sink_;
  Clock clock_;
  int width_ = 0;

  // The stage (from its record).
  std::string command_ = "train";
  int64_t stage_ = 1, stages_ = 1, epochs_ = 0;
  bool tokens_ = false;

  Phase child_, controller_;
  bool in_controller_ = false;
  bool ticked_ = false;       // a tick was seen in this stage
  bool run_broken_ = true;    // the next tick starts a new run of its phase
  int64_t epoch_ = 0;         // the epoch in progress
  double epoch_start_ = 0;    // clock at the first tick of the epoch in progress
  bool epoch_whole_ = false;  // that tick began the epoch (not a resume, not the stage's first)
  std::vector<double> epoch_seconds_;  // the whole epochs measured in this stage

  // The last logged numbers (NaN: none yet).
  double loss_ = std::numeric_limits<double>::quiet_NaN();
  double acc_ = std::numeric_limits<double>::quiet_NaN();
  double ppl_ = std::numeric_limits<double>::quiet_NaN();
  double reward_ = std::numeric_limits<double>::quiet_NaN();

  bool shown_ = false;      // a line is on the terminal
  bool force_draw_ = true;  // the next tick draws whatever the time
  double last_draw_ = 0;
  mutable std::mutex mutex_;
};

}  // namespace enas
