#pragma once
/// Drawings of architectures as Graphviz DOT text, in the style of DARTS's genotype plots
/// (quark0/darts `visualize.py`). Each space lays out its own picture (Space::drawing: a micro
/// architecture's two cells, a macro network's layers and skips, the recurrent cell); the text is
/// built here without Graphviz; render_graph turns it into .svg, .png or .pdf with Graphviz's `dot`
/// program, or writes the .dot text itself. Torch-free, so a tool can draw without a network.
#include <string>
#include <vector>

#include "enas/space/architecture.h"
#include "enas/space/drawing.h"

namespace enas {

class Space;

/// A drawing (space/drawing.h) as Graphviz DOT text, one statement per line, in the style of
/// DARTS's genotype plots: inputs green, inner nodes blue, the output yellow; a framed group is a
/// cluster.
std::string dot_text(const Drawing& drawing);

/// The drawing of a flat architecture of `space`, as DOT text (its descriptor lays it out);
/// a malformed architecture is an enas::Error naming the position.
std::string arc_dot(const Architecture& arc);

/// Writes `dot` to `out_path` by its extension: `.dot` the text itself; `.svg`, `.png`, `.pdf`
/// what Graphviz's `dot -T<format>` makes of it. Every write goes through write_file_atomic.
/// Throws enas::Error for an unknown extension, a missing `dot` program, `dot` failing (with the
/// first line it printed) and an unwritable output.
void render_graph(const std::string& dot, const std::string& out_path);

/// Whether Graphviz's `dot` program is on PATH: callers that draw as a side effect of a run ask
/// first, and warn once instead of failing when it is not.
bool graphviz_available();

}  // namespace enas
