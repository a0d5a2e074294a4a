// libFuzzer target over the collectors' own parsing: the input is a small file tree (tree.hpp)
// given to every collector as --root (os-release, /proc and /sys files, pyvenv.cfg, METADATA,
// RECORD, version.py, build_info.py, kernel logs, the libraries), the snapshot then written and
// read back.
//   build-fuzz/tests/fuzz_collect tests/corpus/tree
#include <cstdio>
#include <cstdlib>

#include "feed_tree.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (auto problem = gpudoctor::fuzz::feed_collectors(data, size); !problem.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}
