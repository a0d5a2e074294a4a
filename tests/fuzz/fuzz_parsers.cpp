// libFuzzer target over every text parser and the snapshot loader:
//   cmake -DGPUDOCTOR_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ ...; build/tests/fuzz_parsers tests/corpus/parsers
#include "feed_parsers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gpudoctor::fuzz::feed_parsers(data, size);
  return 0;
}
