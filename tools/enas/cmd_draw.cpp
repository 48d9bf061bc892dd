// `enas draw ARC_OR_FILE --out FILE.{svg,png,pdf,dot}`: a drawing of an architecture (a micro
// architecture's two cells, a macro network, the Penn Treebank cell), with Graphviz.
#include <fmt/format.h>

#include <filesystem>
#include <optional>
#include <sstream>

#include "cli.h"
#include "enas/report/draw.h"
#include "enas/space/arc_text.h"
#include "enas/space/space.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/text.h"

namespace enas::cli {

namespace {

struct DrawOptions {
  std::string arc;    // the architecture, or a file holding one (best_arc.txt)
  std::string space;  // "": the file's header says, else micro
  bool space_given = false;
  std::string out;
  bool json = false;
};

/// Digits, spaces and commas only: an architecture, never a file's name (the macro final
/// preset's 300 numbers are longer than a file name may be).
bool looks_like_arc(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789 ,\t\n\r") == std::string::npos;
}

int run_draw(const DrawOptions& o) {
  require_text("the architecture argument", o.arc, /*lines=*/true);
  require_text("--out", o.out);
  require(!o.space_given || !o.space.empty(), "--space is empty: give one of {}", space_names());
  std::string text = o.arc, space_name = o.space, from = "the architecture";
  std::error_code ec;
  if (!looks_like_arc(o.arc) && std::filesystem::is_regular_file(o.arc, ec)) {
    // best_arc.txt names its space in its header line.
    std::istringstream in(read_small_file(o.arc, "architecture file", kMaxArcFileBytes));
    std::string first;
    std::getline(in, first);
    const auto header = parse_arc_header(first, o.arc);
    if (space_name.empty() && header && !header->search_for.empty()) {
      space_name = header->search_for;
    }
    text = read_arc_file(o.arc);
    from = o.arc;
  }
  const bool guessed = space_name.empty();
  if (guessed) space_name = kMicroSpace;
  const Space& space = space_named(space_name);
  std::optional<Architecture> arc;
  try {
    arc = Architecture::parse(space, text);
  } catch (const Error& e) {
    if (!guessed) throw;
    std::string others;
    for (const Space* other : all_spaces()) {
      if (other == &space) continue;
      others += fmt::format("{}--space {}", others.empty() ? "" : " or ", other->name());
    }
    fail("{} (read as a {} architecture: pass {} for the other spaces)", e.what(), space.name(),
         others);
  }
  render_graph(arc_dot(*arc), o.out);
  write_stdout(fmt::format("drew {} ({} space) into {}\n", from, space.name(), o.out));
  if (o.json) print_json_line({{"out", o.out}, {"space", space.name()}, {"arc", arc->text()}});
  return 0;
}

}  // namespace

void add_draw_command(CLI::App& app, State& state) {
  auto* sub = app.add_subcommand(
      "draw",
      "draw an architecture (a string in the authors' format, or best_arc.txt) with Graphviz");
  static DrawOptions o;
  sub->add_option("arc", o.arc, "the architecture, or a file holding one (e.g. RUN/best_arc.txt)")
      ->required();
  sub->add_option("--space,--search_for", o.space,
                  "macro | micro | rnn (default: the file's header, else micro)");
  sub->add_option("--out", o.out, "FILE.svg, .png, .pdf (Graphviz's dot) or .dot (the text)")
      ->required();
  sub->add_flag("--json", o.json, "end with one JSON line");
  sub->callback([&state, sub] {
    o.space_given = sub->get_option("--space")->count() > 0;
    state.run = [] { return run_draw(o); };
  });
}

}  // namespace enas::cli
