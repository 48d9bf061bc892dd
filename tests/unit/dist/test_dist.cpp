// Where a process stands among several (src/dist/dist.cpp): torchrun's environment read and
// checked, the backend chosen for the device and this build. The collectives themselves run in
// tests/e2e/test_launch.cpp, two processes on loopback.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "enas/dist/dist.h"
#include "enas/dist/launch.h"
#include "test_util.h"

namespace enas {
namespace {

using test::contains;
using test::error_of;

/// Sets torchrun's variables for one test and restores the environment after it.
class DistEnvTest : public ::testing::Test {
 protected:
  static constexpr const char* kNames[] = {
      "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"};
  void SetUp() override {
    for (const char* n : kNames) {
      if (const char* v = std::getenv(n)) saved_[n] = v;
      ::unsetenv(n);
    }
  }
  void TearDown() override {
    for (const char* n : kNames) ::unsetenv(n);
    for (const auto& [n, v] : saved_) ::setenv(n.c_str(), v.c_str(), 1);
  }
  void set(const std::map<std::string, std::string>& vars) {
    for (const auto& [n, v] : vars) ::setenv(n.c_str(), v.c_str(), 1);
  }

 private:
  std::map<std::string, std::string> saved_;
};

TEST_F(DistEnvTest, NoWorldSizeIsOneProcess) {
  const DistEnv e = DistEnv::from_environment();
  EXPECT_FALSE(e.active());
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.rank, 0);
  set({{"WORLD_SIZE", "1"}, {"RANK", "0"}});
  EXPECT_FALSE(DistEnv::from_environment().active());
}

TEST_F(DistEnvTest, ReadsTorchrunsVariables) {
  set({{"WORLD_SIZE", "4"},
       {"RANK", "3"},
       {"LOCAL_RANK", "1"},
       {"LOCAL_WORLD_SIZE", "2"},
       {"MASTER_ADDR", "10.0.0.7"},
       {"MASTER_PORT", "29611"}});
  const DistEnv e = DistEnv::from_environment();
  EXPECT_TRUE(e.active());
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "10.0.0.7");
  EXPECT_EQ(e.master_port, 29611);
}

TEST_F(DistEnvTest, BadValuesAreNamed) {
  set({{"WORLD_SIZE", "2"}});
  EXPECT_PRED2(contains, error_of([] { DistEnv::from_environment(); }), "RANK is not set");
  set({{"RANK", "2"}});
  EXPECT_PRED2(contains, error_of([] { DistEnv::from_environment(); }), "RANK=2 with WORLD_SIZE=2");
  set({{"RANK", "one"}});
  EXPECT_PRED2(contains, error_of([] { DistEnv::from_environment(); }),
               "RANK=one is not a whole number");
  set({{"RANK", "1"}, {"MASTER_PORT", "70000"}});
  EXPECT_PRED2(contains, error_of([] { DistEnv::from_environment(); }),
               "MASTER_PORT=70000 is not a port");
}

TEST(DistBackend, AutoIsGlooOnTheCpuAndNcclNeedsCuda) {
  EXPECT_EQ(resolve_backend("auto", torch::kCPU), "gloo");
  EXPECT_EQ(resolve_backend("gloo", torch::kCPU), "gloo");
  EXPECT_PRED2(contains, error_of([] { resolve_backend("mpi", torch::kCPU); }),
               "expected auto, gloo or nccl");
  const std::string nccl = error_of([] { resolve_backend("nccl", torch::kCPU); });
  if (nccl_available()) {
    EXPECT_PRED2(contains, nccl, "needs --device cuda");
  } else {
    EXPECT_PRED2(contains, nccl, "this build has no NCCL");
  }
}

TEST(Launch, EnasCommandsShareTheCores) {
  LaunchOptions o;
  o.nproc_per_node = 2;
  o.command = {"enas", "train"};
  o.threads = 3;
  EXPECT_EQ(process_command(o), (std::vector<std::string>{"enas", "train", "--threads", "3"}));
  o.command = {"enas", "train", "--threads=1"};
  EXPECT_EQ(process_command(o), o.command);  // the command's own wins
  o.command = {"sh", "-c", "true"};
  o.exec = true;
  EXPECT_EQ(process_command(o), o.command);  // another program's flags are its own
}

TEST(Launch, BadOptionsAreErrors) {
  LaunchOptions o;
  o.command = {"true"};
  o.nproc_per_node = 0;
  EXPECT_PRED2(contains, error_of([&] { launch(o); }), "--nproc_per_node 0");
  o.nproc_per_node = 1;
  o.node_rank = 1;
  EXPECT_PRED2(contains, error_of([&] { launch(o); }), "--node_rank 1 with --nnodes 1");
  o.node_rank = 0;
  o.command.clear();
  EXPECT_PRED2(contains, error_of([&] { launch(o); }), "no command to run");
}

}  // namespace
}  // namespace enas
