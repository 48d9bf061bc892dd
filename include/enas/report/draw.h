#pragma once
/// Drawings of architectures as Graphviz DOT text, in the style of DARTS's genotype plots
/// (quark0/darts `visualize.py`): a micro architecture's normal and reduction cell, a macro
/// network's layers and skip connections, the Penn Treebank recurrent cell. The text is built
/// here without Graphviz; render_graph turns it into .svg, .png or .pdf with Graphviz's `dot`
/// program, or writes the .dot text itself. Torch-free, so a tool can draw without a network.
#include <string>
#include <vector>

#include "enas/space/macro.h"
#include "enas/space/micro.h"
#include "enas/space/rnn.h"

namespace enas {

class Space;

/// Both cells of a micro architecture in one digraph, one cluster each ("normal cell" above
/// "reduction cell"), each left to right: the inputs c_{k-2} and c_{k-1} (nodes 0 and 1), one node
/// per block (numbered 2 + j, as the architecture's indices name it), each block's two inputs as
/// edges labelled with their op, and the output c_{k} that concatenates the loose ends.
/// Validates the architecture first (enas::Error as micro::arc_from_flat words it).
std::string micro_dot(const micro::Arc& arc);

/// A macro network top to bottom: the image, the stem, one box per layer labelled with its op,
/// the chain layer i-1 -> layer i (the op's input), one dashed edge per set skip bit (added to
/// the op's output), the two factorised reductions as small nodes on the chain, and the
/// classifier. Validates the architecture first.
std::string macro_dot(const macro::Arc& arc);

/// The recurrent cell as google-research enas_lm computes it: x_t and h_{t-1} into node 0 (the
/// tanh highway step), node k reading node prev(k) through its function (edge label), and h_t
/// the mean of nodes 1..N (every node but 0, whether another node reads it or not: the cell's
/// average, child/rnn_cell.cpp). Validates the architecture first.
std::string rnn_dot(const rnn::Arc& arc);

/// The drawing of a flat architecture of `space` (micro_dot, macro_dot or rnn_dot by its kind);
/// a malformed architecture is an enas::Error naming the position.
std::string arc_dot(const Space& space, const std::vector<int>& flat);

/// Writes `dot` to `out_path` by its extension: `.dot` the text itself; `.svg`, `.png`, `.pdf`
/// what Graphviz's `dot -T<format>` makes of it. Every write goes through write_file_atomic.
/// Throws enas::Error for an unknown extension, a missing `dot` program, `dot` failing (with the
/// first line it printed) and an unwritable output.
void render_graph(const std::string& dot, const std::string& out_path);

/// Whether Graphviz's `dot` program is on PATH: callers that draw as a side effect of a run ask
/// first, and warn once instead of failing when it is not.
bool graphviz_available();

}  // namespace enas
