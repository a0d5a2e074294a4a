// Every input in tests/corpus/parsers (seeds from real machines, and inputs the fuzzer found
// interesting) goes through every parser again: an input that once crashed a parser stays here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <variant>

#include "elf/elf_file.hpp"
#include "fuzz/feed_binary.hpp"
#include "loader/ld_so_cache.hpp"
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

// The binary corpora (ELF files, ld.so.caches, and what fuzz_binary found) through the ELF
// reader and the cache parser, each file through both.
TEST(CorpusReplay, TheBinaryParsersSurviveTheirCorpora) {
  namespace fs = std::filesystem;
  fs::path corpus = fs::path(GPUDOCTOR_TEST_DATA).parent_path() / "corpus";
  size_t count = 0;
  for (const char* dir : {"elf", "ld_so_cache", "binary"}) {
    if (!fs::is_directory(corpus / dir)) continue;
    for (const auto& e : fs::directory_iterator(corpus / dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      gpudoctor::fuzz::feed_binary(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++count;
    }
  }
  EXPECT_GE(count, 30u) << "the corpus is missing";
}

// The issue 10 bombs of tests/corpus/binary are refused, each for its own reason.
TEST(CorpusReplay, Issue10BombsAreRefusedWithTheirReason) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(GPUDOCTOR_TEST_DATA).parent_path() / "corpus" / "binary";
  auto bytes_of = [&](const char* name) {
    std::ifstream in(dir / name, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  auto elf_error = [&](const char* name) {
    auto r = gpudoctor::elf::read_elf(bytes_of(name));
    return std::holds_alternative<gpudoctor::elf::ElfError>(r) ? std::get<gpudoctor::elf::ElfError>(r).reason : "parsed";
  };
  auto cache_error = [&](const char* name) {
    auto r = gpudoctor::loader::parse_ld_so_cache(bytes_of(name));
    return std::holds_alternative<gpudoctor::loader::LdSoCacheError>(r) ? std::get<gpudoctor::loader::LdSoCacheError>(r).reason
                                                                          : "parsed";
  };
  EXPECT_EQ(elf_error("issue10-elf-sections-30m-from-sh-size.so"), "too many sections (30000000, at most 65536)");
  EXPECT_EQ(elf_error("issue10-elf-needed-x2000-one-5000-byte-string.so"), "more than 1024 DT_NEEDED entries");
  EXPECT_EQ(elf_error("issue10-elf-rpath-2000-folders.so"), "DT_RPATH: more than 1024 folders");
  EXPECT_EQ(cache_error("issue10-ld-so-cache-100-entries-one-5000-byte-string.cache"),
            "entry 0 points outside the file or names a string longer than 4096 bytes");
  EXPECT_EQ(cache_error("issue10-ld-so-cache-70000-entries-claimed.cache"), "cache claims 70000 entries, room for 10");
}

}  // namespace
