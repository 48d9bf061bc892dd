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
  std::string final_preset = "";  // a search preset's: what trains its result (`enas run`)
};

/// The preset that trains what a search of configuration `searched` found: its preset's
/// final_preset, else the final preset of its data set and space (cifar10_<space>_final,
/// ptb_final), else the embedded default.
std::string final_preset_for(const Config& searched);

/// Every preset, in listing order.
const std::vector<Preset>& all_presets();

/// The preset called `name`; an enas::Error lists the known names otherwise.
const Preset& find_preset(const std::string& name);

}  // namespace enas
