#pragma once
/// Builds the child a configuration asks for.
#include "enas/child/image_child.h"
#include "enas/child/rnn_lm.h"
#include "enas/child/shared_child.h"
#include "enas/space/architecture.h"

namespace enas {

struct Config;

/// The fixed-architecture child of `config.search_for` for `config.child_fixed_arc` (or the
/// file `child_fixed_arc_file`), initialised from torch's current generator.
ImageChild make_fixed_child(const Config& config, const ImageShape& shape);
/// The same for `arc`, an architecture of config.search_for's space.
ImageChild make_fixed_child(const Config& config, const ImageShape& shape, const Architecture& arc);

/// The shared-weight child a search of `config.search_for` trains (macro: child_num_layers,
/// child_out_filters, child_num_branches, child_keep_prob; micro: also child_num_cells and
/// child_use_aux_heads), initialised from torch's current generator. No architecture is set.
SharedChild make_shared_child(const Config& config, const ImageShape& shape);

/// The Penn Treebank language model: `shared` the search's shared child (child_num_layers
/// nodes), else the final child of the fixed architecture (its node count). Sizes, dropouts and
/// init range from the child_* fields; initialised from torch's current generator.
RnnLm make_language_model(const Config& config, int64_t vocab_size, bool shared);

/// The architecture string a configuration names: child_fixed_arc_file's content when set, else
/// child_fixed_arc.
std::string fixed_arc_text(const Config& config);
/// That architecture, read and validated against the sizes the configuration fixes
/// (child_num_cells; child_num_layers where the space's architecture fixes it).
Architecture fixed_architecture(const Config& config);

}  // namespace enas
