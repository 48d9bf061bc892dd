#pragma once
/// Helpers shared by the tests: temporary folders, the optional real data sets, seeding.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

#include "enas/util/error.h"

namespace enas::test {

/// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// A tmpfs of `kib` KiB mounted on a fresh temporary folder for the object's life, where this
/// process may mount one (root, in a namespace that allows it): a small disk to fill.
class SmallDisk {
 public:
  explicit SmallDisk(int kib);
  ~SmallDisk();
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;
  bool mounted() const { return mounted_; }
  /// Why mounting failed ("" when it did not).
  const std::string& why_not() const { return why_not_; }
  const std::string& path() const { return dir_.path(); }
  std::string file(const std::string& name) const { return dir_.file(name); }
  /// Writes a file of zeros until the disk is full.
  void fill();

 private:
  TempDir dir_;
  bool mounted_ = false;
  std::string why_not_;
};

/// Sets PATH for one test (a program made absent: Graphviz, gnuplot) and puts the old value back.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    if (const char* old = std::getenv("PATH")) old_ = old;
    setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() {
    if (old_) {
      setenv("PATH", old_->c_str(), 1);
    } else {
      unsetenv("PATH");
    }
  }
  ScopedPath(const ScopedPath&) = delete;
  ScopedPath& operator=(const ScopedPath&) = delete;

 private:
  std::optional<std::string> old_;
};

/// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick), for one test's
/// rendezvous of several processes.
std::string free_port();

/// $ENAS_DATA_DIR (the folder holding cifar10/ and ptb/), or "" when unset or missing.
std::string data_dir();

/// Whether `text` contains `part` (use with EXPECT_PRED2, which prints both on failure).
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Runs `fn`, expects an enas::Error and returns its message ("" when none was thrown).
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected enas::Error";
  return "";
}

/// Seeds torch and sets one thread: results independent of the machine's cores.
class SeededTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    torch::set_num_threads(1);
  }
};

}  // namespace enas::test
