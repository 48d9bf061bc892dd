#include "test_util.h"

#include <cstdlib>
#include <filesystem>
#include <random>

namespace enas::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto p = fs::temp_directory_path() / ("enas-test-" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary folder");
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string data_dir() {
  const char* env = std::getenv("ENAS_DATA_DIR");
  if (!env || !*env || !fs::is_directory(env)) return "";
  return env;
}

}  // namespace enas::test
