#pragma once
/// The interface of the shared-weight children of an ENAS search: one network holding the
/// weights of every architecture of its space, of which each forward runs the one set last.
///
/// The implementations are MacroSharedImpl (enas/child/macro_shared.h, the authors'
/// general_child.py with fixed_arc None and whole channels) and MicroSharedImpl
/// (enas/child/micro_shared.h, micro_child.py with fixed_arc None). Both compute only the
/// sampled path: parameters off it get no gradient at all (undefined grad), and the rows of the
/// micro child's stacked per-input weights that the arc does not select get a zero gradient.
#include <memory>
#include <vector>

#include "enas/child/image_child.h"

namespace enas {

class SharedChildImpl : public ImageChildImpl {
 public:
  /// The architecture the following forwards use, in the authors' flat format of the space
  /// (macro::Arc::flat() or micro::Arc::flat()). Throws enas::Error on an invalid one.
  virtual void set_arc(const std::vector<int>& flat) = 0;
  /// Number of integers set_arc expects.
  virtual int64_t arc_length() const = 0;
  /// Whether set_arc has been called.
  bool has_arc() const { return has_arc_; }

 protected:
  bool has_arc_ = false;
};

using SharedChild = std::shared_ptr<SharedChildImpl>;

}  // namespace enas
