// Environment layer: the variables and GPU modes that keep a process off a working GPU.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>

#include "diagnose/rule_context.hpp"
#include "diagnose/visible_devices.hpp"

namespace gpudoctor {

void rule_visible_devices(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  const std::string* cvd = s.env_var("CUDA_VISIBLE_DEVICES");
  if (cvd == nullptr) return;
  VisibleDevicesInput in;
  in.value = *cvd;
  if (ctx.nvml_init_ok() && s.driver.nvml.device_count.known()) {
    in.device_count = *s.driver.nvml.device_count;
    for (const auto& d : s.driver.nvml.devices) {
      in.gpu_uuids.push_back(d.uuid.value_or(""));
      for (const auto& m : d.mig_devices) in.mig_uuids.push_back(m.uuid);
    }
  } else if (!s.nvidia_proc.gpus.empty()) {
    in.device_count = static_cast<unsigned>(s.nvidia_proc.gpus.size());
    for (const auto& g : s.nvidia_proc.gpus) in.gpu_uuids.push_back(g.uuid.value_or(""));
  }
  auto r = evaluate_visible_devices(in);
  bool cuda_says_none = ctx.cuda_init_is("no_device") && ctx.nvml_device_count() > 0;
  // An invalid last entry ("0,-1") hides nothing; one before other entries hides those.
  bool hides_some = r.first_invalid && !r.ignored.empty();
  if (!r.all_hidden && !hides_some && !cuda_says_none) return;

  Finding f;
  f.cause = "cuda_visible_devices_hides_gpu";
  f.layer = Layer::environment;
  f.severity = (r.all_hidden || cuda_says_none) ? Severity::error : Severity::warning;
  f.title = r.all_hidden || cuda_says_none ? "CUDA_VISIBLE_DEVICES hides every GPU from CUDA"
                                           : "CUDA_VISIBLE_DEVICES has an invalid entry that hides the GPUs after it";
  f.evidence.push_back({"env CUDA_VISIBLE_DEVICES", "\"" + *cvd + "\""});
  f.evidence.push_back({"CUDA's rules for the variable", r.explanation});
  if (!r.ignored.empty()) {
    f.evidence.push_back({"ignored entries", fmt::format("{}", fmt::join(r.ignored, ","))});
  }
  if (ctx.cuda_init_code()) f.evidence.push_back(ctx.cuda_init_evidence());
  if (ctx.nvml_init_ok()) f.evidence.push_back({"nvmlDeviceGetCount_v2", fmt::format("{} GPU(s) on this host (NVML ignores CUDA_VISIBLE_DEVICES)", ctx.nvml_device_count())});
  std::vector<unsigned> indexes;
  for (unsigned i = 0; i < in.device_count.value_or(0); ++i) indexes.push_back(i);
  std::string ids = fmt::format("{}", fmt::join(indexes, ","));
  f.fix.push_back("unset CUDA_VISIBLE_DEVICES   (every GPU visible)");
  if (!ids.empty()) f.fix.push_back("or list valid GPUs: export CUDA_VISIBLE_DEVICES=" + ids + "   (indexes, or GPU-<uuid> from nvidia-smi -L)");
  f.fix.push_back(
      "Find where it is set: grep -n CUDA_VISIBLE_DEVICES ~/.bashrc ~/.profile /etc/environment your job "
      "script, and in the program itself (os.environ[\"CUDA_VISIBLE_DEVICES\"] = \"-1\" is a common way to "
      "force the CPU).");
  out.push_back(std::move(f));
}

void rule_mig_compute_mode(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& devices = ctx.s.driver.nvml.devices;
  if (devices.empty()) return;
  std::vector<std::string> blocked;
  size_t blocked_gpus = 0;  // a GPU with two reasons is still one GPU
  Finding f;
  f.cause = "mig_or_compute_mode";
  f.layer = Layer::environment;
  for (const auto& d : devices) {
    std::string name = fmt::format("GPU {} ({})", d.index, d.name.value_or("?"));
    size_t reasons_before = blocked.size();
    if (d.compute_mode.is(2)) {
      blocked.push_back(name + " is in compute mode Prohibited");
      f.evidence.push_back({fmt::format("nvmlDeviceGetComputeMode({})", d.index), "NVML_COMPUTEMODE_PROHIBITED (2): no process may create a CUDA context"});
      f.fix.push_back(fmt::format("An administrator can allow CUDA again: sudo nvidia-smi -i {} -c DEFAULT", d.index));
    } else if (d.compute_mode.is(3) || d.compute_mode.is(1)) {
      std::vector<std::string> holders;
      for (const auto& p : d.processes)
        if (p.kind == ProcessKind::compute) holders.push_back(std::to_string(p.pid));
      if (!holders.empty()) {
        std::string pids = fmt::format("{}", fmt::join(holders, ", "));
        blocked.push_back(name + " is in exclusive-process mode and already used by PID " + pids);
        // nvml.h: 1 is NVML_COMPUTEMODE_EXCLUSIVE_THREAD (deprecated), 3 NVML_COMPUTEMODE_EXCLUSIVE_PROCESS.
        f.evidence.push_back({fmt::format("nvmlDeviceGetComputeMode({})", d.index),
                              d.compute_mode.is(1) ? "NVML_COMPUTEMODE_EXCLUSIVE_THREAD (1)" : "NVML_COMPUTEMODE_EXCLUSIVE_PROCESS (3)"});
        f.evidence.push_back({fmt::format("nvmlDeviceGetComputeRunningProcesses_v3({})", d.index), "PID " + pids});
        f.fix.push_back("Wait for PID " + pids +
                        " to finish (or stop it), or use another GPU; an administrator can "
                        "share the GPU: sudo nvidia-smi -i " +
                        std::to_string(d.index) + " -c DEFAULT");
      }
    }
    if (d.mig_current.is(1) && d.mig_devices.empty()) {
      blocked.push_back(name + " has MIG enabled but no MIG instance");
      f.evidence.push_back({fmt::format("nvmlDeviceGetMigMode({})", d.index), "current: enabled; no MIG device exists"});
      f.fix.push_back(fmt::format(
          "Create instances (for example sudo nvidia-smi mig -i {} -cgi 1g.10gb -C; list "
          "profiles with nvidia-smi mig -lgip), or turn MIG off: sudo nvidia-smi -i {} -mig 0",
          d.index, d.index));
    }
    if (blocked.size() > reasons_before) ++blocked_gpus;
  }
  if (blocked.empty()) return;
  f.severity = blocked_gpus >= devices.size() ? Severity::error : Severity::warning;
  f.title = blocked.front();
  for (size_t i = 1; i < blocked.size(); ++i) f.title += "; " + blocked[i];
  out.push_back(std::move(f));
}

namespace {

std::vector<std::string> platform_list(std::string_view value) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= value.size() && out.size() < 32) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string one;
    for (char c : value.substr(pos, comma - pos))
      if (c != ' ' && c != '\t') one += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!one.empty()) out.push_back(one);
    pos = comma + 1;
  }
  return out;
}

}  // namespace

void rule_env_forces_cpu(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  for (const auto& row : ctx.kb.env_forces_cpu()) {
    const std::string* value = s.env_var(row.variable);
    if (value == nullptr) continue;
    auto platforms = platform_list(*value);
    if (platforms.empty()) continue;  // empty: the framework chooses for itself
    bool keeps_gpu = false;
    for (const auto& p : platforms)
      for (const auto& g : row.gpu_values) keeps_gpu |= p == g;
    if (keeps_gpu) continue;
    // Only where the framework is there to be misled; the one in use counts most.
    const FrameworkInstall* install = nullptr;
    for (const auto& f : s.framework_installs)
      if (f.framework == row.framework && (install == nullptr || (f.environment_in_use && !install->environment_in_use)))
        install = &f;
    if (install == nullptr) continue;
    bool asked = s.requested_frameworks.empty();
    for (const auto& r : s.requested_frameworks) asked |= r == row.framework;
    Finding f;
    f.cause = "framework_env_forces_cpu";
    f.layer = Layer::environment;
    // A cause when the GPU is there and this framework is what the user runs; otherwise a warning
    // (no GPU, or a CPU-only build: a lower layer already explains why it would not use one).
    bool gpu_build = install->cuda_build.value_or(true);
    f.severity = asked && ctx.gpu_seen() && gpu_build && install->environment_in_use ? Severity::error : Severity::warning;
    f.title = fmt::format("{}={} keeps {} off the GPU: {}", row.variable, *value, row.framework, row.effect);
    f.evidence.push_back({"env " + row.variable, "\"" + *value + "\""});
    f.evidence.push_back({install->site_packages, fmt::format("{} {} installed{}", install->distribution,
                                                              install->version.value_or("?"),
                                                              install->environment_in_use ? " in the environment in use" : "")});
    if (ctx.nvml_init_ok())
      f.evidence.push_back({"nvmlDeviceGetCount_v2", fmt::format("{} GPU(s) on this host", ctx.nvml_device_count())});
    f.fix.push_back(row.fix);
    f.fix.push_back(fmt::format("Find where it is set: grep -n {} ~/.bashrc ~/.profile /etc/environment your job script", row.variable));
    out.push_back(std::move(f));
  }
}

// GPUs that other processes already hold (NVML's process lists and memory figures, read by check):
// a warning when they hold a large share, a cause when too little is left for a framework to start.
void rule_gpu_held_by_others(const RuleContext& ctx, std::vector<Finding>& out) {
  if (!ctx.nvml_init_ok()) return;
  if (!ctx.s.compute.gpus.empty()) return;  // the probe measured the GPUs under load: rules_probe judges them
  const auto& th = ctx.kb.probe_thresholds();
  const auto& devices = ctx.s.driver.nvml.devices;
  size_t starved = 0, seen = 0;
  Finding f;
  f.cause = "gpu_in_use_by_other_process";
  f.layer = Layer::program;
  std::vector<std::string> titles;
  for (const auto& d : devices) {
    if (!d.memory_total_bytes.known() || *d.memory_total_bytes == 0) continue;
    ++seen;
    std::uint64_t held = 0;
    std::string pids;
    for (const auto& p : d.processes) {
      if (p.kind != ProcessKind::compute) continue;
      held += p.used_memory_bytes.value_or(0);
      pids += (pids.empty() ? "" : ", ") + std::to_string(p.pid);
    }
    if (pids.empty()) continue;
    // Only other processes are on the GPU while check runs (it holds no context itself).
    bool busy = d.utilization_percent.known() && *d.utilization_percent >= th.busy_by_others_percent;
    double total = static_cast<double>(*d.memory_total_bytes);
    double free_gib = d.memory_free_bytes.known() ? static_cast<double>(*d.memory_free_bytes) / 1073741824.0
                                                  : (total - static_cast<double>(held)) / 1073741824.0;
    bool low = free_gib < th.min_free_to_start_gib;
    if (!low && !busy && static_cast<double>(held) <= th.memory_held_fraction * total) continue;
    if (low) ++starved;
    const bool one = pids.find(',') == std::string::npos;
    titles.push_back(fmt::format("GPU {} ({}): PID {} hold{} {:.1f} of {:.1f} GiB, {:.1f} GiB free{}", d.index,
                                 d.name.value_or("?"), pids, one ? "s" : "",
                                 static_cast<double>(held) / 1073741824.0, total / 1073741824.0, free_gib,
                                 busy ? fmt::format(", and keep{} it {}% busy", one ? "s" : "", *d.utilization_percent) : ""));
    for (const auto& p : d.processes)
      if (p.kind == ProcessKind::compute)
        f.evidence.push_back({fmt::format("nvmlDeviceGetComputeRunningProcesses_v3({})", d.index),
                              p.used_memory_bytes.known()
                                  ? fmt::format("pid {} holds {:.1f} GiB", p.pid, static_cast<double>(*p.used_memory_bytes) / 1073741824.0)
                                  : fmt::format("pid {} (its memory is not reported here)", p.pid)});
    f.evidence.push_back({fmt::format("nvmlDeviceGetMemoryInfo({})", d.index),
                          fmt::format("{:.1f} GiB free of {:.1f} GiB", free_gib, total / 1073741824.0)});
    if (d.utilization_percent.known())
      f.evidence.push_back({fmt::format("nvmlDeviceGetUtilizationRates({})", d.index),
                            fmt::format("a kernel ran {}% of the last sample period", *d.utilization_percent)});
    if (f.fix.empty())
      f.fix.push_back("See who holds it: nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv");
    f.fix.push_back(fmt::format(
        "Wait for PID {} to finish (or stop it if it is yours: kill {}), or choose a free GPU "
        "with CUDA_VISIBLE_DEVICES",
        pids, pids.find(',') == std::string::npos ? pids : "<pid>"));
  }
  if (titles.empty()) return;
  // A cause only when every GPU is too full to start on; a warning while another GPU is free enough.
  f.severity = starved > 0 && starved >= seen ? Severity::error : Severity::warning;
  f.title = titles.front();
  for (size_t i = 1; i < titles.size(); ++i) f.title += "; " + titles[i];
  out.push_back(std::move(f));
}

}  // namespace gpudoctor
