// The typed architecture (space/architecture.h): parsed or given decisions validated once by
// their space, printed in the authors' format, and read through the space.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "enas/space/architecture.h"
#include "enas/space/authors_arcs.h"
#include "enas/space/macro.h"
#include "enas/space/micro.h"
#include "enas/space/rnn.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

TEST(Architecture, ParsesTheAuthorsFormatOfEachSpace) {
  const std::vector<std::pair<const Space*, const char*>> published = {
      {&micro::space(), kMicroFinalArc},
      {&macro::space(), kMacroFinalArc},
      {&rnn::space(), kRnnEnasArc}};
  for (const auto& [space_ptr, text] : published) {
    const Space& space = *space_ptr;
    const Architecture arc = Architecture::parse(space, text);
    EXPECT_EQ(&arc.space(), &space);
    // The text round-trips, whatever the spacing of the input.
    EXPECT_EQ(Architecture::parse(space, arc.text()), arc);
    EXPECT_EQ(arc.decisions(), space.parse(text, {}));
    EXPECT_EQ(arc.describe(), space.describe(arc.decisions()));
    EXPECT_FALSE(arc.drawing().groups.empty());
  }
}

TEST(Architecture, DecisionsAreValidatedAgainstTheSizes) {
  const std::vector<int> cell = {0, 2, 0, 0, 1, 4, 0, 1, 1, 2, 0, 1, 0, 0, 1, 3};
  EXPECT_EQ(Architecture::of(micro::space(), cell).decisions(), cell);
  EXPECT_EQ(Architecture::of(micro::space(), cell, {0, 2, 0}).text(),
            "0 2 0 0 1 4 0 1 1 2 0 1 0 0 1 3");
  // Three blocks a cell need 24 numbers.
  EXPECT_PRED2(test::contains, test::error_of([&] {
                 Architecture::of(micro::space(), cell, {0, 3, 0});
               }),
               "24");
  std::vector<int> bad_op = cell;
  bad_op[1] = 9;
  EXPECT_PRED2(test::contains, test::error_of([&] { Architecture::of(micro::space(), bad_op); }),
               "allowed 0..4");
  // The same numbers are another architecture in another space.
  EXPECT_PRED2(test::contains,
               test::error_of([&] { Architecture::parse(macro::space(), "0 2 0 0 1 4"); }),
               "macro architecture");
  EXPECT_FALSE(Architecture::parse(rnn::space(), "0 2 1 0") ==
               Architecture::parse(micro::space(), "0 2 1 0 0 2 1 0"));
}

TEST(Architecture, ATokenThatIsNotANumberIsNamed) {
  EXPECT_PRED2(test::contains, test::error_of([] { Architecture::parse(rnn::space(), "0 2 x 0"); }),
               "x");
}

}  // namespace
}  // namespace enas
