#include "enas/train/lr_schedule.h"

#include <cmath>

#include "enas/config/config.h"

namespace enas {

double LrSchedule::at_epoch(int64_t epoch) const {
  if (!cosine) return lr_init * std::pow(dec_rate, static_cast<double>(epoch / dec_every));
  int64_t last_reset = 0, period = T_0;
  while (epoch - last_reset >= period) {
    last_reset += period;
    period *= T_mul;
  }
  const double rate = static_cast<double>(epoch - last_reset) / static_cast<double>(period);
  return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + std::cos(M_PI * rate));
}

LrSchedule child_lr_schedule(const Config& c) {
  LrSchedule s;
  s.cosine = c.child_lr_cosine;
  s.lr_max = c.child_lr_max;
  s.lr_min = c.child_lr_min;
  s.T_0 = c.child_lr_T_0;
  s.T_mul = c.child_lr_T_mul;
  s.lr_init = c.child_lr;
  s.dec_every = c.child_lr_dec_every;
  s.dec_rate = c.child_lr_dec_rate;
  return s;
}

}  // namespace enas
