// The program layer's rules (rules_program.cpp) on hand-built snapshots of watched programs:
// each verdict beside the near case that must not give it.
#include <gtest/gtest.h>

#include <algorithm>

#include "diagnose/diagnose.hpp"
#include "unit/gpu_host_snapshot.hpp"

namespace gpudoctor {
namespace {

Snapshot gpu_host() { return fixtures::gpu_host_snapshot(fixtures::k_h200); }

ProgramGpu gpu(unsigned index, bool used, double busy, unsigned mean) {
  ProgramGpu g;
  g.index = index;
  g.name = "NVIDIA H200";
  g.uuid = "GPU-" + std::to_string(index);
  g.memory_total_bytes = 150754820096ull;
  g.used = used;
  if (used) g.pids = {4242};
  g.samples = 600;
  g.busy_share = busy;
  g.mean_utilization_percent = static_cast<double>(mean);
  g.peak_utilization_percent = mean + 5;
  g.peak_memory_bytes = 10ull << 30;
  g.others_peak_memory_bytes = 0;
  g.utilization_basis = "per process (nvmlDeviceGetProcessUtilization)";
  return g;
}

Snapshot watched(double duration_s, double cpu_percent, std::vector<ProgramGpu> gpus, std::vector<std::string> roles = {"torch", "cuda_driver"}) {
  Snapshot s = gpu_host();
  auto& p = s.program;
  p.watched = true;
  p.mode = "run";
  p.command = {"python", "train.py"};
  p.pid = 4242;
  p.duration_s = duration_s;
  p.cpu_mean_percent = cpu_percent;
  p.per_process = PerProcess::pid;
  ProgramProcess proc;
  proc.pid = 4242;
  proc.command = "python train.py";
  for (const auto& r : roles) proc.libraries.push_back({r, "/opt/venv/lib/python3.12/site-packages/x/" + r + ".so", 1.0});
  p.processes.push_back(proc);
  p.gpus = std::move(gpus);
  return s;
}

std::vector<std::string> ids(const std::vector<Finding>& f) {
  std::vector<std::string> out;
  for (const auto& x : f) out.push_back(x.cause);
  return out;
}
bool has(const std::vector<Finding>& f, const std::string& id) {
  auto v = ids(f);
  return std::find(v.begin(), v.end(), id) != v.end();
}

TEST(ProgramRules, UsedTheGpuWell) {
  auto d = diagnose(watched(120, 100, {gpu(0, true, 0.95, 88)}));
  EXPECT_TRUE(d.healthy) << ids(d.causes).front();
  EXPECT_EQ(to_string(d.program_verdict), "used_gpu");
  EXPECT_EQ(d.causes.front().layer, Layer::program);
  EXPECT_NE(d.program_summary.find("used GPU 0 (NVIDIA H200): peak 10.0 GiB, mean 88%, peak 93%, busy 95% of the time"),
            std::string::npos)
      << d.program_summary;
}

TEST(ProgramRules, StarvedGpuWithBusyCpuIsInputPipelineBound) {
  auto d = diagnose(watched(120, 180, {gpu(0, true, 0.12, 9)}));
  ASSERT_FALSE(d.healthy);
  EXPECT_EQ(d.causes.front().cause, "input_pipeline_bound");
  EXPECT_EQ(to_string(d.program_verdict), "starved");
  // Near cases: the GPU busy enough; the CPU idle too (the program simply waits, e.g. on I/O or a lock);
  // a run too short to judge.
  EXPECT_TRUE(diagnose(watched(120, 180, {gpu(0, true, 0.45, 40)})).healthy);
  EXPECT_TRUE(diagnose(watched(120, 20, {gpu(0, true, 0.12, 9)})).healthy);
  // Busy little of the whole run (a long start before it) but fully once it trains: not starved.
  EXPECT_TRUE(diagnose(watched(120, 180, {gpu(0, true, 0.12, 95)})).healthy);
  auto short_run = diagnose(watched(4, 180, {gpu(0, true, 0.12, 9)}));
  EXPECT_TRUE(short_run.healthy);
  EXPECT_NE(short_run.program_summary.find("too short to judge"), std::string::npos);
}

TEST(ProgramRules, OneOfSeveralGpusForMoreThanAMinute) {
  auto d = diagnose(watched(90, 100, {gpu(0, true, 0.9, 85), gpu(1, false, 0, 0)}));
  ASSERT_FALSE(d.healthy);
  EXPECT_EQ(d.causes.front().cause, "program_uses_one_of_many_gpus");
  EXPECT_NE(d.causes.front().fix.front().find("torchrun --nproc_per_node=2"), std::string::npos);
  EXPECT_TRUE(diagnose(watched(30, 100, {gpu(0, true, 0.9, 85), gpu(1, false, 0, 0)})).healthy);
  auto pinned = watched(90, 100, {gpu(0, true, 0.9, 85), gpu(1, false, 0, 0)});
  pinned.program.env["CUDA_VISIBLE_DEVICES"] = "0";  // the user gave it one GPU on purpose
  EXPECT_TRUE(diagnose(pinned).healthy);
}

TEST(ProgramRules, NeverUsedWithTorchLoadedIsProgramForcesCpu) {
  auto d = diagnose(watched(30, 100, {gpu(0, false, 0, 0)}));
  ASSERT_FALSE(d.healthy);
  EXPECT_EQ(d.causes.front().cause, "program_forces_cpu");
  EXPECT_EQ(to_string(d.program_verdict), "not_used");
  // A lower layer explains it: no GPU on this machine is the root cause, not the program.
  auto no_gpu = watched(30, 100, {});
  no_gpu.pci_gpus.clear();
  no_gpu.modules.modules.clear();
  no_gpu.device_nodes.clear();
  no_gpu.driver_files.libraries.clear();
  no_gpu.program.per_process = PerProcess::no_nvml;
  auto n = diagnose(no_gpu);
  EXPECT_EQ(n.causes.front().cause, "no_nvidia_gpu");
  EXPECT_FALSE(has(n.causes, "program_forces_cpu"));
}

TEST(ProgramRules, EnvironmentOfTheProgramsProcessesHidesTheGpu) {
  auto s = watched(5, 100, {gpu(0, false, 0, 0)});
  s.program.processes[0].env["CUDA_VISIBLE_DEVICES"] = "-1";
  auto d = diagnose(s);
  EXPECT_EQ(d.causes.front().cause, "cuda_visible_devices_hides_gpu");
  EXPECT_EQ(d.causes.front().layer, Layer::environment);
  EXPECT_FALSE(has(d.causes, "program_forces_cpu"));
  auto jax = watched(5, 100, {gpu(0, false, 0, 0)}, {"jax"});
  jax.program.processes[0].env["JAX_PLATFORMS"] = "cpu";
  EXPECT_EQ(diagnose(jax).causes.front().cause, "framework_env_forces_cpu");
  // Near cases: a valid index, and JAX_PLATFORMS naming cuda.
  auto ok = watched(5, 100, {gpu(0, false, 0, 0)});
  ok.program.processes[0].env["CUDA_VISIBLE_DEVICES"] = "0";
  EXPECT_EQ(diagnose(ok).causes.front().cause, "program_forces_cpu");
  jax.program.processes[0].env["JAX_PLATFORMS"] = "cuda,cpu";
  EXPECT_FALSE(has(diagnose(jax).causes, "framework_env_forces_cpu"));
}

TEST(ProgramRules, PerProcessFiguresNotVisibleAreNotJudgedIdle) {
  auto s = watched(30, 100, {gpu(0, false, 0, 0)});
  s.program.per_process = PerProcess::not_visible;
  auto d = diagnose(s);
  EXPECT_TRUE(d.healthy);
  EXPECT_EQ(to_string(d.program_verdict), "not_visible");
  EXPECT_NE(d.program_summary.find("per-process figures are not visible from this container"), std::string::npos);
}

// `unshare --pid --fork` without --mount-proc (seen on the lent H200): the program's process is in
// a PID namespace of its own while its /proc is gpudoctor's; torch fails with error 304 there.
TEST(ProgramRules, APidNamespaceWithoutItsOwnProcIsTheRootCause) {
  auto s = watched(20, 100, {gpu(0, false, 0, 0)});
  s.program.watcher_pid_namespace = "pid:[4026531836]";
  s.program.watcher_mount_namespace = "mnt:[4026531841]";
  auto& proc = s.program.processes[0];
  proc.nspids = {4242, 1};
  proc.pid_namespace = "pid:[4026532210]";
  proc.mount_namespace = "mnt:[4026531841]";
  // Its log line, which the catalogue calls `other` too: a finding of its own, not merged into it.
  LogEvent e;
  e.stream = "stderr";
  e.line = 1;
  e.text =
      "UserWarning: CUDA initialization: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before "
      "calling NumCudaDevices() that might have already set an error? Error 304: OS call failed or operation not supported on this OS";
  e.message = "torch_unexpected_error_getdevicecount";
  e.cause = "other";
  e.severity = Severity::error;
  s.program.log.push_back(e);
  auto d = diagnose(s);
  ASSERT_FALSE(d.causes.empty());
  EXPECT_EQ(d.causes.front().cause, "other");
  EXPECT_EQ(d.causes.front().layer, Layer::platform);
  EXPECT_NE(d.causes.front().title.find("PID namespace of its own"), std::string::npos) << d.causes.front().title;
  EXPECT_EQ(d.causes.front().title.find("The program's log"), std::string::npos) << d.causes.front().title;
  EXPECT_EQ(std::count_if(d.causes.begin(), d.causes.end(), [](const Finding& f) { return f.cause == "other"; }), 2);
  EXPECT_EQ(d.causes.front().evidence.back().said, "NSpid: 4242 1");
  EXPECT_FALSE(d.causes.front().fix.empty());
  EXPECT_FALSE(has(d.causes, "program_forces_cpu"));
  // Near cases: its own /proc (another mount namespace, as --mount-proc and containers give), the
  // watcher's own namespace, and a program that used the GPU all the same (without the log line).
  s.program.log.clear();
  auto own_proc = s;
  own_proc.program.processes[0].mount_namespace = "mnt:[4026532209]";
  EXPECT_EQ(diagnose(own_proc).causes.front().cause, "program_forces_cpu");
  auto same = s;
  same.program.processes[0].pid_namespace = "pid:[4026531836]";
  EXPECT_EQ(diagnose(same).causes.front().cause, "program_forces_cpu");
  auto used = s;
  used.program.gpus = {gpu(0, true, 0.9, 90)};
  EXPECT_TRUE(diagnose(used).healthy);
}

TEST(ProgramRules, TheLogsCausesJoinTheVerdict) {
  auto s = watched(5, 100, {gpu(0, false, 0, 0)}, {"tensorflow"});
  LogEvent e;
  e.stream = "stderr";
  e.line = 3;
  e.text = "Could not load dynamic library 'libcudnn.so.8'";
  e.message = "tf_dso_load_failed";
  e.cause = "cudnn_missing";
  e.severity = Severity::error;
  s.program.log.push_back(e);
  auto d = diagnose(s);
  EXPECT_EQ(d.causes.front().cause, "cudnn_missing");
  EXPECT_EQ(d.causes.front().evidence.front().where.rfind("stderr line 3", 0), 0U);
  EXPECT_FALSE(has(d.causes, "program_forces_cpu"));
}

// A harmless line (a cause of the benign layer in causes.toml) is a note without a fix, never a
// problem; the near case, a line of a real cause at the same severity, stays a warning.
TEST(ProgramRules, AHarmlessLogLineIsANoteByItsCausesLayer) {
  auto with_line = [](const std::string& cause) {
    auto s = watched(600, 20, {gpu(0, true, 0.9, 85)});
    LogEvent e;
    e.stream = "stderr";
    e.line = 7;
    e.text = "W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT Warning: Could not find TensorRT";
    e.cause = cause;
    e.severity = Severity::warning;
    s.program.log.push_back(e);
    return diagnose(s);
  };
  auto find = [](const Diagnosis& d, const std::string& id) -> const Finding* {
    for (const auto* list : {&d.causes, &d.warnings})
      for (const auto& f : *list)
        if (f.cause == id) return &f;
    return nullptr;
  };
  auto harmless = with_line("tensorrt_missing_harmless");
  EXPECT_TRUE(harmless.healthy);
  const Finding* note = find(harmless, "tensorrt_missing_harmless");
  ASSERT_NE(note, nullptr);
  EXPECT_EQ(note->severity, Severity::info);
  EXPECT_TRUE(note->fix.empty());
  auto real = with_line("cudnn_missing");
  const Finding* warning = find(real, "cudnn_missing");
  ASSERT_NE(warning, nullptr);
  EXPECT_EQ(warning->severity, Severity::warning);
  EXPECT_FALSE(warning->fix.empty());
}

TEST(ProgramRules, LibrariesLoadedAgainstPredicted) {
  auto s = watched(30, 100, {gpu(0, true, 0.9, 80)}, {"torch"});
  const std::string sp = "/opt/venv/lib/python3.12/site-packages";
  FrameworkLibraries fw;
  fw.framework = "torch";
  fw.site_packages = sp;
  ResolvedLibrary cudnn;
  cudnn.role = "cudnn";
  cudnn.path = sp + "/nvidia/cudnn/lib/libcudnn.so.9";
  ResolvedLibrary cublas;
  cublas.role = "cublas";
  cublas.path = sp + "/nvidia/cublas/lib/libcublas.so.13";
  fw.libraries = {cudnn, cublas};
  s.frameworks.push_back(fw);
  s.program.processes[0].libraries.push_back({"cudnn", sp + "/nvidia/cudnn/lib/libcudnn.so.9", 2.0});
  s.program.processes[0].libraries.push_back({"cublas", "/usr/local/cuda-13.0/lib64/libcublas.so.13.0.2.14", 2.0});
  auto d = diagnose(s);
  std::map<std::string, std::string> state;
  for (const auto& c : d.program_libraries) state[c.role] = to_string(c.state);
  EXPECT_EQ(state["cudnn"], "as predicted");
  EXPECT_EQ(state["cublas"], "another file");
  auto w = std::find_if(d.warnings.begin(), d.warnings.end(), [](const Finding& f) { return f.layer == Layer::libraries; });
  ASSERT_NE(w, d.warnings.end());
  EXPECT_EQ(w->cause, "other");
  EXPECT_TRUE(d.healthy);  // the program used the GPU: a difference is a warning
}

}  // namespace
}  // namespace gpudoctor
