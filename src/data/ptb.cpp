#include "enas/data/ptb.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "enas/util/error.h"

namespace enas {

namespace {

/// Calls on_word(word, line_number) for every word of the file and "<eos>" at each line's end.
template <typename F>
void for_each_word(const std::string& path, F&& on_word) {
  std::ifstream in(path);
  require(in.good(), "cannot read {}", path);
  std::string line, word;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream words(line);
    while (words >> word) on_word(word, line_no);
    on_word(std::string(kEos), line_no);
  }
  require(!in.bad(), "error while reading {}", path);
}

}  // namespace

Vocabulary Vocabulary::from_words(std::vector<std::string> words) {
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  Vocabulary v;
  v.words_ = std::move(words);
  for (size_t i = 0; i < v.words_.size(); ++i) v.ids_.emplace(v.words_[i], i);
  return v;
}

int64_t Vocabulary::find(const std::string& word) const {
  auto it = ids_.find(word);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<std::string> read_words(const std::string& path) {
  std::vector<std::string> out;
  for_each_word(path, [&](const std::string& w, int64_t) { out.push_back(w); });
  return out;
}

torch::Tensor read_token_ids(const std::string& path, const Vocabulary& vocab) {
  std::vector<int64_t> ids;
  for_each_word(path, [&](const std::string& w, int64_t line) {
    const int64_t id = vocab.find(w);
    // PTB's valid and test words are all in the training vocabulary (rare ones are <unk>):
    // a miss means the wrong files.
    require(id >= 0, "{}:{}: word '{}' is not in the training vocabulary", path, line, w);
    ids.push_back(id);
  });
  require(!ids.empty(), "{} holds no words", path);
  return torch::tensor(ids, torch::kLong);
}

std::string find_ptb_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  for (const auto& d : {fs::path(dir), fs::path(dir) / "ptb"}) {
    if (fs::exists(d / "ptb.train.txt")) {
      for (const char* f : {"ptb.valid.txt", "ptb.test.txt"}) {
        require(fs::exists(d / f), "Penn Treebank folder {} has ptb.train.txt but no {}",
                d.string(), f);
      }
      return d.string();
    }
  }
  fail(
      "no Penn Treebank in {}: expected ptb.train.txt, ptb.valid.txt and ptb.test.txt there or "
      "in {}/ptb (Mikolov's simple-examples/data)",
      dir, dir);
}

Corpus load_ptb(const std::string& dir, int64_t train_limit, int64_t eval_limit) {
  Corpus c;
  c.dir = find_ptb_dir(dir);
  const std::string train = c.dir + "/ptb.train.txt";
  c.vocab = Vocabulary::from_words(read_words(train));
  c.train = read_token_ids(train, c.vocab);
  c.valid = read_token_ids(c.dir + "/ptb.valid.txt", c.vocab);
  c.test = read_token_ids(c.dir + "/ptb.test.txt", c.vocab);
  if (train_limit > 0 && train_limit < c.train.numel()) c.train = c.train.narrow(0, 0, train_limit);
  for (auto* s : {&c.valid, &c.test}) {
    if (eval_limit > 0 && eval_limit < s->numel()) *s = s->narrow(0, 0, eval_limit);
  }
  return c;
}

}  // namespace enas
