#pragma once
// The models inside the checkpoints that end-to-end runs write, for bit-for-bit comparisons of
// runs (resumed against uninterrupted).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "enas/child/image_child.h"
#include "enas/child/rnn_lm.h"
#include "enas/config/config.h"

namespace enas::test {

/// The model of image checkpoint `path` in a fresh fixed child built from `config`.
ImageChild load_child(const Config& config, const std::string& path);

/// The model of language-model checkpoint `path` in a fresh child (`shared`: the search's)
/// built from `config` for a vocabulary of `vocab` words.
RnnLm load_lm(const Config& config, int64_t vocab, const std::string& path, bool shared = false);

/// The configuration a run folder's config.json holds.
Config run_config(const std::string& run);

/// Names of the parameters and buffers that differ between `a` and `b` (same structure).
std::vector<std::string> differing_tensors(const torch::nn::Module& a, const torch::nn::Module& b);

}  // namespace enas::test
