#pragma once
/// Every hyper-parameter of a run, in one plain struct. Fields carry the authors' flag names
/// (src/cifar10/main.py) so their scripts translate one to one; ours come first. Precedence:
/// these defaults < `--preset` < `--config FILE` < flags.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "enas/space/authors_arcs.h"

namespace enas {

struct Config {
  // ---------------------------------------------------------------- ours
  std::string preset = "";                // the preset applied ("" = the embedded default below)
  std::string dataset = "fashion_mnist";  // cifar10 | fashion_mnist | ptb
  std::string data = "";               // data folder ("" = $ENAS_DATA_DIR or the Debian package's)
  std::string out = "";                // run folder ("" = runs/<command>-<date>-<time>)
  std::string device = "cpu";          // cpu | cuda | cuda:N
  int threads = 0;                     // intra-op threads; 0 = every core this process may use
  int64_t seed = 1;                    // seeds initialisation, data order, augmentation, dropout
  int64_t train_limit = 0;             // > 0: use only the first N training images
  int64_t test_limit = 0;              // > 0: use only the first N test images
  std::string memory_format = "auto";  // auto | channels_last | contiguous (see use_channels_last)
  std::string child_clip_mode = "none";    // none | norm | global (the authors' "norm" is a no-op)
  int eval_batch_size = 100;               // models.py: eval_batch_size
  std::string child_fixed_arc_file = "";   // read child_fixed_arc from a file (best_arc.txt)
  std::string controller_type = "lstm";    // lstm (the authors') | random (uniform baseline)
  int derive_samples = 100;                // architectures scored on the whole valid split
  bool child_skip_unused_updates = false;  // search: leave weights off the sampled path alone
  int num_valids = 5000;                   // search: last N training images held out
  int derive_valid_batches = 0;            // ptb: validation batches per derived arc (0 = all)

  // ---------------------------------------------------------------- enas_lm (Penn Treebank)
  // Defaults are child.py's (search); the ptb_final preset sets fixed_lib.py's.
  int child_hidden_size = 200;
  int child_bptt_steps = 35;
  float child_init_range = 0.04f;     // uniform(-r, r) for every weight
  float child_alpha = 0.0f;           // activation L2: alpha * mean(s^2)
  float child_beta = 1.0f;            // slowness: beta * mean((s_t - s_{t-1})^2)
  float child_drop_e = 0.10f;         // embedding rows (words)
  float child_drop_i = 0.20f;         // embedded inputs
  float child_drop_x = 0.75f;         // the cell's input
  float child_drop_l = 0.25f;         // state and node inputs
  float child_drop_o = 0.75f;         // the cell's outputs
  float child_drop_w = 0.00f;         // recurrent weights (DropConnect)
  float child_weight_decay = 8e-7f;   // adds weight_decay * sum(w^2) (see docs: not sum(w^4))
  int best_valid_ppl_threshold = 10;  // final: epochs of no improvement before averaging

  // ---------------------------------------------------------------- the authors' flags
  bool reset_output_dir = false;     // start over in an existing run folder
  std::string data_format = "NCHW";  // accepted for compatibility; layout is channels_last's
  std::string search_for = "micro";  // macro | micro | rnn (ptb)
  int batch_size = 128;
  int num_epochs = 1;
  int log_every = 50;  // steps between log lines
  int eval_every_epochs = 1;

  int child_num_layers = 2;  // macro: layers; micro: normal cells (N + 2 cells); rnn: nodes
  int child_num_cells = 5;   // micro: blocks per cell
  int child_out_filters = 16;
  int child_num_branches = 5;              // ops a search may sample; a fixed arc may use any
  int child_filter_size = 5;               // accepted, unused by the authors' code paths we build
  int child_out_filters_scale = 1;         // only 1 is supported
  int child_block_size = 3;                // accepted, unused by the authors too
  int child_num_aggregate = 0;             // accepted (sync replicas), unused
  int child_num_replicas = 1;              // accepted (sync replicas), unused
  bool child_sync_replicas = false;        // accepted, unused
  int child_cutout_size = 0;               // 0 = no cutout
  float child_grad_bound = 5.0f;           // bound of child_clip_mode
  float child_keep_prob = 0.8f;            // dropout keep probability before the FC layer
  float child_drop_path_keep_prob = 1.0f;  // micro: minimum drop-path keep probability
  float child_l2_reg = 2e-4f;              // adds l2_reg * sum(w^2) to the loss
  bool child_use_aux_heads = true;         // micro: auxiliary head with loss weight 0.4
  std::string child_fixed_arc = kMicroFinalArc;  // authors' format (train)
  std::string child_skip_pattern = "";           // accepted, unused
  bool child_lr_cosine = true;                   // SGDR; false = staircase exponential decay
  float child_lr_max = 0.05f;
  float child_lr_min = 0.0001f;
  int child_lr_T_0 = 10;           // epochs of the first cosine period
  int child_lr_T_mul = 2;          // period growth at each restart
  float child_lr = 0.1f;           // without cosine: initial rate
  int child_lr_dec_every = 100;    // without cosine: epochs between decays
  float child_lr_dec_rate = 0.1f;  // without cosine: decay factor

  float controller_lr = 1e-3f;
  float controller_lr_dec_rate = 1.0f;
  float controller_keep_prob = 0.5f;
  float controller_l2_reg = 0.0f;
  float controller_bl_dec = 0.99f;
  float controller_tanh_constant = 0.0f;  // 0 = none
  float controller_op_tanh_reduce = 1.0f;
  float controller_temperature = 0.0f;  // 0 = none
  float controller_entropy_weight = 0.0f;
  float controller_skip_target = 0.8f;
  float controller_skip_weight = 0.0f;
  int controller_num_aggregate = 1;
  int controller_num_replicas = 1;
  int controller_train_steps = 50;
  int controller_forwards_limit = 2;
  int controller_train_every = 2;
  bool controller_search_whole_channels = true;  // the only macro mode the scripts use
  bool controller_sync_replicas = false;
  bool controller_training = true;
  bool controller_use_critic = false;

  /// Calls v(names, field, help) for every field, in a fixed order. `names` is the primary name,
  /// optionally followed by comma-separated aliases ("data,data_path").
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

/// The authors' print_user_flags: one "name......value" line per field, sorted by name.
std::string format_config(const Config& config);

/// Whether activations and weights use channels-last (NHWC) memory. "auto" picks it for both image
/// spaces: oneDNN's depthwise convs run ~5x faster in it and dense ones 25-35%. It used to lose
/// on the macro space only because libtorch 1.13's channels-last batch norm is slow at the
/// authors' channel counts and on sliced gradients, which child/batch_norm.h handles (measured:
/// macro 81-83 images/s channels-last vs 64-70 contiguous; shared macro 191 vs 140, shared
/// micro 86 vs 42).
bool use_channels_last(const Config& config);

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

#include "enas/train/config_fields.h"
