// The architecture spaces: parsing, validation and printing of macro and micro architectures in
// the authors' --child_fixed_arc format, the shared tokeniser / arc-file reader, and the space
// descriptors (src/space/space.cpp): registry, decisions, headers, network plans, op tables.
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "enas/space/arc_text.h"
#include "enas/space/authors_arcs.h"
#include "enas/space/macro.h"
#include "enas/space/micro.h"
#include "enas/space/ops.h"
#include "enas/space/rnn.h"
#include "enas/space/space.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

using test::contains;
using test::error_of;

using test::TempDir;

// The input with every run of whitespace collapsed to one space, trimmed.
std::string normalise_ws(const std::string& text) {
  std::istringstream in(text);
  std::string token, out;
  while (in >> token) out += (out.empty() ? "" : " ") + token;
  return out;
}

// A string of `n` zeros separated by spaces.
std::string zeros(int n) {
  std::vector<int> v(n, 0);
  return join_ints(v);
}

// ------------------------------------------------------------------------------------------ macro

TEST(MacroArc, AuthorsFinalArcRoundTrips) {
  auto arc = macro::parse_arc(kMacroFinalArc, 24);
  EXPECT_EQ(arc.num_layers(), 24);
  EXPECT_EQ(arc.to_string(), normalise_ws(kMacroFinalArc));
  EXPECT_EQ(arc.flat().size(), 300u);
  EXPECT_EQ(macro::arc_from_flat(arc.flat()), arc);
}

TEST(MacroArc, InfersNumberOfLayersFromLength) {
  auto arc = macro::parse_arc(kMacroFinalArc, 0);
  EXPECT_EQ(arc.num_layers(), 24);
  EXPECT_EQ(arc.ops[1], 3);
  EXPECT_EQ(arc.skips[5], (std::vector<int>{1, 1, 0, 1, 0}));
  for (int i = 0; i < 24; ++i) EXPECT_EQ(arc.skips[i].size(), static_cast<size_t>(i)) << i;
}

TEST(MacroArc, ArcLengthIsTriangular) {
  EXPECT_EQ(macro::arc_length(1), 1);
  EXPECT_EQ(macro::arc_length(6), 21);
  EXPECT_EQ(macro::arc_length(24), 300);
}

TEST(MacroArc, DescribeNamesOpsAndSkipSources) {
  // Layer 0 conv3x3; layer 1 sep5x5 reading the stem; layer 2 maxpool reading layer 0.
  auto arc = macro::parse_arc("0 3 1 5 0 1");
  std::string text = arc.describe();
  EXPECT_PRED2(contains, text, "layer  0 conv3x3  skips from -");
  EXPECT_PRED2(contains, text, "layer  1 sep5x5   skips from stem");
  EXPECT_PRED2(contains, text, "layer  2 maxpool  skips from 0");
}

TEST(MacroArcErrors, WrongLengthForExplicitLayerCount) {
  std::string msg = error_of([] { macro::parse_arc(zeros(10), 5); });
  EXPECT_PRED2(contains, msg, "10 numbers given");
  EXPECT_PRED2(contains, msg, "5 layers need 15");
}

TEST(MacroArcErrors, LengthNotTriangularWhenInferring) {
  std::string msg = error_of([] { macro::parse_arc(zeros(7)); });
  EXPECT_PRED2(contains, msg, "7 numbers");
  EXPECT_PRED2(contains, msg, "N(N+1)/2");
}

TEST(MacroArcErrors, OpOutOfRangeNamesPositionAndLayer) {
  // Layer 2's op sits at position 3 (after "0" and "0 0").
  std::string msg = error_of([] { macro::parse_arc("0 0 0 6 0 0"); });
  EXPECT_PRED2(contains, msg, "position 3");
  EXPECT_PRED2(contains, msg, "layer 2 op");
  EXPECT_PRED2(contains, msg, "is 6");
  EXPECT_PRED2(contains, msg, "0..5");
}

TEST(MacroArcErrors, SkipBitMustBeZeroOrOne) {
  std::string msg = error_of([] { macro::parse_arc("0 0 0 0 1 2"); });
  EXPECT_PRED2(contains, msg, "position 5");
  EXPECT_PRED2(contains, msg, "layer 2 skip bit 1");
  EXPECT_PRED2(contains, msg, "0..1");
}

TEST(MacroArcErrors, NonIntegerToken) {
  std::string msg = error_of([] { macro::parse_arc("0 1 x"); });
  EXPECT_PRED2(contains, msg, "position 2");
  EXPECT_PRED2(contains, msg, "'x'");
  EXPECT_PRED2(contains, msg, "not an integer");
  EXPECT_PRED2(contains, error_of([] { macro::parse_arc("0 1.5 0"); }), "not an integer");
}

TEST(MacroArcErrors, EmptyString) {
  EXPECT_PRED2(contains, error_of([] { macro::parse_arc(""); }), "empty");
  EXPECT_PRED2(contains, error_of([] { macro::parse_arc(" \n\t "); }), "empty");
}

// ------------------------------------------------------------------------------------------ micro

TEST(MicroArc, AuthorsFinalArcRoundTrips) {
  auto arc = micro::parse_arc(kMicroFinalArc);
  EXPECT_EQ(arc.num_blocks(), 5);
  EXPECT_EQ(arc.reduce.num_blocks(), 5);
  EXPECT_EQ(arc.flat().size(), 40u);
  EXPECT_EQ(arc.to_string(), normalise_ws(kMicroFinalArc));
  EXPECT_EQ(micro::arc_from_flat(arc.flat(), 5), arc);
}

TEST(MicroArc, CellAccessors) {
  // Normal cell: 0 2 0 0 | 0 4 0 1 | 0 4 1 1 | 1 0 0 1 | 0 2 1 1.
  auto arc = micro::parse_arc(kMicroFinalArc, 5);
  EXPECT_EQ(arc.normal.index(0, 0), 0);
  EXPECT_EQ(arc.normal.op(0, 0), 2);
  EXPECT_EQ(arc.normal.index(1, 1), 0);
  EXPECT_EQ(arc.normal.op(1, 1), 1);
  EXPECT_EQ(arc.normal.index(3, 0), 1);
  EXPECT_EQ(arc.normal.op(4, 0), 2);
  // Reduction cell: 1 0 1 0 | 0 3 0 2 | 1 1 3 1 | 1 0 0 4 | 0 3 1 1.
  EXPECT_EQ(arc.reduce.index(2, 1), 3);
  EXPECT_EQ(arc.reduce.op(3, 1), 4);
}

TEST(MicroArc, LooseEndsOfAuthorsCells) {
  auto arc = micro::parse_arc(kMicroFinalArc);
  // The normal cell reads only nodes 0 and 1: every block output is concatenated.
  EXPECT_EQ(arc.normal.loose_ends(), (std::vector<int>{2, 3, 4, 5, 6}));
  // The reduction cell's block 2 reads node 3 (block 1's output).
  EXPECT_EQ(arc.reduce.loose_ends(), (std::vector<int>{2, 4, 5, 6}));
}

TEST(MicroArc, LooseEndsCanIncludeACellInput) {
  micro::Cell cell{{0, 0, 0, 1}};  // one block reading node 0 twice: node 1 is unused
  EXPECT_EQ(cell.loose_ends(), (std::vector<int>{1, 2}));
}

TEST(MicroArc, DescribeNamesNodesAndOps) {
  micro::Cell cell{{0, 2, 1, 4, 2, 0, 0, 3}};
  EXPECT_EQ(cell.describe(), "node 2 = avgpool(0) + identity(1); node 3 = sep3x3(2) + maxpool(0)");
}

TEST(MicroArcErrors, LengthNotMultipleOfEight) {
  std::string msg = error_of([] { micro::parse_arc(zeros(12)); });
  EXPECT_PRED2(contains, msg, "12 numbers");
  EXPECT_PRED2(contains, msg, "multiple of 8");
}

TEST(MicroArcErrors, ExplicitBlockCountMismatch) {
  std::string msg = error_of([] { micro::parse_arc(kMicroFinalArc, 4); });
  EXPECT_PRED2(contains, msg, "40 numbers given");
  EXPECT_PRED2(contains, msg, "4 blocks per cell need 32");
}

TEST(MicroArcErrors, InputIndexOutOfRangeInNormalCell) {
  // Block 1 may read nodes 0..2; its index_1 is at position 4.
  std::string msg = error_of([] { micro::parse_arc("0 0 0 0 3 0 0 0  0 0 0 0 0 0 0 0"); });
  EXPECT_PRED2(contains, msg, "position 4");
  EXPECT_PRED2(contains, msg, "normal cell");
  EXPECT_PRED2(contains, msg, "block 1");
  EXPECT_PRED2(contains, msg, "is 3");
  EXPECT_PRED2(contains, msg, "0..2");
}

TEST(MicroArcErrors, InputIndexOutOfRangeInReductionCell) {
  // Reduction cell's block 1, index_2: position 8 + 4 + 2 = 14 of a 2-block arc (16 numbers).
  std::string msg = error_of([] { micro::parse_arc("0 0 0 0 0 0 0 0  0 0 0 0 0 0 3 0"); });
  EXPECT_PRED2(contains, msg, "position 14");
  EXPECT_PRED2(contains, msg, "reduction cell");
  EXPECT_PRED2(contains, msg, "block 1");
  EXPECT_PRED2(contains, msg, "0..2");
}

TEST(MicroArcErrors, OpOutOfRange) {
  std::string msg = error_of([] { micro::parse_arc("0 0 1 5 0 0 0 0"); });
  EXPECT_PRED2(contains, msg, "position 3");
  EXPECT_PRED2(contains, msg, "normal cell, block 0, op");
  EXPECT_PRED2(contains, msg, "0..4");
}

TEST(MicroArcErrors, NegativeNumbers) {
  EXPECT_PRED2(contains, error_of([] { micro::parse_arc("0 0 -1 0 0 0 0 0"); }), "is -1");
  EXPECT_PRED2(contains, error_of([] { micro::parse_arc("0 -2 0 0 0 0 0 0"); }), "is -2");
}

TEST(MicroArcErrors, EmptyString) {
  EXPECT_PRED2(contains, error_of([] { micro::parse_arc(""); }), "empty");
}

// ------------------------------------------------------------------------------------------- text

TEST(ArcText, ParseIntListAcceptsCommasNewlinesAndTabs) {
  EXPECT_EQ(parse_int_list("1,2\n3\t4 ,\r\n 5,,6", "test"), (std::vector<int>{1, 2, 3, 4, 5, 6}));
}

TEST(ArcText, ParseIntListNamesTheStringInErrors) {
  std::string msg = error_of([] { parse_int_list("1 2 3a", "my arc"); });
  EXPECT_PRED2(contains, msg, "my arc");
  EXPECT_PRED2(contains, msg, "position 2");
  EXPECT_PRED2(contains, msg, "'3a'");
}

TEST(ArcText, ParseIntListRejectsHugeNumbers) {
  EXPECT_PRED2(contains, error_of([] { parse_int_list("99999999999999999999", "x"); }),
               "not an integer");
}

TEST(ArcText, JoinIntsUsesSingleSpaces) {
  EXPECT_EQ(join_ints({3, -1, 0}), "3 -1 0");
  EXPECT_EQ(join_ints({}), "");
}

TEST(ArcText, ReadArcFileSkipsComments) {
  TempDir dir;
  std::string path = dir.file("best_arc.txt");
  {
    std::ofstream out(path);
    out << "# best architecture of epoch 3\n"
        << "0 2 0 0  # block 0\n"
        << "1 0 1 1\n"
        << "#0 0 0 0 (commented out)\n"
        << "0 1 0 1\n"
        << "0 4 1 3";  // no final newline
  }
  std::string text = read_arc_file(path);
  EXPECT_EQ(parse_int_list(text, "file"),
            (std::vector<int>{0, 2, 0, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 4, 1, 3}));
  auto arc = micro::parse_arc(text);
  EXPECT_EQ(arc.num_blocks(), 2);
  EXPECT_EQ(arc.reduce.op(1, 1), 3);
}

TEST(ArcText, ReadArcFileMissingFileIsAnError) {
  TempDir dir;
  std::string msg = error_of([&] { read_arc_file(dir.file("absent.txt")); });
  EXPECT_PRED2(contains, msg, "cannot read architecture file");
  EXPECT_PRED2(contains, msg, "absent.txt");
}

// ------------------------------------------------------------------------------------ descriptor

TEST(SpaceRegistry, NamesRoundTripAndKindsMatch) {
  const std::vector<std::pair<std::string, SpaceKind>> want = {
      {"macro", SpaceKind::kMacro}, {"micro", SpaceKind::kMicro}, {"rnn", SpaceKind::kRnn}};
  for (const auto& [name, kind] : want) {
    const Space& space = space_named(name);
    EXPECT_EQ(std::string(space.name()), name);
    EXPECT_TRUE(space.kind() == kind) << name;
    EXPECT_EQ(space.language(), name == "rnn") << name;
  }
  EXPECT_EQ(&space_named("macro"), &macro::space());
  EXPECT_EQ(&space_named("micro"), &micro::space());
  EXPECT_EQ(&space_named("rnn"), &rnn::space());
}

TEST(SpaceRegistry, UnknownNameListsTheSpaces) {
  std::string msg = error_of([] { space_named("nope"); });
  EXPECT_PRED2(contains, msg, "'nope'");
  EXPECT_PRED2(contains, msg, "macro, micro, rnn");
  EXPECT_EQ(space_names(), "macro, micro, rnn");
}

TEST(SpaceRegistry, AllSpacesHoldsTheThreeInOrder) {
  const auto& spaces = all_spaces();
  ASSERT_EQ(spaces.size(), 3u);
  EXPECT_EQ(spaces[0], &macro::space());
  EXPECT_EQ(spaces[1], &micro::space());
  EXPECT_EQ(spaces[2], &rnn::space());
}

TEST(SpaceDecisions, MacroOpsAndSkipBits) {
  // 4 layers: ops at 0, 1, 3, 6; the other 6 positions are skip bits.
  const Space& space = macro::space();
  const SpaceSizes sizes{4, 0, 5};
  ASSERT_EQ(space.arc_length(sizes), 10);
  const std::set<int> ops = {0, 1, 3, 6};
  for (int pos = 0; pos < 10; ++pos) {
    const bool op = ops.count(pos) > 0;
    EXPECT_EQ(space.choices_at(sizes, pos), op ? 5 : 2) << "position " << pos;
    EXPECT_EQ(space.is_skip(sizes, pos), !op) << "position " << pos;
  }
  EXPECT_EQ(space.num_skips(sizes), 6);
  EXPECT_TRUE(space.has_skips());
}

TEST(SpaceDecisions, MicroIndicesAndOps) {
  const Space& space = micro::space();
  const SpaceSizes sizes{0, 3, 5};
  EXPECT_EQ(space.arc_length(sizes), 24);
  EXPECT_EQ(space.choices_at(sizes, 0), 2);   // normal cell, block 0, index_1: nodes 0..1
  EXPECT_EQ(space.choices_at(sizes, 1), 5);   // op_1: num_branches
  EXPECT_EQ(space.choices_at(sizes, 4), 3);   // block 1, index_1: nodes 0..2
  EXPECT_EQ(space.choices_at(sizes, 8), 4);   // block 2, index_1: nodes 0..3
  EXPECT_EQ(space.choices_at(sizes, 12), 2);  // reduction cell, block 0, index_1
  EXPECT_EQ(space.choices_at(sizes, 23), 5);  // reduction cell, block 2, op_2
  EXPECT_FALSE(space.has_skips());
  EXPECT_EQ(space.num_skips(sizes), 0);
}

TEST(SpaceDecisions, RnnPreviousNodesAndFunctions) {
  const Space& space = rnn::space();
  const SpaceSizes sizes{4, 0, 0};
  EXPECT_EQ(space.arc_length(sizes), 8);
  EXPECT_EQ(space.choices_at(sizes, 0), 1);  // node 1 reads node 0
  EXPECT_EQ(space.choices_at(sizes, 1), 4);  // tanh, relu, sigmoid, identity
  EXPECT_EQ(space.choices_at(sizes, 2), 2);  // node 2 reads node 0 or 1
  EXPECT_EQ(space.choices_at(sizes, 6), 4);  // node 4 reads nodes 0..3
  EXPECT_FALSE(space.has_skips());
}

TEST(SpaceParse, MacroReturnsTheFlatArcOrThrows) {
  const Space& space = macro::space();
  const SpaceSizes sizes{3, 0, 6};
  EXPECT_EQ(space.parse("1 2 0 3 1 1", sizes), (std::vector<int>{1, 2, 0, 3, 1, 1}));
  EXPECT_THROW(space.parse("1 2 0", sizes), Error);        // 2 layers for 3
  EXPECT_THROW(space.parse("1 2 0 6 1 1", sizes), Error);  // op 6 of 0..5
}

TEST(SpaceParse, MicroReturnsTheFlatArcOrThrows) {
  const Space& space = micro::space();
  const SpaceSizes sizes{0, 1, 5};
  EXPECT_EQ(space.parse("0 1 0 1 1 2 1 2", sizes), (std::vector<int>{0, 1, 0, 1, 1, 2, 1, 2}));
  EXPECT_THROW(space.parse("0 1 0 1", sizes), Error);          // half a block pair
  EXPECT_THROW(space.parse("0 5 0 1 1 2 1 2", sizes), Error);  // op 5 of 0..4
}

TEST(SpaceParse, RnnReturnsTheFlatArcOrThrows) {
  const Space& space = rnn::space();
  const SpaceSizes sizes{2, 0, 0};
  EXPECT_EQ(space.parse("0 2 1 3", sizes), (std::vector<int>{0, 2, 1, 3}));
  EXPECT_THROW(space.parse("0 2", sizes), Error);      // 1 node for 2
  EXPECT_THROW(space.parse("0 4 1 3", sizes), Error);  // function 4 of 0..3
}

TEST(SpaceLines, EachSpacePrintsAsTheAuthorsDo) {
  EXPECT_EQ(micro::space().lines({0, 1, 0, 1, 1, 2, 1, 2}), "[0 1 0 1]\n[1 2 1 2]");
  EXPECT_EQ(macro::space().lines({1, 2, 0, 3, 1, 1}), "[1]\n[2 0]\n[3 1 1]");
  EXPECT_EQ(rnn::space().lines({0, 2, 1, 3}), "0 2 1 3");
}

TEST(SpaceArcHeader, MicroHeaderRoundTripsWithoutLayers) {
  const std::string header =
      micro::space().arc_header(SpaceSizes{6, 5, 5}, "cifar10", "valid_acc", 0.5);
  EXPECT_EQ(header,
            "# enas search_for=micro child_num_layers=6 child_num_cells=5 dataset=cifar10 "
            "valid_acc=0.5000");
  const std::optional<ArcHeader> parsed = parse_arc_header(header, "best_arc.txt");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->search_for, "micro");
  EXPECT_EQ(parsed->dataset, "cifar10");
  EXPECT_EQ(parsed->num_cells.value_or(-1), 5);
  EXPECT_FALSE(parsed->num_layers.has_value());  // a micro architecture does not fix the layers
}

TEST(SpaceArcHeader, MacroHeaderKeepsTheLayers) {
  const std::string header =
      macro::space().arc_header(SpaceSizes{12, 0, 6}, "cifar10", "valid_acc", 0.75);
  const std::optional<ArcHeader> parsed = parse_arc_header(header, "best_arc.txt");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->search_for, "macro");
  EXPECT_EQ(parsed->num_layers.value_or(-1), 12);
}

TEST(SpaceArcHeader, RnnHeader) {
  const std::string header =
      rnn::space().arc_header(SpaceSizes{8, 0, 0}, "ptb", "valid_ppl", 123.456);
  EXPECT_EQ(header, "# enas search_for=rnn dataset=ptb child_num_layers=8 valid_ppl=123.46");
  const std::optional<ArcHeader> parsed = parse_arc_header(header, "best_arc.txt");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->search_for, "rnn");
  EXPECT_EQ(parsed->dataset, "ptb");
}

TEST(SpaceArcHeader, NotAHeaderIsNullopt) {
  EXPECT_FALSE(parse_arc_header("0 1 2", "f").has_value());
}

TEST(SpaceArcHeader, CountThatIsNotANumberIsAnError) {
  std::string msg = error_of(
      [] { parse_arc_header("# enas search_for=micro child_num_cells=abc", "best_arc.txt"); });
  EXPECT_PRED2(contains, msg, "best_arc.txt");
  EXPECT_PRED2(contains, msg, "child_num_cells=abc");
}

// ------------------------------------------------------------------------------------------ plans

TEST(SpacePlan, MicroPlanOfSixLayers) {
  const micro::Plan plan(6);
  EXPECT_EQ(plan.num_cells_built, 8);
  EXPECT_EQ(plan.reduction_layers, (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(plan.aux_after, 6);
  EXPECT_TRUE(plan.reduces(2));
  EXPECT_TRUE(plan.reduces(5));
  EXPECT_FALSE(plan.reduces(3));
}

TEST(SpacePlan, MacroPoolLayersOfTwelveLayers) {
  EXPECT_EQ(macro::pool_layers(12), (std::vector<int64_t>{3, 7}));
}

// -------------------------------------------------------------------------------------- op tables

// The names of an op table, in order ("" for a null name).
template <size_t N>
std::vector<std::string> names_of(const std::array<OpSpec, N>& ops) {
  std::vector<std::string> names;
  for (const auto& op : ops) names.emplace_back(op.name ? op.name : "");
  return names;
}

TEST(OpTables, EveryOpHasANonEmptyUniqueName) {
  for (const auto& names : {names_of(macro::kOps), names_of(micro::kOps)}) {
    for (const auto& name : names) EXPECT_FALSE(name.empty());
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  }
}

TEST(OpTables, DescriptorsNameTheTablesOps) {
  ASSERT_EQ(macro::space().num_ops(), macro::kNumOps);
  for (int op = 0; op < macro::kNumOps; ++op) {
    EXPECT_STREQ(macro::space().op_name(op), macro::kOps[op].name);
  }
  ASSERT_EQ(micro::space().num_ops(), micro::kNumOps);
  for (int op = 0; op < micro::kNumOps; ++op) {
    EXPECT_STREQ(micro::space().op_name(op), micro::kOps[op].name);
  }
  EXPECT_EQ(rnn::space().num_ops(), 4);
  EXPECT_STREQ(rnn::space().op_name(1), "relu");
}

TEST(OpTables, MicroHasExactlyOneIdentity) {
  int identities = 0;
  for (const auto& op : micro::kOps) identities += op.family == OpFamily::kIdentity;
  EXPECT_EQ(identities, 1);
}

TEST(OpTables, MacroOpZeroIsConv3x3) {
  EXPECT_STREQ(macro::kOps[0].name, "conv3x3");
  EXPECT_TRUE(macro::kOps[0].family == OpFamily::kConv);
  EXPECT_EQ(macro::kOps[0].kernel, 3);
}

}  // namespace
}  // namespace enas
