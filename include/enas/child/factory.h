#pragma once
/// Builds the child a configuration asks for.
#include "enas/child/image_child.h"

namespace enas {

struct Config;

/// The fixed-architecture child of `config.search_for` for `config.child_fixed_arc` (or the
/// file `child_fixed_arc_file`), initialised from torch's current generator.
ImageChild make_fixed_child(const Config& config, const ImageShape& shape);

/// The architecture string a configuration names: child_fixed_arc_file's content when set, else
/// child_fixed_arc.
std::string fixed_arc_text(const Config& config);

}  // namespace enas
