#include "enas/report/draw.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "enas/space/drawing.h"
#include "enas/space/space.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/process.h"

namespace enas {

namespace {

// ---------------------------------------------------------------------------------------------
// DOT text. One statement per line, so that a reader (or a test) can follow it line by line.

/// `text` as a DOT double-quoted string. A newline becomes DOT's `\n` (a centred line break in a
/// label); a backslash is doubled so that Graphviz does not read it as one of its escapes.
std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// DARTS's visualize.py palette and fonts: inputs green, inner nodes blue, the output yellow.
constexpr const char* kInputColour = "darkseagreen2";
constexpr const char* kInnerColour = "lightblue";
constexpr const char* kOutputColour = "palegoldenrod";

std::string header(const std::string& title, const char* rankdir) {
  return fmt::format(
      "digraph G {{\n"
      "  graph [label={}, labelloc=t, fontsize=24, fontname=\"times\", rankdir={}];\n"
      "  node [style=\"rounded,filled\", shape=rect, align=center, fontsize=20, height=0.5, "
      "width=0.5, penwidth=2, fontname=\"times\"];\n"
      "  edge [fontsize=20, fontname=\"times\"];\n",
      quote(title), rankdir);
}

std::string node(const std::string& indent, const std::string& id, const std::string& label,
                 const char* colour, const std::string& extra = "") {
  return fmt::format("{}{} [label={}, fillcolor={}{}];\n", indent, quote(id), quote(label), colour,
                     extra);
}

std::string edge(const std::string& indent, const std::string& from, const std::string& to,
                 const std::string& label = "", const std::string& extra = "") {
  std::string attrs = label.empty() ? "" : "label=" + quote(label);
  if (!extra.empty()) attrs += (attrs.empty() ? "" : ", ") + extra;
  return fmt::format("{}{} -> {}{};\n", indent, quote(from), quote(to),
                     attrs.empty() ? "" : " [" + attrs + "]");
}

/// One box or arrow of a drawing as a DOT statement, by its look.
std::string statement(const std::string& indent, const Drawing::Mark& mark) {
  using Look = Drawing::Look;
  if (!mark.arrow) {
    switch (mark.look) {
      case Look::kInput:
        return node(indent, mark.from, mark.label, kInputColour);
      case Look::kOutput:
        return node(indent, mark.from, mark.label, kOutputColour);
      case Look::kNote:
        return node(indent, mark.from, mark.label, "gray90",
                    ", shape=ellipse, fontsize=14, height=0.3");
      default:
        return node(indent, mark.from, mark.label, kInnerColour);
    }
  }
  switch (mark.look) {
    case Look::kFaint:
      return edge(indent, mark.from, mark.to, mark.label, "color=gray");
    case Look::kSkip:  // not a rank constraint, so that a chain stays a straight column
      return edge(indent, mark.from, mark.to, mark.label,
                  "style=dashed, color=gray40, constraint=false");
    default:
      return edge(indent, mark.from, mark.to, mark.label);
  }
}

}  // namespace

std::string dot_text(const Drawing& drawing) {
  std::string s = header(drawing.title, drawing.left_to_right ? "LR" : "TB");
  for (const auto& group : drawing.groups) {
    const bool framed = !group.title.empty();
    const std::string indent = framed ? "    " : "  ";
    if (framed) {
      s += fmt::format("  subgraph {} {{\n{}label={};\n", quote(group.id), indent,
                       quote(group.title));
    }
    for (const auto& mark : group.marks) s += statement(indent, mark);
    if (framed) s += "  }\n";
  }
  return s + "}\n";
}

std::string arc_dot(const Architecture& arc) { return dot_text(arc.drawing()); }

// -----------------------------------------------------------------------------------------------
// Rendering with Graphviz's `dot` (util/process.h runs it).

bool graphviz_available() { return program_on_path("dot"); }

void render_graph(const std::string& dot, const std::string& out_path) {
  const size_t slash = out_path.rfind('/');
  const size_t dotpos = out_path.rfind('.');
  std::string ext;
  if (dotpos != std::string::npos && (slash == std::string::npos || dotpos > slash)) {
    ext = out_path.substr(dotpos + 1);
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (ext == "dot") {
    write_file_atomic(out_path, dot);
    return;
  }
  require(ext == "svg" || ext == "png" || ext == "pdf",
          "cannot draw to {}: its extension is not one of .dot, .svg, .png, .pdf", out_path);
  const std::string program = find_on_path("dot");
  require(!program.empty(),
          "Graphviz's `dot` program was not found on PATH, needed to draw {}: install graphviz, "
          "or write .dot",
          out_path);
  std::string image;
  try {
    image = run_filter(program, {"-T" + ext}, dot);
  } catch (const Error& e) {
    // "drawing x.svg: Graphviz's `dot -Tsvg` failed (exit status 1): Error: <stdin>: ..."
    fail("drawing {}: Graphviz's {}", out_path, e.what());
  }
  require(!image.empty(), "drawing {}: Graphviz's `dot -T{}` printed nothing", out_path, ext);
  write_file_atomic(out_path, image);
}

}  // namespace enas
