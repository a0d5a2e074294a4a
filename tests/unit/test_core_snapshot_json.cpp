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

TEST(SnapshotJson, RejectsWhatIsNotASnapshot) {
  EXPECT_THROW(snapshot_from_json(nlohmann::json::array()), SnapshotError);
  EXPECT_THROW(snapshot_from_json(nlohmann::json{{"kind", "other"}}), SnapshotError);
  EXPECT_THROW(snapshot_from_json(nlohmann::json{{"kind", "gpudoctor-snapshot"}, {"schema", 2}}), SnapshotError);
  EXPECT_THROW(snapshot_from_json(nlohmann::json{{"kind", "gpudoctor-snapshot"}, {"schema", 1}, {"pci_gpus", 5}}),
               SnapshotError);
  EXPECT_THROW(snapshot_from_json(nlohmann::json{{"kind", "gpudoctor-snapshot"}, {"schema", 1},
                                                 {"driver", {{"cuda", {{"init", {{"code", "x"}}}}}}}}),
               SnapshotError);
}

TEST(SnapshotJson, MissingPartsTakeDefaults) {
  auto s = snapshot_from_json(nlohmann::json{{"kind", "gpudoctor-snapshot"}, {"schema", 1}});
  EXPECT_TRUE(s.pci_gpus.empty());
  EXPECT_FALSE(s.driver.cuda.init.known());
}

}  // namespace
}  // namespace gpudoctor
