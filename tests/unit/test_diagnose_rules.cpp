// Rules on hand-built snapshots: the cases the scenario trees do not reach.
#include <gtest/gtest.h>

#include "diagnose/diagnose.hpp"
#include "unit/gpu_host_snapshot.hpp"
#include "diagnose/rule_context.hpp"

namespace gpudoctor {
namespace {

Snapshot gpu_host() { return fixtures::gpu_host_snapshot(fixtures::k_rtx3090); }

std::vector<std::string> ids(const std::vector<Finding>& f) {
  std::vector<std::string> out;
  for (const auto& x : f) out.push_back(x.cause);
  return out;
}

TEST(Rules, FilesOnlyHealthyHost) {
  auto d = diagnose(gpu_host());
  EXPECT_TRUE(d.healthy);
  EXPECT_EQ(ids(d.causes), (std::vector<std::string>{"healthy"}));
}

TEST(Rules, MismatchFromFilesAloneWithoutAProbe) {
  auto s = gpu_host();
  s.driver_files.libraries[0].version = std::string("535.154.05");
  auto d = diagnose(s);
  EXPECT_EQ(ids(d.causes), (std::vector<std::string>{"driver_library_mismatch"}));
}

TEST(Rules, CompatLibcudaIsNotAMismatch) {
  auto s = gpu_host();
  s.driver_files.libraries[0].resolved = "/usr/local/cuda-12.4/compat/libcuda.so.550.54.15";
  s.driver_files.libraries[0].version = std::string("550.54.15");
  EXPECT_TRUE(diagnose(s).healthy);
}

TEST(Rules, UvmNotYetLoadedIsFineWhenNvidiaModprobeCanLoadIt) {
  auto s = gpu_host();
  s.modules.modules["nvidia_uvm"].loaded = false;
  s.device_nodes.erase(s.device_nodes.begin() + 1);
  s.driver_files.nvidia_modprobe_setuid = true;
  EXPECT_TRUE(diagnose(s).healthy);
  s.driver_files.nvidia_modprobe_setuid = false;
  auto d = diagnose(s);
  EXPECT_TRUE(d.healthy);  // without a probe it is only a warning
  EXPECT_EQ(ids(d.warnings), (std::vector<std::string>{"uvm_module_missing"}));
}

TEST(Rules, ContainerWithoutNodesExplainsTheMissingDriverPieces) {
  auto s = gpu_host();
  s.platform.container = true;
  s.platform.container_kind = "docker";
  s.device_nodes.clear();
  s.driver_files.libraries.clear();
  auto d = diagnose(s);
  EXPECT_EQ(ids(d.causes), (std::vector<std::string>{"container_no_gpu_passthrough"}));
  EXPECT_EQ(d.layers[0].state, LayerState::passed);  // hardware
  EXPECT_EQ(d.layers[2].state, LayerState::failed);  // platform
}

TEST(Rules, HostDriverDownInsideAContainerIsTheRootCause) {
  auto s = gpu_host();
  s.platform.container = true;
  s.modules.modules["nvidia"].loaded = false;
  s.modules.modules["nvidia"].version = Fact<std::string>::unknown("absent");
  s.pci_gpus[0].driver = Fact<std::string>::unknown("unbound");
  s.device_nodes.clear();
  s.driver_files.libraries.clear();
  auto d = diagnose(s);
  ASSERT_FALSE(d.causes.empty());
  EXPECT_EQ(d.causes.front().cause, "driver_not_installed");
  EXPECT_EQ(d.causes.back().cause, "container_no_gpu_passthrough");
}

TEST(Rules, ProgramXidsAreNotHardwareFaults) {
  auto s = gpu_host();
  s.kernel_log.source = std::string("/dev/kmsg");
  s.kernel_log.lines = {"NVRM: Xid (PCI:0000:01:00): 13, pid=4242, name=python, Graphics SM Warp Exception on (GPC 0, TPC 0, SM 0): Out Of Range Address",
                        "NVRM: Xid (PCI:0000:01:00): 31, pid=4242, name=python, Ch 00000008, intr 10000000. MMU Fault"};
  EXPECT_TRUE(diagnose(s).healthy);
  s.kernel_log.lines.push_back("NVRM: Xid (PCI:0000:01:00): 48, pid=0, name=, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0.");
  auto d = diagnose(s);
  EXPECT_EQ(ids(d.causes), (std::vector<std::string>{"gpu_in_bad_state"}));
  EXPECT_NE(d.causes[0].title.find("Xid 48"), std::string::npos) << d.causes[0].title;
}

// The kernel-log lines the rules read are the catalogue's (kb/data/kernel_log.toml): a refusal of
// another module is no evidence about the nvidia module; systemd-modules-load's and the kernel's own
// refusals of it are.
TEST(Rules, SecureBootEvidenceIsARefusalOfTheNvidiaModule) {
  auto s = gpu_host();
  s.modules.modules["nvidia"].loaded = false;
  s.modules.modules["nvidia_uvm"].loaded = false;
  s.modules.nvidia_module_files = {"/lib/modules/6.8.0-45-generic/updates/dkms/nvidia.ko.zst"};
  s.secure_boot.enabled = true;
  s.kernel_log.source = std::string("/var/log/syslog");
  s.kernel_log.lines = {"Sep 21 18:02:11 workstation systemd-modules-load[412]: Failed to insert module 'vboxdrv': Key was rejected by service"};
  auto d = diagnose(s);
  EXPECT_EQ(ids(d.causes), (std::vector<std::string>{"driver_not_loaded"}));
  for (const char* refusal : {"Sep 21 18:02:11 workstation systemd-modules-load[412]: Failed to insert module 'nvidia': Key was rejected by service",
                              "Sep 21 18:02:11 workstation kernel: [   14.208377] Loading of module with unavailable key is rejected",
                              "Sep 21 18:02:11 workstation kernel: [   14.208377] Lockdown: modprobe: unsigned module loading is restricted; see man kernel_lockdown.7"}) {
    SCOPED_TRACE(refusal);
    s.kernel_log.lines = {refusal};
    d = diagnose(s);
    ASSERT_EQ(ids(d.causes), (std::vector<std::string>{"secure_boot_blocks_module"}));
    bool cited = false;
    for (const auto& e : d.causes[0].evidence) cited = cited || e.said == refusal;
    EXPECT_TRUE(cited);
  }
}

// The older three-line "fallen off the bus" message of the nvidia module, whose last line is read alone.
TEST(Rules, GpuFallenOffTheBusInTheOlderWording) {
  auto s = gpu_host();
  s.kernel_log.source = std::string("/dev/kmsg");
  s.kernel_log.lines = {"NVRM: The NVIDIA GPU 0000:01:00.0", "NVRM: (PCI ID: 10de:2204) installed in this system has",
                        "NVRM: fallen off the bus and is not responding to commands."};
  auto d = diagnose(s);
  ASSERT_EQ(ids(d.causes), (std::vector<std::string>{"gpu_in_bad_state"}));
  EXPECT_NE(d.causes[0].title.find("fallen off the bus"), std::string::npos) << d.causes[0].title;
  s.kernel_log.lines = {"NVRM: GPU 0000:01:00.0: RmInitAdapter succeeded"};
  EXPECT_TRUE(diagnose(s).healthy);
}

TEST(Rules, EmptySnapshotIsNotAVerdictOfBrokenHardware) {
  Snapshot s;  // an image root with nothing readable
  auto d = diagnose(s);
  EXPECT_TRUE(d.healthy);
  EXPECT_EQ(d.layers[0].state, LayerState::not_checked);
}

// Two GPUs, one of them both Prohibited and MIG-enabled without instances: one GPU of two is blocked,
// so the other still works (a warning), however many reasons the blocked one has.
TEST(Rules, ComputeModeSeverityCountsGpusNotReasons) {
  Snapshot s = gpu_host();
  for (unsigned i = 0; i < 2; ++i) {
    NvmlDevice d;
    d.index = i;
    d.name = std::string("NVIDIA H200");
    d.compute_mode = i == 0 ? 2 : 0;
    d.mig_current = i == 0 ? 1 : 0;
    s.driver.nvml.devices.push_back(d);
  }
  std::vector<Finding> out;
  RuleContext ctx(s, kb::KnowledgeBase::get());
  rule_mig_compute_mode(ctx, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].severity, Severity::warning);
  s.driver.nvml.devices[1].compute_mode = 1;  // exclusive thread, taken by a process
  s.driver.nvml.devices[1].processes.push_back({4242, std::uint64_t{1} << 30, ProcessKind::compute});
  out.clear();
  RuleContext both(s, kb::KnowledgeBase::get());
  rule_mig_compute_mode(both, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].severity, Severity::error);
  bool named_thread = false;
  for (const auto& e : out[0].evidence) named_thread |= e.said == "NVML_COMPUTEMODE_EXCLUSIVE_THREAD (1)";
  EXPECT_TRUE(named_thread);
}

// JAX_PLATFORMS=cpu on a healthy H200 host with jax 0.7.2 and its CUDA 12 plugin in the venv in use:
// JAX ran on the CPU (seen on the lent H200) while check said healthy.
Snapshot jax_host(const char* platforms) {
  Snapshot s = gpu_host();
  FrameworkInstall jax;
  jax.framework = "jax";
  jax.distribution = "jax";
  jax.site_packages = "/home/alice/jaxenv/lib/python3.12/site-packages";
  jax.environment = "/home/alice/jaxenv";
  jax.environment_in_use = true;
  jax.version = std::string("0.7.2");
  jax.build = std::string("0.7.2");
  jax.cuda_build = true;
  jax.cuda_version = std::string("12");
  s.framework_installs.push_back(jax);
  if (platforms != nullptr) s.env.vars["JAX_PLATFORMS"] = platforms;
  return s;
}

const Finding* find(const std::vector<Finding>& v, const std::string& id) {
  for (const auto& f : v)
    if (f.cause == id) return &f;
  return nullptr;
}

TEST(Rules, JaxPlatformsCpuKeepsJaxOffAUsableGpu) {
  auto d = diagnose(jax_host("cpu"));
  EXPECT_FALSE(d.healthy);
  ASSERT_FALSE(d.causes.empty());
  EXPECT_EQ(d.causes[0].cause, "framework_env_forces_cpu");
  EXPECT_NE(d.causes[0].title.find("JAX_PLATFORMS=cpu"), std::string::npos);
  EXPECT_EQ(d.causes[0].fix.front(), "unset JAX_PLATFORMS   (or export JAX_PLATFORMS=cuda,cpu)");
  // The deprecated name does the same to the default backend.
  Snapshot old = jax_host(nullptr);
  old.env.vars["JAX_PLATFORM_NAME"] = "cpu";
  auto o = diagnose(old);
  ASSERT_FALSE(o.causes.empty());
  EXPECT_EQ(o.causes[0].cause, "framework_env_forces_cpu");
  // A TPU-only list skips the GPU as well.
  EXPECT_EQ(diagnose(jax_host("tpu")).causes[0].cause, "framework_env_forces_cpu");
}

TEST(Rules, JaxPlatformsThatKeepTheGpuAreNotFindings) {
  for (const char* keeps : {"cuda", "cuda,cpu", "gpu", " CUDA , cpu", ""}) {
    auto d = diagnose(jax_host(keeps));
    EXPECT_TRUE(d.healthy) << "JAX_PLATFORMS=\"" << keeps << "\"";
    EXPECT_EQ(find(d.warnings, "framework_env_forces_cpu"), nullptr) << keeps;
  }
}

TEST(Rules, JaxPlatformsIsOnlyAWarningWhereItChangesNothing) {
  // torch asked about: JAX's setting does not matter to it.
  Snapshot torch_asked = jax_host("cpu");
  torch_asked.requested_frameworks = {"torch"};
  auto t = diagnose(torch_asked);
  EXPECT_EQ(find(t.causes, "framework_env_forces_cpu"), nullptr);
  EXPECT_NE(find(t.warnings, "framework_env_forces_cpu"), nullptr);
  // A CPU-only jaxlib: the build is the reason, the variable only a remark.
  Snapshot cpu_build = jax_host("cpu");
  cpu_build.framework_installs[0].cuda_build = false;
  EXPECT_NE(find(diagnose(cpu_build).warnings, "framework_env_forces_cpu"), nullptr);
  // No jax anywhere: nothing to say.
  Snapshot no_jax = gpu_host();
  no_jax.env.vars["JAX_PLATFORMS"] = "cpu";
  auto n = diagnose(no_jax);
  EXPECT_TRUE(n.healthy);
  EXPECT_EQ(find(n.warnings, "framework_env_forces_cpu"), nullptr);
}

// Another process holding 112 GiB of the H200's 140 (seen on the lent H200: check said healthy).
Snapshot h200_shared(std::uint64_t held_gib, std::uint64_t free_gib) {
  Snapshot s = gpu_host();
  s.driver.nvml.init = CallResult{0, "NVML_SUCCESS", ""};
  s.driver.nvml.device_count = 1u;
  NvmlDevice d;
  d.index = 0;
  d.name = std::string("NVIDIA H200");
  d.memory_total_bytes = std::uint64_t{150754820096};  // 140.4 GiB, as NVML reports the H200
  d.memory_free_bytes = free_gib << 30;
  d.memory_used_bytes = *d.memory_total_bytes - (free_gib << 30);
  if (held_gib > 0) d.processes.push_back({31337, held_gib << 30, ProcessKind::compute});
  s.driver.nvml.devices.push_back(d);
  return s;
}

TEST(Rules, MemoryHeldByAnotherProcessIsReported) {
  auto d = diagnose(h200_shared(112, 28));
  EXPECT_TRUE(d.healthy);  // 28 GiB free: a framework still starts
  const Finding* w = find(d.warnings, "gpu_in_use_by_other_process");
  ASSERT_NE(w, nullptr);
  EXPECT_NE(w->title.find("PID 31337 holds 112.0 of 140.4 GiB"), std::string::npos) << w->title;
  // Nearly all of it held: nothing can start there.
  auto full = diagnose(h200_shared(139, 1));
  EXPECT_FALSE(full.healthy);
  EXPECT_EQ(full.causes[0].cause, "gpu_in_use_by_other_process");
}

TEST(Rules, ASmallOrNoTenantIsNoFinding) {
  EXPECT_EQ(find(diagnose(h200_shared(2, 137)).warnings, "gpu_in_use_by_other_process"), nullptr);
  EXPECT_EQ(find(diagnose(h200_shared(0, 139)).warnings, "gpu_in_use_by_other_process"), nullptr);
  // A graphics client (a desktop) is not a compute tenant.
  Snapshot desktop = h200_shared(0, 100);
  desktop.driver.nvml.devices[0].processes.push_back({1200, std::uint64_t{40} << 30, ProcessKind::graphics});
  EXPECT_EQ(find(diagnose(desktop).warnings, "gpu_in_use_by_other_process"), nullptr);
}

// The lent H200 beside a PyTorch loop of products holding 2 GiB: NVML said 100% busy; check said
// healthy. A computing tenant takes SMs from the user's program whatever memory it holds.
TEST(Rules, AnotherProcessComputingOnTheGpuIsReportedWhateverMemoryItHolds) {
  Snapshot s = h200_shared(2, 137);
  s.driver.nvml.devices[0].utilization_percent = 100u;
  auto d = diagnose(s);
  EXPECT_TRUE(d.healthy);  // it can still start: a warning
  const Finding* w = find(d.warnings, "gpu_in_use_by_other_process");
  ASSERT_NE(w, nullptr);
  EXPECT_NE(w->title.find("and keeps it 100% busy"), std::string::npos) << w->title;
  bool cited = false;
  for (const auto& e : w->evidence) cited = cited || e.where == "nvmlDeviceGetUtilizationRates(0)";
  EXPECT_TRUE(cited);
  // Near cases: a tenant that idles (10%), and a busy GPU with no compute process listed (the
  // utilization of a display, or of a process in another container the driver does not list).
  s.driver.nvml.devices[0].utilization_percent = 10u;
  EXPECT_EQ(find(diagnose(s).warnings, "gpu_in_use_by_other_process"), nullptr);
  Snapshot alone = h200_shared(0, 139);
  alone.driver.nvml.devices[0].utilization_percent = 100u;
  EXPECT_EQ(find(diagnose(alone).warnings, "gpu_in_use_by_other_process"), nullptr);
}

// Two non-venv interpreters of one Python version (Debian's /usr/bin/python3.11 and a python.org
// build in /usr/local) share the user's site-packages (pip install --user): a mismatched pair
// there is an error for the one in use, whichever of them the collector listed first.
Snapshot shared_user_site(bool in_use_first) {
  Snapshot s = gpu_host();
  const std::string user_site = "/home/ana/.local/lib/python3.11/site-packages";
  PythonEnvironment debian;
  debian.prefix = "/usr";
  debian.found_by = "python3 on PATH";
  debian.python = std::string("/usr/bin/python3.11");
  debian.version = std::string("3.11");
  debian.kind = EnvironmentKind::system;
  debian.site_packages = {user_site, "/usr/local/lib/python3.11/dist-packages", "/usr/lib/python3/dist-packages"};
  debian.in_use = true;
  PythonEnvironment local;
  local.prefix = "/usr/local";
  local.found_by = "/usr/local/bin/python3.11";
  local.python = std::string("/usr/local/bin/python3.11");
  local.version = std::string("3.11");
  local.kind = EnvironmentKind::system;
  local.site_packages = {user_site, "/usr/local/lib/python3.11/site-packages"};
  s.python_envs = in_use_first ? std::vector<PythonEnvironment>{debian, local} : std::vector<PythonEnvironment>{local, debian};
  InstalledPackage torch{"torch", "2.3.1", user_site, {}, {}, {}};
  // torchvision 0.29.2's METADATA (tests/fixtures/wheels/torchvision-0.29.2).
  InstalledPackage vision{"torchvision", "0.29.2", user_site, {}, {}, {"torch (>=2.14.0)"}};
  s.packages = {torch, vision};
  return s;
}

TEST(Rules, PackageMismatchSeverityDoesNotDependOnTheOrderOfEnvironments) {
  for (bool first : {true, false}) {
    auto d = diagnose(shared_user_site(first));
    EXPECT_FALSE(d.healthy) << "in use listed " << (first ? "first" : "second");
    ASSERT_NE(find(d.causes, "framework_package_mismatch"), nullptr) << (first ? "first" : "second");
    EXPECT_EQ(find(d.warnings, "framework_package_mismatch"), nullptr);
  }
  // Near case: neither interpreter sharing the folder is the one in use: a warning in both orders.
  for (bool first : {true, false}) {
    Snapshot s = shared_user_site(first);
    for (auto& e : s.python_envs) e.in_use = false;
    auto d = diagnose(s);
    EXPECT_EQ(find(d.causes, "framework_package_mismatch"), nullptr);
    EXPECT_NE(find(d.warnings, "framework_package_mismatch"), nullptr);
  }
}

}  // namespace
}  // namespace gpudoctor
