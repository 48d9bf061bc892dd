// The child's learning-rate schedules, SGDR and staircase (src/train/lr_schedule.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "enas/config/config.h"
#include "enas/train/lr_schedule.h"

namespace enas {
namespace {

LrSchedule sgdr(int64_t t_mul) {
  LrSchedule s;
  s.cosine = true;
  s.lr_max = 0.05;
  s.lr_min = 0.0005;
  s.T_0 = 10;
  s.T_mul = t_mul;
  return s;
}

double cosine(double t_cur, double t_i) {
  return 0.0005 + 0.5 * (0.05 - 0.0005) * (1.0 + std::cos(M_PI * t_cur / t_i));
}

TEST(LrSchedule, SgdrWithDoublingPeriods) {
  auto s = sgdr(2);  // periods [0, 10), [10, 30), [30, 70), ...
  EXPECT_DOUBLE_EQ(s.at_epoch(0), 0.05);
  EXPECT_DOUBLE_EQ(s.at_epoch(5), 0.0005 + 0.5 * (0.05 - 0.0005) * (1.0 + std::cos(M_PI / 2)));
  EXPECT_DOUBLE_EQ(s.at_epoch(9), cosine(9, 10));
  EXPECT_DOUBLE_EQ(s.at_epoch(10), 0.05);  // restart
  EXPECT_DOUBLE_EQ(s.at_epoch(20), cosine(10, 20));
  EXPECT_DOUBLE_EQ(s.at_epoch(29), cosine(19, 20));
  EXPECT_DOUBLE_EQ(s.at_epoch(30), 0.05);  // restart at 10 + 20
  EXPECT_DOUBLE_EQ(s.at_epoch(69), cosine(39, 40));
  EXPECT_DOUBLE_EQ(s.at_epoch(70), 0.05);
}

TEST(LrSchedule, SgdrWithConstantPeriods) {
  auto s = sgdr(1);
  for (int64_t e = 0; e < 10; ++e) {
    EXPECT_DOUBLE_EQ(s.at_epoch(e), cosine(e, 10)) << e;
    EXPECT_DOUBLE_EQ(s.at_epoch(e + 10), s.at_epoch(e)) << e;
    EXPECT_DOUBLE_EQ(s.at_epoch(e + 50), s.at_epoch(e)) << e;
  }
}

TEST(LrSchedule, Staircase) {
  LrSchedule s;
  s.cosine = false;
  s.lr_init = 0.1;
  s.dec_every = 100;
  s.dec_rate = 0.5;
  EXPECT_DOUBLE_EQ(s.at_epoch(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at_epoch(99), 0.1);
  EXPECT_DOUBLE_EQ(s.at_epoch(100), 0.05);
  EXPECT_DOUBLE_EQ(s.at_epoch(250), 0.1 * 0.25);
}

TEST(LrSchedule, FromConfigFlags) {
  Config c;
  c.child_lr_cosine = false;
  c.child_lr = 0.2f;
  c.child_lr_dec_every = 3;
  c.child_lr_dec_rate = 0.5f;
  auto s = child_lr_schedule(c);
  EXPECT_FALSE(s.cosine);
  EXPECT_DOUBLE_EQ(s.at_epoch(6), 0.2f * 0.25f);
}

}  // namespace
}  // namespace enas
