// gd_loader: /etc/ld.so.cache in its three layouts. Real caches (this machine's, and caches that
// this machine's ldconfig writes in every format it supports) are checked against `ldconfig -p`;
// caches built here byte by byte (following sysdeps/generic/dl-cache.h) cover what ldconfig
// cannot be made to write (i386 entries before x86-64 ones, glibc-hwcaps entries); hostile
// bytes come from tests/corpus/ld_so_cache and from mutations.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "loader/ld_so_cache.hpp"

namespace fs = std::filesystem;
using namespace gpudoctor::loader;

namespace {

#ifdef GPUDOCTOR_ELF_FIXTURES
const char* const kFixtures = GPUDOCTOR_ELF_FIXTURES;
#else
const char* const kFixtures = nullptr;
#endif
#ifdef GPUDOCTOR_TEST_CORPUS
const std::string kCorpus = GPUDOCTOR_TEST_CORPUS;
#else
const std::string kCorpus = std::string(GPUDOCTOR_TEST_DATA) + "/../corpus";
#endif

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "gd-cache-XXXXXX").string();
    m_path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return m_path; }

 private:
  std::string m_path;
};

std::optional<std::string> find_ldconfig() {
  for (const char* p : {"/sbin/ldconfig", "/usr/sbin/ldconfig", "/usr/bin/ldconfig"}) {
    if (::access(p, X_OK) == 0) return std::string(p);
  }
  return std::nullopt;
}

// Runs a command, returns its stdout and exit status.
std::pair<std::string, int> run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {out, -1};
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = ::pclose(pipe);
  return {out, status};
}

struct PrintedEntry {
  std::string soname;
  std::string flags;
  std::string path;
};

// The lines "\tSONAME (FLAGS) => PATH" of `ldconfig -p` (elf/cache.c print_entry).
std::vector<PrintedEntry> parse_ldconfig_p(const std::string& text) {
  std::vector<PrintedEntry> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '\t') continue;
    auto open = line.find(" (");
    auto arrow = line.rfind(") => ");
    if (open == std::string::npos || arrow == std::string::npos || arrow < open) continue;
    out.push_back({line.substr(1, open - 1), line.substr(open + 2, arrow - open - 2), line.substr(arrow + 5)});
  }
  return out;
}

void expect_same_as_ldconfig(const LdSoCache& cache, const std::vector<PrintedEntry>& printed) {
  ASSERT_EQ(cache.entries.size(), printed.size());
  for (std::size_t i = 0; i < printed.size(); ++i) {
    SCOPED_TRACE(printed[i].soname);
    EXPECT_EQ(cache.entries[i].soname, printed[i].soname);
    EXPECT_EQ(cache.entries[i].flags_description(), printed[i].flags);
    EXPECT_EQ(cache.entries[i].path, printed[i].path);
  }
}

LdSoCache ok(const std::variant<LdSoCache, LdSoCacheError>& parsed) {
  if (const auto* e = std::get_if<LdSoCacheError>(&parsed)) ADD_FAILURE() << "LdSoCacheError: " << e->reason;
  const auto* c = std::get_if<LdSoCache>(&parsed);
  return c != nullptr ? *c : LdSoCache{};
}

// ---- a cache writer following sysdeps/generic/dl-cache.h --------------------------------

struct Entry {
  std::string soname;
  std::string path;
  std::int32_t flags = 0x0303;
  std::optional<std::uint32_t> hwcaps_index;  // index into the glibc-hwcaps extension
  std::uint32_t isa_level = 0;
};

void put32(std::string& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b += static_cast<char>((v >> (8 * i)) & 0xffU);
}
void put64(std::string& b, std::uint64_t v) {
  put32(b, static_cast<std::uint32_t>(v));
  put32(b, static_cast<std::uint32_t>(v >> 32U));
}
void set32(std::string& b, std::size_t at, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xffU);
}

// The new format, its header at `base` of the final file (strings relative to the header).
std::string new_format(const std::vector<Entry>& entries, const std::vector<std::string>& hwcaps,
                       std::size_t base = 0) {
  std::string strings;
  auto add_string = [&](const std::string& s) {
    auto at = static_cast<std::uint32_t>(48 + entries.size() * 24 + strings.size());
    strings += s;
    strings += '\0';
    return at;
  };
  std::string b = "glibc-ld.so.cache1.1";
  std::vector<std::array<std::uint32_t, 2>> offsets;
  for (const auto& e : entries) offsets.push_back({add_string(e.soname), add_string(e.path)});
  std::vector<std::uint32_t> hwcaps_offsets;
  // The loader reads glibc-hwcaps names from the start of the file (dl-cache.c uses `cache`).
  for (const auto& h : hwcaps) hwcaps_offsets.push_back(static_cast<std::uint32_t>(base) + add_string(h));
  put32(b, static_cast<std::uint32_t>(entries.size()));
  put32(b, static_cast<std::uint32_t>(strings.size()));
  b += static_cast<char>(2);  // cache_file_new_flags_endian_little
  b += std::string(3, '\0');
  put32(b, 0);  // extension_offset, set below
  b += std::string(12, '\0');
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    put32(b, static_cast<std::uint32_t>(e.flags));
    put32(b, offsets[i][0]);
    put32(b, offsets[i][1]);
    put32(b, 0);
    std::uint64_t hwcap = 0;
    if (e.hwcaps_index) hwcap = (1ULL << 62U) | (std::uint64_t{e.isa_level} << 32U) | *e.hwcaps_index;
    put64(b, hwcap);
  }
  b += strings;
  while ((base + b.size()) % 4 != 0) b += '\0';
  auto extension_at = static_cast<std::uint32_t>(base + b.size());
  set32(b, 32, extension_at);
  put32(b, 0xEAA42174U);  // cache_extension_magic
  put32(b, hwcaps.empty() ? 1 : 2);
  std::string generator = "gpudoctor test writer";
  std::uint32_t data_at = extension_at + 8 + (hwcaps.empty() ? 1U : 2U) * 16;
  put32(b, 0);  // cache_extension_tag_generator
  put32(b, 0);
  put32(b, data_at);
  put32(b, static_cast<std::uint32_t>(generator.size()));
  std::uint32_t hwcaps_at = data_at + static_cast<std::uint32_t>((generator.size() + 3) / 4 * 4);
  if (!hwcaps.empty()) {
    put32(b, 1);  // cache_extension_tag_glibc_hwcaps
    put32(b, 0);
    put32(b, hwcaps_at);
    put32(b, static_cast<std::uint32_t>(hwcaps.size() * 4));
  }
  b += generator;
  while ((base + b.size()) % 4 != 0) b += '\0';
  for (auto off : hwcaps_offsets) put32(b, off);
  return b;
}

// The old format; with `with_new`, the new one follows at the 8-byte boundary (compat).
std::string old_format(const std::vector<Entry>& entries, bool with_new) {
  std::string b = "ld.so-1.7.0";
  b += '\0';
  put32(b, static_cast<std::uint32_t>(entries.size()));
  std::string strings;
  for (const auto& e : entries) {
    put32(b, static_cast<std::uint32_t>(e.flags));
    put32(b, static_cast<std::uint32_t>(strings.size()));
    strings += e.soname + '\0';
    put32(b, static_cast<std::uint32_t>(strings.size()));
    strings += e.path + '\0';
  }
  if (!with_new) return b + strings;
  // The old entries' strings are shifted past the new part, as elf/cache.c does.
  std::size_t old_end = b.size();
  std::size_t new_at = (old_end + 7) & ~std::size_t{7};
  std::string new_part = new_format(entries, {}, new_at);
  std::size_t shift = (new_at - old_end) + new_part.size();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::size_t at = 16 + i * 12;
    for (std::size_t field : {at + 4, at + 8}) {
      std::uint32_t v = 0;
      for (std::size_t k = 0; k < 4; ++k)
        v |= static_cast<std::uint32_t>(static_cast<unsigned char>(b[field + k])) << (8 * k);
      set32(b, field, static_cast<std::uint32_t>(v + shift));
    }
  }
  b += std::string(new_at - old_end, '\0');
  return b + new_part + strings;
}

// Entries in ldconfig's order: descending by _dl_cache_libcmp (elf/cache.c compare).
std::vector<Entry> sorted(std::vector<Entry> entries) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return cache_name_compare(a.soname, b.soname) > 0; });
  return entries;
}

}  // namespace

TEST(LdSoCache, NameCompareIsNumeric) {
  EXPECT_GT(cache_name_compare("libfoo.so.10", "libfoo.so.9"), 0);
  EXPECT_LT(cache_name_compare("libfoo.so.9", "libfoo.so.10"), 0);
  EXPECT_EQ(cache_name_compare("libfoo.so.09", "libfoo.so.9"), 0);  // leading zeros: same number
  EXPECT_EQ(cache_name_compare("libcudnn.so.9", "libcudnn.so.9"), 0);
  EXPECT_LT(cache_name_compare("libcudnn.so", "libcudnn.so.9"), 0);
  EXPECT_GT(cache_name_compare("libcudnn.so.9", "libcudnn.so"), 0);
  EXPECT_GT(cache_name_compare("lib9", "libx"), 0);  // a digit sorts after any other character
  EXPECT_LT(cache_name_compare("libx", "lib9"), 0);
  EXPECT_EQ(cache_name_compare("", ""), 0);
  EXPECT_EQ(cache_name_compare("libz.so.99999999999999999999", "libz.so.99999999999999999999"), 0);
}

TEST(LdSoCache, ThisMachinesCacheMatchesLdconfigPrint) {
  auto ldconfig = find_ldconfig();
  if (!ldconfig || !fs::exists("/etc/ld.so.cache")) GTEST_SKIP() << "no ldconfig or no /etc/ld.so.cache";
  auto [printed, status] = run(*ldconfig + " -p 2>/dev/null");
  ASSERT_EQ(status, 0);
  const LdSoCache cache = ok(parse_ld_so_cache(slurp("/etc/ld.so.cache")));
  expect_same_as_ldconfig(cache, parse_ldconfig_p(printed));
  EXPECT_GT(cache.entries.size(), 10U);
  // Every name ldconfig printed is found by the loader's lookup, at an entry of that name.
  for (const auto& e : cache.entries) {
    if (e.flags != 0x0303 || e.hwcap != 0) continue;
    auto found = lookup_ld_so_cache(cache, e.soname);
    ASSERT_TRUE(found.has_value()) << e.soname;
    EXPECT_EQ(cache_name_compare(cache.entries[*found].soname, e.soname), 0);
  }
}

TEST(LdSoCache, EveryFormatThisLdconfigWrites) {
  auto ldconfig = find_ldconfig();
  if (!ldconfig || kFixtures == nullptr) GTEST_SKIP() << "no ldconfig or no ELF fixtures";
  TempDir tmp;
  std::string lib = tmp.path() + "/lib";
  fs::create_directories(lib);
  fs::copy_file(std::string(kFixtures) + "/libleaf.so.1", lib + "/libleaf.so.1");
  fs::copy_file(std::string(kFixtures) + "/libnccl.so.2", lib + "/libnccl.so.2");
  std::ofstream(tmp.path() + "/ld.so.conf") << lib << "\n";
  struct Case {
    const char* option;
    LdSoCacheFormat format;
  };
  for (const Case& c : {Case{"new", LdSoCacheFormat::new_only}, Case{"old", LdSoCacheFormat::old_only},
                        Case{"compat", LdSoCacheFormat::old_with_new}}) {
    SCOPED_TRACE(c.option);
    std::string cache_file = tmp.path() + "/ld.so.cache." + c.option;
    // -X: leave links alone, -i: no aux cache; the default folders are scanned too.
    auto [out, status] =
        run(*ldconfig + " -X -i -c " + c.option + " -C " + cache_file + " -f " + tmp.path() + "/ld.so.conf 2>&1");
    if (status != 0) GTEST_SKIP() << "ldconfig cannot write the " << c.option << " format here: " << out;
    auto [printed, print_status] = run(*ldconfig + " -p -C " + cache_file + " 2>/dev/null");
    ASSERT_EQ(print_status, 0);
    const LdSoCache cache = ok(parse_ld_so_cache(slurp(cache_file)));
    EXPECT_EQ(cache.format, c.format);
    expect_same_as_ldconfig(cache, parse_ldconfig_p(printed));
    auto leaf = lookup_ld_so_cache(cache, "libleaf.so.1");
    ASSERT_TRUE(leaf.has_value());
    EXPECT_EQ(cache.entries[*leaf].path, lib + "/libleaf.so.1");
    EXPECT_EQ(cache.entries[*leaf].flags_description(), "libc6,x86-64");
    EXPECT_FALSE(lookup_ld_so_cache(cache, "libnot-there.so.1").has_value());
    if (c.format != LdSoCacheFormat::old_only) {
      ASSERT_TRUE(cache.generator.has_value());
      EXPECT_NE(cache.generator->find("ldconfig"), std::string::npos);
    }
  }
}

TEST(LdSoCache, RealArm64CacheTakesOnlyAarch64Entries) {
  // Written by Debian 12's arm64 ldconfig under qemu-user (tests/data/ld_so_cache/README.md).
  const std::string dir = std::string(GPUDOCTOR_TEST_DATA) + "/ld_so_cache/";
  const LdSoCache cache = ok(parse_ld_so_cache(slurp(dir + "debian12-arm64-ld.so.cache")));
  expect_same_as_ldconfig(cache, parse_ldconfig_p(slurp(dir + "debian12-arm64-ldconfig-p.txt")));
  ASSERT_EQ(cache.entries.size(), 21U);
  EXPECT_EQ(cache.generator, "ldconfig (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36");
  for (const auto& e : cache.entries) EXPECT_EQ(e.flags_description(), "libc6,AArch64") << e.soname;
  // sysdeps/unix/sysv/linux/aarch64/dl-cache.h: the arm64 loader accepts 0x0a03 only.
  CacheLookupOptions aarch64;
  aarch64.accepted_flags = 0x0a03;
  auto cuda = lookup_ld_so_cache(cache, "libcuda.so.1", aarch64);
  ASSERT_TRUE(cuda.has_value());
  EXPECT_EQ(cache.entries[*cuda].path, "/usr/lib/aarch64-linux-gnu/libcuda.so.1");
  // Near case: the x86-64 loader's flags (0x0303) take nothing from this cache.
  EXPECT_FALSE(lookup_ld_so_cache(cache, "libcuda.so.1").has_value());
  EXPECT_FALSE(lookup_ld_so_cache(cache, "libc.so.6").has_value());
}

TEST(LdSoCache, HandBuiltOldFormat) {
  auto bytes = old_format(sorted({{"libcudnn.so.9", "/usr/lib/x86_64-linux-gnu/libcudnn.so.9"},
                                  {"libcudart.so.12", "/usr/local/cuda/lib64/libcudart.so.12"},
                                  {"libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"}}),
                          false);
  const LdSoCache cache = ok(parse_ld_so_cache(bytes));
  EXPECT_EQ(cache.format, LdSoCacheFormat::old_only);
  EXPECT_EQ(cache.old_format_entry_count, 3U);
  ASSERT_EQ(cache.entries.size(), 3U);
  auto found = lookup_ld_so_cache(cache, "libcudart.so.12");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(cache.entries[*found].path, "/usr/local/cuda/lib64/libcudart.so.12");
  EXPECT_EQ(cache.entries[*found].flags_description(), "libc6,x86-64");
  EXPECT_FALSE(lookup_ld_so_cache(cache, "libcudart.so.13").has_value());
}

TEST(LdSoCache, HandBuiltCompatFormatReadsTheNewPart) {
  auto entries = sorted({{"libnccl.so.2", "/opt/nccl/libnccl.so.2"}, {"libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6"}});
  const LdSoCache cache = ok(parse_ld_so_cache(old_format(entries, true)));
  EXPECT_EQ(cache.format, LdSoCacheFormat::old_with_new);
  EXPECT_EQ(cache.old_format_entry_count, 2U);
  ASSERT_EQ(cache.entries.size(), 2U);
  EXPECT_EQ(cache.entries[0].soname, "libnccl.so.2");
  EXPECT_EQ(cache.entries[0].path, "/opt/nccl/libnccl.so.2");
  EXPECT_EQ(cache.generator, "gpudoctor test writer");
}

TEST(LdSoCache, LookupSkipsOtherArchitectures) {
  // An i386 entry (flags 0x0003, "libc6") before the x86-64 one: ld.so skips it.
  std::vector<Entry> entries = {{"libz.so.1", "/usr/lib/i386-linux-gnu/libz.so.1", 0x0003},
                                {"libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", 0x0303},
                                {"liba.so.1", "/usr/lib/x86_64-linux-gnu/liba.so.1", 0x0303}};
  const LdSoCache cache = ok(parse_ld_so_cache(new_format(entries, {})));
  EXPECT_EQ(cache.entries[0].flags_description(), "libc6");
  auto found = lookup_ld_so_cache(cache, "libz.so.1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, 1U);
  EXPECT_EQ(ld_so_cache_entries_named(cache, "libz.so.1"), (std::vector<std::size_t>{0, 1}));
  CacheLookupOptions i386;
  i386.accepted_flags = 0x0003;
  EXPECT_EQ(lookup_ld_so_cache(cache, "libz.so.1", i386), 0U);
  // The numeric compare finds "libz.so.01" too.
  EXPECT_EQ(lookup_ld_so_cache(cache, "libz.so.01"), 1U);
}

TEST(LdSoCache, GlibcHwcapsEntriesByPriority) {
  // elf/cache.c puts glibc-hwcaps entries first within a name; search_cache picks the best
  // subfolder the CPU supports and falls back to the plain entry.
  std::vector<Entry> entries = {
      {"libfoo.so.1", "/usr/lib/glibc-hwcaps/x86-64-v3/libfoo.so.1", 0x0303, 1, 2},
      {"libfoo.so.1", "/usr/lib/glibc-hwcaps/x86-64-v2/libfoo.so.1", 0x0303, 0, 1},
      {"libfoo.so.1", "/usr/lib/libfoo.so.1", 0x0303},
  };
  const LdSoCache cache = ok(parse_ld_so_cache(new_format(entries, {"x86-64-v2", "x86-64-v3"})));
  EXPECT_EQ(cache.hwcaps_subdirs, (std::vector<std::string>{"x86-64-v2", "x86-64-v3"}));
  ASSERT_TRUE(cache.entries[0].is_hwcaps_entry());
  EXPECT_EQ(cache.entries[0].hwcaps_subdir, "x86-64-v3");
  EXPECT_EQ(cache.entries[0].isa_level, 2U);
  EXPECT_EQ(cache.entries[0].flags_description(), "libc6,x86-64, hwcap: \"x86-64-v3\"");
  CacheLookupOptions v4;
  v4.hwcaps_priority = {"x86-64-v4", "x86-64-v3", "x86-64-v2"};
  EXPECT_EQ(lookup_ld_so_cache(cache, "libfoo.so.1", v4), 0U);
  CacheLookupOptions v2;
  v2.hwcaps_priority = {"x86-64-v2"};
  EXPECT_EQ(lookup_ld_so_cache(cache, "libfoo.so.1", v2), 1U);
  EXPECT_EQ(lookup_ld_so_cache(cache, "libfoo.so.1"), 2U);  // no glibc-hwcaps support
}

TEST(LdSoCache, BinarySearchOverManyEntries) {
  std::vector<Entry> entries;
  for (int i = 0; i < 300; ++i) {
    entries.push_back({"libgen" + std::to_string(i % 37) + ".so." + std::to_string(i), "/x/" + std::to_string(i)});
  }
  entries = sorted(entries);
  for (bool old : {false, true}) {
    const LdSoCache cache = ok(parse_ld_so_cache(old ? old_format(entries, false) : new_format(entries, {})));
    for (std::size_t i = 0; i < entries.size(); ++i) {
      auto found = lookup_ld_so_cache(cache, entries[i].soname);
      ASSERT_TRUE(found.has_value()) << entries[i].soname;
      EXPECT_EQ(cache.entries[*found].path, entries[i].path);
    }
    EXPECT_FALSE(lookup_ld_so_cache(cache, "libgen5.so.1000").has_value());
  }
}

TEST(LdSoCache, EveryTruncationIsAnErrorOrAValidPrefix) {
  auto entries = sorted({{"libcudnn.so.9", "/usr/lib/x86_64-linux-gnu/libcudnn.so.9"},
                         {"libnccl.so.2", "/usr/lib/x86_64-linux-gnu/libnccl.so.2"}});
  for (const std::string& full :
       {new_format(entries, {"x86-64-v3"}), old_format(entries, false), old_format(entries, true)}) {
    for (std::size_t n = 0; n < full.size(); ++n) {
      auto parsed = parse_ld_so_cache(std::string_view(full).substr(0, n));
      if (const auto* cache = std::get_if<LdSoCache>(&parsed)) {
        for (const auto& e : cache->entries) EXPECT_FALSE(e.path.empty());
        (void)lookup_ld_so_cache(*cache, "libcudnn.so.9");
      }
    }
  }
}

TEST(LdSoCache, SurvivesMutations) {
  std::vector<Entry> entries;
  for (int i = 0; i < 20; ++i)
    entries.push_back({"libm" + std::to_string(i) + ".so.1", "/lib/libm" + std::to_string(i)});
  entries = sorted(entries);
  std::vector<std::string> originals = {new_format(entries, {"x86-64-v2", "x86-64-v3"}), old_format(entries, false),
                                        old_format(entries, true)};
  if (fs::exists("/etc/ld.so.cache")) originals.push_back(slurp("/etc/ld.so.cache"));
  std::mt19937 rng(1999);
  int errors = 0;
  for (const auto& original : originals) {
    std::uniform_int_distribution<std::size_t> offset(0, original.size() - 1);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 1000; ++round) {
      std::string m = original;
      for (int k = 0; k <= round % 6; ++k)
        m[round % 2 == 0 ? offset(rng) % 128 : offset(rng)] = static_cast<char>(byte(rng));
      auto parsed = parse_ld_so_cache(m);
      if (const auto* cache = std::get_if<LdSoCache>(&parsed)) {
        CacheLookupOptions options;
        options.hwcaps_priority = {"x86-64-v3", "x86-64-v2"};
        (void)lookup_ld_so_cache(*cache, "libm3.so.1", options);
        (void)ld_so_cache_entries_named(*cache, "libm3.so.1");
      } else {
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(LdSoCache, CorpusOfHostileFiles) {
  ASSERT_TRUE(fs::is_directory(kCorpus + "/ld_so_cache")) << kCorpus;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kCorpus + "/ld_so_cache")) {
    std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    auto parsed = parse_ld_so_cache(slurp(entry.path().string()));
    if (name.rfind("bad_", 0) == 0) {
      ASSERT_TRUE(std::holds_alternative<LdSoCacheError>(parsed));
      EXPECT_FALSE(std::get<LdSoCacheError>(parsed).reason.empty());
    } else {
      ASSERT_TRUE(std::holds_alternative<LdSoCache>(parsed));
      EXPECT_EQ(lookup_ld_so_cache(std::get<LdSoCache>(parsed), "libx.so"), 0U);
    }
    ++files;
  }
  EXPECT_GE(files, 10);
}
