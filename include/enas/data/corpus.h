#pragma once
/// Text corpora for the language model: Penn Treebank in Mikolov's form (ptb.train.txt,
/// ptb.valid.txt, ptb.test.txt), read as enas_lm's process.py reads it, and any corpus in the same
/// layout (`--dataset text`: train.txt, valid.txt, test.txt, as WikiText-2's). Words are split on
/// white space, one `<eos>` ends every line; the vocabulary is the training file's words in byte
/// order.
#include <torch/torch.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace enas {

inline constexpr const char* kEos = "<eos>";
inline constexpr const char* kUnk = "<unk>";

class Vocabulary {
 public:
  /// The sorted distinct words of `words` (which should contain <eos>).
  static Vocabulary from_words(std::vector<std::string> words);
  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  /// The word's id, or -1.
  int64_t find(const std::string& word) const;
  const std::string& word(int64_t id) const { return words_.at(id); }
  const std::vector<std::string>& words() const { return words_; }

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int64_t> ids_;
};

/// The words of a text file, `<eos>` after every line. Throws enas::Error if it cannot be read,
/// or when a line holds a NUL byte or is not UTF-8 (naming the file and the line).
std::vector<std::string> read_words(const std::string& path);

/// What a word outside the vocabulary becomes in read_token_ids.
enum class Unknown {
  kError,  // an enas::Error naming the file, the line and the word (PTB: all its words are known)
  kUnk,    // the vocabulary's <unk>
};

/// The file's tokens as ids (1-D int64). `hint` ends the message of an unknown word.
torch::Tensor read_token_ids(const std::string& path, const Vocabulary& vocab,
                             Unknown unknown = Unknown::kError, const std::string& hint = "");

struct Corpus {
  std::string dir;
  Vocabulary vocab;
  torch::Tensor train, valid, test;  // 1-D int64 token streams
  int64_t folded = 0;                // distinct training words folded into <unk> (min count)
};

/// The folder holding ptb.train.txt: `dir` itself or `dir`/ptb. Throws enas::Error naming the
/// missing files otherwise.
std::string find_ptb_dir(const std::string& dir);

/// Loads the three files of `dir` (see find_ptb_dir). `train_limit` / `eval_limit` > 0 keep only
/// that many leading tokens of the training / validation and test streams (after the
/// vocabulary is built from the whole training file).
Corpus load_ptb(const std::string& dir, int64_t train_limit = 0, int64_t eval_limit = 0);

/// The three files of a corpus in `dir`: train.txt, valid.txt and test.txt (or WikiText's
/// wiki.train.tokens, ...). Throws enas::Error naming what is missing.
std::vector<std::string> find_text_files(const std::string& dir);

/// Loads any corpus (find_text_files). Training words seen fewer than `min_count` times become
/// `<unk>`; validation and test words outside the vocabulary become `<unk>` when it has that
/// word, else they are an error naming the first. Limits as load_ptb.
Corpus load_text_corpus(const std::string& dir, int64_t min_count = 1, int64_t train_limit = 0,
                        int64_t eval_limit = 0);

/// The vocabulary as vocab.txt holds it: one word a line, in id order.
std::string vocabulary_text(const Vocabulary& vocab);

}  // namespace enas
