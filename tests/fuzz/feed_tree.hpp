#pragma once
// Feeds one input, read as a file tree (tree.hpp) laid out in a scratch root, to the loader model
// and to the collectors (the fuzz targets fuzz_resolver and fuzz_collect and the corpus replay
// test share these). Each returns "" when every invariant held, or the first one broken.
#include <cstddef>
#include <cstdint>
#include <string>

namespace gpudoctor::fuzz {
/// The tree resolved through RootFs: the loader platform detected, /etc/ld.so.cache parsed, each
/// @load object's (or each @elf's) NEEDED tree loaded, and names resolved from it. Invariants:
/// every index of the load tree points at one of its objects; every resolved path is absolute.
std::string feed_resolver(const std::uint8_t* data, std::size_t size);
/// The tree as --root for every collector (no driver loaded): os-release, /proc and /sys files,
/// pyvenv.cfg, METADATA, RECORD, version.py, build_info.py, Jupyter kernels, the libraries.
/// Invariants: no collector fails unexpectedly; the snapshot's JSON is valid and loads back.
std::string feed_collectors(const std::uint8_t* data, std::size_t size);
}  // namespace gpudoctor::fuzz
