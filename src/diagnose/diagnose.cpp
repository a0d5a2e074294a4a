#include "diagnose/diagnose.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "core/version.hpp"
#include "diagnose/rule_context.hpp"

namespace gpudoctor {

namespace {

constexpr RuleEntry k_rules[] = {
    {"no_nvidia_gpu", rule_no_nvidia_gpu, "no_nvidia_gpu"},
    {"gpu_bad_state", rule_gpu_bad_state, "gpu_in_bad_state"},
    {"pcie_link", rule_pcie_link, "pcie_link_degraded (warning)"},
    {"driver_missing", rule_driver_missing, "driver_not_installed, driver_not_loaded, secure_boot_blocks_module"},
    {"nouveau", rule_nouveau, "nouveau_loaded"},
    {"driver_version_mismatch", rule_driver_version_mismatch, "driver_library_mismatch"},
    {"uvm", rule_uvm, "uvm_module_missing, uvm_broken_after_suspend"},
    {"device_permissions", rule_device_permissions, "device_permissions"},
    {"driver_call_failed", rule_driver_call_failed, "fabric_manager_not_running, conflicting_cuda_installs"},
    {"container", rule_container, "container_no_gpu_passthrough"},
    {"wsl", rule_wsl, "wsl_setup"},
    {"operating_system", rule_operating_system, "macos_no_cuda, windows_native_unsupported"},
    {"libraries", rule_libraries,
     "cuda_runtime_missing, cudnn_missing, cuda_math_library_missing, nccl_missing, cuda_version_mismatch, "
     "cudnn_version_mismatch, ld_library_path_wrong, conflicting_cuda_installs"},
    {"framework_build", rule_framework_build,
     "cpu_only_framework_build, driver_too_old, gpu_arch_unsupported_by_framework, gpu_arch_too_new_for_build, "
     "wrong_python_environment"},
    {"framework_packages", rule_framework_packages, "framework_package_mismatch"},
    {"framework_environment", rule_framework_environment,
     "framework_version_incompatible_python, wrong_python_environment, framework_not_installed, jupyter_kernel_env"},
    {"visible_devices", rule_visible_devices, "cuda_visible_devices_hides_gpu"},
    {"mig_compute_mode", rule_mig_compute_mode, "mig_or_compute_mode"},
    {"env_forces_cpu", rule_env_forces_cpu, "framework_env_forces_cpu"},
    {"gpu_held_by_others", rule_gpu_held_by_others, "gpu_in_use_by_other_process"},
    {"probe_gpus", rule_probe_gpus,
     "gpu_in_bad_state, pcie_link_degraded, gpu_throttled, gpu_memory_exhausted, gpu_in_use_by_other_process, mig_or_compute_mode, "
     "cuda_math_library_missing (warning), other"},
    {"probe_multi_gpu", rule_probe_multi_gpu, "nccl_missing, gpu_in_bad_state, multi_gpu_path_degraded, gpu_in_use_by_other_process, other"},
    // The program layer last: what the run showed, then the program's code (a warning when a finding
    // above already explains the verdict), then program_gpu_use, which names a cause only when
    // nothing before it explains a GPU never used.
    {"program_environment", rule_program_environment, "cuda_visible_devices_hides_gpu, framework_env_forces_cpu"},
    {"program_pid_namespace", rule_program_pid_namespace, "other"},
    {"program_log", rule_program_log, "", true},
    {"program_libraries", rule_program_libraries, "other (warning)"},
    {"program_code", rule_program_code, "program_forces_cpu, memory_growth_misconfigured"},
    {"program_gpu_use", rule_program_gpu_use,
     "input_pipeline_bound, program_uses_one_of_many_gpus, gpu_in_use_by_other_process (warning), program_forces_cpu, other"},
    {"unexplained_driver_failure", rule_unexplained_driver_failure, "other"},
};

int severity_rank(Severity s) { return s == Severity::error ? 0 : s == Severity::warning ? 1
                                                                                         : 2; }

RuleObserver& rule_observer() {
  static RuleObserver observer;
  return observer;
}

}  // namespace

// An unexplained failure of the driver calls: reported as `other`, with what the driver said. Last
// in the table: it reads what every rule before it found.
void rule_unexplained_driver_failure(const RuleContext& ctx, std::vector<Finding>& out) {
  bool have_error = std::any_of(out.begin(), out.end(), [](const Finding& f) { return f.severity == Severity::error; });
  if (have_error || !ctx.probed()) return;
  auto cuda = ctx.cuda_init_code();
  auto nvml = ctx.nvml_init_code();
  bool cuda_failed = cuda && *cuda != 0;
  bool nvml_failed = nvml && *nvml != 0;
  bool cuda_missing = !ctx.s.driver.cuda.library.known() && ctx.gpu_seen();
  if (!cuda_failed && !nvml_failed && !cuda_missing) return;
  Finding f;
  f.cause = "other";
  f.layer = Layer::driver;
  f.title = cuda_failed   ? "CUDA cannot initialize: " + ctx.describe_cuda_code(*cuda)
            : nvml_failed ? "NVML cannot initialize: " + ctx.describe_nvml_code(*nvml)
                          : "libcuda.so.1 cannot be loaded although an NVIDIA GPU is present";
  f.evidence.push_back(ctx.nvml_init_evidence());
  f.evidence.push_back(ctx.cuda_init_evidence());
  f.fix.push_back("Run nvidia-smi and read sudo dmesg | grep -i -E 'nvrm|nvidia' for the driver's own explanation.");
  out.push_back(std::move(f));
}

namespace {

Finding healthy_finding(const RuleContext& ctx) {
  const auto& s = ctx.s;
  Finding f;
  f.cause = "healthy";
  f.layer = Layer::benign;
  f.severity = Severity::info;
  if (s.compute.attempted && !s.compute.gpus.empty()) {
    f.title = fmt::format("{} GPU(s) computed right, at the speed each card should ({} probe)", s.compute.gpus.size(),
                          to_string(s.compute.mode));
    for (const auto& g : s.compute.gpus)
      if (g.kernel.known()) f.evidence.push_back({fmt::format("GPU {} ({})", g.ordinal, g.name), *g.kernel});
  } else if (ctx.probed() && ctx.cuda_init_ok()) {
    std::vector<std::string> names;
    for (const auto& d : s.driver.cuda.devices) names.push_back(d.name.value_or("GPU"));
    f.title = fmt::format("{} GPU(s) usable through CUDA: {}", ctx.cuda_device_count(), fmt::join(names, ", "));
    f.evidence.push_back(ctx.cuda_init_evidence());
    if (ctx.nvml_init_ok()) {
      f.evidence.push_back({"nvmlSystemGetDriverVersion", s.driver.nvml.driver_version.value_or("?")});
    }
    if (s.driver.cuda.driver_version.known())
      f.evidence.push_back({"cuDriverGetVersion", fmt::format("{} (CUDA {})", *s.driver.cuda.driver_version,
                                                              cuda_version_string(*s.driver.cuda.driver_version))});
  } else {
    f.title = "Nothing blocks the GPU in the layers checked";
    if (!ctx.probed()) f.evidence.push_back({"driver probe", s.driver.why_not.empty() ? "not run" : s.driver.why_not});
  }
  return f;
}

std::string gpu_summary(const RuleContext& ctx) {
  const auto& s = ctx.s;
  if (ctx.probed() && ctx.nvml_init_ok() && !s.driver.nvml.devices.empty()) {
    const auto& d = s.driver.nvml.devices.front();
    return fmt::format("{} NVIDIA GPU(s): {} at {}{}", s.driver.nvml.devices.size(), d.name.value_or("?"),
                       d.pci_bus_id.value_or("?"),
                       d.pcie_gen_max.known() && d.pcie_width_max.known()
                           ? fmt::format(", PCIe gen {} x{}", *d.pcie_gen_max, *d.pcie_width_max)
                           : "");
  }
  if (!s.pci_gpus.empty()) {
    const auto& p = s.pci_gpus.front();
    std::string model;
    for (const auto& g : s.nvidia_proc.gpus)
      if (g.bus_location == p.address && g.model.known()) model = *g.model + " ";
    return fmt::format("{} NVIDIA GPU(s) on the PCI bus: {}device 0x{:04x} at {}", s.pci_gpus.size(), model,
                       p.device_id, p.address);
  }
  if (ctx.wsl()) return s.platform.dxg_present ? "WSL2: the GPU is reached through /dev/dxg" : "WSL: no /dev/dxg";
  return "no NVIDIA GPU seen";
}

std::string driver_summary(const RuleContext& ctx) {
  const auto& s = ctx.s;
  std::string out;
  if (auto v = ctx.module_version()) {
    out = "kernel module " + *v + (s.nvidia_proc.module_flavour.known() ? " (" + *s.nvidia_proc.module_flavour + ")" : "");
  } else if (ctx.wsl()) {
    out = "Windows driver through WSL";
  }
  if (ctx.probed()) {
    if (ctx.nvml_init_ok() && s.driver.nvml.driver_version.known())
      out += (out.empty() ? "" : "; ") + std::string("NVML ") + *s.driver.nvml.driver_version;
    if (s.driver.cuda.driver_version.known())
      out += (out.empty() ? "" : "; ") + fmt::format("CUDA {} supported", cuda_version_string(*s.driver.cuda.driver_version));
    if (ctx.cuda_init_ok()) out += fmt::format("; cuInit ok, {} device(s)", ctx.cuda_device_count());
  } else {
    out += (out.empty() ? "" : "; ") + std::string("driver not probed");
  }
  return out.empty() ? "no driver found" : out;
}

// Whether a layer's own checks mean something while a layer below fails: the files-only layers
// (libraries, framework, environment) do; the driver and platform only when a GPU is there to
// drive; the program's verdict never (it ran on the failing stack).
bool judged_above_a_failure(const RuleContext& ctx, Layer l) {
  switch (l) {
    case Layer::libraries:
    case Layer::framework:
    case Layer::environment: return true;
    case Layer::driver:
    case Layer::platform: return ctx.gpu_seen();
    default: return false;
  }
}

// Titles of one cause merged into one sentence: the words they all start with once, then what
// differs, as a list ("jax 0.4.30 was built for CUDA 12.5.1 and needs libcublas.so.12, ...;
// libcufft.so.11, ..."), instead of the sentence repeated for each library.
std::string merge_titles(const std::vector<std::string>& titles) {
  if (titles.size() < 2) return titles.empty() ? std::string() : titles.front();
  size_t common = titles.front().size();
  for (const auto& t : titles) {
    size_t i = 0;
    while (i < common && i < t.size() && t[i] == titles.front()[i]) ++i;
    common = i;
  }
  while (common > 0 && titles.front()[common - 1] != ' ') --common;  // at a word's start
  std::string out;
  if (common < 16) {
    for (const auto& t : titles) out += (out.empty() ? "" : "; ") + t;
    return out;
  }
  std::vector<std::string> parts;
  for (const auto& t : titles) parts.push_back(t.substr(common));
  // The words they all end with, once at the end (", and no copy of it is installed").
  size_t tail = parts.front().size();
  for (const auto& p : parts) {
    size_t i = 0;
    while (i < tail && i < p.size() && p[p.size() - 1 - i] == parts.front()[parts.front().size() - 1 - i]) ++i;
    tail = i;
  }
  while (tail > 0 && parts.front()[parts.front().size() - tail] != ' ' && parts.front()[parts.front().size() - tail] != ',') --tail;
  std::string suffix;
  if (tail >= 12) {
    suffix = parts.front().substr(parts.front().size() - tail);
    for (auto& p : parts) p.resize(p.size() - tail);
  }
  bool commas = std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.find(',') != std::string::npos; });
  out = titles.front().substr(0, common);
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? (commas ? "; " : ", ") : "") + parts[i];
  return out + suffix;
}

}  // namespace

std::span<const RuleEntry> rules() { return k_rules; }

void set_rule_observer(RuleObserver observer) { rule_observer() = std::move(observer); }

std::vector<Finding> rule_findings(const Snapshot& snapshot, const kb::KnowledgeBase& kb) {
  RuleContext ctx(snapshot, kb);
  std::vector<Finding> found;
  const RuleObserver& observe = rule_observer();
  for (const auto& r : k_rules) {
    size_t before = found.size();
    r.run(ctx, found);
    if (observe)
      for (size_t i = before; i < found.size(); ++i) observe(r.name, found[i]);
  }
  // A program seen using a GPU proves the layers below work for it: what they found is a warning.
  const auto& prog = snapshot.program;
  if (prog.watched && std::any_of(prog.gpus.begin(), prog.gpus.end(), [](const ProgramGpu& g) { return g.used; })) {
    for (auto& f : found)
      if (f.severity == Severity::error && rank(f.layer) < rank(Layer::program) && f.layer != Layer::benign) {
        f.severity = Severity::warning;
        f.title += " (the program used the GPU nevertheless)";
      }
  }
  return found;
}

std::pair<std::vector<Finding>, std::vector<Finding>> rank_findings(std::vector<Finding> found, const RankHints& hints) {
  // Drop the causes another error finding explains; a cause seen only in consequence lines is
  // explained by any other error that stands.
  std::set<std::string> explained;
  for (const auto& f : found)
    if (f.severity == Severity::error)
      for (const auto& e : f.explains) explained.insert(e);
  bool direct_failure = std::any_of(found.begin(), found.end(), [&](const Finding& f) {
    return f.severity == Severity::error && !explained.count(f.cause) && !hints.symptom_only.count(f.cause);
  });
  if (direct_failure) explained.insert(hints.symptom_only.begin(), hints.symptom_only.end());
  // Merge findings of the same cause and severity; "other", which stands for anything the list
  // does not name, only within one layer (a platform finding and a log line are two things).
  std::vector<Finding> merged;
  std::vector<std::vector<std::string>> titles;  // per merged finding
  for (auto& f : found) {
    if (explained.count(f.cause) && f.severity != Severity::info) continue;
    auto it = std::find_if(merged.begin(), merged.end(), [&](const Finding& m) {
      return m.cause == f.cause && m.severity == f.severity && (f.cause != "other" || m.layer == f.layer);
    });
    if (it == merged.end()) {
      titles.push_back({f.title});
      merged.push_back(std::move(f));
    } else {
      auto& mine = titles[static_cast<size_t>(it - merged.begin())];
      if (!f.title.empty() && std::find(mine.begin(), mine.end(), f.title) == mine.end()) mine.push_back(f.title);
      for (auto& e : f.evidence)
        if (std::find_if(it->evidence.begin(), it->evidence.end(), [&](const Source& x) { return x.where == e.where && x.said == e.said; }) ==
            it->evidence.end())
          it->evidence.push_back(std::move(e));
      for (auto& x : f.fix)
        if (std::find(it->fix.begin(), it->fix.end(), x) == it->fix.end()) it->fix.push_back(x);
      for (auto& x : f.explains)
        if (std::find(it->explains.begin(), it->explains.end(), x) == it->explains.end()) it->explains.push_back(x);
    }
  }
  for (size_t i = 0; i < merged.size(); ++i) merged[i].title = merge_titles(titles[i]);
  auto hint = [](const auto& map, const std::string& cause, auto none) {
    auto it = map.find(cause);
    return it == map.end() ? none : it->second;
  };
  std::stable_sort(merged.begin(), merged.end(), [&](const Finding& a, const Finding& b) {
    if (severity_rank(a.severity) != severity_rank(b.severity)) return severity_rank(a.severity) < severity_rank(b.severity);
    bool sa = hints.symptom_only.count(a.cause) > 0, sb = hints.symptom_only.count(b.cause) > 0;
    if (sa != sb) return !sa;
    if (rank(a.layer) != rank(b.layer)) return rank(a.layer) < rank(b.layer);
    int la = hint(hints.loudness, a.cause, 0), lb = hint(hints.loudness, b.cause, 0);
    if (la != lb) return la > lb;
    return hint(hints.first_seen, a.cause, std::size_t{0}) < hint(hints.first_seen, b.cause, std::size_t{0});
  });
  std::pair<std::vector<Finding>, std::vector<Finding>> out;
  for (auto& f : merged) (f.severity == Severity::error ? out.first : out.second).push_back(std::move(f));
  return out;
}

Diagnosis diagnose(const Snapshot& snapshot, const kb::KnowledgeBase& kb) {
  RuleContext ctx(snapshot, kb);
  const auto& prog = snapshot.program;
  auto raw = rule_findings(snapshot, kb);
  // The layers where a rule found anything, even what a cause below explains away.
  std::set<Layer> layers_with_findings;
  for (const auto& f : raw)
    if (f.severity != Severity::info) layers_with_findings.insert(f.layer);
  auto [causes, warnings] = rank_findings(std::move(raw));

  Diagnosis d;
  d.frameworks = snapshot.frameworks;
  d.environments = snapshot.python_envs;
  d.installs = snapshot.framework_installs;
  d.gpus = probe_verdicts(ctx);
  d.probe_notes = probe_notes(ctx);
  d.causes = std::move(causes);
  d.warnings = std::move(warnings);
  d.healthy = d.causes.empty();
  if (prog.watched) {
    d.program_verdict = program_verdict(ctx, d.causes);
    d.program_summary = program_summary(ctx);
    d.program_libraries = program_libraries(ctx);
  }
  if (d.healthy) {
    d.causes.push_back(healthy_finding(ctx));
    if (prog.watched && d.program_verdict == ProgramVerdict::used_gpu) {
      d.causes.back().title = "The program " + d.program_summary;
      d.causes.back().layer = Layer::program;
    }
  }

  // Layer by layer: failed where a cause sits, not reached above the lowest failure.
  std::optional<int> lowest_failure;
  for (const auto& c : d.causes)
    if (c.severity == Severity::error && (!lowest_failure || rank(c.layer) < *lowest_failure)) lowest_failure = rank(c.layer);
  for (Layer l : k_all_layers) {
    LayerStatus st;
    st.layer = l;
    auto cause_here = std::find_if(d.causes.begin(), d.causes.end(), [&](const Finding& c) {
      return c.layer == l && c.severity == Severity::error;
    });
    auto warn_here = std::find_if(d.warnings.begin(), d.warnings.end(), [&](const Finding& w) { return w.layer == l; });
    bool implemented = (l == Layer::program && prog.watched) || l == Layer::hardware || l == Layer::driver || l == Layer::platform || l == Layer::environment ||
                       (l == Layer::libraries && !snapshot.frameworks.empty()) ||
                       (l == Layer::framework && !snapshot.framework_installs.empty());
    if (cause_here != d.causes.end()) {
      st.state = LayerState::failed;
      st.summary = cause_here->title;
    } else if (!implemented) {
      st.state = LayerState::not_checked;
      st.summary = l == Layer::program     ? "gpudoctor run and inspect watch a program"
                   : l == Layer::libraries ? "no CUDA build of TensorFlow, PyTorch or JAX found in the Python environments"
                   : l == Layer::framework ? "no TensorFlow, PyTorch or JAX found in the Python environments"
                                           : "not checked by this version of gpudoctor";
    } else if (lowest_failure && rank(l) > *lowest_failure &&
               (layers_with_findings.count(l) || !judged_above_a_failure(ctx, l))) {
      st.state = LayerState::not_reached;
      st.summary = l == Layer::program && prog.watched ? d.program_summary : "not reached: a layer below fails";
    } else if (warn_here != d.warnings.end()) {
      st.state = LayerState::warning;
      st.summary = warn_here->title;
    } else {
      st.state = LayerState::passed;
      switch (l) {
        case Layer::hardware: st.summary = gpu_summary(ctx); break;
        case Layer::driver: st.summary = driver_summary(ctx); break;
        case Layer::platform:
          st.summary = ctx.wsl()                     ? "WSL2 with the Windows driver's CUDA"
                       : snapshot.platform.container ? fmt::format("{} container with the GPU passed through", snapshot.platform.container_kind)
                                                     : "no container, not WSL";
          break;
        case Layer::libraries: {
          std::string list;
          size_t total = 0;
          for (const auto& fw : snapshot.frameworks) {
            list += (list.empty() ? "" : "; ") + fw.framework + " " + fw.version.value_or("") + " (CUDA " + fw.cuda_build.value_or("?") + ")";
            total += fw.libraries.size();
          }
          st.summary = fmt::format("{} CUDA libraries resolved for {}", total, list);
          break;
        }
        case Layer::framework: {
          std::string list;
          for (const auto& f : snapshot.framework_installs)
            if (f.environment_in_use)
              list += (list.empty() ? "" : "; ") + f.distribution + " " + f.version.value_or("?") +
                      (f.cuda_build.is(true) ? " (CUDA " + f.cuda_version.value_or("?") + ")" : "");
          st.summary = list.empty() ? "no framework in the Python in use" : list;
          break;
        }
        case Layer::program: st.summary = d.program_summary; break;
        case Layer::environment: {
          const std::string* cvd = snapshot.env_var("CUDA_VISIBLE_DEVICES");
          st.summary = cvd ? "CUDA_VISIBLE_DEVICES=\"" + *cvd + "\" keeps GPUs visible" : "CUDA_VISIBLE_DEVICES not set; no MIG or compute-mode block";
          break;
        }
        default: break;
      }
      if ((l == Layer::hardware || l == Layer::driver) && !ctx.gpu_seen() && !ctx.wsl() && !snapshot.pci_scanned) {
        st.state = LayerState::not_checked;
        st.summary = "no PCI bus or driver to read under this root";
      }
      // Its own checks passed although a layer below fails: once that is fixed, this one holds.
      st.above_failure = st.state == LayerState::passed && lowest_failure && rank(l) > *lowest_failure;
    }
    d.layers.push_back(std::move(st));
  }
  return d;
}

}  // namespace gpudoctor
