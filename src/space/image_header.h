#pragma once
// The best_arc.txt header both image spaces write (private to space/).
#include <fmt/format.h>

#include <string>

#include "enas/space/space.h"

namespace enas {

inline std::string image_arc_header(const Space& space, const SpaceSizes& s,
                                    const std::string& dataset, const std::string& score_name,
                                    double score) {
  return fmt::format(
      "# enas search_for={} child_num_layers={} child_num_cells={} dataset={} {}={:.4f}",
      space.name(), s.num_layers, s.num_cells, dataset, score_name, score);
}

}  // namespace enas
