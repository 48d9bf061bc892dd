#include "enas/space/architecture.h"

#include "enas/space/arc_text.h"

namespace enas {

Architecture Architecture::parse(const Space& space, const std::string& text,
                                 const SpaceSizes& sizes) {
  return Architecture(space, space.parse(text, sizes));
}

Architecture Architecture::of(const Space& space, std::vector<int> decisions,
                              const SpaceSizes& sizes) {
  return Architecture(space, space.check(decisions, sizes));
}

std::string Architecture::text() const { return join_ints(decisions_); }

}  // namespace enas
