// diagnose_text: the verdict on a pasted text, through diagnose's one ranking (rank_findings).
// Every text here is a real line (or the real shape of one) from the thread or source named.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "explain/explain.hpp"

using gpudoctor::Diagnosis;
using gpudoctor::Severity;
namespace explain = gpudoctor::explain;

namespace {

explain::TextReading read(const std::string& text) {
  std::FILE* f = fmemopen(const_cast<char*>(text.data()), text.size(), "rb");
  EXPECT_NE(f, nullptr);
  auto r = explain::read_text(f, explain::Catalogue::get());
  std::fclose(f);
  return r;
}

Diagnosis verdict(const std::string& text) { return explain::diagnose_text(read(text), nullptr); }

std::vector<std::string> ids(const Diagnosis& d) {
  std::vector<std::string> out;
  for (const auto& c : d.causes) out.push_back(c.cause);
  return out;
}

bool names(const Diagnosis& d, const std::string& cause) {
  auto has = [&](const std::vector<gpudoctor::Finding>& v) {
    return std::any_of(v.begin(), v.end(), [&](const gpudoctor::Finding& f) { return f.cause == cause; });
  };
  return has(d.causes) || has(d.warnings);
}

}  // namespace

TEST(ExplainDiagnoseText, EmptyAndBlankTextsAreBlank) {
  EXPECT_TRUE(read("").blank);
  EXPECT_TRUE(read("\n  \n\t\r\n").blank);
  EXPECT_FALSE(read("\n loss: 0.3\n").blank);
}

// Healthy only when the text shows the GPU in use and nothing blocks it.
TEST(ExplainDiagnoseText, HealthyOnlyWhenTheTextShowsTheGpuInUse) {
  auto d = verdict(
      "2023-06-12 09:31:02.404981: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1635] Created device "
      "/job:localhost/replica:0/task:0/device:GPU:0 with 22282 MB memory:  -> device: 0, name: NVIDIA GeForce RTX 3090, "
      "pci bus id: 0000:01:00.0, compute capability: 8.6\n");
  EXPECT_TRUE(d.healthy);
  EXPECT_EQ(d.causes.front().cause, "healthy");
  EXPECT_FALSE(d.causes.front().evidence.empty());

  d = verdict("tensor([1., 2., 3.], device='cuda:0')\n");
  EXPECT_TRUE(d.healthy);

  // Harmless lines alone (https://github.com/hiyouga/LlamaFactory/issues/3673 without its DeepSpeed
  // line): no failure, but no GPU in use either. The harmless cause leads; no verdict of health.
  d = verdict("2024-05-10 11:33:15.185131: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT Warning: Could not find TensorRT\n");
  EXPECT_FALSE(d.healthy);
  EXPECT_EQ(d.causes.front().cause, "tensorrt_missing_harmless");
  EXPECT_NE(d.causes.front().severity, Severity::error);

  // The cudart stub's line: the CUDA runtime was not found, never healthy.
  d = verdict(
      "2024-07-20 10:00:00.000000: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not find cuda drivers on your "
      "machine, GPU will not be used.\n");
  EXPECT_FALSE(d.healthy);
  EXPECT_EQ(d.causes.front().cause, "cuda_runtime_missing");
  EXPECT_EQ(d.causes.front().severity, Severity::error);
}

TEST(ExplainDiagnoseText, OtherSaysWhatItSaw) {
  auto d = verdict("hello\nloss: 0.3\n");
  ASSERT_EQ(d.causes.front().cause, "other");
  EXPECT_FALSE(d.healthy);
  EXPECT_FALSE(d.causes.front().evidence.empty());
  // With a fact stated, the evidence names it.
  d = verdict("nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 12.2, V12.2.140\nloss: 0.3\n");
  ASSERT_EQ(d.causes.front().cause, "other");
  EXPECT_GE(d.causes.front().evidence.size(), 2U);
}

// TensorFlow's preallocation leaves cuDNN without memory: memory_growth_misconfigured, with the
// memory-growth fix (causes.md's refined entry).
TEST(ExplainDiagnoseText, CudnnHandleFailureIsTheMemoryPreallocation) {
  auto d = verdict(
      "2020-05-01 10:00:00.000000: E tensorflow/stream_executor/cuda/cuda_dnn.cc:329] Could not create cudnn handle: "
      "CUDNN_STATUS_INTERNAL_ERROR\n"
      "tensorflow.python.framework.errors_impl.UnknownError:  Failed to get convolution algorithm. This is probably because "
      "cuDNN failed to initialize, so try looking to see if a warning log message was printed above.\n");
  ASSERT_FALSE(d.causes.empty());
  EXPECT_EQ(d.causes.front().cause, "memory_growth_misconfigured");
  ASSERT_FALSE(d.causes.front().fix.empty());
  EXPECT_NE(d.causes.front().fix.front().find("set_memory_growth"), std::string::npos);
  d = verdict(
      "2020-06-01 10:00:00.000000: E tensorflow/stream_executor/cuda/cuda_blas.cc:226] failed to create cublas handle: "
      "CUBLAS_STATUS_NOT_INITIALIZED\n");
  EXPECT_EQ(d.causes.front().cause, "memory_growth_misconfigured");
}

// PyTorch names the other process in its OOM message: that process, not the program, holds the memory.
TEST(ExplainDiagnoseText, AnotherProcessOutranksMemoryExhausted) {
  auto d = verdict(
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.65 GiB of "
      "which 1.06 GiB is free. Process 48211 has 20.12 GiB memory in use. Including non-PyTorch memory, this process has "
      "2.44 GiB memory in use.\n");
  ASSERT_FALSE(d.causes.empty());
  auto named = ids(d);
  EXPECT_EQ(named.front(), "gpu_in_use_by_other_process");
  EXPECT_EQ(std::count(named.begin(), named.end(), "gpu_memory_exhausted"), 0);
}

TEST(ExplainDiagnoseText, MissingFrameworkModuleIsNotInstalled) {
  auto d = verdict(
      "Traceback (most recent call last):\n  File \"train.py\", line 1, in <module>\n    import torch\n"
      "ModuleNotFoundError: No module named 'torch'\n");
  EXPECT_EQ(d.causes.front().cause, "framework_not_installed");
  d = verdict("ModuleNotFoundError: No module named 'tensorflow.keras'\n");
  EXPECT_FALSE(names(d, "framework_not_installed"));
}

// pip lists only releases newer than the pin: this Python is newer than the pinned release
// supports (https://github.com/dmis-lab/biobert/issues/120 has the older-Python form).
TEST(ExplainDiagnoseText, PipVersionsListShowsThePythonDoesNotFit) {
  auto d = verdict(
      "ERROR: Could not find a version that satisfies the requirement tensorflow==2.12.0 (from versions: "
      "2.16.0rc0, 2.16.1, 2.16.2, 2.17.0)\nERROR: No matching distribution found for tensorflow==2.12.0\n");
  EXPECT_EQ(d.causes.front().cause, "framework_version_incompatible_python");
  EXPECT_NE(d.causes.front().title.find("2.16.0rc0"), std::string::npos) << d.causes.front().title;
  // The pinned version is offered: not a Python problem.
  d = verdict("ERROR: Could not find a version that satisfies the requirement torch==2.1.0+cu121 (from versions: 2.2.0, 2.2.1)\n");
  EXPECT_NE(d.causes.front().cause, "framework_version_incompatible_python");
}

TEST(ExplainDiagnoseText, RemovedTensorflowGpuFailsBothWays) {
  auto d = verdict(
      "Collecting tensorflow-gpu\n  Using cached tensorflow-gpu-2.12.0.tar.gz (2.6 kB)\n"
      "  Preparing metadata (setup.py) ... error\n      packaging.requirements.InvalidRequirement: Expected end or "
      "semicolon (after name and no valid version specifier)\n          python_version>\"3.7\"\n");
  EXPECT_EQ(d.causes.front().cause, "framework_not_installed");
  ASSERT_FALSE(d.causes.front().fix.empty());
  d = verdict("WARNING: tensorflow 2.13.1 does not provide the extra 'and-cuda'\n");
  EXPECT_EQ(d.causes.front().cause, "cuda_runtime_missing");
  d = verdict("WARNING: jax 0.4.30 does not provide the extra 'cuda12_pip'\n");
  EXPECT_EQ(d.causes.front().cause, "cpu_only_framework_build");
}

// Only CPU notices and an empty GPU list: a build without CUDA. After a named failure, the empty
// list is that failure's consequence.
TEST(ExplainDiagnoseText, EmptyDeviceListIsACpuBuildUnlessAFailureExplainsIt) {
  auto d = verdict(
      "2026-11-26 07:33:14.147033: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow binary is optimized "
      "to use available CPU instructions in performance-critical operations.\nGPUs: []\n");
  EXPECT_EQ(d.causes.front().cause, "cpu_only_framework_build");
  d = verdict(
      "2021-08-06 21:37:12.570693: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic "
      "library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory\n[]\n");
  EXPECT_EQ(d.causes.front().cause, "cudnn_missing");
  EXPECT_FALSE(names(d, "cpu_only_framework_build"));
}

// Versions reasoned with: the library one version asks for against what the text states.
TEST(ExplainDiagnoseText, StatedVersionsTurnAMissingLibraryIntoAMismatch) {
  auto d = verdict(
      "I have CUDA 11.2 and cuDNN 8.1 installed on Windows 10.\n"
      "2021-03-01 10:00:00.000000: W tensorflow/stream_executor/platform/default/dso_loader.cc:60] Could not load dynamic "
      "library 'cudart64_101.dll'; dlerror: cudart64_101.dll not found\n");
  EXPECT_EQ(d.causes.front().cause, "cuda_version_mismatch");
  d = verdict(
      "I have CUDA 10.0 and cuDNN 7.6\n"
      "2021-03-01 10:00:00.000000: W tensorflow/stream_executor/platform/default/dso_loader.cc:60] Could not load dynamic "
      "library 'cudnn64_8.dll'; dlerror: cudnn64_8.dll not found\n");
  EXPECT_EQ(d.causes.front().cause, "cudnn_version_mismatch");
  // The stated cuDNN is the one the build wants, yet another was loaded: another copy won.
  d = verdict(
      "CUDA/cuDNN version: 11.2/8.1.0\n"
      "2021-03-10 10:00:00.000000: E tensorflow/stream_executor/cuda/cuda_dnn.cc:362] Loaded runtime CuDNN library: "
      "8.0.5 but source was compiled with: 8.1.0.  CuDNN library needs to have matching major version and equal or "
      "higher minor version.\n");
  EXPECT_EQ(d.causes.front().cause, "conflicting_cuda_installs");
}

TEST(ExplainDiagnoseText, ProseStatesFacts) {
  auto r = read("I have CUDA 11.2 and cuDNN 8.1, a GTX 1050 Ti and driver 470 on Windows 10.\n");
  EXPECT_EQ(r.facts["cuda_version"], "11.2");
  EXPECT_EQ(r.facts["cudnn_version"], "8.1");
  EXPECT_EQ(r.facts["gpu_model"], "GTX 1050 Ti");
  EXPECT_EQ(r.facts["driver_version"], "470");
  EXPECT_EQ(r.facts["os"], "Windows 10");
  // nvidia-smi's "CUDA Version" is what the driver supports, never an installed toolkit; the
  // template's "CUDA/cuDNN version: 11.8" is no cuDNN version.
  r = read("| NVIDIA-SMI 535.54.03   Driver Version: 535.54.03   CUDA Version: 12.2     |\nCUDA/cuDNN version: 11.8\n");
  EXPECT_EQ(r.facts.count("cuda_version") ? r.facts["cuda_version"] : "", "11.8");
  EXPECT_EQ(r.facts.count("cudnn_version"), 0U);
  // WSL beside "Windows 11": a Linux under WSL, not native Windows.
  auto d = verdict("Windows 11 with WSL2 Ubuntu 22.04\n### TensorFlow version\n\n2.15.0\n\nGPUs: []\n");
  EXPECT_FALSE(names(d, "windows_native_unsupported"));
}
