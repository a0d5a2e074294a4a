#include <gtest/gtest.h>

#include <fstream>

#include "core/snapshot_json.hpp"

namespace gpudoctor {
namespace {

TEST(SnapshotJson, UnknownFactsShowNullAndTheReason) {
  Snapshot s;
  s.host.kernel_release = Fact<std::string>::unknown("no /proc/sys/kernel/osrelease under the root");
  s.host.os_id = std::string("ubuntu");
  auto j = to_json(s);
  EXPECT_TRUE(j["host"]["kernel_release"]["value"].is_null());
  EXPECT_EQ(j["host"]["kernel_release"]["reason"], "no /proc/sys/kernel/osrelease under the root");
  EXPECT_EQ(j["host"]["os_id"], "ubuntu");
  EXPECT_EQ(j["kind"], "gpudoctor-snapshot");
}

TEST(SnapshotJson, RoundTripsTheRealH200Snapshot) {
  std::ifstream in(std::string(GPUDOCTOR_TEST_DATA) + "/h200-snapshot.json");
  auto j = nlohmann::json::parse(in);
  Snapshot s = snapshot_from_json(j);
  EXPECT_EQ(s.driver.nvml.driver_version.value_or(""), "580.159.04");
  ASSERT_EQ(s.driver.cuda.devices.size(), 1u);
  EXPECT_EQ(s.driver.cuda.devices[0].cc_major.value_or(0), 9);
  // Reading an older snapshot loses nothing: every value it holds comes back (newer fields may
  // be added with their defaults).
  const auto again = to_json(s).flatten();
  const auto original = j.flatten();
  for (const auto& [key, value] : original.items()) {
    ASSERT_TRUE(again.contains(key)) << key;
    EXPECT_EQ(again.at(key), value) << key;
  }
  EXPECT_EQ(to_json(snapshot_from_json(to_json(s))), to_json(s));
}

// The typed states (core/enum_text.hpp) write the words these recordings hold: every value of
// each recorded snapshot and probe comes back as it was, and writing it again changes nothing.
TEST(SnapshotJson, RecordingsKeepEveryWordOfTheirStates) {
  auto same_values = [](const nlohmann::json& original, const nlohmann::json& again, const std::string& file) {
    const auto a = again.flatten();
    const auto o = original.flatten();
    for (const auto& [key, value] : o.items()) {
      ASSERT_TRUE(a.contains(key)) << file << ": " << key;
      EXPECT_EQ(a.at(key), value) << file << ": " << key;
    }
  };
  for (const char* file : {"h200-snapshot.json", "macos-torch-snapshot.json", "windows11-tf212-snapshot.json"}) {
    std::ifstream in(std::string(GPUDOCTOR_TEST_DATA) + "/" + file);
    auto j = nlohmann::json::parse(in);
    Snapshot s = snapshot_from_json(j);
    same_values(j, to_json(s), file);
    EXPECT_EQ(to_json(snapshot_from_json(to_json(s))), to_json(s)) << file;
  }
  for (const char* file : {"h100x2-full.json", "h100x2-quick.json", "h100x2-busy-full.json", "h100x4-full.json"}) {
    std::ifstream in(std::string(GPUDOCTOR_TEST_DATA) + "/probe/" + file);
    auto j = nlohmann::json::parse(in);
    ComputeProbe c = compute_probe_from_json(j);
    EXPECT_NE(c.mode, ProbeMode::none) << file;
    same_values(j, to_json(c), file);
  }
}

TEST(SnapshotJson, RejectsWhatIsNotASnapshot) {
  EXPECT_THROW(snapshot_from_json(nlohmann::json::array()), SnapshotError);
  EXPECT_THROW(snapshot_from_json(nlohmann::json{{"kind", "other"}}), SnapshotError);
  EXPECT_THROW(snapshot_from_json(nlohmann::json{{"kind", "gpudoctor-snapshot"}, {"schema", 2}}), SnapshotError);
  EXPECT_THROW(snapshot_from_json(nlohmann::json{{"kind", "gpudoctor-snapshot"}, {"schema", 1}, {"pci_gpus", 5}}),
               SnapshotError);
  EXPECT_THROW(snapshot_from_json(nlohmann::json{{"kind", "gpudoctor-snapshot"}, {"schema", 1}, {"driver", {{"cuda", {{"init", {{"code", "x"}}}}}}}}),
               SnapshotError);
}

TEST(SnapshotJson, MissingPartsTakeDefaults) {
  auto s = snapshot_from_json(nlohmann::json{{"kind", "gpudoctor-snapshot"}, {"schema", 1}});
  EXPECT_TRUE(s.pci_gpus.empty());
  EXPECT_FALSE(s.driver.cuda.init.known());
}

TEST(SnapshotJson, ProgramPartRoundTripsWithNullFiguresInTheTimeline) {
  Snapshot s;
  s.program.watched = true;
  s.program.mode = "run";
  s.program.command = {"python3", "train.py"};
  s.program.exit_status = 139;
  ProgramGpu g;
  g.index = 0;
  g.used = true;
  g.peak_memory_bytes = std::uint64_t{3} << 30;
  GpuSample a;
  a.t_s = 0.1;
  a.memory_bytes = std::uint64_t{1} << 30;
  a.utilization_percent = Fact<unsigned>::unknown("no per-process figures");
  g.timeline.push_back(a);
  s.program.gpus.push_back(g);
  s.program.code.push_back(CodeFact{"torch_device_cpu", "torch", "train.py", 12, "device = 'cpu'", "cpu"});
  auto j = to_json(s);
  const auto& point = j["program"]["gpus"][0]["timeline"][0];
  EXPECT_TRUE(point["utilization_percent"].is_null());
  EXPECT_EQ(point["memory_bytes"], std::uint64_t{1} << 30);
  EXPECT_EQ(j["program"]["exit_status"], 139);
  EXPECT_EQ(j["program"]["code"][0]["line"], 12);
  Snapshot back = snapshot_from_json(j);
  ASSERT_EQ(back.program.gpus.size(), 1u);
  ASSERT_EQ(back.program.gpus[0].timeline.size(), 1u);
  EXPECT_FALSE(back.program.gpus[0].timeline[0].utilization_percent.known());
  EXPECT_EQ(back.program.gpus[0].timeline[0].memory_bytes.value_or(0), std::uint64_t{1} << 30);
  EXPECT_EQ(back.program.code.at(0).file, "train.py");
  EXPECT_EQ(to_json(back), j);
  // A hostile snapshot: a sample that is not an object is a readable error, not a crash.
  j["program"]["gpus"][0]["timeline"][0] = 5;
  EXPECT_THROW(snapshot_from_json(j), SnapshotError);
}

TEST(SnapshotJson, ALogLinesSeverityIsOneOfItsThreeWords) {
  Snapshot s;
  s.program.watched = true;
  LogEvent e;
  e.stream = "stderr";
  e.line = 3;
  e.text = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 65536.00 GiB. GPU 0 has a total capacity of 139.80 GiB";
  e.message = "torch_cuda_out_of_memory";
  e.cause = "gpu_memory_exhausted";
  e.severity = Severity::error;
  s.program.log.push_back(e);
  auto j = to_json(s);
  EXPECT_EQ(j["program"]["log"][0]["severity"], "error");
  EXPECT_EQ(snapshot_from_json(j).program.log.at(0).severity, Severity::error);
  j["program"]["log"][0]["severity"] = "warning";
  EXPECT_EQ(snapshot_from_json(j).program.log.at(0).severity, Severity::warning);
  // Near words: not this build's (a case changed, a word of another tool) are bad input.
  for (const char* word : {"Error", "fatal", ""}) {
    j["program"]["log"][0]["severity"] = word;
    EXPECT_THROW(snapshot_from_json(j), SnapshotError) << word;
  }
}

}  // namespace
}  // namespace gpudoctor
