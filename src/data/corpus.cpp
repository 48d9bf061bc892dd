#include "enas/data/corpus.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "enas/util/error.h"
#include "enas/util/text.h"

namespace enas {

namespace fs = std::filesystem;

namespace {

/// Calls on_word(word, line_number) for every word of the file and "<eos>" at each line's end.
/// A NUL byte or a byte that is not UTF-8 is an error: the file is not text, or not in the
/// encoding the vocabulary file (vocab.txt) and the log are written in.
template <typename F>
void for_each_word(const std::string& path, F&& on_word) {
  std::error_code ec;
  require(!fs::is_directory(path, ec), "{} is a folder, not a text file", path);
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot read {}", path);
  std::string line, word;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const size_t nul = line.find('\0');
    require(nul == std::string::npos, "{}:{}: a NUL byte at column {}: not a text file", path,
            line_no, nul + 1);
    const size_t bad = first_invalid_utf8(line);
    require(bad == std::string_view::npos,
            "{}:{}: byte {} (0x{:02x}) is not UTF-8: convert the corpus to UTF-8 (iconv -t UTF-8)",
            path, line_no, bad + 1, static_cast<unsigned char>(line[bad]));
    std::istringstream words(line);
    while (words >> word) on_word(word, line_no);
    on_word(std::string(kEos), line_no);
  }
  require(!in.bad(), "error while reading {}", path);
}

/// Keeps the first `limit` tokens (all when limit <= 0).
void keep_first(torch::Tensor& stream, int64_t limit) {
  if (limit > 0 && limit < stream.numel()) stream = stream.narrow(0, 0, limit);
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

torch::Tensor read_token_ids(const std::string& path, const Vocabulary& vocab, Unknown unknown,
                             const std::string& hint) {
  const int64_t unk = unknown == Unknown::kUnk ? vocab.find(kUnk) : -1;
  require(unknown == Unknown::kError || unk >= 0, "{}: the vocabulary has no {}", path, kUnk);
  std::vector<int64_t> ids;
  for_each_word(path, [&](const std::string& w, int64_t line) {
    int64_t id = vocab.find(w);
    if (id < 0 && unk >= 0) id = unk;
    require(id >= 0, "{}:{}: word '{}' is not in the training vocabulary{}", path, line, escaped(w),
            hint);
    ids.push_back(id);
  });
  require(!ids.empty(), "{} holds no words", path);
  return torch::tensor(ids, torch::kLong);
}

std::string find_ptb_dir(const std::string& dir) {
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
  keep_first(c.train, train_limit);
  keep_first(c.valid, eval_limit);
  keep_first(c.test, eval_limit);
  return c;
}

std::vector<std::string> find_text_files(const std::string& dir) {
  require(fs::is_directory(dir), "text corpus folder {} does not exist (or is not a folder)", dir);
  // The layouts a user is likely to hold: ours, WikiText's and PTB's.
  for (const char* pattern : {"{}.txt", "wiki.{}.tokens", "ptb.{}.txt"}) {
    std::vector<std::string> files;
    for (const char* split : {"train", "valid", "test"}) {
      files.push_back((fs::path(dir) / fmt::format(fmt::runtime(pattern), split)).string());
    }
    if (!fs::exists(files[0])) continue;
    for (size_t i = 1; i < files.size(); ++i) {
      require(fs::is_regular_file(files[i]), "text corpus {} has {} but no {}", dir,
              fs::path(files[0]).filename().string(), fs::path(files[i]).filename().string());
    }
    return files;
  }
  fail(
      "no text corpus in {}: expected train.txt, valid.txt and test.txt (or WikiText's "
      "wiki.train.tokens, wiki.valid.tokens, wiki.test.tokens)",
      dir);
}

Corpus load_text_corpus(const std::string& dir, int64_t min_count, int64_t train_limit,
                        int64_t eval_limit) {
  const std::vector<std::string> files = find_text_files(dir);
  Corpus c;
  c.dir = dir;
  std::vector<std::string> words = read_words(files[0]);
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& w : words) ++counts[w];
  std::vector<std::string> kept;
  for (const auto& [word, count] : counts) {
    if (count >= min_count || word == kEos || word == kUnk) {
      kept.push_back(word);
    } else {
      ++c.folded;
    }
  }
  if (c.folded > 0) kept.emplace_back(kUnk);
  c.vocab = Vocabulary::from_words(std::move(kept));
  const int64_t unk = c.vocab.find(kUnk);
  std::vector<int64_t> ids;
  ids.reserve(words.size());
  for (const auto& w : words) {
    const int64_t id = c.vocab.find(w);
    ids.push_back(id >= 0 ? id : unk);  // only folded words are missing, and then <unk> exists
  }
  require(!ids.empty(), "{} holds no words", files[0]);
  c.train = torch::tensor(ids, torch::kLong);
  const std::string hint = fmt::format(
      ", and the corpus has no {} to stand for it: pass --vocab_min_count K (training words seen "
      "fewer than K times become {}; 2 folds those seen once), or use a corpus with {} in its "
      "training file",
      kUnk, kUnk, kUnk);
  const Unknown unknown = unk >= 0 ? Unknown::kUnk : Unknown::kError;
  c.valid = read_token_ids(files[1], c.vocab, unknown, hint);
  c.test = read_token_ids(files[2], c.vocab, unknown, hint);
  keep_first(c.train, train_limit);
  keep_first(c.valid, eval_limit);
  keep_first(c.test, eval_limit);
  return c;
}

std::string vocabulary_text(const Vocabulary& vocab) {
  std::string text;
  for (const auto& w : vocab.words()) text += w + "\n";
  return text;
}

}  // namespace enas
