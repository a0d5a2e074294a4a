// The program-code rules on hand-built snapshots: a line of the program that hides the GPU is
// the root cause on a working GPU host, and a warning where a lower layer already explains it.
#include <gtest/gtest.h>

#include "diagnose/diagnose.hpp"
#include "unit/gpu_host_snapshot.hpp"

namespace gpudoctor {
namespace {

Snapshot gpu_host() {
  Snapshot s = fixtures::gpu_host_snapshot(fixtures::k_rtx3090);
  s.program.watched = true;
  s.program.mode = "run";
  return s;
}

// A machine without any NVIDIA GPU on its PCI bus (a CI runner).
Snapshot no_gpu_host() {
  Snapshot s;
  s.pci_scanned = true;
  s.program.watched = true;
  s.program.mode = "run";
  return s;
}

CodeFact fact(std::string kind, std::string value, std::string code, int line = 12, std::string framework = "") {
  return {std::move(kind), std::move(framework), "train.py", line, std::move(code), std::move(value)};
}

std::vector<std::string> ids(const std::vector<Finding>& f) {
  std::vector<std::string> out;
  for (const auto& x : f) out.push_back(x.cause);
  return out;
}

TEST(ProgramCodeRules, CudaVisibleDevicesInCodeIsTheRootCauseOnAGpuHost) {
  auto s = gpu_host();
  s.program.code.push_back(fact("sets_cuda_visible_devices", "-1", "os.environ[\"CUDA_VISIBLE_DEVICES\"] = \"-1\"", 3));
  auto d = diagnose(s);
  ASSERT_EQ(ids(d.causes), (std::vector<std::string>{"program_forces_cpu"}));
  const auto& c = d.causes[0];
  EXPECT_FALSE(d.healthy);
  EXPECT_EQ(c.layer, Layer::program);
  EXPECT_EQ(c.severity, Severity::error);
  EXPECT_EQ(c.title, "train.py:3 sets CUDA_VISIBLE_DEVICES to \"-1\", which hides the GPUs");
  ASSERT_FALSE(c.evidence.empty());
  EXPECT_EQ(c.evidence[0].where, "train.py:3");
  EXPECT_EQ(c.evidence[0].said, "os.environ[\"CUDA_VISIBLE_DEVICES\"] = \"-1\"");
  ASSERT_FALSE(c.fix.empty());
  EXPECT_NE(c.fix[0].find("train.py:3"), std::string::npos);

  // A valid list keeps the GPUs: no finding.
  auto ok = gpu_host();
  ok.program.code.push_back(fact("sets_cuda_visible_devices", "0", "os.environ['CUDA_VISIBLE_DEVICES'] = '0'"));
  EXPECT_TRUE(diagnose(ok).healthy);
}

TEST(ProgramCodeRules, SetdefaultDoesNothingWhenTheVariableWasSet) {
  auto s = gpu_host();
  s.program.code.push_back(fact("defaults_cuda_visible_devices", "", "os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')"));
  EXPECT_EQ(ids(diagnose(s).causes), (std::vector<std::string>{"program_forces_cpu"}));
  s.program.env["CUDA_VISIBLE_DEVICES"] = "0";
  EXPECT_TRUE(diagnose(s).healthy);
}

TEST(ProgramCodeRules, NoGpuExplainsItSoTheCodeIsAWarning) {
  auto s = no_gpu_host();
  s.program.code.push_back(fact("tf_hides_gpus", "GPU", "tf.config.set_visible_devices([], 'GPU')", 5, "tensorflow"));
  auto d = diagnose(s);
  ASSERT_FALSE(d.causes.empty());
  EXPECT_EQ(d.causes[0].cause, "no_nvidia_gpu");
  EXPECT_EQ(ids(d.causes), (std::vector<std::string>{"no_nvidia_gpu"}));
  ASSERT_EQ(ids(d.warnings), (std::vector<std::string>{"program_forces_cpu"}));
  EXPECT_NE(d.warnings[0].title.find("a lower layer already keeps the GPU away"), std::string::npos);
}

TEST(ProgramCodeRules, AProgramThatUsedAGpuAnywayGetsAWarning) {
  auto s = gpu_host();
  s.program.code.push_back(fact("torch_device_cpu", "cpu", "device = 'cpu'", 8, "torch"));
  ProgramGpu g;
  g.used = true;
  s.program.gpus.push_back(g);
  auto d = diagnose(s);
  EXPECT_TRUE(d.healthy);
  ASSERT_EQ(ids(d.warnings), (std::vector<std::string>{"program_forces_cpu"}));
  EXPECT_NE(d.warnings[0].title.find("used a GPU anyway"), std::string::npos);
}

TEST(ProgramCodeRules, JaxPlatformsWithoutAGpuPlatform) {
  auto s = gpu_host();
  s.program.code.push_back(fact("sets_jax_platforms", "cpu", "jax.config.update('jax_platforms', 'cpu')", 4, "jax"));
  EXPECT_EQ(ids(diagnose(s).causes), (std::vector<std::string>{"program_forces_cpu"}));
  auto ok = gpu_host();
  ok.program.code.push_back(fact("sets_jax_platforms", "cuda,cpu", "jax.config.update('jax_platforms', 'cuda,cpu')", 4, "jax"));
  EXPECT_TRUE(diagnose(ok).healthy);
  ok.program.code[0].value = " CUDA ";
  EXPECT_TRUE(diagnose(ok).healthy);
}

TEST(ProgramCodeRules, EveryKindNamesItsLineAndAFix) {
  for (const char* kind : {"tf_hides_gpus", "tf_cpu_device_scope", "torch_device_cpu", "torch_never_on_cuda"}) {
    auto s = gpu_host();
    s.program.code.push_back(fact(kind, "x", "the code line", 30));
    auto d = diagnose(s);
    ASSERT_EQ(ids(d.causes), (std::vector<std::string>{"program_forces_cpu"})) << kind;
    EXPECT_EQ(d.causes[0].title.rfind("train.py:30 ", 0), 0u) << d.causes[0].title;
    EXPECT_EQ(d.causes[0].evidence[0].said, "the code line");
    EXPECT_FALSE(d.causes[0].fix.empty());
  }
  auto s = gpu_host();
  s.program.code.push_back(fact("unknown_kind", "x", "y"));
  EXPECT_TRUE(diagnose(s).healthy);
}

TEST(ProgramCodeRules, MemoryGrowthLateIsACauseOnlyWhereAGpuExists) {
  auto late = fact("tf_memory_growth_late", "after keras.Sequential() (line 3)",
                   "tf.config.experimental.set_memory_growth(gpus[0], True)", 5, "tensorflow");
  auto s = gpu_host();
  s.program.code.push_back(late);
  auto d = diagnose(s);
  ASSERT_EQ(ids(d.causes), (std::vector<std::string>{"memory_growth_misconfigured"}));
  EXPECT_NE(d.causes[0].fix[0].find("before keras.Sequential() (line 3)"), std::string::npos) << d.causes[0].fix[0];

  auto n = no_gpu_host();
  n.program.code.push_back(late);
  auto dn = diagnose(n);
  EXPECT_EQ(ids(dn.causes), (std::vector<std::string>{"no_nvidia_gpu"}));
  EXPECT_EQ(ids(dn.warnings), (std::vector<std::string>{"memory_growth_misconfigured"}));
}

}  // namespace
}  // namespace gpudoctor
