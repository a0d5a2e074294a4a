// The framework layer's facts, read from disk: the distributions installed in each environment
// (their dist-info: METADATA, WHEEL), the frameworks' own build files (torch/version.py,
// tensorflow/python/platform/build_info.py, the jax CUDA plugins) and the Jupyter kernels.

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "collect/collect.hpp"
#include "core/path.hpp"
#include "collect/parsers.hpp"

namespace gpudoctor {

namespace {

// Requires-Dist lines and wheel tags kept per distribution (torch 2.9 has 28 and 1).
constexpr size_t k_max_requirements = 512;

// Distributions whose METADATA and WHEEL are read.
bool interesting(const std::string& name) {
  static const std::set<std::string> k_names = {
      "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel", "tensorflow-macos", "tensorflow-aarch64",
      "tf-nightly", "tf-nightly-cpu", "keras", "tf-keras", "torch", "torchvision", "torchaudio", "jax", "jaxlib"};
  return k_names.count(name) > 0 || name.rfind("jax-cuda", 0) == 0 || name.rfind("jax-rocm", 0) == 0;
}

std::string normalize(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
    return c == '_' || c == '.' ? '-' : static_cast<char>(std::tolower(c));
  });
  return name;
}

void read_packages(CollectContext& ctx, const std::string& sp) {
  for (const auto& entry : ctx.fs.list_dir(sp)) {
    auto dist = parse::dist_info_name(entry);
    if (!dist) continue;
    InstalledPackage p;
    p.name = normalize(dist->name);
    p.version = dist->version;
    p.site_packages = sp;
    if (!interesting(p.name) && p.name.rfind("nvidia-", 0) != 0) continue;
    if (interesting(p.name)) {
      p.requires_python = Fact<std::string>::unknown("no Requires-Python in METADATA");
      if (auto meta = ctx.fs.read_text(sp + "/" + entry + "/METADATA", 256 * 1024)) {
        auto headers = parse::dist_metadata(*meta);
        if (headers.version) p.version = *headers.version;
        if (headers.requires_python) p.requires_python = *headers.requires_python;
        for (auto& v : headers.requires_dist) {
          if (p.requires_dist.size() >= k_max_requirements) break;
          std::string lower = normalize(v.substr(0, v.find_first_of(" ;<>=!~([")));
          if (interesting(lower) || lower.rfind("nvidia-", 0) == 0) p.requires_dist.push_back(std::move(v));
        }
      }
      if (auto wheel = ctx.fs.read_text(sp + "/" + entry + "/WHEEL", 16 * 1024))
        p.wheel_tags = parse::wheel_tags(*wheel, k_max_requirements);
    }
    ctx.snapshot.packages.push_back(std::move(p));
  }
}

const InstalledPackage* find_package(const Snapshot& s, const std::string& sp, const std::string& name) {
  for (const auto& p : s.packages)
    if (p.site_packages == sp && p.name == name) return &p;
  return nullptr;
}

void describe_tensorflow(CollectContext& ctx, FrameworkInstall& f) {
  std::string path = f.site_packages + "/tensorflow/python/platform/build_info.py";
  auto text = ctx.fs.read_text(path, 64 * 1024);
  if (!text) {
    f.cuda_build = Fact<bool>::unknown("no tensorflow/python/platform/build_info.py");
    return;
  }
  f.evidence.push_back(path);
  auto value = [&](const char* key) { return parse::tf_build_info_value(*text, key); };
  if (auto v = value("is_cuda_build")) f.cuda_build = *v == "True";
  else f.cuda_build = Fact<bool>::unknown("build_info.py has no is_cuda_build");
  if (auto v = value("cuda_version")) f.cuda_version = *v;
  else f.cuda_version = Fact<std::string>::unknown("build_info.py has no cuda_version");
  if (auto v = value("cudnn_version")) f.cudnn_version = *v;
  else f.cudnn_version = Fact<std::string>::unknown("build_info.py has no cudnn_version");
  if (auto v = value("cuda_compute_capabilities")) f.compute_capabilities = parse::quoted_items(*v);
}

void describe_torch(CollectContext& ctx, FrameworkInstall& f) {
  std::string path = f.site_packages + "/torch/version.py";
  auto text = ctx.fs.read_text(path, 64 * 1024);
  if (!text) {
    f.cuda_build = Fact<bool>::unknown("no torch/version.py");
    return;
  }
  f.evidence.push_back(path);
  auto py = parse::torch_version_py(*text);
  if (py.version) f.build = *py.version;
  if (py.has_cuda_line) {
    f.cuda_build = py.cuda.has_value();
    if (py.cuda) f.cuda_version = *py.cuda;
    else f.cuda_version = Fact<std::string>::unknown("torch/version.py: cuda = None");
  } else {
    f.cuda_build = Fact<bool>::unknown("torch/version.py has no cuda line");
  }
}

void describe_jax(CollectContext& ctx, FrameworkInstall& f) {
  const auto* jaxlib = find_package(ctx.snapshot, f.site_packages, "jaxlib");
  if (jaxlib) f.build = jaxlib->version;
  else f.build = Fact<std::string>::unknown("jaxlib is not installed");
  // The CUDA plugin (jax-cuda12-plugin, jax-cuda13-plugin), or an old jaxlib+cudaXX wheel.
  for (const auto& p : ctx.snapshot.packages) {
    if (p.site_packages != f.site_packages) continue;
    if (auto major = parse::jax_cuda_plugin_major(p.name)) {
      f.cuda_build = true;
      f.cuda_version = std::to_string(*major);
      f.evidence.push_back(f.site_packages + "/" + p.name + " " + p.version);
    }
  }
  if (!f.cuda_build.known() && jaxlib) {
    if (auto cuda = parse::jaxlib_local_cuda(jaxlib->version)) {
      f.cuda_build = true;
      f.cuda_version = *cuda;
    } else {
      f.cuda_build = false;
      f.cuda_version = Fact<std::string>::unknown("no jax CUDA plugin installed: jaxlib runs on the CPU");
    }
  }
  if (!f.cuda_build.known()) f.cuda_build = Fact<bool>::unknown("neither jaxlib nor a CUDA plugin is installed");
}

}  // namespace

void collect_framework_installs(CollectContext& ctx) {
  auto& s = ctx.snapshot;
  std::set<std::string> seen;
  for (const auto& env : s.python_envs) {
    for (const auto& sp : env.site_packages) {
      if (!seen.insert(ctx.fs.resolve(sp).value_or(sp)).second) continue;
      // The folder may be on the path of several environments (the user site of every non-venv
      // interpreter of one Python version, a base site-packages a venv includes): what is
      // installed there is in use when any of them is, and belongs to that one, whichever was
      // found first.
      const PythonEnvironment* owner = &env;
      std::string resolved_sp = ctx.fs.resolve(sp).value_or(sp);
      for (const auto& other : s.python_envs) {
        if (owner->in_use || !other.in_use) continue;
        for (const auto& osp : other.site_packages)
          if (ctx.fs.resolve(osp).value_or(osp) == resolved_sp) owner = &other;
      }
      size_t first = s.packages.size();
      read_packages(ctx, sp);
      for (size_t i = first; i < s.packages.size(); ++i) {
        const std::string name = s.packages[i].name;
        std::string framework = name.rfind("tensorflow", 0) == 0 || name.rfind("tf-nightly", 0) == 0 ? "tensorflow"
                                : name == "torch"                                                    ? "torch"
                                : name == "jax"                                                      ? "jax"
                                                                                                     : "";
        if (framework.empty()) continue;
        FrameworkInstall f;
        f.framework = framework;
        f.distribution = name;
        f.site_packages = sp;
        f.environment = owner->prefix;
        f.environment_in_use = owner->in_use;
        f.version = s.packages[i].version;
        f.evidence.push_back(sp + "/" + name + " " + s.packages[i].version + " (dist-info)");
        if (framework == "tensorflow") describe_tensorflow(ctx, f);
        else if (framework == "torch") describe_torch(ctx, f);
        else describe_jax(ctx, f);
        s.framework_installs.push_back(std::move(f));
      }
    }
  }

  // Jupyter kernels: each environment's share/jupyter/kernels, the system's, and the user's.
  std::vector<std::string> dirs;
  for (const auto& env : s.python_envs) dirs.push_back(env.prefix + "/share/jupyter/kernels");
  dirs.emplace_back("/usr/local/share/jupyter/kernels");
  dirs.emplace_back("/usr/share/jupyter/kernels");
  if (ctx.fs.is_host()) {
    if (const passwd* pw = ::getpwuid(::geteuid())) dirs.push_back(std::string(pw->pw_dir) + "/.local/share/jupyter/kernels");
  } else {
    for (const auto& user : ctx.fs.list_dir("/home")) dirs.push_back("/home/" + user + "/.local/share/jupyter/kernels");
    dirs.emplace_back("/root/.local/share/jupyter/kernels");
  }
  std::set<std::string> kernels_seen;
  for (const auto& dir : dirs) {
    for (const auto& name : ctx.fs.list_dir(dir)) {
      std::string spec = dir + "/" + name + "/kernel.json";
      if (!kernels_seen.insert(ctx.fs.resolve(spec).value_or(spec)).second) continue;
      auto text = ctx.fs.read_text(spec, 64 * 1024);
      if (!text) continue;
      JupyterKernel k;
      k.name = name;
      k.spec_path = spec;
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (j.is_object() && j.contains("argv") && j["argv"].is_array() && !j["argv"].empty() && j["argv"][0].is_string())
        k.python = j["argv"][0].get<std::string>();
      else
        k.python = Fact<std::string>::unknown("kernel.json has no argv");
      s.jupyter_kernels.push_back(std::move(k));
    }
  }
}

}  // namespace gpudoctor
