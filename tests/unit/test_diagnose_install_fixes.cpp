// The shared install commands: `tensorflow[and-cuda]` only for releases that have the extra.
#include <gtest/gtest.h>

#include "diagnose/diagnose.hpp"
#include "diagnose/install_fixes.hpp"
#include "unit/gpu_host_snapshot.hpp"

namespace gpudoctor {
namespace {

const kb::KnowledgeBase& kb() { return kb::KnowledgeBase::get(); }

TEST(InstallFixes, AndCudaFromItsFirstRelease) {
  EXPECT_EQ(kb().tf_and_cuda_first(), "2.14.0");
  EXPECT_EQ(tensorflow_gpu_install(kb(), "2.15.1"), "pip install 'tensorflow[and-cuda]==2.15.1'");
  EXPECT_EQ(tensorflow_gpu_install(kb(), "2.14.0"), "pip install 'tensorflow[and-cuda]==2.14.0'");
  EXPECT_EQ(tensorflow_gpu_install(kb(), "2.21.*", "python -m pip"), "python -m pip install 'tensorflow[and-cuda]==2.21.*'");
  EXPECT_EQ(tensorflow_gpu_install(kb(), ""), "pip install 'tensorflow[and-cuda]'");
  EXPECT_TRUE(tensorflow_has_and_cuda(kb(), "2.14.0rc1"));
  EXPECT_TRUE(tensorflow_has_and_cuda(kb(), "2.23.0.dev20261026"));
}

TEST(InstallFixes, OlderReleasesGetTheirTestedBuild) {
  // The case from issue 13: `pip install "tensorflow[and-cuda]==2.6.2"` installs no CUDA at all.
  std::string fix = tensorflow_gpu_install(kb(), "2.6.2");
  EXPECT_EQ(fix.find("[and-cuda]=="), std::string::npos) << fix;
  EXPECT_EQ(fix.rfind("pip install tensorflow==2.6.2, then install CUDA 11.2 and cuDNN 8.1 (TensorFlow 2.6's tested build)", 0), 0u)
      << fix;
  EXPECT_FALSE(tensorflow_has_and_cuda(kb(), "2.13.1"));
  EXPECT_FALSE(tensorflow_has_and_cuda(kb(), "2.6.0rc1"));
  // 2.0's GPU build is its own package.
  EXPECT_EQ(tensorflow_gpu_install(kb(), "2.0.4").rfind("pip install tensorflow-gpu==2.0.4, then install CUDA 10.0 and cuDNN 7.4", 0), 0u);
  // A series without a row still gets no extra, and the page of tested builds.
  std::string old = tensorflow_gpu_install(kb(), "1.15.5");
  EXPECT_EQ(old.find("[and-cuda]=="), std::string::npos);
  EXPECT_NE(old.find("https://www.tensorflow.org/install/source#gpu"), std::string::npos);
}

// The rule's fix for a CPU-only TensorFlow 2.6.2 in the environment in use.
TEST(InstallFixes, CpuOnlyTensorflowBeforeTheExtra) {
  for (const char* version : {"2.6.2", "2.16.1"}) {
    Snapshot s = fixtures::gpu_host_snapshot(fixtures::k_rtx3090);
    FrameworkInstall tf;
    tf.framework = "tensorflow";
    tf.distribution = "tensorflow-cpu";
    tf.site_packages = "/home/alice/tf/lib/python3.9/site-packages";
    tf.environment = "/home/alice/tf";
    tf.environment_in_use = true;
    tf.version = std::string(version);
    tf.cuda_build = false;
    s.framework_installs.push_back(tf);
    auto d = diagnose(s);
    ASSERT_FALSE(d.causes.empty());
    EXPECT_EQ(d.causes[0].cause, "cpu_only_framework_build");
    ASSERT_FALSE(d.causes[0].fix.empty());
    const std::string& fix = d.causes[0].fix[0];
    if (std::string(version) == "2.6.2")
      EXPECT_EQ(fix.rfind("pip uninstall -y tensorflow-cpu && pip install tensorflow==2.6.2, then install CUDA 11.2", 0), 0u) << fix;
    else
      EXPECT_EQ(fix, "pip uninstall -y tensorflow-cpu && pip install 'tensorflow[and-cuda]==2.16.1'");
  }
}

}  // namespace
}  // namespace gpudoctor
