// libFuzzer target over the ELF reader and the ld.so.cache parser:
//   cmake -DGPUDOCTOR_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ ...;
//   build/tests/fuzz_binary tests/corpus/elf tests/corpus/ld_so_cache tests/corpus/binary
#include "feed_binary.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gpudoctor::fuzz::feed_binary(data, size);
  return 0;
}
