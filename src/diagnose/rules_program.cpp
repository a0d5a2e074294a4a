// Program layer: what `gpudoctor run` and `gpudoctor inspect` saw the program do (Snapshot::program):
// whether it used a GPU and how well, and when it did not, what in its environment or log says
// why. The lower layers' rules run first; a finding here is the root cause only when nothing
// below explains the verdict. Thresholds: kb/data/program.toml.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "diagnose/rule_context.hpp"
#include "diagnose/visible_devices.hpp"

namespace gpudoctor {

namespace {

std::string gib(std::uint64_t bytes) { return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1u << 30)); }

bool has_role(const Program& p, std::initializer_list<const char*> roles) {
  for (const auto& proc : p.processes)
    for (const auto& l : proc.libraries)
      for (const char* r : roles)
        if (l.role == r) return true;
  return false;
}

/// A GPU device file (/dev/nvidia0 ...), not the control nodes.
bool gpu_device_file(const std::string& path) {
  constexpr std::string_view prefix = "/dev/nvidia";
  if (path.rfind(prefix, 0) != 0 || path.size() == prefix.size()) return false;
  return std::all_of(path.begin() + static_cast<std::ptrdiff_t>(prefix.size()), path.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

const ProgramProcess* opened_gpu(const Program& p) {
  for (const auto& proc : p.processes)
    for (const auto& f : proc.device_files)
      if (gpu_device_file(f)) return &proc;
  return nullptr;
}

std::vector<std::string> frameworks_loaded(const Program& p) {
  std::vector<std::string> out;
  auto add = [&](const char* name) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
  };
  for (const auto& proc : p.processes)
    for (const auto& l : proc.libraries) {
      if (l.role == "torch" || l.role == "torch_cuda") add("torch");
      if (l.role == "tensorflow") add("tensorflow");
      if (l.role == "jax" || l.role == "jax_cuda") add("jax");
    }
  return out;
}

std::string process_name(const ProgramProcess& p) {
  std::string cmd = p.command.size() > 80 ? p.command.substr(0, 77) + "..." : p.command;
  return fmt::format("PID {} ({})", p.pid, cmd);
}

bool any_error(const std::vector<Finding>& found) {
  return std::any_of(found.begin(), found.end(), [](const Finding& f) { return f.severity == Severity::error; });
}

/// How many GPUs the program could see: NVML's GPUs after the program's CUDA_VISIBLE_DEVICES.
std::size_t visible_gpus(const RuleContext& ctx) {
  const auto& p = ctx.s.program;
  std::size_t total = p.gpus.size();
  auto it = p.env.find("CUDA_VISIBLE_DEVICES");
  if (it == p.env.end()) return total;
  VisibleDevicesInput in;
  in.value = it->second;
  in.device_count = static_cast<unsigned>(total);
  for (const auto& g : p.gpus) in.gpu_uuids.push_back(g.uuid);
  auto r = evaluate_visible_devices(in);
  return r.uncertain ? total : r.visible.size();
}

}  // namespace

void rule_program_environment(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& p = ctx.s.program;
  if (!p.watched) return;
  bool used = std::any_of(p.gpus.begin(), p.gpus.end(), [](const ProgramGpu& g) { return g.used; });
  if (used) return;
  auto found = [&](const char* cause) {
    return std::any_of(out.begin(), out.end(), [&](const Finding& f) { return f.cause == cause && f.severity == Severity::error; });
  };
  if (found("cuda_visible_devices_hides_gpu") || found("framework_env_forces_cpu")) return;  // gpudoctor's own environment said it
  const bool jax = has_role(p, {"jax", "jax_cuda"});
  for (const auto& proc : p.processes) {
    if (auto cvd = proc.env.find("CUDA_VISIBLE_DEVICES"); cvd != proc.env.end()) {
      VisibleDevicesInput in;
      in.value = cvd->second;
      if (!p.gpus.empty()) {
        in.device_count = static_cast<unsigned>(p.gpus.size());
        for (const auto& g : p.gpus) in.gpu_uuids.push_back(g.uuid);
      }
      auto r = evaluate_visible_devices(in);
      if (r.all_hidden) {
        Finding f;
        f.cause = "cuda_visible_devices_hides_gpu";
        f.layer = Layer::environment;
        f.title = "The program ran with CUDA_VISIBLE_DEVICES hiding every GPU from CUDA";
        f.evidence.push_back({fmt::format("/proc/{}/environ", proc.pid), "CUDA_VISIBLE_DEVICES=\"" + cvd->second + "\" in " + process_name(proc)});
        f.evidence.push_back({"CUDA's rules for the variable", r.explanation});
        f.fix.push_back(
            "Run it without the variable (unset CUDA_VISIBLE_DEVICES), or with valid GPU indexes "
            "(export CUDA_VISIBLE_DEVICES=0); find where it is set: the job script, ~/.bashrc, or the program "
            "itself (os.environ[\"CUDA_VISIBLE_DEVICES\"]).");
        out.push_back(std::move(f));
        return;
      }
    }
    // Variables that make a framework skip the GPU (environment.toml [[forces_cpu]]), where the
    // process loaded that framework.
    for (const auto& row : ctx.kb.env_forces_cpu()) {
      auto v = proc.env.find(row.variable);
      if (v == proc.env.end() || (row.framework == "jax" && !jax)) continue;
      std::vector<std::string> entries;
      std::string one;
      for (char c : v->second + ",") {
        if (c == ',') {
          if (!one.empty()) entries.push_back(one);
          one.clear();
        } else if (c != ' ' && c != '\t') {
          one += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
      }
      if (entries.empty()) continue;  // empty: the framework chooses for itself
      bool keeps_gpu = false;
      for (const auto& e : entries)
        for (const auto& g : row.gpu_values) keeps_gpu |= e == g;
      if (keeps_gpu) continue;
      Finding f;
      f.cause = "framework_env_forces_cpu";
      f.layer = Layer::environment;
      f.title = fmt::format("The program ran with {}=\"{}\": {}", row.variable, v->second, row.effect);
      f.evidence.push_back({fmt::format("/proc/{}/environ", proc.pid), fmt::format("{}=\"{}\" in {}", row.variable, v->second, process_name(proc))});
      f.fix.push_back(row.fix);
      out.push_back(std::move(f));
      return;
    }
  }
}

void rule_program_pid_namespace(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& p = ctx.s.program;
  if (!p.watched || p.watcher_pid_namespace.empty() || p.watcher_mount_namespace.empty()) return;
  if (std::any_of(p.gpus.begin(), p.gpus.end(), [](const ProgramGpu& g) { return g.used; })) return;
  for (const auto& proc : p.processes) {
    if (proc.pid_namespace.empty() || proc.pid_namespace == p.watcher_pid_namespace ||
        proc.mount_namespace != p.watcher_mount_namespace)
      continue;
    Finding f;
    f.cause = "other";
    f.layer = Layer::platform;
    f.severity = Severity::error;
    f.title = fmt::format(
        "{} runs in a PID namespace of its own but sees the /proc of gpudoctor's: CUDA fails to start "
        "there (error 304, \"OS call failed or operation not supported on this OS\")",
        process_name(proc));
    f.evidence.push_back({fmt::format("/proc/{}/ns/pid", proc.pid), fmt::format("{}; gpudoctor's is {}", proc.pid_namespace,
                                                                                p.watcher_pid_namespace)});
    f.evidence.push_back({fmt::format("/proc/{}/ns/mnt", proc.pid),
                          fmt::format("{}, gpudoctor's own: the /proc it sees belongs to another PID namespace", proc.mount_namespace)});
    if (proc.nspids.size() > 1)
      f.evidence.push_back({fmt::format("/proc/{}/status", proc.pid), fmt::format("NSpid: {}", fmt::join(proc.nspids, " "))});
    f.fix = ctx.kb.program_thresholds().pid_namespace_without_proc_fix;
    out.push_back(std::move(f));
    return;
  }
}

void rule_program_log(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& p = ctx.s.program;
  if (!p.watched) return;
  std::vector<Finding> found;
  for (const auto& e : p.log) {
    if (e.cause.empty() || e.cause == "healthy") continue;
    const auto* info = ctx.kb.cause(e.cause);
    if (info == nullptr) continue;
    auto it = std::find_if(found.begin(), found.end(), [&](const Finding& f) { return f.cause == e.cause; });
    if (it == found.end()) {
      Finding f;
      f.cause = e.cause;
      f.layer = info->layer ? *info->layer : Layer::benign;
      bool benign = info->layer == Layer::benign;  // causes.toml: a line that is harmless
      f.severity = benign ? Severity::info : e.severity == Severity::error ? Severity::error
                                                                           : Severity::warning;
      f.title = "The program's log: " + info->meaning;
      if (f.title.size() > 200) f.title = f.title.substr(0, f.title.rfind(' ', 197)) + "...";
      if (!benign) f.fix = ctx.kb.text_fix(e.cause);
      found.push_back(std::move(f));
      it = found.end() - 1;
    } else if (e.severity == Severity::error && it->severity == Severity::warning) {
      it->severity = Severity::error;
    }
    // A line the catalogue matched twice (TensorFlow's message and the loader's) is evidence once.
    Source line{fmt::format("{} line {} ({:.1f} s)", e.stream, e.line, e.t_s), e.text};
    bool seen = std::any_of(it->evidence.begin(), it->evidence.end(), [&](const Source& x) { return x.where == line.where; });
    if (!seen && it->evidence.size() < 4) it->evidence.push_back(std::move(line));
  }
  for (auto& f : found) out.push_back(std::move(f));
}

void rule_program_libraries(const RuleContext& ctx, std::vector<Finding>& out) {
  for (const auto& c : program_libraries(ctx)) {
    if (c.state != LibraryMatch::another_file) continue;
    Finding f;
    f.cause = "other";
    f.layer = Layer::libraries;
    f.severity = Severity::warning;
    f.title = fmt::format("{} loaded another {} than check predicted", c.framework, c.role);
    f.evidence.push_back({fmt::format("/proc/PID/maps of PID {}", fmt::join(c.pids, ", ")), c.loaded});
    f.evidence.push_back({"check's loader model", c.predicted});
    f.fix.push_back(
        "Compare LD_LIBRARY_PATH and LD_PRELOAD of the program with gpudoctor's (the program may change them), "
        "or report the difference to gpudoctor: its loader model missed it.");
    out.push_back(std::move(f));
  }
}

std::vector<LibraryComparison> program_libraries(const RuleContext& ctx) {
  const auto& s = ctx.s;
  std::vector<LibraryComparison> out;
  if (!s.program.watched) return out;
  auto cuda_role = [&](const std::string& role) {
    const auto& roles = ctx.kb.library_roles();
    return role != "cuda_driver" &&
           std::any_of(roles.begin(), roles.end(), [&](const kb::LibraryRole& r) { return r.role == role; });
  };
  for (const auto& proc : s.program.processes) {
    std::string fw;
    for (const auto& l : proc.libraries) {
      if (l.role == "torch" || l.role == "torch_cuda") fw = "torch";
      else if (l.role == "tensorflow") fw = "tensorflow";
      else if ((l.role == "jax" || l.role == "jax_cuda") && fw.empty()) fw = "jax";
    }
    // The framework installation whose files the process mapped.
    const FrameworkLibraries* model = nullptr;
    for (const auto& f : s.frameworks) {
      if (f.framework != fw) continue;
      bool inside = std::any_of(proc.libraries.begin(), proc.libraries.end(), [&](const MappedLibrary& l) {
        return !f.site_packages.empty() && l.path.rfind(f.site_packages, 0) == 0;
      });
      if (inside || model == nullptr) model = &f;
    }
    for (const auto& l : proc.libraries) {
      if (!cuda_role(l.role)) continue;
      auto it = std::find_if(out.begin(), out.end(), [&](const LibraryComparison& c) {
        return c.framework == fw && c.role == l.role && c.loaded == l.path;
      });
      if (it != out.end()) {
        if (std::find(it->pids.begin(), it->pids.end(), proc.pid) == it->pids.end()) it->pids.push_back(proc.pid);
        continue;
      }
      LibraryComparison c;
      c.framework = fw;
      c.role = l.role;
      c.loaded = l.path;
      c.pids.push_back(proc.pid);
      c.state = LibraryMatch::not_predicted;
      if (model != nullptr) {
        for (const auto& r : model->libraries) {
          if (r.role != l.role || !r.path.known()) continue;
          c.predicted = *r.path;
          c.state = *r.path == l.path ? LibraryMatch::as_predicted : LibraryMatch::another_file;
          if (c.state == LibraryMatch::as_predicted) break;
        }
      }
      out.push_back(std::move(c));
    }
  }
  // What the model predicted for a loaded framework that no process mapped (loaded on use only, or not at all).
  for (const auto& fw : frameworks_loaded(s.program)) {
    for (const auto& f : s.frameworks) {
      if (f.framework != fw) continue;
      for (const auto& r : f.libraries) {
        if (!r.path.known() || !cuda_role(r.role)) continue;
        bool seen = std::any_of(out.begin(), out.end(), [&](const LibraryComparison& c) { return c.framework == fw && c.role == r.role; });
        if (seen) continue;
        out.push_back({fw, r.role, *r.path, "", {}, LibraryMatch::not_loaded});
      }
      break;
    }
  }
  return out;
}

void rule_program_gpu_use(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  const auto& p = s.program;
  if (!p.watched) return;
  const auto& t = ctx.kb.program_thresholds();
  std::vector<const ProgramGpu*> used;
  for (const auto& g : p.gpus)
    if (g.used) used.push_back(&g);
  const bool too_short = p.duration_s < t.min_judge_s;

  if (!used.empty()) {
    // Others holding most of a GPU's memory while the program ran.
    for (const auto* g : used) {
      if (!g->others_peak_memory_bytes.known() || !g->memory_total_bytes.known() || *g->memory_total_bytes == 0) continue;
      double share = static_cast<double>(*g->others_peak_memory_bytes) / static_cast<double>(*g->memory_total_bytes);
      if (share < 0.5) continue;
      Finding f;
      f.cause = "gpu_in_use_by_other_process";
      f.layer = Layer::program;
      f.severity = Severity::warning;
      f.title = fmt::format("Other processes held {} of GPU {}'s {} while the program ran", gib(*g->others_peak_memory_bytes),
                            g->index, gib(*g->memory_total_bytes));
      f.evidence.push_back({fmt::format("nvmlDeviceGetComputeRunningProcesses_v3({})", g->index),
                            fmt::format("other PIDs: {}", fmt::join(g->other_pids, ", "))});
      f.fix = ctx.kb.text_fix("gpu_in_use_by_other_process");
      out.push_back(std::move(f));
    }
    if (too_short) return;
    for (const auto* g : used) {
      // Busy while it trains: the mean utilization from its first use of the GPU (the imports before it do not count).
      if (!g->mean_utilization_percent.known() || !p.cpu_mean_percent.known()) continue;
      if (*g->mean_utilization_percent / 100.0 >= t.busy_share_starved || *p.cpu_mean_percent < t.cpu_busy_percent) continue;
      Finding f;
      f.cause = "input_pipeline_bound";
      f.layer = Layer::program;
      f.title = fmt::format(
          "GPU {} had work {:.0f}% of the time once the program used it, while the program's CPU use "
          "averaged {:.0f}% of a core: the GPU waits for its input",
          g->index, *g->mean_utilization_percent,
          *p.cpu_mean_percent);
      f.evidence.push_back({fmt::format("GPU {} ({})", g->index, g->name),
                            fmt::format("busy {:.0f}% of {:.0f} s, mean utilization {}, peak {} ({})", g->busy_share.value_or(0) * 100,
                                        p.duration_s,
                                        g->mean_utilization_percent.known() ? fmt::format("{:.0f}%", *g->mean_utilization_percent) : "?",
                                        g->peak_utilization_percent.known() ? fmt::format("{}%", *g->peak_utilization_percent) : "?",
                                        g->utilization_basis)});
      f.evidence.push_back({"/proc/PID/stat of the program's processes",
                            fmt::format("CPU {:.0f}% of one core on average over {} process(es)", *p.cpu_mean_percent, p.processes.size())});
      f.fix.push_back(
          "PyTorch: DataLoader(num_workers=N, pin_memory=True, persistent_workers=True, prefetch_factor=...) and "
          "move decoding/augmentation off the training loop");
      f.fix.push_back("TensorFlow: dataset.map(..., num_parallel_calls=tf.data.AUTOTUNE).cache().prefetch(tf.data.AUTOTUNE)");
      f.fix.push_back("Measure it: the framework's profiler (torch.profiler, TensorBoard's input-pipeline analysis)");
      out.push_back(std::move(f));
    }
    std::size_t visible = visible_gpus(ctx);
    if (used.size() == 1 && visible > 1 && p.duration_s >= t.one_of_many_min_s) {
      Finding f;
      f.cause = "program_uses_one_of_many_gpus";
      f.layer = Layer::program;
      f.title = fmt::format("The program used GPU {} only, of {} visible GPUs, for {:.0f} s", used.front()->index, visible, p.duration_s);
      std::string idle;
      for (const auto& g : p.gpus)
        if (!g.used) idle += (idle.empty() ? "" : ", ") + std::to_string(g.index);
      f.evidence.push_back({"nvmlDeviceGetComputeRunningProcesses_v3", "the program's processes on GPU " +
                                                                           std::to_string(used.front()->index) + " only; idle: GPU " + idle});
      auto fws = frameworks_loaded(p);
      auto has = [&](const char* n) { return std::find(fws.begin(), fws.end(), n) != fws.end(); };
      if (has("torch") || fws.empty())
        f.fix.push_back("PyTorch: DistributedDataParallel, started with torchrun --nproc_per_node=" + std::to_string(visible) + " train.py");
      if (has("tensorflow") || fws.empty())
        f.fix.push_back("TensorFlow: build and compile the model inside tf.distribute.MirroredStrategy().scope()");
      if (has("jax") || fws.empty())
        f.fix.push_back("JAX: shard the batch over jax.devices() (jax.sharding.NamedSharding with a Mesh, or pmap)");
      out.push_back(std::move(f));
    }
    return;
  }

  // The program never showed up in a GPU's process list.
  if (p.per_process == PerProcess::not_visible) return;  // not judged idle: its PIDs cannot be seen
  if (any_error(out)) return;                            // a lower layer, the environment or the log says why
  const auto* opened = opened_gpu(p);
  bool libcuda = has_role(p, {"cuda_driver"});
  if (p.per_process == PerProcess::no_nvml && opened != nullptr) return;  // no lists to judge by, and it did open a GPU
  if (p.gpus.empty() && p.processes.empty()) return;                      // nothing watched to judge by
  auto fws = frameworks_loaded(p);
  Finding f;
  f.layer = Layer::program;
  if (!fws.empty()) {
    f.cause = "program_forces_cpu";
    f.title = fmt::format("The program loaded {} but never created a CUDA context on a GPU: its work ran on the CPU", fmt::join(fws, ", "));
    f.fix = ctx.kb.text_fix("program_forces_cpu");
    f.fix.push_back(
        "PyTorch: move the model and every batch to the GPU (model.to('cuda'), x = x.to('cuda')); "
        "TensorFlow and JAX place work on the GPU by themselves when they see one");
  } else {
    f.cause = "other";
    f.title = "The program never used a GPU: no process of it loaded TensorFlow, PyTorch or JAX or created a CUDA context";
    f.fix.push_back("Check that the command runs the program you meant (its processes are listed in the report)");
  }
  f.evidence.push_back({"/proc/PID/maps", libcuda ? "libcuda.so.1 was loaded" : "no process mapped libcuda.so.1"});
  f.evidence.push_back({"/proc/PID/fd", opened ? "GPU device files opened by " + process_name(*opened) : "no process opened /dev/nvidia0 or another GPU"});
  if (p.per_process != PerProcess::no_nvml)
    f.evidence.push_back({"nvmlDeviceGetComputeRunningProcesses_v3",
                          fmt::format("none of the program's {} process(es) in any GPU's list over {:.1f} s", p.processes.size(), p.duration_s)});
  out.push_back(std::move(f));
}

ProgramVerdict program_verdict(const RuleContext& ctx, const std::vector<Finding>& causes) {
  const auto& p = ctx.s.program;
  if (!p.watched) return ProgramVerdict::none;
  for (const auto& c : causes) {
    if (c.cause == "input_pipeline_bound") return ProgramVerdict::starved;
    if (c.cause == "program_uses_one_of_many_gpus") return ProgramVerdict::one_of_many;
  }
  if (std::any_of(p.gpus.begin(), p.gpus.end(), [](const ProgramGpu& g) { return g.used; })) return ProgramVerdict::used_gpu;
  if (p.per_process == PerProcess::not_visible) return ProgramVerdict::not_visible;
  if (p.per_process == PerProcess::no_nvml && opened_gpu(p) != nullptr) return ProgramVerdict::unknown;
  return ProgramVerdict::not_used;
}

std::string program_summary(const RuleContext& ctx) {
  const auto& p = ctx.s.program;
  if (!p.watched) return "";
  const auto& t = ctx.kb.program_thresholds();
  std::string out;
  for (const auto& g : p.gpus) {
    if (!g.used) continue;
    out += fmt::format("{}GPU {} ({}): peak {}", out.empty() ? "used " : "; ", g.index, g.name,
                       g.peak_memory_bytes.known() ? gib(*g.peak_memory_bytes) : "? GiB");
    if (g.mean_utilization_percent.known()) out += fmt::format(", mean {:.0f}%", *g.mean_utilization_percent);
    if (g.peak_utilization_percent.known()) out += fmt::format(", peak {}%", *g.peak_utilization_percent);
    if (g.busy_share.known()) out += fmt::format(", busy {:.0f}% of the time", *g.busy_share * 100);
  }
  if (out.empty()) {
    if (p.per_process == PerProcess::not_visible) {
      out = "per-process figures are not visible from this container";
      if (const auto* o = opened_gpu(p)) out += fmt::format("; {} opened the GPU", process_name(*o));
    } else if (p.per_process == PerProcess::no_nvml) {
      out = "the GPUs could not be watched (no NVML)";
      if (const auto* o = opened_gpu(p)) out += fmt::format("; {} opened the GPU", process_name(*o));
    } else {
      out = "never used a GPU";
    }
  }
  out += fmt::format(" (ran {:.1f} s{})", p.duration_s,
                     p.duration_s < t.min_judge_s ? ", too short to judge how well it used the GPU" : "");
  return out;
}

}  // namespace gpudoctor
