#include "enas/config/presets.h"

#include "enas/space/authors_arcs.h"
#include "enas/space/space.h"
#include "enas/util/error.h"

namespace enas {

namespace {

// Values every CIFAR-10 script shares.
void cifar10_common(Config& c) {
  c.dataset = "cifar10";
  c.data_format = "NCHW";
  c.log_every = 50;
  c.eval_every_epochs = 1;
  c.child_use_aux_heads = true;
  c.child_lr_cosine = true;
  c.child_lr_max = 0.05f;
  c.child_lr_T_0 = 10;
  c.child_lr_T_mul = 2;
  c.controller_search_whole_channels = true;
  c.controller_entropy_weight = 0.0001f;
  c.controller_train_every = 1;
  c.controller_sync_replicas = true;
  c.controller_op_tanh_reduce = 2.5f;
}

void macro_final(Config& c) {  // scripts/cifar10_macro_final.sh
  cifar10_common(c);
  c.search_for = kMacroSpace;
  c.batch_size = 100;
  c.num_epochs = 310;
  c.child_fixed_arc = kMacroFinalArc;
  c.child_num_layers = 24;
  c.child_out_filters = 96;
  c.child_l2_reg = 2e-4f;
  c.child_num_branches = 4;
  c.child_keep_prob = 0.5f;
  c.child_drop_path_keep_prob = 1.0f;  // not in the script: main.py's default
  c.child_lr_min = 0.001f;
  c.controller_training = false;
  c.controller_num_aggregate = 20;
  c.controller_train_steps = 50;
  c.controller_lr = 0.001f;
  c.controller_tanh_constant = 1.5f;
  c.controller_skip_target = 0.4f;
  c.controller_skip_weight = 0.8f;
}

void macro_search(Config& c) {  // scripts/cifar10_macro_search.sh
  cifar10_common(c);
  c.search_for = kMacroSpace;
  c.batch_size = 128;
  c.num_epochs = 310;
  c.child_fixed_arc = "";
  c.child_num_layers = 12;
  c.child_out_filters = 36;
  c.child_l2_reg = 0.00025f;
  c.child_num_branches = 6;
  c.child_keep_prob = 0.9f;
  c.child_drop_path_keep_prob = 0.6f;  // passed by the script; the macro child ignores it
  c.child_lr_min = 0.0005f;
  c.controller_training = true;
  c.controller_num_aggregate = 20;
  c.controller_train_steps = 50;
  c.controller_lr = 0.001f;
  c.controller_tanh_constant = 1.5f;
  c.controller_skip_target = 0.4f;
  c.controller_skip_weight = 0.8f;
}

void micro_final(Config& c) {  // scripts/cifar10_micro_final.sh
  cifar10_common(c);
  c.search_for = kMicroSpace;
  c.batch_size = 144;
  c.num_epochs = 630;
  c.child_fixed_arc = kMicroFinalArc;
  c.child_num_layers = 15;
  c.child_out_filters = 36;
  c.child_num_branches = 5;
  c.child_num_cells = 5;
  c.child_keep_prob = 0.8f;
  c.child_drop_path_keep_prob = 0.6f;
  c.child_l2_reg = 2e-4f;
  c.child_lr_min = 0.0001f;
  c.controller_training = false;
  c.controller_num_aggregate = 10;
  c.controller_train_steps = 50;
  c.controller_lr = 0.001f;
  c.controller_tanh_constant = 1.5f;
}

void micro_search(Config& c) {  // scripts/cifar10_micro_search.sh
  cifar10_common(c);
  c.search_for = kMicroSpace;
  c.batch_size = 160;
  c.num_epochs = 150;
  c.child_fixed_arc = "";
  c.child_num_layers = 6;
  c.child_out_filters = 20;
  c.child_l2_reg = 1e-4f;
  c.child_num_branches = 5;
  c.child_num_cells = 5;
  c.child_keep_prob = 0.9f;
  c.child_drop_path_keep_prob = 0.6f;
  c.child_lr_min = 0.0005f;
  c.controller_training = true;
  c.controller_num_aggregate = 10;
  c.controller_train_steps = 30;
  c.controller_lr = 0.0035f;
  c.controller_tanh_constant = 1.10f;
}

// Penn Treebank: google-research enas_lm (the corrected language model). The first release's
// scripts/ptb_search.sh / ptb_final.sh belong to the withdrawn model and are not followed.
void ptb_common(Config& c) {
  c.dataset = "ptb";
  c.search_for = kRnnSpace;
  c.child_bptt_steps = 35;       // child.py child_bptt_steps; fixed_lib.py bptt_steps
  c.child_lr = 20.0f;            // child.py / fixed_lib.py learning_rate (constant)
  c.child_clip_mode = "global";  // tf.clip_by_global_norm in both
  c.child_weight_decay = 8e-7f;  // child.py weight_decay; fixed.py child_weight_decay
  c.child_drop_w = 0.0f;         // both
  c.child_drop_o = 0.75f;        // both
  c.log_every = 200;             // search.py / fixed.py log_every
  c.eval_every_epochs = 1;       // both evaluate at every epoch's end
  c.controller_type = "lstm";
}

void ptb_search(Config& c) {  // enas_lm/src/search.py, child.py, controller.py
  ptb_common(c);
  c.child_fixed_arc = "";
  c.batch_size = 128;              // child.py child_batch_size
  c.num_epochs = 600;              // child.py num_train_epochs
  c.child_hidden_size = 200;       // child.py hidden_size
  c.child_init_range = 0.04f;      // child.py init_range
  c.child_grad_bound = 0.1f;       // child.py grad_bound
  c.child_drop_e = 0.10f;          // child.py drop_e
  c.child_drop_i = 0.20f;          // child.py drop_i
  c.child_drop_x = 0.75f;          // child.py drop_x
  c.child_drop_l = 0.25f;          // child.py drop_l
  c.child_alpha = 0.0f;            // child.py alpha
  c.child_beta = 1.0f;             // child.py beta
  c.best_valid_ppl_threshold = 5;  // child.py (the search never averages)
  c.child_num_layers = 9;          // controller.py controller_num_layers
  c.controller_training = true;
  c.controller_lr = 5e-5f;              // controller.py controller_learning_rate
  c.controller_bl_dec = 0.999f;         // controller.py controller_baseline_dec
  c.controller_entropy_weight = 1e-5f;  // controller.py controller_entropy_weight
  c.controller_temperature = 5.0f;      // controller.py controller_temperature
  c.controller_tanh_constant = 2.25f;   // controller.py controller_tanh_constant
  c.controller_num_aggregate = 10;      // controller.py controller_num_aggregate
  c.controller_train_steps = 25;        // controller.py controller_num_train_steps
  c.controller_train_every = 1;         // search.py: after every child epoch
  c.controller_l2_reg = 0.0f;
  c.derive_samples = 100;      // ours: enas_lm has no derivation step
  c.derive_valid_batches = 1;  // ours: the paper's single validation minibatch
}

void ptb_final(Config& c) {  // enas_lm/src/fixed.py, fixed_lib.py
  ptb_common(c);
  c.child_fixed_arc = kRnnEnasArc;  // enas_lm/README.md
  c.child_num_layers = 8;           // the architecture's nodes
  c.batch_size = 64;                // fixed_lib.py batch_size
  c.num_epochs = 3000;              // fixed_lib.py child_num_train_epochs
  c.child_hidden_size = 800;        // fixed_lib.py child_hidden_size
  c.child_init_range = 0.05f;       // fixed_lib.py child_init_range
  c.child_grad_bound = 0.25f;       // fixed_lib.py child_grad_bound
  c.child_drop_e = 0.125f;          // fixed_lib.py child_drop_e
  c.child_drop_i = 0.175f;          // fixed_lib.py child_drop_i
  c.child_drop_x = 0.725f;          // fixed_lib.py child_drop_x
  c.child_drop_l = 0.225f;          // fixed_lib.py child_drop_l
  c.child_alpha = 0.7f;             // fixed_lib.py child_alpha
  c.child_beta = 0.0f;              // fixed_lib.py has no slowness term
  c.best_valid_ppl_threshold = 10;  // fixed_lib.py best_valid_ppl_threshold
  c.controller_training = false;
}

void embedded_default(Config& c) { c = Config{}; }

// The embedded pipeline (`enas` alone, `enas run`): a micro search and the training of what it
// finds, on Fashion-MNIST (a Debian package: nothing to download), about 10 minutes on 2 cores.
// The search is the authors' micro search made small: the default's 2-layer network of 16
// filters, 3 epochs of 15,000 images with a controller round after each, 1,000 validation
// images, 10 derived samples.
void default_search(Config& c) {
  c = Config{};
  c.child_fixed_arc = "";
  c.num_epochs = 3;
  c.train_limit = 15000;  // of the training images left after the validation split
  c.num_valids = 1000;
  c.log_every = 20;
  c.child_keep_prob = 0.9f;            // cifar10_micro_search.sh
  c.child_drop_path_keep_prob = 0.6f;  // cifar10_micro_search.sh
  c.controller_train_every = 1;
  c.controller_train_steps = 10;
  c.controller_num_aggregate = 10;        // cifar10_micro_search.sh
  c.controller_lr = 0.0035f;              // cifar10_micro_search.sh
  c.controller_tanh_constant = 1.10f;     // cifar10_micro_search.sh
  c.controller_op_tanh_reduce = 2.5f;     // cifar10_micro_search.sh
  c.controller_entropy_weight = 0.0001f;  // cifar10_micro_search.sh
  c.derive_samples = 10;
}

// CIFAR-100 as CIFAR-10's scripts: the authors ran no CIFAR-100 script; only the data (and so
// the head's 100 classes) differ.
void cifar100_micro_search(Config& c) {
  micro_search(c);
  c.dataset = "cifar100";
}

void cifar100_micro_final(Config& c) {
  micro_final(c);
  c.dataset = "cifar100";
}

// ... and its final training: the default's network on the found cells, one epoch of 48,000
// images, tested on the whole test split.
void default_final(Config& c) {
  c = Config{};
  c.train_limit = 48000;
  c.log_every = 20;
}

}  // namespace

const std::vector<Preset>& all_presets() {
  static const std::vector<Preset> presets = {
      {"default", "the embedded default: the authors' micro cell on Fashion-MNIST, 1 epoch",
       "ours (no preset)", "train", embedded_default},
      {"default_search", "the embedded pipeline's search: micro, Fashion-MNIST, ~5 minutes",
       "ours (enas run), after scripts/cifar10_micro_search.sh", "search", default_search,
       "default_final"},
      {"default_final", "the embedded pipeline's training of the found cells, ~5 minutes",
       "ours (enas run)", "train", default_final},
      {"cifar10_macro_final", "train the authors' macro architecture, 24 layers, 96 filters",
       "scripts/cifar10_macro_final.sh", "train", macro_final},
      {"cifar10_micro_final", "train the authors' micro cells, 15 layers, 36 filters",
       "scripts/cifar10_micro_final.sh", "train", micro_final},
      {"cifar10_macro_search", "ENAS search of the macro space, 12 layers, 36 filters",
       "scripts/cifar10_macro_search.sh", "search", macro_search, "cifar10_macro_final"},
      {"cifar10_micro_search", "ENAS search of the micro space, 6 layers, 20 filters",
       "scripts/cifar10_micro_search.sh", "search", micro_search, "cifar10_micro_final"},
      {"cifar100_micro_search", "cifar10_micro_search on CIFAR-100 (--cifar100_labels coarse: 20)",
       "scripts/cifar10_micro_search.sh with --dataset cifar100", "search", cifar100_micro_search,
       "cifar100_micro_final"},
      {"cifar100_micro_final", "cifar10_micro_final on CIFAR-100: the authors' cells, 100 classes",
       "scripts/cifar10_micro_final.sh with --dataset cifar100", "train", cifar100_micro_final},
      {"ptb_search", "ENAS search of the recurrent cell on Penn Treebank, 9 nodes, hidden 200",
       "google-research enas_lm/src/{search,child,controller}.py", "search", ptb_search,
       "ptb_final"},
      {"ptb_final", "train enas_lm's recurrent cell on Penn Treebank, hidden 800",
       "google-research enas_lm/src/{fixed,fixed_lib}.py, README", "train", ptb_final},
  };
  return presets;
}

std::string final_preset_for(const Config& searched) {
  for (const auto& p : all_presets()) {
    if (p.name == searched.preset && !p.final_preset.empty()) return p.final_preset;
  }
  if (searched.dataset == "cifar100" && searched.search_for == kMicroSpace) {
    return "cifar100_micro_final";
  }
  // The hand-off (--from_search) then puts the search's data set in the preset's place.
  if (searched.dataset == "cifar10" || searched.dataset == "cifar100") {
    return "cifar10_" + searched.search_for + "_final";
  }
  if (searched.search_for == kRnnSpace) return "ptb_final";
  return "default";
}

const Preset& find_preset(const std::string& name) {
  std::string known;
  for (const auto& p : all_presets()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  fail("unknown preset '{}'; known presets: {}", name, known);
}

}  // namespace enas
