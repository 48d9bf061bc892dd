#pragma once
/// What a search space is, in one place per space: the descriptor every other room asks (the
/// controller's decisions, validation, printing, best_arc.txt, drawings), and the registry that
/// looks one up from `--search_for`. Each space's own header (macro.h, micro.h, rnn.h) holds its
/// architecture type, its op catalogue and its network plan.
#include <optional>
#include <string>
#include <vector>

#include "enas/space/drawing.h"

namespace enas {

/// The spaces' names: the values of `--search_for`, and the only place they are spelled.
inline constexpr const char* kMacroSpace = "macro";
inline constexpr const char* kMicroSpace = "micro";
inline constexpr const char* kRnnSpace = "rnn";

/// Which space a descriptor is: what factories switch on to pick a network class.
enum class SpaceKind { kMacro, kMicro, kRnn };

/// The sizes a configuration gives a space's architectures.
struct SpaceSizes {
  int num_layers = 0;    // child_num_layers: macro layers; rnn nodes (micro: not in the arc)
  int num_cells = 0;     // child_num_cells: micro blocks per cell
  int num_branches = 0;  // child_num_branches: ops a search may sample (image spaces)
};

/// What a best_arc.txt header ("# enas search_for=micro child_num_layers=6 ...") says about the
/// architecture under it; num_layers only where the space fixes it.
struct ArcHeader {
  std::string search_for, dataset;
  std::optional<int> num_layers, num_cells;
};

class Space {
 public:
  virtual ~Space() = default;
  virtual SpaceKind kind() const = 0;
  /// The value of --search_for.
  virtual const char* name() const = 0;
  /// True for the recurrent cell of the language model (Penn Treebank), false for image spaces.
  virtual bool language() const = 0;
  /// Ops (rnn: functions) of the catalogue, and the name of one.
  virtual int num_ops() const = 0;
  virtual const char* op_name(int op) const = 0;

  /// Integers in one flat architecture.
  virtual int arc_length(const SpaceSizes& sizes) const = 0;
  /// How many values decision `pos` may take in a search (0 .. n - 1).
  virtual int choices_at(const SpaceSizes& sizes, int pos) const = 0;
  /// Whether the space has skip connections (macro): the controller's skip penalty and the
  /// logs' skip rate apply. Whether decision `pos` is a skip bit, and how many there are.
  virtual bool has_skips() const { return false; }
  virtual bool is_skip(const SpaceSizes& sizes, int pos) const { return false; }
  int num_skips(const SpaceSizes& sizes) const;

  /// Validates a flat architecture (a size of 0 is inferred from it) and returns it. Errors name
  /// the position and the allowed range. Architecture (architecture.h) is the typed form.
  virtual std::vector<int> check(const std::vector<int>& flat, const SpaceSizes& sizes) const = 0;
  /// Parses the authors' format ("0 2 0 0 ...") and validates it as check() does.
  std::vector<int> parse(const std::string& text, const SpaceSizes& sizes) const;
  /// The authors' printing of an architecture in their search logs.
  virtual std::string lines(const std::vector<int>& arc) const = 0;
  /// A readable description, one line per layer, cell or node.
  virtual std::string describe(const std::vector<int>& arc) const = 0;

  /// The first line of best_arc.txt: the space, the sizes and data set the architecture belongs
  /// to, and its score (`score_name`=`score`, e.g. valid_acc).
  virtual std::string arc_header(const SpaceSizes& sizes, const std::string& dataset,
                                 const std::string& score_name, double score) const = 0;
  /// Whether the architecture fixes child_num_layers (macro: one op per layer), so that a final
  /// run takes it from the header; child_num_cells is always taken.
  virtual bool fixes_num_layers() const = 0;
  /// The architecture's picture (report/draw.h renders it); a malformed architecture is an
  /// enas::Error naming the position.
  virtual Drawing drawing(const std::vector<int>& arc) const = 0;
};

/// The descriptor of `name` (macro | micro | rnn); an unknown name is an enas::Error listing them.
const Space& space_named(const std::string& name);
/// Every space, in registry order.
const std::vector<const Space*>& all_spaces();
/// "macro, micro, rnn", for messages and help.
std::string space_names();

/// Reads the header line of an architecture file (`path` names it in errors); nullopt when the
/// first line is not an enas header. Sizes are kept only where the named space fixes them.
std::optional<ArcHeader> parse_arc_header(const std::string& first_line, const std::string& path);

}  // namespace enas
