#pragma once
/// Penn Treebank in Mikolov's text form (ptb.train.txt, ptb.valid.txt, ptb.test.txt), read as
/// enas_lm's process.py reads it: whitespace-separated words, one `<eos>` per line, the
/// vocabulary the training file's words in sorted order.
#include <torch/torch.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace enas {

inline constexpr const char* kEos = "<eos>";

class Vocabulary {
 public:
  /// The sorted distinct words of `words` (which should contain <eos>).
  static Vocabulary from_words(std::vector<std::string> words);
  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  /// The word's id, or -1.
  int64_t find(const std::string& word) const;
  const std::string& word(int64_t id) const { return words_.at(id); }

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int64_t> ids_;
};

/// The words of a text file, `<eos>` after every line. Throws enas::Error if it cannot be read.
std::vector<std::string> read_words(const std::string& path);

/// The file's tokens as ids (1-D int64). A word outside the vocabulary is an enas::Error naming
/// the file, the line and the word.
torch::Tensor read_token_ids(const std::string& path, const Vocabulary& vocab);

struct Corpus {
  std::string dir;
  Vocabulary vocab;
  torch::Tensor train, valid, test;  // 1-D int64 token streams
};

/// The folder holding ptb.train.txt: `dir` itself or `dir`/ptb. Throws enas::Error naming the
/// missing files otherwise.
std::string find_ptb_dir(const std::string& dir);

/// Loads the three files of `dir` (see find_ptb_dir). `train_limit` / `eval_limit` > 0 keep only
/// that many leading tokens of the training / validation and test streams (after the
/// vocabulary is built from the whole training file).
Corpus load_ptb(const std::string& dir, int64_t train_limit = 0, int64_t eval_limit = 0);

}  // namespace enas
