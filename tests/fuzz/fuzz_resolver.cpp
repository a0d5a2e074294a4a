// libFuzzer target over the loader model: the input is a small file tree (tree.hpp: ELF files
// built from SONAME/NEEDED/RPATH/RUNPATH lines or raw bytes, links, an ld.so.cache, LD_LIBRARY_PATH)
// laid out in a scratch root and resolved through RootFs.
//   build-fuzz/tests/fuzz_resolver tests/corpus/tree
#include <cstdio>
#include <cstdlib>

#include "feed_tree.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (auto problem = gpudoctor::fuzz::feed_resolver(data, size); !problem.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}
