#pragma once
/// The field table of Config: one place that names, documents and orders every field. CLI
/// registration, JSON and the printed table are all generated from it.
#include "enas/train/config.h"

namespace enas {

template <typename V>
void Config::visit(V&& v) {
  v("preset", preset, "apply a preset (see `enas presets`) before --config and flags");
  v("dataset", dataset, "cifar10 | fashion_mnist | ptb");
  v("data,data_path", data, "data folder (default: $ENAS_DATA_DIR, or Debian's fashion-mnist)");
  v("out,output_dir", out, "run folder (default: runs/<command>-<date>-<time>)");
  v("device", device, "cpu | cuda | cuda:N");
  v("threads", threads, "intra-op threads (0 = every core available)");
  v("seed", seed, "seeds initialisation, data order, augmentation and dropout");
  v("train_limit", train_limit, "use only the first N training images (ptb: tokens; 0 = all)");
  v("test_limit", test_limit,
    "use only the first N test images (ptb: tokens of the valid and test files; 0 = all)");
  v("memory_format", memory_format,
    "auto (channels-last for the image spaces) | channels_last | contiguous");
  v("child_clip_mode", child_clip_mode,
    "gradient clipping: none | norm (each tensor) | global, bound child_grad_bound");
  v("eval_batch_size", eval_batch_size, "batch size of evaluation");
  v("child_fixed_arc_file", child_fixed_arc_file, "read child_fixed_arc from this file");
  v("controller_type", controller_type, "search policy: lstm (the authors') | random (baseline)");
  v("derive_samples", derive_samples, "search: architectures scored on the whole valid split");
  v("child_skip_unused_updates", child_skip_unused_updates,
    "search: weights off the sampled path get no update (default: zero gradient, so momentum "
    "and L2 still move them, as the authors)");
  v("num_valids", num_valids, "search: the last N training images form the validation split");
  v("derive_valid_batches", derive_valid_batches,
    "ptb search: validation batches each derived architecture is scored on (0 = all)");

  v("child_hidden_size", child_hidden_size, "ptb: hidden size of the cell and the embedding");
  v("child_bptt_steps", child_bptt_steps, "ptb: base length of a training segment");
  v("child_init_range", child_init_range, "ptb: weights start uniform(-r, r)");
  v("child_alpha", child_alpha, "ptb: activation L2, alpha * mean(s^2)");
  v("child_beta", child_beta, "ptb: slowness, beta * mean((s_t - s_{t-1})^2)");
  v("child_drop_e", child_drop_e, "ptb: dropout rate of embedding rows (words)");
  v("child_drop_i", child_drop_i, "ptb: dropout rate of embedded inputs (one mask per sequence)");
  v("child_drop_x", child_drop_x, "ptb: dropout rate of the cell's input (one mask per batch)");
  v("child_drop_l", child_drop_l, "ptb: dropout rate of the state and node inputs");
  v("child_drop_o", child_drop_o, "ptb: dropout rate of the cell's outputs");
  v("child_drop_w", child_drop_w, "ptb: DropConnect rate of the recurrent weights");
  v("child_weight_decay", child_weight_decay, "ptb: adds weight_decay * sum(w^2) to the loss");
  v("best_valid_ppl_threshold", best_valid_ppl_threshold,
    "ptb train: weight averaging starts when validation is worse than the best before the "
    "last N epochs");

  v("reset_output_dir", reset_output_dir, "delete what the run folder holds and start over");
  v("data_format", data_format, "accepted for the authors' scripts; layout is --channels_last");
  v("search_for", search_for, "search space: macro | micro | rnn (set by --dataset ptb)");
  v("batch_size,child_batch_size", batch_size, "training batch size");
  v("num_epochs,child_num_train_epochs", num_epochs, "epochs to train");
  v("log_every", log_every, "steps between log lines");
  v("eval_every_epochs", eval_every_epochs, "epochs between evaluations");
  v("child_num_layers,controller_num_layers", child_num_layers,
    "macro: layers; micro: normal cells per stage; rnn: nodes of the cell");
  v("child_num_cells", child_num_cells, "micro: blocks per cell");
  v("child_out_filters", child_out_filters, "channels of the first layers");
  v("child_num_branches", child_num_branches, "ops a search may sample");
  v("child_filter_size", child_filter_size, "accepted, unused (as in the authors' code)");
  v("child_out_filters_scale", child_out_filters_scale, "accepted; only 1 is supported");
  v("child_block_size", child_block_size, "accepted, unused (as in the authors' code)");
  v("child_num_aggregate", child_num_aggregate, "accepted, unused (TF sync replicas)");
  v("child_num_replicas", child_num_replicas, "accepted, unused (TF sync replicas)");
  v("child_sync_replicas", child_sync_replicas, "accepted, unused (TF sync replicas)");
  v("child_cutout_size", child_cutout_size, "cutout square size (0 = none)");
  v("child_grad_bound", child_grad_bound, "bound for child_clip_mode");
  v("child_keep_prob", child_keep_prob, "dropout keep probability before the FC layer");
  v("child_drop_path_keep_prob", child_drop_path_keep_prob,
    "micro: drop-path keep probability of the last cell (1 = off)");
  v("child_l2_reg", child_l2_reg, "L2: adds l2_reg * sum(w^2) over all weights to the loss");
  v("child_use_aux_heads", child_use_aux_heads, "micro: auxiliary head, loss weight 0.4");
  v("child_fixed_arc,fixed_arc", child_fixed_arc, "the architecture, authors' format");
  v("child_skip_pattern", child_skip_pattern, "accepted, unused");
  v("child_lr_cosine", child_lr_cosine, "SGDR cosine schedule (else staircase decay)");
  v("child_lr_max", child_lr_max, "cosine: maximum learning rate");
  v("child_lr_min", child_lr_min, "cosine: minimum learning rate");
  v("child_lr_T_0", child_lr_T_0, "cosine: epochs of the first period");
  v("child_lr_T_mul", child_lr_T_mul, "cosine: period growth at each restart");
  v("child_lr", child_lr, "staircase: initial learning rate; ptb: the (constant) rate");
  v("child_lr_dec_every", child_lr_dec_every, "staircase: epochs between decays");
  v("child_lr_dec_rate", child_lr_dec_rate, "staircase: decay factor");

  v("controller_lr,controller_learning_rate", controller_lr, "controller Adam learning rate");
  v("controller_lr_dec_rate", controller_lr_dec_rate, "accepted (the authors never decay)");
  v("controller_keep_prob", controller_keep_prob, "accepted, unused (as in the authors' code)");
  v("controller_l2_reg", controller_l2_reg, "controller L2 regularisation");
  v("controller_bl_dec,controller_baseline_dec", controller_bl_dec,
    "decay of the reward's moving-average baseline");
  v("controller_tanh_constant", controller_tanh_constant, "logits -> c * tanh(logits); 0 = off");
  v("controller_op_tanh_reduce", controller_op_tanh_reduce, "micro: op logits use c / reduce");
  v("controller_temperature", controller_temperature, "logits / temperature; 0 = off");
  v("controller_entropy_weight", controller_entropy_weight, "entropy bonus in the reward");
  v("controller_skip_target", controller_skip_target, "macro: target skip probability");
  v("controller_skip_weight", controller_skip_weight, "macro: weight of the skip KL penalty");
  v("controller_num_aggregate", controller_num_aggregate, "samples per controller update");
  v("controller_num_replicas", controller_num_replicas, "accepted, unused (TF sync replicas)");
  v("controller_train_steps", controller_train_steps, "controller updates per training round");
  v("controller_forwards_limit", controller_forwards_limit, "accepted, unused");
  v("controller_train_every", controller_train_every, "epochs between controller rounds");
  v("controller_search_whole_channels", controller_search_whole_channels,
    "macro: search whole ops (the only mode the authors' scripts use)");
  v("controller_sync_replicas", controller_sync_replicas, "accepted, unused (TF sync replicas)");
  v("controller_training", controller_training, "train the controller during a search");
  v("controller_use_critic", controller_use_critic, "accepted; the authors' critic is unused");
}

}  // namespace enas
