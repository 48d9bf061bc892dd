#pragma once
/// Verification of a checkpoint's bytes. A libtorch checkpoint is a zip archive whose every record
/// (each tensor's bytes, and our meta) is stored with its CRC-32; libtorch's reader does not check
/// them (its miniz is built without CRC checks), so flipped or zeroed bytes load silently. We check
/// them all before loading.
#include <string>

namespace enas {

/// "" when `path` is a readable zip archive whose every stored record matches its CRC-32; else
/// what is wrong, in words: "it is 1234 bytes, cut short", "record 'archive/data/7' fails its
/// CRC-32 check", ...
std::string zip_damage(const std::string& path);

}  // namespace enas
