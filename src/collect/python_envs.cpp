// Python environments, found the way the user's shell would run Python: --python, the venv
// gpudoctor's wheel is installed in, the active virtualenv (VIRTUAL_ENV), the active conda
// environment (CONDA_PREFIX), then python3 on PATH; then the others the user has (EnvironmentSearch).
// Read from disk only (pyvenv.cfg, the lib/pythonX.Y folders); Python is never run.

#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "collect/collect.hpp"
#include "collect/parsers.hpp"
#include "core/path.hpp"
#include "core/version.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {

namespace {

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
  env.kind = cfg ? EnvironmentKind::venv : fs.is_dir(prefix + "/conda-meta") ? EnvironmentKind::conda
                                                                             : EnvironmentKind::system;
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
    if (env.kind != EnvironmentKind::venv && ctx.fs.is_host()) {
      // The user's site-packages (pip install --user), on sys.path of non-venv interpreters.
      if (const passwd* pw = ::getpwuid(::geteuid())) {
        std::string sp = std::string(pw->pw_dir) + "/.local/lib/python" + *env.version + "/site-packages";
        if (fs.is_dir(sp)) env.site_packages.insert(env.site_packages.begin(), sp);
      }
    }
    if (env.kind == EnvironmentKind::system) {
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

// The other environments a user has, which are not the one in use, in the order they matter:
// the project's own (.venv, venv or env in the working folder or above it), conda's own list of
// its environments (~/.conda/environments.txt), the tools' default folders (Poetry, PDM, Hatch,
// virtualenvwrapper, pipenv, pyenv: kb/data/python_envs.toml), virtualenvs up to two folders
// deep in the home folders (~/venv, ~/project/.venv) and in the folders outside them where
// images and servers keep theirs (/workspace, /data, /opt, /srv), then the usual conda installs.
// Bounded (python_envs.toml): the environments judged, the folders listed, the names looked at;
// a bound reached is a note in the snapshot.
class EnvironmentSearch {
 public:
  explicit EnvironmentSearch(CollectContext& ctx)
      : m_ctx(ctx), m_fs(ctx.fs), m_rules(kb::KnowledgeBase::get().python_env_search()) {}

  void run() {
    std::vector<std::string> homes;
    std::vector<std::string> conda_roots = {"/opt/conda", "/opt/miniconda3", "/opt/anaconda3", "/opt/miniforge3"};
    if (m_fs.is_host()) {
      if (auto it = m_ctx.options.environment.find("CONDA_EXE"); it != m_ctx.options.environment.end())
        conda_roots.insert(conda_roots.begin(), path_dirname(path_dirname(it->second)));
      if (const passwd* pw = ::getpwuid(::geteuid())) homes.emplace_back(pw->pw_dir);
    } else {
      for (const auto& user : list("/home")) homes.push_back("/home/" + user);
      homes.emplace_back("/root");
    }
    project_environments();
    for (const auto& home : homes) {
      conda_list(home);
      for (const char* c : {"/miniconda3", "/anaconda3", "/miniforge3", "/mambaforge", "/micromamba"}) conda_roots.push_back(home + c);
    }
    for (const auto& tool : m_rules.tools)
      for (const auto& pattern : tool.patterns) {
        if (pattern.front() == '~') {
          for (const auto& home : homes) expand(home + pattern.substr(1), tool.name + " (" + pattern + ")");
          continue;
        }
        // "$NAME/...": the user's variable on this machine, an absolute folder.
        size_t slash = pattern.find('/');
        auto it = m_ctx.options.environment.find(pattern.substr(1, slash - 1));
        if (!m_fs.is_host() || it == m_ctx.options.environment.end() || it->second.size() < 2 || it->second.front() != '/') continue;
        std::string base = it->second;
        while (base.size() > 1 && base.back() == '/') base.pop_back();
        expand(base + pattern.substr(slash), tool.name + " (" + pattern.substr(0, slash) + "=" + it->second + ")");
      }
    for (const auto& home : homes) two_levels(home, "virtualenv in " + home, false);
    for (const auto& top : m_rules.outside_home) two_levels(top, "virtualenv in " + top, true);
    for (const auto& root : conda_roots) {
      if (!m_fs.is_dir(root + "/conda-meta")) continue;
      offer(root, "conda base", false);
      for (const auto& e : list(root + "/envs")) offer(root + "/envs/" + e, "conda environment", false);
    }
    auto& notes = m_ctx.snapshot.python_env_notes;
    if (m_not_judged > 0)
      notes.push_back(fmt::format(
          "the environment search judged {} environments and stopped there: {} more found were not read "
          "(name the one that matters with --python)",
          m_rules.max_environments, m_not_judged));
    if (m_listing_stopped)
      notes.push_back(fmt::format(
          "the environment search stopped after {} folders ({} names): environments further in were not "
          "looked for (name the one that matters with --python)",
          m_folders_listed, m_entries));
  }

 private:
  // The names in a folder, counted against the bounds; empty once they are spent.
  std::vector<std::string> list(const std::string& dir) {
    if (m_folders_listed >= m_rules.max_folders_listed || m_entries >= m_rules.max_entries) {
      if (m_fs.is_dir(dir)) m_listing_stopped = true;
      return {};
    }
    ++m_folders_listed;
    auto names = m_fs.list_dir(dir);
    size_t left = m_rules.max_entries - m_entries;
    if (names.size() > left) {
      names.resize(left);
      m_listing_stopped = true;
    }
    m_entries += names.size();
    return names;
  }

  bool skipped(const std::string& name) const {
    return std::find(m_rules.skip_names.begin(), m_rules.skip_names.end(), name) != m_rules.skip_names.end();
  }

  // A folder is an environment when it holds pyvenv.cfg (or conda-meta/, unless `strict`, which
  // also asks for bin/python: outside the places made for environments, a stray pyvenv.cfg is not one).
  bool is_environment(const std::string& prefix, bool strict) const {
    if (!strict && m_fs.is_dir(prefix + "/conda-meta")) return true;
    if (!m_fs.exists(prefix + "/pyvenv.cfg")) return false;
    return !strict || m_fs.lstat(prefix + "/bin/python").has_value() || m_fs.lstat(prefix + "/bin/python3").has_value();
  }

  void offer(const std::string& prefix, const std::string& why, bool strict) {
    for (const auto& part : m_rules.not_environments)
      if ((prefix + "/").find(part) != std::string::npos) return;
    if (!m_offered.insert(prefix).second || !is_environment(prefix, strict)) return;
    auto& envs = m_ctx.snapshot.python_envs;
    for (const auto& e : envs)
      if (e.prefix == prefix) return;
    if (m_judged >= m_rules.max_environments) {
      ++m_not_judged;
      return;
    }
    size_t before = envs.size();
    add_environment(m_ctx, prefix, why, m_fs.resolve(prefix + "/bin/python3"), false);
    if (envs.size() > before) ++m_judged;
  }

  // .venv, venv, env in the working folder and each folder above it (this machine only).
  void project_environments() {
    std::string dir = m_ctx.options.cwd;
    if (!m_fs.is_host() || dir.empty() || dir.front() != '/') return;
    for (int depth = 0; depth < 64; ++depth) {
      for (const auto& name : m_rules.project_dirs) {
        std::string prefix = (dir == "/" ? "" : dir) + "/" + name;
        offer(prefix, depth == 0 ? "project environment in the working folder" : "project environment in " + dir + " (above the working folder)",
              true);
      }
      if (dir == "/") break;
      dir = path_dirname(dir);
      if (dir.empty()) break;
    }
  }

  void conda_list(const std::string& home) {
    auto text = m_fs.read_text(home + "/.conda/environments.txt", 64 * 1024);
    if (!text) return;
    size_t pos = 0;
    while (pos < text->size()) {
      size_t nl = text->find('\n', pos);
      if (nl == std::string::npos) nl = text->size();
      std::string line(parse::trim(std::string_view(*text).substr(pos, nl - pos)));
      if (!line.empty() && line.front() == '/') offer(line, "conda (~/.conda/environments.txt)", false);
      pos = nl + 1;
    }
  }

  // A pattern's folders: '*' is every name in the folder so far.
  void expand(const std::string& pattern, const std::string& why) {
    std::vector<std::string> at = {""};
    size_t pos = 1;
    while (pos <= pattern.size() && !at.empty()) {
      size_t slash = pattern.find('/', pos);
      std::string part = pattern.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
      std::vector<std::string> next;
      for (const auto& base : at) {
        if (part == "*") {
          for (const auto& name : list(base.empty() ? "/" : base))
            if (!skipped(name)) next.push_back(base + "/" + name);
        } else if (!part.empty()) {
          next.push_back(base + "/" + part);
        }
      }
      at = std::move(next);
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    for (const auto& prefix : at) offer(prefix, why, false);
  }

  // TOP/NAME and TOP/NAME/NAME2 holding an environment.
  void two_levels(const std::string& top, const std::string& why, bool strict) {
    if (!m_fs.is_dir(top)) return;
    for (const auto& a : list(top)) {
      std::string d1 = top + "/" + a;
      if (!m_fs.is_dir(d1)) continue;
      if (is_environment(d1, strict)) {
        offer(d1, why, strict);
        continue;  // an environment's own folders hold no other
      }
      if (skipped(a)) continue;
      for (const auto& b : list(d1)) {
        if (skipped(b)) continue;
        offer(d1 + "/" + b, why, strict);
      }
    }
  }

  CollectContext& m_ctx;
  const RootFs& m_fs;
  const kb::PythonEnvSearch& m_rules;
  size_t m_judged = 0, m_not_judged = 0, m_folders_listed = 0, m_entries = 0;
  bool m_listing_stopped = false;
  std::set<std::string> m_offered;
};

}  // namespace

std::optional<std::string> python_interpreter_problem(const RootFs& fs, const std::string& python) {
  std::string shown = fs.is_host() ? python : python + " (inside " + fs.root() + ")";
  errno = 0;
  auto st = fs.stat(python);
  if (!st) return fmt::format("--python {}: {}", shown, std::strerror(errno == 0 ? ENOENT : errno));
  if (S_ISDIR(st->st_mode)) return fmt::format("--python {} is a folder, not a Python interpreter (name its bin/python)", shown);
  if (!S_ISREG(st->st_mode)) return fmt::format("--python {} is not a regular file", shown);
  errno = 0;
  auto head = fs.read_text(python, 4);
  if (!head) return fmt::format("--python {}: cannot read it: {}", shown, std::strerror(errno == 0 ? EACCES : errno));
  if (head->rfind("\x7f"
                  "ELF",
                  0) != 0 &&
      head->rfind("#!", 0) != 0)
    return fmt::format("--python {} is not a Python interpreter (neither an ELF executable nor a #! script)", shown);
  return std::nullopt;
}

void collect_python_envs(CollectContext& ctx) {
  const auto& env = ctx.options.environment;
  bool chosen = false;
  if (!ctx.options.python.empty()) {
    add_interpreter(ctx, ctx.options.python, ctx.options.python_found_by, true);
    chosen = true;
  }
  // gpudoctor installed from its wheel into a venv (VENV/bin/gpudoctor, VENV/pyvenv.cfg): that venv.
  if (const auto& exe = ctx.options.own_executable; !chosen && ctx.fs.is_host() && !exe.empty()) {
    std::string venv = std::filesystem::path(exe).parent_path().parent_path().string();
    if (std::filesystem::path(exe).parent_path().filename() == "bin" && venv != "/" &&
        ctx.fs.stat(venv + "/pyvenv.cfg")) {
      add_environment(ctx, venv, "the venv gpudoctor is installed in", ctx.fs.resolve(venv + "/bin/python"), true);
      chosen = !ctx.snapshot.python_envs.empty();
    }
  }
  if (auto it = env.find("VIRTUAL_ENV"); it != env.end() && ctx.fs.is_host() && !it->second.empty())
    add_environment(ctx, it->second, "VIRTUAL_ENV", ctx.fs.resolve(it->second + "/bin/python"), !chosen);
  else if (auto c = env.find("CONDA_PREFIX"); c != env.end() && ctx.fs.is_host() && !c->second.empty())
    add_environment(ctx, c->second, "CONDA_PREFIX", ctx.fs.resolve(c->second + "/bin/python"), !chosen);
  chosen = chosen || !ctx.snapshot.python_envs.empty();
  std::vector<std::string> path_dirs;
  if (ctx.fs.is_host()) {
    if (auto it = env.find("PATH"); it != env.end()) path_dirs = absolute_folders(it->second);
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
  EnvironmentSearch(ctx).run();
}

}  // namespace gpudoctor
