// The libraries layer: for each framework installed in a Python environment, the CUDA libraries
// it will load, resolved the way glibc's loader and the framework's own loader resolve them
// (gd_loader), with the version, the origin and every other copy. Nothing is loaded or run.

#include <fnmatch.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "collect/collect.hpp"
#include "collect/parsers.hpp"
#include "core/version.hpp"
#include "driver/library_versions.hpp"
#include "elf/elf_file.hpp"
#include "kb/knowledge_base.hpp"
#include "loader/ld_so_cache.hpp"
#include "loader/resolver.hpp"

namespace gpudoctor {

namespace {

using loader::LoadedObject;
using loader::LoaderObject;

// Libraries every Python process has mapped before any framework loads (the interpreter's own
// NEEDED on every distribution): resolving them again would only add noise.
constexpr const char* k_process_libraries[] = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
                                               "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libutil.so.1"};

// Library files of nvidia-* wheels kept per site-packages (a real cu12 set has about 60).
constexpr size_t k_max_wheel_files = 4096;

struct WheelFile {
  std::string dist;     ///< "nvidia-cudnn-cu13"
  std::string version;  ///< "9.19.0.56"
};

// nvidia-* wheels by the files they installed (their RECORD), for a site-packages folder.
std::map<std::string, WheelFile> wheel_files(const RootFs& fs, const std::string& sp) {
  std::map<std::string, WheelFile> out;
  for (const auto& name : fs.list_dir(sp)) {
    if (name.rfind("nvidia_", 0) != 0) continue;
    auto dist = parse::dist_info_name(name);
    if (!dist) continue;
    WheelFile w{dist->name, dist->version};
    std::replace(w.dist.begin(), w.dist.end(), '_', '-');
    auto record = fs.read_text(sp + "/" + name + "/RECORD", std::size_t{4} << 20);
    if (!record) continue;
    for (const auto& file : parse::record_files(*record)) {
      if (file.rfind("nvidia/", 0) == 0 && file.find("/lib/") != std::string::npos) out[sp + "/" + file] = w;
      if (out.size() >= k_max_wheel_files) return out;
    }
  }
  return out;
}

// "libcudnn.so.9.14.0" with stem "libcudnn.so" -> "9.14.0".
std::optional<std::string> file_version(std::string_view file, const std::string& stem) {
  if (file.size() <= stem.size() + 1 || file.substr(0, stem.size()) != stem || file[stem.size()] != '.') return std::nullopt;
  std::string v(file.substr(stem.size() + 1));
  if (!parse_dotted_version(v)) return std::nullopt;
  return v;
}

// Expands a relative pattern whose components may hold '*' (fnmatch), under `base`.
std::vector<std::string> expand_glob(const RootFs& fs, const std::string& base, const std::string& pattern) {
  std::vector<std::string> current{base};
  size_t pos = 0;
  while (pos <= pattern.size()) {
    size_t slash = pattern.find('/', pos);
    std::string comp = pattern.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    std::vector<std::string> next;
    for (const auto& dir : current) {
      if (comp.find('*') == std::string::npos) {
        if (fs.exists(dir + "/" + comp)) next.push_back(dir + "/" + comp);
        continue;
      }
      for (const auto& name : fs.list_dir(dir))
        if (::fnmatch(comp.c_str(), name.c_str(), 0) == 0) next.push_back(dir + "/" + name);
    }
    current = std::move(next);
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return current;
}

class FrameworkResolver {
 public:
  FrameworkResolver(CollectContext& ctx, const PythonEnvironment& env, const std::string& sp,
                    loader::ResolverConfig config)
      : m_ctx(ctx), m_kb(kb::KnowledgeBase::get()), m_env(env), m_sp(sp), m_resolver(ctx.fs, std::move(config)) {
    for (const auto& other : env.site_packages) {
      auto w = wheel_files(ctx.fs, other);
      m_wheels.insert(w.begin(), w.end());
    }
    for (const char* name : k_process_libraries) {
      LoadedObject o;
      o.path = std::string("(the Python process) ") + name;
      o.soname = name;
      o.names = {name};
      m_loaded.push_back(o);
    }
  }

  std::optional<FrameworkLibraries> run(const kb::FrameworkLoading& fw) {
    FrameworkLibraries out;
    out.framework = fw.name;
    out.site_packages = m_sp;
    describe(fw.name, out);
    if (!out.cuda_build.known()) return std::nullopt;  // not installed, or a CPU-only build
    m_cuda_major = parse_dotted_version(*out.cuda_build).value_or(std::vector<int>{0}).front();
    m_out = &out;

    std::vector<std::string> entries;
    for (const auto& pattern : fw.entries)
      for (auto& e : expand_glob(m_ctx.fs, m_sp, pattern)) entries.push_back(std::move(e));
    if (entries.empty()) return std::nullopt;
    out.entries = entries;
    // The framework's own by-path loads (kb [[preload]]), before the entries or after one of them.
    const kb::FrameworkPreload* preload = out.version.known() ? m_kb.framework_preload(fw.name, *out.version) : nullptr;
    if (preload == nullptr && out.version.known() && (fw.name == "torch" || fw.name == "jax"))
      out.notes.push_back(fw.name + " " + *out.version +
                          ": what its Python code loads by path first is not modelled for this release "
                          "(kb/data/libraries.toml [[preload]])");
    bool preload_done = preload == nullptr || preload->libraries.empty();
    if (!preload_done && preload->after.empty()) {
      run_preload(*preload);
      preload_done = true;
    }
    for (const auto& e : entries) {
      load(e, {});
      if (!preload_done && e == m_sp + "/" + preload->after) {
        run_preload(*preload);
        preload_done = true;
      }
    }
    // dlopen calls, breadth first over every object loaded so far (and those they bring in).
    for (size_t i = 0; i < m_objects.size(); ++i) {
      std::string base(path_basename(m_objects[i].self.path));
      for (const auto& rule : m_kb.dlopen_rules()) {
        if (rule.by != base) continue;
        for (const auto& name : dlopen_names(rule)) dlopen(name, i);
      }
      if (base.rfind("libnvrtc.so.", 0) == 0) nvrtc_builtins(i);
      if (fw.name == "tensorflow" && base == "libtensorflow_framework.so.2") tensorflow_dso(i, out);
    }
    if (auto why = m_resolver.limit_reached()) out.notes.push_back(*why);
    m_out = nullptr;
    return out;
  }

 private:
  struct Object {
    LoaderObject self;
    std::optional<size_t> loader;  ///< the object that loaded it (index in m_objects)
  };

  // The framework's version and CUDA build, as the framework_installs collector read them from its
  // files (parsers.cpp: METADATA, torch/version.py, build_info.py, the CUDA plugin's dist-info).
  void describe(const std::string& fw, FrameworkLibraries& out) {
    const FrameworkInstall* install = nullptr;
    for (const auto& f : m_ctx.snapshot.framework_installs)
      if (f.framework == fw && f.site_packages == m_sp) install = &f;
    if (install == nullptr) return;
    const auto& cuda = install->cuda_version;
    if (fw == "torch") {
      out.version = install->build;  // torch/version.py __version__: "2.3.1+cu121"
      if (cuda.known()) out.cuda_build = *cuda;
      else out.cuda_build = Fact<std::string>::unknown("torch/version.py: cuda = None (a CPU-only build)");
    } else if (fw == "jax") {
      out.version = install->version;
      if (install->cuda_build.is(true) && cuda.known()) out.cuda_build = *cuda;
    } else if (fw == "tensorflow") {
      out.version = install->version;
      if (cuda.known() && parse_dotted_version(*cuda)) out.cuda_build = *cuda;
      if (install->cudnn_version.known())
        m_cudnn_major = parse_dotted_version(*install->cudnn_version).value_or(std::vector<int>{9}).front();
    }
  }

  std::vector<std::string> dlopen_names(const kb::DlopenRule& rule) const {
    std::vector<std::string> names;
    for (const auto& role : rule.roles)
      if (auto s = m_kb.soname_for(m_cuda_major, role)) names.push_back(*s);
    for (auto n : rule.names) {
      for (auto [token, value] : {std::pair<std::string, int>{"{cuda}", m_cuda_major}, {"{cudnn}", m_cudnn_major}}) {
        size_t at = n.find(token);
        if (at != std::string::npos) n.replace(at, token.size(), std::to_string(value));
      }
      names.push_back(n);
    }
    return names;
  }

  // The loaders of object `i`: its loader, then that one's, and on up (at most 64: a real
  // chain is under 10 deep, python -> extension -> libtorch -> ...).
  std::vector<LoaderObject> loaders_of(size_t i) const {
    std::vector<LoaderObject> out;
    for (auto up = m_objects[i].loader; up && out.size() < 64; up = m_objects[*up].loader) out.push_back(m_objects[*up].self);
    return out;
  }

  // The framework's Python code dlopens these by full path (ctypes.CDLL), in order: torch's
  // _load_global_deps, jax's _load_nvidia_libraries (kb/data/libraries.toml [[preload]]).
  void run_preload(const kb::FrameworkPreload& p) {
    if (!p.when_mapped.empty()) {
      bool mapped = std::any_of(m_out->load_order.begin(), m_out->load_order.end(),
                                [&](const std::string& f) { return f.find(p.when_mapped) != std::string::npos; });
      if (!mapped) return;  // torch: "if "libcudart.so" not in _maps: return"
    }
    for (const auto& [folder, pattern] : p.libraries) {
      auto file = preload_file(p, folder, pattern);
      if (!file) {
        if (!p.stop_on_missing) continue;
        m_out->notes.push_back(p.by + ": " + pattern + " not found in nvidia/" + folder +
                               "/lib of any site-packages folder, so the libraries after it are not preloaded");
        return;
      }
      load(*file, "preloaded by path (" + p.by + ")", std::nullopt, p.by);
    }
    for (const auto& [folder, pattern] : p.optional)
      if (auto file = preload_file(p, folder, pattern)) load(*file, "preloaded by path (" + p.by + ")", std::nullopt, p.by);
  }

  // The file a preload opens: in each site-packages folder (sys.path order), each folder of the
  // list; the first folder holding a match decides, its first match by name (glob's order is the
  // folder's; the wheels ship one file per pattern).
  std::optional<std::string> preload_file(const kb::FrameworkPreload& p, const std::string& folder,
                                          const std::string& pattern) const {
    for (const auto& sp : m_env.site_packages) {
      if (p.first_package_only && !m_ctx.fs.exists(sp + "/nvidia/" + folder)) continue;
      for (auto dir : p.folders) {
        for (auto [token, value] : {std::pair<std::string, std::string>{"{folder}", folder}, {"{cuda}", std::to_string(m_cuda_major)}}) {
          size_t at = dir.find(token);
          if (at != std::string::npos) dir.replace(at, token.size(), value);
        }
        std::string base = sp + "/" + dir;
        std::vector<std::string> names;
        for (const auto& name : m_ctx.fs.list_dir(base))
          if (::fnmatch(pattern.c_str(), name.c_str(), FNM_PERIOD) == 0) names.push_back(name);
        if (!names.empty()) return base + "/" + *std::min_element(names.begin(), names.end());
      }
      if (p.first_package_only) return std::nullopt;  // nvidia.<folder> imported from here: no other tried
    }
    return std::nullopt;
  }

  // Loads `path` and its NEEDED tree into the process model; records CUDA libraries met.
  void load(const std::string& path, const std::string& preload_reason, std::optional<size_t> parent = std::nullopt,
            const std::string& preloaded_by = {}) {
    std::vector<LoaderObject> root_loaders;
    if (parent) {
      root_loaders.push_back(m_objects[*parent].self);
      auto up = loaders_of(*parent);
      root_loaders.insert(root_loaders.end(), up.begin(), up.end());
    }
    auto tree = m_resolver.load_tree(path, root_loaders, m_loaded, 512);
    std::map<size_t, size_t> tree_to_object;
    for (size_t t = 0; t < tree.objects.size(); ++t) {
      const auto& o = tree.objects[t];
      if (o.preloaded) continue;
      if (!o.elf && !o.read_error.empty() && m_out->notes.size() < 64) m_out->notes.push_back(o.path + ": " + o.read_error);
      Object obj;
      obj.self.path = o.path;
      if (o.elf) obj.self = LoaderObject::from_elf(o.path, *o.elf);
      if (o.loaded_by && tree_to_object.count(*o.loaded_by)) obj.loader = tree_to_object[*o.loaded_by];
      else obj.loader = parent;
      tree_to_object[t] = m_objects.size();
      m_objects.push_back(obj);
      LoadedObject l;
      l.path = o.path;
      l.soname = o.soname;
      l.names = {std::string(path_basename(o.path))};
      // glibc knows a file again by its device and inode (_dl_map_object_from_fd), whatever its name.
      if (auto st = m_ctx.fs.stat(o.resolved_path.value_or(o.path))) l.file_id = std::make_pair(st->st_dev, st->st_ino);
      m_loaded.push_back(l);
      m_out->load_order.push_back(o.resolved_path.value_or(o.path));
    }
    if (!preload_reason.empty() && !tree.objects.empty()) {
      const auto& root = tree.objects[tree.root];
      ResolvedLibrary r;
      r.name = root.soname.value_or(std::string(path_basename(path)));
      r.how = LibraryRequest::dlopen;
      r.requested_by = preloaded_by.empty() ? m_sp : preloaded_by;
      r.path = root.resolved_path.value_or(root.path);
      r.found_via = preload_reason;
      // A file already in the process under another name is reused; a new file of a SONAME
      // already mapped is a second copy (glibc matches a path by its file, not its SONAME).
      if (!root.preloaded && root.elf) second_copy(r);
      record(r, nullptr);
    }
    for (const auto& link : tree.links) {
      const auto& from = tree.objects[link.from];
      record_resolution(link.name, from.path, LibraryRequest::needed, link.resolution);
    }
    if (tree.failure) m_out->notes.push_back(*tree.failure);
  }

  void dlopen(const std::string& name, size_t caller) {
    const auto& obj = m_objects[caller];
    auto res = m_resolver.resolve(name, obj.self, loaders_of(caller), m_loaded);
    record_resolution(name, obj.self.path, LibraryRequest::dlopen, res);
    if (res.found() && res.step != loader::SearchStep::already_loaded) load(*res.path, "", caller);
  }

  // TensorFlow's dso loader: the names of its release series, opened from libtensorflow_framework.
  void tensorflow_dso(size_t framework, FrameworkLibraries& out) {
    std::string series = out.version.value_or("");
    auto parts = parse_dotted_version(series.substr(0, series.find_first_not_of("0123456789.")));
    if (!parts || parts->size() < 2) {
      out.notes.push_back("TensorFlow version unknown: its dso loader's library names not modelled");
      return;
    }
    series = std::to_string((*parts)[0]) + "." + std::to_string((*parts)[1]);
    const auto* dso = m_kb.tf_dso(series);
    if (dso == nullptr) {
      out.notes.push_back("TensorFlow " + series + " is not in kb/data/tensorflow.toml: its dso names not modelled");
      return;
    }
    for (const auto& n : dso->libs) dlopen(n, framework);
    m_optional = true;
    for (const auto& n : dso->optional) dlopen(n, framework);
    m_optional = false;
  }

  // NVRTC opens libnvrtc-builtins.so.X.Y from its own folder.
  void nvrtc_builtins(size_t nvrtc) {
    std::string dir = path_dirname(m_objects[nvrtc].self.path);
    for (const auto& name : m_ctx.fs.list_dir(dir)) {
      if (name.rfind("libnvrtc-builtins.so.", 0) != 0) continue;
      ResolvedLibrary r;
      r.name = name;
      r.how = LibraryRequest::dlopen;
      r.requested_by = m_objects[nvrtc].self.path;
      r.path = m_ctx.fs.resolve(dir + "/" + name).value_or(dir + "/" + name);
      r.found_via = "NVRTC opens it from its own folder";
      record(r, nullptr);
      return;
    }
  }

  void record_resolution(const std::string& name, const std::string& by, LibraryRequest how, const loader::Resolution& res) {
    const auto* role = m_kb.role_for_file(name);
    if (role == nullptr) return;
    // The driver's own library is the driver layer's business; listed here only when found.
    if (role->role == "cuda_driver" && !res.found()) return;
    ResolvedLibrary r;
    r.name = name;
    r.requested_by = by;
    r.how = how;
    r.optional = m_optional;
    if (res.found()) {
      r.path = res.resolved_path.value_or(*res.path);
      r.found_via = std::string(res.step == loader::SearchStep::already_loaded ? "already loaded" : "") +
                    (res.step == loader::SearchStep::already_loaded ? "" : res.why);
      if (res.step == loader::SearchStep::already_loaded) r.found_via = res.why;
    } else {
      r.path = Fact<std::string>::unknown(res.error.empty() ? "not found" : res.error);
      r.error = res.error;
    }
    // The loadable copies the loader did not take, then the files it skipped on the way for
    // another CPU or ELF class (a site-packages copied from an x86-64 machine to an arm64 one).
    std::vector<const loader::Candidate*> copies = res.other_copies();
    std::set<std::string> skipped;
    for (const auto& c : res.candidates)
      if (c.searched && (c.status == loader::CandidateStatus::wrong_machine || c.status == loader::CandidateStatus::wrong_class) &&
          copies.size() < 40 && skipped.insert(c.resolved_path.value_or(c.path)).second)
        copies.push_back(&c);
    for (const auto* c : copies) {
      LibraryCopy copy;
      copy.path = c->path;
      copy.resolved = c->resolved_path.value_or(c->path);
      copy.found_via = c->source;
      // other_copies() are the loadable ones; the rest were skipped for another CPU or ELF class,
      // and their detail says what the file was built for ("x86-64", "ELFCLASS32").
      copy.status = c->status == loader::CandidateStatus::wrong_machine ? CopyStatus::wrong_machine
                    : c->status == loader::CandidateStatus::wrong_class ? CopyStatus::wrong_class
                                                                        : CopyStatus::accepted;
      if (copy.status != CopyStatus::accepted) copy.detail = c->detail;
      copy.reached = c->reached;
      describe_file(copy.resolved, role->stem, copy.version, copy.origin);
      r.others.push_back(std::move(copy));
    }
    record(r, role);
  }

  // `r`, loaded by path, as a further copy of a library a row already holds from another file.
  void second_copy(const ResolvedLibrary& r) {
    for (auto& existing : m_out->libraries) {
      if (existing.name != r.name || !existing.path.known() || *existing.path == *r.path) continue;
      LibraryCopy c;
      c.path = *r.path;
      c.resolved = *r.path;
      c.found_via = r.found_via;
      c.status = CopyStatus::also_mapped;
      c.reached = true;
      if (const auto* role = m_kb.role_for_file(r.name)) describe_file(c.resolved, role->stem, c.version, c.origin);
      if (existing.also_mapped.size() < 8) existing.also_mapped.push_back(std::move(c));
      return;
    }
  }

  void record(ResolvedLibrary r, const kb::LibraryRole* role) {
    if (role == nullptr) role = m_kb.role_for_file(r.name);
    if (role == nullptr) return;
    r.role = role->role;
    if (r.path.known()) describe_file(*r.path, role->stem, r.version, r.origin);
    // One row per name: the first request decides (the loader reuses it afterwards).
    for (const auto& existing : m_out->libraries)
      if (existing.name == r.name) return;
    if (!r.path.known()) add_off_path_copies(r, *role);
    m_out->libraries.push_back(std::move(r));
  }

  void describe_file(const std::string& path, const std::string& stem, Fact<std::string>& version, std::string& origin) {
    auto w = m_wheels.find(path);
    if (w != m_wheels.end()) {
      version = w->second.version;
      origin = "pip wheel " + w->second.dist + " " + w->second.version;
      return;
    }
    // A wheel file reached through links (RECORD lists the path inside site-packages); each
    // wheel file is resolved once.
    if (!m_wheels_resolved) {
      m_wheels_resolved.emplace();
      for (const auto& [file, wheel] : m_wheels)
        if (auto real = m_ctx.fs.resolve(file)) m_wheels_resolved->emplace(*real, &wheel);
    }
    if (auto r = m_wheels_resolved->find(path); r != m_wheels_resolved->end()) {
      version = r->second->version;
      origin = "pip wheel " + r->second->dist + " " + r->second->version;
      return;
    }
    if (auto v = file_version(path_basename(path), stem)) version = *v;
    else version = Fact<std::string>::unknown("the file name carries only the SONAME version");
    if (path.find("/site-packages/") != std::string::npos || path.find("/dist-packages/") != std::string::npos) {
      origin = path.find("/nvidia/") != std::string::npos ? "pip wheel" : "bundled with a Python package";
    } else if (m_env.kind == EnvironmentKind::conda && path.rfind(m_env.prefix + "/lib/", 0) == 0) {
      origin = "conda environment " + m_env.prefix;
    } else if (path.find("/conda") != std::string::npos || path.find("/miniconda") != std::string::npos ||
               path.find("/anaconda") != std::string::npos) {
      origin = "conda";
    } else if (path.rfind("/usr/local/cuda", 0) == 0 || path.rfind("/opt/cuda", 0) == 0) {
      origin = "CUDA toolkit";
    } else if (path.rfind("/usr/local/nvidia/", 0) == 0 || path.rfind("/usr/lib/wsl/", 0) == 0) {
      origin = "NVIDIA driver";
    } else if (path.rfind("/usr/lib", 0) == 0 || path.rfind("/lib", 0) == 0) {
      origin = "system package";
    } else {
      origin = "other";
    }
  }

  // For a library that cannot be found: copies of other versions, and copies of this one in
  // folders the loader does not search (the toolkit's lib64 off LD_LIBRARY_PATH, a wheel of
  // another environment).
  void add_off_path_copies(ResolvedLibrary& r, const kb::LibraryRole& role) {
    std::set<std::string> dirs;
    for (const auto& [file, wheel] : m_wheels) dirs.insert(path_dirname(file));
    for (const auto& sp : m_env.site_packages)
      for (const auto& pkg : m_ctx.fs.list_dir(sp + "/nvidia")) dirs.insert(sp + "/nvidia/" + pkg + "/lib");
    // The toolkit's folder and the multiarch folders of this machine's CPU.
    const auto& platform = m_resolver.config().platform;
    const loader::KnownMachine* machine = loader::find_machine(platform.machine);
    std::string target = machine ? m_kb.cuda_target(machine->uname) : std::string();
    for (const auto& name : m_ctx.fs.list_dir("/usr/local")) {
      if (name.rfind("cuda", 0) == 0) {
        dirs.insert("/usr/local/" + name + "/lib64");
        if (!target.empty()) dirs.insert("/usr/local/" + name + "/targets/" + target + "/lib");
      }
    }
    for (const char* d : {"/usr/lib64", "/opt/conda/lib"}) dirs.insert(d);
    if (machine)
      for (const char* prefix : {"/usr/lib/", "/lib/"}) dirs.insert(prefix + std::string(machine->triplet));
    if (m_ctx.snapshot.driver_files.library_dirs.size())
      for (const auto& d : m_ctx.snapshot.driver_files.library_dirs) dirs.insert(d);
    // Files the search already met (skipped for another machine) are not listed again.
    std::set<std::string> seen;
    for (const auto& c : r.others) seen.insert(c.resolved);
    for (const auto& dir : dirs) {
      for (const auto& name : m_ctx.fs.list_dir(dir)) {
        if (name.substr(0, role.stem.size()) != role.stem) continue;
        if (name.size() > role.stem.size() && name[role.stem.size()] != '.') continue;
        std::string path = dir + "/" + name;
        auto resolved = m_ctx.fs.resolve(path).value_or(path);
        if (!seen.insert(resolved).second) continue;
        LibraryCopy c;
        c.path = path;
        c.resolved = resolved;
        c.found_via = "not on the search path";
        c.status = name == r.name ? CopyStatus::same_name : CopyStatus::another_version;
        c.off_path = true;
        // A copy built for another CPU or ELF class would not load from any folder.
        if (auto head = m_ctx.fs.read_text(resolved, 64)) {
          auto h = elf::parse_elf_header(*head);
          if (const auto* eh = std::get_if<elf::ElfHeader>(&h)) {
            if (eh->elf_class != platform.elf_class) {
              c.status = CopyStatus::wrong_class;
              c.detail = std::string("ELFCLASS") + (eh->elf_class == 1 ? "32" : "64");
            } else if (eh->machine != platform.machine) {
              c.status = CopyStatus::wrong_machine;
              c.detail = elf::machine_name(eh->machine);
            }
          }
        }
        c.reached = false;
        describe_file(resolved, role.stem, c.version, c.origin);
        r.others.push_back(std::move(c));
        if (r.others.size() > 40) return;
      }
    }
  }

  CollectContext& m_ctx;
  const kb::KnowledgeBase& m_kb;
  const PythonEnvironment& m_env;
  std::string m_sp;
  loader::Resolver m_resolver;
  std::optional<std::map<std::string, const WheelFile*>> m_wheels_resolved;  ///< by the wheel file's resolved path
  std::map<std::string, WheelFile> m_wheels;
  std::vector<LoadedObject> m_loaded;
  std::vector<Object> m_objects;
  FrameworkLibraries* m_out = nullptr;
  int m_cuda_major = 0;
  int m_cudnn_major = 9;
  bool m_optional = false;
};

}  // namespace

void collect_framework_libraries(CollectContext& ctx) {
  const auto& fs = ctx.fs;
  loader::ResolverConfig base;
  // The loader of the machine the snapshot records (uname(2) here, the root's own ld.so under
  // --root: collect_host_info), so that an arm64 host's libraries are of the right machine.
  const auto& arch = ctx.snapshot.host.architecture;
  base.platform = loader::detect_loader_platform(fs, arch.known() ? std::string_view(*arch) : std::string_view());
  // The invoking user's LD_LIBRARY_PATH, with --root too: the environment is always the user's
  // (as for CUDA_VISIBLE_DEVICES), the files are the root's.
  if (auto it = ctx.options.environment.find("LD_LIBRARY_PATH"); it != ctx.options.environment.end())
    base.ld_library_path = it->second;
  if (auto bytes = fs.read_text("/etc/ld.so.cache", std::size_t{64} << 20)) {
    auto parsed = loader::parse_ld_so_cache(*bytes);
    if (auto* cache = std::get_if<loader::LdSoCache>(&parsed)) base.cache = std::make_shared<const loader::LdSoCache>(std::move(*cache));
    else ctx.snapshot.collector_errors.push_back("framework_libraries: /etc/ld.so.cache: " +
                                                 std::get<loader::LdSoCacheError>(parsed).reason);
  }
  std::set<std::string> done;
  auto& frameworks = ctx.snapshot.frameworks;
  for (const auto& env : ctx.snapshot.python_envs) {
    loader::ResolverConfig config = base;
    if (env.python.known()) {
      auto elf = elf::read_elf_file(fs, *env.python);
      if (auto* file = std::get_if<elf::ElfFile>(&elf)) config.executable = LoaderObject::from_elf(*env.python, *file);
    }
    for (const auto& sp : env.site_packages) {
      if (!done.insert(fs.resolve(sp).value_or(sp)).second) continue;
      for (const auto& fw : kb::KnowledgeBase::get().framework_loading()) {
        FrameworkResolver resolver(ctx, env, sp, config);
        if (auto result = resolver.run(fw)) frameworks.push_back(std::move(*result));
      }
    }
  }

  // Ask the libraries their own version: this machine's files only, when driver calls are allowed.
  bool may_load = fs.is_host() && ctx.options.driver != DriverProbeMode::none && ctx.options.ask_library_versions;
  const char* versioned[] = {"cudart", "cudnn", "nccl", "nvrtc", "cublas", "cublasLt", "cufft", "curand", "cusolver", "cusparse"};
  std::vector<std::vector<LibraryToAsk>> groups(frameworks.size());
  bool any = false;
  for (size_t i = 0; i < frameworks.size(); ++i) {
    std::set<std::string> asked;
    for (auto& lib : frameworks[i].libraries) {
      lib.reported_version = Fact<std::string>::unknown(may_load ? "the library gave no version" : "not asked (use --library-versions on this machine)");
      if (!may_load || !lib.path.known()) continue;
      if (std::find(std::begin(versioned), std::end(versioned), lib.role) == std::end(versioned)) continue;
      if (asked.insert(*lib.path).second) {
        groups[i].push_back({lib.role, *lib.path});
        any = true;
      }
    }
  }
  if (!any) return;
  auto answers = ask_library_versions(groups, std::chrono::milliseconds(10000));
  for (size_t i = 0; i < frameworks.size() && i < answers.size(); ++i)
    for (auto& lib : frameworks[i].libraries)
      if (lib.path.known()) {
        auto it = answers[i].find(*lib.path);
        if (it != answers[i].end()) lib.reported_version = it->second;
      }
}

}  // namespace gpudoctor
