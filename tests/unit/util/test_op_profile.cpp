// util/op_profile.h: what `enas bench --profile` prints. Ops are keyed by name and input layout,
// counted, and timed with their callees' time taken out.
#include <ATen/record_function.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "enas/util/op_profile.h"
#include "test_util.h"

namespace enas {
namespace {

/// Seeded, one thread (test_util.h).
using OpProfileTest = test::SeededTest;

const OpProfileRow* find_row(const std::vector<OpProfileRow>& rows, const std::string& key) {
  auto it =
      std::find_if(rows.begin(), rows.end(), [&](const OpProfileRow& r) { return r.key == key; });
  return it == rows.end() ? nullptr : &*it;
}

TEST_F(OpProfileTest, OpProfileDescribesLayouts) {
  EXPECT_EQ(describe_input(torch::zeros({2, 3})), "[2,3]N");
  EXPECT_EQ(describe_input(torch::zeros({2, 3}).t()), "[3,2]?");
  EXPECT_EQ(
      describe_input(torch::zeros({2, 3, 4, 5}).contiguous(torch::MemoryFormat::ChannelsLast)),
      "[2,3,4,5]L");
  EXPECT_EQ(describe_input(torch::Tensor()), "");
}

TEST_F(OpProfileTest, OpProfileTableListsTheProjectsOwnOperatorsBeyondTheLimit) {
  auto a = torch::randn({64, 64});
  OpProfile profile;
  for (int i = 0; i < 3; ++i) torch::mm(a, a);
  torch::relu(a);
  { RECORD_FUNCTION("enas::test_marker", std::vector<c10::IValue>()); }
  ASSERT_GE(profile.rows().size(), 3u);
  const std::string top = profile.table(1);
  EXPECT_NE(top.find(profile.rows()[0].key), std::string::npos);
  EXPECT_NE(top.find("enas::test_marker"), std::string::npos);
  // Other operators below the limit stay out.
  const auto rows = profile.rows();
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].key.rfind("enas::", 0) == 0) continue;
    EXPECT_EQ(top.find(rows[i].key), std::string::npos) << rows[i].key;
  }
}

TEST_F(OpProfileTest, OpProfileCountsOpsByShapeAndSubtractsCallees) {
  auto a = torch::randn({8, 4}), b = torch::randn({4, 2});
  std::vector<OpProfileRow> rows;
  {
    OpProfile profile;
    EXPECT_THROW(OpProfile second, Error);  // one at a time
    for (int i = 0; i < 3; ++i) torch::mm(a, b);
    torch::mm(a, b.t().contiguous().t());  // the same op on a transposed input: its own row
    auto y = torch::linear(a, torch::randn({3, 4}));  // calls matmul and mm inside
    rows = profile.rows();
    EXPECT_NE(profile.table(rows.size()).find("aten::mm [8,4]N [4,2]N"), std::string::npos);
  }
  const OpProfileRow* mm = find_row(rows, "aten::mm [8,4]N [4,2]N");
  ASSERT_NE(mm, nullptr);
  EXPECT_EQ(mm->calls, 3);
  EXPECT_GE(mm->total_ms, mm->self_ms);
  const OpProfileRow* mm_t = find_row(rows, "aten::mm [8,4]N [4,2]?");
  ASSERT_NE(mm_t, nullptr);
  EXPECT_EQ(mm_t->calls, 1);
  // linear's own time excludes what it called; the rows come sorted by self time.
  const OpProfileRow* lin = find_row(rows, "aten::linear [8,4]N [3,4]N");
  ASSERT_NE(lin, nullptr);
  EXPECT_LT(lin->self_ms, lin->total_ms);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_GE(rows[i - 1].self_ms, rows[i].self_ms);

  // Once destroyed it records nothing, and a new profile starts empty.
  torch::mm(a, b);
  OpProfile next;
  EXPECT_TRUE(next.rows().empty());
}

}  // namespace
}  // namespace enas
