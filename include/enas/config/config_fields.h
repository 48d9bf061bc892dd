#pragma once
/// The field table of Config: the one place that names, documents, scopes and orders every field.
/// The CLI's flags and --help, config.json and the printed table are all generated from it.
#include "enas/config/config.h"

namespace enas {

template <typename V>
void Config::visit(V&& v) {
  // ---------------------------------------------------------------- ours
  v("preset", preset, "apply a preset (see `enas presets`) before --config and flags", kAll);
  v("dataset", dataset,
    "images: cifar10 | cifar100 | fashion_mnist | mnist | folder; text: ptb | text (docs/data.md)",
    kAll);
  v("data,data_path", data, "data folder (default: $ENAS_DATA_DIR, or Debian's fashion-mnist)",
    kAll);
  v("cifar100_labels", cifar100_labels,
    "cifar100: fine (100 classes) | coarse (the 20 superclasses)", kImage);
  v("image_size", image_size,
    "folder: images resized to N x N (shorter side to N, centre crop); 0: their own size", kImage);
  v("image_channels", image_channels, "folder: 1 | 3 (0: 3 unless every image is gray)", kImage);
  v("data_cache", data_cache, "folder: where decoded images are cached (default DATA/.enas-cache)",
    kImage);
  v("skip_bad_images", skip_bad_images,
    "folder: leave out images that do not decode, with a warning (else an error)", kImage);
  v("max_image_pixels", max_image_pixels,
    "folder: images of more pixels are refused (decompression bombs)", kImage);
  v("vocab_min_count", vocab_min_count,
    "text: training words seen fewer times become <unk> (1 keeps every word)", kLm);
  v("out,output_dir", out, "run folder (default: runs/<command>-<date>-<time>)", kAll);
  v("device", device, "cpu | cuda | cuda:N", kAll);
  v("threads", threads, "intra-op threads (0 = every core available)", kAll);
  v("dist_backend", dist_backend,
    "several processes (WORLD_SIZE > 1): auto (nccl on CUDA, gloo on the CPU) | gloo | nccl", kAll);
  v("dist_timeout", dist_timeout,
    "several processes: seconds any exchange may wait for the others before it is an error", kAll);
  v("sync_bn", sync_bn,
    "several processes: batch norm normalises with the whole batch's statistics (off: each "
    "process's part)",
    kImage);
  v("seed", seed, "seeds initialisation, data order, augmentation and dropout", kAll);
  v("report", report,
    "write report.html (configuration, curves, drawings) into the run folder at checkpoints "
    "(at most once a minute) and at the end",
    kAll);
  v("train_limit", train_limit, "use only the first N training images (ptb: tokens; 0 = all)",
    kAll);
  v("test_limit", test_limit,
    "use only the first N test images (ptb: tokens of the valid and test files; 0 = all)", kAll);
  v("memory_format", memory_format,
    "auto (channels-last for the image spaces) | channels_last | contiguous", kImage);
  v("child_clip_mode", child_clip_mode,
    "gradient clipping: none | norm (each tensor) | global, bound child_grad_bound", kAll);
  v("eval_batch_size", eval_batch_size, "batch size of evaluation", kImage);
  v("child_fixed_arc_file", child_fixed_arc_file, "read child_fixed_arc from this file", kTrain);
  v("controller_type", controller_type, "search policy: lstm (the authors') | random (baseline)",
    kSearch);
  v("derive_samples", derive_samples, "search: architectures scored on the whole valid split",
    kSearch);
  v("child_skip_unused_updates", child_skip_unused_updates,
    "search: weights off the sampled path get no update (default: zero gradient, so momentum "
    "and L2 still move them, as the authors)",
    kImageSearch);
  v("num_valids", num_valids, "search: the last N training images form the validation split",
    kImageSearch);
  v("derive_valid_batches", derive_valid_batches,
    "ptb search: validation batches each derived architecture is scored on (0 = all)", kLmSearch);

  // ---------------------------------------------------------------- enas_lm (Penn Treebank)
  // Defaults are child.py's (search); the ptb_final preset sets fixed_lib.py's.
  v("child_hidden_size", child_hidden_size, "ptb: hidden size of the cell and the embedding", kLm);
  v("child_bptt_steps", child_bptt_steps, "ptb: base length of a training segment", kLm);
  v("child_init_range", child_init_range, "ptb: weights start uniform(-r, r)", kLm);
  v("child_alpha", child_alpha, "ptb: activation L2, alpha * mean(s^2)", kLm);
  v("child_beta", child_beta, "ptb: slowness, beta * mean((s_t - s_{t-1})^2)", kLm);
  v("child_drop_e", child_drop_e, "ptb: dropout rate of embedding rows (words)", kLm);
  v("child_drop_i", child_drop_i, "ptb: dropout rate of embedded inputs (one mask per sequence)",
    kLm);
  v("child_drop_x", child_drop_x, "ptb: dropout rate of the cell's input (one mask per batch)",
    kLm);
  v("child_drop_l", child_drop_l, "ptb: dropout rate of the state and node inputs", kLm);
  v("child_drop_o", child_drop_o, "ptb: dropout rate of the cell's outputs", kLm);
  v("child_drop_w", child_drop_w, "ptb: DropConnect rate of the recurrent weights", kLm);
  v("child_weight_decay", child_weight_decay, "ptb: adds weight_decay * sum(w^2) to the loss", kLm);
  v("best_valid_ppl_threshold", best_valid_ppl_threshold,
    "ptb train: weight averaging starts when validation is worse than the best before the "
    "last N epochs",
    kLmTrain);

  // ---------------------------------------------------------------- the authors' flags
  v("reset_output_dir", reset_output_dir, "delete what the run folder holds and start over", kAll);
  v("data_format", data_format,
    "accepted for the authors' scripts; the layout is --memory_format's", kUnused);
  v("search_for", search_for, "search space: macro | micro | rnn (set by --dataset ptb)", kAll);
  v("batch_size,child_batch_size", batch_size, "training batch size", kAll);
  v("num_epochs,child_num_train_epochs", num_epochs, "epochs to train", kAll);
  v("log_every", log_every, "steps between log lines", kAll);
  v("eval_every_epochs", eval_every_epochs, "epochs between evaluations", kAll);
  v("child_num_layers,controller_num_layers", child_num_layers,
    "macro: layers; micro: normal cells per stage; rnn: nodes of the cell", kAll);
  v("child_num_cells", child_num_cells, "micro: blocks per cell", kMicro);
  v("child_out_filters", child_out_filters, "channels of the first layers", kImage);
  v("child_num_branches", child_num_branches, "ops a search may sample", kImageSearch);
  v("child_filter_size", child_filter_size, "accepted, unused (as in the authors' code)", kUnused);
  v("child_out_filters_scale", child_out_filters_scale, "accepted; only 1 is supported", kUnused);
  v("child_block_size", child_block_size, "accepted, unused (as in the authors' code)", kUnused);
  v("child_num_aggregate", child_num_aggregate, "accepted, unused (TF sync replicas)", kUnused);
  v("child_num_replicas", child_num_replicas, "accepted, unused (TF sync replicas)", kUnused);
  v("child_sync_replicas", child_sync_replicas, "accepted, unused (TF sync replicas)", kUnused);
  v("child_cutout_size", child_cutout_size, "cutout square size (0 = none)", kImage);
  v("child_grad_bound", child_grad_bound, "bound for child_clip_mode", kAll);
  v("child_keep_prob", child_keep_prob, "dropout keep probability before the FC layer", kImage);
  v("child_drop_path_keep_prob", child_drop_path_keep_prob,
    "micro: drop-path keep probability of the last cell once ramped in over all steps (1 = off)",
    kMicroTrain);
  v("child_l2_reg", child_l2_reg, "L2: adds l2_reg * sum(w^2) over all weights to the loss",
    kImage);
  v("child_use_aux_heads", child_use_aux_heads, "micro: auxiliary head, loss weight 0.4", kMicro);
  v("child_fixed_arc,fixed_arc", child_fixed_arc, "the architecture, authors' format", kTrain);
  v("child_skip_pattern", child_skip_pattern, "accepted, unused", kUnused);
  v("child_lr_cosine", child_lr_cosine, "SGDR cosine schedule (else staircase decay)", kImage);
  v("child_lr_max", child_lr_max, "cosine: maximum learning rate", kImage);
  v("child_lr_min", child_lr_min, "cosine: minimum learning rate", kImage);
  v("child_lr_T_0", child_lr_T_0, "cosine: epochs of the first period", kImage);
  v("child_lr_T_mul", child_lr_T_mul, "cosine: period growth at each restart", kImage);
  v("child_lr", child_lr, "staircase: initial learning rate; ptb: the (constant) rate", kAll);
  v("child_lr_dec_every", child_lr_dec_every, "staircase: epochs between decays", kImage);
  v("child_lr_dec_rate", child_lr_dec_rate, "staircase: decay factor", kImage);

  v("controller_lr,controller_learning_rate", controller_lr, "controller Adam learning rate",
    kSearch);
  v("controller_lr_dec_rate", controller_lr_dec_rate, "accepted (the authors never decay)",
    kUnused);
  v("controller_keep_prob", controller_keep_prob, "accepted, unused (as in the authors' code)",
    kUnused);
  v("controller_l2_reg", controller_l2_reg, "controller L2 regularisation", kSearch);
  v("controller_bl_dec,controller_baseline_dec", controller_bl_dec,
    "decay of the reward's moving-average baseline", kSearch);
  v("controller_tanh_constant", controller_tanh_constant, "logits -> c * tanh(logits); 0 = off",
    kSearch);
  v("controller_op_tanh_reduce", controller_op_tanh_reduce, "micro: op logits use c / reduce",
    kMicroSearch);
  v("controller_temperature", controller_temperature, "logits / temperature; 0 = off", kSearch);
  v("controller_entropy_weight", controller_entropy_weight, "entropy bonus in the reward", kSearch);
  v("controller_skip_target", controller_skip_target, "macro: target skip probability",
    kMacroSearch);
  v("controller_skip_weight", controller_skip_weight, "macro: weight of the skip KL penalty",
    kMacroSearch);
  v("controller_num_aggregate", controller_num_aggregate, "samples per controller update", kSearch);
  v("controller_num_replicas", controller_num_replicas, "accepted, unused (TF sync replicas)",
    kUnused);
  v("controller_train_steps", controller_train_steps, "controller updates per training round",
    kSearch);
  v("controller_forwards_limit", controller_forwards_limit, "accepted, unused", kUnused);
  v("controller_train_every", controller_train_every, "epochs between controller rounds", kSearch);
  v("controller_search_whole_channels", controller_search_whole_channels,
    "macro: search whole ops (the only mode the authors' scripts use)", kMacroSearch);
  v("controller_sync_replicas", controller_sync_replicas, "accepted, unused (TF sync replicas)",
    kUnused);
  v("controller_training", controller_training, "train the controller during a search", kSearch);
  v("controller_use_critic", controller_use_critic, "accepted; the authors' critic is unused",
    kUnused);
}

}  // namespace enas
