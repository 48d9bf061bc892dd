#include "enas/space/arc_text.h"

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "enas/util/error.h"
#include "enas/util/files.h"

namespace enas {

std::vector<int> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<int> out;
  std::string token;
  auto flush = [&] {
    if (token.empty()) return;
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(token.c_str(), &end, 10);
    require(end && *end == '\0' && errno == 0 && v >= -1000000 && v <= 1000000,
            "{}: position {} is '{}', not an integer", what, out.size(), token);
    out.push_back(static_cast<int>(v));
    token.clear();
  };
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',') {
      flush();
    } else {
      token += c;
    }
  }
  flush();
  require(!out.empty(), "{}: the architecture string is empty", what);
  return out;
}

std::string join_ints(const std::vector<int>& values) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(values[i]);
  }
  return s;
}

std::string read_arc_file(const std::string& path) {
  // An architecture is a few hundred numbers: a larger file is not one (and is not read whole).
  std::istringstream in(read_small_file(path, "architecture file", kMaxArcFileBytes));
  std::string line, all;
  while (std::getline(in, line)) {
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    all += line;
    all += ' ';
  }
  return all;
}

}  // namespace enas
