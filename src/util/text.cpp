#include "enas/util/text.h"

#include <fmt/format.h>
#include <stdio_ext.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "enas/util/error.h"

namespace enas {

namespace {

/// The length of the UTF-8 sequence at `s[i]` (1-4), or 0 when it is not one: overlong forms,
/// surrogates and code points past U+10FFFF are not UTF-8 (RFC 3629).
size_t utf8_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b = byte(i);
  if (b < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if ((b & 0xE0) == 0xC0) {
    n = 2, cp = b & 0x1F;
  } else if ((b & 0xF0) == 0xE0) {
    n = 3, cp = b & 0x0F;
  } else if ((b & 0xF8) == 0xF0) {
    n = 4, cp = b & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kSmallest[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7F; }

}  // namespace

size_t first_invalid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_length(text, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string escaped(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t n = utf8_length(text, i);
    if (n == 1 && !is_control(c)) {
      out += text[i];
    } else if (n > 1) {
      out.append(text.substr(i, n));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
    i += n > 0 ? n : 1;
  }
  return out;
}

void require_text(const std::string& what, std::string_view value, bool lines) {
  for (size_t i = 0; i < value.size();) {
    const auto c = static_cast<unsigned char>(value[i]);
    const size_t n = utf8_length(value, i);
    require(n > 0, "{} is not valid UTF-8 (byte {} of \"{}\")", what, i + 1, escaped(value));
    const bool allowed = lines && (c == '\n' || c == '\t' || c == '\r');
    require(n > 1 || !is_control(c) || allowed,
            "{} holds a control character (byte {} of \"{}\"): {}", what, i + 1, escaped(value),
            lines ? "only tabs and line breaks may stand in it" : "it must be one line of text");
    i += n;
  }
}

nlohmann::json parse_json(std::string_view text, const std::string& what, bool lenient) {
  // The parser is iterative; refusing the depth as it is reached keeps everything after it
  // (destruction, printing) from recursing that deep.
  const auto shallow = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth >= kMaxJsonDepth) fail("{} is nested more than {} deep", what, kMaxJsonDepth);
    return true;
  };
  try {
    return nlohmann::json::parse(text, shallow);
  } catch (const nlohmann::json::exception& e) {
    if (lenient) return nlohmann::json(nlohmann::json::value_t::discarded);
    fail("{}: not valid JSON ({})", what, e.what());
  } catch (const Error&) {
    if (lenient) return nlohmann::json(nlohmann::json::value_t::discarded);
    throw;
  }
}

void write_stdout(std::string_view text) {
  errno = 0;
  const bool wrote = std::fwrite(text.data(), 1, text.size(), stdout) == text.size();
  const bool flushed = std::fflush(stdout) == 0;
  if (wrote && flushed && !std::ferror(stdout)) return;
  const int err = errno;
  // What is left in the buffer cannot be written either: dropped, so that the error line is the
  // only one (main flushes standard output once more before it exits).
  __fpurge(stdout);
  std::clearerr(stdout);
  fail("cannot write to standard output: {}", err != 0 ? std::strerror(err) : "write failed");
}

}  // namespace enas
