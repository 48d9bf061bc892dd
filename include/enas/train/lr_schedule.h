#pragma once
/// The child's learning-rate schedules of the authors' utils.get_train_ops, as a function of the
/// epoch: the rate is constant within an epoch, as their `train_step // num_train_batches` makes
/// it.
#include <cstdint>

namespace enas {

struct Config;

struct LrSchedule {
  bool cosine = true;    // SGDR (Loshchilov & Hutter): cosine periods with warm restarts
  double lr_max = 0.05;  // cosine
  double lr_min = 0.0;
  int64_t T_0 = 10;      // epochs of the first period
  int64_t T_mul = 2;     // each period is T_mul times longer than the previous one
  double lr_init = 0.1;  // staircase: lr_init * dec_rate ^ floor(epoch / dec_every)
  int64_t dec_every = 100;
  double dec_rate = 0.1;

  /// The learning rate during (0-based) `epoch`. Cosine: with T_cur epochs into a period of
  /// T_i epochs, lr_min + (lr_max - lr_min) (1 + cos(pi T_cur / T_i)) / 2; a restart sets T_cur
  /// to 0 and multiplies T_i by T_mul.
  double at_epoch(int64_t epoch) const;
};

/// The child schedule from the `child_lr*` flags.
LrSchedule child_lr_schedule(const Config& config);

}  // namespace enas
