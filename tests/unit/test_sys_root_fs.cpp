// RootFs: paths inside an inspected root, links resolved inside it and never outside, even
// when the image changes while it is read; device nodes, FIFOs and sockets never opened.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sys/root_fs.hpp"

namespace gpudoctor {
namespace {

namespace fs = std::filesystem;

// Counts the times a file is really opened (IN_OPEN): an O_PATH descriptor or a stat opens
// nothing, so this tells "looked at" from "opened".
class OpenWatch {
 public:
  explicit OpenWatch(const fs::path& p) : m_fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    m_ok = m_fd >= 0 && ::inotify_add_watch(m_fd, p.c_str(), IN_OPEN) >= 0;
  }
  ~OpenWatch() {
    if (m_fd >= 0) ::close(m_fd);
  }
  [[nodiscard]] bool ok() const { return m_ok; }
  int opens() const {
    int n = 0;
    alignas(inotify_event) char buf[4096];
    ssize_t got;
    while ((got = ::read(m_fd, buf, sizeof buf)) > 0) {
      for (char* p = buf; p < buf + got;) {
        auto* e = reinterpret_cast<inotify_event*>(p);
        if (e->mask & IN_OPEN) ++n;
        p += sizeof(inotify_event) + e->len;
      }
    }
    return n;
  }

 private:
  int m_fd;
  bool m_ok = false;
};

class RootFsTest : public ::testing::TestWithParam<RootFs::Resolution> {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("gpudoctor-rootfs-" + std::to_string(::getpid()));
    m_root = m_dir / "root";
    fs::remove_all(m_dir);
    fs::create_directories(m_root / "usr/local/nvidia/lib64");
    fs::create_directories(m_root / "etc");
    fs::create_directories(m_root / "proc");
    std::ofstream(m_root / "usr/local/nvidia/lib64/libcuda.so.580.159.04") << "elf";
    fs::create_symlink("libcuda.so.580.159.04", m_root / "usr/local/nvidia/lib64/libcuda.so.1");
    fs::create_symlink("lib64", m_root / "usr/local/nvidia/lib");
    std::ofstream(m_root / "etc/os-release") << "ID=ubuntu\n";
    // What lies outside the root, beside it: a hostile image's links aim here.
    fs::create_directories(m_dir / "outside");
    std::ofstream(m_dir / "outside/os-release") << "ID=the-host-outside\n";
    std::ofstream(m_dir / "outside/only-outside") << "host\n";
    fs::create_symlink("/etc/os-release", m_root / "etc/abs-link");
    fs::create_symlink("../../../../../../../../etc/passwd", m_root / "etc/escape");
    fs::create_symlink("../../outside/os-release", m_root / "etc/up-two");
    fs::create_symlink((m_dir / "outside/os-release").string(), m_root / "etc/host-absolute");
    fs::create_symlink("../../outside", m_root / "usr/share");             // a folder link mid-path
    fs::create_symlink((m_dir / "outside").string(), m_root / "usr/abs");  // absolute folder link
    fs::create_symlink("loop-b", m_root / "etc/loop-a");
    fs::create_symlink("loop-a", m_root / "etc/loop-b");
    ::mkfifo((m_root / "etc/fifo").c_str(), 0600);
  }
  void TearDown() override { fs::remove_all(m_dir); }
  RootFs root() const { return RootFs(m_root.string(), GetParam()); }
  fs::path m_dir, m_root;
};

INSTANTIATE_TEST_SUITE_P(Resolutions, RootFsTest,
                         ::testing::Values(RootFs::Resolution::automatic, RootFs::Resolution::walk),
                         [](const auto& info) { return info.param == RootFs::Resolution::walk ? "Walk" : "Openat2"; });

TEST_P(RootFsTest, ResolvesLinksInsideTheRoot) {
  auto r = root();
  EXPECT_FALSE(r.is_host());
  EXPECT_EQ(r.resolve("/usr/local/nvidia/lib/libcuda.so.1"), "/usr/local/nvidia/lib64/libcuda.so.580.159.04");
  EXPECT_EQ(r.read_text("/usr/local/nvidia/lib/libcuda.so.1"), "elf");
  EXPECT_EQ(r.resolve("/usr/local/nvidia/../nvidia/./lib64"), "/usr/local/nvidia/lib64");
  EXPECT_EQ(r.resolve("/"), "/");
}

TEST_P(RootFsTest, AbsoluteLinksPointIntoTheRootNotTheHost) {
  auto r = root();
  EXPECT_EQ(r.resolve("/etc/abs-link"), "/etc/os-release");
  EXPECT_EQ(r.read_text("/etc/abs-link"), "ID=ubuntu\n");
  // ../ above the root stays at the root: /etc/passwd of the image, which does not exist.
  EXPECT_FALSE(r.read_text("/etc/escape"));
}

TEST_P(RootFsTest, LinksAimedOutsideNeverReachIt) {
  auto r = root();
  // ../.. to the folder beside the root, and the host's absolute path of it: both exist on
  // the host, and neither may be reached.
  for (const char* p : {"/etc/up-two", "/etc/host-absolute", "/usr/share/os-release", "/usr/abs/os-release"}) {
    EXPECT_FALSE(r.read_text(p)) << p;
    EXPECT_FALSE(r.stat(p)) << p;
    EXPECT_FALSE(r.open_regular(p).valid()) << p;
  }
  EXPECT_TRUE(r.list_dir("/usr/share").empty());
  EXPECT_TRUE(r.list_dir("/usr/abs").empty());
  EXPECT_FALSE(r.is_dir("/usr/abs"));
  EXPECT_EQ(r.resolve("/usr/share"), std::nullopt);
  // The links themselves are there and can be read verbatim.
  EXPECT_EQ(r.read_link("/usr/share"), "../../outside");
  ASSERT_TRUE(r.lstat("/etc/up-two"));
  EXPECT_TRUE(S_ISLNK(r.lstat("/etc/up-two")->st_mode));
  // Once the image has a /outside of its own, that is what the link reaches.
  fs::create_directories(m_root / "outside");
  std::ofstream(m_root / "outside/os-release") << "ID=inside\n";
  EXPECT_EQ(r.read_text("/etc/up-two"), "ID=inside\n");
  EXPECT_EQ(r.read_text("/usr/share/os-release"), "ID=inside\n");
  EXPECT_EQ(r.resolve("/usr/share/os-release"), "/outside/os-release");
}

TEST_P(RootFsTest, LoopsAreAbsentNotHangs) {
  auto r = root();
  EXPECT_FALSE(r.resolve("/etc/loop-a"));
  EXPECT_FALSE(r.read_text("/etc/loop-a"));
  EXPECT_FALSE(r.exists("/etc/loop-a/x"));
}

// A FIFO needs no privilege: this is the case that always runs. Opening it, even with
// O_NONBLOCK, is what must not happen (a FIFO or a device's driver sees the open).
TEST_P(RootFsTest, AFifoIsNeverOpened) {
  auto r = root();
  OpenWatch watch(m_root / "etc/fifo");
  ASSERT_TRUE(watch.ok());
  EXPECT_FALSE(r.read_text("/etc/fifo"));
  EXPECT_FALSE(r.read_tail("/etc/fifo", 100));
  UniqueFd fd = r.open_regular("/etc/fifo");
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(errno, ENXIO);
  EXPECT_TRUE(r.exists("/etc/fifo"));  // stat looks without opening
  EXPECT_TRUE(S_ISFIFO(r.stat("/etc/fifo")->st_mode));
  EXPECT_TRUE(r.list_dir("/etc/fifo").empty());
  EXPECT_EQ(watch.opens(), 0);
}

TEST_P(RootFsTest, ASocketIsNeverOpened) {
  std::string path = (m_root / "etc/sock").string();
  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  EXPECT_FALSE(root().read_text("/etc/sock"));
  ::close(s);
}

// `mknod ROOT/proc/modules c 1 5`: the image's /proc/modules is /dev/zero's device. Needs
// CAP_MKNOD (tests run as root on the development machines); skipped without it.
TEST_P(RootFsTest, ACharacterDeviceInTheImageIsNeverOpened) {
  fs::path node = m_root / "proc/modules";
  if (::mknod(node.c_str(), S_IFCHR | 0644, ::makedev(1, 5)) != 0)
    GTEST_SKIP() << "mknod is not permitted here (" << std::strerror(errno) << "): the FIFO case covers the rest";
  OpenWatch watch(node);
  ASSERT_TRUE(watch.ok());
  auto r = root();
  EXPECT_FALSE(r.read_text("/proc/modules"));
  EXPECT_FALSE(r.read_tail("/proc/modules", 4096));
  EXPECT_FALSE(r.open_regular("/proc/modules").valid());
  auto st = r.stat("/proc/modules");
  ASSERT_TRUE(st);
  EXPECT_TRUE(S_ISCHR(st->st_mode));
  EXPECT_EQ(watch.opens(), 0);
  // A link to it is no way round.
  fs::create_symlink("/proc/modules", m_root / "etc/modules-link");
  EXPECT_FALSE(r.read_text("/etc/modules-link"));
  EXPECT_EQ(watch.opens(), 0);
}

// The check-then-open race: a folder of the image swapped (rename(2) with RENAME_EXCHANGE,
// atomic) for a link to a folder outside while the tool reads. Whatever the interleaving, the
// host's file is never read: each read gives the image's file or nothing.
TEST_P(RootFsTest, AFolderSwappedForALinkWhileReadingNeverLeadsOutside) {
  fs::create_symlink("../outside", m_root / "swap-relative");
  fs::create_symlink((m_dir / "outside").string(), m_root / "swap-absolute");
  auto r = root();
  std::atomic<bool> stop{false};
  std::atomic<long> swaps{0};
  std::thread swapper([&] {
    std::string etc = (m_root / "etc").string();
    std::string links[2] = {(m_root / "swap-relative").string(), (m_root / "swap-absolute").string()};
    for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      const std::string& link = links[(i / 2) % 2];
      // Two exchanges: etc becomes the link, then the folder again.
      if (::renameat2(AT_FDCWD, etc.c_str(), AT_FDCWD, link.c_str(), RENAME_EXCHANGE) == 0) swaps.fetch_add(1);
    }
  });
  constexpr int k_iterations = 20000;
  int inside = 0, absent = 0, outside = 0;
  for (int i = 0; i < k_iterations; ++i) {
    auto text = r.read_text("/etc/os-release");
    if (!text) ++absent;
    else if (*text == "ID=ubuntu\n") ++inside;
    else ++outside;
    auto listing = r.list_dir("/etc");
    if (std::find(listing.begin(), listing.end(), "only-outside") != listing.end()) ++outside;
  }
  stop = true;
  swapper.join();
  EXPECT_EQ(outside, 0) << "the host's file was read " << outside << " times in " << k_iterations;
  RecordProperty("iterations", k_iterations);
  RecordProperty("inside", inside);
  RecordProperty("absent", absent);
  RecordProperty("swaps", static_cast<int>(swaps.load()));
  // The race was really run: the swapper ran throughout, and reads saw both states.
  EXPECT_GT(swaps.load(), 1000);
  EXPECT_GT(inside, 0);
  EXPECT_GT(absent, 0) << "no read saw the swapped state: the test raced nothing";
  std::printf("race: %d reads, %d inside, %d absent, %d outside, %ld swaps\n", k_iterations, inside, absent, outside,
              swaps.load());
}

TEST_P(RootFsTest, ListsReadsLinksAndTails) {
  auto r = root();
  EXPECT_EQ(r.list_dir("/usr/local/nvidia/lib"), (std::vector<std::string>{"libcuda.so.1", "libcuda.so.580.159.04"}));
  EXPECT_TRUE(r.list_dir("/nonexistent").empty());
  EXPECT_EQ(r.read_link("/usr/local/nvidia/lib64/libcuda.so.1"), "libcuda.so.580.159.04");
  EXPECT_FALSE(r.read_link("/etc/os-release"));  // not a link
  EXPECT_EQ(r.read_tail("/etc/os-release", 7), "ubuntu\n");
  EXPECT_EQ(r.read_text("/etc/os-release", 2), "ID");
  EXPECT_TRUE(r.is_dir("/usr/local/nvidia/lib"));
  EXPECT_FALSE(r.read_text("/etc"));  // a folder is not read
  EXPECT_EQ(r.host_path("/usr/local/nvidia/lib/libcuda.so.1"),
            (m_root / "usr/local/nvidia/lib64/libcuda.so.580.159.04").string());
}

TEST_P(RootFsTest, UsableRootsAndUnusableOnes) {
  EXPECT_EQ(root().unusable(), std::nullopt);
  fs::create_directories(m_dir / "empty");
  auto empty = RootFs((m_dir / "empty").string(), GetParam()).unusable();
  ASSERT_TRUE(empty);
  EXPECT_NE(empty->find("is empty"), std::string::npos) << *empty;
  fs::create_directories(m_dir / "downloads");
  std::ofstream(m_dir / "downloads/report.pdf") << "%PDF";
  auto not_system = RootFs((m_dir / "downloads").string(), GetParam()).unusable();
  ASSERT_TRUE(not_system);
  EXPECT_NE(not_system->find("does not look like a system"), std::string::npos) << *not_system;
  auto missing = RootFs((m_dir / "missing").string(), GetParam());
  ASSERT_TRUE(missing.unusable());
  EXPECT_NE(missing.unusable()->find("No such file"), std::string::npos);
  EXPECT_FALSE(missing.read_text("/etc/os-release"));
  EXPECT_TRUE(missing.list_dir("/").empty());
}

TEST(RootFsHost, SlashIsTheHost) {
  RootFs root("/");
  EXPECT_TRUE(root.is_host());
  EXPECT_EQ(root.unusable(), std::nullopt);
  EXPECT_TRUE(root.exists("/proc/self"));
  EXPECT_TRUE(root.read_text("/proc/self/stat").has_value());
  EXPECT_FALSE(root.read_text("/dev/null"));  // a device: never read, on the host either
}

TEST(PathHelpers, JoinBasenameDirname) {
  EXPECT_EQ(path_join("/a/b", "c"), "/a/b/c");
  EXPECT_EQ(path_join("/a/b/", "c"), "/a/b/c");
  EXPECT_EQ(path_basename("/a/b/c"), "c");
  EXPECT_EQ(path_basename("/a/b/"), "b");
  EXPECT_EQ(path_dirname("/a/b/c"), "/a/b");
  EXPECT_EQ(path_dirname("/a"), "/");
}

}  // namespace
}  // namespace gpudoctor
