// `gpudoctor health`: Slurm's HealthCheckProgram, Prolog and Epilog mode. Exit 0 for a fit node,
// 1 only for a fault of the node itself (hardware, driver, platform), never for a query that did
// not answer; one line on stdout; --drain runs scontrol (a fake one on PATH records its argv).

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "cli/run_tool.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path k_hosts = fs::path(GPUDOCTOR_SCENARIOS).parent_path() / "hosts";

std::vector<std::string> on_host(const std::string& host, bool driver, std::vector<std::string> args) {
  args.insert(args.end(), {"--root", (k_hosts / host / "root").string(), "--driver", driver ? "host" : "none"});
  return args;
}

std::map<std::string, std::string> driver_env(const fs::path& driver_json) {
  return {{"LD_LIBRARY_PATH", GPUDOCTOR_FAKES_DIR}, {"GPUDOCTOR_FAKE_DRIVER", driver_json.string()}};
}

/// Lines of `text`.
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

/// A folder with a fake `scontrol` that writes its arguments, one per line, to `record`.
struct FakeScontrol {
  fs::path dir = fs::temp_directory_path() / fmt::format("gpudoctor-scontrol-{}", getpid());
  fs::path record = dir / "argv";
  explicit FakeScontrol(int exit_code = 0) {
    fs::create_directories(dir);
    std::ofstream(dir / "scontrol") << "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" << record.string() << "'\nexit " << exit_code
                                    << "\n";
    fs::permissions(dir / "scontrol", fs::perms::owner_all);
  }
  ~FakeScontrol() { fs::remove_all(dir); }
  std::string path() const { return dir.string() + ":/usr/bin:/bin"; }
  std::vector<std::string> argv() const {
    std::ifstream f(record);
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return lines(all);
  }
};

TEST(Health, FitNodeExitsZeroWithOneOkLine) {
  auto r = run(on_host("h200-captured", true, {"health"}), driver_env(k_hosts / "h200-captured" / "driver.json"));
  EXPECT_EQ(r.code, 0) << r.err << r.out;
  auto l = lines(r.out);
  ASSERT_EQ(l.size(), 1U) << r.out;
  EXPECT_EQ(l[0].rfind("OK: gpudoctor: node fit: ", 0), 0U) << l[0];
  EXPECT_NE(l[0].find("NVIDIA H200"), std::string::npos) << l[0];
}

TEST(Health, NodeFaultsExitOneWithTheCauseId) {
  struct Case {
    const char* host;
    const char* cause;
  };
  // A GPU with no driver installed (an AWS g5 image before the driver), a VM without a GPU, a
  // container started without GPU access.
  for (const auto& c : {Case{"aws-g5-ubuntu2204-nodriver", "driver_not_installed"},
                        Case{"debian12-firecracker-nogpu", "no_nvidia_gpu"},
                        Case{"docker-pytorch-nogpu", "container_no_gpu_passthrough"}}) {
    auto check = run(on_host(c.host, false, {"check", "--json"}));
    auto j = nlohmann::json::parse(check.out);
    ASSERT_EQ(j["causes"][0]["id"], c.cause) << c.host;  // what check says, health says in one line
    auto r = run(on_host(c.host, false, {"health"}));
    EXPECT_EQ(r.code, 1) << c.host << r.err;
    auto l = lines(r.out);
    ASSERT_EQ(l.size(), 1U) << r.out;
    EXPECT_EQ(l[0].rfind(fmt::format("ERROR: gpudoctor: Health check failed: {}: ", c.cause), 0), 0U) << l[0];
  }
}

TEST(Health, ADriverCallThatDoesNotAnswerIsNotAFault) {
  // check calls a hung cuInit gpu_in_bad_state; health must not drain a node for a query that
  // did not answer in time (a busy node, a slow first cuInit): exit 0, and the line says so.
  nlohmann::json d = nlohmann::json::parse(std::ifstream(k_hosts / "h200-container" / "driver.json"));
  d["cuda"]["hang_in"] = "cuInit";
  auto f = temp_file("health-hang.json", d.dump());
  auto check = run(on_host("h200-container", true, {"check", "--json", "--timeout", "1"}), driver_env(f));
  auto r = run(on_host("h200-container", true, {"health", "--timeout", "1"}), driver_env(f));
  fs::remove(f);
  ASSERT_EQ(check.code, 1);
  EXPECT_EQ(nlohmann::json::parse(check.out)["causes"][0]["id"], "gpu_in_bad_state");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("not judged: cuInit did not answer"), std::string::npos) << r.out;
}

TEST(Health, ACrashingDriverIsAFault) {
  nlohmann::json d = nlohmann::json::parse(std::ifstream(k_hosts / "h200-container" / "driver.json"));
  d["cuda"]["crash_in"] = "cuInit";
  auto f = temp_file("health-crash.json", d.dump());
  auto r = run(on_host("h200-container", true, {"health"}), driver_env(f));
  fs::remove(f);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("ERROR: gpudoctor: Health check failed: gpu_in_bad_state: ", 0), 0U) << r.out;
}

TEST(Health, DrainRunsScontrolWithTheCauseOnlyOnAFault) {
  FakeScontrol scontrol;
  auto r = run(on_host("debian12-firecracker-nogpu", false, {"health", "--drain"}),
               {{"PATH", scontrol.path()}, {"SLURMD_NODENAME", "gpu-node-07"}});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(scontrol.argv(), (std::vector<std::string>{"update", "NodeName=gpu-node-07", "State=DRAIN",
                                                       "Reason=gpudoctor: no_nvidia_gpu"}));
  EXPECT_NE(r.err.find("drained gpu-node-07"), std::string::npos) << r.err;
  // A fit node: scontrol is never run.
  fs::remove(scontrol.record);
  auto fit = run(on_host("h200-captured", true, {"health", "--drain"}),
                 [&] {
                   auto env = driver_env(k_hosts / "h200-captured" / "driver.json");
                   env["PATH"] = scontrol.path();
                   env["SLURMD_NODENAME"] = "gpu-node-07";
                   return env;
                 }());
  EXPECT_EQ(fit.code, 0) << fit.out << fit.err;
  EXPECT_FALSE(fs::exists(scontrol.record));
}

TEST(Health, DrainThatFailsIsSaidAndTheExitStaysTheFault) {
  FakeScontrol scontrol(1);  // slurmctld not reachable
  auto r = run(on_host("debian12-firecracker-nogpu", false, {"health", "--drain"}),
               {{"PATH", scontrol.path()}, {"SLURMD_NODENAME", "gpu-node-07"}});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("scontrol exited with 1"), std::string::npos) << r.err;
  // No scontrol on PATH at all.
  auto none = run(on_host("debian12-firecracker-nogpu", false, {"health", "--drain"}),
                  {{"PATH", "/nonexistent"}, {"SLURMD_NODENAME", "gpu-node-07"}});
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("could not run scontrol"), std::string::npos) << none.err;
}

TEST(Health, ANodeNameThatIsNoSlurmNameIsRefused) {
  // SLURMD_NODENAME comes from the environment: a value with a space or '=' would smuggle
  // another key into scontrol's arguments.
  FakeScontrol scontrol;
  auto r = run(on_host("debian12-firecracker-nogpu", false, {"health", "--drain"}),
               {{"PATH", scontrol.path()}, {"SLURMD_NODENAME", "n1 State=RESUME"}});
  EXPECT_EQ(r.code, 1);
  EXPECT_FALSE(fs::exists(scontrol.record));
  EXPECT_NE(r.err.find("not a node name"), std::string::npos) << r.err;
}

}  // namespace
