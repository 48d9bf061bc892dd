#include "enas/space/space.h"

#include <fmt/format.h>

#include <sstream>

#include "enas/space/arc_text.h"
#include "enas/space/architecture.h"
#include "enas/space/macro.h"
#include "enas/space/micro.h"
#include "enas/space/rnn.h"
#include "enas/util/error.h"

namespace enas {

std::vector<int> Space::parse(const std::string& text, const SpaceSizes& sizes) const {
  return check(parse_int_list(text, std::string(name()) + " architecture"), sizes);
}

int Space::num_skips(const SpaceSizes& sizes) const {
  int n = 0;
  for (int pos = 0; pos < arc_length(sizes); ++pos) n += is_skip(sizes, pos);
  return n;
}

const std::vector<const Space*>& all_spaces() {
  static const std::vector<const Space*> spaces = {&macro::space(), &micro::space(), &rnn::space()};
  return spaces;
}

std::string space_names() {
  std::string s;
  for (const Space* space : all_spaces()) s += std::string(s.empty() ? "" : ", ") + space->name();
  return s;
}

const Space& space_named(const std::string& name) {
  for (const Space* space : all_spaces()) {
    if (name == space->name()) return *space;
  }
  fail("--search_for is '{}', allowed: {}", name, space_names());
}

namespace {

/// A count in an architecture file's header, checked.
int header_count(const std::string& path, const std::string& key, const std::string& value) {
  const bool digits = !value.empty() && value.size() <= 6 &&
                      value.find_first_not_of("0123456789") == std::string::npos;
  require(digits, "architecture file {}: its header says {}={}, which is not a count", path, key,
          value);
  return std::stoi(value);
}

}  // namespace

std::optional<ArcHeader> parse_arc_header(const std::string& first_line, const std::string& path) {
  if (first_line.rfind("# enas ", 0) != 0) return std::nullopt;
  ArcHeader h;
  std::optional<int> layers;
  std::istringstream words(first_line.substr(7));
  std::string kv;
  while (words >> kv) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
    if (key == "search_for") h.search_for = value;
    if (key == "dataset") h.dataset = value;
    if (key == "child_num_cells") h.num_cells = header_count(path, key, value);
    if (key == "child_num_layers") layers = header_count(path, key, value);
  }
  // A macro architecture fixes the number of layers; a micro one only the cell.
  if (layers && !h.search_for.empty() && space_named(h.search_for).fixes_num_layers()) {
    h.num_layers = layers;
  }
  return h;
}

Architecture Architecture::parse(const Space& space, const std::string& text,
                                 const SpaceSizes& sizes) {
  return Architecture(space, space.parse(text, sizes));
}

Architecture Architecture::of(const Space& space, std::vector<int> decisions,
                              const SpaceSizes& sizes) {
  return Architecture(space, space.check(decisions, sizes));
}

std::string Architecture::text() const { return join_ints(decisions_); }

}  // namespace enas
