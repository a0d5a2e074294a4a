// RootFs: paths inside an inspected root, links resolved inside it and never outside.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sys/root_fs.hpp"

namespace gpudoctor {
namespace {

namespace fs = std::filesystem;

class RootFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("gpudoctor-rootfs-" + std::to_string(::getpid()));
    fs::remove_all(m_dir);
    fs::create_directories(m_dir / "usr/local/nvidia/lib64");
    fs::create_directories(m_dir / "etc");
    std::ofstream(m_dir / "usr/local/nvidia/lib64/libcuda.so.580.159.04") << "elf";
    fs::create_symlink("libcuda.so.580.159.04", m_dir / "usr/local/nvidia/lib64/libcuda.so.1");
    fs::create_symlink("lib64", m_dir / "usr/local/nvidia/lib");
    std::ofstream(m_dir / "etc/os-release") << "ID=ubuntu\n";
    // A hostile image: absolute links that would leave the root if followed on the host.
    fs::create_symlink("/etc/os-release", m_dir / "etc/abs-link");
    fs::create_symlink("../../../../../../../../etc/passwd", m_dir / "etc/escape");
    fs::create_symlink("loop-b", m_dir / "etc/loop-a");
    fs::create_symlink("loop-a", m_dir / "etc/loop-b");
    ::mkfifo((m_dir / "etc/fifo").c_str(), 0600);
  }
  void TearDown() override { fs::remove_all(m_dir); }
  fs::path m_dir;
};

TEST_F(RootFsTest, ResolvesLinksInsideTheRoot) {
  RootFs root(m_dir.string());
  EXPECT_FALSE(root.is_host());
  EXPECT_EQ(root.resolve("/usr/local/nvidia/lib/libcuda.so.1"), "/usr/local/nvidia/lib64/libcuda.so.580.159.04");
  EXPECT_EQ(root.read_text("/usr/local/nvidia/lib/libcuda.so.1"), "elf");
}

TEST_F(RootFsTest, AbsoluteLinksPointIntoTheRootNotTheHost) {
  RootFs root(m_dir.string());
  EXPECT_EQ(root.resolve("/etc/abs-link"), "/etc/os-release");
  EXPECT_EQ(root.read_text("/etc/abs-link"), "ID=ubuntu\n");
  // ../ above the root stays at the root: /etc/passwd of the image, which does not exist.
  EXPECT_FALSE(root.read_text("/etc/escape"));
}

TEST_F(RootFsTest, LoopsAndFifosAreAbsentNotHangs) {
  RootFs root(m_dir.string());
  EXPECT_FALSE(root.resolve("/etc/loop-a"));
  EXPECT_FALSE(root.read_text("/etc/loop-a"));
  EXPECT_FALSE(root.read_text("/etc/fifo"));  // would block on the host; an image never gets to
}

TEST_F(RootFsTest, ListsReadsLinksAndTails) {
  RootFs root(m_dir.string());
  EXPECT_EQ(root.list_dir("/usr/local/nvidia/lib"), (std::vector<std::string>{"libcuda.so.1", "libcuda.so.580.159.04"}));
  EXPECT_TRUE(root.list_dir("/nonexistent").empty());
  EXPECT_EQ(root.read_link("/usr/local/nvidia/lib64/libcuda.so.1"), "libcuda.so.580.159.04");
  EXPECT_EQ(root.read_tail("/etc/os-release", 7), "ubuntu\n");
  EXPECT_EQ(root.read_text("/etc/os-release", 2), "ID");
  EXPECT_TRUE(root.is_dir("/usr/local/nvidia/lib"));
}

TEST(RootFsHost, SlashIsTheHost) {
  RootFs root("/");
  EXPECT_TRUE(root.is_host());
  EXPECT_TRUE(root.exists("/proc/self"));
  EXPECT_TRUE(root.read_text("/proc/self/stat").has_value());
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
