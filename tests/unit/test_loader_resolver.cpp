// gd_loader: the loader's search, on trees of real ELF fixtures laid out under a root as pip,
// the CUDA toolkit and Debian lay them out. Each expectation is glibc behaviour read in
// elf/dl-load.c (and checked with LD_DEBUG=libs on Debian 12 where noted).

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "elf/elf_file.hpp"
#include "loader/ld_so_cache.hpp"
#include "loader/resolver.hpp"
#include "sys/root_fs.hpp"

namespace fs = std::filesystem;
using gpudoctor::RootFs;
using namespace gpudoctor::loader;

namespace {

#ifdef GPUDOCTOR_ELF_FIXTURES
const char* const kFixtures = GPUDOCTOR_ELF_FIXTURES;
#else
const char* const kFixtures = nullptr;
#endif

const std::string kSp = "/venv/lib/python3.12/site-packages";
const std::string kC = kSp + "/torch/_C.cpython-312-x86_64-linux-gnu.so";

// A new-format ld.so.cache (sysdeps/generic/dl-cache.h) of x86-64 entries, sorted as ldconfig does.
std::string make_cache(std::vector<std::pair<std::string, std::string>> entries) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return cache_name_compare(a.first, b.first) > 0; });
  auto put32 = [](std::string& b, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b += static_cast<char>((v >> (8 * i)) & 0xffU);
  };
  std::string strings;
  std::string table;
  for (const auto& [soname, path] : entries) {
    put32(table, 0x0303);
    put32(table, static_cast<std::uint32_t>(48 + entries.size() * 24 + strings.size()));
    strings += soname + '\0';
    put32(table, static_cast<std::uint32_t>(48 + entries.size() * 24 + strings.size()));
    strings += path + '\0';
    put32(table, 0);
    put32(table, 0);
    put32(table, 0);
  }
  std::string b = "glibc-ld.so.cache1.1";
  put32(b, static_cast<std::uint32_t>(entries.size()));
  put32(b, static_cast<std::uint32_t>(strings.size()));
  b += '\x02';
  b += std::string(3 + 4 + 12, '\0');
  return b + table + strings;
}

// What the real ld.so of this machine does with dlopen(path): run in a child process, so the
// test process stays clean. `names` are the l_name of each object the dlopen added, in link-map
// (load) order, from dl_iterate_phdr.
struct RealLoad {
  bool loaded = false;
  std::string error;
  std::vector<std::string> names;
};

std::vector<std::string> link_map_names() {
  std::vector<std::string> names;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        static_cast<std::vector<std::string>*>(data)->emplace_back(info->dlpi_name != nullptr ? info->dlpi_name : "");
        return 0;
      },
      &names);
  return names;
}

RealLoad real_dlopen(const std::string& path) {
  std::array<int, 2> fds{};
  if (::pipe(fds.data()) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    auto before = link_map_names();
    std::string out;
    if (void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL); handle == nullptr) {
      const char* err = ::dlerror();
      out = std::string("E") + (err != nullptr ? err : "");
    } else {
      auto after = link_map_names();
      out = "O";
      for (std::size_t i = before.size(); i < after.size(); ++i) out += after[i] + "\n";
    }
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  std::array<char, 4096> buf{};
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf.data(), buf.size())) > 0) text.append(buf.data(), static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  RealLoad result;
  if (text.empty()) return result;
  result.loaded = text[0] == 'O';
  if (!result.loaded) {
    result.error = text.substr(1);
    return result;
  }
  std::istringstream lines(text.substr(1));
  std::string line;
  while (std::getline(lines, line)) result.names.push_back(line);
  return result;
}

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kFixtures == nullptr) GTEST_SKIP() << "ELF fixtures not built: include tests/elf_fixtures.cmake";
    std::string pattern = (fs::temp_directory_path() / "gd-resolver-XXXXXX").string();
    m_root = ::mkdtemp(pattern.data());
    m_fs = std::make_unique<RootFs>(m_root);
  }
  void TearDown() override {
    std::error_code ec;
    if (!m_root.empty()) fs::remove_all(m_root, ec);
  }

  // Copies fixture `name` to `path` inside the root.
  void put(const std::string& name, const std::string& path) {
    fs::create_directories(fs::path(m_root + path).parent_path());
    fs::copy_file(std::string(kFixtures) + "/" + name, m_root + path, fs::copy_options::overwrite_existing);
  }
  void write(const std::string& path, const std::string& bytes) {
    fs::create_directories(fs::path(m_root + path).parent_path());
    std::ofstream(m_root + path, std::ios::binary) << bytes;
  }
  void link(const std::string& target, const std::string& path) {
    fs::create_directories(fs::path(m_root + path).parent_path());
    fs::create_symlink(target, m_root + path);
  }

  // A pip install of torch with the nvidia wheels, a system cuDNN of another version (through
  // its versioned link, as Debian packages it) and a CUDA toolkit.
  void lay_out_torch() {
    put("_C.cpython-312-x86_64-linux-gnu.so", kC);
    put("libtorch_cuda.so", kSp + "/torch/lib/libtorch_cuda.so");
    put("libc10_cuda.so", kSp + "/torch/lib/libc10_cuda.so");
    put("libc10.so", kSp + "/torch/lib/libc10.so");
    put("libcudart.so.13", kSp + "/nvidia/cu13/lib/libcudart.so.13");
    put("libcublas.so.13", kSp + "/nvidia/cu13/lib/libcublas.so.13");
    put("libcublasLt.so.13", kSp + "/nvidia/cu13/lib/libcublasLt.so.13");
    put("libcudnn.so.9", kSp + "/nvidia/cudnn/lib/libcudnn.so.9");
    put("libnccl.so.2", kSp + "/nvidia/nccl/lib/libnccl.so.2");
    put("libcudnn.so.9", "/usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0");
    link("libcudnn.so.9.1.0", "/usr/lib/x86_64-linux-gnu/libcudnn.so.9");
    put("libcudart.so.13", "/usr/local/cuda/lib64/libcudart.so.13");
  }

  // The object at `path` inside the root, read as the loader sees it.
  LoaderObject object(const std::string& path) {
    auto parsed = gpudoctor::elf::read_elf_file(*m_fs, path);
    EXPECT_TRUE(std::holds_alternative<gpudoctor::elf::ElfFile>(parsed)) << path;
    if (!std::holds_alternative<gpudoctor::elf::ElfFile>(parsed)) return LoaderObject{path, {}, {}, false};
    return LoaderObject::from_elf(path, std::get<gpudoctor::elf::ElfFile>(parsed));
  }

  static ResolverConfig python_config() {
    ResolverConfig config;
    config.platform = LoaderPlatform::debian_x86_64();
    config.executable = LoaderObject{"/usr/bin/python3.12", std::nullopt, std::nullopt, false};
    return config;
  }

  static const TreeObject* find(const LoadTree& tree, const std::string& soname) {
    for (const auto& o : tree.objects) {
      if (o.soname == soname) return &o;
    }
    return nullptr;
  }
  static const NeededLink* link_of(const LoadTree& tree, const std::string& name) {
    for (const auto& l : tree.links) {
      if (l.name == name) return &l;
    }
    return nullptr;
  }

  std::string m_root;
  std::unique_ptr<RootFs> m_fs;
};

}  // namespace

TEST_F(ResolverTest, TorchTreeLoadsTheWheelsLibrariesInBreadthFirstOrder) {
  lay_out_torch();
  Resolver resolver(*m_fs, python_config());
  LoadTree tree = resolver.load_tree(kC, {*resolver.config().executable}, {});
  EXPECT_FALSE(tree.failure.has_value()) << tree.failure.value_or("");
  std::vector<std::string> order;
  for (const auto& o : tree.objects) order.push_back(o.soname.value_or(std::string(gpudoctor::path_basename(o.path))));
  EXPECT_EQ(order, (std::vector<std::string>{"_C.cpython-312-x86_64-linux-gnu.so", "libtorch_cuda.so", "libc10_cuda.so",
                                             "libcudart.so.13", "libnccl.so.2", "libcublas.so.13", "libcublasLt.so.13",
                                             "libcudnn.so.9", "libc10.so"}));
  const NeededLink* cudnn = link_of(tree, "libcudnn.so.9");
  ASSERT_NE(cudnn, nullptr);
  const Resolution& r = cudnn->resolution;
  // l_name keeps the RPATH element as written; /proc/PID/maps shows the resolved file.
  EXPECT_EQ(r.path, kSp + "/torch/lib/../../nvidia/cudnn/lib/libcudnn.so.9");
  EXPECT_EQ(r.resolved_path, kSp + "/nvidia/cudnn/lib/libcudnn.so.9");
  EXPECT_EQ(r.step, SearchStep::rpath);
  EXPECT_EQ(r.why, "RPATH of " + kSp + "/torch/lib/libtorch_cuda.so");
  // The system cuDNN is another copy, met later in the default folders.
  auto others = r.other_copies();
  ASSERT_EQ(others.size(), 1U);
  EXPECT_EQ(others[0]->path, "/usr/lib/x86_64-linux-gnu/libcudnn.so.9");
  EXPECT_EQ(others[0]->resolved_path, "/usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0");
  EXPECT_EQ(others[0]->step, SearchStep::default_dirs);
  EXPECT_FALSE(others[0]->reached);
  // libtorch_cuda.so itself came through the extension module's RPATH ($ORIGIN/lib).
  const NeededLink* torch_cuda = link_of(tree, "libtorch_cuda.so");
  ASSERT_NE(torch_cuda, nullptr);
  EXPECT_EQ(torch_cuda->resolution.why, "RPATH of " + kC);
  // libc10_cuda.so's libcudart.so.13 is the one already loaded.
  int cudart_links = 0;
  for (const auto& l : tree.links) {
    if (l.name != "libcudart.so.13") continue;
    ++cudart_links;
    ASSERT_TRUE(l.to.has_value());
    EXPECT_EQ(tree.objects[*l.to].resolved_path, kSp + "/nvidia/cu13/lib/libcudart.so.13");
  }
  EXPECT_EQ(cudart_links, 2);
  const TreeObject* c10 = find(tree, "libc10.so");
  ASSERT_NE(c10, nullptr);
  ASSERT_TRUE(c10->loaded_by.has_value());
  EXPECT_EQ(tree.objects[*c10->loaded_by].soname, "libtorch_cuda.so");
}

TEST_F(ResolverTest, RpathComesBeforeLdLibraryPath) {
  lay_out_torch();
  ResolverConfig config = python_config();
  config.ld_library_path = "/usr/local/cuda/lib64";
  Resolver resolver(*m_fs, config);
  LoaderObject torch_cuda = object(kSp + "/torch/lib/libtorch_cuda.so");
  Resolution r = resolver.resolve("libcudart.so.13", torch_cuda, {}, {});
  EXPECT_EQ(r.step, SearchStep::rpath);
  EXPECT_EQ(r.resolved_path, kSp + "/nvidia/cu13/lib/libcudart.so.13");
  bool toolkit_listed = false;
  for (const auto& c : r.candidates) {
    if (c.step == SearchStep::ld_library_path) {
      toolkit_listed = true;
      EXPECT_EQ(c.path, "/usr/local/cuda/lib64/libcudart.so.13");
      EXPECT_FALSE(c.reached);
    }
  }
  EXPECT_TRUE(toolkit_listed);
}

TEST_F(ResolverTest, LdLibraryPathComesBeforeRunpath) {
  lay_out_torch();
  LoaderObject with_runpath{kSp + "/torch/lib/libx.so", std::nullopt, "$ORIGIN/../../nvidia/cu13/lib", false};
  ResolverConfig config = python_config();
  Resolver plain(*m_fs, config);
  EXPECT_EQ(plain.resolve("libcudart.so.13", with_runpath, {}, {}).step, SearchStep::runpath);
  config.ld_library_path = "/nowhere;/usr/local/cuda/lib64";  // ';' separates too
  Resolver with_llp(*m_fs, config);
  Resolution r = with_llp.resolve("libcudart.so.13", with_runpath, {}, {});
  EXPECT_EQ(r.step, SearchStep::ld_library_path);
  EXPECT_EQ(r.path, "/usr/local/cuda/lib64/libcudart.so.13");
  EXPECT_EQ(r.why, "LD_LIBRARY_PATH");
}

TEST_F(ResolverTest, RpathIsInheritedButRunpathIsNot) {
  for (const char* top : {"libtop_rpath.so", "libtop_runpath.so"}) {
    SCOPED_TRACE(top);
    put(top, std::string("/opt/app/") + top);
    put("libmid.so", "/opt/app/deps/libmid.so");
    put("libleaf.so.1", "/opt/app/deps/libleaf.so.1");
    Resolver resolver(*m_fs, python_config());
    LoadTree tree = resolver.load_tree(std::string("/opt/app/") + top, {}, {});
    const NeededLink* mid = link_of(tree, "libmid.so");
    const NeededLink* leaf = link_of(tree, "libleaf.so.1");
    ASSERT_NE(mid, nullptr);
    ASSERT_NE(leaf, nullptr);
    EXPECT_TRUE(mid->resolution.found());
    if (std::string(top) == "libtop_rpath.so") {
      EXPECT_EQ(mid->resolution.step, SearchStep::rpath);
      // libmid.so has no RPATH of its own: the search climbs to the object that loaded it.
      EXPECT_EQ(leaf->resolution.why, "RPATH of /opt/app/libtop_rpath.so");
      EXPECT_FALSE(tree.failure.has_value());
    } else {
      EXPECT_EQ(mid->resolution.step, SearchStep::runpath);
      // RUNPATH serves the object's own NEEDED only: libmid.so cannot find libleaf.so.1.
      EXPECT_FALSE(leaf->resolution.found());
      EXPECT_EQ(tree.failure, "libleaf.so.1: cannot open shared object file: No such file or directory");
      ResolverConfig config = python_config();
      config.ld_library_path = "/opt/app/deps";
      Resolver with_llp(*m_fs, config);
      LoadTree fixed = with_llp.load_tree("/opt/app/libtop_runpath.so", {}, {});
      EXPECT_FALSE(fixed.failure.has_value());
      EXPECT_EQ(link_of(fixed, "libleaf.so.1")->resolution.step, SearchStep::ld_library_path);
    }
  }
}

TEST_F(ResolverTest, ARunpathOnTheLoadingObjectSwitchesOffEveryRpath) {
  put("libleaf.so.1", "/opt/app/deps/libleaf.so.1");
  Resolver resolver(*m_fs, python_config());
  std::vector<LoaderObject> loaders{{"/opt/b/liby.so", "/opt/app/deps", std::nullopt, false}};
  LoaderObject plain{"/opt/a/libx.so", std::nullopt, std::nullopt, false};
  Resolution inherited = resolver.resolve("libleaf.so.1", plain, loaders, {});
  EXPECT_EQ(inherited.why, "RPATH of /opt/b/liby.so");
  LoaderObject with_runpath{"/opt/a/libx.so", std::nullopt, "/nonexistent", false};
  EXPECT_FALSE(resolver.resolve("libleaf.so.1", with_runpath, loaders, {}).found());
}

TEST_F(ResolverTest, ExecutableRpathIsTriedLast) {
  put("libleaf.so.1", "/opt/app/deps/libleaf.so.1");
  fs::create_directories(m_root + "/usr/bin");  // ".." is resolved physically, as the kernel does
  ResolverConfig config;
  config.executable = LoaderObject{"/usr/bin/app", "$ORIGIN/../../opt/app/deps", std::nullopt, false};
  Resolver resolver(*m_fs, config);
  LoaderObject plain{"/opt/a/libx.so", std::nullopt, std::nullopt, false};
  Resolution r = resolver.resolve("libleaf.so.1", plain, {}, {});
  EXPECT_EQ(r.why, "RPATH of /usr/bin/app");
  EXPECT_EQ(r.path, "/usr/bin/../../opt/app/deps/libleaf.so.1");
}

TEST_F(ResolverTest, AlreadyLoadedSonameIsReused) {
  lay_out_torch();
  Resolver resolver(*m_fs, python_config());
  LoaderObject torch_cuda = object(kSp + "/torch/lib/libtorch_cuda.so");
  std::vector<LoadedObject> loaded{
      {"/opt/other/libcudart.so.13.0.96", "libcudart.so.13", {"/opt/other/libcudart.so.13.0.96"}, std::nullopt}};
  Resolution r = resolver.resolve("libcudart.so.13", torch_cuda, {}, loaded);
  EXPECT_EQ(r.step, SearchStep::already_loaded);
  EXPECT_EQ(r.reused, 0U);
  EXPECT_EQ(r.path, "/opt/other/libcudart.so.13.0.96");
  ASSERT_FALSE(r.candidates.empty());  // the copies that were not even looked at
  for (const auto& c : r.candidates) EXPECT_FALSE(c.reached);
}

TEST_F(ResolverTest, OtherClassAndOtherMachineAreSkipped) {
  lay_out_torch();
  // A 32-bit copy first on the RPATH (nvidia/cudnn/lib comes before nvidia/cu13/lib).
  put("libcudart.so.13.i386", kSp + "/nvidia/cudnn/lib/libcudart.so.13");
  // An AArch64 copy first on the RPATH for libnccl: the same file with e_machine = 183.
  std::ifstream in(std::string(kFixtures) + "/libnccl.so.2", std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  std::string arm = bytes.str();
  arm[18] = static_cast<char>(183);
  arm[19] = 0;
  write(kSp + "/nvidia/cudnn/lib/libnccl.so.2", arm);
  Resolver resolver(*m_fs, python_config());
  LoaderObject torch_cuda = object(kSp + "/torch/lib/libtorch_cuda.so");

  Resolution cudart = resolver.resolve("libcudart.so.13", torch_cuda, {}, {});
  ASSERT_TRUE(cudart.found());
  EXPECT_EQ(cudart.resolved_path, kSp + "/nvidia/cu13/lib/libcudart.so.13");
  ASSERT_GE(cudart.candidates.size(), 2U);
  EXPECT_EQ(cudart.candidates[0].status, CandidateStatus::wrong_class);
  EXPECT_EQ(cudart.candidates[0].detail, "ELFCLASS32");
  EXPECT_TRUE(cudart.candidates[0].reached);

  Resolution nccl = resolver.resolve("libnccl.so.2", torch_cuda, {}, {});
  EXPECT_EQ(nccl.resolved_path, kSp + "/nvidia/nccl/lib/libnccl.so.2");
  EXPECT_EQ(nccl.candidates[0].status, CandidateStatus::wrong_machine);
  EXPECT_EQ(nccl.candidates[0].detail, "AArch64");

  // Only the 32-bit file: glibc's message names the class it found.
  LoaderObject only32{"/opt/x/liba.so", kSp + "/nvidia/cudnn/lib", std::nullopt, false};
  ResolverConfig bare;
  bare.platform = LoaderPlatform{};  // no default folders
  Resolver no_defaults(*m_fs, bare);
  Resolution r = no_defaults.resolve("libcudart.so.13", only32, {}, {});
  EXPECT_FALSE(r.found());
  EXPECT_EQ(r.error, "libcudart.so.13: wrong ELF class: ELFCLASS32");
}

TEST_F(ResolverTest, AnEmptyPlaceholderEndsTheLoad) {
  // open_verify raises "file too short": the loader does not try the next folder.
  lay_out_torch();
  write(kSp + "/nvidia/cudnn/lib/libcudnn.so.9", "");
  Resolver resolver(*m_fs, python_config());
  LoaderObject torch_cuda = object(kSp + "/torch/lib/libtorch_cuda.so");
  Resolution r = resolver.resolve("libcudnn.so.9", torch_cuda, {}, {});
  EXPECT_FALSE(r.found());
  EXPECT_EQ(r.error, kSp + "/torch/lib/../../nvidia/cudnn/lib/libcudnn.so.9: file too short");
  ASSERT_EQ(r.candidates.size(), 2U);
  EXPECT_EQ(r.candidates[0].status, CandidateStatus::fatal);
  EXPECT_TRUE(r.candidates[0].reached);
  EXPECT_EQ(r.candidates[1].status, CandidateStatus::accepted);  // the system copy, never reached
  EXPECT_FALSE(r.candidates[1].reached);
  // A text file (a linker script, say) of at least a header's size is refused the same way.
  write(kSp + "/nvidia/cudnn/lib/libcudnn.so.9",
        "/* GNU ld script\n   Use the shared library. */\nINPUT ( /usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0 )\n");
  EXPECT_EQ(resolver.resolve("libcudnn.so.9", torch_cuda, {}, {}).error,
            kSp + "/torch/lib/../../nvidia/cudnn/lib/libcudnn.so.9: invalid ELF header");
}

TEST_F(ResolverTest, CacheComesBeforeTheDefaultFolders) {
  put("libcudnn.so.9", "/opt/cudnn/lib/libcudnn.so.9");
  put("libcudnn.so.9", "/usr/lib/x86_64-linux-gnu/libcudnn.so.9");
  put("libnccl.so.2", "/usr/lib/x86_64-linux-gnu/libnccl.so.2");
  auto parsed = parse_ld_so_cache(make_cache(
      {{"libcudnn.so.9", "/opt/cudnn/lib/libcudnn.so.9"}, {"libnccl.so.2", "/opt/nccl-removed/libnccl.so.2"}}));
  ASSERT_TRUE(std::holds_alternative<LdSoCache>(parsed));
  ResolverConfig config = python_config();
  config.cache = std::make_shared<const LdSoCache>(std::get<LdSoCache>(parsed));
  Resolver resolver(*m_fs, config);
  LoaderObject plain{"/opt/a/libx.so", std::nullopt, std::nullopt, false};
  Resolution cudnn = resolver.resolve("libcudnn.so.9", plain, {}, {});
  EXPECT_EQ(cudnn.step, SearchStep::ld_so_cache);
  EXPECT_EQ(cudnn.path, "/opt/cudnn/lib/libcudnn.so.9");
  EXPECT_EQ(cudnn.candidates.back().path, "/usr/lib/x86_64-linux-gnu/libcudnn.so.9");
  EXPECT_EQ(cudnn.candidates.back().step, SearchStep::default_dirs);
  // A stale cache entry (the file is gone): the loader falls through to the default folders.
  Resolution nccl = resolver.resolve("libnccl.so.2", plain, {}, {});
  EXPECT_EQ(nccl.step, SearchStep::default_dirs);
  EXPECT_EQ(nccl.path, "/usr/lib/x86_64-linux-gnu/libnccl.so.2");
}

TEST_F(ResolverTest, NodefaultlibSkipsDefaultFoldersAndTheirCacheEntries) {
  put("libnodeflib.so", "/opt/app/libnodeflib.so");
  put("libleaf.so.1", "/usr/lib/x86_64-linux-gnu/libleaf.so.1");
  ResolverConfig config = python_config();
  config.cache = std::make_shared<const LdSoCache>(
      std::get<LdSoCache>(parse_ld_so_cache(make_cache({{"libleaf.so.1", "/usr/lib/x86_64-linux-gnu/libleaf.so.1"}}))));
  Resolver resolver(*m_fs, config);
  LoaderObject nodeflib = object("/opt/app/libnodeflib.so");
  ASSERT_TRUE(nodeflib.nodeflib);
  Resolution r = resolver.resolve("libleaf.so.1", nodeflib, {}, {});
  EXPECT_FALSE(r.found());
  ASSERT_EQ(r.candidates.size(), 1U);
  EXPECT_EQ(r.candidates[0].status, CandidateStatus::excluded);
  // A cache entry outside the default folders is still used.
  put("libleaf.so.1", "/opt/leaf/libleaf.so.1");
  config.cache = std::make_shared<const LdSoCache>(
      std::get<LdSoCache>(parse_ld_so_cache(make_cache({{"libleaf.so.1", "/opt/leaf/libleaf.so.1"}}))));
  Resolver elsewhere(*m_fs, config);
  EXPECT_EQ(elsewhere.resolve("libleaf.so.1", nodeflib, {}, {}).path, "/opt/leaf/libleaf.so.1");
}

TEST_F(ResolverTest, DefaultFoldersDifferBetweenDebianAndUpstream) {
  put("libleaf.so.1", "/usr/lib64/libleaf.so.1");
  LoaderObject plain{"/opt/a/libx.so", std::nullopt, std::nullopt, false};
  ResolverConfig debian;
  debian.platform = LoaderPlatform::debian_x86_64();
  EXPECT_FALSE(Resolver(*m_fs, debian).resolve("libleaf.so.1", plain, {}, {}).found());
  ResolverConfig upstream;
  upstream.platform = LoaderPlatform::upstream_x86_64();
  Resolution r = Resolver(*m_fs, upstream).resolve("libleaf.so.1", plain, {}, {});
  EXPECT_EQ(r.path, "/usr/lib64/libleaf.so.1");
  EXPECT_EQ(r.why, "default folder");
}

TEST_F(ResolverTest, LibAndPlatformTokensFollowThePlatform) {
  put("libleaf.so.1", "/opt/lib/x86_64-linux-gnu/haswell/libleaf.so.1");
  ResolverConfig config;
  config.platform = LoaderPlatform::debian_x86_64();
  config.platform.dst.platform = "haswell";  // sysdeps/x86/cpu-features.c on an AVX2 Intel CPU
  Resolver resolver(*m_fs, config);
  LoaderObject object{"/opt/a/libx.so", "/opt/$LIB/${PLATFORM}", std::nullopt, false};
  EXPECT_EQ(resolver.resolve("libleaf.so.1", object, {}, {}).path, "/opt/lib/x86_64-linux-gnu/haswell/libleaf.so.1");
}

TEST_F(ResolverTest, GlibcHwcapsSubfolderComesFirst) {
  put("libcudart.so.13", "/opt/cuda/lib/libcudart.so.13");
  put("libcudart.so.13", "/opt/cuda/lib/glibc-hwcaps/x86-64-v3/libcudart.so.13");
  ResolverConfig config;
  config.platform.glibc_hwcaps = {"x86-64-v4", "x86-64-v3", "x86-64-v2"};
  LoaderObject object{"/opt/a/libx.so", "/opt/cuda/lib/", std::nullopt, false};
  Resolution r = Resolver(*m_fs, config).resolve("libcudart.so.13", object, {}, {});
  EXPECT_EQ(r.path, "/opt/cuda/lib/glibc-hwcaps/x86-64-v3/libcudart.so.13");
  ASSERT_EQ(r.other_copies().size(), 1U);
  EXPECT_EQ(r.other_copies()[0]->path, "/opt/cuda/lib/libcudart.so.13");
}

TEST_F(ResolverTest, NamesWithASlashAreOpenedAsPaths) {
  put("libleaf.so.1", "/opt/app/deps/libleaf.so.1");
  fs::create_directories(m_root + "/opt/app/bin");
  Resolver resolver(*m_fs, python_config());
  LoaderObject object{"/opt/app/bin/libx.so", std::nullopt, std::nullopt, false};
  Resolution r = resolver.resolve("$ORIGIN/../deps/libleaf.so.1", object, {}, {});
  EXPECT_EQ(r.step, SearchStep::path_name);
  EXPECT_EQ(r.path, "/opt/app/bin/../deps/libleaf.so.1");
  EXPECT_EQ(r.resolved_path, "/opt/app/deps/libleaf.so.1");
}

TEST_F(ResolverTest, EmptyAndRelativeElementsMeanTheWorkingFolder) {
  put("libleaf.so.1", "/home/user/libleaf.so.1");
  LoaderObject object{"/opt/a/libx.so", ":/nowhere", std::nullopt, false};
  Resolution unknown = Resolver(*m_fs, ResolverConfig{}).resolve("libleaf.so.1", object, {}, {});
  EXPECT_FALSE(unknown.found());
  ASSERT_FALSE(unknown.notes.empty());
  ResolverConfig config;
  config.working_directory = "/home/user";
  Resolution r = Resolver(*m_fs, config).resolve("libleaf.so.1", object, {}, {});
  EXPECT_EQ(r.path, "libleaf.so.1");  // the loader's name for it is relative
  EXPECT_EQ(r.resolved_path, "/home/user/libleaf.so.1");
}

TEST_F(ResolverTest, DetectsTheLoaderPlatform) {
  EXPECT_EQ(detect_loader_platform(*m_fs).system_dirs.front(), "/lib64/");  // no ld.so: upstream
  using namespace std::string_literals;
  write("/lib64/ld-linux-x86-64.so.2",
        "\x7f"
        "ELF....../lib/x86_64-linux-gnu/\0/usr/lib/x86_64-linux-gnu/\0/lib/\0"s);
  LoaderPlatform p = detect_loader_platform(*m_fs);
  EXPECT_EQ(p.system_dirs.front(), "/lib/x86_64-linux-gnu/");
  EXPECT_EQ(p.dst.lib, "lib/x86_64-linux-gnu");
  if (fs::exists("/lib64/ld-linux-x86-64.so.2") && fs::exists("/lib/x86_64-linux-gnu")) {
    EXPECT_EQ(detect_loader_platform(RootFs("/")).name, LoaderPlatform::debian_x86_64().name);  // this Debian machine
  }
}

// ---- AArch64 hosts (GH200, Graviton) ------------------------------------------------------

TEST_F(ResolverTest, AnAarch64HostLoadsAarch64FilesAndSkipsX86Ones) {
  // torch 2.15.0's aarch64 wheel: libc10_cuda.so with RPATH $ORIGIN/../../nvidia/cu13/lib.
  put("aarch64-libc10_cuda.so", kSp + "/torch/lib/libc10_cuda.so");
  put("aarch64-libcudart.so.13", kSp + "/nvidia/cu13/lib/libcudart.so.13");
  ResolverConfig config;
  config.platform = LoaderPlatform::debian_aarch64();
  LoaderObject c10 = object(kSp + "/torch/lib/libc10_cuda.so");
  Resolution ok = Resolver(*m_fs, config).resolve("libcudart.so.13", c10, {}, {});
  ASSERT_TRUE(ok.found()) << ok.error;
  EXPECT_EQ(ok.resolved_path, kSp + "/nvidia/cu13/lib/libcudart.so.13");
  ASSERT_EQ(ok.candidates.size(), 1U);
  EXPECT_EQ(ok.candidates[0].status, CandidateStatus::accepted);
  // The same tree read with the x86-64 model: every file is of the wrong machine.
  Resolution x86 = Resolver(*m_fs, python_config()).resolve("libcudart.so.13", c10, {}, {});
  EXPECT_FALSE(x86.found());
  ASSERT_FALSE(x86.candidates.empty());
  EXPECT_EQ(x86.candidates[0].status, CandidateStatus::wrong_machine);
  EXPECT_EQ(x86.candidates[0].detail, "AArch64");

  // Near case: an x86-64 libcudart.so.13 planted first on the RPATH ($ORIGIN/../../nvidia/cu13/lib
  // comes before $ORIGIN) is skipped on the arm64 host, and the search goes on to the right one.
  put("aarch64-libcudart.so.13", kSp + "/torch/lib/libcudart.so.13");
  put("libcudart.so.13", kSp + "/nvidia/cu13/lib/libcudart.so.13");
  Resolution planted = Resolver(*m_fs, config).resolve("libcudart.so.13", c10, {}, {});
  ASSERT_TRUE(planted.found());
  EXPECT_EQ(planted.resolved_path, kSp + "/torch/lib/libcudart.so.13");
  ASSERT_EQ(planted.candidates.size(), 2U);
  EXPECT_EQ(planted.candidates[0].status, CandidateStatus::wrong_machine);
  EXPECT_EQ(planted.candidates[0].detail, "x86-64");
  EXPECT_EQ(planted.candidates[1].status, CandidateStatus::accepted);
}

TEST_F(ResolverTest, Aarch64DefaultFoldersAndCacheFlags) {
  LoaderPlatform debian = LoaderPlatform::debian_aarch64();
  EXPECT_EQ(debian.system_dirs,
            (std::vector<std::string>{"/lib/aarch64-linux-gnu/", "/usr/lib/aarch64-linux-gnu/", "/lib/", "/usr/lib/"}));
  EXPECT_EQ(debian.dst.lib, "lib/aarch64-linux-gnu");
  EXPECT_EQ(debian.cache_flags, 0x0a03);
  EXPECT_EQ(debian.machine, 183);
  LoaderPlatform upstream = LoaderPlatform::upstream_aarch64();
  EXPECT_EQ(upstream.system_dirs, (std::vector<std::string>{"/lib64/", "/usr/lib64/"}));
  EXPECT_EQ(upstream.dst.lib, "lib64");
  // A driver library in the multiarch folder, found by the default folders on Debian arm64 and
  // not by RHEL's /usr/lib64 model (and the other way round).
  put("aarch64-libcudart.so.13", "/usr/lib/aarch64-linux-gnu/libcudart.so.13");
  put("aarch64-libcudart.so.13", "/usr/lib64/libcudart.so.13");
  LoaderObject none{"/opt/x/liba.so", std::nullopt, std::nullopt, false};
  ResolverConfig d;
  d.platform = debian;
  ResolverConfig u;
  u.platform = upstream;
  EXPECT_EQ(Resolver(*m_fs, d).resolve("libcudart.so.13", none, {}, {}).path, "/usr/lib/aarch64-linux-gnu/libcudart.so.13");
  EXPECT_EQ(Resolver(*m_fs, u).resolve("libcudart.so.13", none, {}, {}).path, "/usr/lib64/libcudart.so.13");
}

TEST_F(ResolverTest, DetectsAnAarch64Root) {
  EXPECT_EQ(detect_root_machine(*m_fs), nullptr);  // no loader at all
  // Debian 12 arm64: /lib/ld-linux-aarch64.so.1 links to aarch64-linux-gnu/ld-linux-aarch64.so.1.
  put("aarch64-ld-linux-aarch64.so.1", "/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1");
  link("aarch64-linux-gnu/ld-linux-aarch64.so.1", "/lib/ld-linux-aarch64.so.1");
  std::string evidence;
  const KnownMachine* m = detect_root_machine(*m_fs, &evidence);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->uname, "aarch64");
  EXPECT_EQ(evidence, "/lib/ld-linux-aarch64.so.1 (e_machine AArch64)");
  // The stand-in ld.so holds no SYSTEM_DIRS strings: upstream, until libc6's multiarch libc is there.
  EXPECT_EQ(detect_loader_platform(*m_fs).name, LoaderPlatform::upstream_aarch64().name);
  put("aarch64-libcudart.so.13", "/lib/aarch64-linux-gnu/libc.so.6");
  LoaderPlatform p = detect_loader_platform(*m_fs);
  EXPECT_EQ(p.name, LoaderPlatform::debian_aarch64().name);
  EXPECT_EQ(p.machine, 183);
  EXPECT_EQ(p.cache_flags, 0x0a03);
  // The machine the snapshot records wins: uname(2) said x86_64 (the x86-64 model), "arm64" is aarch64.
  EXPECT_EQ(detect_loader_platform(*m_fs, "x86_64").machine, 62);
  EXPECT_EQ(detect_loader_platform(*m_fs, "arm64").machine, 183);

  // An amd64 host with libc6:arm64 installed has both loaders: its own /bin/sh decides.
  put("libc10.so", "/lib64/ld-linux-x86-64.so.2");
  put("libc10.so", "/bin/sh");
  m = detect_root_machine(*m_fs, &evidence);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->uname, "x86_64");
  EXPECT_EQ(evidence, "/bin/sh (e_machine x86-64)");
  put("aarch64-libcudart.so.13", "/bin/sh");
  EXPECT_EQ(detect_root_machine(*m_fs)->uname, "aarch64");
  // Near case: a loader name holding a file of another machine is not that machine's loader.
  fs::remove(m_root + "/lib/ld-linux-aarch64.so.1");
  put("libc10.so", "/lib/ld-linux-aarch64.so.1");
  EXPECT_EQ(detect_root_machine(*m_fs)->uname, "x86_64");
}

// ---- against the real loader of this machine ----------------------------------------------
// The same layouts, on the host (RootFs "/"), dlopen()ed by glibc's ld.so in a child process.

class ResolverAgainstRealLoader : public ResolverTest {
 protected:
  void SetUp() override {
    ResolverTest::SetUp();
    if (IsSkipped()) return;
    m_root = fs::canonical(m_root).string();  // the names ld.so builds hold no links
    m_host = std::make_unique<RootFs>("/");
  }
  // This process as the loader sees it: its executable (with its RPATH/RUNPATH), environment,
  // cache and working folder.
  ResolverConfig this_process() {
    ResolverConfig config;
    config.platform = detect_loader_platform(*m_host);
    std::string exe = fs::canonical("/proc/self/exe").string();
    auto parsed = gpudoctor::elf::read_elf_file(*m_host, exe);
    EXPECT_TRUE(std::holds_alternative<gpudoctor::elf::ElfFile>(parsed));
    if (auto* f = std::get_if<gpudoctor::elf::ElfFile>(&parsed)) config.executable = LoaderObject::from_elf(exe, *f);
    if (const char* llp = std::getenv("LD_LIBRARY_PATH")) config.ld_library_path = llp;
    if (auto bytes = m_host->read_text("/etc/ld.so.cache", std::size_t{64} << 20)) {
      auto cache = parse_ld_so_cache(*bytes);
      if (auto* c = std::get_if<LdSoCache>(&cache)) config.cache = std::make_shared<const LdSoCache>(*c);
    }
    config.working_directory = fs::current_path().string();
    return config;
  }
  std::string host(const std::string& path_in_root) const { return m_root + path_in_root; }

  std::unique_ptr<RootFs> m_host;
};

TEST_F(ResolverAgainstRealLoader, TorchTreeSameFilesSameOrder) {
  lay_out_torch();
  Resolver resolver(*m_host, this_process());
  LoadTree tree = resolver.load_tree(host(kC), {*resolver.config().executable}, {});
  ASSERT_FALSE(tree.failure.has_value()) << *tree.failure;
  std::vector<std::string> predicted;
  for (const auto& o : tree.objects) predicted.push_back(o.path);
  RealLoad real = real_dlopen(host(kC));
  ASSERT_TRUE(real.loaded) << real.error;
  EXPECT_EQ(predicted, real.names);
}

TEST_F(ResolverAgainstRealLoader, SymlinkedSystemCopyResolves) {
  lay_out_torch();
  LoaderObject object{host("/opt/x/libx.so"), host("/usr/lib/x86_64-linux-gnu"), std::nullopt, false};
  Resolution r = Resolver(*m_host, this_process()).resolve("libcudnn.so.9", object, {}, {});
  EXPECT_EQ(r.path, host("/usr/lib/x86_64-linux-gnu/libcudnn.so.9"));
  EXPECT_EQ(r.resolved_path, host("/usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0"));
}

TEST_F(ResolverAgainstRealLoader, RunpathNotInheritedFailsTheSameWay) {
  put("libtop_runpath.so", "/opt/app/libtop_runpath.so");
  put("libmid.so", "/opt/app/deps/libmid.so");
  put("libleaf.so.1", "/opt/app/deps/libleaf.so.1");
  Resolver resolver(*m_host, this_process());
  LoadTree tree = resolver.load_tree(host("/opt/app/libtop_runpath.so"), {*resolver.config().executable}, {});
  ASSERT_TRUE(tree.failure.has_value());
  RealLoad real = real_dlopen(host("/opt/app/libtop_runpath.so"));
  EXPECT_FALSE(real.loaded);
  EXPECT_EQ(real.error, *tree.failure);
}

TEST_F(ResolverAgainstRealLoader, RpathInheritedLoadsTheSameWay) {
  put("libtop_rpath.so", "/opt/app/libtop_rpath.so");
  put("libmid.so", "/opt/app/deps/libmid.so");
  put("libleaf.so.1", "/opt/app/deps/libleaf.so.1");
  Resolver resolver(*m_host, this_process());
  LoadTree tree = resolver.load_tree(host("/opt/app/libtop_rpath.so"), {*resolver.config().executable}, {});
  ASSERT_FALSE(tree.failure.has_value()) << *tree.failure;
  std::vector<std::string> predicted;
  for (const auto& o : tree.objects) predicted.push_back(o.path);
  RealLoad real = real_dlopen(host("/opt/app/libtop_rpath.so"));
  ASSERT_TRUE(real.loaded) << real.error;
  EXPECT_EQ(predicted, real.names);
}

TEST_F(ResolverAgainstRealLoader, WrongClassSkippedAndPlaceholderFatal) {
  lay_out_torch();
  put("libcudart.so.13.i386", kSp + "/nvidia/cudnn/lib/libcudart.so.13");
  {
    Resolver resolver(*m_host, this_process());
    LoadTree tree = resolver.load_tree(host(kC), {*resolver.config().executable}, {});
    ASSERT_FALSE(tree.failure.has_value()) << *tree.failure;
    std::vector<std::string> predicted;
    for (const auto& o : tree.objects) predicted.push_back(o.path);
    RealLoad real = real_dlopen(host(kC));
    ASSERT_TRUE(real.loaded) << real.error;
    EXPECT_EQ(predicted, real.names);
  }
  write(kSp + "/nvidia/cudnn/lib/libcudnn.so.9", "");
  Resolver resolver(*m_host, this_process());
  LoadTree tree = resolver.load_tree(host(kC), {*resolver.config().executable}, {});
  ASSERT_TRUE(tree.failure.has_value());
  RealLoad real = real_dlopen(host(kC));
  EXPECT_FALSE(real.loaded);
  EXPECT_EQ(real.error, *tree.failure);
}
