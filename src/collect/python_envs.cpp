// Python environments, found the way the user's shell would run Python: --python, the active
// virtualenv (VIRTUAL_ENV), the active conda environment (CONDA_PREFIX), then python3 on PATH.
// Read from disk only (pyvenv.cfg, the lib/pythonX.Y folders); Python is never run.

#include <pwd.h>
#include <unistd.h>

#include <algorithm>

#include "collect/collect.hpp"
#include "collect/parsers.hpp"
#include "core/version.hpp"

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
  // pyvenv.cfg's "version_info = 3.12.3.final.0" (uv, virtualenv) or "version = 3.11.4" (venv):
  // X.Y, when it is one ("version = " with nothing after it is not).
  auto cfg_version = [&](const char* key) -> std::optional<std::string> {
    if (!cfg) return std::nullopt;
    auto it = cfg->find(key);
    if (it == cfg->end()) return std::nullopt;
    const std::string& v = it->second;
    size_t first_dot = v.find('.');
    std::string x_y = first_dot == std::string::npos ? v : v.substr(0, v.find('.', first_dot + 1));
    if (x_y.size() > 8 || !parse_dotted_version(x_y)) return std::nullopt;
    return x_y;
  };
  if (auto v = cfg_version("version_info")) {
    env.version = *v;
  } else if (auto v2 = cfg_version("version")) {
    env.version = *v2;
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
    if (env.kind != "venv" && ctx.fs.is_host()) {
      // The user's site-packages (pip install --user), on sys.path of non-venv interpreters.
      if (const passwd* pw = ::getpwuid(::geteuid())) {
        std::string sp = std::string(pw->pw_dir) + "/.local/lib/python" + *env.version + "/site-packages";
        if (fs.is_dir(sp)) env.site_packages.insert(env.site_packages.begin(), sp);
      }
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

// The other environments a user has, which are not the one in use: conda's own list of its
// environments (~/.conda/environments.txt) and the usual conda installs, pyenv's versions, and
// virtualenvs up to two folders deep in the home folders (~/venv, ~/project/.venv,
// ~/.virtualenvs/NAME). Bounded: a few thousand stat calls at most.
void discover_other_environments(CollectContext& ctx) {
  const auto& fs = ctx.fs;
  std::vector<std::string> homes;
  if (fs.is_host()) {
    if (auto it = ctx.options.environment.find("CONDA_EXE"); it != ctx.options.environment.end()) {
      std::string base = path_dirname(path_dirname(it->second));
      homes.push_back(base);  // not a home, but its envs/ are looked at below
    }
    if (const passwd* pw = ::getpwuid(::geteuid())) homes.emplace_back(pw->pw_dir);
  } else {
    for (const auto& user : fs.list_dir("/home")) homes.push_back("/home/" + user);
    homes.emplace_back("/root");
  }
  auto try_env = [&](const std::string& prefix, const std::string& why) {
    if (fs.exists(prefix + "/pyvenv.cfg") || fs.is_dir(prefix + "/conda-meta")) {
      auto python = fs.resolve(prefix + "/bin/python3");
      add_environment(ctx, prefix, why, python, false);
    }
  };
  std::vector<std::string> conda_roots = {"/opt/conda", "/opt/miniconda3", "/opt/anaconda3", "/opt/miniforge3"};
  for (const auto& home : homes) {
    if (auto list = fs.read_text(home + "/.conda/environments.txt", 64 * 1024)) {
      size_t pos = 0;
      while (pos < list->size()) {
        size_t nl = list->find('\n', pos);
        if (nl == std::string::npos) nl = list->size();
        std::string line(parse::trim(std::string_view(*list).substr(pos, nl - pos)));
        if (!line.empty() && line.front() == '/') try_env(line, "conda (~/.conda/environments.txt)");
        pos = nl + 1;
      }
    }
    for (const char* c : {"/miniconda3", "/anaconda3", "/miniforge3", "/mambaforge", "/micromamba"}) conda_roots.push_back(home + c);
    for (const auto& v : fs.list_dir(home + "/.pyenv/versions")) try_env(home + "/.pyenv/versions/" + v, "pyenv");
    for (const auto& v : fs.list_dir(home + "/.virtualenvs")) try_env(home + "/.virtualenvs/" + v, "virtualenvwrapper");
    for (const auto& v : fs.list_dir(home + "/.local/share/virtualenvs")) try_env(home + "/.local/share/virtualenvs/" + v, "pipenv");
    // ~/NAME and ~/NAME/NAME2 holding a pyvenv.cfg.
    size_t budget = 4000;
    for (const auto& a : fs.list_dir(home)) {
      if (budget == 0) break;
      std::string d1 = home + "/" + a;
      --budget;
      if (!fs.is_dir(d1)) continue;
      try_env(d1, "virtualenv in " + home);
      if (a == ".cache" || a == ".local" || a == "node_modules" || a == ".git") continue;
      for (const auto& b : fs.list_dir(d1)) {
        if (budget == 0) break;
        --budget;
        std::string d2 = d1 + "/" + b;
        if (fs.exists(d2 + "/pyvenv.cfg")) try_env(d2, "virtualenv in " + home);
      }
    }
  }
  for (const auto& root : conda_roots) {
    if (!fs.is_dir(root + "/conda-meta")) continue;
    try_env(root, "conda base");
    for (const auto& e : fs.list_dir(root + "/envs")) try_env(root + "/envs/" + e, "conda environment");
  }
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
  discover_other_environments(ctx);
}

}  // namespace gpudoctor
