#include "kb/knowledge_base.hpp"

#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <span>
#include <stdexcept>
#include <string_view>
#include <toml++/toml.h>

#include "core/requirement.hpp"
#include "core/version.hpp"
#include "kb/embedded.hpp"

namespace gpudoctor::kb {

namespace {

toml::table parse_file(const std::map<std::string, std::string_view>& files, const std::string& name) {
  auto it = files.find(name);
  if (it == files.end()) throw std::runtime_error(fmt::format("knowledge base: {} is missing", name));
  try {
    return toml::parse(it->second, name);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(fmt::format("knowledge base: {}: {}", name, e.description()));
  }
}

std::string need_string(const toml::node_view<const toml::node>& n, const char* what) {
  auto v = n.value<std::string>();
  if (!v) throw std::runtime_error(fmt::format("knowledge base: missing string {}", what));
  return *v;
}

// The error classes the rules read (`class` in cuda_errors.toml and nvml_errors.toml); any other
// value is a typo that would silently match nothing.
constexpr std::string_view k_cuda_error_classes[] = {"no_device", "system_not_ready", "driver_library_mismatch",
                                                     "stub_library", "compat_not_supported", "unknown",
                                                     "out_of_memory", "device_unavailable"};
constexpr std::string_view k_nvml_error_classes[] = {"gpu_lost", "gpu_power", "no_permission", "operating_system",
                                                     "unknown", "driver_library_mismatch"};

std::map<int, ErrorCode> parse_errors(const toml::table& t, const char* file, std::span<const std::string_view> classes) {
  std::map<int, ErrorCode> out;
  const auto* arr = t["error"].as_array();
  if (arr == nullptr) throw std::runtime_error(fmt::format("knowledge base: {} has no [[error]]", file));
  for (const auto& node : *arr) {
    const auto* e = node.as_table();
    if (e == nullptr) continue;
    ErrorCode code;
    auto c = (*e)["code"].value<int64_t>();
    if (!c) throw std::runtime_error(fmt::format("knowledge base: {}: error without code", file));
    code.code = static_cast<int>(*c);
    code.name = need_string((*e)["name"], "name");
    code.message = (*e)["message"].value_or(std::string{});
    code.meaning = need_string((*e)["meaning"], "meaning");
    code.klass = (*e)["class"].value_or(std::string{});
    if (!code.klass.empty() && std::find(classes.begin(), classes.end(), code.klass) == classes.end())
      throw std::runtime_error(fmt::format("knowledge base: {}: code {} has an unknown class {}", file, code.code, code.klass));
    out[code.code] = std::move(code);
  }
  return out;
}

std::vector<std::string> string_array(const toml::table& t, const char* key) {
  std::vector<std::string> out;
  if (const auto* arr = t[key].as_array()) {
    for (const auto& n : *arr)
      if (auto s = n.value<std::string>()) out.push_back(*s);
  }
  return out;
}

}  // namespace

KnowledgeBase KnowledgeBase::parse(const std::map<std::string, std::string_view>& files) {
  KnowledgeBase kb;
  auto causes = parse_file(files, "causes.toml");
  if (const auto* arr = causes["cause"].as_array()) {
    for (const auto& node : *arr) {
      const auto* c = node.as_table();
      if (c == nullptr) continue;
      CauseInfo info;
      info.id = need_string((*c)["id"], "cause id");
      info.layer = layer_from_string(need_string((*c)["layer"], "cause layer"));
      info.meaning = need_string((*c)["meaning"], "cause meaning");
      kb.m_causes.push_back(std::move(info));
    }
  }
  kb.m_cuda_errors = parse_errors(parse_file(files, "cuda_errors.toml"), "cuda_errors.toml", k_cuda_error_classes);
  kb.m_nvml_errors = parse_errors(parse_file(files, "nvml_errors.toml"), "nvml_errors.toml", k_nvml_error_classes);

  auto driver = parse_file(files, "driver.toml");
  if (const auto* arr = driver["branches"].as_array()) {
    for (const auto& n : *arr) {
      const auto* b = n.as_table();
      if (b == nullptr) continue;
      auto branch = (*b)["branch"].value<int64_t>();
      auto cuda = (*b)["cuda"].value<std::string>();
      if (branch && cuda) kb.m_branch_cuda[static_cast<int>(*branch)] = *cuda;
    }
  }
  if (const auto* arr = driver["pcie"].as_array()) {
    for (const auto& n : *arr) {
      const auto* p = n.as_table();
      if (p == nullptr) continue;
      auto gen = (*p)["gen"].value<int64_t>();
      auto gts = (*p)["gts"].value<double>();
      if (gen && gts) kb.m_pcie.emplace_back(*gts, static_cast<int>(*gen));
      auto lane = (*p)["lane_gbs"].value<double>();
      if (gen && lane) kb.m_pcie_lane_gbs[static_cast<int>(*gen)] = *lane;
    }
  }
  kb.m_library_dirs = string_array(driver, "library_dirs");
  kb.m_ubuntu_driver_package = driver["ubuntu_driver_package"].value_or(std::string{});
  if (const auto* arr = driver["pci_vendor"].as_array()) {
    for (const auto& n : *arr) {
      const auto* v = n.as_table();
      if (v == nullptr) continue;
      auto id = (*v)["id"].value<int64_t>();
      if (!id) throw std::runtime_error("knowledge base: driver.toml: pci_vendor without id");
      kb.m_pci_vendors[static_cast<unsigned>(*id)] = need_string((*v)["name"], "pci_vendor name");
    }
  }

  if (files.count("cuda.toml")) {
    const auto cuda = parse_file(files, "cuda.toml");
    if (const auto* arr = cuda["toolkit"].as_array()) {
      for (const auto& n : *arr) {
        const auto* t = n.as_table();
        if (t == nullptr) continue;
        CudaToolkit k;
        k.version = need_string((*t)["version"], "cuda.toml toolkit version");
        k.min_driver_linux = (*t)["min_driver_linux"].value_or(std::string{});  // not yet in the notes for the newest
        k.minor_version_compat = (*t)["minor_version_compat"].value_or(false);
        k.compat_min_driver_linux = (*t)["compat_min_driver_linux"].value_or(std::string{});
        if (k.minor_version_compat && k.compat_min_driver_linux.empty())
          throw std::runtime_error("knowledge base: cuda.toml: toolkit " + k.version + " lacks compat_min_driver_linux");
        kb.m_toolkits.push_back(std::move(k));
      }
    }
  }

  if (files.count("jax.toml")) {
    const auto jax = parse_file(files, "jax.toml");
    kb.m_jax_plugin_check_since = need_string(jax["rules"]["plugin_check_since_jaxlib"], "jax.toml plugin_check_since_jaxlib");
    if (const auto* arr = jax["cuda_major"].as_array()) {
      for (const auto& n : *arr) {
        const auto* t = n.as_table();
        if (t == nullptr) continue;
        kb.m_jax_cuda.push_back({need_string((*t)["cuda"], "jax.toml cuda_major cuda"), need_string((*t)["extra"], "jax.toml extra"),
                                 need_string((*t)["plugin"], "jax.toml plugin"), need_string((*t)["pjrt"], "jax.toml pjrt")});
      }
    }
  }

  auto xid = parse_file(files, "xid.toml");
  if (const auto* arr = xid["xids"].as_array()) {
    for (const auto& n : *arr) {
      const auto* x = n.as_table();
      if (x == nullptr) continue;
      XidInfo info;
      info.xid = static_cast<int>((*x)["xid"].value_or(int64_t{0}));
      info.hardware = (*x)["kind"].value_or(std::string{}) == "hardware";
      info.meaning = need_string((*x)["meaning"], "xid meaning");
      kb.m_xids[info.xid] = std::move(info);
    }
  }

  auto klog = parse_file(files, "kernel_log.toml");
  kb.m_kernel_log_keep = string_array(klog, "keep");
  if (const auto* arr = klog["line"].as_array()) {
    for (const auto& n : *arr) {
      const auto* t = n.as_table();
      if (t == nullptr) continue;
      KernelLogLine line;
      line.id = need_string((*t)["id"], "kernel_log.toml line id");
      line.pattern = need_string((*t)["pattern"], "kernel_log.toml line pattern");
      line.fault = (*t)["fault"].value_or(false);
      line.source = need_string((*t)["source"], "kernel_log.toml line source");
      line.examples = string_array(*t, "examples");
      line.counter_examples = string_array(*t, "counter_examples");
      re2::RE2::Options o;
      o.set_log_errors(false);
      auto re = std::make_shared<const re2::RE2>(line.pattern, o);
      if (!re->ok()) throw std::runtime_error(fmt::format("knowledge base: kernel_log.toml {}: {}", line.id, re->error()));
      line.re = std::move(re);
      kb.m_kernel_log_lines.push_back(std::move(line));
    }
  }

  auto libs = parse_file(files, "libraries.toml");
  if (const auto* arr = libs["roles"].as_array()) {
    for (const auto& n : *arr) {
      const auto* r = n.as_table();
      if (r == nullptr) continue;
      kb.m_roles.push_back({need_string((*r)["role"], "role"), need_string((*r)["stem"], "stem"),
                            need_string((*r)["missing"], "missing"), need_string((*r)["label"], "label")});
    }
  }
  // Longest stem first, so that libcublasLt.so is not taken for libcublas.so.
  std::sort(kb.m_roles.begin(), kb.m_roles.end(),
            [](const LibraryRole& a, const LibraryRole& b) { return a.stem.size() > b.stem.size(); });
  if (const auto* sonames = libs["sonames"].as_table()) {
    for (const auto& [major, table] : *sonames) {
      const auto* t = table.as_table();
      if (t == nullptr) continue;
      int m = std::atoi(std::string(major.str()).c_str());
      for (const auto& [role, name] : *t)
        if (auto v = name.value<std::string>()) kb.m_sonames[m][std::string(role.str())] = *v;
    }
  }
  if (const auto* own = libs["own_sonames"].as_table())
    for (const auto& [role, names] : *own) kb.m_own_sonames[std::string(role.str())] = string_array(*own, std::string(role.str()).c_str());
  if (const auto* wr = libs["wheel_roles"].as_table())
    for (const auto& [dist, roles] : *wr)
      if (const auto* arr = roles.as_array())
        for (const auto& r : *arr)
          if (auto v = r.value<std::string>()) kb.m_wheel_roles[std::string(dist.str())].push_back(*v);
  if (auto n = libs["pin_check"]["error_segments"].value<int64_t>()) {
    if (*n < 1 || *n > 4) throw std::runtime_error("libraries.toml [pin_check] error_segments must be 1 to 4");
    kb.m_pin_error_segments = static_cast<int>(*n);
  }
  if (const auto* ct = libs["cuda_targets"].as_table())
    for (const auto& [machine, folder] : *ct)
      if (auto v = folder.value<std::string>()) kb.m_cuda_targets[std::string(machine.str())] = *v;
  if (const auto* arr = libs["dlopen"].as_array()) {
    for (const auto& n : *arr) {
      const auto* d = n.as_table();
      if (d == nullptr) continue;
      kb.m_dlopen.push_back({need_string((*d)["by"], "dlopen by"), string_array(*d, "roles"), string_array(*d, "names")});
    }
  }
  if (const auto* arr = libs["framework"].as_array()) {
    for (const auto& n : *arr) {
      const auto* f = n.as_table();
      if (f == nullptr) continue;
      kb.m_frameworks.push_back({need_string((*f)["name"], "framework name"), string_array(*f, "entries")});
    }
  }
  if (const auto* arr = libs["preload"].as_array()) {
    auto pairs = [](const toml::table& t, const char* key) {
      std::vector<std::pair<std::string, std::string>> out;
      if (const auto* list = t[key].as_array())
        for (const auto& e : *list)
          if (const auto* pair = e.as_array(); pair && pair->size() == 2)
            out.emplace_back((*pair)[0].value_or(std::string{}), (*pair)[1].value_or(std::string{}));
      return out;
    };
    for (const auto& n : *arr) {
      const auto* t = n.as_table();
      if (t == nullptr) continue;
      FrameworkPreload p;
      p.framework = need_string((*t)["framework"], "preload framework");
      p.versions = string_array(*t, "versions");
      p.by = need_string((*t)["by"], "preload by");
      p.after = (*t)["after"].value_or(std::string{});
      p.when_mapped = (*t)["when_mapped"].value_or(std::string{});
      p.folders = string_array(*t, "folders");
      p.first_package_only = (*t)["first_package_only"].value_or(false);
      p.stop_on_missing = (*t)["stop_on_missing"].value_or(false);
      p.libraries = pairs(*t, "libraries");
      p.optional = pairs(*t, "optional");
      kb.m_preloads.push_back(std::move(p));
    }
  }

  if (files.count("tensorflow.toml")) {
    const auto tf = parse_file(files, "tensorflow.toml");
    kb.m_tf_and_cuda_first = need_string(tf["and_cuda_first"], "tensorflow.toml and_cuda_first");
    kb.m_tf_tested_builds_url = need_string(tf["tested_builds_url"], "tensorflow.toml tested_builds_url");
    kb.m_tf_last_windows_native_gpu = need_string(tf["last_windows_native_gpu"], "tensorflow.toml last_windows_native_gpu");
    if (const auto* arr = tf["dso"].as_array()) {
      for (const auto& n : *arr) {
        const auto* d = n.as_table();
        if (d == nullptr) continue;
        TfDso dso{string_array(*d, "libs"), string_array(*d, "optional"), string_array(*d, "gate")};
        for (const auto& series : string_array(*d, "series")) kb.m_tf_dso[series] = dso;
      }
    }
    if (const auto* arr = tf["release"].as_array()) {
      for (const auto& n : *arr) {
        const auto* r = n.as_table();
        if (r == nullptr) continue;
        TfRelease rel{need_string((*r)["series"], "release series"), (*r)["cuda"].value_or(std::string{}),
                      (*r)["cudnn"].value_or(std::string{}), (*r)["python"].value_or(std::string{}),
                      (*r)["windows_native_gpu"].value_or(false), (*r)["linux_gpu_package"].value_or(std::string{})};
        kb.m_tf_releases[rel.series] = rel;
      }
    }
  }

  if (files.count("pytorch.toml")) {
    auto pt = parse_file(files, "pytorch.toml");
    if (const auto* arr = pt["arch_list"].as_array()) {
      for (const auto& n : *arr) {
        const auto* a = n.as_table();
        if (a == nullptr) continue;
        std::string tag = (*a)["tag"].value_or(std::string{});
        std::string list = (*a)["list"].value_or(std::string{});
        std::vector<std::string> archs;
        size_t pos = 0;
        while (pos <= list.size() && !list.empty()) {
          size_t semi = list.find(';', pos);
          archs.push_back(list.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos));
          if (semi == std::string::npos) break;
          pos = semi + 1;
        }
        for (const auto& series : string_array(*a, "series")) kb.m_torch_arch[{tag, series}] = archs;
      }
    }
    if (const auto* arr = pt["cuda_variant"].as_array()) {
      for (const auto& n : *arr) {
        const auto* v = n.as_table();
        if (v == nullptr) continue;
        TorchVariant t;
        t.tag = need_string((*v)["tag"], "cuda_variant tag");
        t.cuda = (*v)["cuda"].value_or(std::string{});
        t.index_url = need_string((*v)["index_url"], "cuda_variant index_url");
        t.compat_min_driver_linux = (*v)["compat_min_driver_linux"].value_or(std::string{});
        t.suggested = (*v)["suggested"].value_or(false);
        kb.m_torch_variants.push_back(std::move(t));
      }
    }
    if (const auto* arr = pt["companions"].as_array()) {
      for (const auto& n : *arr) {
        const auto* c = n.as_table();
        if (c == nullptr) continue;
        std::string torch = need_string((*c)["torch"], "companions torch");
        for (const char* companion : {"torchvision", "torchaudio"}) {
          std::string v = (*c)[companion].value_or(std::string{});
          if (!v.empty()) kb.m_torch_companions[{companion, torch}] = v;
        }
      }
    }
  }

  if (files.count("gpu_performance.toml")) {
    auto perf = parse_file(files, "gpu_performance.toml");
    auto opt = [](const toml::table& t, const char* key) -> std::optional<double> { return t[key].value<double>(); };
    if (const auto* arr = perf["model"].as_array()) {
      for (const auto& n : *arr) {
        const auto* m = n.as_table();
        if (m == nullptr) continue;
        GpuModelFigures g;
        g.name = need_string((*m)["name"], "model name");
        g.match_names = string_array(*m, "match_names");
        if (const auto* ids = (*m)["pci_device_ids"].as_array())
          for (const auto& id : *ids)
            if (auto v = id.value<int64_t>()) g.pci_device_ids.push_back(static_cast<unsigned>(*v));
        g.memory_bandwidth_gbs = opt(*m, "memory_bandwidth_gbs");
        g.fp32_tflops = opt(*m, "fp32_tflops");
        g.tf32_tflops = opt(*m, "tf32_tflops");
        g.fp16_tflops = opt(*m, "fp16_tflops");
        g.bf16_tflops = opt(*m, "bf16_tflops");
        if (auto v = (*m)["pcie_gen"].value<int64_t>()) g.pcie_gen = static_cast<int>(*v);
        if (auto v = (*m)["pcie_width"].value<int64_t>()) g.pcie_width = static_cast<int>(*v);
        g.source = need_string((*m)["source"], "model source");
        kb.m_gpu_models.push_back(std::move(g));
      }
    }
    if (const auto* arr = perf["arch"].as_array()) {
      for (const auto& n : *arr) {
        const auto* a = n.as_table();
        if (a == nullptr) continue;
        ArchRates r;
        r.compute_capability = need_string((*a)["compute_capability"], "arch compute_capability");
        r.name = (*a)["name"].value_or(std::string{});
        r.fp32 = opt(*a, "fp32_flops_per_clock_per_sm");
        r.tf32 = opt(*a, "tf32_flops_per_clock_per_sm");
        r.fp16 = opt(*a, "fp16_flops_per_clock_per_sm");
        r.bf16 = opt(*a, "bf16_flops_per_clock_per_sm");
        r.geforce_tensor_factor = (*a)["geforce_tensor_factor"].value_or(1.0);
        r.source = need_string((*a)["source"], "arch source");
        kb.m_arch_rates.push_back(std::move(r));
      }
    }
    if (const auto* v = perf["verdict"].as_table()) {
      auto& t = kb.m_thresholds;
      t.memory_fraction = (*v)["memory_fraction"].value_or(t.memory_fraction);
      t.tensor_fraction = (*v)["tensor_fraction"].value_or(t.tensor_fraction);
      t.fp32_fraction = (*v)["fp32_fraction"].value_or(t.fp32_fraction);
      t.pcie_fraction = (*v)["pcie_fraction"].value_or(t.pcie_fraction);
      t.peer_lag_fraction = (*v)["peer_lag_fraction"].value_or(t.peer_lag_fraction);
      t.memory_held_fraction = (*v)["memory_held_fraction"].value_or(t.memory_held_fraction);
      t.gpu_lag_fraction = (*v)["gpu_lag_fraction"].value_or(t.gpu_lag_fraction);
      t.power_limit_lowered_fraction = (*v)["power_limit_lowered_fraction"].value_or(t.power_limit_lowered_fraction);
      t.clocks_held_fraction = (*v)["clocks_held_fraction"].value_or(t.clocks_held_fraction);
      t.min_free_to_start_gib = (*v)["min_free_to_start_gib"].value_or(t.min_free_to_start_gib);
      t.busy_by_others_percent = (*v)["busy_by_others_percent"].value_or(t.busy_by_others_percent);
      if (const auto* lim = (*v)["gemm_error_limit"].as_table())
        for (const auto& [k, val] : *lim)
          if (auto d = val.value<double>()) t.gemm_error_limit[std::string(k.str())] = *d;
    }
  }

  auto env = parse_file(files, "environment.toml");
  kb.m_env_prefixes = string_array(env, "prefixes");
  kb.m_env_names = string_array(env, "names");
  kb.m_env_deny = string_array(env, "deny_substrings");

  if (files.count("python_envs.toml")) {
    auto pe = parse_file(files, "python_envs.toml");
    auto& search = kb.m_python_env_search;
    search.project_dirs = string_array(pe, "project_dirs");
    search.outside_home = string_array(pe, "outside_home");
    search.skip_names = string_array(pe, "skip_names");
    search.not_environments = string_array(pe, "not_environments");
    auto bound = [&](const char* key, std::size_t fallback) {
      auto v = pe[key].value<int64_t>();
      if (v && (*v < 1 || *v > 1000000)) throw std::runtime_error(fmt::format("knowledge base: python_envs.toml {} out of range", key));
      return v ? static_cast<std::size_t>(*v) : fallback;
    };
    search.max_environments = bound("max_environments", search.max_environments);
    search.max_folders_listed = bound("max_folders_listed", search.max_folders_listed);
    search.max_entries = bound("max_entries", search.max_entries);
    if (const auto* arr = pe["tool"].as_array())
      for (const auto& n : *arr)
        if (const auto* t = n.as_table()) {
          PythonEnvSearch::Tool tool{need_string((*t)["name"], "tool name"), string_array(*t, "patterns")};
          for (const auto& p : tool.patterns)
            if (p.rfind("~/", 0) != 0 && (p.size() < 3 || p[0] != '$' || p.find('/') == std::string::npos))
              throw std::runtime_error("knowledge base: python_envs.toml pattern neither under ~/ nor $NAME/: " + p);
          search.tools.push_back(std::move(tool));
        }
  }
  if (files.count("fixes.toml")) {
    auto fixes = parse_file(files, "fixes.toml");
    if (const auto* arr = fixes["fix"].as_array())
      for (const auto& n : *arr)
        if (const auto* f = n.as_table()) kb.m_text_fixes[need_string((*f)["cause"], "fix cause")] = string_array(*f, "steps");
  }
  if (files.count("program.toml")) {
    auto prog = parse_file(files, "program.toml");
    if (const auto* arr = prog["mapped"].as_array())
      for (const auto& n : *arr)
        if (const auto* m = n.as_table())
          kb.m_mapped.emplace_back(need_string((*m)["stem"], "mapped stem"), need_string((*m)["role"], "mapped role"));
    if (const auto* v = prog["verdict"].as_table()) {
      auto& t = kb.m_program;
      t.min_judge_s = (*v)["min_judge_s"].value_or(t.min_judge_s);
      t.busy_share_starved = (*v)["busy_share_starved"].value_or(t.busy_share_starved);
      t.cpu_busy_percent = (*v)["cpu_busy_percent"].value_or(t.cpu_busy_percent);
      t.one_of_many_min_s = (*v)["one_of_many_min_s"].value_or(t.one_of_many_min_s);
    }
    if (const auto* ns = prog["pid_namespace_without_proc"].as_table()) kb.m_program.pid_namespace_without_proc_fix = string_array(*ns, "fix");
  }
  auto py = parse_file(files, "python_code.toml");
  auto& pc = kb.m_python_code;
  if (const auto* arr = py["module_alias"].as_array())
    for (const auto& n : *arr)
      if (const auto* t = n.as_table())
        pc.module_aliases.emplace_back(need_string((*t)["from"], "module_alias.from"), need_string((*t)["to"], "module_alias.to"));
  if (const auto* arr = py["env"].as_array())
    for (const auto& n : *arr)
      if (const auto* t = n.as_table())
        pc.env.push_back({need_string((*t)["name"], "env.name"), need_string((*t)["kind"], "env.kind"),
                          (*t)["framework"].value_or(std::string{})});
  for (const char* group : {"api", "method"}) {
    const auto* t = py[group].as_table();
    if (t == nullptr) throw std::runtime_error(fmt::format("knowledge base: python_code.toml has no [{}]", group));
    auto& into = std::string_view(group) == "api" ? pc.apis : pc.methods;
    for (const auto& [role, _] : *t) into[std::string(role.str())] = string_array(*t, std::string(role.str()).c_str());
  }
  auto sub = [&](const char* table, const char* key) {
    const auto* t = py[table].as_table();
    return t ? string_array(*t, key) : std::vector<std::string>{};
  };
  pc.jax_platform_options = sub("jax", "platform_options");
  pc.placing_modules = sub("placement", "modules");
  pc.training_function_prefixes = sub("training", "local_function_prefixes");
  pc.notebook_python_cell_magics = sub("notebook", "python_cell_magics");
  pc.interpreters = sub("launch", "interpreters");
  pc.python_value_options = sub("launch", "python_value_options");
  if (const auto* arr = py["launcher"].as_array())
    for (const auto& n : *arr)
      if (const auto* t = n.as_table())
        pc.launchers.push_back({need_string((*t)["name"], "launcher.name"), string_array(*t, "argv0"),
                                (*t)["subcommand"].value_or(std::string{}), string_array(*t, "flags"),
                                string_array(*t, "module_flags")});
  if (const auto* rows = env["forces_cpu"].as_array())
    for (const auto& node : *rows) {
      const auto* t = node.as_table();
      if (t == nullptr) continue;
      EnvForcesCpu row;
      row.variable = (*t)["variable"].value_or(std::string());
      row.framework = (*t)["framework"].value_or(std::string());
      row.gpu_values = string_array(*t, "gpu_values");
      row.effect = (*t)["effect"].value_or(std::string());
      row.fix = (*t)["fix"].value_or(std::string());
      if (!row.variable.empty()) kb.m_env_forces_cpu.push_back(std::move(row));
    }

  auto red = parse_file(files, "redaction.toml");
  if (const auto* arr = red["secret"].as_array()) {
    for (const auto& n : *arr) {
      const auto* t = n.as_table();
      if (t == nullptr) continue;
      SecretShape shape;
      shape.name = need_string((*t)["name"], "secret name");
      shape.pattern = need_string((*t)["pattern"], "secret pattern");
      shape.replace = (*t)["replace"].value_or(std::string{});
      shape.mixed = (*t)["mixed"].value_or(false);
      shape.max_slashes = static_cast<int>((*t)["max_slashes"].value_or(int64_t{-1}));
      shape.source = need_string((*t)["source"], "secret source");
      kb.m_redaction.secrets.push_back(std::move(shape));
    }
  }
  kb.m_redaction.home_parents = string_array(red, "home_parents");
  kb.m_redaction.not_users = string_array(red, "not_users");
  kb.m_redaction.first_user_id = static_cast<unsigned>(red["first_user_id"].value_or(int64_t{1000}));
  return kb;
}

const KnowledgeBase& KnowledgeBase::get() {
  static const KnowledgeBase kb = [] {
    std::map<std::string, std::string_view> files;
    for (const auto& f : embedded_files()) files[std::string(f.name)] = f.content;
    return parse(files);
  }();
  return kb;
}

const CauseInfo* KnowledgeBase::cause(std::string_view id) const {
  for (const auto& c : m_causes)
    if (c.id == id) return &c;
  return nullptr;
}

const ErrorCode* KnowledgeBase::cuda_error(int code) const {
  auto it = m_cuda_errors.find(code);
  return it == m_cuda_errors.end() ? nullptr : &it->second;
}

bool KnowledgeBase::cuda_error_is(int code, std::string_view klass) const {
  const auto* e = cuda_error(code);
  return e != nullptr && e->klass == klass;
}

bool KnowledgeBase::nvml_error_is(int code, std::string_view klass) const {
  const auto* e = nvml_error(code);
  return e != nullptr && e->klass == klass;
}

const ErrorCode* KnowledgeBase::nvml_error(int code) const {
  auto it = m_nvml_errors.find(code);
  return it == m_nvml_errors.end() ? nullptr : &it->second;
}

std::optional<std::string> KnowledgeBase::max_cuda_for_branch(int branch) const {
  auto it = m_branch_cuda.find(branch);
  if (it == m_branch_cuda.end()) return std::nullopt;
  return it->second;
}

std::optional<int> KnowledgeBase::pcie_gen_for_gts(double gts) const {
  for (const auto& [rate, gen] : m_pcie)
    if (std::fabs(rate - gts) < 0.01) return gen;
  return std::nullopt;
}

const KernelLogLine* KnowledgeBase::kernel_log_line(std::string_view id) const {
  for (const auto& l : m_kernel_log_lines)
    if (l.id == id) return &l;
  return nullptr;
}

bool KnowledgeBase::kernel_log_is(std::string_view id, std::string_view line,
                                  std::map<std::string, std::string>* values) const {
  const auto* l = kernel_log_line(id);
  if (l == nullptr) throw std::logic_error(fmt::format("kernel_log.toml has no line {}", id));
  const auto& re = *l->re;
  auto n = static_cast<size_t>(re.NumberOfCapturingGroups());
  std::vector<re2::StringPiece> groups(n + 1);
  if (!re.Match(line, 0, line.size(), re2::RE2::UNANCHORED, groups.data(), static_cast<int>(n + 1))) return false;
  if (values != nullptr) {
    for (const auto& [name, index] : re.NamedCapturingGroups()) {
      const auto& g = groups[static_cast<size_t>(index)];
      if (g.data() != nullptr) (*values)[name] = std::string(g);
    }
  }
  return true;
}

const XidInfo* KnowledgeBase::xid(int number) const {
  auto it = m_xids.find(number);
  return it == m_xids.end() ? nullptr : &it->second;
}

std::vector<std::string> KnowledgeBase::torch_arch_list(std::string_view tag, std::string_view series) const {
  auto it = m_torch_arch.find({std::string(tag), std::string(series)});
  return it == m_torch_arch.end() ? std::vector<std::string>{} : it->second;
}

std::string KnowledgeBase::torch_companion(std::string_view companion, std::string_view torch_version) const {
  std::string_view release = torch_version.substr(0, torch_version.find('+'));
  auto it = m_torch_companions.find({std::string(companion), std::string(release)});
  return it == m_torch_companions.end() ? std::string() : it->second;
}

const GpuModelFigures* KnowledgeBase::gpu_model(std::optional<unsigned> pci_device_id, std::string_view name) const {
  if (pci_device_id) {
    for (const auto& m : m_gpu_models)
      if (std::find(m.pci_device_ids.begin(), m.pci_device_ids.end(), *pci_device_id) != m.pci_device_ids.end()) return &m;
  }
  // By name only where the id is unknown, or the row lists no ids: one name can cover boards of
  // different figures (the RTX 3080 10 GB and 12 GB), and the id tells them apart.
  for (const auto& m : m_gpu_models)
    if ((!pci_device_id || m.pci_device_ids.empty()) &&
        std::find(m.match_names.begin(), m.match_names.end(), name) != m.match_names.end())
      return &m;
  return nullptr;
}

const ArchRates* KnowledgeBase::arch_rates(int major, int minor) const {
  std::string cc = fmt::format("{}.{}", major, minor);
  for (const auto& a : m_arch_rates)
    if (a.compute_capability == cc) return &a;
  return nullptr;
}

std::optional<double> KnowledgeBase::pcie_lane_gbs(int gen) const {
  auto it = m_pcie_lane_gbs.find(gen);
  if (it == m_pcie_lane_gbs.end()) return std::nullopt;
  return it->second;
}

const TfRelease* KnowledgeBase::tf_release(std::string_view series) const {
  auto it = m_tf_releases.find(std::string(series));
  return it == m_tf_releases.end() ? nullptr : &it->second;
}

namespace {
int major_of(std::string_view version) { return parse_dotted_version(version.substr(0, version.find('.'))).value_or(std::vector<int>{-1}).front(); }
}  // namespace

std::optional<std::string> KnowledgeBase::min_driver_for_cuda_major(int major) const {
  for (const auto& t : m_toolkits)
    if (major_of(t.version) == major && t.minor_version_compat) return t.compat_min_driver_linux;
  return std::nullopt;
}

const TorchVariant* KnowledgeBase::torch_suggested_variant(int major) const {
  for (const auto& v : m_torch_variants)
    if (v.suggested && !v.cuda.empty() && major_of(v.cuda) == major) return &v;
  return nullptr;
}

const JaxCudaMajor* KnowledgeBase::jax_cuda_major(int major) const {
  for (const auto& j : m_jax_cuda)
    if (major_of(j.cuda) == major) return &j;
  return nullptr;
}

std::string KnowledgeBase::pci_vendor_name(unsigned vendor_id) const {
  auto it = m_pci_vendors.find(vendor_id);
  return it != m_pci_vendors.end() ? it->second : fmt::format("vendor 0x{:04x}", vendor_id);
}

bool KnowledgeBase::tf_windows_native_gpu(std::string_view series) const {
  if (const auto* r = tf_release(series)) return r->windows_native_gpu;
  return compare_versions(series, m_tf_last_windows_native_gpu) <= 0;
}

const TfDso* KnowledgeBase::tf_dso(std::string_view series) const {
  auto it = m_tf_dso.find(std::string(series));
  return it == m_tf_dso.end() ? nullptr : &it->second;
}

const FrameworkPreload* KnowledgeBase::framework_preload(std::string_view framework, std::string_view version) const {
  std::string_view public_version = version.substr(0, version.find('+'));
  for (const auto& p : m_preloads)
    if (p.framework == framework && std::find(p.versions.begin(), p.versions.end(), public_version) != p.versions.end())
      return &p;
  return nullptr;
}

const LibraryRole* KnowledgeBase::role_for_file(std::string_view file_name) const {
  for (const auto& r : m_roles) {
    if (file_name.substr(0, r.stem.size()) == r.stem &&
        (file_name.size() == r.stem.size() || file_name[r.stem.size()] == '.'))
      return &r;
  }
  return nullptr;
}

std::string KnowledgeBase::cuda_target(std::string_view machine) const {
  auto it = m_cuda_targets.find(machine);
  return it == m_cuda_targets.end() ? std::string() : it->second;
}

std::vector<std::string> KnowledgeBase::wheel_roles(std::string_view dist) const {
  std::string base(dist);
  // "nvidia-nccl-cu13" -> "nvidia-nccl"
  if (size_t cu = base.rfind("-cu"); cu != std::string::npos && cu + 3 < base.size() &&
                                     base.find_first_not_of("0123456789", cu + 3) == std::string::npos)
    base.resize(cu);
  auto it = m_wheel_roles.find(base);
  return it == m_wheel_roles.end() ? std::vector<std::string>{} : it->second;
}

std::optional<std::string> KnowledgeBase::soname_for(int cuda_major, std::string_view role) const {
  auto it = m_sonames.find(cuda_major);
  if (it == m_sonames.end()) return std::nullopt;
  auto r = it->second.find(std::string(role));
  if (r == it->second.end()) return std::nullopt;
  return r->second;
}

std::vector<std::string> KnowledgeBase::sonames_newest_first(std::string_view role) const {
  std::vector<std::string> out;
  if (auto it = m_own_sonames.find(role); it != m_own_sonames.end()) out = it->second;
  for (auto m = m_sonames.rbegin(); m != m_sonames.rend(); ++m)
    if (auto r = m->second.find(std::string(role)); r != m->second.end()) out.push_back(r->second);
  return out;
}

std::vector<std::string> KnowledgeBase::text_fix(std::string_view cause) const {
  auto it = m_text_fixes.find(cause);
  return it == m_text_fixes.end() ? std::vector<std::string>{} : it->second;
}

std::optional<std::string> KnowledgeBase::mapped_role(std::string_view file_name) const {
  if (const auto* r = role_for_file(file_name)) return r->role;
  for (const auto& [stem, role] : m_mapped)
    if (file_name.substr(0, stem.size()) == stem) return role;
  return std::nullopt;
}

bool PythonCodeNames::api_is(std::string_view role, std::string_view qualified) const {
  auto it = apis.find(std::string(role));
  if (it == apis.end()) return false;
  for (const auto& n : it->second) {
    if (n == qualified) return true;
    if (!n.empty() && n.back() == '.' && qualified.size() > n.size() && qualified.substr(0, n.size()) == n) return true;
  }
  return false;
}

bool PythonCodeNames::method_is(std::string_view role, std::string_view name) const {
  auto it = methods.find(std::string(role));
  return it != methods.end() && std::find(it->second.begin(), it->second.end(), name) != it->second.end();
}

const PythonCodeNames::Env* PythonCodeNames::env_row(std::string_view name) const {
  for (const auto& e : env)
    if (e.name == name) return &e;
  return nullptr;
}

bool KnowledgeBase::env_allowed(std::string_view name) const {
  bool listed = false;
  for (const auto& n : m_env_names)
    if (n == name) listed = true;
  for (const auto& p : m_env_prefixes)
    if (name.substr(0, p.size()) == p) listed = true;
  if (!listed) return false;
  std::string upper(name);
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const auto& d : m_env_deny)
    if (upper.find(d) != std::string::npos) return false;
  return true;
}

}  // namespace gpudoctor::kb
