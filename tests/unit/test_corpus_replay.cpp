// Every input in tests/corpus/parsers (seeds from real machines, and inputs the fuzzer found
// interesting) goes through every parser again: an input that once crashed a parser stays here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <variant>

#include "collect/collect.hpp"

#include "elf/elf_file.hpp"
#include "fuzz/feed_binary.hpp"
#include "loader/ld_so_cache.hpp"
#include "fuzz/feed_parsers.hpp"
#include "fuzz/feed_report.hpp"
#include "fuzz/feed_tree.hpp"
#include "fuzz/tree.hpp"
#include "loader/resolver.hpp"
#include "sys/root_fs.hpp"

namespace {

namespace fs = std::filesystem;

std::string bytes_of_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Every file of tests/corpus/DIR through `feed`, each expected to hold every invariant.
template <typename Feed>
size_t replay(const char* dir, Feed feed) {
  fs::path corpus = fs::path(GPUDOCTOR_TEST_DATA).parent_path() / "corpus" / dir;
  size_t count = 0;
  for (const auto& e : fs::directory_iterator(corpus)) {
    std::string bytes = bytes_of_file(e.path());
    std::string problem = feed(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    EXPECT_EQ(problem, "") << e.path();
    ++count;
  }
  return count;
}

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

// tests/corpus/tree (the test hosts written by tests/fuzz/seed_from_host.py, and what
// fuzz_resolver and fuzz_collect found) through the loader model and through every collector.
TEST(CorpusReplay, TheLoaderModelAndTheCollectorsSurviveTheTreeCorpus) {
  EXPECT_GE(replay("tree", gpudoctor::fuzz::feed_resolver), 11u) << "the corpus is missing";
  EXPECT_GE(replay("tree", gpudoctor::fuzz::feed_collectors), 11u);
}

// tests/corpus/snapshots (real snapshots, and what fuzz_report found) through the loader, the
// rules and every renderer, whose outputs hold their invariants.
TEST(CorpusReplay, EveryRendererHoldsItsInvariantsOverTheSnapshotCorpus) {
  EXPECT_GE(replay("snapshots", gpudoctor::fuzz::feed_report), 3u) << "the corpus is missing";
}

// The tree format lays out what it says: a venv with torch's metadata, an ELF whose RPATH
// $ORIGIN leads to its NEEDED, a link; the resolver finds the library where the loader would.
TEST(FuzzTree, ARecordListBecomesAFileTreeTheResolverReads) {
  using namespace gpudoctor;
  auto tree = fuzz::decode_tree(
      "junk before the first record\n"
      "@elf /opt/app/lib/libapp.so\nsoname=libapp.so\nneeded=libdep.so.1\nrpath=$ORIGIN/../deps\n"
      "@elf /opt/app/deps/libdep.so.1.2\nsoname=libdep.so.1\n"
      "@link /opt/app/deps/libdep.so.1\nlibdep.so.1.2\n"
      "@file /etc/os-release\nID=debian\nVERSION_ID=\"12\"\n"
      "@dir /tmp/empty\n"
      "@ldpath /nowhere\n"
      "@load /opt/app/lib/libapp.so");
  ASSERT_EQ(tree.entries.size(), 5u);
  EXPECT_EQ(tree.entries[3].body, "ID=debian\nVERSION_ID=\"12\"");
  ASSERT_EQ(tree.loads, std::vector<std::string>{"/opt/app/lib/libapp.so"});
  EXPECT_EQ(tree.ld_library_path, "/nowhere");
  fuzz::ScratchRoot scratch;
  ASSERT_TRUE(scratch.lay_out(tree));
  RootFs root(scratch.path());
  EXPECT_TRUE(root.is_dir("/tmp/empty"));
  EXPECT_EQ(root.read_link("/opt/app/deps/libdep.so.1"), "libdep.so.1.2");
  auto elf = elf::read_elf_file(root, "/opt/app/lib/libapp.so");
  ASSERT_TRUE(std::holds_alternative<elf::ElfFile>(elf)) << std::get<elf::ElfError>(elf).reason;
  const auto& file = std::get<elf::ElfFile>(elf);
  EXPECT_EQ(file.soname, "libapp.so");
  EXPECT_EQ(file.needed, std::vector<std::string>{"libdep.so.1"});
  ASSERT_TRUE(file.rpath);
  EXPECT_EQ(file.rpath->raw, "$ORIGIN/../deps");
  loader::ResolverConfig config;
  loader::Resolver resolver(root, config);
  auto t = resolver.load_tree("/opt/app/lib/libapp.so", {}, {});
  ASSERT_EQ(t.links.size(), 1u);
  EXPECT_EQ(t.links[0].resolution.path, "/opt/app/lib/../deps/libdep.so.1");
  EXPECT_EQ(t.links[0].resolution.resolved_path, "/opt/app/deps/libdep.so.1.2");
  // Near: a 32-bit copy first on the path is skipped, as the loader skips it.
  auto tree32 = fuzz::decode_tree("@elf /a/liba.so\nneeded=libb.so\nrunpath=/b32:/b64\n@elf /b32/libb.so\nclass=32\n@elf /b64/libb.so\n");
  ASSERT_TRUE(scratch.lay_out(tree32));
  RootFs root32(scratch.path());
  loader::Resolver resolver32(root32, config);
  auto t32 = resolver32.load_tree("/a/liba.so", {}, {});
  ASSERT_EQ(t32.links.size(), 1u);
  EXPECT_EQ(t32.links[0].resolution.path, "/b64/libb.so");
}

// The writer never leaves the scratch folder: ".." is dropped, and a link the input made is not
// followed by a later record (the file is not written at the link's target).
TEST(FuzzTree, NothingIsWrittenOutsideTheScratchRoot) {
  using namespace gpudoctor;
  fuzz::ScratchRoot outside;
  fuzz::ScratchRoot scratch;
  auto tree = fuzz::decode_tree("@link /escape\n" + outside.path() + "\n@file /escape/written\nx\n@file /../../up\ny\n");
  ASSERT_TRUE(scratch.lay_out(tree));
  EXPECT_FALSE(fs::exists(fs::path(outside.path()) / "written"));
  EXPECT_TRUE(fs::is_symlink(fs::path(scratch.path()) / "escape"));
  EXPECT_EQ(bytes_of_file(fs::path(scratch.path()) / "up"), "y\n");
  // Near: the same file below a real folder is written.
  ASSERT_TRUE(scratch.lay_out(fuzz::decode_tree("@dir /escape\n@file /escape/written\nx\n")));
  EXPECT_EQ(bytes_of_file(fs::path(scratch.path()) / "escape" / "written"), "x\n");
  EXPECT_FALSE(fs::exists(fs::path(scratch.path()) / "up")) << "the scratch root is emptied before each input";
}

// The collectors' feed reaches what it fuzzes: the venv seed's torch is found through its
// pyvenv.cfg and dist-info METADATA.
TEST(FuzzTree, TheCollectorsReadTheSeedsVenv) {
  using namespace gpudoctor;
  fs::path seed = fs::path(GPUDOCTOR_TEST_DATA).parent_path() / "corpus" / "tree" / "seed-host-venv-torch231-cu121";
  auto tree = fuzz::decode_tree(bytes_of_file(seed));
  fuzz::ScratchRoot scratch;
  ASSERT_TRUE(scratch.lay_out(tree));
  CollectOptions options;
  options.root = scratch.path();
  options.driver = DriverProbeMode::none;
  Snapshot s = collect(options);
  bool torch = false;
  for (const auto& p : s.packages) torch = torch || (p.name == "torch" && p.version == "2.3.1");
  EXPECT_TRUE(torch) << "torch 2.3.1 not found in the seed's venv";
}

// The invariant of the terminal and Markdown outputs: a raw control character is found, on its
// line; our own colours are not counted when they are allowed, a bare ESC still is.
TEST(FuzzReport, ControlCharactersAreFoundOnTheirLine) {
  using gpudoctor::fuzz::first_control_line;
  EXPECT_EQ(first_control_line("verdict\nfine\n", false), 0u);
  EXPECT_EQ(first_control_line("verdict\nbad \x1b]0;title\x07\n", false), 2u);
  EXPECT_EQ(first_control_line("a\n\x1b[1;31mred\x1b[0m\n", true), 0u);
  EXPECT_EQ(first_control_line("a\n\x1b[1;31mred\x1b[0m\n", false), 2u);
  EXPECT_EQ(first_control_line("a\nb\n\x1b]8;;x\x1b\\\n", true), 3u);
  EXPECT_EQ(first_control_line("tab\there", false), 1u);
  EXPECT_EQ(first_control_line("bad utf-8 \xff", false), 1u);
}

}  // namespace
