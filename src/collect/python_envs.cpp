// Python environments, found the way the user's shell would run Python: --python, the active
// virtualenv (VIRTUAL_ENV), the active conda environment (CONDA_PREFIX), then python3 on PATH.
// Read from disk only (pyvenv.cfg, the lib/pythonX.Y folders); Python is never run.

#include <algorithm>

#include "collect/collect.hpp"
#include "collect/parsers.hpp"

namespace gpudoctor {

namespace {

std::vector<std::string> split_colons(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t c = s.find(':', pos);
    std::string part = s.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
    if (!part.empty() && part.front() == '/') out.push_back(part);
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  return out;
}

// pyvenv.cfg lines "key = value".
std::map<std::string, std::string> pyvenv_cfg(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    size_t eq = line.find('=');
    if (eq != std::string_view::npos)
      out[std::string(parse::trim(line.substr(0, eq)))] = std::string(parse::trim(line.substr(eq + 1)));
    pos = nl + 1;
  }
  return out;
}

void add_environment(CollectContext& ctx, const std::string& prefix, const std::string& found_by,
                     const std::optional<std::string>& python, bool in_use) {
  auto& envs = ctx.snapshot.python_envs;
  const auto& fs = ctx.fs;
  auto resolved_prefix = fs.resolve(prefix);
  if (!resolved_prefix) return;
  for (auto& e : envs) {
    if (fs.resolve(e.prefix) == resolved_prefix) {
      e.in_use = e.in_use || in_use;
      return;
    }
  }
  PythonEnvironment env;
  env.prefix = prefix;
  env.found_by = found_by;
  env.in_use = in_use;
  if (python) env.python = *python;
  else env.python = Fact<std::string>::unknown("no interpreter named");
  std::optional<std::map<std::string, std::string>> cfg;
  if (auto text = fs.read_text(prefix + "/pyvenv.cfg", 64 * 1024)) cfg = pyvenv_cfg(*text);
  env.kind = cfg ? "venv" : fs.is_dir(prefix + "/conda-meta") ? "conda" : "system";
  // The pythonX.Y folders under lib/: the one with site-packages is the environment's.
  std::vector<std::string> versions;
  for (const auto& name : fs.list_dir(prefix + "/lib")) {
    if (name.rfind("python3.", 0) == 0 && fs.is_dir(prefix + "/lib/" + name + "/site-packages")) versions.push_back(name.substr(6));
  }
  if (cfg && cfg->count("version_info")) {
    auto v = cfg->at("version_info");
    auto second_dot = v.find('.', v.find('.') + 1);
    env.version = v.substr(0, second_dot);
  } else if (cfg && cfg->count("version")) {
    auto v = cfg->at("version");
    env.version = v.substr(0, v.find('.', v.find('.') + 1));
  } else if (versions.size() == 1) {
    env.version = versions.front();
  } else if (python && path_basename(*python).rfind("python3.", 0) == 0) {
    env.version = std::string(path_basename(*python).substr(6));  // /usr/bin/python3.11
  } else {
    env.version = Fact<std::string>::unknown(versions.empty() ? "no lib/python3.X/site-packages" : "several lib/python3.X folders");
  }
  if (env.version.known()) {
    for (const char* lib : {"/lib/python", "/lib64/python"}) {
      std::string sp = prefix + lib + *env.version + "/site-packages";
      if (fs.is_dir(sp) && std::find(env.site_packages.begin(), env.site_packages.end(), sp) == env.site_packages.end())
        env.site_packages.push_back(sp);
    }
    if (env.kind == "system") {
      // Debian's interpreters: /usr/local/lib/python3.X/dist-packages, /usr/lib/python3/dist-packages.
      for (std::string sp : {prefix + "/local/lib/python" + *env.version + "/dist-packages", prefix + "/lib/python3/dist-packages"})
        if (fs.is_dir(sp)) env.site_packages.push_back(sp);
    }
    if (cfg && cfg->count("include-system-site-packages") && cfg->at("include-system-site-packages") == "true" &&
        cfg->count("home")) {
      std::string base = path_dirname(cfg->at("home"));
      std::string sp = base + "/lib/python" + *env.version + "/site-packages";
      if (fs.is_dir(sp)) env.site_packages.push_back(sp);
    }
  }
  envs.push_back(std::move(env));
}

// The environment of an interpreter: a venv's prefix is the folder above bin/ holding
// pyvenv.cfg (links are not followed for that: a venv's python links to the base one).
void add_interpreter(CollectContext& ctx, const std::string& python, const std::string& found_by, bool in_use) {
  std::string bin = path_dirname(python);
  // pyenv: bin/python3 in .pyenv/shims is a script; the version it runs is PYENV_VERSION, else
  // the global file .pyenv/version (a local .python-version depends on the working folder).
  if (path_basename(bin) == "shims" && path_basename(path_dirname(bin)) == ".pyenv") {
    std::string pyenv = path_dirname(bin);
    std::string version;
    if (auto it = ctx.options.environment.find("PYENV_VERSION"); it != ctx.options.environment.end()) version = it->second;
    else if (auto text = ctx.fs.read_text(pyenv + "/version", 4096)) version = std::string(parse::trim(text->substr(0, text->find('\n'))));
    if (!version.empty() && version != "system") {
      std::string prefix = pyenv + "/versions/" + version;
      add_environment(ctx, prefix, found_by + ", pyenv " + version, ctx.fs.resolve(prefix + "/bin/python3"), in_use);
    }
    return;
  }
  std::string prefix = path_dirname(bin);
  if (ctx.fs.exists(prefix + "/pyvenv.cfg")) {
    add_environment(ctx, prefix, found_by, ctx.fs.resolve(python), in_use);
    return;
  }
  auto real = ctx.fs.resolve(python);
  if (!real) return;
  add_environment(ctx, path_dirname(path_dirname(*real)), found_by, real, in_use);
}

}  // namespace

void collect_python_envs(CollectContext& ctx) {
  const auto& env = ctx.options.environment;
  bool chosen = false;
  if (!ctx.options.python.empty()) {
    add_interpreter(ctx, ctx.options.python, "--python", true);
    chosen = true;
  }
  if (auto it = env.find("VIRTUAL_ENV"); it != env.end() && ctx.fs.is_host() && !it->second.empty())
    add_environment(ctx, it->second, "VIRTUAL_ENV", ctx.fs.resolve(it->second + "/bin/python"), !chosen);
  else if (auto c = env.find("CONDA_PREFIX"); c != env.end() && ctx.fs.is_host() && !c->second.empty())
    add_environment(ctx, c->second, "CONDA_PREFIX", ctx.fs.resolve(c->second + "/bin/python"), !chosen);
  chosen = chosen || !ctx.snapshot.python_envs.empty();
  std::vector<std::string> path_dirs;
  if (ctx.fs.is_host()) {
    if (auto it = env.find("PATH"); it != env.end()) path_dirs = split_colons(it->second);
  }
  for (const char* d : {"/usr/local/bin", "/usr/bin", "/opt/conda/bin"}) path_dirs.emplace_back(d);
  for (const auto& d : path_dirs) {
    for (const char* name : {"python3", "python"}) {
      std::string p = d + "/" + name;
      if (auto st = ctx.fs.stat(p); st && S_ISREG(st->st_mode)) {
        add_interpreter(ctx, p, "python3 on PATH (" + d + ")", !chosen);
        chosen = true;
      }
    }
  }
}

}  // namespace gpudoctor
