#pragma once
/// Text that reaches people and files: a user's string checked before it is used (a path with a
/// newline would forge a log line; a byte that is not UTF-8 would stop the JSON writer), shown
/// escaped in messages, and standard output written with every line checked.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace enas {

/// `text` with every byte that is not printable UTF-8 written as \n, \t, \r or \xNN.
std::string escaped(std::string_view text);

/// The offset of the first byte of `text` that does not begin valid UTF-8, or npos.
size_t first_invalid_utf8(std::string_view text);

/// Throws enas::Error naming `what` (a flag, an argument) when `value` is not valid UTF-8 or
/// holds a control character; `lines` allows tabs and line breaks (an architecture over lines).
void require_text(const std::string& what, std::string_view value, bool lines = false);

/// How deep a JSON text may nest: ours nest three deep; a hand-made file nested 400,000 deep
/// crashed the program (the recursion of its destructor and printer).
inline constexpr int kMaxJsonDepth = 64;

/// Parses JSON `text` (`what` names it in errors). Text that is not JSON, or nests deeper than
/// kMaxJsonDepth, is an enas::Error, or with `lenient` a discarded value (is_discarded()).
nlohmann::json parse_json(std::string_view text, const std::string& what, bool lenient = false);

/// Writes `text` to standard output and flushes it; a write that fails (a full disk, /dev/full,
/// a closed pipe) is an enas::Error with the system's reason, at the first line that fails.
void write_stdout(std::string_view text);

}  // namespace enas
