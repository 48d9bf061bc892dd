// A user's text checked before use (UTF-8, one line), shown escaped; JSON nested no deeper than
// kMaxJsonDepth.
#include <gtest/gtest.h>

#include <string>

#include "enas/util/error.h"
#include "enas/util/text.h"
#include "test_util.h"

namespace enas {
namespace {

using test::contains;
using test::error_of;

TEST(Text, EscapedShowsWhatIsNotPrintableUtf8) {
  EXPECT_EQ(escaped("runs/a b"), "runs/a b");
  EXPECT_EQ(escaped("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // é, €: kept
  EXPECT_EQ(escaped("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(escaped("a\xff"
                    "b\x01\x7f"),
            "a\\xffb\\x01\\x7f");
}

TEST(Text, RequireTextRefusesWhatIsNotOneLineOfUtf8) {
  EXPECT_NO_THROW(require_text("--out", "runs/caf\xc3\xa9-\xf0\x9f\x98\x80"));  // é, an emoji
  const std::vector<std::string> not_utf8 = {
      "a\xff",            // never a UTF-8 byte
      "\xc3",             // cut short
      "\xc0\xaf",         // an overlong '/'
      "\xed\xa0\x80",     // a surrogate
      "\xf4\x90\x80\x80"  // past U+10FFFF
  };
  for (const auto& s : not_utf8) {
    EXPECT_PRED2(contains, error_of([&] { require_text("--out", s); }), "--out is not valid UTF-8")
        << escaped(s);
  }
  EXPECT_PRED2(contains, error_of([&] { require_text("--data", "a\nb"); }),
               "--data holds a control character (byte 2 of \"a\\nb\")");
  EXPECT_PRED2(contains, error_of([&] { require_text("--data", std::string("a\0b", 3)); }),
               "control character");
  // Lines of an architecture may break.
  EXPECT_NO_THROW(require_text("--child_fixed_arc", "0 1\n1 0\t2", /*lines=*/true));
  EXPECT_THROW(require_text("--child_fixed_arc", "0 1\x1b", /*lines=*/true), Error);
}

TEST(Text, ParseJsonCapsTheDepth) {
  auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_EQ(parse_json(nested(kMaxJsonDepth), "x").size(), 1u);
  EXPECT_PRED2(contains, error_of([&] { parse_json(nested(kMaxJsonDepth + 1), "c.json"); }),
               "c.json is nested more than 64 deep");
  // 400,000 deep used to crash the program.
  EXPECT_PRED2(contains, error_of([&] { parse_json(nested(400000), "c.json"); }), "nested");
  EXPECT_TRUE(parse_json(nested(400000), "c.json", /*lenient=*/true).is_discarded());
  EXPECT_PRED2(contains, error_of([&] { parse_json("{ not json", "c.json"); }),
               "c.json: not valid JSON");
  EXPECT_TRUE(parse_json("{ not json", "c.json", /*lenient=*/true).is_discarded());
  EXPECT_EQ(parse_json(R"({"a": [1, {"b": 2}]})", "x")["a"][1]["b"], 2);
}

}  // namespace
}  // namespace enas
