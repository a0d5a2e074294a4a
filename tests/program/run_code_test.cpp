// `gpudoctor run -- python ...` reads the program's own source before it starts: the JSON report
// carries the lines that pin it to the CPU, file:line each, relative to the working folder.

#include <gtest/gtest.h>
#include <sys/stat.h>
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

}  // namespace
