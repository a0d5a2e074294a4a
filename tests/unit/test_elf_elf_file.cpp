// gd_elf: the ELF reader against real shared objects built by tests/elf_fixtures.cmake, hostile
// inputs (tests/corpus/elf/ and mutated fixtures), and reads through RootFs under a root.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "elf/elf_file.hpp"
#include "sys/root_fs.hpp"

namespace fs = std::filesystem;
using gpudoctor::RootFs;
using namespace gpudoctor::elf;

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

#define REQUIRE_FIXTURES() \
  if (kFixtures == nullptr) GTEST_SKIP() << "ELF fixtures not built: include tests/elf_fixtures.cmake"

std::string fixture(const std::string& name) { return std::string(kFixtures) + "/" + name; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "gd-elf-XXXXXX").string();
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

ElfFile ok(const ElfResult<ElfFile>& r) {
  if (const auto* e = std::get_if<ElfError>(&r)) ADD_FAILURE() << "ElfError: " << e->reason;
  const auto* f = std::get_if<ElfFile>(&r);
  return f != nullptr ? *f : ElfFile{};
}

}  // namespace

TEST(ElfFile, ReadsTorchCudaAsReadelfShowsIt) {
  REQUIRE_FIXTURES();
  RootFs host("/");
  const ElfFile f = ok(read_elf_file(host, fixture("libtorch_cuda.so")));
  EXPECT_EQ(f.header.bits(), 64);
  EXPECT_EQ(f.header.machine, 62);
  EXPECT_EQ(machine_name(f.header.machine), "x86-64");
  EXPECT_TRUE(f.is_shared_object());
  EXPECT_TRUE(f.has_dynamic);
  EXPECT_EQ(f.soname, "libtorch_cuda.so");
  EXPECT_EQ(f.needed, (std::vector<std::string>{"libc10_cuda.so", "libcudart.so.13", "libnccl.so.2", "libcublas.so.13",
                                                "libcublasLt.so.13", "libcudnn.so.9", "libc10.so"}));
  ASSERT_TRUE(f.rpath.has_value());
  EXPECT_EQ(f.rpath->raw,
            "$ORIGIN/../../nvidia/cudnn/lib:$ORIGIN/../../nvidia/nccl/lib:$ORIGIN/../../nvidia/cu13/lib:$ORIGIN");
  EXPECT_EQ(f.rpath->elements,
            (std::vector<std::string>{"$ORIGIN/../../nvidia/cudnn/lib", "$ORIGIN/../../nvidia/nccl/lib",
                                      "$ORIGIN/../../nvidia/cu13/lib", "$ORIGIN"}));
  EXPECT_FALSE(f.runpath.has_value());
  EXPECT_TRUE(f.effective_rpath().has_value());
  EXPECT_FALSE(f.nodeflib());
}

TEST(ElfFile, MemoryAndFileReadsAgree) {
  REQUIRE_FIXTURES();
  RootFs host("/");
  for (const char* name :
       {"libtorch_cuda.so", "libc10_cuda.so", "libtop_runpath.so", "libcudart.so.13.i386", "libdst.so"}) {
    SCOPED_TRACE(name);
    const ElfFile a = ok(read_elf_file(host, fixture(name)));
    const ElfFile b = ok(read_elf(slurp(fixture(name))));
    EXPECT_EQ(a.soname, b.soname);
    EXPECT_EQ(a.needed, b.needed);
    EXPECT_EQ(a.rpath.has_value(), b.rpath.has_value());
    EXPECT_EQ(a.runpath.has_value(), b.runpath.has_value());
    EXPECT_EQ(a.file_size, b.file_size);
    EXPECT_EQ(a.header.machine, b.header.machine);
  }
}

TEST(ElfFile, RunpathAndNoRpath) {
  REQUIRE_FIXTURES();
  const ElfFile f = ok(read_elf_file(RootFs("/"), fixture("libtop_runpath.so")));
  ASSERT_TRUE(f.runpath.has_value());
  EXPECT_EQ(f.runpath->raw, "$ORIGIN/deps");
  EXPECT_FALSE(f.rpath.has_value());
  EXPECT_FALSE(f.effective_rpath().has_value());
  EXPECT_EQ(f.needed, std::vector<std::string>{"libmid.so"});
}

TEST(ElfFile, RpathIgnoredWhenRunpathPresent) {
  ElfFile f;
  f.rpath = split_path_list("/a");
  EXPECT_TRUE(f.effective_rpath().has_value());
  f.runpath = split_path_list("/b");
  EXPECT_FALSE(f.effective_rpath().has_value());
}

TEST(ElfFile, ThirtyTwoBitObject) {
  REQUIRE_FIXTURES();
  const ElfFile f = ok(read_elf_file(RootFs("/"), fixture("libcudart.so.13.i386")));
  EXPECT_EQ(f.header.bits(), 32);
  EXPECT_EQ(f.header.machine, 3);
  EXPECT_EQ(machine_name(f.header.machine), "i386");
  EXPECT_EQ(f.soname, "libcudart.so.13");
}

TEST(ElfFile, NodefaultlibFlag) {
  REQUIRE_FIXTURES();
  const ElfFile f = ok(read_elf_file(RootFs("/"), fixture("libnodeflib.so")));
  EXPECT_TRUE(f.nodeflib());
  EXPECT_EQ(f.needed, std::vector<std::string>{"libleaf.so.1"});
}

TEST(ElfFile, DynamicStringTokensStoredVerbatim) {
  REQUIRE_FIXTURES();
  const ElfFile f = ok(read_elf_file(RootFs("/"), fixture("libdst.so")));
  ASSERT_TRUE(f.rpath.has_value());
  EXPECT_EQ(f.rpath->raw, "$ORIGIN/a:${ORIGIN}/b:/opt/$LIB:/opt/${PLATFORM}/x::/rel");
  EXPECT_EQ(f.rpath->elements,
            (std::vector<std::string>{"$ORIGIN/a", "${ORIGIN}/b", "/opt/$LIB", "/opt/${PLATFORM}/x", "", "/rel"}));
}

TEST(ElfFile, ExtensionModuleWithoutSoname) {
  REQUIRE_FIXTURES();
  const ElfFile f = ok(read_elf_file(RootFs("/"), fixture("_C.cpython-312-x86_64-linux-gnu.so")));
  EXPECT_FALSE(f.soname.has_value());
  EXPECT_EQ(f.needed, std::vector<std::string>{"libtorch_cuda.so"});
}

TEST(ElfFile, ReadsThroughRootFsAndItsLinks) {
  REQUIRE_FIXTURES();
  TempDir tmp;
  fs::create_directories(tmp.path() + "/usr/lib/x86_64-linux-gnu");
  fs::copy_file(fixture("libcudnn.so.9"), tmp.path() + "/usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0");
  // An absolute link: inside the root it must point into the root, not to the host's /usr.
  fs::create_symlink("/usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0",
                     tmp.path() + "/usr/lib/x86_64-linux-gnu/libcudnn.so.9");
  RootFs root(tmp.path());
  const ElfFile f = ok(read_elf_file(root, "/usr/lib/x86_64-linux-gnu/libcudnn.so.9"));
  EXPECT_EQ(f.soname, "libcudnn.so.9");
}

TEST(ElfFile, MissingFolderFifoAndNonElfAreErrors) {
  TempDir tmp;
  RootFs root(tmp.path());
  EXPECT_TRUE(std::holds_alternative<ElfError>(read_elf_file(root, "/nope.so")));
  fs::create_directories(tmp.path() + "/dir.so");
  EXPECT_TRUE(std::holds_alternative<ElfError>(read_elf_file(root, "/dir.so")));
  ASSERT_EQ(::mkfifo((tmp.path() + "/fifo.so").c_str(), 0600), 0);
  EXPECT_TRUE(std::holds_alternative<ElfError>(read_elf_file(root, "/fifo.so")));  // and does not hang
  std::ofstream(tmp.path() + "/empty.so").close();
  auto empty = read_elf_file(root, "/empty.so");
  ASSERT_TRUE(std::holds_alternative<ElfError>(empty));
  EXPECT_NE(std::get<ElfError>(empty).reason.find("too short"), std::string::npos);
}

TEST(ElfFile, HeaderParsing) {
  EXPECT_TRUE(std::holds_alternative<ElfError>(parse_elf_header("")));
  EXPECT_TRUE(std::holds_alternative<ElfError>(parse_elf_header("MZ\x90\x00")));
  std::string ident(
      "\x7f"
      "ELF\x02\x01\x01\x03\x00",
      9);
  ident.resize(16, '\0');
  EXPECT_TRUE(std::holds_alternative<ElfError>(parse_elf_header(ident)));  // 16 of 64 bytes
  std::string header = ident;
  header.resize(64, '\0');
  header[16] = 3;   // ET_DYN
  header[18] = 62;  // EM_X86_64
  header[20] = 1;   // EV_CURRENT
  header[54] = 56;  // e_phentsize
  auto parsed = parse_elf_header(header);
  ASSERT_TRUE(std::holds_alternative<ElfHeader>(parsed));
  const ElfHeader h = std::get<ElfHeader>(parsed);
  EXPECT_EQ(h.bits(), 64);
  EXPECT_EQ(h.osabi, 3);
  EXPECT_EQ(h.type, 3);
  EXPECT_EQ(h.machine, 62);
  EXPECT_EQ(h.version, 1U);
  EXPECT_EQ(h.phentsize, 56);
  EXPECT_TRUE(h.ident_padding_zero);
  header[5] = 2;  // big endian: fields read the other way round
  const ElfHeader be = std::get<ElfHeader>(parse_elf_header(header));
  EXPECT_EQ(be.machine, 62 << 8);
}

TEST(ElfFile, SplitPathList) {
  EXPECT_TRUE(split_path_list("").elements.empty());
  EXPECT_EQ(split_path_list("a").elements, std::vector<std::string>{"a"});
  EXPECT_EQ(split_path_list(":a::b:").elements, (std::vector<std::string>{"", "a", "", "b", ""}));
}

TEST(ElfFile, CorpusOfHostileFiles) {
  // Every file of tests/corpus/elf: "bad_*" must give an error, "ok_*" must parse; none may crash.
  ASSERT_TRUE(fs::is_directory(kCorpus + "/elf")) << kCorpus;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kCorpus + "/elf")) {
    std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    std::string bytes = slurp(entry.path().string());
    auto from_memory = read_elf(bytes);
    auto from_file = read_elf_file(RootFs("/"), entry.path().string());
    EXPECT_EQ(from_memory.index(), from_file.index());
    if (name.rfind("bad_", 0) == 0) {
      EXPECT_TRUE(std::holds_alternative<ElfError>(from_memory));
      if (const auto* e = std::get_if<ElfError>(&from_memory)) EXPECT_FALSE(e->reason.empty());
    } else {
      EXPECT_TRUE(std::holds_alternative<ElfFile>(from_memory));
    }
    ++files;
  }
  EXPECT_GE(files, 10);
}

TEST(ElfFile, SurvivesMutatedFixtures) {
  REQUIRE_FIXTURES();
  std::mt19937 rng(20260120);
  int errors = 0;
  int parsed = 0;
  for (const char* name : {"libtorch_cuda.so", "libcudart.so.13.i386", "libtop_runpath.so"}) {
    const std::string original = slurp(fixture(name));
    ASSERT_GT(original.size(), 64U);
    std::uniform_int_distribution<std::size_t> offset(0, original.size() - 1);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 1500; ++round) {
      std::string mutated = original;
      int flips = 1 + round % 8;
      for (int k = 0; k < flips; ++k) {
        // Bias toward the headers and the dynamic section, where the offsets live.
        std::size_t at = round % 2 == 0 ? offset(rng) % 512 : offset(rng);
        mutated[at] = static_cast<char>(byte(rng));
      }
      if (round % 5 == 0) mutated.resize(offset(rng));
      auto r = read_elf(mutated);
      (std::holds_alternative<ElfError>(r) ? errors : parsed) += 1;
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(parsed, 0);
}
