// The /proc parsers of the process-tree watcher, on text copied from real machines, and the
// watcher itself on a real process tree (this test's own children).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>
#include <thread>

#include "program/proc_tree.hpp"

namespace gpudoctor::program {
namespace {

TEST(ProcTree, StatWithSpacesAndParenthesesInTheCommand) {
  // A Python process renamed by setproctitle: "pt_main_thread (worker 1)" has both.
  std::string stat =
      "4242 (pt_main (worker 1)) S 4200 4242 4200 34816 4242 4194560 186324 0 21 0 1234 567 0 0 20 0 37 0 "
      "889911 40123392000 2045893 18446744073709551615 94000000000000 94000000100000 140000000000000 0 0 0 0 "
      "16781312 16386 0 0 0 17 12 0 0 0 0 0";
  auto st = parse_proc_stat(stat);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 4200U);
  EXPECT_EQ(st->utime, 1234U);
  EXPECT_EQ(st->stime, 567U);
  EXPECT_EQ(st->start_time, 889911U);
  EXPECT_EQ(st->comm, "pt_main (worker 1)");
  EXPECT_EQ(st->vsize, 40123392000U);
  EXPECT_FALSE(parse_proc_stat("4242 (truncated"));
  EXPECT_FALSE(parse_proc_stat("4242 (x) S 1 2 3"));
  EXPECT_FALSE(parse_proc_stat("4242 (x) S notanumber 4242 4200 34816 4242 4194560 1 0 21 0 1 2 0 0 20 0 37 0 8 4"));
}

TEST(ProcTree, NspidOfAProcessInANestedNamespace) {
  // /proc/PID/status of a container's PID 1 seen from the host (kernel 6.8).
  std::string status = "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t91234\nNgid:\t0\nPid:\t91234\n"
                       "PPid:\t91200\nNSpid:\t91234\t1\nNSpgid:\t91234\t1\n";
  EXPECT_EQ(parse_nspid(status), (std::vector<std::uint32_t>{91234, 1}));
  EXPECT_EQ(parse_nspid("Name:\tsh\nPid:\t7\nNSpid:\t7\n"), (std::vector<std::uint32_t>{7}));
  EXPECT_TRUE(parse_nspid("Name:\tsh\nNSpgid:\t7\t1\n").empty());  // NSpgid is not NSpid
  EXPECT_TRUE(parse_nspid("NSpid:\t7\tx\n").empty());
}

TEST(ProcTree, MappedFilesEachOnceWithDeletedOnes) {
  std::string maps =
      "55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 3674117                    /usr/bin/python3.12\n"
      "7f1c2a000000-7f1c2a200000 r-xp 00000000 fd:01 1234567                    /usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04\n"
      "7f1c2a200000-7f1c2a400000 r--p 00200000 fd:01 1234567                    /usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04\n"
      "7f1c30000000-7f1c30021000 rw-p 00000000 00:00 0 \n"
      "7f1c31000000-7f1c31200000 r-xp 00000000 00:1f 55                         /opt/venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9 (deleted)\n"
      "7ffd5e9a0000-7ffd5e9c1000 rw-p 00000000 00:00 0                          [stack]\n"
      "7f1c32000000-7f1c32001000 rw-s 00000000 00:05 1029                       /dev/nvidia0\n";
  auto files = parse_maps_files(maps);
  std::vector<std::string> want = {"/usr/bin/python3.12", "/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04",
                                   "/opt/venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9", "/dev/nvidia0"};
  EXPECT_EQ(files, want);
  EXPECT_EQ(parse_maps_files(maps, 2).size(), 2U);
}

TEST(ProcTree, EnvironmentOnlyThroughTheAllowList) {
  const auto& kb = kb::KnowledgeBase::get();
  using namespace std::string_literals;
  std::string env = "HOME=/root\0CUDA_VISIBLE_DEVICES=-1\0JAX_PLATFORMS=cpu\0HF_TOKEN=hf_secret\0NVIDIA_API_KEY=nv\0"
                    "LD_LIBRARY_PATH=/usr/local/cuda/lib64\0=odd\0NOEQUALS\0"s;
  auto vars = parse_environ(env, kb);
  EXPECT_EQ(vars.size(), 3U);
  EXPECT_EQ(vars["CUDA_VISIBLE_DEVICES"], "-1");
  EXPECT_EQ(vars["JAX_PLATFORMS"], "cpu");
  EXPECT_EQ(vars["LD_LIBRARY_PATH"], "/usr/local/cuda/lib64");
  EXPECT_FALSE(vars.count("NVIDIA_API_KEY"));  // an allowed prefix, but a secret
  EXPECT_FALSE(vars.count("HOME"));
}

TEST(ProcTree, ChildrenAndCommandLines) {
  EXPECT_EQ(parse_pid_list("812 813 4051 "), (std::vector<std::uint32_t>{812, 813, 4051}));
  EXPECT_TRUE(parse_pid_list("").empty());
  EXPECT_EQ(parse_pid_list("12 x 0 -3 14"), (std::vector<std::uint32_t>{12, 14}));
  using namespace std::string_literals;
  EXPECT_EQ(parse_cmdline("torchrun\0--nproc_per_node=2\0train.py\0"s),
            (std::vector<std::string>{"torchrun", "--nproc_per_node=2", "train.py"}));
}

TEST(ProcTree, WatchesARealTreeOfChildrenAndGrandchildren) {
  // sh -> (sleep, sh -> sleep): the watcher finds all four through the children files.
  pid_t root = ::fork();
  if (root == 0) {
    ::execl("/bin/sh", "sh", "-c", "sleep 2 & sh -c 'sleep 2; true' & wait", nullptr);
    ::_exit(127);
  }
  ProcessTree tree("/proc", root, std::nullopt, {}, kb::KnowledgeBase::get());
  std::size_t seen = 0;
  for (int i = 0; i < 40 && seen < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    tree.tick(0.05 * (i + 1), true);
    seen = tree.processes().size();
  }
  ::kill(-root, SIGKILL);
  ::kill(root, SIGKILL);
  int status = 0;
  ::waitpid(root, &status, 0);
  ASSERT_GE(seen, 4U);
  int sleeps = 0;
  bool grandchild = false;
  for (const auto& [pid, p] : tree.processes()) {
    if (p.command == "sleep 2") ++sleeps;
    if (p.command == "sleep 2" && p.ppid != static_cast<std::uint32_t>(root)) grandchild = true;
    EXPECT_FALSE(p.nspids.empty());
    EXPECT_EQ(p.nspids.front(), p.pid);
    EXPECT_TRUE(p.cpu_seconds.known());
  }
  EXPECT_EQ(sleeps, 2);
  EXPECT_TRUE(grandchild);
  EXPECT_TRUE(tree.processes().at(root).command.find("sh -c sleep 2 &") == 0) << tree.processes().at(root).command;
}

TEST(ProcTree, AnExecBetweenFullReadingsGivesTheNewCommandAndEnvironment) {
  // A fork seen before it runs exec carries its parent's command line; the next reading, full or
  // not, must give the program it became (the launcher's `( sleep & )` orphan, a torchrun worker).
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(go[1]);
    char c = 0;
    if (::read(go[0], &c, 1) != 1) ::_exit(126);
    const char* env[] = {"CUDA_VISIBLE_DEVICES=3", "PATH=/usr/bin:/bin", nullptr};
    ::execle("/bin/sleep", "sleep", "1.5", nullptr, env);
    ::_exit(127);
  }
  ::close(go[0]);
  ProcessTree tree("/proc", child, std::nullopt, {}, kb::KnowledgeBase::get());
  tree.tick(0.0, true);
  std::string before = tree.processes().at(child).command;
  EXPECT_EQ(before.find("sleep"), std::string::npos) << before;
  tree.tick(0.1, false);  // no exec yet: the same command
  EXPECT_EQ(tree.processes().at(child).command, before);
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ::close(go[1]);
  // Wait until the kernel shows the new name, then one reading that is not full.
  bool execd = false;
  for (int i = 0; i < 200 && !execd; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    FILE* f = std::fopen(fmt::format("/proc/{}/comm", child).c_str(), "r");
    char name[32] = {};
    if (f != nullptr) {
      execd = std::fgets(name, sizeof name, f) != nullptr && std::string(name) == "sleep\n";
      std::fclose(f);
    }
  }
  ASSERT_TRUE(execd);
  tree.tick(0.2, false);
  const auto& p = tree.processes().at(child);
  EXPECT_EQ(p.command, "sleep 1.5");
  ASSERT_TRUE(p.env.count("CUDA_VISIBLE_DEVICES"));
  EXPECT_EQ(p.env.at("CUDA_VISIBLE_DEVICES"), "3");
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
}

TEST(ProcTree, MapsIsReadAgainOnlyWhenTheAddressSpaceChangedSize) {
  // A /proc laid out as the kernel writes it for one Python process (PID 4242, no children).
  namespace fs = std::filesystem;
  fs::path proc = fs::temp_directory_path() / fmt::format("gpudoctor-proc-{}", ::getpid());
  fs::remove_all(proc);
  fs::create_directories(proc / "4242/task/4242");
  fs::create_directories(proc / "4242/fd");
  auto put = [&](const std::string& name, const std::string& text) {
    std::ofstream(proc / "4242" / name, std::ios::binary) << text;
  };
  auto stat = [&](const std::string& vsize) {
    put("stat", "4242 (python3) S 4200 4242 4200 34816 4242 4194560 186324 0 21 0 1234 567 0 0 20 0 37 0 889911 " + vsize +
                    " 2045893 18446744073709551615 94000000000000 94000000100000 140000000000000 0 0 0 0 16781312 16386 0 0 0 17 "
                    "12 0 0 0 0 0\n");
  };
  using namespace std::string_literals;
  put("cmdline", "python3\0train.py\0"s);
  put("environ", "PATH=/usr/bin:/bin\0"s);
  put("status", "Name:\tpython3\nNSpid:\t4242\n");
  put("task/4242/children", "");
  const std::string cudart = "/home/user/.venv/lib/python3.12/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12";
  std::string maps = "55d0c0a00000-55d0c0b00000 r-xp 00000000 fd:01 1835 /usr/bin/python3.12\n";
  put("maps", maps);
  stat("40123392000");
  ProcessTree tree(proc.string(), 4242, std::nullopt, {}, kb::KnowledgeBase::get());
  tree.tick(0.0, true);
  ASSERT_TRUE(tree.processes().count(4242));
  EXPECT_TRUE(tree.processes().at(4242).libraries.empty());
  // cudart mapped, yet the size the stat gives is the same: maps is not read again.
  maps += "7f2a10000000-7f2a10100000 r-xp 00000000 fd:01 2211 " + cudart + "\n";
  put("maps", maps);
  tree.tick(1.0, true);
  EXPECT_TRUE(tree.processes().at(4242).libraries.empty());
  // The address space grew by the library's mapping: it is read, and cudart is found.
  stat("40124440576");
  tree.tick(2.0, true);
  ASSERT_EQ(tree.processes().at(4242).libraries.size(), 1U);
  EXPECT_EQ(tree.processes().at(4242).libraries[0].path, cudart);
  EXPECT_EQ(tree.processes().at(4242).libraries[0].role, "cudart");
  fs::remove_all(proc);
}

}  // namespace
}  // namespace gpudoctor::program
