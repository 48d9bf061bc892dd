#pragma once
/// An architecture of a search space, typed: the space and its decisions in the authors' flat
/// order, validated once where it enters (a string or file in the authors' format, a controller's
/// sample, a derivation's pick). What reads it — a fixed child, a drawing, best_arc.txt, a
/// report — takes it as it is, and asks its space how to read it.
#include <string>
#include <utility>
#include <vector>

#include "enas/space/space.h"

namespace enas {

class Architecture {
 public:
  /// Parses the authors' format ("0 2 0 0 1 4 ..."); a size of 0 is inferred from the text.
  /// Errors name the position and the allowed range.
  static Architecture parse(const Space& space, const std::string& text,
                            const SpaceSizes& sizes = {});
  /// Validates `decisions` (a controller's sample, a checkpoint's record) as parse does.
  static Architecture of(const Space& space, std::vector<int> decisions,
                         const SpaceSizes& sizes = {});

  const Space& space() const { return *space_; }
  /// The flat decisions, in the authors' order (what a shared child's set_arc takes).
  const std::vector<int>& decisions() const { return decisions_; }
  /// The authors' format: the decisions separated by single spaces.
  std::string text() const;
  /// As the authors' search logs print it.
  std::string lines() const { return space_->lines(decisions_); }
  /// One line per layer, cell or node.
  std::string describe() const { return space_->describe(decisions_); }
  /// Its picture (report/draw.h renders it).
  Drawing drawing() const { return space_->drawing(decisions_); }

  bool operator==(const Architecture& o) const {
    return space_ == o.space_ && decisions_ == o.decisions_;
  }

 private:
  Architecture(const Space& space, std::vector<int> decisions)
      : space_(&space), decisions_(std::move(decisions)) {}
  const Space* space_;
  std::vector<int> decisions_;
};

}  // namespace enas
