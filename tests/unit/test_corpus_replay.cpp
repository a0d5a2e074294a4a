// Every input in tests/corpus/parsers (seeds from real machines, and inputs the fuzzer found
// interesting) goes through every parser again: an input that once crashed a parser stays here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/feed_parsers.hpp"

namespace {

TEST(CorpusReplay, EveryParserSurvivesTheCorpus) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(GPUDOCTOR_TEST_DATA).parent_path() / "corpus" / "parsers";
  size_t count = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    gpudoctor::fuzz::feed_parsers(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    ++count;
  }
  EXPECT_GE(count, 10u) << "the corpus is missing";
}

}  // namespace
