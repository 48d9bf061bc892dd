#pragma once
/// Tokenising of architecture strings shared by every search space.
#include <string>
#include <vector>

namespace enas {

/// Splits an architecture string (integers separated by spaces, tabs, newlines or commas) into
/// integers. `what` names the string in errors; a token that is not an integer is reported with its
/// position.
std::vector<int> parse_int_list(const std::string& text, const std::string& what);

/// Joins integers with single spaces: the authors' `--child_fixed_arc` format.
std::string join_ints(const std::vector<int>& values);

/// The largest architecture file read.
inline constexpr unsigned long kMaxArcFileBytes = 1 << 20;

/// Reads a whole architecture file (e.g. a search's best_arc.txt); `#` starts a comment.
std::string read_arc_file(const std::string& path);

}  // namespace enas
