#include "enas/report/draw.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

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

/// One micro cell as a cluster; node ids are `<prefix>_<index>` and `<prefix>_out`.
std::string cell_cluster(const micro::Cell& cell, const std::string& prefix,
                         const std::string& title) {
  const std::string in = "    ";
  auto id = [&](int index) { return fmt::format("{}_{}", prefix, index); };
  std::string s =
      fmt::format("  subgraph {} {{\n{}label={};\n", quote("cluster_" + prefix), in, quote(title));
  s += node(in, id(0), "c_{k-2}", kInputColour);
  s += node(in, id(1), "c_{k-1}", kInputColour);
  for (int b = 0; b < cell.num_blocks(); ++b)
    s += node(in, id(b + 2), fmt::format("{}", b + 2), kInnerColour);
  for (int b = 0; b < cell.num_blocks(); ++b) {
    for (int side = 0; side < 2; ++side) {
      s += edge(in, id(cell.index(b, side)), id(b + 2), micro::kOps[cell.op(b, side)].name);
    }
  }
  // The authors' cell output concatenates, along channels, every node that no block reads.
  s += node(in, prefix + "_out", "c_{k}\n(concat)", kOutputColour);
  for (int loose : cell.loose_ends()) s += edge(in, id(loose), prefix + "_out", "", "color=gray");
  return s + "  }\n";
}

}  // namespace

std::string micro_dot(const micro::Arc& arc) {
  const int blocks = arc.normal.num_blocks();
  require(arc.normal.code.size() == arc.reduce.code.size() && arc.normal.code.size() % 4 == 0,
          "micro architecture: cells of {} and {} numbers, expected equal multiples of 4",
          arc.normal.code.size(), arc.reduce.code.size());
  micro::arc_from_flat(arc.flat(), blocks);  // the validation's errors name the position
  std::string s = header(fmt::format("micro cells, {} blocks each", blocks), "LR");
  // Left to right, dot stacks disconnected clusters bottom-up in the order written: the
  // reduction cell first puts the normal cell on top, where a reader looks first.
  s += cell_cluster(arc.reduce, "reduce", "reduction cell");
  s += cell_cluster(arc.normal, "normal", "normal cell");
  return s + "}\n";
}

std::string macro_dot(const macro::Arc& arc) {
  const int n = arc.num_layers();
  bool shaped = static_cast<int>(arc.skips.size()) == n;
  for (int i = 0; shaped && i < n; ++i) shaped = static_cast<int>(arc.skips[i].size()) == i;
  require(shaped, "macro architecture: layer i must have i skip bits ({} layers given)", n);
  macro::arc_from_flat(arc.flat(), n);
  // Top to bottom: 24 layers stay one readable column, the skips curving beside it.
  std::string s = header(fmt::format("macro network, {} layers", n), "TB");
  const std::string in = "  ";
  auto layer = [](int i) { return fmt::format("layer_{}", i); };
  s += node(in, "input", "image", kInputColour);
  s += node(in, "stem", "stem\nconv3x3", kInputColour);
  s += edge(in, "input", "stem");
  for (int i = 0; i < n; ++i)
    s += node(in, layer(i), fmt::format("{}: {}", i, macro::kOps[arc.ops[i]].name), kInnerColour);
  const std::vector<int64_t> pools = macro::pool_layers(n);
  std::string prev = "stem";
  for (int i = 0; i < n; ++i) {
    s += edge(in, prev, layer(i));
    prev = layer(i);
    // general_child.py halves every earlier output after these layers (factorised reduction)
    // and doubles the channels: drawn on the chain, the skips that cross it are reduced too.
    if (std::find(pools.begin(), pools.end(), i) != pools.end() && i + 1 < n) {
      const std::string pool = fmt::format("pool_{}", i);
      s += node(in, pool, "factorised reduction\nstride 2, channels x2", "gray90",
                ", shape=ellipse, fontsize=14, height=0.3");
      s += edge(in, prev, pool);
      prev = pool;
    }
  }
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < i; ++k) {
      if (!arc.skips[i][k]) continue;
      // Skip bit k: the stem (k = 0) or layer k-1, added to layer i's op output. Not a rank
      // constraint, so that the chain stays a straight column.
      s += edge(in, k == 0 ? "stem" : layer(k - 1), layer(i), "",
                "style=dashed, color=gray40, constraint=false");
    }
  }
  s += node(in, "output", "global avgpool\nfc, softmax", kOutputColour);
  s += edge(in, prev, "output");
  return s + "}\n";
}

std::string rnn_dot(const rnn::Arc& arc) {
  rnn::arc_from_flat(arc.code);
  const int n = arc.num_nodes();
  std::string s = header(fmt::format("recurrent cell, {} nodes", n), "LR");
  const std::string in = "  ";
  auto id = [](int k) { return fmt::format("node_{}", k); };
  s += node(in, "x_t", "x_{t}", kInputColour);
  s += node(in, "h_prev", "h_{t-1}", kInputColour);
  for (int k = 0; k <= n; ++k) s += node(in, id(k), fmt::format("{}", k), kInnerColour);
  // Node 0 is enas_lm's first highway step, tanh of [x_t, h_{t-1}]: not a choice of the arc.
  s += edge(in, "x_t", id(0), "tanh");
  s += edge(in, "h_prev", id(0), "tanh");
  for (int k = 1; k <= n; ++k) {
    s += edge(in, id(arc.prev(k - 1)), id(k), rnn::kFuncNames[arc.func(k - 1)]);
  }
  // enas_lm averages every node 1..N (not only the loose ends, as the TF release's first
  // language model did): child/rnn_cell.cpp.
  s += node(in, "h_t", fmt::format("h_{{t}}\n(mean of 1..{})", n), kOutputColour);
  for (int k = 1; k <= n; ++k) s += edge(in, id(k), "h_t", "", "color=gray");
  return s + "}\n";
}

std::string arc_dot(const Space& space, const std::vector<int>& flat) {
  switch (space.kind()) {
    case SpaceKind::kMicro:
      return micro_dot(micro::arc_from_flat(flat));
    case SpaceKind::kMacro:
      return macro_dot(macro::arc_from_flat(flat));
    case SpaceKind::kRnn:
      return rnn_dot(rnn::arc_from_flat(flat));
  }
  fail("cannot draw an architecture of the {} space", space.name());
}

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
