// fleet/slurm: what `gpudoctor fleet` reads of Slurm's tools. The lines are Slurm 22.05's, as
// tests/cli/slurm_fleet.sh saw them from the real srun and sinfo.

#include "fleet/slurm.hpp"

#include <gtest/gtest.h>

#include <map>

namespace gpudoctor::fleet {
namespace {

TEST(LabelledStream, JoinsEachTasksPiecesWhateverTheirWidthAndOrder) {
  std::map<int, std::string> got;
  std::vector<std::string> other;
  LabelledStream s(
      12, [&](int t, std::string_view text) { got[t] += text; }, [&](std::string_view l) { other.emplace_back(l); });
  // Twelve tasks: srun pads the label to two digits. A JSON line cut at a string's middle, pieces
  // of two tasks interleaved, the bytes arriving in odd chunks.
  std::string stream = " 0: {\"label\": \"n0\n11: {\"label\"\n 0: 1\", \"x\": 1}\n11: : \"n11\"}\nsrun: error: n3: task 3: Exited with exit code 2\n";
  for (std::size_t i = 0; i < stream.size(); i += 7) s.feed(std::string_view(stream).substr(i, 7));
  s.finish();
  EXPECT_EQ(got[0], "{\"label\": \"n01\", \"x\": 1}");
  EXPECT_EQ(got[11], "{\"label\": \"n11\"}");
  ASSERT_EQ(other.size(), 1U);
  EXPECT_EQ(other[0], "srun: error: n3: task 3: Exited with exit code 2");
}

TEST(LabelledStream, LinesOfNoTaskAreNotATasks) {
  std::map<int, std::string> got;
  std::vector<std::string> other;
  LabelledStream s(
      3, [&](int t, std::string_view text) { got[t] += text; }, [&](std::string_view l) { other.emplace_back(l); });
  s.feed("7: beyond the tasks\n12abc: x\n: no number\n  2: two\n");
  s.finish();
  EXPECT_EQ(got.size(), 1U);
  EXPECT_EQ(got[2], "two");
  EXPECT_EQ(other, (std::vector<std::string>{"7: beyond the tasks", "12abc: x", ": no number"}));
}

TEST(SrunMessages, ALaunchFailureNamesItsNode) {
  auto f = srun_node_failure("srun: error: Task launch for StepId=7.0 failed on node n3: Communication connection failure");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->first, "n3");
  EXPECT_EQ(f->second, "srun: task launch failed: Communication connection failure");
  // Near texts: a task's own failure, and srun's summary, name no node that failed to launch.
  EXPECT_FALSE(srun_node_failure("srun: error: n3: task 2: Exited with exit code 1"));
  EXPECT_FALSE(srun_node_failure("srun: error: Application launch failed: Communication connection failure"));
  EXPECT_FALSE(srun_node_failure("srun: error: Task launch failed on node $(reboot): x"));
}

TEST(Sinfo, NodesStatesAndReasons) {
  auto n = parse_sinfo(
      "n1|idle|none\n"
      "n2|drained|gpudoctor: driver_not_installed|extra\n"
      "n1|idle|none\n"        // in a second partition
      "bad name|idle|none\n"  // not a node name
      "no separators\n"
      "n3|down*|Not responding\n");
  ASSERT_EQ(n.size(), 3U);
  EXPECT_EQ(n[0].name, "n1");
  EXPECT_EQ(n[0].reason, "");
  EXPECT_EQ(n[1].state, "drained");
  EXPECT_EQ(n[1].reason, "gpudoctor: driver_not_installed|extra");
  EXPECT_EQ(n[2].state, "down*");
}

TEST(Sinfo, OnlyNodesThatCanRunAStepNowAreAsked) {
  for (const char* s : {"idle", "mixed", "completing"}) EXPECT_TRUE(usable_state(s)) << s;
  for (const char* s : {"allocated", "drained", "draining", "down", "down*", "idle*", "idle~", "idle#", "mixed@", "fail",
                        "future", "maint", "unknown", "reserved"})
    EXPECT_FALSE(usable_state(s)) << s;
}

TEST(Srun, OneTaskPerNodeAndTheCopyOnlyWhenAsked) {
  FleetOptions o;
  o.binary = "/opt/gpudoctor/bin/gpudoctor";
  o.timeout = std::chrono::seconds(120);
  auto plain = srun_command(o, {"n1", "n2"}, "gpudoctor-fleet-7", false);
  EXPECT_EQ(plain, (std::vector<std::string>{"srun", "--job-name=gpudoctor-fleet-7", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1",
                                             "--nodelist=n1,n2", "--time=3", "--label", "--kill-on-bad-exit=0", "--no-kill",
                                             "--wait=0", "/opt/gpudoctor/bin/gpudoctor", "snapshot"}));
  o.partition = "gpu";
  o.probe_quick = true;
  o.bcast_dir = "/local/scratch/";
  auto copied = srun_command(o, {"n1"}, "j", true);
  std::vector<std::string> tail(copied.end() - 8, copied.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"--wait=0", "--partition=gpu", "--bcast=/local/scratch/", "/opt/gpudoctor/bin/gpudoctor",
                                            "snapshot", "--probe", "--quick", "--remove-bcast-copy"}));
}

TEST(SharedFilesystem, ALocalFolderIsNotShared) {
  std::string name;
  EXPECT_FALSE(on_shared_filesystem("/proc/self", &name));  // procfs
  EXPECT_EQ(name, "0x9fa0");
  EXPECT_FALSE(on_shared_filesystem("/nonexistent/gpudoctor", &name));
}

}  // namespace
}  // namespace gpudoctor::fleet
