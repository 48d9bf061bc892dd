#pragma once
/// The one error type the library throws for bad input or an impossible request.
/// It is caught once, in the CLI's main(), and printed as a single `error:` line.
#include <fmt/format.h>

#include <functional>
#include <stdexcept>
#include <string>

namespace enas {

/// Bad input (data, architecture, flag value, file system) that the user can fix.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// Throws enas::Error with a fmt-formatted message when `cond` is false.
template <typename... Args>
inline void require(bool cond, fmt::format_string<Args...> format, Args&&... args) {
  if (!cond) throw Error(fmt::format(format, std::forward<Args>(args)...));
}

/// Throws enas::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] inline void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

/// Where warnings go: a function of the warning's text (without the "warning: " prefix).
using WarningSink = std::function<void(const std::string&)>;

/// A warning for the user: something suspicious that does not stop the run (a data file of an
/// unusual size, a flag changed on --resume). It goes to the sink the CLI installs (the run's
/// console and log.txt), else to standard error as one "warning: ..." line.
void warn(const std::string& text);

/// Installs `sink` (empty: standard error) and returns the previous one.
WarningSink set_warning_sink(WarningSink sink);

}  // namespace enas
