// `gpudoctor merge`: snapshots of several nodes, taken by the real binary (`snapshot --label`) on
// test hosts and on the fake 2 x H100 GPU, merged into one fleet report: nodes grouped by root
// cause with the fix once, a GPU that lags the fleet's median, driver versions that differ,
// unreadable snapshots listed.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/run_tool.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path k_hosts = fs::path(GPUDOCTOR_SCENARIOS).parent_path() / "hosts";
const fs::path k_probe_driver = fs::path(GPUDOCTOR_TEST_DATA) / "probe" / "h100x2.driver.json";

std::map<std::string, std::string> fake_gpu(const fs::path& driver_json) {
  return {{"LD_LIBRARY_PATH", GPUDOCTOR_FAKES_DIR}, {"GPUDOCTOR_FAKE_DRIVER", driver_json.string()}};
}

/// A folder of snapshots of a small fleet, taken once for every test of this file.
class Fleet : public ::testing::Test {
 protected:
  static inline fs::path dir;

  static void take(const std::string& label, std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    std::vector<std::string> a{"snapshot", "--label", label, "-o", (dir / (label + ".json")).string()};
    a.insert(a.end(), args.begin(), args.end());
    auto r = run(a, std::move(env));
    ASSERT_EQ(r.code, 0) << label << ": " << r.err;
  }

  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / fmt::format("gpudoctor-fleet-{}", getpid());
    fs::create_directories(dir);
    // Four nodes with two H100s each, probed; gpu04's GPU 0 runs its products at 70% of the others.
    for (const char* n : {"gpu01", "gpu02", "gpu03"}) take(n, {"--probe", "--quick"}, fake_gpu(k_probe_driver));
    json slow = json::parse(std::ifstream(k_probe_driver));
    slow["cublas"]["device_factor"] = {{"0", 0.7}};
    auto slow_file = dir / "slow.driver";
    std::ofstream(slow_file) << slow.dump();
    take("gpu04", {"--probe", "--quick"}, fake_gpu(slow_file));
    // A node left on the R570 branch (CUDA 12.8), not probed; two VMs that came up without their
    // GPU; a new image without the driver.
    json r570 = json::parse(std::ifstream(k_probe_driver));
    r570["nvml"]["driver_version"] = "570.195.03";
    r570["nvml"]["nvml_version"] = "12.570.195.03";
    r570["nvml"]["cuda_driver_version"] = 12080;
    r570["cuda"]["driver_version"] = 12080;
    auto r570_file = dir / "r570.driver";
    std::ofstream(r570_file) << r570.dump();
    take("gpu05", {}, fake_gpu(r570_file));
    for (const char* n : {"cpu01", "cpu02"})
      take(n, {"--root", (k_hosts / "debian12-firecracker-nogpu" / "root").string(), "--driver", "none"});
    take("new01", {"--root", (k_hosts / "aws-g5-ubuntu2204-nodriver" / "root").string(), "--driver", "none"});
    std::ofstream(dir / "truncated.json") << R"({"kind": "gpudoctor-snapshot", "schema": 1, "host": {)";
    std::ofstream(dir / "notes.json") << "[1, 2, 3]";
    std::ofstream(dir / "README.txt") << "not a snapshot, and not named *.json: not read\n";
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  static const json* cause(const json& j, const std::string& id) {
    for (const auto& c : j["causes"])
      if (c["id"] == id) return &c;
    return nullptr;
  }
};

TEST_F(Fleet, NodesGroupedByRootCause) {
  auto r = run({"merge", "--json", dir.string()});
  ASSERT_EQ(r.code, 1) << r.err;  // some nodes have a problem
  auto j = json::parse(r.out);
  EXPECT_EQ(j["nodes"], 8);
  EXPECT_EQ(j["healthy_nodes"], 5);
  ASSERT_NE(cause(j, "no_nvidia_gpu"), nullptr) << j.dump(1);
  EXPECT_EQ((*cause(j, "no_nvidia_gpu"))["hosts"], json({"cpu01", "cpu02"}));
  EXPECT_EQ((*cause(j, "no_nvidia_gpu"))["layer"], "hardware");
  EXPECT_EQ((*cause(j, "driver_not_installed"))["hosts"], json({"new01"}));
  EXPECT_EQ((*cause(j, "healthy"))["hosts"], json({"gpu01", "gpu02", "gpu03", "gpu04", "gpu05"}));
  EXPECT_EQ(j["causes"][0]["id"], "no_nvidia_gpu");  // most nodes first, healthy last
  EXPECT_EQ(j["causes"].back()["id"], "healthy");
  ASSERT_EQ(j["hosts"].size(), 8U);
  for (const auto& h : j["hosts"]) {
    std::string host = h["host"];
    EXPECT_EQ(h["verdict"], host.rfind("gpu", 0) == 0 ? "healthy" : "problem") << host;
    if (host == "new01") EXPECT_EQ(h["root_cause"], "driver_not_installed");
  }
}

TEST_F(Fleet, AGpuBelowTheFleetMedianForItsModelIsNamed) {
  auto j = json::parse(run({"merge", "--json", dir.string()}).out);
  ASSERT_EQ(j["lagging"].size(), 1U) << j["lagging"].dump(1);
  const auto& l = j["lagging"][0];
  EXPECT_EQ(l["host"], "gpu04");
  EXPECT_EQ(l["gpu"], 0);
  EXPECT_EQ(l["model"], "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(l["figure"], "bf16 matrix product");
  EXPECT_NEAR(l["measured"].get<double>() / l["fleet_median"].get<double>(), 0.7, 0.02);
  EXPECT_EQ(l["nodes_compared"], 8);  // two GPUs on each of the four H100 nodes
  // At a lag fraction of 0.6 the same GPU is within the fleet's spread.
  auto loose = json::parse(run({"merge", "--json", "--lag", "0.6", dir.string()}).out);
  EXPECT_TRUE(loose["lagging"].empty());
}

TEST_F(Fleet, DriverVersionsThatDifferAreListed) {
  auto j = json::parse(run({"merge", "--json", dir.string()}).out);
  const json* driver = nullptr;
  for (const auto& v : j["version_differences"])
    if (v["what"] == "driver") driver = &v;
  ASSERT_NE(driver, nullptr) << j["version_differences"].dump(1);
  std::map<std::string, json> by;
  for (const auto& v : (*driver)["values"]) by[v["version"]] = v["hosts"];
  EXPECT_EQ(by["580.159.04"], json({"gpu01", "gpu02", "gpu03", "gpu04"})) << driver->dump(1);
  EXPECT_EQ(by["none"], json({"cpu01", "cpu02", "new01"}));
  EXPECT_EQ(by["570.195.03"], json({"gpu05"}));
  EXPECT_EQ(by.size(), 3U) << driver->dump(1);
  EXPECT_EQ((*driver)["values"][0]["version"], "580.159.04");  // most nodes first
  bool cuda = false;
  for (const auto& v : j["version_differences"]) cuda = cuda || v["what"] == "cuda";
  EXPECT_TRUE(cuda) << j["version_differences"].dump(1);  // 13.0 against 12.8
}

TEST_F(Fleet, UnreadableSnapshotsAreListedNotFatal) {
  auto j = json::parse(run({"merge", "--json", dir.string()}).out);
  ASSERT_EQ(j["unreadable"].size(), 2U) << j["unreadable"].dump(1);
  EXPECT_EQ(fs::path(j["unreadable"][0]["file"].get<std::string>()).filename(), "notes.json");
  EXPECT_EQ(fs::path(j["unreadable"][1]["file"].get<std::string>()).filename(), "truncated.json");
  // Nothing readable at all is bad input.
  auto none = run({"merge", (dir / "notes.json").string(), (dir / "truncated.json").string(), "/nonexistent/x.json"});
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("no readable snapshot"), std::string::npos) << none.err;
  EXPECT_EQ(run({"merge"}).code, 2);
}

TEST_F(Fleet, TerminalAndMarkdownGiveEachGroupsFixOnce) {
  auto t = run({"merge", dir.string()});
  EXPECT_EQ(t.code, 1);
  EXPECT_NE(t.out.find("gpudoctor fleet: 8 nodes, 5 healthy, 3 with a problem, 2 snapshots unreadable"), std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("no_nvidia_gpu (2 nodes): cpu01, cpu02"), std::string::npos) << t.out;
  auto j = json::parse(run({"merge", "--json", dir.string()}).out);
  std::string fix = (*cause(j, "no_nvidia_gpu"))["fix"][0];
  std::size_t count = 0;
  for (std::size_t at = t.out.find(fix); at != std::string::npos; at = t.out.find(fix, at + 1)) ++count;
  EXPECT_EQ(count, 1U) << t.out;
  auto m = run({"merge", "--markdown", dir.string()});
  EXPECT_NE(m.out.find("| `no_nvidia_gpu` | 2 | `cpu01`, `cpu02` |"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("### Below 80% of the fleet's median"), std::string::npos) << m.out;
}

TEST_F(Fleet, ALabelIsAValueFromOutsideAndIsEscaped) {
  fs::path one = dir / "hostile";
  fs::create_directories(one);
  auto r = run({"snapshot", "--label", "n1\x1b[2J", "-o", (one / "n1.json").string(), "--root",
                (k_hosts / "debian12-firecracker-nogpu" / "root").string(), "--driver", "none"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto t = run({"merge", one.string()});
  EXPECT_EQ(t.out.find('\x1b'), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("n1\\x1b[2J"), std::string::npos) << t.out;
  fs::remove_all(one);
}

TEST_F(Fleet, NodesAreNamedBySlurmOrByTheirFileWhenTheHostNameIsRedacted) {
  fs::path one = dir / "names";
  fs::create_directories(one);
  std::vector<std::string> root{"--root", (k_hosts / "debian12-firecracker-nogpu" / "root").string(), "--driver", "none"};
  auto args = [&](const std::string& file) {
    std::vector<std::string> a{"snapshot", "-o", (one / file).string()};
    a.insert(a.end(), root.begin(), root.end());
    return a;
  };
  ASSERT_EQ(run(args("a.json"), {{"SLURMD_NODENAME", "gpu-node-07"}}).code, 0);
  ASSERT_EQ(run(args("rack3-slot2.json")).code, 0);  // the host name, redacted: the file names it
  auto j = json::parse(run({"merge", "--json", one.string()}).out);
  ASSERT_EQ(j["hosts"].size(), 2U);
  EXPECT_EQ(j["hosts"][0]["host"], "gpu-node-07");
  EXPECT_EQ(j["hosts"][1]["host"], "rack3-slot2");
  fs::remove_all(one);
}

}  // namespace
