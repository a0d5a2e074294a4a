// Framework layer: the builds of TensorFlow, PyTorch and JAX in the environments, read from their
// files, against the driver, the GPU and each other.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "core/environment_in_use.hpp"
#include "core/path.hpp"
#include "core/requirement.hpp"
#include "core/version.hpp"
#include "core/escape.hpp"
#include "diagnose/install_fixes.hpp"
#include "diagnose/rule_context.hpp"

namespace gpudoctor {

namespace {

std::string label(const FrameworkInstall& f) {
  return fmt::format("{} {}", f.distribution, f.version.value_or("?"));
}

// The newest CUDA version the driver supports, "13.0", from the driver itself or its branch.
std::optional<std::pair<std::string, std::string>> driver_cuda(const RuleContext& ctx) {
  const auto& s = ctx.s;
  if (s.driver.cuda.driver_version.known() && *s.driver.cuda.driver_version > 0)
    return std::make_pair(cuda_version_string(*s.driver.cuda.driver_version), std::string("cuDriverGetVersion"));
  if (s.driver.nvml.cuda_driver_version.known())
    return std::make_pair(cuda_version_string(*s.driver.nvml.cuda_driver_version), std::string("nvmlSystemGetCudaDriverVersion_v2"));
  if (auto v = ctx.module_version()) {
    if (auto branch = driver_branch(*v)) {
      if (auto cuda = ctx.kb.max_cuda_for_branch(*branch))
        return std::make_pair(*cuda, fmt::format("driver {} (branch R{}, kb/data/driver.toml)", *v, *branch));
    }
  }
  return std::nullopt;
}

// How to activate an environment: `conda activate PREFIX` for a conda environment (conda-meta/),
// `source PREFIX/bin/activate` for a venv and everything else.
std::string activate_command(const RuleContext& ctx, const std::string& prefix) {
  for (const auto& e : ctx.s.python_envs)
    if (e.prefix == prefix && e.kind == EnvironmentKind::conda) return "conda activate " + escape::shell(prefix);
  return "source " + escape::shell(prefix + "/bin/activate");
}

bool has_cuda_build_elsewhere(const RuleContext& ctx, const std::string& framework, const FrameworkInstall** where) {
  for (const auto& f : ctx.s.framework_installs) {
    if (f.framework == framework && !f.environment_in_use && f.cuda_build.is(true)) {
      *where = &f;
      return true;
    }
  }
  return false;
}

// What a fix installs for a driver of CUDA `driver_major`: the entry of the newest major the
// driver runs, else the oldest entry (a driver older than every entry).
template <typename T, typename MajorOf>
const T* for_driver_major(const std::vector<T>& rows, int driver_major, MajorOf major_of) {
  const T* best = nullptr;
  const T* oldest = nullptr;
  for (const auto& r : rows) {
    auto m = major_of(r);
    if (!m) continue;
    if (oldest == nullptr || *m < *major_of(*oldest)) oldest = &r;
    if (*m <= driver_major && (best == nullptr || *m > *major_of(*best))) best = &r;
  }
  return best != nullptr ? best : oldest;
}

std::optional<int> leading_number(const std::string& version) {
  auto v = parse_dotted_version(version.substr(0, version.find('.')));
  return v && !v->empty() ? std::optional<int>(v->front()) : std::nullopt;
}

std::string jax_install(const RuleContext& ctx, int driver_major) {
  const auto* j = for_driver_major(ctx.kb.jax_cuda_majors(), driver_major,
                                   [](const kb::JaxCudaMajor& m) { return leading_number(m.cuda); });
  return fmt::format("pip install -U \"jax[{}]\"", j != nullptr ? j->extra : "cuda");
}

std::string gpu_install_fix(const RuleContext& ctx, const FrameworkInstall& f) {
  auto cuda = driver_cuda(ctx);
  int driver_major = cuda ? parse_dotted_version(cuda->first).value_or(std::vector<int>{12}).front() : 12;
  if (f.framework == "tensorflow") {
    return fmt::format("pip uninstall -y {} && {}", escape::shell(f.distribution),
                       tensorflow_gpu_install(ctx.kb, f.version.value_or("")));
  }
  if (f.framework == "torch") {
    std::vector<kb::TorchVariant> suggested;
    for (const auto& v : ctx.kb.torch_variants())
      if (v.suggested) suggested.push_back(v);
    const auto* v = for_driver_major(suggested, driver_major, [](const kb::TorchVariant& t) { return leading_number(t.cuda); });
    return fmt::format("pip install --force-reinstall torch --index-url {}   (a CUDA build for a driver that supports CUDA {})",
                       v != nullptr ? v->index_url : "https://download.pytorch.org/whl/", cuda ? cuda->first : "12.x");
  }
  return jax_install(ctx, driver_major);
}

// The fix for `p` pinning `other` to another version. torch's companions (torchvision,
// torchaudio) follow the torch that is installed: torch carries the CUDA build, so the companion
// is changed to torch's pair (pytorch.toml companions), never torch to the companion's.
std::string package_mismatch_fix(const RuleContext& ctx, const InstalledPackage& p, const InstalledPackage& other,
                                 const Requirement& req) {
  if (other.name == "torch" && (p.name == "torchvision" || p.name == "torchaudio")) {
    std::string pair = ctx.kb.torch_companion(p.name, other.version);
    auto plus = other.version.find('+');
    std::string index = plus == std::string::npos ? std::string()
                                                  : " --index-url https://download.pytorch.org/whl/" + other.version.substr(plus + 1);
    if (!pair.empty())
      return fmt::format("pip install {}{}   (the {} release made for torch {})", escape::shell(p.name + "==" + pair), index,
                         p.name, other.version);
    return fmt::format(
        "Install the {} release made for torch {} (its METADATA requires torch=={}){}, keeping torch, "
        "which carries the CUDA build: pip install {}",
        p.name, other.version, other.version.substr(0, plus), index.empty() ? "" : " from the same index",
        escape::shell(p.name + "==VERSION") + index);
  }
  std::string spec;
  for (const auto& [op, v] : req.specifiers) spec += (spec.empty() ? "" : ",") + op + v;
  return fmt::format("pip install {}   (or upgrade {} to a release that matches {} {})", escape::shell(req.name + spec), p.name,
                     other.name, other.version);
}

}  // namespace

void rule_framework_build(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  auto cuda = driver_cuda(ctx);
  for (const auto& f : s.framework_installs) {
    Severity sev = f.environment_in_use ? Severity::error : Severity::warning;
    if (f.cuda_build.is(false)) {
      const FrameworkInstall* other = nullptr;
      if (f.environment_in_use && has_cuda_build_elsewhere(ctx, f.framework, &other)) {
        Finding w;
        w.cause = "wrong_python_environment";
        w.layer = Layer::environment;
        w.title = fmt::format("The Python in use has a CPU-only {}; a CUDA build is installed in {}", f.framework,
                              other->environment);
        w.evidence.push_back({f.site_packages, label(f) + ": CPU-only build"});
        w.evidence.push_back({other->site_packages, label(*other) + ": CUDA " + other->cuda_version.value_or("?") + " build"});
        w.fix.push_back("Run the program with " + escape::shell(other->environment + "/bin/python") +
                        ", or activate that environment: " + activate_command(ctx, other->environment));
        out.push_back(std::move(w));
        continue;
      }
      Finding c;
      c.cause = "cpu_only_framework_build";
      c.layer = Layer::framework;
      c.severity = sev;
      c.title = fmt::format("{} in {} is a CPU-only build: it never uses the GPU", label(f), f.environment);
      for (const auto& e : f.evidence) c.evidence.push_back({e, f.cuda_build.known() ? "no CUDA" : ""});
      if (f.framework == "jax") {
        std::vector<std::string> plugins;
        for (const auto& m : ctx.kb.jax_cuda_majors()) plugins.push_back(m.plugin);
        c.evidence.push_back({f.site_packages, fmt::format("no {} installed", fmt::join(plugins, " or "))});
      }
      c.fix.push_back(gpu_install_fix(ctx, f));
      out.push_back(std::move(c));
      continue;
    }
    // The driver must support the CUDA the build needs.
    if (f.cuda_build.is(true) && f.cuda_version.known() && cuda) {
      auto need = parse_dotted_version(*f.cuda_version);
      auto have = parse_dotted_version(cuda->first);
      if (need && have && !need->empty() && !have->empty()) {
        int nm = need->front(), hm = have->front();
        int nn = need->size() > 1 ? (*need)[1] : 0, hn = have->size() > 1 ? (*have)[1] : 0;
        if (hm < nm || (hm == nm && hn < nn)) {
          Finding d;
          d.cause = "driver_too_old";
          d.layer = Layer::driver;
          // Minor-version compatibility (CUDA docs): a 12.x build runs on any 12.y driver unless
          // it needs newer features or JIT-compiles newer PTX.
          d.severity = hm < nm ? sev : Severity::warning;
          d.title = fmt::format("{} was built for CUDA {}, but the driver supports CUDA {} at most", label(f),
                                *f.cuda_version, cuda->first);
          d.evidence.push_back({cuda->second, "CUDA " + cuda->first});
          for (const auto& e : f.evidence) d.evidence.push_back({e, "built for CUDA " + *f.cuda_version});
          // The oldest driver of each CUDA major from the build's on (cuda.toml, minor-version compatibility).
          std::vector<std::string> minimums;
          for (int m = nm; auto min = ctx.kb.min_driver_for_cuda_major(m); ++m)
            if (auto branch = driver_branch(*min)) minimums.push_back(fmt::format("CUDA {}: R{}+", m, *branch));
          d.fix.push_back("Upgrade the NVIDIA driver to one for CUDA " + *f.cuda_version + " or newer" +
                          (minimums.empty() ? std::string() : fmt::format(" ({})", fmt::join(minimums, ", "))) + ", then reboot");
          d.fix.push_back("or install a build of " + f.framework + " for CUDA " + cuda->first + " or older");
          out.push_back(std::move(d));
        }
      }
    }
    // The GPU architectures the build carries: TensorFlow lists them in build_info.py; torch's
    // come from the knowledge base (its official wheels' TORCH_CUDA_ARCH_LIST per CUDA tag and
    // release), as sm_XY (machine code) and compute_XY (PTX).
    std::vector<std::string> archs = f.compute_capabilities;
    std::string arch_source = f.site_packages + "/tensorflow/python/platform/build_info.py";
    if (f.framework == "torch" && f.build.known()) {
      std::string b = *f.build;
      size_t plus = b.find("+cu");
      auto parts = parse_dotted_version(b.substr(0, b.find_first_not_of("0123456789.")));
      if (plus != std::string::npos && parts && parts->size() >= 2) {
        std::string series = std::to_string((*parts)[0]) + "." + std::to_string((*parts)[1]);
        for (const auto& a : ctx.kb.torch_arch_list(b.substr(plus + 1), series)) {
          std::string digits;
          for (char ch : a.substr(0, a.find('+')))
            if (ch >= '0' && ch <= '9') digits += ch;
          if (digits.empty()) continue;
          archs.push_back("sm_" + digits);
          if (a.find("+PTX") != std::string::npos) archs.push_back("compute_" + digits);
        }
        arch_source = "kb/data/pytorch.toml (TORCH_CUDA_ARCH_LIST of torch " + series + " " + b.substr(plus + 1) + " wheels)";
      }
    }
    if (!archs.empty()) {
      for (const auto& d : s.driver.nvml.devices) {
        if (!d.cc_major.known() || !d.cc_minor.known()) continue;
        int cc = *d.cc_major * 10 + *d.cc_minor;
        int lowest = 1000, highest_sass = 0;
        bool ptx_fits = false;
        for (const auto& a : archs) {
          bool ptx = a.rfind("compute_", 0) == 0;
          std::string digits;
          for (char ch : a)
            if (ch >= '0' && ch <= '9') digits += ch;
          if (digits.empty() || digits.size() > 4) continue;
          int v = std::stoi(digits);
          lowest = std::min(lowest, v);
          if (!ptx) highest_sass = std::max(highest_sass, v);
          if (ptx && v <= cc) ptx_fits = true;
        }
        bool sass_fits = false;
        for (const auto& a : archs) {
          if (a.rfind("sm_", 0) != 0) continue;
          std::string digits;
          for (char ch : a.substr(3)) {
            if (ch < '0' || ch > '9') break;
            digits += ch;
          }
          if (digits.empty() || digits.size() > 4) continue;
          int v = std::stoi(digits);
          if (v / 10 == cc / 10 && v <= cc) sass_fits = true;
        }
        Finding g;
        g.layer = Layer::framework;
        g.severity = sev;
        g.evidence.push_back({arch_source, fmt::format("compiled for {}", fmt::join(archs, ", "))});
        g.evidence.push_back({fmt::format("nvmlDeviceGetCudaComputeCapability({})", d.index),
                              fmt::format("{} has compute capability {}.{}", d.name.value_or("GPU"), *d.cc_major, *d.cc_minor)});
        if (cc < lowest) {
          g.cause = "gpu_arch_unsupported_by_framework";
          g.title = fmt::format("{} needs compute capability {}.{} or newer; {} has {}.{}", label(f), lowest / 10,
                                lowest % 10, d.name.value_or("the GPU"), *d.cc_major, *d.cc_minor);
          g.fix.push_back(f.framework == "torch"
                              ? std::string("Install a torch build that still carries this architecture (the cu118 builds up "
                                            "to 2.7 have 3.7; cu126 builds have 5.0 and 6.x), or build from source")
                              : std::string("Use an older TensorFlow whose wheels still carry this architecture, or build "
                                            "TensorFlow from source with TF_CUDA_COMPUTE_CAPABILITIES including it"));
          out.push_back(std::move(g));
        } else if (!sass_fits && !ptx_fits) {
          g.cause = "gpu_arch_too_new_for_build";
          g.title = fmt::format(
              "{} has no machine code and no usable PTX for compute capability {}.{} ({}): "
              "\"no kernel image is available for execution on the device\"",
              label(f), *d.cc_major, *d.cc_minor, d.name.value_or("the GPU"));
          g.fix.push_back(f.framework == "torch"
                              ? std::string("Install a torch build for this GPU generation (Blackwell: torch 2.7 or newer "
                                            "with --index-url https://download.pytorch.org/whl/cu128)")
                              : std::string("Install a newer " + f.framework + " built for this GPU generation"));
          out.push_back(std::move(g));
        }
      }
    }
  }
}

void rule_framework_packages(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  // Pins of one installed distribution on another in the same site-packages (their METADATA).
  for (const auto& p : s.packages) {
    for (const auto& text : p.requires_dist) {
      auto req = parse_requirement(text);
      if (!req || req->specifiers.empty()) continue;
      if (req->name.rfind("nvidia-", 0) == 0) continue;  // the libraries layer judges the CUDA wheels
      for (const auto& other : s.packages) {
        if (other.site_packages != p.site_packages || other.name != req->name) continue;
        if (satisfies(other.version, *req)) continue;
        bool in_use = site_packages_in_use(s, p.site_packages);
        Finding f;
        f.cause = "framework_package_mismatch";
        f.layer = Layer::framework;
        f.severity = in_use ? Severity::error : Severity::warning;
        f.title = fmt::format("{} {} requires {}, but {} {} is installed", p.name, p.version, req->text, other.name,
                              other.version);
        f.evidence.push_back({p.site_packages + "/" + p.name + " METADATA", "Requires-Dist: " + text});
        f.evidence.push_back({p.site_packages, other.name + " " + other.version + " installed"});
        f.fix.push_back(package_mismatch_fix(ctx, p, other, *req));
        out.push_back(std::move(f));
      }
    }
  }
  // The jax CUDA plugin must be exactly jaxlib's version (jax/_src/lib/__init__.py, since the jaxlib
  // of jax.toml plugin_check_since_jaxlib).
  for (const auto& plugin : s.packages) {
    if (plugin.name.rfind("jax-cuda", 0) != 0 || plugin.name.find("-plugin") == std::string::npos) continue;
    for (const auto& jaxlib : s.packages) {
      if (jaxlib.site_packages != plugin.site_packages || jaxlib.name != "jaxlib") continue;
      if (compare_versions(jaxlib.version, ctx.kb.jax_plugin_check_since()) < 0 || compare_versions(jaxlib.version, plugin.version) == 0) continue;
      Finding f;
      f.cause = "framework_package_mismatch";
      f.layer = Layer::framework;
      f.title = fmt::format("{} {} does not match jaxlib {}: jax ignores the plugin and runs on the CPU", plugin.name,
                            plugin.version, jaxlib.version);
      f.evidence.push_back({plugin.site_packages, plugin.name + " " + plugin.version + ", jaxlib " + jaxlib.version});
      f.fix.push_back("pip install -U " + escape::shell("jax[" + plugin.name.substr(4, plugin.name.find("-plugin") - 4) + "]") +
                      "   (installs matching versions)");
      out.push_back(std::move(f));
    }
  }
}

void rule_framework_environment(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  const PythonEnvironment* in_use = environment_in_use(s);
  // A wheel built for another Python than the environment's (a venv whose Python was upgraded).
  if (in_use && in_use->version.known()) {
    std::string tag = "cp" + std::string(*in_use->version).erase(1, 1);
    for (const auto& p : s.packages) {
      if (p.wheel_tags.empty() || std::find(in_use->site_packages.begin(), in_use->site_packages.end(), p.site_packages) ==
                                      in_use->site_packages.end())
        continue;
      bool any_cp = false, match = false;
      for (const auto& t : p.wheel_tags) {
        if (t.rfind("cp3", 0) == 0) {
          any_cp = true;
          if (t.rfind(tag + "-", 0) == 0) match = true;
        }
        if (t.rfind("py3", 0) == 0) match = true;
      }
      if (!any_cp || match) continue;
      Finding f;
      f.cause = "framework_version_incompatible_python";
      f.layer = Layer::framework;
      f.title = fmt::format("{} {} was installed for another Python than this environment's {}", p.name, p.version, *in_use->version);
      f.evidence.push_back({p.site_packages + "/" + p.name + " WHEEL", "Tag: " + p.wheel_tags.front()});
      f.evidence.push_back({in_use->python.value_or(in_use->prefix), "Python " + *in_use->version});
      f.fix.push_back(fmt::format("{} -m pip install --force-reinstall {}   (or a release that supports Python {})",
                                  escape::shell(in_use->prefix + "/bin/python"), escape::shell(p.name + "==" + p.version),
                                  *in_use->version));
      out.push_back(std::move(f));
    }
  }
  // Frameworks only in an environment that is not the one in use.
  std::set<std::string> in_use_frameworks;
  for (const auto& f : s.framework_installs)
    if (f.environment_in_use) in_use_frameworks.insert(f.framework);
  std::set<std::string> reported;
  for (const auto& f : s.framework_installs) {
    if (f.environment_in_use || in_use_frameworks.count(f.framework) || !f.cuda_build.is(true) || !in_use) continue;
    if (!reported.insert(f.framework).second) continue;
    // An error when the user asked about this framework, or when the Python in use has none at
    // all; otherwise (torch here, jax elsewhere) only a warning: the program may not need it.
    bool asked = std::find(s.requested_frameworks.begin(), s.requested_frameworks.end(), f.framework) !=
                 s.requested_frameworks.end();
    Finding w;
    w.cause = "wrong_python_environment";
    w.layer = Layer::environment;
    w.severity = asked || (s.requested_frameworks.empty() && in_use_frameworks.empty()) ? Severity::error : Severity::warning;
    w.title = fmt::format("{} is installed in {}, not in the Python in use ({})", label(f), f.environment, in_use->prefix);
    w.evidence.push_back({f.site_packages, label(f) + ", CUDA " + f.cuda_version.value_or("?")});
    w.evidence.push_back({in_use->python.value_or(in_use->prefix), "the Python in use (" + in_use->found_by + ") has no " + f.framework});
    w.fix.push_back("Run with " + escape::shell(f.environment + "/bin/python") + ", or activate it: " +
                    activate_command(ctx, f.environment));
    out.push_back(std::move(w));
  }
  // Frameworks asked for with --framework and found nowhere.
  for (const auto& name : s.requested_frameworks) {
    bool anywhere = false;
    for (const auto& f : s.framework_installs) anywhere = anywhere || f.framework == name;
    if (anywhere) continue;
    Finding f;
    f.cause = "framework_not_installed";
    f.layer = Layer::framework;
    f.title = fmt::format("{} is not installed in any Python environment found", name);
    for (const auto& e : s.python_envs) f.evidence.push_back({e.prefix, "no " + name + " (" + e.found_by + ")"});
    for (const auto& note : s.python_env_notes) f.evidence.push_back({"environment search", note});
    f.fix.push_back(name == "tensorflow" ? tensorflow_gpu_install(ctx.kb, "") : name == "torch" ? "pip install torch"
                                                                                                : jax_install(ctx, 0));
    out.push_back(std::move(f));
  }
  // Jupyter kernels that run a Python without the framework the other environments hold.
  for (const auto& k : s.jupyter_kernels) {
    if (!k.python.known()) continue;
    std::string kp = *k.python;
    const PythonEnvironment* env = nullptr;
    for (const auto& e : s.python_envs)
      if (kp.rfind(e.prefix + "/", 0) == 0 || (e.python.known() && *e.python == kp)) env = &e;
    std::set<std::string> has;
    for (const auto& f : s.framework_installs)
      if (env && f.environment == env->prefix) has.insert(f.framework);
    for (const auto& f : s.framework_installs) {
      if (!f.cuda_build.is(true) || has.count(f.framework) || (env && f.environment == env->prefix)) continue;
      Finding j;
      j.cause = "jupyter_kernel_env";
      j.layer = Layer::environment;
      j.severity = Severity::warning;
      j.title = fmt::format("Jupyter kernel \"{}\" runs {}, which has no {}; {} is in {}", k.name, kp, f.framework, label(f),
                            f.environment);
      j.evidence.push_back({k.spec_path, "argv[0] = " + kp});
      j.fix.push_back("Register the environment as a kernel: " + escape::shell(f.environment + "/bin/python") +
                      " -m ipykernel install --user --name " + escape::shell(path_basename(f.environment)) +
                      ", then pick that kernel in the notebook");
      out.push_back(std::move(j));
      break;
    }
  }
}

}  // namespace gpudoctor
