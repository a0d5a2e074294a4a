// `gpudoctor run -- python ...` reads the program's own source before it starts: the JSON report
// carries the lines that pin it to the CPU, file:line each, relative to the working folder.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "program/spawn.hpp"

namespace fs = std::filesystem;

namespace {

class RunCode : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / fmt::format("gpudoctor-runcode-{}", ::getpid());
    fs::remove_all(m_dir);
    fs::create_directories(m_dir / "bin");
    // A stand-in interpreter named python3 (CI machines need no Python for this test): the
    // scanner goes by the command line, the program runs and exits 0.
    std::ofstream(m_dir / "bin" / "python3") << "#!/bin/sh\nexit 0\n";
    fs::permissions(m_dir / "bin" / "python3", fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(m_dir); }
  /// A venv as `python3.11 -m venv` lays it out, whose bin/python3 is `interpreter` copied in.
  fs::path make_venv(const fs::path& interpreter) {
    fs::path venv = m_dir / "venv";
    fs::create_directories(venv / "bin");
    fs::create_directories(venv / "lib" / "python3.11" / "site-packages");
    std::ofstream(venv / "pyvenv.cfg") << "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n"
                                          "executable = /usr/bin/python3.11\ncommand = /usr/bin/python3 -m venv "
                                       << venv.string() << "\n";
    fs::copy_file(interpreter, venv / "bin" / "python3", fs::copy_options::overwrite_existing);
    fs::permissions(venv / "bin" / "python3", fs::perms::owner_all);
    return venv;
  }
  /// The prefixes of the environments a JSON report calls in use, with how each was found.
  static std::string in_use(const nlohmann::json& j) {
    std::string out;
    for (const auto& e : j["environments"])
      if (e["in_use"] == true) out += e["prefix"].get<std::string>() + " (" + e["found_by"].get<std::string>() + ") ";
    return out;
  }
  fs::path m_dir;
};

TEST_F(RunCode, JsonReportHoldsTheCodeFacts) {
  std::ofstream(m_dir / "train.py") << "import os\n"
                                       "# os.environ['CUDA_VISIBLE_DEVICES'] = '' is only a comment\n"
                                       "os.environ['CUDA_VISIBLE_DEVICES'] = '-1'\n"
                                       "import helpers\n";
  std::ofstream(m_dir / "helpers.py") << "import tensorflow as tf\n"
                                         "tf.config.set_visible_devices([], 'GPU')\n";
  std::string report = (m_dir / "report.json").string();
  spawn::Options o;
  o.cwd = m_dir.string();
  o.args = {"run", "--json", report, "--", (m_dir / "bin" / "python3").string(), "train.py"};
  auto r = spawn::run(o);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(report);
  auto j = nlohmann::json::parse(in);
  const auto& code = j["program"]["code"];
  ASSERT_EQ(code.size(), 2u) << code.dump(2);
  EXPECT_EQ(code[0]["kind"], "sets_cuda_visible_devices");
  EXPECT_EQ(code[0]["file"], "train.py");
  EXPECT_EQ(code[0]["line"], 3);
  EXPECT_EQ(code[0]["code"], "os.environ['CUDA_VISIBLE_DEVICES'] = '-1'");
  EXPECT_EQ(code[0]["value"], "-1");
  EXPECT_EQ(code[1]["kind"], "tf_hides_gpus");
  EXPECT_EQ(code[1]["file"], "helpers.py");
  EXPECT_EQ(code[1]["line"], 2);
  EXPECT_EQ(code[1]["framework"], "tensorflow");
}

TEST_F(RunCode, AProgramThatIsNotPythonHasNoCodeFacts) {
  std::string report = (m_dir / "report.json").string();
  spawn::Options o;
  o.cwd = m_dir.string();
  o.args = {"run", "--json", report, "--", "sh", "-c", "exit 0"};
  auto r = spawn::run(o);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(report);
  auto j = nlohmann::json::parse(in);
  EXPECT_TRUE(j["program"]["code"].empty());
}

// The environment `run` judges is the one the program runs: its interpreter's venv, unless
// --python names another; a program that is not Python leaves check's own choice.
TEST_F(RunCode, TheEnvironmentJudgedIsTheProgramsOwn) {
  fs::path venv = make_venv(m_dir / "bin" / "python3");
  auto judged = [&](std::vector<std::string> args) {
    std::string report = (m_dir / "report.json").string();
    spawn::Options o;
    o.cwd = m_dir.string();
    o.args = {"run", "--json", report};
    o.args.insert(o.args.end(), args.begin(), args.end());
    auto r = spawn::run(o);
    EXPECT_EQ(r.code, 0) << r.err;
    std::ifstream in(report);
    return in_use(nlohmann::json::parse(in));
  };
  EXPECT_EQ(judged({"--", "venv/bin/python3", "-c", "pass"}),
            venv.string() + " (the interpreter the program runs) ");
  std::string other = (m_dir / "bin" / "python3").string();
  EXPECT_EQ(judged({"--python", other, "--", "venv/bin/python3", "-c", "pass"}).find(venv.string()), std::string::npos);
  EXPECT_NE(judged({"--python", other, "--", "venv/bin/python3", "-c", "pass"}).find("(--python)"), std::string::npos);
  EXPECT_EQ(judged({"--", "sh", "-c", "exit 0"}).find("the interpreter the program runs"), std::string::npos);
}

// A --python that is no interpreter is bad input before the program starts: exit 2, nothing run.
TEST_F(RunCode, ABadPythonIsSaidBeforeTheProgramRuns) {
  spawn::Options o;
  o.cwd = m_dir.string();
  o.args = {"run", "--python", (m_dir / "missing").string(), "--", "sh", "-c", "touch ran"};
  auto r = spawn::run(o);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(m_dir / "ran"));
}

// `inspect PID` judges the environment of the Python the process runs (its command line, working
// folder and PATH from /proc): here an ELF started as VENV/bin/python3, as a venv's python is.
TEST_F(RunCode, InspectJudgesTheEnvironmentOfTheProcesssPython) {
  fs::path venv = make_venv("/bin/sleep");
  pid_t child = ::fork();
  if (child == 0) {
    if (::chdir(m_dir.c_str()) != 0) ::_exit(127);
    ::execl((venv / "bin" / "python3").c_str(), "venv/bin/python3", "30", nullptr);
    ::_exit(127);
  }
  ::usleep(200 * 1000);
  spawn::Options o;
  o.args = {"inspect", std::to_string(child), "--duration", "0.3", "--json"};
  auto r = spawn::run(o);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out << r.err;
  EXPECT_EQ(in_use(j), fmt::format("{} (the interpreter PID {} runs) ", venv.string(), child));
}

}  // namespace
