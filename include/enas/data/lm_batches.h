#pragma once
/// Batching of a token stream as enas_lm's data_utils.input_producer: the stream cut into
/// `rows` equal rows (the tail dropped), read left to right in segments; input x = tokens
/// [start, start + len), target y = tokens [start + 1, start + len + 1).
#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <vector>

namespace enas {

/// The stream as (rows, stream_size / rows).
torch::Tensor batchify(const torch::Tensor& stream, int64_t rows);

struct Segment {
  int64_t start = 0, len = 0;
};

/// One training epoch's segments with input_producer's random lengths: base length `bptt` with
/// probability 0.95, else bptt / 2; the length a normal draw around it (std 5, redrawn beyond two
/// std as tf.random.truncated_normal), truncated to an integer, at most bptt + 20 and what the row
/// has left. The epoch ends once a segment ends within 3 tokens of the row's end (their
/// should_reset). `row_len` is batchify's second dimension.
std::vector<Segment> random_length_segments(int64_t row_len, int64_t bptt, std::mt19937_64& rng);

/// Evaluation segments of exactly `len` tokens: (row_len - 1) / len of them, the tail dropped as
/// input_producer does; with `cover_all`, a last shorter segment reaches the end (the test
/// stream, which enas_lm reads one token at a time).
std::vector<Segment> fixed_length_segments(int64_t row_len, int64_t len, bool cover_all = false);

/// x and y of one segment of a batchified stream: each (rows, len).
std::pair<torch::Tensor, torch::Tensor> segment_xy(const torch::Tensor& rows, const Segment& s);

}  // namespace enas
