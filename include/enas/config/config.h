#pragma once
/// Every hyper-parameter of a run, in one plain struct. Fields carry the authors' flag names
/// (src/cifar10/main.py) so their scripts translate one to one; ours come first. Precedence:
/// these defaults < `--preset` < `--config FILE` < flags. What each field means, and where it
/// applies, is written once, in the field table (config_fields.h), which `--help` prints.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "enas/data/datasets.h"
#include "enas/space/authors_arcs.h"
#include "enas/space/space.h"

namespace enas {

/// Where a field means something: the spaces and the commands (train, search; derive is a
/// search's). The start-of-run table shows the fields of its space and command; config.json and
/// --help keep every one. A field of every image space (or every language one) says so by its
/// class bit, so that a new space takes the fields of its class without an entry here.
struct Scope {
  unsigned spaces;  // 1 << SpaceKind, and the class bits below
  unsigned modes;   // kTrainMode | kSearchMode
  bool applies(const Space& space, unsigned mode) const;
};
inline constexpr unsigned kTrainMode = 1, kSearchMode = 2;
inline constexpr unsigned kMacroBit = 1u << static_cast<unsigned>(SpaceKind::kMacro);
inline constexpr unsigned kMicroBit = 1u << static_cast<unsigned>(SpaceKind::kMicro);
inline constexpr unsigned kRnnBit = 1u << static_cast<unsigned>(SpaceKind::kRnn);
inline constexpr unsigned kImageBits = 1u << 30;     // every image space
inline constexpr unsigned kLanguageBits = 1u << 31;  // every language space
inline constexpr unsigned kBothModes = kTrainMode | kSearchMode;
inline constexpr Scope kAll{kImageBits | kLanguageBits, kBothModes};
inline constexpr Scope kTrain{kImageBits | kLanguageBits, kTrainMode};
inline constexpr Scope kSearch{kImageBits | kLanguageBits, kSearchMode};
inline constexpr Scope kImage{kImageBits, kBothModes};
inline constexpr Scope kImageSearch{kImageBits, kSearchMode};
inline constexpr Scope kMacroSearch{kMacroBit, kSearchMode};
inline constexpr Scope kMicro{kMicroBit, kBothModes};
inline constexpr Scope kMicroTrain{kMicroBit, kTrainMode};
inline constexpr Scope kMicroSearch{kMicroBit, kSearchMode};
inline constexpr Scope kLm{kRnnBit, kBothModes};
inline constexpr Scope kLmTrain{kRnnBit, kTrainMode};
inline constexpr Scope kLmSearch{kRnnBit, kSearchMode};
inline constexpr Scope kUnused{0, 0};  // accepted for the authors' scripts, read by nothing

struct Config {
  // ---------------------------------------------------------------- ours
  std::string preset = "";
  std::string dataset = "fashion_mnist";
  std::string data = "";
  std::string cifar100_labels = "fine";  // cifar100: fine (100 classes) | coarse (20)
  int64_t vocab_min_count = 1;           // --dataset text: rarer training words become <unk>
  int64_t image_size = 0;                // --dataset folder: N x N (0: the images' own size)
  int64_t image_channels = 0;            // --dataset folder: 1 | 3 (0: 3 unless all are gray)
  std::string data_cache = "";           // --dataset folder: cache folder ("": DATA/.enas-cache)
  bool skip_bad_images = false;          // --dataset folder: images that do not decode left out
  int64_t max_image_pixels = 50000000;   // --dataset folder: larger images are refused
  std::string out = "";
  std::string device = "cpu";
  int threads = 0;
  std::string dist_backend = "auto";  // several processes: auto (nccl on CUDA) | gloo | nccl
  int dist_timeout = 300;             // seconds a collective may wait for the other processes
  bool sync_bn = true;                // several processes: batch norm over the whole batch
  int64_t seed = 1;
  int64_t train_limit = 0;
  int64_t test_limit = 0;
  std::string memory_format = "auto";
  std::string child_clip_mode = "none";
  int eval_batch_size = 100;
  std::string child_fixed_arc_file = "";
  std::string controller_type = "lstm";
  int derive_samples = 100;
  bool child_skip_unused_updates = false;
  int num_valids = 5000;
  int derive_valid_batches = 0;
  bool report = true;  // report.html in the run folder: at checkpoints (once a minute at most)

  // ---------------------------------------------------------------- enas_lm (Penn Treebank)
  int child_hidden_size = 200;
  int child_bptt_steps = 35;
  float child_init_range = 0.04f;
  float child_alpha = 0.0f;
  float child_beta = 1.0f;
  float child_drop_e = 0.10f;
  float child_drop_i = 0.20f;
  float child_drop_x = 0.75f;
  float child_drop_l = 0.25f;
  float child_drop_o = 0.75f;
  float child_drop_w = 0.00f;
  float child_weight_decay = 8e-7f;
  int best_valid_ppl_threshold = 10;

  // ---------------------------------------------------------------- the authors' flags
  bool reset_output_dir = false;
  std::string data_format = "NCHW";
  std::string search_for = kMicroSpace;
  int batch_size = 128;
  int num_epochs = 1;
  int log_every = 50;
  int eval_every_epochs = 1;

  int child_num_layers = 2;
  int child_num_cells = 5;
  int child_out_filters = 16;
  int child_num_branches = 5;
  int child_filter_size = 5;
  int child_out_filters_scale = 1;
  int child_block_size = 3;
  int child_num_aggregate = 0;
  int child_num_replicas = 1;
  bool child_sync_replicas = false;
  int child_cutout_size = 0;
  float child_grad_bound = 5.0f;
  float child_keep_prob = 0.8f;
  float child_drop_path_keep_prob = 1.0f;
  float child_l2_reg = 2e-4f;
  bool child_use_aux_heads = true;
  std::string child_fixed_arc = kMicroFinalArc;
  std::string child_skip_pattern = "";
  bool child_lr_cosine = true;
  float child_lr_max = 0.05f;
  float child_lr_min = 0.0001f;
  int child_lr_T_0 = 10;
  int child_lr_T_mul = 2;
  float child_lr = 0.1f;
  int child_lr_dec_every = 100;
  float child_lr_dec_rate = 0.1f;

  float controller_lr = 1e-3f;
  float controller_lr_dec_rate = 1.0f;
  float controller_keep_prob = 0.5f;
  float controller_l2_reg = 0.0f;
  float controller_bl_dec = 0.99f;
  float controller_tanh_constant = 0.0f;
  float controller_op_tanh_reduce = 1.0f;
  float controller_temperature = 0.0f;
  float controller_entropy_weight = 0.0f;
  float controller_skip_target = 0.8f;
  float controller_skip_weight = 0.0f;
  int controller_num_aggregate = 1;
  int controller_num_replicas = 1;
  int controller_train_steps = 50;
  int controller_forwards_limit = 2;
  int controller_train_every = 2;
  bool controller_search_whole_channels = true;
  bool controller_sync_replicas = false;
  bool controller_training = true;
  bool controller_use_critic = false;

  /// Calls v(names, field, help, scope) for every field, in a fixed order. `names` is the primary
  /// name, optionally followed by comma-separated aliases ("data,data_path").
  template <typename Visitor>
  void visit(Visitor&& v);
};

/// The JSON object of every field under its primary name (config.json of a run folder).
nlohmann::json to_json(const Config& config);

/// Overwrites the fields named in `j` (a `--config` file); unknown keys and wrong types are
/// errors naming the key.
void apply_json(Config& config, const nlohmann::json& j, const std::string& source);

/// The largest config or architecture file read (a larger one is not what the user meant).
inline constexpr uint64_t kMaxConfigBytes = 1 << 20;

/// Reads a `--config` file (JSON) into `config`.
void apply_config_file(Config& config, const std::string& path);

/// The authors' print_user_flags: one "name......value" line per field, sorted by name. With
/// `mode` (kTrainMode | kSearchMode), only the fields that apply to that command in the
/// configuration's space.
std::string format_config(const Config& config, unsigned mode = 0);

/// The start-of-run table: in format_config's layout, the values that define the run (preset,
/// space, data set and folder, device, threads, batch, epochs, the network's sizes, the
/// architecture, the run folder) and every field of the command and space whose value differs
/// from `base` (the preset's values); config.json keeps them all.
std::string format_config_summary(const Config& config, const Config& base, unsigned mode);

/// Whether activations and weights use channels-last (NHWC) memory. "auto" picks it for both image
/// spaces: oneDNN's depthwise convs run ~5x faster in it and dense ones 25-35%. It used to lose
/// on the macro space only because libtorch 1.13's channels-last batch norm is slow at the
/// authors' channel counts and on sliced gradients, which child/batch_norm.h handles (measured:
/// macro 81-83 images/s channels-last vs 64-70 contiguous; shared macro 191 vs 140, shared
/// micro 86 vs 42).
bool use_channels_last(const Config& config);

/// What the run asks of its data (data/datasets.h): --dataset, --data, --train_limit and
/// --test_limit.
DataRequest data_request(const Config& config);

/// Checks values that no single flag parser can (ranges, combinations, finiteness). Throws
/// enas::Error.
void validate(const Config& config);

/// Compares the configuration a run was saved with (`source`: its config.json) with the one a
/// --resume asks for. A changed field that shapes the model, its data or its random streams is an
/// enas::Error; other changes are returned as warnings (the run continues with the new value);
/// where and how long it runs (--threads, --num_epochs, --data, ...) may change silently.
std::vector<std::string> resume_changes(const Config& saved, const Config& now,
                                        const std::string& source);

}  // namespace enas

#include "enas/config/config_fields.h"
