#pragma once
/// Built-in presets: every value of the authors' scripts, one function per script.
#include <functional>
#include <string>
#include <vector>

#include "enas/config/config.h"

namespace enas {

struct Preset {
  std::string name;
  std::string summary;
  std::string source;   // the authors' script the values come from
  std::string command;  // the subcommand it is meant for: train | search
  std::function<void(Config&)> apply;
};

/// Every preset, in listing order.
const std::vector<Preset>& all_presets();

/// The preset called `name`; an enas::Error lists the known names otherwise.
const Preset& find_preset(const std::string& name);

}  // namespace enas
