// `gpudoctor fleet` against stand-ins of Slurm's srun, sinfo and scontrol (tests/cli/fake_slurm/,
// modelled on Slurm 22.05 as tests/cli/slurm_fleet.sh runs it for real): the labelled output cut
// into 1 KiB pieces and interleaved, a node whose launch fails, drained and unknown nodes, srun's
// copy with --bcast, and the errors: srun missing, a host list Slurm rejects, an allocation
// refused, no node answering.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/run_tool.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path k_tests = fs::path(GPUDOCTOR_SCENARIOS).parent_path();
const fs::path k_fake_slurm = k_tests / "cli" / "fake_slurm";
const fs::path k_hosts = k_tests / "hosts";

/// A temporary folder with the node states sinfo reports, removed after the test.
struct FakeCluster {
  static inline int made = 0;
  fs::path dir = fs::temp_directory_path() / fmt::format("gpudoctor-fake-slurm-{}-{}", getpid(), made++);
  explicit FakeCluster(const std::string& sinfo_lines) {
    fs::create_directories(dir / "bcast");
    std::ofstream(dir / "sinfo.txt") << sinfo_lines;
  }
  ~FakeCluster() { fs::remove_all(dir); }
  std::map<std::string, std::string> env(std::map<std::string, std::string> more = {}) const {
    std::map<std::string, std::string> e{{"PATH", k_fake_slurm.string() + ":/usr/bin:/bin"},
                                         {"FAKE_SINFO", (dir / "sinfo.txt").string()},
                                         {"FAKE_SRUN_RECORD", (dir / "srun.argv").string()},
                                         {"TMPDIR", dir.string()}};
    for (auto& [k, v] : more) e[k] = v;
    return e;
  }
  std::vector<std::string> srun_argv() const {
    std::ifstream f(dir / "srun.argv");
    std::vector<std::string> out;
    for (std::string l; std::getline(f, l);) out.push_back(l);
    return out;
  }
};

// sinfo --noheader --Node --format=%N|%T|%E as Slurm 22.05 prints it.
const char* k_four_nodes =
    "n1|idle|none\n"
    "n2|mixed|none\n"
    "n3|allocated|none\n"  // full: not asked
    "n4|drained|gpudoctor: driver_not_installed\n";

std::vector<std::string> hosts_of(const json& j) {
  std::vector<std::string> out;
  for (const auto& h : j["hosts"]) out.push_back(h["host"]);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(FleetSrun, EveryUsableNodeAnswersThroughLabelledPieces) {
  FakeCluster c(k_four_nodes);
  // This machine on the fake H200 driver. srun cuts lines at 1 KiB; the stand-in cuts them at 16
  // bytes, so that every line of the snapshot comes in pieces, interleaved with the other tasks'.
  auto r = run({"--json", "fleet", "--nodes", "n[1-4]", "--bcast", "yes", "--bcast-dir", (c.dir / "bcast").string()},
               c.env({{"LD_LIBRARY_PATH", GPUDOCTOR_FAKES_DIR},
                      {"GPUDOCTOR_FAKE_DRIVER", (k_hosts / "h200-captured" / "driver.json").string()},
                      {"FAKE_SRUN_PIECE", "16"}}));
  ASSERT_EQ(r.code, 1) << r.err << r.out;  // n3 and n4 did not answer
  auto j = json::parse(r.out);
  EXPECT_EQ(j["command"], "fleet");
  EXPECT_EQ(hosts_of(j), (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(j["not_answered"], json::array({"n3", "n4"}));
  EXPECT_EQ(j["not_answered_why"]["n3"], "Slurm state allocated: busy with other jobs, not asked (the step would wait for it)");
  EXPECT_EQ(j["not_answered_why"]["n4"], "Slurm state drained: gpudoctor: driver_not_installed");
  EXPECT_EQ(j["unreadable"], json::array());
  EXPECT_EQ(j["verdict"], "problem");
  for (const auto& h : j["hosts"]) EXPECT_EQ(h["versions"]["driver"], "580.159.04") << h;  // the fake driver's, read on every node
  // srun was asked for one task on each usable node, the copy to the node-local folder, and the
  // copy removes itself.
  auto argv = c.srun_argv();
  auto has = [&](const std::string& a) { return std::find(argv.begin(), argv.end(), a) != argv.end(); };
  EXPECT_TRUE(has("--nodes=2") && has("--ntasks=2") && has("--ntasks-per-node=1") && has("--nodelist=n1,n2") && has("--label"))
      << r.out;
  EXPECT_TRUE(has("--bcast=" + (c.dir / "bcast").string() + "/"));
  EXPECT_TRUE(has("snapshot") && has("--remove-bcast-copy"));
  EXPECT_FALSE(has("--probe"));
  EXPECT_TRUE(fs::is_empty(c.dir / "bcast")) << "the copies were not removed";
}

TEST(FleetSrun, AFailedLaunchIsNamedAndTheOthersReported) {
  FakeCluster c(k_four_nodes);
  auto r = run({"fleet", "--partition", "gpu", "--bcast", "no", "--probe-quick", "--markdown"}, c.env({{"FAKE_SRUN_DOWN", "n2"}}));
  ASSERT_EQ(r.code, 1) << r.err << r.out;
  EXPECT_NE(r.out.find("`n2`: srun: task launch failed: Communication connection failure"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("`n4`: Slurm state drained: gpudoctor: driver_not_installed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n1 nodes, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", 3 nodes did not answer."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("`n3`: Slurm state allocated: busy with other jobs"), std::string::npos) << r.out;
  auto argv = c.srun_argv();
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--partition=gpu"), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--probe"), argv.end());
  for (const auto& a : argv) EXPECT_EQ(a.rfind("--bcast", 0), std::string::npos) << a;
}

TEST(FleetSrun, WithoutNodesEveryNodeOfTheDefaultPartition) {
  FakeCluster c("n1|idle|none\nn2|idle|none\n");
  auto r = run({"--json", "fleet", "--bcast", "no"}, c.env());
  ASSERT_LE(r.code, 1) << r.err;  // 1 on a machine without a GPU
  EXPECT_EQ(hosts_of(json::parse(r.out)), (std::vector<std::string>{"n1", "n2"}));
  auto argv = c.srun_argv();
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--nodelist=n1,n2"), argv.end());
}

TEST(FleetSrun, NoNodeAnsweringIsAFailureWithWhatSrunSaid) {
  FakeCluster c(k_four_nodes);
  auto r = run({"fleet", "--nodes", "n[1-3]", "--bcast", "no"}, c.env({{"FAKE_SRUN_DOWN", "n1,n2,n3"}}));
  EXPECT_EQ(r.code, 3) << r.err << r.out;
  EXPECT_NE(r.err.find("no node answered"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("failed on node n1: Communication connection failure"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");

  auto refused = run({"fleet", "--nodes", "n1", "--bcast", "no"}, c.env({{"FAKE_SRUN_REJECT", "Invalid partition name specified"}}));
  EXPECT_EQ(refused.code, 3) << refused.err;
  EXPECT_NE(refused.err.find("Unable to allocate resources: Invalid partition name specified"), std::string::npos) << refused.err;
}

TEST(FleetSrun, NodesThatCannotRunAJobAreNotAskedFor) {
  FakeCluster c("n1|down*|Not responding\nn2|idle~|none\nn3|idle|none\n");
  auto r = run({"--json", "fleet", "--nodes", "n[1-3],n9", "--bcast", "no"}, c.env());
  ASSERT_EQ(r.code, 1) << r.err;
  auto j = json::parse(r.out);
  EXPECT_EQ(hosts_of(j), std::vector<std::string>{"n3"});
  EXPECT_EQ(j["not_answered"], json::array({"n1", "n2", "n9"}));
  EXPECT_EQ(j["not_answered_why"]["n1"], "Slurm state down*: Not responding");
  EXPECT_EQ(j["not_answered_why"]["n2"], "Slurm state idle~");
  EXPECT_EQ(j["not_answered_why"]["n9"], "not a node sinfo lists");
  auto argv = c.srun_argv();
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--nodelist=n3"), argv.end());

  FakeCluster none("n1|drained|maintenance\n");
  auto all_down = run({"fleet", "--nodes", "n1", "--bcast", "no"}, none.env());
  EXPECT_EQ(all_down.code, 3);
  EXPECT_NE(all_down.err.find("no node can run a job now: n1: Slurm state drained: maintenance"), std::string::npos) << all_down.err;
  EXPECT_FALSE(fs::exists(none.dir / "srun.argv")) << "srun ran for no node";
}

TEST(FleetSrun, UsageErrorsExitTwo) {
  // No srun on PATH: what to install.
  fs::path empty = fs::temp_directory_path() / fmt::format("gpudoctor-no-slurm-{}", getpid());
  fs::create_directories(empty);
  auto r = run({"fleet", "--nodes", "n1"}, {{"PATH", empty.string()}});
  fs::remove_all(empty);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("srun not found on PATH"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("apt-get install slurm-client"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");

  // A host list Slurm cannot read (scontrol says so on stderr and exits 0).
  FakeCluster c(k_four_nodes);
  auto bad = run({"fleet", "--nodes", "n[a-b]"}, c.env());
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--nodes n[a-b]: Slurm does not read it as a host list: scontrol: error: _parse_single_range"),
            std::string::npos)
      << bad.err;
  auto partition = run({"fleet", "--partition", "nosuch"}, c.env());
  EXPECT_EQ(partition.code, 2) << partition.err;
  EXPECT_NE(partition.err.find("sinfo lists no node in partition nosuch"), std::string::npos) << partition.err;
  auto option = run({"fleet", "--bcast", "sometimes"}, c.env());
  EXPECT_EQ(option.code, 2);
}

TEST(FleetSrun, SnapshotRemovesOnlyAnSrunBcastCopy) {
  // --remove-bcast-copy removes the running binary only when srun --bcast named it.
  fs::path dir = fs::temp_directory_path() / fmt::format("gpudoctor-bcast-{}", getpid());
  fs::create_directories(dir);
  fs::path other = dir / "gpudoctor";
  fs::copy_file(GPUDOCTOR_BINARY, other);
  int status = std::system(fmt::format("'{}' snapshot --remove-bcast-copy --driver none -o /dev/null", other.string()).c_str());
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(fs::exists(other)) << "a binary srun did not copy was removed";
  fs::remove_all(dir);
}

}  // namespace
