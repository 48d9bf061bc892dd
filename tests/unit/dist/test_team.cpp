// The exchanges a data-parallel trainer makes (src/dist/team.cpp): alone they change nothing;
// between two ranks (two threads of this process, each its own c10d group member, on loopback)
// they sum, broadcast and average as docs/distributed.md says.
#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "enas/dist/dist.h"
#include "enas/dist/team.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"
#include "enas/util/signals.h"
#include "test_util.h"

namespace enas {
namespace {

TEST(Team, AloneEveryExchangeChangesNothing) {
  const Team team;
  EXPECT_TRUE(team.alone());
  EXPECT_TRUE(team.leader());
  EXPECT_EQ(team.size(), 1);
  EXPECT_FALSE(team.sync_bn());
  EXPECT_EQ(team.part(7), (std::pair<int64_t, int64_t>{0, 7}));
  std::vector<double> v{1.5, -2};
  team.sum(v);
  EXPECT_EQ(v, (std::vector<double>{1.5, -2}));
  EXPECT_EQ(team.from_leader("text"), "text");
  const torch::Tensor rows = torch::arange(6.0).view({3, 2});
  EXPECT_TRUE(torch::equal(team.whole_rows(rows, 3), rows));
  EXPECT_THROW(team.whole_rows(rows, 4), Error);
  torch::Tensor g = rows.clone();
  team.mean({g});
  EXPECT_TRUE(torch::equal(g, rows));
  clear_stop_request();
  EXPECT_EQ(team.agreed_stop(), 0);
}

/// Runs `body(team)` as ranks 0 and 1 of a two-rank group, one thread each; rethrows the
/// first failure.
void as_two_ranks(const std::function<void(const Team&)>& body) {
  const std::string port = test::free_port();
  std::exception_ptr failed[2];
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      try {
        DistEnv env;
        env.rank = env.local_rank = r;
        env.world_size = env.local_world_size = 2;
        env.master_port = std::stoi(port);
        const Team team(std::make_shared<Dist>(env, "gloo", std::chrono::seconds(30)), true);
        body(team);
      } catch (...) {
        failed[r] = std::current_exception();
      }
    });
  }
  for (auto& t : ranks) t.join();
  for (auto& f : failed) {
    if (f) std::rethrow_exception(f);
  }
}

TEST(Team, TwoRanksSumBroadcastAndSplit) {
  std::vector<double> sums[2];
  std::string texts[2];
  std::pair<int64_t, int64_t> parts[2];
  as_two_ranks([&](const Team& team) {
    const int r = team.rank();
    EXPECT_FALSE(team.alone());
    EXPECT_TRUE(team.sync_bn());
    std::vector<double> v{1.0 + r, 10.0 * r};
    team.sum(v);
    sums[r] = v;
    texts[r] = team.from_leader(r == 0 ? std::string("runs/train-1", 12) : "ignored");
    parts[r] = team.part(9);
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(sums[r], (std::vector<double>{3.0, 10.0})) << "rank " << r;
    EXPECT_EQ(texts[r], "runs/train-1") << "rank " << r;
  }
  EXPECT_EQ(parts[0], (std::pair<int64_t, int64_t>{0, 4}));
  EXPECT_EQ(parts[1], (std::pair<int64_t, int64_t>{4, 9}));
}

TEST(Team, TwoRanksTakeTheLeadersStateAndAverageGradients) {
  torch::Tensor counts[2], steps[2];
  as_two_ranks([&](const Team& team) {
    const int r = team.rank();
    // Different starting values in each rank, float and int64: rank 0's win.
    torch::Tensor w = torch::full({2, 3}, 1.0f + r);
    torch::Tensor count = torch::full({4}, int64_t{7} * (r + 1));
    team.copy_from_leader({w, count});
    counts[r] = count.clone();
    // Each rank's gradient differs; the update applies their mean.
    w.set_requires_grad(true);
    Sgd sgd({w}, SgdOptions{/*momentum=*/0.0, /*nesterov=*/false});
    sgd.on_gradients(team.gradient_averager());
    sgd.zero_grad();
    (w * static_cast<float>(1 + 2 * r)).sum().backward();  // gradients 1 and 3: mean 2
    sgd.step(0.5, false);
    steps[r] = w.detach().clone();
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(torch::equal(counts[r], torch::full({4}, int64_t{7}))) << "rank " << r;
    EXPECT_TRUE(torch::allclose(steps[r], torch::full({2, 3}, 1.0f - 0.5f * 2.0f)))
        << "rank " << r << ": " << steps[r];
  }
}

TEST(Team, TwoRanksAssembleTheirRowsAndAverageTensors) {
  // 5 rows of a (5, 2) state split 2 + 3; each rank's rows hold its own values.
  torch::Tensor wholes[2], means[2];
  as_two_ranks([&](const Team& team) {
    const int r = team.rank();
    const auto [begin, end] = team.part(5);
    const torch::Tensor mine = torch::arange(begin * 2.0, end * 2.0).view({end - begin, 2});
    wholes[r] = team.whole_rows(mine, 5);
    EXPECT_THROW(team.whole_rows(torch::zeros({1, 2}), 5), Error) << "rank " << r;
    torch::Tensor g = torch::full({3}, 1.0f + 2.0f * static_cast<float>(r));
    team.mean({g});
    means[r] = g;
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(torch::equal(wholes[r], torch::arange(10.0).view({5, 2}))) << wholes[r];
    EXPECT_TRUE(torch::equal(means[r], torch::full({3}, 2.0f))) << means[r];
  }
}

}  // namespace
}  // namespace enas
