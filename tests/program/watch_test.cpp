// `gpudoctor run` and `inspect` watching real programs: the process tree through /proc, the GPUs
// through the fake NVML (tests/fakes: a program "creates its context" by appending its PID to the
// device's contexts file, which the fake lists as a compute process with its SM samples), the log
// through explain's catalogue, and the verdict at exit. The host is the recorded 2 x H200
// container (tests/hosts/h200x2-container) so that check's layers pass.

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "program/spawn.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string k_host = std::string(GPUDOCTOR_TEST_DATA) + "/../hosts/h200x2-container";

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / fmt::format("gpudoctor-watch-{}-{}", ::getpid(), name)).string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// The recorded host's driver answers, with a live context list on both GPUs.
struct FakeGpuHost {
  std::string driver = temp_path("driver.json");
  std::string contexts = temp_path("contexts");
  FakeGpuHost() {
    auto j = json::parse(read_file(k_host + "/driver.json"));
    for (auto& d : j["nvml"]["devices"]) {
      d["processes"] = json::array();
      d["contexts_file"] = contexts;
    }
    std::ofstream(driver) << j.dump();
    std::ofstream(contexts).flush();
  }
  ~FakeGpuHost() {
    fs::remove(driver);
    fs::remove(contexts);
  }
  spawn::Options options(const std::vector<std::string>& args) const {
    spawn::Options o;
    o.args = {"--root", k_host + "/root", "--driver", "host"};
    o.args.insert(o.args.end(), args.begin(), args.end());
    o.env = {{"LD_LIBRARY_PATH", GPUDOCTOR_FAKES_DIR}, {"GPUDOCTOR_FAKE_DRIVER", driver}};
    return o;
  }
};

struct Watched {
  spawn::Result r;
  json report;
};

Watched run_watched(const FakeGpuHost& host, const std::string& script, std::vector<std::string> extra = {}) {
  std::string path = temp_path("report.json");
  std::vector<std::string> args = {"run", "--json", path};
  args.insert(args.end(), extra.begin(), extra.end());
  args.insert(args.end(), {"--", "sh", "-c", script});
  Watched w;
  w.r = spawn::run(host.options(args));
  w.report = json::parse(read_file(path), nullptr, false);
  fs::remove(path);
  return w;
}

std::vector<std::string> cause_ids(const json& report, const char* key = "causes") {
  std::vector<std::string> out;
  for (const auto& c : report[key]) out.push_back(c["id"]);
  return out;
}

TEST(Watch, ProgramWithAContextIsJudgedUsingTheGpuWithItsFigures) {
  FakeGpuHost host;
  // The program creates a context holding 2 GiB at 85% SM, works 1.5 s, and exits with 5.
  auto w = run_watched(host, fmt::format("echo \"$$ 2147483648 85\" > {}; sleep 1.5; exit 5", host.contexts));
  EXPECT_EQ(w.r.code, 5) << w.r.err;
  ASSERT_FALSE(w.report.is_discarded()) << w.r.err;
  EXPECT_EQ(w.report["verdict"], "healthy") << w.r.err;
  const auto& p = w.report["program"];
  EXPECT_EQ(p["verdict"], "used_gpu");
  EXPECT_EQ(p["per_process"], "pid");
  EXPECT_EQ(p["exit_status"], 5);
  const auto& g = p["gpus"][0];
  EXPECT_TRUE(g["used"].get<bool>());
  EXPECT_EQ(g["pids"][0], p["pid"]);
  EXPECT_EQ(g["peak_memory_bytes"], 2147483648ull);
  EXPECT_EQ(g["peak_utilization_percent"], 85);
  EXPECT_GT(g["busy_share"].get<double>(), 0.5);
  EXPECT_EQ(g["utilization_basis"], "per process (nvmlDeviceGetProcessUtilization)");
  EXPECT_GT(g["samples"].get<int>(), 3);
  EXPECT_FALSE(p["watch"]["gpus"][0]["timeline"].empty());
  EXPECT_NE(p["summary"].get<std::string>().find("too short to judge"), std::string::npos);
  EXPECT_NE(w.r.err.find("Verdict: used_gpu"), std::string::npos) << w.r.err;
}

TEST(Watch, AnotherProcessOnTheGpuIsNotTheProgram) {
  FakeGpuHost host;
  // This test process holds a context; the program never makes one.
  std::ofstream(host.contexts) << ::getpid() << " 1073741824 40\n";
  auto w = run_watched(host, "sleep 0.5");
  EXPECT_EQ(w.r.code, 0);
  const auto& p = w.report["program"];
  EXPECT_EQ(p["verdict"], "not_used");
  EXPECT_FALSE(p["gpus"][0]["used"].get<bool>());
  EXPECT_EQ(p["gpus"][0]["other_pids"][0], ::getpid());
  EXPECT_EQ(p["gpus"][0]["others_peak_memory_bytes"], 1073741824ull);
  EXPECT_EQ(w.report["verdict"], "problem");
  EXPECT_EQ(cause_ids(w.report).front(), "other");  // no framework loaded: it never tried
}

TEST(Watch, CudaVisibleDevicesMinusOneInTheProgramsEnvironment) {
  FakeGpuHost host;
  auto w = run_watched(host, "CUDA_VISIBLE_DEVICES=-1 sh -c 'sleep 0.5'");
  EXPECT_EQ(w.r.code, 0);
  ASSERT_EQ(w.report["verdict"], "problem") << w.r.err;
  const auto& c = w.report["causes"][0];
  EXPECT_EQ(c["id"], "cuda_visible_devices_hides_gpu");
  EXPECT_EQ(c["layer"], "environment");
  EXPECT_NE(c["evidence"][0]["source"].get<std::string>().find("/environ"), std::string::npos);
  // Near case: a valid index hides nothing.
  auto ok = run_watched(host, "CUDA_VISIBLE_DEVICES=0 sh -c 'sleep 0.5'");
  for (const auto& id : cause_ids(ok.report)) EXPECT_NE(id, "cuda_visible_devices_hides_gpu");
}

TEST(Watch, DriverPidsOfAnotherNamespaceAreSaidNotVisibleAndNotJudgedIdle) {
  FakeGpuHost host;
  // A PID above any pid_max (4194304): what a driver reporting host PIDs shows inside a container.
  auto w = run_watched(host, fmt::format("echo '4194999 8589934592 90' > {}; sleep 0.6", host.contexts));
  const auto& p = w.report["program"];
  EXPECT_EQ(p["per_process"], "not visible");
  EXPECT_EQ(p["verdict"], "not_visible");
  EXPECT_EQ(w.report["verdict"], "healthy") << w.r.err;
  bool said = false;
  for (const auto& n : p["notes"]) said = said || n.get<std::string>().find("per-process figures are not visible from this container") != std::string::npos;
  EXPECT_TRUE(said);
}

TEST(Watch, TheWholeTreeIncludingOrphansIsWatched) {
  FakeGpuHost host;
  // A child, a grandchild, and an orphan (its parent exits at once) that gpudoctor adopts; the
  // grandchild makes the context.
  auto w = run_watched(host, fmt::format("( sleep 0.8 & ) ; sh -c 'echo \"$$ 1024 10\" >> {}; sleep 0.8' & sleep 0.8; wait",
                                         host.contexts));
  EXPECT_EQ(w.r.code, 0) << w.r.err;
  const auto& procs = w.report["program"]["watch"]["processes"];
  int sleeps = 0;
  for (const auto& p : procs)
    if (p["command"] == "sleep 0.8") ++sleeps;
  EXPECT_EQ(sleeps, 3) << procs.dump();
  EXPECT_TRUE(w.report["program"]["gpus"][0]["used"].get<bool>());
  EXPECT_NE(w.report["program"]["gpus"][0]["pids"][0], w.report["program"]["pid"]);
}

TEST(Watch, TheLogIsReadThroughTheCatalogueWithoutChangingItsBytes) {
  FakeGpuHost host;
  std::string line =
      "2021-08-06 21:37:12.570693: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic "
      "library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory";
  // The near text: the same library named in an ordinary line.
  std::string near = "Loading libcudnn.so.8 from the cache";
  std::string file = temp_path("log.txt");
  std::ofstream(file) << "epoch 1\n"
                      << near << "\n"
                      << line << "\r\n";
  auto w = run_watched(host, fmt::format("cat {} >&2; sleep 0.2", file));
  EXPECT_EQ(w.r.err.substr(0, w.r.err.find("gpudoctor: ")), read_file(file));
  const auto& log = w.report["program"]["watch"]["log"];
  ASSERT_FALSE(log.empty());
  for (const auto& e : log) {  // the catalogue's messages for that line (TensorFlow's and the loader's)
    EXPECT_EQ(e["cause"], "cudnn_missing");
    EXPECT_EQ(e["stream"], "stderr");
    EXPECT_EQ(e["line"], 3) << log.dump();  // never the near text of line 2
  }
  EXPECT_EQ(cause_ids(w.report).front(), "cudnn_missing");
  // Matched by two messages, the line is the finding's evidence once.
  EXPECT_EQ(log.size(), 2U) << log.dump();
  const auto& evidence = w.report["causes"][0]["evidence"];
  ASSERT_EQ(evidence.size(), 1U) << evidence.dump();
  EXPECT_EQ(evidence[0]["source"].get<std::string>().rfind("stderr line 3 (", 0), 0U) << evidence.dump();
  fs::remove(file);
}

// `unshare --pid --fork` without --mount-proc: the program's process is in a PID namespace of its
// own while its /proc is gpudoctor's (on the lent H200 torch failed with error 304 so; with
// --mount-proc it used the GPU). Needs the right to make a PID namespace (root), else skipped.
TEST(Watch, APidNamespaceWithoutItsOwnProcIsTheRootCause) {
  if (std::system("unshare --pid --fork true >/dev/null 2>&1") != 0) GTEST_SKIP() << "unshare --pid --fork is not permitted here";
  FakeGpuHost host;
  auto w = run_watched(host, "unshare --pid --fork sleep 0.6");
  EXPECT_EQ(w.r.code, 0) << w.r.err;  // the program's own status
  ASSERT_FALSE(w.report["causes"].empty()) << w.r.err;
  const auto& first = w.report["causes"][0];
  EXPECT_EQ(first["id"], "other") << first.dump();
  EXPECT_EQ(first["layer"], "platform") << first.dump();
  EXPECT_NE(first["evidence"].dump().find("NSpid: "), std::string::npos) << first.dump();
  // With its own /proc the same program is not so judged.
  auto own = run_watched(host, "unshare --pid --fork --mount-proc sleep 0.6");
  for (const auto& c : own.report["causes"]) EXPECT_EQ(c["layer"] == "platform" && c["id"] == "other", false) << c.dump();
}

TEST(Watch, MarkdownReportHasTheProgram) {
  FakeGpuHost host;
  std::string md = temp_path("report.md");
  auto w = run_watched(host, "exit 0", {"--markdown", md});
  auto text = read_file(md);
  EXPECT_NE(text.find("### Program"), std::string::npos) << text;
  EXPECT_NE(text.find("| GPU | used by |"), std::string::npos) << text;
  fs::remove(md);
}

TEST(Watch, HtmlPageIsSelfContainedWithATimelinePerGpuAndEscapedText) {
  FakeGpuHost host;
  std::string html = temp_path("report.html");
  // The command itself holds markup that must come out as text.
  auto w = run_watched(host, fmt::format("echo \"$$ 2147483648 85\" > {}; sleep 0.5; : '<script>alert(1)</script>'", host.contexts),
                       {"--html", html});
  auto text = read_file(html);
  EXPECT_EQ(text.rfind("<!DOCTYPE html>", 0), 0U);
  EXPECT_EQ(text.find("<script"), std::string::npos);
  EXPECT_NE(text.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  for (const char* fetch : {"src=", "href=", "url(", "@import"}) EXPECT_EQ(text.find(fetch), std::string::npos) << fetch;
  std::size_t svgs = 0;
  for (auto at = text.find("<svg"); at != std::string::npos; at = text.find("<svg", at + 1)) ++svgs;
  EXPECT_EQ(svgs, 3U);  // two GPUs and the CPU
  EXPECT_NE(text.find("Verdict: healthy (used_gpu)"), std::string::npos);
  fs::remove(html);
}

TEST(Inspect, ARunningProcessAndItsLogFile) {
  FakeGpuHost host;
  std::string log = temp_path("inspect.log");
  pid_t child = ::fork();
  if (child == 0) {
    std::string cmd = fmt::format(
        "echo \"$$ 3221225472 70\" > {}; echo \"2022-04-28 03:54:33.745939: W tensorflow/stream_executor/platform/default/"
        "dso_loader.cc:64] Could not load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared "
        "object file: No such file or directory\" >&2; exec sleep 5",
        host.contexts);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    ::_exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto r = spawn::run(host.options({"inspect", std::to_string(child), "--duration", "0.6", "--json"}));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  auto j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out << r.err;
  const auto& p = j["program"];
  EXPECT_EQ(p["mode"], "inspect");
  EXPECT_EQ(p["pid"], child);
  EXPECT_EQ(p["ended"], "still running");
  EXPECT_TRUE(p["exit_status"].is_null());
  EXPECT_EQ(p["verdict"], "used_gpu");
  EXPECT_EQ(p["gpus"][0]["peak_memory_bytes"], 3221225472ull);
  ASSERT_FALSE(p["watch"]["log"].empty());
  EXPECT_EQ(p["watch"]["log"][0]["stream"], log);
  EXPECT_EQ(p["watch"]["log"][0]["cause"], "cuda_runtime_missing");
  EXPECT_EQ(p["watch"]["log"][0]["line"], 1);
  EXPECT_EQ(r.code, 0);  // used the GPU: the log's library line is a warning then
  fs::remove(log);
}

TEST(Inspect, NoSuchProcessIsAUsageError) {
  FakeGpuHost host;
  auto r = spawn::run(host.options({"inspect", "4194999"}));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no process 4194999"), std::string::npos) << r.err;
}

}  // namespace
