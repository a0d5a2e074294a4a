// `gpudoctor check --prometheus` and `--prometheus-file`: the metrics of several test hosts and
// of the fake GPU's probe, validated by the real `promtool check metrics` (Debian's prometheus
// package; the tests that need it are skipped, saying so, where it is missing), and the values
// they carry checked against the JSON report of the same run.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "cli/run_tool.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path k_hosts = fs::path(GPUDOCTOR_SCENARIOS).parent_path() / "hosts";

std::string promtool() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"})
    if (fs::path p = fs::path(dir) / "promtool"; access(p.c_str(), X_OK) == 0) return p.string();
  return "";
}

#define REQUIRE_PROMTOOL()                                                                          \
  if (promtool().empty())                                                                           \
  GTEST_SKIP() << "SKIPPED: promtool is not installed (Debian package prometheus: apt-get install " \
                  "prometheus), so the metrics cannot be validated"

/// `promtool check metrics` over `text` on its standard input: its exit code and what it said.
std::pair<int, std::string> promtool_check(const std::string& text) {
  auto in = temp_file("metrics.prom", text);
  auto out = temp_file("promtool.out", "");
  std::string cmd = fmt::format("'{}' check metrics < '{}' > '{}' 2>&1", promtool(), in.string(), out.string());
  int status = std::system(cmd.c_str());
  std::ifstream f(out);
  std::string said((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  fs::remove(in);
  fs::remove(out);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, said};
}

/// The value of the sample whose line starts with `series` (name and labels, exactly), or NaN.
double sample(const std::string& metrics, const std::string& series) {
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return std::nan("");
}

struct Host {
  std::string name;
  bool driver;  ///< answered by the fake driver from its driver.json
};

void PrintTo(const Host& h, std::ostream* os) { *os << h.name; }

std::vector<std::string> host_args(const Host& h, std::vector<std::string> args) {
  args.insert(args.end(), {"--root", (k_hosts / h.name / "root").string(), "--driver", h.driver ? "host" : "none",
                           "--timeout", "3"});
  return args;
}

std::map<std::string, std::string> host_env(const Host& h) {
  if (!h.driver) return {};
  return {{"LD_LIBRARY_PATH", GPUDOCTOR_FAKES_DIR}, {"GPUDOCTOR_FAKE_DRIVER", (k_hosts / h.name / "driver.json").string()}};
}

class PrometheusHost : public ::testing::TestWithParam<Host> {};

TEST_P(PrometheusHost, MetricsPassPromtoolAndMatchTheJsonReport) {
  REQUIRE_PROMTOOL();
  const Host& h = GetParam();
  auto metrics = run(host_args(h, {"check", "--prometheus"}), host_env(h));
  auto json = run(host_args(h, {"check", "--json"}), host_env(h));
  ASSERT_TRUE(metrics.code == 0 || metrics.code == 1) << metrics.err;
  EXPECT_EQ(metrics.code, json.code);
  auto [code, said] = promtool_check(metrics.out);
  EXPECT_EQ(code, 0) << said << "\n"
                     << metrics.out;
  auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(sample(metrics.out, "gpudoctor_healthy"), j["verdict"] == "healthy" ? 1 : 0) << metrics.out;
  std::string root = j["causes"][0]["id"];
  EXPECT_EQ(sample(metrics.out, fmt::format("gpudoctor_verdict_info{{verdict=\"{}\",root_cause=\"{}\"}}",
                                            j["verdict"].get<std::string>(), root)),
            1)
      << metrics.out;
  for (const char* list : {"causes", "warnings"})
    for (const auto& c : j[list]) {
      std::string series = fmt::format("gpudoctor_cause{{id=\"{}\",layer=\"{}\",severity=\"{}\"}}", c["id"].get<std::string>(),
                                       c["layer"].get<std::string>(), c["severity"].get<std::string>());
      EXPECT_GE(sample(metrics.out, series), 1) << series << "\n"
                                                << metrics.out;
    }
  for (const auto& l : j["layers"]) {
    std::string layer = l["layer"], status = l["status"];
    EXPECT_EQ(sample(metrics.out, fmt::format("gpudoctor_layer_state{{layer=\"{}\",state=\"{}\"}}", layer, status)), 1);
    std::string other = status == "passed" ? "failed" : "passed";
    EXPECT_EQ(sample(metrics.out, fmt::format("gpudoctor_layer_state{{layer=\"{}\",state=\"{}\"}}", layer, other)), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Hosts, PrometheusHost,
                         ::testing::Values(Host{"h200-captured", true}, Host{"h200x2-container", true},
                                           Host{"ubuntu2204-rtx3090", true}, Host{"wsl2-ubuntu2204", true},
                                           Host{"aws-g5-ubuntu2204-nodriver", false},
                                           Host{"debian12-firecracker-nogpu", false}, Host{"docker-pytorch-nogpu", false}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(Prometheus, TheDriverVersionsAreInfoMetrics) {
  Host h{"h200-captured", true};
  auto r = run(host_args(h, {"check", "--prometheus"}), host_env(h));
  ASSERT_EQ(r.code, 0) << r.err;
  // The captured H200 host: driver 580.95.05 (kernel module and NVML), CUDA 13.0.
  EXPECT_NE(r.out.find("gpudoctor_driver_info{kernel_module=\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gpudoctor_cuda_driver_info{version=\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# TYPE gpudoctor_healthy gauge"), std::string::npos);
}

struct FakeGpu {
  fs::path driver = fs::path(GPUDOCTOR_TEST_DATA) / "probe" / "h100x2.driver.json";
  std::map<std::string, std::string> env() const {
    return {{"LD_LIBRARY_PATH", GPUDOCTOR_FAKES_DIR}, {"GPUDOCTOR_FAKE_DRIVER", driver.string()}};
  }
};

TEST(Prometheus, QuickProbeFiguresCarryGpuUuidModelInBaseUnits) {
  REQUIRE_PROMTOOL();
  auto r = run({"check", "--probe-quick", "--prometheus"}, FakeGpu().env());
  ASSERT_TRUE(r.code == 0 || r.code == 1) << r.err << r.out;
  auto [code, said] = promtool_check(r.out);
  EXPECT_EQ(code, 0) << said << "\n"
                     << r.out;
  EXPECT_EQ(sample(r.out, "gpudoctor_probe_gpus{mode=\"quick\"}"), 2) << r.out;
  // Each GPU's figures name it by ordinal, UUID and model, as the recording of the 2 x H100 host does.
  EXPECT_NE(r.out.find("gpudoctor_probe_gpu_state{gpu=\"1\",uuid=\"GPU-"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model=\"NVIDIA H100 80GB HBM3\""), std::string::npos) << r.out;
}

TEST(Prometheus, FullProbeFiguresBesideWhatTheCardShouldDeliver) {
  REQUIRE_PROMTOOL();
  fs::path dir = fs::temp_directory_path() / fmt::format("gpudoctor-prom-{}", getpid());
  fs::create_directories(dir);
  fs::path file = dir / "gpudoctor.prom";
  auto r = run({"check", "--probe", "--json", "--prometheus-file", file.string()}, FakeGpu().env());
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  std::ifstream f(file);
  std::string metrics((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto [code, said] = promtool_check(metrics);
  EXPECT_EQ(code, 0) << said << "\n"
                     << metrics;
  auto j = nlohmann::json::parse(r.out);
  for (const auto& g : j["gpus"]) {
    int ordinal = g["ordinal"];
    std::string model = g["name"];
    std::string uuid = j["probe"]["gpus"][static_cast<std::size_t>(ordinal)]["uuid"];
    EXPECT_EQ(uuid.rfind("GPU-", 0), 0U) << uuid;
    std::string labels = fmt::format("gpu=\"{}\",uuid=\"{}\",model=\"{}\"", ordinal, uuid, model);
    EXPECT_EQ(sample(metrics, "gpudoctor_probe_gpu_state{" + labels + ",state=\"" + g["state"].get<std::string>() + "\"}"), 1);
    for (const auto& fig : g["figures"]) {
      std::string name = fig["name"], unit = fig["unit"];
      std::string series = labels + ",figure=\"" + name + "\"";
      EXPECT_EQ(sample(metrics, "gpudoctor_probe_figure_info{" + series + ",state=\"" + fig["state"].get<std::string>() + "\"}"), 1)
          << name;
      double factor = unit == "GB/s" ? 1e9 : unit == "TFLOP/s" ? 1e12
                                         : unit == "GiB"       ? 1073741824.0
                                                               : 0;
      std::string stem = unit == "GB/s" ? "bytes_per_second" : unit == "TFLOP/s" ? "flops_per_second"
                                                                                 : "bytes";
      if (factor == 0) continue;
      if (!fig["measured"].is_null())
        EXPECT_DOUBLE_EQ(sample(metrics, "gpudoctor_probe_measured_" + stem + "{" + series + "}"), fig["measured"].get<double>() * factor)
            << name;
      if (!fig["expected"].is_null())
        EXPECT_DOUBLE_EQ(sample(metrics, "gpudoctor_probe_expected_" + stem + "{" + series + "}"), fig["expected"].get<double>() * factor)
            << name;
    }
  }
  // The recording's device copy: 3007 GB/s of the H100 SXM5's 3350, as the probe test reads it.
  EXPECT_NEAR(sample(metrics,
                     "gpudoctor_probe_ratio{gpu=\"0\",uuid=\"GPU-a3b9001f-ae2b-1254-dbce-0114b19af9ea\","
                     "model=\"NVIDIA H100 80GB HBM3\",figure=\"device copy\"}"),
              3007.0 / 3350.0, 0.01)
      << metrics;
  fs::remove_all(dir);
}

TEST(Prometheus, FileIsWrittenAtomicallyWithMode0644) {
  fs::path dir = fs::temp_directory_path() / fmt::format("gpudoctor-prom-file-{}", getpid());
  fs::create_directories(dir);
  fs::path file = dir / "gpudoctor.prom";
  std::ofstream(file) << "an older, longer text that the new file replaces whole\n"
                      << std::string(100000, 'x') << "\n";
  mode_t old = umask(077);  // the file is for node_exporter, whoever runs gpudoctor
  Host h{"debian12-firecracker-nogpu", false};
  auto r = run(host_args(h, {"check", "--prometheus-file", file.string()}), host_env(h));
  umask(old);
  EXPECT_EQ(r.code, 1) << r.err;  // no GPU: a problem, and the terminal report on stdout
  EXPECT_NE(r.out.find("no_nvidia_gpu"), std::string::npos) << r.out;
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644U);
  std::ifstream f(file);
  std::string metrics((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(metrics.find("older"), std::string::npos);
  EXPECT_EQ(metrics.rfind("# HELP gpudoctor_info ", 0), 0U) << metrics;
  EXPECT_EQ(sample(metrics, "gpudoctor_healthy"), 0);
  // Nothing else is left in the folder: the temporary file was renamed over the old one.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"gpudoctor.prom"});
  fs::remove_all(dir);
}

TEST(Prometheus, UnwritableFileIsBadInputAndPrometheusExcludesJson) {
  Host h{"debian12-firecracker-nogpu", false};
  auto r = run(host_args(h, {"check", "--prometheus-file", "/nonexistent/gpudoctor/x.prom"}), host_env(h));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("cannot write /nonexistent/gpudoctor/x.prom"), std::string::npos) << r.err;
  EXPECT_EQ(run(host_args(h, {"--json", "check", "--prometheus"}), host_env(h)).code, 2);
}

TEST(Prometheus, HostileLabelValuesAreEscaped) {
  REQUIRE_PROMTOOL();
  // A snapshot whose framework sits in a folder named with a quote, a backslash, a line feed, a DEL
  // and an escape sequence (all legal in Linux file names): the first three escaped as the
  // exposition format says, the control characters replaced.
  std::ifstream in(std::string(GPUDOCTOR_TEST_DATA) + "/h200-snapshot.json");
  auto snap = nlohmann::json::parse(in);
  snap["framework_installs"] = nlohmann::json::array({nlohmann::json{
      {"framework", "torch"},
      {"distribution", "torch"},
      {"site_packages", "/opt/a\"b\\c\nd\x7f\x1b[2Jü/lib/python3.12/site-packages"},
      {"environment", "/opt/a\"b\\c\nd\x7f\x1b[2Jü"},
      {"environment_in_use", true},
      {"version", "2.9.1"},
      {"build", "2.9.1+cu130"},
      {"cuda_build", true},
      {"cuda_version", "13.0"}}});
  auto file = temp_file("hostile-snapshot.json", snap.dump());
  auto r = run({"check", "--from", file.string(), "--prometheus"});
  fs::remove(file);
  ASSERT_TRUE(r.code == 0 || r.code == 1) << r.err;
  auto [code, said] = promtool_check(r.out);
  EXPECT_EQ(code, 0) << said << "\n"
                     << r.out;
  // The validator is no rubber stamp: the same value with its quote left unescaped is rejected.
  EXPECT_NE(promtool_check("# TYPE gpudoctor_x gauge\ngpudoctor_x{environment=\"/opt/a\"b\"} 1\n").first, 0);
  // DEL and ESC (fuzz_report found the DEL passed through raw) become U+FFFD; "ü" stays.
  EXPECT_NE(r.out.find("environment=\"/opt/a\\\"b\\\\c\\nd\uFFFD\uFFFD[2Jü\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\x7f'), std::string::npos);
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_NE(r.out.find("gpudoctor_framework_info{framework=\"torch\",distribution=\"torch\",version=\"2.9.1\","
                       "build=\"2.9.1+cu130\",cuda_version=\"13.0\""),
            std::string::npos)
      << r.out;
  // Every sample is one line: the line feed in the folder name did not end one.
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_TRUE(line.empty() || line.rfind("gpudoctor_", 0) == 0 || line[0] == '#') << line;
}

}  // namespace
