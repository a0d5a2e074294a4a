// CLI tests: the gpudoctor binary as users run it: exit codes, output formats, bad input.

#include <gtest/gtest.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_tool.hpp"

namespace fs = std::filesystem;

namespace {

const std::string k_host = fs::path(GPUDOCTOR_SCENARIOS).parent_path() / "hosts" / "h200-container";
const std::string k_root = k_host + "/root";

std::map<std::string, std::string> fake_env(const std::string& driver_json) {
  return {{"LD_LIBRARY_PATH", GPUDOCTOR_FAKES_DIR}, {"GPUDOCTOR_FAKE_DRIVER", driver_json}};
}

TEST(Cli, UnknownOptionIsAUsageError) {
  auto r = run({"--no-such-option"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no-such-option"), std::string::npos) << r.err;
}

TEST(Cli, MissingRootIsAUsageError) {
  auto r = run({"--root", "/nonexistent/gpudoctor-root"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nonexistent"), std::string::npos) << r.err;
}

TEST(Cli, JsonAndMarkdownExcludeEachOther) { EXPECT_EQ(run({"--json", "--markdown"}).code, 2); }

TEST(Cli, VersionPrintsTheVersion) {
  auto r = run({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("gpudoctor 0."), std::string::npos) << r.out;
  // The commit it was built from (git describe at configure time), or "unknown" outside a checkout.
  EXPECT_NE(r.out.find(" (commit "), std::string::npos) << r.out;
}

TEST(Cli, HealthyHostExitsZeroWithJsonContract) {
  auto r = run({"check", "--json", "--root", k_root, "--driver", "host"}, fake_env(k_host + "/driver.json"));
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "healthy");
  for (const auto& key : {"causes", "warnings", "layers"}) EXPECT_TRUE(j[key].is_array()) << key;
  const auto& c = j["causes"][0];
  for (const auto& key : {"id", "layer", "severity", "title", "evidence", "fix"}) EXPECT_TRUE(c.contains(key)) << key;
}

TEST(Cli, DefaultCommandIsCheck) {
  auto a = run({"--json", "--root", k_root, "--driver", "none"});
  auto b = run({"check", "--json", "--root", k_root, "--driver", "none"});
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(nlohmann::json::parse(a.out)["causes"], nlohmann::json::parse(b.out)["causes"]);
}

TEST(Cli, SnapshotRoundTripsThroughCheckFrom) {
  auto env = fake_env(k_host + "/driver.json");
  env["CUDA_VISIBLE_DEVICES"] = "";
  auto snap = run({"snapshot", "--root", k_root, "--driver", "host"}, env);
  ASSERT_EQ(snap.code, 0) << snap.err;
  auto file = temp_file("snap.json", snap.out);
  auto direct = run({"check", "--json", "--root", k_root, "--driver", "host"}, env);
  auto from = run({"check", "--json", "--from", file.string()});
  fs::remove(file);
  EXPECT_EQ(direct.code, 1);
  EXPECT_EQ(from.code, direct.code);
  auto a = nlohmann::json::parse(direct.out), b = nlohmann::json::parse(from.out);
  EXPECT_EQ(a["causes"], b["causes"]);
  EXPECT_EQ(a["layers"], b["layers"]);
  EXPECT_EQ(b["causes"][0]["id"], "cuda_visible_devices_hides_gpu");
}

TEST(Cli, SnapshotCollectsOnlyAllowListedVariables) {
  auto env = fake_env(k_host + "/driver.json");
  env["HF_TOKEN"] = "hf_secret_value";
  env["NVIDIA_API_KEY"] = "nvapi-secret";
  env["AWS_SECRET_ACCESS_KEY"] = "aws-secret";
  env["CUDA_VISIBLE_DEVICES"] = "0";
  auto r = run({"snapshot", "--root", k_root, "--driver", "none"}, env);
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(r.out.find("secret"), std::string::npos);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["env"]["vars"]["CUDA_VISIBLE_DEVICES"], "0");
  EXPECT_FALSE(j["env"]["vars"].contains("NVIDIA_API_KEY"));
}

TEST(Cli, SnapshotToFileAndUnwritableFile) {
  fs::path out = fs::temp_directory_path() / fmt::format("gpudoctor-cli-{}-out.json", getpid());
  auto r = run({"snapshot", "--root", k_root, "--driver", "none", "-o", out.string()});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(fs::file_size(out) > 100);
  fs::remove(out);
  auto bad = run({"snapshot", "--root", k_root, "--driver", "none", "-o", "/nonexistent-dir/x.json"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("cannot write"), std::string::npos) << bad.err;
}

TEST(Cli, FromRejectsWhatIsNotASnapshot) {
  for (const std::string& content : {std::string("not json at all"), std::string("{\"kind\": \"other\"}"),
                                     std::string("[1,2,3]"), std::string("{\"kind\":\"gpudoctor-snapshot\",\"schema\":99}"),
                                     std::string("{\"kind\":\"gpudoctor-snapshot\",\"schema\":1,\"pci_gpus\":\"oops\"}"),
                                     std::string("\x00\xff\xfe garbage", 12)}) {
    auto f = temp_file("bad.json", content);
    auto r = run({"check", "--from", f.string()});
    fs::remove(f);
    EXPECT_EQ(r.code, 2) << content << "\n"
                         << r.err;
    EXPECT_NE(r.err.find("gpudoctor:"), std::string::npos) << r.err;
  }
  auto missing = run({"check", "--from", "/nonexistent/snapshot.json"});
  EXPECT_EQ(missing.code, 2);
}

// A typed state's word that no enumerator has (a hand-edited or newer snapshot) is unreadable
// input, exit 2, naming the field and the word; the near word reads and diagnoses.
TEST(Cli, FromRefusesAStateWordItDoesNotKnow) {
  auto snapshot = [](const std::string& status) {
    return "{\"kind\":\"gpudoctor-snapshot\",\"schema\":1,\"driver\":{\"mode\":\"host\",\"cuda_child\":{\"status\":\"" +
           status + "\",\"detail\":\"\",\"elapsed_ms\":12}}}";
  };
  auto bad = temp_file("bad-state.json", snapshot("exploded"));
  auto r = run({"check", "--from", bad.string()});
  fs::remove(bad);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown child status \"exploded\""), std::string::npos) << r.err;
  auto good = temp_file("good-state.json", snapshot("timeout"));
  auto g = run({"check", "--from", good.string(), "--json"});
  fs::remove(good);
  EXPECT_EQ(g.code, 1) << g.err;
  EXPECT_EQ(g.err.find("unknown child status"), std::string::npos) << g.err;
}

// A library copy's status is typed the same way (CopyStatus with its detail): a status text of
// no form the collector writes is unreadable input too; the near text reads.
TEST(Cli, FromRefusesALibraryCopyStatusItDoesNotKnow) {
  auto snapshot = [](const std::string& status) {
    return "{\"kind\":\"gpudoctor-snapshot\",\"schema\":1,\"frameworks\":[{\"framework\":\"torch\",\"libraries\":[{"
           "\"name\":\"libcudart.so.12\",\"others\":[{\"path\":\"/opt/venv/lib/libcudart.so.12\",\"status\":\"" +
           status + "\"}]}]}]}";
  };
  auto bad = temp_file("bad-copy.json", snapshot("wrong machine; x86-64"));
  auto r = run({"check", "--from", bad.string()});
  fs::remove(bad);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown library copy status \"wrong machine; x86-64\""), std::string::npos) << r.err;
  auto good = temp_file("good-copy.json", snapshot("wrong machine: x86-64"));
  auto g = run({"check", "--from", good.string(), "--json"});
  fs::remove(good);
  EXPECT_EQ(g.code, 0) << g.err;  // nothing else in it: no layer that fails
  EXPECT_EQ(g.err.find("unknown library copy status"), std::string::npos) << g.err;
  EXPECT_FALSE(nlohmann::json::parse(g.out, nullptr, false).is_discarded()) << g.out;
}

TEST(Cli, MarkdownLeadsWithTheRootCause) {
  auto env = fake_env(fs::path(GPUDOCTOR_SCENARIOS) / "h200_cuda_visible_devices_minus_one" / "driver.json");
  env["CUDA_VISIBLE_DEVICES"] = "-1";
  auto r = run({"check", "--markdown", "--root", k_root, "--driver", "host"}, env);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("### gpudoctor check: problem, root cause `cuda_visible_devices_hides_gpu`", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("| Environment | ❌ failed |"), std::string::npos) << r.out;
}

TEST(Cli, TerminalOutputHasNoColourWhenPiped) {
  auto r = run({"check", "--root", k_root, "--driver", "none"});
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos);
  EXPECT_NE(r.out.find("[✓] Hardware"), std::string::npos) << r.out;
}

TEST(Cli, HungDriverCallIsAFindingNotAHang) {
  nlohmann::json d = nlohmann::json::parse(std::ifstream(k_host + "/driver.json"));
  d["cuda"]["hang_in"] = "cuInit";
  auto f = temp_file("hang.json", d.dump());
  auto start = std::chrono::steady_clock::now();
  auto r = run({"check", "--json", "--root", k_root, "--driver", "host", "--timeout", "1"}, fake_env(f.string()));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fs::remove(f);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_LT(s, 10.0);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["causes"][0]["id"], "gpu_in_bad_state");
  EXPECT_NE(j["causes"][0]["title"].get<std::string>().find("cuInit hangs"), std::string::npos);
}

TEST(Cli, CrashingDriverLibraryIsAFindingNotACrash) {
  nlohmann::json d = nlohmann::json::parse(std::ifstream(k_host + "/driver.json"));
  d["cuda"]["crash_in"] = "cuInit";
  auto f = temp_file("crash.json", d.dump());
  auto r = run({"check", "--json", "--root", k_root, "--driver", "host"}, fake_env(f.string()));
  fs::remove(f);
  EXPECT_EQ(r.code, 1) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["causes"][0]["id"], "gpu_in_bad_state");
  EXPECT_NE(j["causes"][0]["evidence"].dump().find("SIGSEGV"), std::string::npos) << j.dump(2);
}

}  // namespace

namespace {
TEST(Cli, RealH200SnapshotIsHealthyFromAnotherMachine) {
  // Recorded on the lent H200 host by scripts/device/check_on_gpu.sh.
  auto r = run({"check", "--json", "--from", std::string(GPUDOCTOR_TEST_DATA) + "/h200-snapshot.json"});
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "healthy");
  EXPECT_NE(j["causes"][0]["title"].get<std::string>().find("NVIDIA H200"), std::string::npos);
  EXPECT_EQ(j["source"], std::string("snapshot ") + GPUDOCTOR_TEST_DATA + "/h200-snapshot.json");
}

TEST(Cli, FrameworkAskedAboutNowAppliesToASnapshot) {
  // The H200 snapshot holds no TensorFlow: asked about it now, the verdict is framework_not_installed.
  auto r = run({"check", "--json", "--from", std::string(GPUDOCTOR_TEST_DATA) + "/h200-snapshot.json", "--framework", "tensorflow"});
  ASSERT_EQ(r.code, 1) << r.err << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["causes"][0]["id"], "framework_not_installed") << j.dump(2);
}
}  // namespace

namespace {
// Snapshots of the kind `gpudoctor explain` makes from pasted text: "TensorFlow 2.12, Windows 11"
// (the issue template fields), and a Mac.
TEST(Cli, WindowsNativeTensorFlowAfter210) {
  auto r = run({"check", "--json", "--from", std::string(GPUDOCTOR_TEST_DATA) + "/windows11-tf212-snapshot.json"});
  EXPECT_EQ(r.code, 1) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["causes"][0]["id"], "windows_native_unsupported") << j.dump(2);
}

TEST(Cli, MacHasNoCuda) {
  auto r = run({"check", "--json", "--from", std::string(GPUDOCTOR_TEST_DATA) + "/macos-torch-snapshot.json"});
  EXPECT_EQ(r.code, 1) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["causes"][0]["id"], "macos_no_cuda") << j.dump(2);
}
}  // namespace

namespace {

std::string data_file(const std::string& name) { return std::string(GPUDOCTOR_TEST_DATA) + "/" + name; }

std::vector<std::string> cause_ids(const nlohmann::json& j, const char* key) {
  std::vector<std::string> ids;
  for (const auto& c : j.value(key, nlohmann::json::array())) ids.push_back(c.value("id", ""));
  return ids;
}

}  // namespace

// The real output of `import tensorflow` (the full tensorflow 2.18.0 wheel, without its [and-cuda]
// libraries) on the development machine, which has neither a GPU nor a driver: the cudart stub's
// "Could not find cuda drivers" means libcudart is missing, and cuInit's 303
// (CUDA_ERROR_SHARED_OBJECT_INIT_FAILED from TensorFlow's cuda stub) means libcuda.so.1 could not
// be loaded: no driver. The lowest layer is the root cause.
TEST(CliExplain, RealTensorFlowRunOnAMachineWithoutDriver) {
  auto r = run({"explain", data_file("explain_tensorflow_2.18_no_gpu_machine.txt"), "--json"});
  EXPECT_EQ(r.code, 1) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "problem");
  auto causes = cause_ids(j, "causes");
  ASSERT_FALSE(causes.empty());
  EXPECT_EQ(causes[0], "driver_not_installed");
  auto all = causes;
  auto warnings = cause_ids(j, "warnings");
  all.insert(all.end(), warnings.begin(), warnings.end());
  EXPECT_NE(std::find(all.begin(), all.end(), "cuda_runtime_missing"), all.end());
  // The factory-registration E lines are noise, never the root cause.
  EXPECT_EQ(std::find(causes.begin(), causes.end(), "plugin_registration_warning_harmless"), causes.end());
  EXPECT_GE(j["significant_lines"].get<int>(), 6);
}

// The real output of tensorflow-cpu 2.18.0 on the same machine: only CPU notices, then the empty
// GPU list. A CUDA build of TensorFlow would have tried its CUDA libraries (the cudart stub's
// line): with nothing of that, the build has no CUDA.
TEST(CliExplain, RealTensorFlowCpuRunIsACpuOnlyBuild) {
  auto r = run({"explain", data_file("explain_tensorflow_cpu_2.18_run.txt"), "--json"});
  EXPECT_EQ(r.code, 1) << r.err;
  auto j = nlohmann::json::parse(r.out);
  auto causes = cause_ids(j, "causes");
  ASSERT_FALSE(causes.empty());
  EXPECT_EQ(causes[0], "cpu_only_framework_build");
  EXPECT_EQ(j["verdict"], "problem");
  auto warnings = cause_ids(j, "warnings");
  EXPECT_NE(std::find(warnings.begin(), warnings.end(), "cpu_feature_notice_harmless"), warnings.end());
}

TEST(CliExplain, TextWithNothingKnownIsNoVerdictOfHealth) {
  auto p = temp_file("plain.txt", "hello\nthis is my training script output\nloss: 0.3\n");
  auto r = run({"explain", p.string(), "--json"});
  fs::remove(p);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["causes"][0]["id"], "other");
  EXPECT_EQ(j["verdict"], "unknown");
  EXPECT_FALSE(j["causes"][0]["evidence"].empty());
  EXPECT_EQ(r.code, 1);
}

// Harmless lines alone show no failure and no GPU in use: the verdict is unknown, not healthy.
TEST(CliExplain, HarmlessLinesAloneAreNoVerdictOfHealth) {
  auto p = temp_file("trt.txt",
                     "2024-05-10 11:33:15.185131: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT Warning: "
                     "Could not find TensorRT\n");
  auto r = run({"explain", p.string(), "--json"});
  auto text = run({"explain", p.string()});
  fs::remove(p);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "unknown");
  EXPECT_EQ(j["causes"][0]["id"], "tensorrt_missing_harmless");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(text.out.find("Verdict: unknown."), std::string::npos) << text.out;
}

TEST(CliExplain, EmptyInputIsNothingToExplain) {
  for (const char* body : {"", "\n  \n\t\n"}) {
    auto p = temp_file("empty.txt", body);
    auto r = run({"explain", p.string(), "--json"});
    fs::remove(p);
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.err.find("nothing to explain"), std::string::npos) << r.err;
  }
}

TEST(CliExplain, BadInputIsAClearUsageError) {
  auto r = run({"explain", "/nonexistent/log.txt"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("cannot read /nonexistent/log.txt"), std::string::npos) << r.err;
  r = run({"explain", fs::temp_directory_path().string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("directory"), std::string::npos) << r.err;
}

TEST(CliExplain, BinaryGarbageAndEscapesNeitherCrashNorHideAMessage) {
  std::string text;
  for (int i = 0; i < 70000; ++i) text += static_cast<char>((i * 7919) % 256);
  text +=
      "\n\x1b[31m2021-08-06 21:37:12.570693: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] "
      "Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: "
      "No such file or directory\x1b[0m\r\n";
  auto p = temp_file("garbage.txt", text);
  auto r = run({"explain", p.string(), "--json"});
  fs::remove(p);
  ASSERT_LT(r.code, 3) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["causes"][0]["id"], "cudnn_missing");
}

TEST(CliExplain, MarkdownAnnotatesTheLines) {
  auto r = run({"explain", data_file("explain_tensorflow_2.18_no_gpu_machine.txt"), "--markdown"});
  EXPECT_NE(r.out.find("cuInit"), std::string::npos);
  EXPECT_NE(r.out.find("## "), std::string::npos);
}

// "TensorFlow 2.12 on Windows 11" in the issue template, with only a CPU device listed.
TEST(CliExplain, IssueTemplateFactsGoThroughTheSameRules) {
  auto p = temp_file("template.txt",
                     "### Issue type\n\nBug\n\n### TensorFlow version\n\n2.12.0\n\n### OS platform and distribution\n\n"
                     "Windows 11\n\n### Python version\n\n3.10\n\n### Current behavior?\n\n"
                     "print(tf.config.list_physical_devices('GPU')) prints []\n");
  auto r = run({"explain", p.string(), "--json"});
  fs::remove(p);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["causes"][0]["id"], "windows_native_unsupported") << r.out.substr(0, 1500);
}

// --host adds this host's facts: here the recorded H200 container (through --root and the fake
// driver), whose CUDA_VISIBLE_DEVICES=-1 hides the GPU, beside a text that shows nothing wrong.
TEST(CliExplain, HostAddsThisHostsFindings) {
  auto p = temp_file("healthy.txt",
                     "2023-06-12 09:31:02.404981: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1635] Created device "
                     "/job:localhost/replica:0/task:0/device:GPU:0 with 22282 MB memory:  -> device: 0, name: NVIDIA "
                     "GeForce RTX 3090, pci bus id: 0000:01:00.0, compute capability: 8.6\n");
  auto alone = run({"explain", p.string(), "--json"});
  auto env = fake_env(k_host + "/driver.json");
  env["CUDA_VISIBLE_DEVICES"] = "-1";
  auto with_host = run({"explain", p.string(), "--host", "--root", k_root, "--driver", "host", "--json"}, env);
  fs::remove(p);
  auto a = nlohmann::json::parse(alone.out);
  EXPECT_EQ(a["verdict"], "healthy");
  EXPECT_EQ(a["causes"][0]["id"], "healthy");
  auto h = nlohmann::json::parse(with_host.out);
  EXPECT_EQ(h["verdict"], "problem") << with_host.out.substr(0, 1500);
  EXPECT_EQ(h["causes"][0]["id"], "cuda_visible_devices_hides_gpu");
  EXPECT_NE(h["source"].get<std::string>().find("with this host"), std::string::npos);
}

// The issue's own example: "Could not load dynamic library 'libcudnn.so.8'" with TensorFlow 2.15
// (the template field) is named for what 2.15 was built with (tensorflow.toml: CUDA 12.2, cuDNN
// 8.9), and the pip command that installs exactly that; the "Cannot dlopen some GPU libraries"
// line after it is its consequence, not a second cause.
TEST(CliExplain, LibraryFailureIsNamedForWhatThatTensorFlowNeeds) {
  auto p = temp_file("tf215.txt",
                     "### TensorFlow version\n\n2.15.0\n\n### Relevant log output\n\n"
                     "2023-12-01 10:00:00.000000: I external/local_tsl/tsl/platform/default/dso_loader.cc:70] Could not "
                     "load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such "
                     "file or directory\n"
                     "2023-12-01 10:00:00.100000: W tensorflow/core/common_runtime/gpu/gpu_device.cc:2256] Cannot dlopen "
                     "some GPU libraries. Please make sure the missing libraries mentioned above are installed properly if "
                     "you would like to use GPU.\nSkipping registering GPU devices...\n");
  auto r = run({"explain", p.string(), "--json"});
  fs::remove(p);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["causes"].size(), 1U) << r.out.substr(0, 2000);
  const auto& c = j["causes"][0];
  EXPECT_EQ(c["id"], "cudnn_missing");
  EXPECT_NE(c["title"].get<std::string>().find("CUDA 12.2 and cuDNN 8.9"), std::string::npos);
  EXPECT_NE(c["fix"][0].get<std::string>().find("tensorflow[and-cuda]==2.15.*"), std::string::npos);
}

// Real output of torch 2.11 and jax 0.11 on the lent H200 (scripts/device/explain_on_gpu.sh):
// the GPU hidden by CUDA_VISIBLE_DEVICES, an invalid ordinal, and an allocation larger than the
// card. JAX's "a CUDA-enabled jaxlib is not installed" after the plugin's cuInit failure is that
// failure's consequence, not a CPU-only jaxlib.
TEST(CliExplain, RealGpuOutputsFromTheH200) {
  const std::pair<const char*, const char*> cases[] = {
      {"explain_h200_jax_cvd_minus1.txt", "cuda_visible_devices_hides_gpu"},
      {"explain_h200_torch_cvd_minus1.txt", "cuda_visible_devices_hides_gpu"},
      {"explain_h200_torch_cvd_0_0.txt", "cuda_visible_devices_hides_gpu"},
      {"explain_h200_jax_oom.txt", "gpu_memory_exhausted"},
  };
  for (const auto& [file, cause] : cases) {
    auto r = run({"explain", data_file(file), "--json"});
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["causes"][0]["id"], cause) << file;
    auto causes = cause_ids(j, "causes");
    EXPECT_EQ(std::find(causes.begin(), causes.end(), "cpu_only_framework_build"), causes.end()) << file;
  }
  // nvidia-smi's own table: a working driver, nothing wrong.
  auto r = run({"explain", data_file("explain_h200_nvidia_smi.txt"), "--json"});
  EXPECT_EQ(nlohmann::json::parse(r.out)["verdict"], "healthy");
}

// Root confinement, end to end: what an image holds in place of a file is never opened, and a
// folder swapped for a link while gpudoctor reads never leads it outside the image.
namespace {

fs::path copy_of_host_root(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / fmt::format("gpudoctor-cli-{}-{}", getpid(), name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(k_root, dir / "root", fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  return dir;
}

// IN_OPEN events on one file: opening it, even O_NONBLOCK, counts; O_PATH and stat do not.
int opens_while(const fs::path& file, const std::function<void()>& action) {
  int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0 || inotify_add_watch(in, file.c_str(), IN_OPEN) < 0) return -1;
  action();
  int n = 0;
  alignas(inotify_event) char buf[4096];
  ssize_t got;
  while ((got = read(in, buf, sizeof buf)) > 0)
    for (char* p = buf; p < buf + got; p += sizeof(inotify_event) + reinterpret_cast<inotify_event*>(p)->len) ++n;
  close(in);
  return n;
}

void expect_never_opened(const fs::path& dir, const fs::path& node) {
  int opens = opens_while(node, [&] {
    auto r = run({"snapshot", "--root", (dir / "root").string(), "--driver", "none"}, {}, 60);
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["host"]["os_id"], "ubuntu");  // the rest of the image is read as usual
  });
  EXPECT_EQ(opens, 0) << node << " was opened";
}

// Always runs: a FIFO needs no privilege.
TEST(CliRoot, AFifoInPlaceOfProcModulesIsNeverOpened) {
  auto dir = copy_of_host_root("fifo");
  fs::remove(dir / "root/proc/modules");
  ASSERT_EQ(mkfifo((dir / "root/proc/modules").c_str(), 0644), 0);
  expect_never_opened(dir, dir / "root/proc/modules");
  fs::remove_all(dir);
}

// The issue's reproduction: mknod ROOT/proc/modules c 1 5 (the /dev/zero device).
TEST(CliRoot, ACharacterDeviceInPlaceOfProcModulesIsNeverOpened) {
  auto dir = copy_of_host_root("chardev");
  fs::remove(dir / "root/proc/modules");
  if (mknod((dir / "root/proc/modules").c_str(), S_IFCHR | 0644, makedev(1, 5)) != 0) {
    fs::remove_all(dir);
    GTEST_SKIP() << "mknod is not permitted here (" << std::strerror(errno) << "); the FIFO case runs instead";
  }
  expect_never_opened(dir, dir / "root/proc/modules");
  fs::remove_all(dir);
}

TEST(CliRoot, LinksAimedOutsideTheImageReadTheImageOnly) {
  auto dir = copy_of_host_root("escape");
  fs::create_directories(dir / "outside");
  std::ofstream(dir / "outside/os-release") << "ID=the-host-outside\n";
  // ../.. from /etc, and the host's absolute path: both name a file that exists outside.
  fs::remove(dir / "root/etc/os-release");
  fs::create_symlink("../../../outside/os-release", dir / "root/etc/os-release");
  fs::create_directories(dir / "root/usr/lib");
  fs::create_symlink((dir / "outside/os-release").string(), dir / "root/usr/lib/os-release");
  auto r = run({"snapshot", "--root", (dir / "root").string(), "--driver", "none"});
  fs::remove_all(dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("the-host-outside"), std::string::npos);
  EXPECT_FALSE(nlohmann::json::parse(r.out)["host"]["os_id"].is_string());
}

// The issue saw the host's os-release once in 304 runs while /etc was swapped for a link to
// outside. Here the swap runs throughout every run (renameat2 RENAME_EXCHANGE, atomic); the
// unit test of RootFs races 20,000 reads the same way.
TEST(CliRoot, AFolderSwappedForALinkDuringRunsNeverLeadsOutside) {
  auto dir = copy_of_host_root("race");
  fs::create_directories(dir / "outside");
  std::ofstream(dir / "outside/os-release") << "ID=the-host-outside\n";
  fs::create_symlink("../outside", dir / "root/etc-swap");
  std::atomic<bool> stop{false};
  std::atomic<long> swaps{0};
  std::thread swapper([&] {
    std::string a = (dir / "root/etc").string(), b = (dir / "root/etc-swap").string();
    while (!stop) {
      if (renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) ++swaps;
      std::this_thread::yield();
    }
  });
  constexpr int k_runs = 40;
  int leaked = 0, image = 0;
  for (int i = 0; i < k_runs; ++i) {
    auto r = run({"snapshot", "--root", (dir / "root").string(), "--driver", "none"}, {}, 60);
    if (r.out.find("the-host-outside") != std::string::npos) ++leaked;
    if (r.out.find("\"os_id\": \"ubuntu\"") != std::string::npos) ++image;
  }
  stop = true;
  swapper.join();
  fs::remove_all(dir);
  EXPECT_EQ(leaked, 0) << "the host's os-release was reported in " << leaked << " of " << k_runs << " runs";
  EXPECT_GT(swaps.load(), k_runs);
  std::printf("cli race: %d runs, %d read the image's os-release, %d the host's, %ld swaps\n", k_runs, image, leaked,
              swaps.load());
}

TEST(CliRoot, AnEmptyRootIsBadInput) {
  fs::path dir = fs::temp_directory_path() / fmt::format("gpudoctor-cli-{}-empty", getpid());
  fs::create_directories(dir);
  for (const char* cmd : {"check", "snapshot"}) {
    auto r = run({cmd, "--root", dir.string(), "--driver", "none"});
    EXPECT_EQ(r.code, 2) << cmd << r.out;
    EXPECT_NE(r.err.find("is empty"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one clear line
  }
  std::ofstream(dir / "notes.txt") << "not a system\n";
  auto r = run({"check", "--root", dir.string(), "--driver", "none"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("does not look like a system"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

// Tests run as root on the development machines, where a mode of 000 stops nobody: the run then
// drops to the nobody user (65534) for the binary, as an ordinary user would run it.
TEST(CliRoot, ARootTheUserCannotReadIsBadInput) {
  auto dir = copy_of_host_root("unreadable");
  fs::permissions(dir / "root", fs::perms::none);
  int in[2], er[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(er), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[1], 1);
    dup2(er[1], 2);
    close(in[0]);
    close(er[0]);
    close(in[1]);
    close(er[1]);
    if (geteuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) _exit(125);
    alarm(60);
    const char* argv[] = {GPUDOCTOR_BINARY, "check", "--root", nullptr, "--driver", "none", nullptr};
    std::string root = (dir / "root").string();
    argv[3] = root.c_str();
    char* envp[] = {const_cast<char*>("PATH=/usr/bin:/bin"), nullptr};
    execve(GPUDOCTOR_BINARY, const_cast<char* const*>(argv), envp);
    _exit(126);
  }
  close(in[1]);
  close(er[1]);
  std::string out, err;
  char buf[4096];
  ssize_t n;
  while ((n = read(in[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  while ((n = read(er[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
  int status = 0;
  waitpid(pid, &status, 0);
  fs::permissions(dir / "root", fs::perms::owner_all);
  fs::remove_all(dir);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 125) GTEST_SKIP() << "cannot drop to the nobody user here";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 126) GTEST_SKIP() << "the nobody user cannot run the binary here";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2) << out << err;
  EXPECT_NE(err.find("cannot read --root"), std::string::npos) << err;
  EXPECT_NE(err.find("Permission denied"), std::string::npos) << err;
}

}  // namespace

// Driver isolation: an NVML that crashes or hangs is a finding with exit 1, never "healthy";
// a driver child that does not die of SIGKILL is left behind, reported, and the run goes on.
namespace {

nlohmann::json recorded_driver() { return nlohmann::json::parse(std::ifstream(k_host + "/driver.json")); }

TEST(CliDriver, NvmlThatCrashesOrHangsIsAFindingNeverHealthy) {
  for (const char* how : {"crash_in", "hang_in"}) {
    for (const char* fn : {"nvmlInit_v2", "nvmlDeviceGetCount_v2"}) {
      auto d = recorded_driver();
      d["nvml"][how] = fn;
      auto f = temp_file("nvml.json", d.dump());
      auto r = run({"check", "--json", "--root", k_root, "--driver", "host", "--timeout", "1"}, fake_env(f.string()), 60);
      fs::remove(f);
      std::string what = std::string(how) + " " + fn;
      ASSERT_EQ(r.code, 1) << what << "\n"
                           << r.err << r.out.substr(0, 2000);
      auto j = nlohmann::json::parse(r.out);
      EXPECT_EQ(j["verdict"], "problem") << what;
      EXPECT_EQ(j["causes"][0]["id"], "gpu_in_bad_state") << what;
      std::string title = j["causes"][0]["title"];
      EXPECT_NE(title.find(fn), std::string::npos) << what << ": " << title;
      EXPECT_NE(title.find(std::string(how) == "crash_in" ? "crashed" : "hangs"), std::string::npos) << title;
      if (std::string(how) == "crash_in")
        EXPECT_NE(j["causes"][0]["evidence"].dump().find("SIGSEGV"), std::string::npos) << j["causes"][0].dump();
    }
  }
}

// The stand-in for a driver call stuck in the kernel: the fake libcuda moves its process into a
// cgroup v1 freezer folder and freezes it inside cuInit. A frozen task sleeps uninterruptibly
// (state D) and SIGKILL does not end it until it is thawed, exactly as a task stuck in the
// nvidia module's ioctl. (The cgroup v2 freezer lets SIGKILL through, so it is no stand-in.)
// Needs a writable cgroup v1 freezer hierarchy (root on the development machines); skipped
// otherwise.
TEST(CliDriver, AChildThatSurvivesSigkillIsLeftBehindAndReported) {
  fs::path freezer = fmt::format("/sys/fs/cgroup/freezer/gpudoctor-test-{}", getpid());
  std::error_code ec;
  if (!fs::exists("/sys/fs/cgroup/freezer/freezer.state", ec) && !fs::exists("/sys/fs/cgroup/freezer/cgroup.procs", ec))
    GTEST_SKIP() << "no cgroup v1 freezer hierarchy at /sys/fs/cgroup/freezer";
  if (!fs::create_directory(freezer, ec) || ec) GTEST_SKIP() << "cannot create a freezer cgroup: " << ec.message();
  auto d = recorded_driver();
  d["cuda"]["freeze_in"] = "cuInit";
  d["cuda"]["freezer_cgroup"] = freezer.string();
  auto f = temp_file("freeze.json", d.dump());
  auto r = run({"check", "--json", "--root", k_root, "--driver", "host", "--timeout", "1"}, fake_env(f.string()), 30);
  // What the run left behind: was it really frozen (state D), and does it die once thawed?
  std::string procs, state;
  {
    std::ifstream p(freezer / "cgroup.procs");
    std::getline(p, procs);
    std::ifstream s(freezer / "freezer.state");
    std::getline(s, state);
  }
  std::ofstream(freezer / "freezer.state") << "THAWED" << std::endl;
  for (int i = 0; i < 500; ++i) {
    std::ifstream p(freezer / "cgroup.procs");
    std::string line;
    if (!std::getline(p, line)) break;
    usleep(10000);
  }
  fs::remove(freezer, ec);
  fs::remove(f);
  EXPECT_FALSE(procs.empty()) << "the fake never froze: the stand-in did not run";
  EXPECT_EQ(state, "FROZEN");
  ASSERT_NE(r.code, 142) << "gpudoctor blocked on the frozen child until the test's alarm";
  ASSERT_EQ(r.code, 1) << r.err << r.out.substr(0, 2000);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["causes"][0]["id"], "gpu_in_bad_state");
  std::string title = j["causes"][0]["title"];
  EXPECT_NE(title.find("cuInit is stuck in the kernel"), std::string::npos) << title;
  EXPECT_NE(j["causes"][0]["evidence"].dump().find("did not die when killed"), std::string::npos) << j["causes"][0].dump();
  EXPECT_NE(j["causes"][0]["fix"].dump().find("reboot"), std::string::npos);
}

}  // namespace

namespace {

// Runs `BIN snapshot` in an empty environment (no VIRTUAL_ENV, no CONDA_PREFIX); its python_envs.
nlohmann::json own_snapshot_envs(const fs::path& bin) {
  std::string cmd = fmt::format("env -i PATH=/usr/bin:/bin '{}' snapshot --driver none --no-redact", bin.string());
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return nullptr;
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  return nlohmann::json::parse(out)["python_envs"];
}

}  // namespace

// The wheel installs gpudoctor as VENV/bin/gpudoctor: with neither --python nor an active venv,
// that venv is judged first. A copy in a bin/ folder without pyvenv.cfg is no venv.
TEST(Cli, BinaryInstalledInAVenvJudgesThatVenvFirst) {
  fs::path base = fs::temp_directory_path() / fmt::format("gpudoctor-cli-{}-own-venv", getpid());
  fs::remove_all(base);
  for (const char* kind : {"venv", "plain"}) {
    fs::create_directories(base / kind / "bin");
    fs::create_directories(base / kind / "lib/python3.11/site-packages");
    fs::copy_file(GPUDOCTOR_BINARY, base / kind / "bin/gpudoctor");
  }
  std::ofstream(base / "venv/pyvenv.cfg") << "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n";
  auto envs = own_snapshot_envs(base / "venv/bin/gpudoctor");
  ASSERT_TRUE(envs.is_array() && !envs.empty()) << envs.dump();
  EXPECT_EQ(envs[0]["prefix"], (base / "venv").string()) << envs.dump();
  EXPECT_EQ(envs[0]["found_by"], "the venv gpudoctor is installed in");
  EXPECT_EQ(envs[0]["in_use"], true);
  EXPECT_EQ(envs[0]["kind"], "venv");
  for (size_t i = 1; i < envs.size(); ++i) EXPECT_EQ(envs[i]["in_use"], false) << envs[i].dump();

  auto plain = own_snapshot_envs(base / "plain/bin/gpudoctor");
  ASSERT_TRUE(plain.is_array()) << plain.dump();
  for (const auto& e : plain) {
    EXPECT_NE(e["found_by"], "the venv gpudoctor is installed in") << e.dump();
    EXPECT_NE(e["prefix"], (base / "plain").string()) << e.dump();
  }
  fs::remove_all(base);
}

// The man page and the completions come from the same definition as --help: every long option
// --help lists (top level and each command's) is in them; the bash script parses.
TEST(Cli, ManPageAndCompletionsNameEveryOptionOfHelp) {
  auto man = run({"--help-man"});
  ASSERT_EQ(man.code, 0) << man.err;
  EXPECT_EQ(man.out.rfind(".\\\" Generated", 0), 0u) << man.out.substr(0, 200);
  EXPECT_NE(man.out.find(".SH EXIT STATUS"), std::string::npos);
  auto bash = run({"--completion", "bash"});
  auto fish = run({"--completion", "fish"});
  auto zsh = run({"--completion", "zsh"});
  ASSERT_EQ(bash.code, 0);
  ASSERT_EQ(fish.code, 0);
  ASSERT_EQ(zsh.code, 0);
  EXPECT_EQ(run({"--completion", "tcsh"}).code, 2);
  std::vector<std::vector<std::string>> helps{{"--help"}};
  for (const char* c : {"check", "explain", "probe", "snapshot", "health", "merge", "fleet", "run", "inspect"})
    helps.push_back({c, "--help"});
  size_t seen = 0;
  for (const auto& args : helps) {
    auto h = run(args);
    ASSERT_EQ(h.code, 0) << args[0];
    for (size_t at = h.out.find("--"); at != std::string::npos; at = h.out.find("--", at + 2)) {
      size_t end = h.out.find_first_not_of("abcdefghijklmnopqrstuvwxyz-", at + 2);
      std::string name = h.out.substr(at, end - at);
      if (name.size() < 3 || name.back() == '-') continue;
      ++seen;
      std::string roff_name;
      for (char ch : name) roff_name += ch == '-' ? std::string("\\-") : std::string(1, ch);
      EXPECT_NE(man.out.find("\\fB" + roff_name + "\\fR"), std::string::npos) << name << " missing from the man page";
      EXPECT_NE(bash.out.find(name), std::string::npos) << name << " missing from the bash completion";
      EXPECT_NE(fish.out.find("-l " + name.substr(2)), std::string::npos) << name << " missing from the fish completion";
      EXPECT_NE(zsh.out.find(name), std::string::npos) << name << " missing from the zsh completion";
    }
    if (args.size() == 2) {
      EXPECT_NE(man.out.find(".SS " + args[0]), std::string::npos) << args[0];
    }
  }
  EXPECT_GT(seen, 30u);
  // Hidden options stay out of --help and the man page.
  EXPECT_EQ(man.out.find("help\\-man"), std::string::npos);
  auto file = temp_file("completion.bash", bash.out);
  std::string cmd = "bash -n '" + file.string() + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << bash.out;
  fs::remove(file);
}
