#include "enas/train/presets.h"

#include "enas/space/authors_arcs.h"
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
  c.search_for = "macro";
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
  c.search_for = "macro";
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
  c.search_for = "micro";
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
  c.search_for = "micro";
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

void embedded_default(Config& c) { c = Config{}; }

}  // namespace

const std::vector<Preset>& all_presets() {
  static const std::vector<Preset> presets = {
      {"default", "the embedded default: the authors' micro cell on Fashion-MNIST, 1 epoch",
       "ours (no preset)", "train", embedded_default},
      {"cifar10_macro_final", "train the authors' macro architecture, 24 layers, 96 filters",
       "scripts/cifar10_macro_final.sh", "train", macro_final},
      {"cifar10_micro_final", "train the authors' micro cells, 15 layers, 36 filters",
       "scripts/cifar10_micro_final.sh", "train", micro_final},
      {"cifar10_macro_search", "ENAS search of the macro space, 12 layers, 36 filters",
       "scripts/cifar10_macro_search.sh", "search", macro_search},
      {"cifar10_micro_search", "ENAS search of the micro space, 6 layers, 20 filters",
       "scripts/cifar10_micro_search.sh", "search", micro_search},
  };
  return presets;
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
