// The process-wide nets of util/signals.h: stop requests and exceptions that escape a thread.
#include <gtest/gtest.h>

#include <csignal>
#include <stdexcept>
#include <thread>

#include "enas/util/signals.h"

namespace {

// A library's worker thread (Gloo's, c10d's) that throws: one error line, status 1, no abort.
TEST(TerminateNet, AnExceptionOnAnotherThreadIsOneErrorLineAndStatusOne) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        enas::install_terminate_net();
        std::thread worker([] { throw std::runtime_error("peer closed the connection\nframe 0"); });
        worker.join();
      },
      testing::ExitedWithCode(1),
      "error: a background thread failed: peer closed the connection \\(the run stopped; "
      "--resume continues from its last checkpoint\\)");
}

TEST(TerminateNet, WithoutItTheSameExceptionAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        std::thread worker([] { throw std::runtime_error("peer closed the connection"); });
        worker.join();
      },
      testing::KilledBySignal(SIGABRT), "terminate called after throwing");
}

TEST(StopRequest, TheFirstRequestWinsUntilCleared) {
  enas::clear_stop_request();
  EXPECT_EQ(enas::stop_requested(), 0);
  enas::request_stop(SIGTERM);
  enas::request_stop(SIGINT);
  EXPECT_EQ(enas::stop_requested(), SIGTERM);
  enas::clear_stop_request();
  EXPECT_EQ(enas::stop_requested(), 0);
  EXPECT_EQ(enas::signal_name(SIGINT), "SIGINT");
  EXPECT_EQ(enas::signal_name(9), "signal 9");
}

}  // namespace
