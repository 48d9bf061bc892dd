// Drawings of architectures (report/draw.h): the DOT text of each space read back statement by
// statement against the architecture it draws, its validation, and rendering through Graphviz
// (skipped where `dot` is not installed) or without it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "enas/report/draw.h"
#include "enas/space/authors_arcs.h"
#include "enas/space/macro.h"
#include "enas/space/micro.h"
#include "enas/space/rnn.h"
#include "enas/space/space.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

std::string arc_dot_of(const Space& space, const std::vector<int>& flat) {
  return arc_dot(Architecture::of(space, flat));
}

namespace fs = std::filesystem;
using test::contains;
using test::error_of;
using test::TempDir;

struct Edge {
  std::string from, to, label, attrs;
};

/// A label's text as DOT quotes it (escapes left as they are).
std::string label_of(const std::string& attrs) {
  static const std::regex re(R"re(label="((?:[^"\\]|\\.)*)")re");
  std::smatch m;
  return std::regex_search(attrs, m, re) ? m[1].str() : "";
}

/// Every edge statement (draw.cpp writes one statement per line).
std::vector<Edge> edges_of(const std::string& dot) {
  static const std::regex re(R"re(^\s*"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?;$)re");
  std::vector<Edge> out;
  std::istringstream in(dot);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, re)) out.push_back({m[1], m[2], label_of(m[3]), m[3]});
  }
  return out;
}

/// Node id -> label, for every node statement.
std::map<std::string, std::string> nodes_of(const std::string& dot) {
  static const std::regex re(R"re(^\s*"([^"]+)" \[(label=.*)\];$)re");
  std::map<std::string, std::string> out;
  std::istringstream in(dot);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, re)) out[m[1]] = label_of(m[2]);
  }
  return out;
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// A 12-layer macro architecture with every op and a varied skip pattern.
macro::Arc macro12() {
  std::vector<int> flat;
  for (int i = 0; i < 12; ++i) {
    flat.push_back(i % macro::kNumOps);
    for (int k = 0; k < i; ++k) flat.push_back((i + k) % 3 == 0);
  }
  return macro::arc_from_flat(flat);
}

TEST(DrawMicro, TwoCellsWithTheirBlocksOpsAndLooseEnds) {
  const micro::Arc arc = micro::parse_arc(kMicroFinalArc);
  const int b = arc.num_blocks();
  const std::string dot = dot_text(micro::drawing(arc));
  EXPECT_EQ(count(dot, "subgraph \"cluster_"), 2u);
  EXPECT_PRED2(contains, dot, "label=\"normal cell\"");
  EXPECT_PRED2(contains, dot, "label=\"reduction cell\"");
  const auto nodes = nodes_of(dot);
  const auto edges = edges_of(dot);
  for (const auto& [prefix, cell] : {std::pair{std::string("normal"), arc.normal},
                                     std::pair{std::string("reduce"), arc.reduce}}) {
    auto id = [&](int i) { return prefix + "_" + std::to_string(i); };
    EXPECT_EQ(nodes.at(id(0)), "c_{k-2}");
    EXPECT_EQ(nodes.at(id(1)), "c_{k-1}");
    for (int j = 0; j < b; ++j) EXPECT_EQ(nodes.at(id(j + 2)), std::to_string(j + 2));
    EXPECT_EQ(nodes.count(id(b + 2)), 0u);
    // The 2B op edges are exactly the code's (input, block, op) triples.
    std::multiset<std::string> want, got;
    for (int j = 0; j < b; ++j) {
      for (int side = 0; side < 2; ++side) {
        want.insert(id(cell.index(j, side)) + ">" + id(j + 2) + ":" +
                    micro::kOps[cell.op(j, side)].name);
      }
    }
    std::set<std::string> into_out;
    for (const Edge& e : edges) {
      if (e.to == prefix + "_out")
        into_out.insert(e.from);
      else if (e.to.rfind(prefix + "_", 0) == 0)
        got.insert(e.from + ">" + e.to + ":" + e.label);
    }
    EXPECT_EQ(got.size(), static_cast<size_t>(2 * b));
    EXPECT_EQ(got, want);
    // The output concatenates the loose ends, and only them.
    std::set<std::string> loose;
    for (int i : cell.loose_ends()) loose.insert(id(i));
    EXPECT_FALSE(loose.empty());
    EXPECT_EQ(into_out, loose);
  }
}

TEST(DrawMacro, OneBoxPerLayerAndOneDashedEdgePerSkipBit) {
  for (const macro::Arc& arc : {macro::parse_arc(kMacroFinalArc), macro12()}) {
    const int n = arc.num_layers();
    const std::string dot = dot_text(macro::drawing(arc));
    EXPECT_PRED2(contains, dot, "macro network, " + std::to_string(n) + " layers");
    const auto nodes = nodes_of(dot);
    int layer_nodes = 0;
    for (const auto& [id, label] : nodes) layer_nodes += id.rfind("layer_", 0) == 0;
    EXPECT_EQ(layer_nodes, n);
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(nodes.at("layer_" + std::to_string(i)),
                std::to_string(i) + ": " + macro::kOps[arc.ops[i]].name);
    }
    std::multiset<std::pair<std::string, std::string>> want, got;
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < i; ++k) {
        if (arc.skips[i][k]) {
          want.insert(
              {k == 0 ? "stem" : "layer_" + std::to_string(k - 1), "layer_" + std::to_string(i)});
        }
      }
    }
    for (const Edge& e : edges_of(dot)) {
      if (contains(e.attrs, "dashed")) got.insert({e.from, e.to});
    }
    EXPECT_EQ(got, want);
    EXPECT_GT(got.size(), 0u);
    // The two factorised reductions sit on the chain after macro::pool_layers.
    std::set<std::string> pools;
    for (const auto& [id, label] : nodes) {
      if (id.rfind("pool_", 0) == 0) pools.insert(id);
    }
    std::set<std::string> want_pools;
    for (int64_t p : macro::pool_layers(n)) want_pools.insert("pool_" + std::to_string(p));
    EXPECT_EQ(pools, want_pools);
    int chain_into_pool = 0;
    for (const Edge& e : edges_of(dot)) {
      if (pools.count(e.to)) chain_into_pool += e.from == "layer_" + e.to.substr(5);
    }
    EXPECT_EQ(chain_into_pool, 2);
    EXPECT_TRUE(nodes.count("output"));
  }
}

TEST(DrawRnn, NodesReadTheirPreviousNodeAndTheOutputAveragesNodes1ToN) {
  for (const char* text : {kRnnEnasArc, kRnnDartsArc}) {
    const rnn::Arc arc = rnn::parse_arc(text);
    const int n = arc.num_nodes();
    const std::string dot = dot_text(rnn::drawing(arc));
    EXPECT_PRED2(contains, dot, "recurrent cell, " + std::to_string(n) + " nodes");
    const auto nodes = nodes_of(dot);
    for (int k = 0; k <= n; ++k)
      EXPECT_EQ(nodes.at("node_" + std::to_string(k)), std::to_string(k));
    EXPECT_EQ(nodes.count("node_" + std::to_string(n + 1)), 0u);
    std::map<std::string, std::vector<Edge>> into;
    for (const Edge& e : edges_of(dot)) into[e.to].push_back(e);
    ASSERT_EQ(into["node_0"].size(), 2u);
    for (int k = 1; k <= n; ++k) {
      const auto& in = into["node_" + std::to_string(k)];
      ASSERT_EQ(in.size(), 1u) << "node " << k;
      EXPECT_EQ(in[0].from, "node_" + std::to_string(arc.prev(k - 1)));
      EXPECT_EQ(in[0].label, rnn::kFuncNames[arc.func(k - 1)]);
    }
    std::set<std::string> averaged, want;
    for (const Edge& e : into["h_t"]) averaged.insert(e.from);
    for (int k = 1; k <= n; ++k) want.insert("node_" + std::to_string(k));
    EXPECT_EQ(averaged, want);
  }
}

TEST(DrawArc, DispatchesOnTheSpaceAndRejectsMalformedArchitectures) {
  const std::vector<int> micro_flat = micro::parse_arc(kMicroFinalArc).flat();
  EXPECT_EQ(arc_dot_of(micro::space(), micro_flat),
            dot_text(micro::drawing(micro::arc_from_flat(micro_flat))));
  const std::vector<int> rnn_flat = rnn::parse_arc(kRnnEnasArc).code;
  EXPECT_EQ(arc_dot_of(rnn::space(), rnn_flat),
            dot_text(rnn::drawing(rnn::parse_arc(kRnnEnasArc))));
  EXPECT_PRED2(contains, arc_dot_of(macro::space(), macro12().flat()), "12 layers");

  std::vector<int> short_arc(micro_flat.begin(), micro_flat.end() - 1);
  EXPECT_PRED2(contains, error_of([&] { arc_dot_of(micro::space(), short_arc); }), "numbers");
  std::vector<int> bad_op = micro_flat;
  bad_op[1] = micro::kNumOps;
  EXPECT_PRED2(contains, error_of([&] { arc_dot_of(micro::space(), bad_op); }), "allowed");
  micro::Arc bad_struct = micro::parse_arc(kMicroFinalArc);
  bad_struct.reduce.code[3] = 9;
  EXPECT_PRED2(contains, error_of([&] { dot_text(micro::drawing(bad_struct)); }), "reduction cell");
  macro::Arc bad_skips = macro12();
  bad_skips.skips[3].push_back(1);
  EXPECT_PRED2(contains, error_of([&] { dot_text(macro::drawing(bad_skips)); }), "skip bits");
  rnn::Arc bad_prev{{0, 2, 5, 0}};
  EXPECT_PRED2(contains, error_of([&] { dot_text(rnn::drawing(bad_prev)); }), "previous index");
}

TEST(DrawText, EveryLabelIsOneWellQuotedLine) {
  // Multi-line labels become DOT's `\n`: each statement stays one line with balanced quotes.
  for (const std::string& dot : {dot_text(micro::drawing(micro::parse_arc(kMicroFinalArc))),
                                 dot_text(macro::drawing(macro::parse_arc(kMacroFinalArc))),
                                 dot_text(rnn::drawing(rnn::parse_arc(kRnnEnasArc)))}) {
    std::istringstream in(dot);
    for (std::string line; std::getline(in, line);) {
      size_t quotes = 0;
      for (size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\\')
          ++i;
        else
          quotes += line[i] == '"';
      }
      EXPECT_EQ(quotes % 2, 0u) << line;
    }
    EXPECT_EQ(dot.rfind("digraph G {", 0), 0u);
    EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
  }
  EXPECT_PRED2(contains, dot_text(micro::drawing(micro::parse_arc(kMicroFinalArc))),
               "c_{k}\\n(concat)");
}

TEST(RenderGraph, WritesDotTextAndRejectsOtherExtensions) {
  TempDir dir;
  const std::string dot = dot_text(rnn::drawing(rnn::parse_arc(kRnnEnasArc)));
  render_graph(dot, dir.file("cell.dot"));
  EXPECT_EQ(read(dir.file("cell.dot")), dot);
  for (const char* name : {"cell.jpg", "cell", "cell.svg.txt"}) {
    const std::string msg = error_of([&] { render_graph(dot, dir.file(name)); });
    EXPECT_PRED2(contains, msg, ".dot, .svg, .png, .pdf");
    EXPECT_FALSE(fs::exists(dir.file(name)));
  }
  EXPECT_PRED2(contains, error_of([&] { render_graph(dot, dir.file("missing/cell.dot")); }),
               "missing");
}

TEST(RenderGraph, SvgThroughGraphviz) {
  if (!graphviz_available()) GTEST_SKIP() << "Graphviz's dot is not installed";
  TempDir dir;
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {dot_text(micro::drawing(micro::parse_arc(kMicroFinalArc))),
       {"sep3x3", "avgpool", "reduction cell"}},
      {dot_text(macro::drawing(macro::parse_arc(kMacroFinalArc))),
       {"conv5x5", "factorised reduction"}},
      {dot_text(rnn::drawing(rnn::parse_arc(kRnnEnasArc))), {"sigmoid", "relu", "recurrent cell"}}};
  for (const auto& [dot, names] : cases) {
    render_graph(dot, dir.file("arc.svg"));
    const std::string svg = read(dir.file("arc.svg"));
    EXPECT_TRUE(svg.rfind("<?xml", 0) == 0 || contains(svg, "<svg"));
    for (const std::string& name : names) EXPECT_PRED2(contains, svg, name);
  }
  render_graph(cases[0].first, dir.file("arc.png"));
  EXPECT_EQ(read(dir.file("arc.png")).substr(1, 3), "PNG");
}

TEST(RenderGraph, LargeInputAndOutputDoNotDeadlock) {
  if (!graphviz_available()) GTEST_SKIP() << "Graphviz's dot is not installed";
  // Several pipe buffers each way: 2 MB of comments in, a few hundred nodes' SVG out.
  std::string dot = "digraph G {\n";
  for (int i = 0; i < 20000; ++i) dot += "// " + std::string(100, 'x') + "\n";
  for (int i = 0; i < 400; ++i)
    dot += "  n" + std::to_string(i) + " -> n" + std::to_string(i + 1) + ";\n";
  dot += "}\n";
  TempDir dir;
  render_graph(dot, dir.file("big.svg"));
  const std::string svg = read(dir.file("big.svg"));
  EXPECT_GT(svg.size(), 65536u);
  EXPECT_PRED2(contains, svg, "n400");
}

TEST(RenderGraph, DotFailureCarriesItsMessage) {
  if (!graphviz_available()) GTEST_SKIP() << "Graphviz's dot is not installed";
  TempDir dir;
  const std::string msg =
      error_of([&] { render_graph("digraph {\n  a -> ;\n", dir.file("x.svg")); });
  EXPECT_PRED2(contains, msg, "failed");
  EXPECT_PRED2(contains, msg, "syntax error");
  EXPECT_FALSE(fs::exists(dir.file("x.svg")));
}

TEST(RenderGraph, WithoutGraphvizOnPathSaysSo) {
  TempDir dir;
  fs::create_directory(dir.file("empty"));
  test::ScopedPath path(dir.file("empty"));
  EXPECT_FALSE(graphviz_available());
  const std::string dot = dot_text(rnn::drawing(rnn::parse_arc(kRnnEnasArc)));
  const std::string msg = error_of([&] { render_graph(dot, dir.file("cell.svg")); });
  EXPECT_PRED2(contains, msg, "Graphviz");
  EXPECT_PRED2(contains, msg, "install graphviz");
  EXPECT_FALSE(fs::exists(dir.file("cell.svg")));
  render_graph(dot, dir.file("cell.dot"));  // .dot needs no Graphviz
  EXPECT_EQ(read(dir.file("cell.dot")), dot);
}

}  // namespace
}  // namespace enas
