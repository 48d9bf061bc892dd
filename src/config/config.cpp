#include "enas/config/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <type_traits>

#include "enas/data/cifar100.h"
#include "enas/space/space.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/runtime.h"
#include "enas/util/text.h"

namespace enas {

namespace {

/// The most threads a process may ask for, per core of the machine.
constexpr int kThreadsPerCore = 4;

std::string primary(const char* names) {
  std::string s(names);
  return s.substr(0, s.find(','));
}

template <typename T>
std::string value_string(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return v;
  } else {
    return fmt::format("{}", v);
  }
}

}  // namespace

nlohmann::json to_json(const Config& config) {
  Config copy = config;
  nlohmann::json j = nlohmann::json::object();
  copy.visit(
      [&](const char* names, auto& field, const char*, Scope) { j[primary(names)] = field; });
  return j;
}

void apply_json(Config& config, const nlohmann::json& j, const std::string& source) {
  require(j.is_object(), "{}: expected a JSON object of flag names and values", source);
  std::map<std::string, bool> seen;
  for (auto it = j.begin(); it != j.end(); ++it) seen[it.key()] = false;
  config.visit([&](const char* names, auto& field, const char*, Scope) {
    using T = std::decay_t<decltype(field)>;
    auto key = primary(names);
    auto it = j.find(key);
    if (it == j.end()) return;
    seen[key] = true;
    bool ok;
    if constexpr (std::is_same_v<T, bool>) {
      ok = it->is_boolean();
    } else if constexpr (std::is_same_v<T, std::string>) {
      ok = it->is_string();
    } else if constexpr (std::is_integral_v<T>) {
      ok = it->is_number_integer();
      // A value past the field's range would wrap (2^32 + 1 layers became 1): refuse it.
      const bool in_range =
          !ok || (it->is_number_unsigned()
                      ? it->template get<uint64_t>() <=
                            static_cast<uint64_t>(std::numeric_limits<T>::max())
                      : (it->template get<int64_t>() >= std::numeric_limits<T>::min() &&
                         it->template get<int64_t>() <= std::numeric_limits<T>::max()));
      require(in_range, "{}: '{}' is {}, out of range for a {}-bit integer", source, key,
              it->dump(), 8 * sizeof(T));
      require(ok || !it->is_number(), "{}: '{}' must be an integer, got {}", source, key,
              it->dump());
    } else {
      ok = it->is_number();
    }
    require(ok, "{}: '{}' has the wrong type ({})", source, key, it->dump());
    field = it->template get<T>();
  });
  for (const auto& [key, used] : seen) {
    require(used, "{}: unknown flag '{}'", source, key);
  }
}

void apply_config_file(Config& config, const std::string& path) {
  const std::string text = read_small_file(path, "config file", kMaxConfigBytes);
  apply_json(config, parse_json(text, path), path);
}

bool Scope::applies(const Space& space, unsigned mode) const {
  const unsigned own = 1u << static_cast<unsigned>(space.kind());
  const unsigned cls = space.language() ? kLanguageBits : kImageBits;
  return (spaces & (own | cls)) != 0 && (modes & mode) != 0;
}

std::string format_config(const Config& config, unsigned mode) {
  Config copy = config;
  const Space& space = space_named(mode ? config.search_for : kMicroSpace);
  std::vector<std::pair<std::string, std::string>> rows;
  copy.visit([&](const char* names, auto& field, const char*, Scope scope) {
    if (mode == 0 || scope.applies(space, mode)) {
      rows.emplace_back(primary(names), value_string(field));
    }
  });
  std::sort(rows.begin(), rows.end());
  std::string s;
  for (const auto& [name, value] : rows) {
    // The authors' print_user_flags: name, dots, value on 80 columns.
    size_t used = name.size() + value.size();
    s += name + std::string(used < 80 ? 80 - used : 1, '.') + value + "\n";
  }
  return s;
}

std::string format_config_summary(const Config& config, const Config& base, unsigned mode) {
  static const std::set<std::string> defining = {"preset",
                                                 "search_for",
                                                 "dataset",
                                                 "data",
                                                 "device",
                                                 "threads",
                                                 "batch_size",
                                                 "num_epochs",
                                                 "child_num_layers",
                                                 "child_num_cells",
                                                 "child_out_filters",
                                                 "child_hidden_size",
                                                 "child_fixed_arc",
                                                 "output_dir",
                                                 "out"};
  Config copy = config, other = base;
  const Space& space = space_named(config.search_for);
  std::map<std::string, std::string> theirs;
  other.visit([&](const char* names, auto& field, const char*, Scope) {
    theirs[primary(names)] = value_string(field);
  });
  std::vector<std::pair<std::string, std::string>> rows;
  size_t total = 0;
  copy.visit([&](const char* names, auto& field, const char*, Scope scope) {
    ++total;
    const std::string name = primary(names), value = value_string(field);
    if (!scope.applies(space, mode)) return;
    if (defining.count(name) || theirs[name] != value) rows.emplace_back(name, value);
  });
  std::sort(rows.begin(), rows.end());
  std::string s = fmt::format(
      "configuration: what defines the run and what differs from {} ({} of {} values; "
      "config.json has all)\n",
      config.preset.empty() ? "the defaults" : "preset " + config.preset, rows.size(), total);
  for (const auto& [name, value] : rows) {
    size_t used = name.size() + value.size();
    s += name + std::string(used < 80 ? 80 - used : 1, '.') + value + "\n";
  }
  return s;
}

bool use_channels_last(const Config& c) {
  return c.memory_format == "auto" || c.memory_format == "channels_last";
}

namespace {

void validate_ptb(const Config& c) {
  require(c.child_hidden_size >= 1, "--child_hidden_size must be >= 1, got {}",
          c.child_hidden_size);
  require(c.child_bptt_steps >= 1, "--child_bptt_steps must be >= 1, got {}", c.child_bptt_steps);
  require(c.child_init_range > 0, "--child_init_range must be > 0, got {}", c.child_init_range);
  const std::pair<const char*, float> rates[] = {
      {"child_drop_e", c.child_drop_e}, {"child_drop_i", c.child_drop_i},
      {"child_drop_x", c.child_drop_x}, {"child_drop_l", c.child_drop_l},
      {"child_drop_o", c.child_drop_o}, {"child_drop_w", c.child_drop_w}};
  for (const auto& [name, rate] : rates) {
    require(rate >= 0 && rate < 1, "--{} is a dropping rate in [0, 1), got {}", name, rate);
  }
  require(c.child_alpha >= 0 && c.child_beta >= 0 && c.child_weight_decay >= 0,
          "--child_alpha, --child_beta and --child_weight_decay must be >= 0");
  require(c.child_lr > 0, "--child_lr must be > 0, got {}", c.child_lr);
  require(c.best_valid_ppl_threshold >= 1, "--best_valid_ppl_threshold must be >= 1, got {}",
          c.best_valid_ppl_threshold);
  require(c.derive_valid_batches >= 0, "--derive_valid_batches must be >= 0, got {}",
          c.derive_valid_batches);
}

}  // namespace

DataRequest data_request(const Config& c) {
  return {c.dataset,         c.data,       c.train_limit,    c.test_limit, c.cifar100_labels,
          c.vocab_min_count, c.image_size, c.image_channels, c.data_cache, c.skip_bad_images,
          c.max_image_pixels};
}

void validate(const Config& c) {
  Config copy = c;
  copy.visit([](const char* names, auto& field, const char*, Scope) {
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_floating_point_v<T>) {
      require(std::isfinite(field), "--{} must be a finite number, got {}", primary(names), field);
    }
    if constexpr (std::is_same_v<T, std::string>) {
      // Paths and names reach the log, config.json and report.html: one line of UTF-8. An
      // architecture may stand over lines, as in best_arc.txt.
      const std::string name = primary(names);
      require_text("--" + name, field, /*lines=*/name == "child_fixed_arc");
    }
  });
  require(c.memory_format == "auto" || c.memory_format == "channels_last" ||
              c.memory_format == "contiguous",
          "--memory_format is '{}', allowed: auto, channels_last, contiguous", c.memory_format);
  const DatasetInfo& data = dataset_named(c.dataset);
  const Space& space = space_named(c.search_for);
  require(data.text == space.language(),
          "--search_for {} does not go with --dataset {}: the language space ({}) is for text "
          "data sets ({}), the image spaces for image ones ({}); --preset ptb_search / ptb_final "
          "set both",
          c.search_for, c.dataset, kRnnSpace, dataset_names(/*text=*/true),
          dataset_names(/*text=*/false));
  if (data.text) validate_ptb(c);
  parse_cifar100_labels(c.cifar100_labels);
  require(c.vocab_min_count >= 1, "--vocab_min_count must be >= 1, got {}", c.vocab_min_count);
  require(c.image_size == 0 || c.image_size >= 8,
          "--image_size must be 0 (the images' own size) or at least 8, got {}", c.image_size);
  require(c.image_channels == 0 || c.image_channels == 1 || c.image_channels == 3,
          "--image_channels must be 1, 3 or 0 (3 unless every image is gray), got {}",
          c.image_channels);
  require(c.max_image_pixels >= 4, "--max_image_pixels must be >= 4, got {}", c.max_image_pixels);
  require(c.batch_size > 0, "--batch_size must be > 0, got {}", c.batch_size);
  require(c.eval_batch_size > 0, "--eval_batch_size must be > 0, got {}", c.eval_batch_size);
  require(c.num_epochs >= 1, "--num_epochs must be >= 1, got {}", c.num_epochs);
  require(c.log_every > 0, "--log_every must be > 0, got {}", c.log_every);
  require(c.eval_every_epochs > 0, "--eval_every_epochs must be > 0, got {}", c.eval_every_epochs);
  require(c.threads >= 0, "--threads must be >= 0, got {}", c.threads);
  // Beyond this, threads only wait for each other (and thousands never make a step).
  const int max_threads = kThreadsPerCore * available_cores();
  require(c.threads <= max_threads,
          "--threads {} is more than {} x the {} cores here ({}): pass --threads {} or fewer (0: "
          "all cores)",
          c.threads, kThreadsPerCore, available_cores(), max_threads, max_threads);
  require(c.data_format == "NCHW" || c.data_format == "NHWC",
          "--data_format is '{}', allowed: NCHW, NHWC (the authors' values; the layout in memory "
          "is --memory_format's)",
          escaped(c.data_format));
  require(c.child_skip_pattern.empty() || c.child_skip_pattern == "dense",
          "--child_skip_pattern is '{}', allowed: dense or empty (the authors' values; unused)",
          escaped(c.child_skip_pattern));
  require(c.dist_backend == "auto" || c.dist_backend == "gloo" || c.dist_backend == "nccl",
          "--dist_backend is '{}', allowed: auto, gloo, nccl", c.dist_backend);
  require(c.dist_timeout >= 1, "--dist_timeout must be >= 1 second, got {}", c.dist_timeout);
  require(c.train_limit >= 0 && c.test_limit >= 0, "--train_limit and --test_limit must be >= 0");
  require(c.child_num_layers >= 1, "--child_num_layers must be >= 1, got {}", c.child_num_layers);
  require(c.child_num_cells >= 1, "--child_num_cells must be >= 1, got {}", c.child_num_cells);
  require(c.child_out_filters >= 2 && c.child_out_filters % 2 == 0,
          "--child_out_filters must be even and >= 2, got {}", c.child_out_filters);
  require(c.child_out_filters_scale == 1, "--child_out_filters_scale: only 1 is supported, got {}",
          c.child_out_filters_scale);
  require(c.child_cutout_size >= 0, "--child_cutout_size must be >= 0, got {}",
          c.child_cutout_size);
  require(c.child_keep_prob > 0 && c.child_keep_prob <= 1,
          "--child_keep_prob must be in (0, 1], got {}", c.child_keep_prob);
  require(c.child_drop_path_keep_prob > 0 && c.child_drop_path_keep_prob <= 1,
          "--child_drop_path_keep_prob must be in (0, 1], got {}", c.child_drop_path_keep_prob);
  require(c.child_l2_reg >= 0, "--child_l2_reg must be >= 0, got {}", c.child_l2_reg);
  require(
      c.child_clip_mode == "none" || c.child_clip_mode == "norm" || c.child_clip_mode == "global",
      "--child_clip_mode is '{}', allowed: none, norm, global", c.child_clip_mode);
  require(c.child_grad_bound > 0, "--child_grad_bound must be > 0, got {}", c.child_grad_bound);
  if (c.child_lr_cosine) {
    require(c.child_lr_T_0 >= 1, "--child_lr_T_0 must be >= 1, got {}", c.child_lr_T_0);
    require(c.child_lr_T_mul >= 1, "--child_lr_T_mul must be >= 1, got {}", c.child_lr_T_mul);
    require(c.child_lr_max >= c.child_lr_min && c.child_lr_min >= 0,
            "--child_lr_max ({}) must be >= --child_lr_min ({}) >= 0", c.child_lr_max,
            c.child_lr_min);
  } else {
    require(c.child_lr_dec_every >= 1, "--child_lr_dec_every must be >= 1, got {}",
            c.child_lr_dec_every);
  }
  require(c.controller_type == "lstm" || c.controller_type == "random",
          "--controller_type is '{}', allowed: lstm, random", c.controller_type);
  require(c.derive_samples >= 1, "--derive_samples must be >= 1, got {}", c.derive_samples);
  require(c.num_valids >= 1, "--num_valids must be >= 1, got {}", c.num_valids);
  require(c.controller_num_aggregate >= 1, "--controller_num_aggregate must be >= 1, got {}",
          c.controller_num_aggregate);
  require(c.controller_train_steps >= 0, "--controller_train_steps must be >= 0, got {}",
          c.controller_train_steps);
  require(c.controller_train_every >= 1, "--controller_train_every must be >= 1, got {}",
          c.controller_train_every);
  require(c.controller_bl_dec >= 0 && c.controller_bl_dec <= 1,
          "--controller_bl_dec must be in [0, 1], got {}", c.controller_bl_dec);
  require(c.device == "cpu" || c.device.rfind("cuda", 0) == 0,
          "--device is '{}', allowed: cpu, cuda, cuda:N", c.device);
}

std::vector<std::string> resume_changes(const Config& saved, const Config& now,
                                        const std::string& source) {
  // Where and how long it runs, and how it reports: free to change.
  static const std::set<std::string> kFree = {"out",
                                              "data",
                                              "device",
                                              "threads",
                                              "dist_backend",
                                              "dist_timeout",
                                              "sync_bn",
                                              "num_epochs",
                                              "log_every",
                                              "eval_every_epochs",
                                              "eval_batch_size",
                                              "derive_samples",
                                              "derive_valid_batches",
                                              "preset",
                                              "reset_output_dir"};
  // What defines the model, its data and its random streams: a checkpoint cannot continue with
  // another value (its tensors, its data order or its position would mean something else).
  static const std::set<std::string> kLocked = {"dataset",
                                                "cifar100_labels",
                                                "vocab_min_count",
                                                "image_size",
                                                "image_channels",
                                                "skip_bad_images",
                                                "max_image_pixels",
                                                "search_for",
                                                "seed",
                                                "train_limit",
                                                "test_limit",
                                                "num_valids",
                                                "batch_size",
                                                "child_num_layers",
                                                "child_num_cells",
                                                "child_out_filters",
                                                "child_num_branches",
                                                "child_fixed_arc",
                                                "child_fixed_arc_file",
                                                "child_use_aux_heads",
                                                "child_hidden_size",
                                                "child_bptt_steps",
                                                "controller_type",
                                                "controller_search_whole_channels",
                                                "child_out_filters_scale"};
  const nlohmann::json a = to_json(saved), b = to_json(now);
  std::vector<std::string> warnings;
  for (auto it = a.begin(); it != a.end(); ++it) {
    const auto& was = it.value();
    const auto& is = b.at(it.key());
    if (was == is || kFree.count(it.key())) continue;
    require(!kLocked.count(it.key()),
            "--resume: --{} is {} here but {} in {}: a resumed run keeps the model, data and seed "
            "it started with (start a new run to change it)",
            it.key(), is.dump(), was.dump(), source);
    warnings.push_back(fmt::format("--resume: --{} changes from {} to {} for the rest of the run",
                                   it.key(), was.dump(), is.dump()));
  }
  return warnings;
}

}  // namespace enas
