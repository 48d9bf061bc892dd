// Several processes as one run: `enas launch` (torchrun's environment, output by rank, failures
// and signals), and the collectives of src/dist/ between two processes on loopback, within a
// bounded timeout. Only processes these tests start are ever signalled.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli_runner.h"
#include "test_util.h"

namespace enas {
namespace {

using test::CliProcess;
using test::CliResult;
using test::contains;
using test::expect_one_error_line;
using test::free_port;
using test::lines_of;
using test::run_cli;
using test::TempDir;

TEST(Launch, GivesEachProcessTorchrunsEnvironment) {
  const std::string port = free_port();
  const CliResult r =
      run_cli({"launch", "--exec", "--nnodes", "2", "--node_rank", "1", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", port, "--", "sh", "-c",
               "echo $RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $MASTER_ADDR $MASTER_PORT"},
              60);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  // This is node 1 of 2: global ranks 2 and 3, each line prefixed with its rank.
  EXPECT_EQ(lines_of(r, "[2] "), std::vector<std::string>{"2 4 0 2 127.0.0.1 " + port});
  EXPECT_EQ(lines_of(r, "[3] "), std::vector<std::string>{"3 4 1 2 127.0.0.1 " + port});
  EXPECT_EQ(r.out_lines().size(), 2u) << r.describe();
}

TEST(Launch, AFailureStopsTheOthersAndIsTheExitStatus) {
  // Rank 1 fails at once; rank 0 would sleep a minute, past this test's 30 s limit.
  const CliResult r =
      run_cli({"launch", "--exec", "--nproc_per_node", "2", "--master_port", free_port(), "--",
               "sh", "-c", "if [ \"$RANK\" = 1 ]; then echo failing; exit 5; fi; exec sleep 60"},
              30);
  EXPECT_EQ(r.exit_code, 5) << r.describe();
  EXPECT_EQ(lines_of(r, "[1] "), std::vector<std::string>{"failing"});
  EXPECT_PRED2(contains, r.err, "launch: rank 1 exited with status 5; stopping the others");
}

TEST(Launch, MoreProcessesThanCoresAreRefusedUnlessAskedFor) {
  // 1,000 processes took 23 GB and did not hear SIGTERM.
  const CliResult r = run_cli({"launch", "--exec", "--nproc_per_node", "100000", "--master_port",
                               free_port(), "--", "sh", "-c", "echo started"},
                              30);
  expect_one_error_line(r, {"--nproc_per_node 100000 is more than the", "--oversubscribe"});
  EXPECT_EQ(r.out.find("started"), std::string::npos) << r.describe();
  const int more = static_cast<int>(std::thread::hardware_concurrency()) + 1;
  const CliResult asked =
      run_cli({"launch", "--exec", "--oversubscribe", "--nproc_per_node", std::to_string(more),
               "--master_port", free_port(), "--", "sh", "-c", "echo started"},
              60);
  ASSERT_EQ(asked.exit_code, 0) << asked.describe();
  EXPECT_EQ(asked.out_lines().size(), static_cast<size_t>(more)) << asked.describe();
}

TEST(Launch, TorchrunStartsEnasAsItsProcesses) {
  // torchrun's agent serves the store on MASTER_PORT itself (TORCHELASTIC_USE_AGENT_STORE):
  // rank 0 failed to bind it. Debian's torchrun (torch 1.13: --no_python), with --redirects 2
  // --tee 1, since its defaults crash on Python 3.11.
  if (std::system("/usr/bin/python3 -c 'import torch.distributed.run' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no torchrun here (Debian's python3-torch; scripts/test.sh installs it)";
  }
  TempDir tmp;
  const std::string command =
      "timeout 120 /usr/bin/python3 -m torch.distributed.run --nproc_per_node 2 --master_port " +
      free_port() + " --no_python --redirects 2 --tee 1 " + ENAS_CLI_PATH +
      " bench --only allreduce --steps 2 --threads 1 --dist_timeout 60 >" + tmp.file("out") +
      " 2>" + tmp.file("err");
  const int status = std::system(command.c_str());
  const std::string out = test::read_text(tmp.file("out")), err = test::read_text(tmp.file("err"));
  ASSERT_EQ(status, 0) << out << err;
  EXPECT_NE(out.find("\"allreduce\""), std::string::npos) << out << err;
}

TEST(Launch, ForwardsSigintToEveryProcess) {
  CliProcess p({"launch", "--exec", "--nproc_per_node", "2", "--master_port", free_port(), "--",
                "sh", "-c",
                "trap 'echo stopped $RANK; exit 7' INT; echo ready $RANK; "
                "while :; do sleep 0.1; done"});
  ASSERT_TRUE(p.wait_for_output("[0] ready 0", 30));
  ASSERT_TRUE(p.wait_for_output("[1] ready 1", 30));
  p.signal(SIGINT);
  const CliResult r = p.wait();
  EXPECT_EQ(r.exit_code, 7) << r.describe();
  EXPECT_EQ(lines_of(r, "[0] "), (std::vector<std::string>{"ready 0", "stopped 0"}));
  EXPECT_EQ(lines_of(r, "[1] "), (std::vector<std::string>{"ready 1", "stopped 1"}));
}

// Each process stops the launcher as soon as it runs, so the SIGTERM lands while the launcher is
// still starting the other 63 (2 or 3 had started when it did, in 3 tries here): it starts no
// more and passes the signal to those it started, which end at once instead of in 60 s.
TEST(Launch, ASignalDuringStartUpStartsNoMoreAndStopsThoseStarted) {
  const CliResult r =
      run_cli({"launch", "--exec", "--oversubscribe", "--nproc_per_node", "64", "--master_port",
               free_port(), "--", "sh", "-c",
               "trap 'echo stopped; exit 9' TERM; echo started; kill -TERM $PPID; sleep 60 & wait"},
              50);
  ASSERT_EQ(r.signal, 0) << r.describe();  // not the test's SIGALRM: nobody waited the 60 s
  EXPECT_TRUE(r.exit_code == 9 || r.exit_code == 128 + SIGTERM) << r.describe();
  size_t started = 0, stopped = 0;
  for (const auto& line : r.out_lines()) {
    started += contains(line, "] started");
    stopped += contains(line, "] stopped");
  }
  EXPECT_GE(started, 1u) << r.describe();
  EXPECT_LT(started, 64u) << r.describe();
  EXPECT_EQ(stopped, started) << r.describe();
}

TEST(Launch, AllReduceOfASearchStepsGradientsOnTwoRanks) {
  const CliResult r = run_cli(
      {"launch", "--nproc_per_node", "2", "--threads", "1", "--master_port", free_port(), "--",
       "bench", "--only", "allreduce", "--steps", "2", "--warmup", "0", "--dist_timeout", "60"},
      120);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  // Rank 0 alone reports.
  const auto rank0 = lines_of(r, "[0] {");
  ASSERT_EQ(rank0.size(), 1u) << r.describe();
  EXPECT_TRUE(lines_of(r, "[1] {").empty()) << r.describe();
  const auto j = nlohmann::json::parse("{" + rank0[0]).at("allreduce");
  EXPECT_EQ(j.at("world_size"), 2);
  EXPECT_EQ(j.at("backend"), "gloo");
  EXPECT_EQ(j.at("threads"), 1);  // launch's --threads, passed on to each process
  EXPECT_GT(j.at("bytes").get<int64_t>(), 1000000);
  EXPECT_GT(j.at("ms").get<double>(), 0.0);
  EXPECT_GT(j.at("sync_bn_message_us").get<double>(), 0.0);
}

// Rank 0's TCP store would listen on every interface (libtorch 1.13 cannot bind one address);
// on one machine the processes meet through a file in a folder only this user can enter. The
// port launch is given is held by someone else here, so a store on it could not even start.
TEST(Launch, OnOneMachineTheProcessesMeetThroughAPrivateFileNotAPort) {
  const int held = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(held, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(held, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(held, 4), 0);
  ASSERT_EQ(::getsockname(held, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));

  const CliResult r = run_cli(
      {"launch", "--nproc_per_node", "2", "--threads", "1", "--master_port", port, "--", "bench",
       "--only", "allreduce", "--steps", "1", "--warmup", "0", "--dist_timeout", "60"},
      120);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(lines_of(r, "[0] {").size(), 1u) << r.describe();

  const CliResult where =
      run_cli({"launch", "--exec", "--nproc_per_node", "2", "--master_port", port, "--", "sh", "-c",
               "d=$(dirname \"$ENAS_STORE_FILE\"); echo \"$d\"; stat -c %a \"$d\""},
              60);
  ::close(held);
  ASSERT_EQ(where.exit_code, 0) << where.describe();
  const auto rank0 = lines_of(where, "[0] "), rank1 = lines_of(where, "[1] ");
  ASSERT_EQ(rank0.size(), 2u) << where.describe();
  EXPECT_EQ(rank1, rank0);  // one folder for both
  EXPECT_PRED2(contains, rank0[0], "/enas-launch-");
  EXPECT_EQ(rank0[1], "700");
  EXPECT_FALSE(std::filesystem::exists(rank0[0])) << "left behind: " << rank0[0];
}

// Both processes made the pipeline's folder, and one of them then refused it as taken.
TEST(Launch, ThePipelineIsOneProcesssAndSaysSoUnderLaunch) {
  TempDir tmp;
  const CliResult r = run_cli(test::launched({"run", "--out", tmp.file("p")}), 60);
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  const std::string both = r.out + r.err;
  EXPECT_PRED2(contains, both, "[0] error: enas run is the pipeline of one process (WORLD_SIZE=2");
  EXPECT_PRED2(contains, both, "train --from_search S");
  EXPECT_FALSE(std::filesystem::exists(tmp.file("p"))) << r.describe();
}

/// A data-parallel step of `space`'s child on 2 processes against one process on the whole batch
/// (tests/dist_step_check.cpp): with sync batch norm, the weights and running statistics agree
/// within 1e-5 relative, and both processes hold the same weights bit for bit. Returns the two
/// processes' lines.
std::vector<nlohmann::json> expect_data_parallel_step_matches(
    const std::string& space, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {
      "launch",    "--exec", "--nproc_per_node",   "2",  "--master_port",
      free_port(), "--",     ENAS_DIST_CHECK_PATH, space};
  args.insert(args.end(), extra.begin(), extra.end());
  const CliResult r = run_cli(args, 120);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  std::vector<nlohmann::json> out;
  for (const std::string rank : {"0", "1"}) {
    const auto lines = lines_of(r, "[" + rank + "] ");
    if (lines.size() != 1) {
      ADD_FAILURE() << r.describe();
      return out;
    }
    const auto j = nlohmann::json::parse(lines[0]);
    EXPECT_EQ(j.at("space"), space);
    EXPECT_LT(j.at("max_rel_diff").get<double>(), 1e-5) << lines[0];
    EXPECT_TRUE(j.at("identical").get<bool>()) << lines[0];
    EXPECT_TRUE(j.at("identical_after_steps_with_dropout").get<bool>()) << lines[0];
    out.push_back(j);
  }
  return out;
}

TEST(DataParallel, MicroStepOnTwoRanksIsOneStepOfTheWholeBatch) {
  expect_data_parallel_step_matches("micro");
}

TEST(DataParallel, MacroStepOnTwoRanksIsOneStepOfTheWholeBatch) {
  expect_data_parallel_step_matches("macro");
}

TEST(DataParallel, MicroStepInContiguousMemoryIsOneStepOfTheWholeBatch) {
  expect_data_parallel_step_matches("micro", {"contiguous"});
}

TEST(DataParallel, LanguageModelStepOnTwoRanksIsOneStepOfTheWholeBatch) {
  // Rows split 4 + 4, the gradient clipped after the average: the same loss, norm, weights and
  // carried state as one process's step on the 8 rows.
  for (const auto& j : expect_data_parallel_step_matches("rnn")) {
    EXPECT_TRUE(j.at("clipped").get<bool>()) << j;
    EXPECT_LT(j.at("loss_rel_diff").get<double>(), 1e-5) << j;
    EXPECT_LT(j.at("grad_norm_rel_diff").get<double>(), 1e-5) << j;
    EXPECT_LT(j.at("state_rel_diff").get<double>(), 1e-5) << j;
    // Kept on the device (as on a GPU): the same step, the whole batch's loss and tokens.
    EXPECT_LT(j.at("kept_max_rel_diff").get<double>(), 1e-5) << j;
    EXPECT_LT(j.at("kept_loss_rel_diff").get<double>(), 1e-5) << j;
    EXPECT_EQ(j.at("kept_tokens").get<int64_t>(), 8 * 6) << j;  // the check's 8 rows of 6 tokens
  }
}

/// Runs `args` as rank 0 of 2 (torchrun's variables set for this process only).
CliResult as_rank0_of_2(const std::vector<std::string>& args, const std::string& port) {
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("RANK", "0", 1);
  ::setenv("MASTER_PORT", port.c_str(), 1);
  CliResult r = run_cli(args, 60);
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("RANK");
  ::unsetenv("MASTER_PORT");
  return r;
}

TEST(Dist, APeerThatNeverComesIsAnErrorWithinTheTimeout) {
  const std::string port = free_port();
  const CliResult r =
      as_rank0_of_2({"bench", "--only", "allreduce", "--steps", "1", "--dist_timeout", "8"}, port);
  expect_one_error_line(
      r, {"rendezvous failed on rank 0 of 2", "1 of the 2 processes came", "--dist_timeout 8 s"});
  // The whole rendezvous ends by the timeout: it took 2-3 times as long (22.5 s for 10).
  EXPECT_LT(r.seconds, 8.0 + 5.0) << r.describe();
}

TEST(Dist, ABatchThatDoesNotSplitIsRefusedBeforeAnyRendezvous) {
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"train", "ptb_final"}, {"search", "ptb_search"}, {"train", "cifar10_micro_final"}};
  for (const auto& [command, preset] : runs) {
    const CliResult r = as_rank0_of_2(
        {command, "--preset", preset, "--batch_size", "5", "--dist_timeout", "3"}, free_port());
    expect_one_error_line(r, {"a batch of 5 does not split evenly across 2 processes"});
    EXPECT_LT(r.seconds, 3.0) << "it waited for a rendezvous: " << r.describe();
  }
}

TEST(Dist, NcclOnACpuBuildIsAnErrorBeforeAnyRendezvous) {
  const CliResult r = as_rank0_of_2(
      {"train", "--num_epochs", "1", "--dist_backend", "nccl", "--dist_timeout", "3"}, free_port());
  expect_one_error_line(r, {"nccl"});
  EXPECT_LT(r.seconds, 3.0) << "it waited for a rendezvous: " << r.describe();
}

}  // namespace
}  // namespace enas
