#include "enas/util/error.h"

#include <cstdio>
#include <mutex>

namespace enas {

namespace {

std::mutex g_mutex;
WarningSink g_sink;

}  // namespace

void warn(const std::string& text) {
  WarningSink sink;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    sink = g_sink;
  }
  if (sink) {
    sink(text);
    return;
  }
  std::fflush(stdout);
  std::fprintf(stderr, "warning: %s\n", text.c_str());
}

WarningSink set_warning_sink(WarningSink sink) {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::swap(sink, g_sink);
  return sink;
}

}  // namespace enas
