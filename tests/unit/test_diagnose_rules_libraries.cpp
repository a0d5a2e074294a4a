// rules_libraries.cpp on hand-built snapshots: the libraries a framework loads against the
// nvidia-* wheels its METADATA pins (the scenario torch215_no_deps_toolkit_nccl runs the case end
// to end on a tree).
#include <gtest/gtest.h>

#include "diagnose/diagnose.hpp"
#include "unit/gpu_host_snapshot.hpp"

namespace gpudoctor {
namespace {

const std::string k_sp = "/home/alice/venv/lib/python3.11/site-packages";

// torch 2.15.0+cu132 in the venv in use, with its real Requires-Dist lines for the nvidia wheels
// (tests/fixtures/wheels/torch-2.15.0 METADATA), and libnccl.so.2 resolved to `nccl_path` with
// the version its file name gives.
Snapshot torch_host(const std::string& nccl_path, const std::string& nccl_version, const std::string& found_via,
                    const std::string& nccl_pin = "nvidia-nccl-cu13==2.30.7; platform_system == \"Linux\"") {
  Snapshot s = fixtures::gpu_host_snapshot(fixtures::k_h200);
  PythonEnvironment env;
  env.prefix = "/home/alice/venv";
  env.kind = EnvironmentKind::venv;
  env.version = std::string("3.11");
  env.site_packages = {k_sp};
  env.in_use = true;
  s.python_envs.push_back(env);
  InstalledPackage torch;
  torch.name = "torch";
  torch.version = "2.15.0";
  torch.site_packages = k_sp;
  torch.requires_dist = {
      "cuda-toolkit[cublas,cudart,cufft,cufile,cupti,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.2.2; platform_system == \"Linux\"",
      "nvidia-cudnn-cu13==9.26.0.51; platform_system == \"Linux\"",
      nccl_pin,
      "nvidia-nvshmem-cu13==3.7.2; platform_system == \"Linux\""};
  s.packages.push_back(torch);
  FrameworkLibraries fw;
  fw.framework = "torch";
  fw.site_packages = k_sp;
  fw.version = std::string("2.15.0+cu132");
  fw.cuda_build = std::string("13.2");
  ResolvedLibrary nccl;
  nccl.role = "nccl";
  nccl.name = "libnccl.so.2";
  nccl.requested_by = k_sp + "/torch/lib/libtorch_cuda.so";
  nccl.how = LibraryRequest::needed;
  nccl.path = nccl_path;
  nccl.found_via = found_via;
  nccl.version = nccl_version;
  nccl.origin = nccl_path.find("site-packages") != std::string::npos ? "pip wheel nvidia-nccl-cu13 " + nccl_version : "system package";
  fw.libraries.push_back(nccl);
  ResolvedLibrary cudnn;
  cudnn.role = "cudnn";
  cudnn.name = "libcudnn.so.9";
  cudnn.requested_by = k_sp + "/torch/lib/libtorch_python.so";
  cudnn.how = LibraryRequest::needed;
  cudnn.path = k_sp + "/nvidia/cudnn/lib/libcudnn.so.9";
  cudnn.found_via = "RPATH of " + k_sp + "/torch/lib/libtorch_python.so";
  cudnn.version = std::string("9.26.0.51");
  cudnn.origin = "pip wheel nvidia-cudnn-cu13 9.26.0.51";
  fw.libraries.push_back(cudnn);
  s.frameworks.push_back(fw);
  return s;
}

const Finding* find(const std::vector<Finding>& v, const std::string& id) {
  for (const auto& f : v)
    if (f.cause == id) return &f;
  return nullptr;
}

// The case: torch installed with --no-deps, libnccl.so.2 from the CUDA toolkit's NCCL
// 2.28.9 through ld.so.cache; `import torch` fails with "undefined symbol: ncclCommResume".
TEST(LibraryPins, ToolkitNcclOlderThanTorchsPinIsAVersionMismatch) {
  auto findings = rule_findings(torch_host("/usr/lib/x86_64-linux-gnu/libnccl.so.2.28.9", "2.28.9", "ld.so.cache"));
  const Finding* f = find(findings, "cuda_version_mismatch");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->layer, Layer::libraries);
  EXPECT_EQ(f->severity, Severity::error);
  ASSERT_FALSE(f->evidence.empty());
  EXPECT_EQ(f->evidence[0].said,
            "torch 2.15.0 pins nvidia-nccl-cu13==2.30.7; libnccl.so.2 resolves to /usr/lib/x86_64-linux-gnu/libnccl.so.2.28.9 (2.28.9)");
  ASSERT_EQ(f->fix.size(), 2u);
  EXPECT_EQ(f->fix[0].rfind("pip install nvidia-nccl-cu13==2.30.7   ", 0), 0u) << f->fix[0];
  EXPECT_EQ(f->fix[1], "or reinstall torch with its dependencies (not --no-deps): pip install --force-reinstall torch==2.15.0");
  // cuDNN is the pinned wheel's own: nothing said of it.
  EXPECT_EQ(find(findings, "cudnn_version_mismatch"), nullptr);
  // And the diagnosis leads with it: the libraries layer fails.
  auto d = diagnose(torch_host("/usr/lib/x86_64-linux-gnu/libnccl.so.2.28.9", "2.28.9", "ld.so.cache"));
  ASSERT_FALSE(d.causes.empty());
  EXPECT_EQ(d.causes[0].cause, "cuda_version_mismatch");
}

// The lent H200 (2026-12-03, bench/device-2026-12-03-h200-library-pins.txt): torch 2.11.0+cu130
// pins nvidia-nccl-cu13==2.28.9; without that wheel libnccl.so.2 resolved to the system's NCCL
// 2.28.3, which /proc/self/maps showed mapped while `import torch` and torch.cuda.is_available()
// worked. An older patch of the pinned major.minor is a warning, not the root cause; one minor
// older (2.27.7 against 2.28.9) stays the error.
TEST(LibraryPins, AnOlderPatchOfThePinnedReleaseIsAWarning) {
  auto h200 = [](const std::string& file, const std::string& version) {
    Snapshot s = torch_host("/usr/lib/x86_64-linux-gnu/" + file, version, "ld.so.cache",
                            "nvidia-nccl-cu13==2.28.9; platform_system == \"Linux\"");
    s.packages[0].version = "2.11.0";
    s.frameworks[0].version = std::string("2.11.0+cu130");
    s.frameworks[0].cuda_build = std::string("13.0");
    return s;
  };
  auto findings = rule_findings(h200("libnccl.so.2.28.3", "2.28.3"));
  const Finding* f = find(findings, "cuda_version_mismatch");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::warning);
  EXPECT_EQ(f->title,
            "torch 2.11.0+cu130 pins NCCL 2.28.9 (nvidia-nccl-cu13==2.28.9), but libnccl.so.2 resolves to NCCL "
            "2.28.3: an older patch of the same 2.28 release, which loads");
  EXPECT_EQ(f->fix[0].rfind("pip install nvidia-nccl-cu13==2.28.9   ", 0), 0u) << f->fix[0];
  auto d = diagnose(h200("libnccl.so.2.28.3", "2.28.3"));
  ASSERT_FALSE(d.causes.empty());
  EXPECT_NE(d.causes[0].cause, "cuda_version_mismatch");
  const Finding* minor = find(rule_findings(h200("libnccl.so.2.27.7", "2.27.7")), "cuda_version_mismatch");
  ASSERT_NE(minor, nullptr);
  EXPECT_EQ(minor->severity, Severity::error);
  EXPECT_EQ(minor->title.find("older patch"), std::string::npos) << minor->title;
}

// Through LD_LIBRARY_PATH the fix names the folder to take off it.
TEST(LibraryPins, ThroughLdLibraryPathTheFixRemovesTheFolder) {
  auto findings = rule_findings(torch_host("/usr/local/cuda-13.0/lib64/libnccl.so.2.28.9", "2.28.9", "LD_LIBRARY_PATH (/usr/local/cuda-13.0/lib64)"));
  const Finding* f = find(findings, "cuda_version_mismatch");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->fix.size(), 2u);
  EXPECT_EQ(f->fix[1], "and remove /usr/local/cuda-13.0/lib64 from LD_LIBRARY_PATH (check ~/.bashrc and the job script)");
}

// Near cases that must not fire: the pinned version itself (from the wheel, or a system copy of
// the same release), a newer NCCL than the pin, a ">=" pin that the copy meets, a version the file
// name does not give.
TEST(LibraryPins, APinThatIsMetIsNoFinding) {
  const std::string wheel = k_sp + "/nvidia/nccl/lib/libnccl.so.2";
  for (const auto& s : {torch_host(wheel, "2.30.7", "RPATH of " + k_sp + "/torch/lib/libtorch_cuda.so"),
                        torch_host("/usr/lib/x86_64-linux-gnu/libnccl.so.2.30.7", "2.30.7", "ld.so.cache"),
                        torch_host("/usr/lib/x86_64-linux-gnu/libnccl.so.2.31.1", "2.31.1", "ld.so.cache"),
                        torch_host("/usr/lib/x86_64-linux-gnu/libnccl.so.2.28.9", "2.28.9", "ld.so.cache",
                                   "nvidia-nccl-cu12>=2.21.5; platform_system == \"Linux\""),
                        torch_host("/usr/lib/x86_64-linux-gnu/libnccl.so.2.28.9", "2.28.9", "ld.so.cache",
                                   "nvidia-nccl-cu13==2.30.7; extra == \"distributed\"")}) {
    auto findings = rule_findings(s);
    EXPECT_EQ(find(findings, "cuda_version_mismatch"), nullptr) << s.frameworks[0].libraries[0].path.value_or("");
  }
  Snapshot unknown = torch_host("/usr/lib/x86_64-linux-gnu/libnccl.so.2", "", "ld.so.cache");
  unknown.frameworks[0].libraries[0].version = Fact<std::string>::unknown("the file name carries only the SONAME version");
  EXPECT_EQ(find(rule_findings(unknown), "cuda_version_mismatch"), nullptr);
  // What the library itself reports wins over its file name (--library-versions).
  Snapshot reported = torch_host("/usr/lib/x86_64-linux-gnu/libnccl.so.2", "", "ld.so.cache");
  reported.frameworks[0].libraries[0].version = Fact<std::string>::unknown("the file name carries only the SONAME version");
  reported.frameworks[0].libraries[0].reported_version = std::string("2.28.9");
  EXPECT_NE(find(rule_findings(reported), "cuda_version_mismatch"), nullptr);
}

// A cuDNN older than the pin is cuDNN's own cause.
TEST(LibraryPins, CudnnOlderThanItsPinIsACudnnMismatch) {
  Snapshot s = torch_host("/usr/lib/x86_64-linux-gnu/libnccl.so.2.30.7", "2.30.7", "ld.so.cache");
  auto& cudnn = s.frameworks[0].libraries[1];
  cudnn.path = std::string("/usr/lib/x86_64-linux-gnu/libcudnn.so.9.14.0");
  cudnn.found_via = "ld.so.cache";
  cudnn.version = std::string("9.14.0");
  cudnn.origin = "system package";
  auto findings = rule_findings(s);
  const Finding* f = find(findings, "cudnn_version_mismatch");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->title.find("cuDNN 9.26.0.51"), std::string::npos) << f->title;
  EXPECT_EQ(find(findings, "cuda_version_mismatch"), nullptr);
}

// The layers above the failing libraries layer that passed their own checks say so ("passed (above
// a failure)"), instead of "not reached": once the library is fixed, they hold.
TEST(Diagnosis, LayersAboveAFailurePassedTheirOwnChecks) {
  auto d = diagnose(torch_host("/usr/lib/x86_64-linux-gnu/libnccl.so.2.28.9", "2.28.9", "ld.so.cache"));
  bool seen = false;
  for (const auto& l : d.layers) {
    if (l.layer == Layer::libraries) EXPECT_EQ(l.state, LayerState::failed);
    if (l.layer == Layer::environment) {
      seen = true;
      EXPECT_EQ(l.state, LayerState::passed);
      EXPECT_TRUE(l.above_failure);
    }
    if (l.layer == Layer::driver) EXPECT_FALSE(l.above_failure);
  }
  EXPECT_TRUE(seen);
}

// Findings of one cause merged into one sentence: the issue's jax case said "was built for CUDA
// 12.5.1 and needs" once per library in a 600-character title.
TEST(Diagnosis, MergedTitlesSayTheirSentenceOnce) {
  std::vector<Finding> found;
  for (const auto& [need, have] : std::vector<std::pair<std::string, std::string>>{
           {"libcublas.so.12", "libcublas.so.13"}, {"libcufft.so.11", "libcufft.so.12"}, {"libcusolver.so.11", "libcusolver.so.12"}, {"libcusparse.so.12", "libcusparse.so.12.6"}, {"libnvJitLink.so.12", "libnvJitLink.so.13"}}) {
    Finding f;
    f.cause = "cuda_version_mismatch";
    f.layer = Layer::libraries;
    f.title = "jax 0.4.30 was built for CUDA 12.5.1 and needs " + need + ", but only " + have + " is installed";
    found.push_back(f);
  }
  auto [causes, warnings] = rank_findings(found);
  ASSERT_EQ(causes.size(), 1u);
  const std::string& t = causes[0].title;
  EXPECT_EQ(t,
            "jax 0.4.30 was built for CUDA 12.5.1 and needs libcublas.so.12, but only libcublas.so.13; libcufft.so.11, but only "
            "libcufft.so.12; libcusolver.so.11, but only libcusolver.so.12; libcusparse.so.12, but only libcusparse.so.12.6; "
            "libnvJitLink.so.12, but only libnvJitLink.so.13 is installed");
  // Titles with little in common are kept whole.
  Finding a, b;
  a.cause = b.cause = "other";
  a.title = "torch finds no NCCL";
  b.title = "jax finds no cuDNN";
  EXPECT_EQ(rank_findings({a, b}).first[0].title, "torch finds no NCCL; jax finds no cuDNN");
}

// Two copies of one SONAME in the process (jax 0.11.2 on the H200 host, LD_LIBRARY_PATH at a CUDA
// 13.0 toolkit: libcublas.so.13's NEEDED found the toolkit's libcublasLt.so.13, then the plugin
// loaded the wheel's by path): a warning naming both files, the fix takes the folder off
// LD_LIBRARY_PATH. Near cases: one copy only, and a second copy whose first came another way.
TEST(LibraryCopies, ASecondCopyMappedThroughLdLibraryPathIsAWarning) {
  const std::string tk = "/usr/local/cuda-13.0/targets/x86_64-linux/lib";
  auto host = [&](bool second, const std::string& found_via) {
    Snapshot s = torch_host(k_sp + "/nvidia/nccl/lib/libnccl.so.2", "2.30.7", "RPATH of " + k_sp + "/torch/lib/libtorch_cuda.so");
    ResolvedLibrary lt;
    lt.role = "cublasLt";
    lt.name = "libcublasLt.so.13";
    lt.requested_by = k_sp + "/nvidia/cu13/lib/libcublas.so.13";
    lt.how = LibraryRequest::needed;
    lt.path = tk + "/libcublasLt.so.13.1.0.3";
    lt.found_via = found_via;
    lt.version = std::string("13.1.0.3");
    lt.origin = "CUDA toolkit";
    if (second) {
      LibraryCopy c;
      c.path = c.resolved = k_sp + "/nvidia/cu13/lib/libcublasLt.so.13";
      c.found_via = "preloaded by path (jax_plugins/xla_cuda13/__init__.py _load_nvidia_libraries)";
      c.origin = "pip wheel nvidia-cublas 13.1.0.3";
      c.status = CopyStatus::also_mapped;
      lt.also_mapped.push_back(c);
    }
    s.frameworks[0].libraries.push_back(lt);
    s.env.vars["LD_LIBRARY_PATH"] = tk;
    return s;
  };
  auto findings = rule_findings(host(true, "LD_LIBRARY_PATH"));
  const Finding* f = find(findings, "ld_library_path_wrong");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::warning);
  EXPECT_NE(f->title.find("maps two copies of libcublasLt.so.13"), std::string::npos) << f->title;
  ASSERT_GE(f->evidence.size(), 2u);
  EXPECT_EQ(f->evidence[0].where, tk + "/libcublasLt.so.13.1.0.3");
  EXPECT_EQ(f->evidence[1].where, k_sp + "/nvidia/cu13/lib/libcublasLt.so.13");
  ASSERT_FALSE(f->fix.empty());
  EXPECT_EQ(f->fix[0].rfind("Remove " + tk + " from LD_LIBRARY_PATH, or unset it", 0), 0u) << f->fix[0];
  EXPECT_EQ(find(rule_findings(host(false, "LD_LIBRARY_PATH")), "ld_library_path_wrong"), nullptr);
  auto other = rule_findings(host(true, "ld.so.cache"));
  EXPECT_EQ(find(other, "ld_library_path_wrong"), nullptr);
  ASSERT_NE(find(other, "conflicting_cuda_installs"), nullptr);
  EXPECT_EQ(find(other, "conflicting_cuda_installs")->severity, Severity::warning);
}

// A library missing from a site-packages folder on the path of two interpreters (the user site),
// listed first by the one not in use: the folder is in use all the same (core's
// site_packages_in_use), so the missing cuDNN is an error. The rule once asked only the first
// environment that listed the folder and called it a warning. Near case: neither is in use.
TEST(LibraryMissing, InAFolderSharedWithAnEnvironmentNotInUseIsAnError) {
  auto host = [](bool second_in_use) {
    Snapshot s = torch_host(k_sp + "/nvidia/nccl/lib/libnccl.so.2", "2.30.7", "RPATH of " + k_sp + "/torch/lib/libtorch_cuda.so");
    s.python_envs[0].in_use = second_in_use;
    PythonEnvironment base;
    base.prefix = "/opt/python3.11";
    base.kind = EnvironmentKind::system;
    base.found_by = "python3 on PATH (/opt/python3.11/bin)";
    base.version = std::string("3.11");
    base.site_packages = {k_sp, "/opt/python3.11/lib/python3.11/site-packages"};
    s.python_envs.insert(s.python_envs.begin(), base);
    auto& cudnn = s.frameworks[0].libraries[1];
    cudnn.path = Fact<std::string>::unknown("not found");
    cudnn.error = "libcudnn.so.9: cannot open shared object file: No such file or directory";
    return s;
  };
  auto missing = [](const std::vector<Finding>& findings) -> const Finding* {
    for (const auto& f : findings)
      if (f.layer == Layer::libraries && f.title.find("libcudnn.so.9") != std::string::npos) return &f;
    return nullptr;
  };
  auto in_use = rule_findings(host(true));
  ASSERT_NE(missing(in_use), nullptr);
  EXPECT_EQ(missing(in_use)->severity, Severity::error) << missing(in_use)->title;
  auto not_in_use = rule_findings(host(false));
  ASSERT_NE(missing(not_in_use), nullptr);
  EXPECT_EQ(missing(not_in_use)->severity, Severity::warning);
}

}  // namespace
}  // namespace gpudoctor
