#pragma once
/// Verification of a checkpoint's bytes. A libtorch checkpoint is a zip archive whose every record
/// (each tensor's bytes, and our meta) is stored with its CRC-32; libtorch's reader does not check
/// them (its miniz is built without CRC checks), so flipped or zeroed bytes load silently. We check
/// them all before loading.
#include <cstdint>
#include <string>

namespace enas {

/// "" when `path` is a readable zip archive whose every stored record matches its CRC-32; else
/// what is wrong, in words: "it is 1234 bytes, cut short", "record 'archive/data/7' fails its
/// CRC-32 check", ...
/// A file this process already found intact, and that has not changed since (its inode, size,
/// modification and change times), is not read again.
std::string zip_damage(const std::string& path);

/// Bytes whose CRC-32 this process has computed: what a repeated check saves shows here.
uint64_t zip_bytes_verified();

}  // namespace enas
