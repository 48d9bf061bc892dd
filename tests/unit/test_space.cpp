// The architecture spaces: parsing, validation and printing of macro and micro architectures in
// the authors' --child_fixed_arc format, and the shared tokeniser / arc-file reader.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "enas/space/arc_text.h"
#include "enas/space/authors_arcs.h"
#include "enas/space/macro.h"
#include "enas/space/micro.h"
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

}  // namespace
}  // namespace enas
