// The layering docs/architecture.md draws, checked on the sources: an include of the library
// never points up the list of rooms, and a room never reaches one beside it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace enas {
namespace {

namespace fs = std::filesystem;

/// docs/architecture.md: util < dist < space < report < data < config < child, controller < run <
/// train < deploy. Rooms of one rank (child, controller) do not include each other.
const std::map<std::string, int> kRank = {
    {"util", 0},  {"dist", 1},       {"space", 2}, {"report", 3}, {"data", 4},  {"config", 5},
    {"child", 6}, {"controller", 6}, {"run", 7},   {"train", 8},  {"deploy", 9}};

struct Include {
  std::string file, from, to;  // the including file, its room, the included room
};

/// Every `#include "enas/<room>/..."` of the library's headers and sources.
std::vector<Include> library_includes() {
  const std::regex include(R"(^\s*#\s*include\s+"enas/([a-z_]+)/)");
  std::vector<Include> out;
  const fs::path root(ENAS_SOURCE_DIR);
  for (const fs::path& base : {root / "include" / "enas", root / "src"}) {
    for (const auto& [room, rank] : kRank) {
      if (!fs::exists(base / room)) continue;
      for (const auto& entry : fs::recursive_directory_iterator(base / room)) {
        if (!entry.is_regular_file()) continue;
        std::ifstream in(entry.path());
        std::smatch m;
        for (std::string line; std::getline(in, line);) {
          if (std::regex_search(line, m, include)) {
            out.push_back({fs::relative(entry.path(), root).string(), room, m[1]});
          }
        }
      }
    }
  }
  return out;
}

TEST(Layering, NoIncludePointsUpOrAcross) {
  const std::vector<Include> includes = library_includes();
  ASSERT_GT(includes.size(), 100u) << "the sources were not found under " << ENAS_SOURCE_DIR;
  for (const auto& inc : includes) {
    const auto to = kRank.find(inc.to);
    ASSERT_NE(to, kRank.end()) << inc.file << " includes enas/" << inc.to
                               << "/, a room the layering does not list";
    const int from_rank = kRank.at(inc.from);
    EXPECT_TRUE(to->second < from_rank || inc.to == inc.from)
        << inc.file << " (" << inc.from << ") includes enas/" << inc.to << "/";
  }
}

}  // namespace
}  // namespace enas
