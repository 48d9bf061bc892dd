#pragma once
/// A search's result on disk: best_arc.txt, which `enas train --child_fixed_arc_file` and
/// `--from_search` read back, and best_arc.json. Both searches (images and Penn Treebank) and
/// `enas derive` write them here.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "enas/config/config.h"
#include "enas/run/run_dir.h"
#include "enas/space/architecture.h"

namespace enas {

struct BestArc {
  std::optional<Architecture> arc;  // none until one is scored
  std::string score_name;           // valid_acc | valid_ppl
  double score = 0;
  int64_t samples = 0;  // architectures scored
};

/// "valid_acc 0.8123" or "valid_ppl 61.42": the score as the logs print it.
std::string score_text(const BestArc& best);

/// Writes best_arc.txt (the space's header line, then the architecture in the authors' format),
/// best_arc.json and the drawing best_arc.svg (draw_arc) into `run`.
void write_best_arc(const RunDir& run, const Config& config, const BestArc& best);

/// Draws `arc` into `run` as NAME.svg (report/draw.h). A drawing never fails a run: without
/// Graphviz it writes NAME.dot and warns, and a failed rendering is a warning.
void draw_arc(const RunDir& run, const Architecture& arc, const std::string& name);

}  // namespace enas
