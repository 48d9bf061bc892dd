#include "cli.h"

#include <fmt/format.h>

#include <filesystem>
#include <sstream>
#include <type_traits>

#include "enas/config/presets.h"
#include "enas/space/space.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/runtime.h"
#include "enas/util/text.h"

namespace enas::cli {

namespace {

/// Value of `--name value` or `--name=value` in argv (the last one wins), or "".
std::string scan(int argc, char** argv, const std::vector<std::string>& names) {
  std::string found;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    for (const auto& n : names) {
      if (a == n && i + 1 < argc) found = argv[i + 1];
      if (a.rfind(n + "=", 0) == 0) found = a.substr(n.size() + 1);
    }
  }
  return found;
}

bool has_flag(int argc, char** argv, const std::string& name) {
  for (int i = 1; i < argc; ++i)
    if (argv[i] == name) return true;
  return false;
}

/// "data,data_path" -> "--data,--data_path"; bools also get the authors' "--noNAME".
std::string flag_names(const char* names, bool negatable) {
  std::string in(names), out, neg;
  size_t start = 0;
  while (start <= in.size()) {
    size_t comma = in.find(',', start);
    std::string n =
        in.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    out += (out.empty() ? "--" : ",--") + n;
    if (negatable) neg += ",!--no" + n;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out + neg;
}

/// A best_arc.txt may start with "# enas search_for=micro child_num_layers=6 ..." naming the
/// space and sizes the architecture belongs to: apply those.
void apply_arc_header(Config& c, const std::string& path) {
  std::istringstream in(read_small_file(path, "architecture file", kMaxConfigBytes));
  std::string line;
  std::getline(in, line);
  const auto header = parse_arc_header(line, path);
  if (!header) return;
  if (!header->search_for.empty()) c.search_for = header->search_for;
  if (!header->dataset.empty()) c.dataset = header->dataset;
  if (header->num_cells) c.child_num_cells = *header->num_cells;
  if (header->num_layers) c.child_num_layers = *header->num_layers;
}

/// Whether a --config file names `key`.
bool config_file_sets(const std::string& path, const std::string& key) {
  if (path.empty()) return false;
  const auto j = parse_json(read_small_file(path, "config file", kMaxConfigBytes), path,
                            /*lenient=*/true);
  return j.is_object() && j.contains(key);
}

}  // namespace

State prescan(int argc, char** argv) {
  State s;
  // `launch` and `run` pass their command's flags on untouched: each process or stage reads them.
  if (argc > 1 && (std::string(argv[1]) == "launch" || std::string(argv[1]) == "run")) return s;
  std::string preset = scan(argc, argv, {"--preset"});
  s.resume_from = scan(argc, argv, {"--resume_from"});
  const bool resume = has_flag(argc, argv, "--resume") || !s.resume_from.empty();
  require(!resume || preset.empty(),
          "--preset does not go with --resume: a resumed run keeps its configuration "
          "(config.json); change single flags instead");
  require(!resume || !has_flag(argc, argv, "--reset_output_dir"),
          "--resume and --reset_output_dir contradict each other: pick one");
  const std::string config_file = scan(argc, argv, {"--config"});
  const bool arc_given = !scan(argc, argv, {"--child_fixed_arc", "--fixed_arc"}).empty() ||
                         config_file_sets(config_file, "child_fixed_arc");
  const bool arc_file_given = !scan(argc, argv, {"--child_fixed_arc_file"}).empty() ||
                              !scan(argc, argv, {"--from_search"}).empty() ||
                              config_file_sets(config_file, "child_fixed_arc_file");
  require(!(arc_given && arc_file_given),
          "both an architecture (--child_fixed_arc) and a file of one (--child_fixed_arc_file "
          "or --from_search) are given: pass one");
  if (!preset.empty()) find_preset(preset).apply(s.config);
  s.config.preset = preset;
  // Derivation continues a search: its configuration is the search's.
  std::string checkpoint = scan(argc, argv, {"--checkpoint"});
  if (!checkpoint.empty()) {
    auto saved = std::filesystem::path(checkpoint).parent_path() / "config.json";
    require(std::filesystem::exists(saved), "--checkpoint: no config.json beside {}", checkpoint);
    apply_config_file(s.config, saved.string());
  }
  // Hand-off from a search: the matching final preset, the search's data and best_arc.txt.
  std::string from = scan(argc, argv, {"--from_search"});
  if (!from.empty()) {
    require(std::filesystem::exists(from + "/config.json") &&
                std::filesystem::exists(from + "/best_arc.txt"),
            "--from_search {}: expected a search run folder with config.json and best_arc.txt",
            from);
    Config searched;
    apply_config_file(searched, from + "/config.json");
    if (preset.empty()) {
      find_preset(final_preset_for(searched)).apply(s.config);
      s.config.preset = "from_search";
    }
    s.config.dataset = searched.dataset;
    s.config.data = searched.data;
    s.config.cifar100_labels = searched.cifar100_labels;
    s.config.vocab_min_count = searched.vocab_min_count;
    s.config.image_size = searched.image_size;
    s.config.image_channels = searched.image_channels;
    s.config.data_cache = searched.data_cache;
    s.config.skip_bad_images = searched.skip_bad_images;
    s.config.max_image_pixels = searched.max_image_pixels;
    s.config.child_fixed_arc_file = from + "/best_arc.txt";
  }
  std::string arc_file = scan(argc, argv, {"--child_fixed_arc_file"});
  if (arc_file.empty()) arc_file = s.config.child_fixed_arc_file;
  if (!arc_file.empty()) apply_arc_header(s.config, arc_file);
  if (resume) {
    std::string out = scan(argc, argv, {"--out", "--output_dir"});
    require(!out.empty(), "--resume needs --out <run folder>");
    std::string saved = out + "/config.json";
    require(std::filesystem::exists(saved), "--resume: {} has no config.json", out);
    apply_config_file(s.config, saved);
    s.saved = s.config;
    s.saved_path = saved;
  }
  s.config_file = scan(argc, argv, {"--config"});
  if (!s.config_file.empty()) apply_config_file(s.config, s.config_file);
  return s;
}

void bind_config(CLI::App* sub, State& state, bool with_resume) {
  state.config.visit([&](const char* names, auto& field, const char* help, Scope) {
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, bool>) {
      sub->add_flag(flag_names(names, true), field, help)->capture_default_str();
    } else {
      // The last value wins, as with the authors' tf.app.flags and prescan(): scripts append
      // overrides. (CLI11's default rejects a repeated option.)
      sub->add_option(flag_names(names, false), field, help)
          ->capture_default_str()
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  });
  sub->add_option("--config", state.config_file, "JSON file of flag values (after --preset)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  if (with_resume) {
    sub->add_flag("--resume", state.resume,
                  "continue the run in --out from its newest checkpoint (its config.json, then "
                  "flags)");
    sub->add_option("--resume_from", state.resume_from,
                    "with --resume: continue from this checkpoint of the run folder (e.g. the one "
                    "before a damaged newest one)");
  }
  if (with_resume) {
    sub->add_option("--from_search", state.from_search,
                    "train a search's best_arc.txt with the matching final preset");
  }
  sub->add_flag("--dry-run,--dry_run", state.dry_run, "build the model, report it and exit");
  sub->add_flag("--json", state.json, "end standard output with one JSON line of results");
  // In the authors' macro scripts but unknown to their main.py (tf.app.flags ignored it).
  static int ignored = 0;
  sub->add_option("--child_num_cell_layers", ignored,
                  "accepted and ignored, as the authors' "
                  "main.py does");
}

SessionOptions session_options(const State& s, const std::string& command,
                               const std::vector<std::string>& warnings) {
  SessionOptions o;
  o.command = command;
  o.resume = s.resume;
  o.resume_from = s.resume_from;
  o.json = s.json;
  o.warnings = warnings;
  return o;
}

std::vector<std::string> check_config(State& s) {
  if (!s.resume_from.empty()) s.resume = true;
  validate(s.config);
  if (!s.resume || !s.saved) return {};
  return resume_changes(*s.saved, s.config, s.saved_path);
}

}  // namespace enas::cli
