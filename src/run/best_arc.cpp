#include "enas/run/best_arc.h"

#include <fmt/format.h>

#include "enas/report/draw.h"
#include "enas/space/arc_text.h"
#include "enas/space/space.h"
#include "enas/util/error.h"

namespace enas {

std::string score_text(const BestArc& best) {
  // Perplexities are printed as enas_lm prints them, accuracies as the CIFAR-10 code does.
  return best.score_name == "valid_ppl" ? fmt::format("valid_ppl {:.2f}", best.score)
                                        : fmt::format("{} {:.4f}", best.score_name, best.score);
}

void write_best_arc(const RunDir& run, const Config& c, const BestArc& best) {
  require(best.arc.has_value(), "no architecture was scored: nothing to write");
  const Space& space = best.arc->space();
  SpaceSizes sizes{c.child_num_layers, c.child_num_cells, c.child_num_branches};
  if (space.language()) sizes.num_layers = static_cast<int>(best.arc->decisions().size() / 2);
  const std::string arc = best.arc->text();
  // The header lets `enas train --child_fixed_arc_file` pick the space and its sizes.
  run.write_file("best_arc.txt", space.arc_header(sizes, c.dataset, best.score_name, best.score) +
                                     "\n" + arc + "\n");
  nlohmann::json j = {{"arc", arc},
                      {best.score_name, best.score},
                      {"samples", best.samples},
                      {"search_for", space.name()},
                      {"child_num_layers", sizes.num_layers},
                      {"dataset", c.dataset}};
  if (!space.language()) j["child_num_cells"] = sizes.num_cells;
  run.write_file("best_arc.json", j.dump(2) + "\n");
  draw_arc(run, *best.arc, "best_arc");
}

void draw_arc(const RunDir& run, const Architecture& arc, const std::string& name) {
  if (!run.writes()) return;
  const std::string dot = arc_dot(arc);
  if (!graphviz_available()) {
    run.write_file(name + ".dot", dot);
    warn(
        fmt::format("Graphviz's dot program is not installed: the drawing is {}.dot, not {}.svg "
                    "(apt-get install graphviz; `enas draw` renders it later)",
                    name, name));
    return;
  }
  try {
    render_graph(dot, run.file(name + ".svg"));
  } catch (const Error& e) {
    warn(fmt::format("{}.svg was not drawn: {}", name, e.what()));
  }
}

}  // namespace enas
