#pragma once
/// The wall time of a run, resumed time included: what every trainer logs as `mins`, saves in
/// its checkpoints' "seconds" and reports in result.json.
#include <chrono>

namespace enas {

class RunClock {
 public:
  using Clock = std::chrono::steady_clock;

  /// Starts (again) now; a resumed run passes the seconds its checkpoint had already taken.
  void start(double seconds_before = 0) {
    before_ = seconds_before;
    started_ = Clock::now();
  }
  double seconds() const { return before_ + since(started_); }
  double minutes() const { return seconds() / 60.0; }

  /// Seconds from `t` to now (an epoch's own time).
  static double since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }

 private:
  double before_ = 0;
  Clock::time_point started_ = Clock::now();
};

}  // namespace enas
