// The run report's small pieces: reading a run's records, HTML escaping, inlining SVG.
#include "report_parts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace enas::report {

std::string RunData::text(const std::string& key) const {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

double RunData::number(const std::string& key, double fallback) const {
  const auto it = config.find(key);
  return it != config.end() && it->is_number() ? it->get<double>() : fallback;
}

std::vector<const nlohmann::json*> RunData::records(const std::string& kind) const {
  std::vector<const nlohmann::json*> out;
  for (const auto& r : metrics) {
    const auto it = r.find("kind");
    if (it != r.end() && it->is_string() && it->get_ref<const std::string&>() == kind) {
      out.push_back(&r);
    }
  }
  return out;
}

std::optional<double> finite_number(const nlohmann::json& record, const char* key) {
  const auto it = record.find(key);
  if (it == record.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

std::string string_at(const nlohmann::json& record, const char* key) {
  const auto it = record.find(key);
  return it != record.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t integer_at(const nlohmann::json& record, const char* key, int64_t fallback) {
  const std::optional<double> v = finite_number(record, key);
  return v && std::fabs(*v) < 9e15 ? static_cast<int64_t>(std::floor(*v)) : fallback;
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

/// Whether `text` contains `part`, ASCII case ignored.
bool contains_nocase(const std::string& text, const std::string& part) {
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  return std::search(text.begin(), text.end(), part.begin(), part.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }) != text.end();
}

}  // namespace

std::optional<std::string> inline_svg(const std::string& svg, const std::string& prefix) {
  size_t begin = svg.find("<svg");
  while (begin != std::string::npos && begin + 4 < svg.size() &&
         !std::isspace(static_cast<unsigned char>(svg[begin + 4])) && svg[begin + 4] != '>') {
    begin = svg.find("<svg", begin + 4);
  }
  const size_t end = svg.rfind("</svg>");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return std::nullopt;
  const std::string element = svg.substr(begin, end + 6 - begin);
  // Graphviz and gnuplot write neither; an SVG that scripts is not inlined into the page.
  for (const char* bad : {"<script", "javascript:", "<foreignobject"}) {
    if (contains_nocase(element, bad)) return std::nullopt;
  }
  // Ids are the document's: two inlined drawings (gnuplot's "gpPt0", Graphviz's "node1") would
  // collide, and a reference (href="#gpPt5", url(#clip1)) would find the other's.
  std::string out;
  out.reserve(element.size() + element.size() / 16);
  const std::string p = prefix + "-";
  for (size_t i = 0; i < element.size(); ++i) {
    const char c = element[i];
    out += c;
    auto at = [&](const char* s) { return element.compare(i + 1, std::strlen(s), s) == 0; };
    if (std::isspace(static_cast<unsigned char>(c)) && (at("id=\"") || at("id='"))) {
      out += element.substr(i + 1, 4) + p;
      i += 4;
    } else if (c == 'h' &&
               (element.compare(i, 7, "href=\"#") == 0 || element.compare(i, 7, "href='#") == 0)) {
      out += element.substr(i + 1, 6) + p;
      i += 6;
    } else if (c == 'u' && element.compare(i, 5, "url(#") == 0) {
      out += "rl(#" + p;
      i += 4;
    }
  }
  return out;
}

namespace {

std::string base64(const std::string& bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) {
      v = (v << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    }
    for (size_t k = 0; k < 4; ++k) {
      out += k <= n ? kDigits[(v >> (18 - 6 * k)) & 0x3F] : '=';
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> svg_image(const std::string& svg, const std::string& alt) {
  if (!contains_nocase(svg, "<svg")) return std::nullopt;
  return fmt::format("<img alt=\"{}\" src=\"data:image/svg+xml;base64,{}\">", html_escape(alt),
                     base64(svg));
}

std::string number_text(double value) {
  if (!std::isfinite(value)) return value > 0 ? "inf" : value < 0 ? "-inf" : "nan";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{:.6g}", value);
}

}  // namespace enas::report
