// Libraries layer: the CUDA libraries each framework will load, as the loader resolves them.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>

#include "core/environment_in_use.hpp"
#include "core/library_copy_text.hpp"
#include "core/path.hpp"
#include "core/requirement.hpp"
#include "core/version.hpp"
#include "core/escape.hpp"
#include "diagnose/install_fixes.hpp"
#include "diagnose/rule_context.hpp"

namespace gpudoctor {

namespace {

std::string framework_title(const FrameworkLibraries& fw) {
  return fmt::format("{} {}", fw.framework, fw.version.value_or("(version unknown)"));
}

// "libcudnn.so.9" -> 9; "libcudart.so.11.0" -> 11.
std::optional<int> name_major(const std::string& name) {
  size_t so = name.find(".so.");
  if (so == std::string::npos) return std::nullopt;
  auto parts = parse_dotted_version(name.substr(so + 4));
  if (!parts || parts->empty()) return std::nullopt;
  return parts->front();
}

std::optional<std::pair<int, int>> major_minor(const Fact<std::string>& v) {
  if (!v.known()) return std::nullopt;
  auto parts = parse_dotted_version(*v);
  if (!parts || parts->size() < 2) return std::nullopt;
  return std::make_pair((*parts)[0], (*parts)[1]);
}

std::string pip_fix(const RuleContext& ctx, const FrameworkLibraries& fw, const std::string& role) {
  std::string cuda = fw.cuda_build.value_or("12");
  int major = parse_dotted_version(cuda).value_or(std::vector<int>{12}).front();
  std::string suffix = major >= 13 ? "" : fmt::format("-cu{}", major);
  if (fw.framework == "torch") {
    return fmt::format(
        "pip install --force-reinstall {}  (it brings the matching nvidia-* wheels; "
        "for another CUDA use --index-url https://download.pytorch.org/whl/cu{})",
        fw.version.known() ? escape::shell("torch==" + fw.version->substr(0, fw.version->find('+'))) : "torch",
        [&] { std::string c = cuda; c.erase(std::remove(c.begin(), c.end(), '.'), c.end()); return c; }());
  }
  if (fw.framework == "jax") return fmt::format("pip install -U \"jax[cuda{}]\"  (brings the nvidia-* wheels the plugin loads)", major);
  if (fw.framework == "tensorflow") {
    std::string version = fw.version.value_or("");
    if (!tensorflow_has_and_cuda(ctx.kb, version)) return tensorflow_gpu_install(ctx.kb, version);
    return tensorflow_gpu_install(ctx.kb, version) + "  (brings the nvidia-* wheels this release was built for)";
  }
  std::string wheel = role.rfind("cudnn", 0) == 0 ? "nvidia-cudnn-cu" + std::to_string(major)
                      : role == "nccl"            ? "nvidia-nccl-cu" + std::to_string(major)
                                                  : "nvidia-" + role + suffix;
  return "pip install " + wheel;
}

// Whether `have` ("2.28.9") is older than `floor` ("2.30.7") on the numbers both give: a pin of
// "9.26.0.51" is met by a file named 9.26.0. nullopt when either is no dotted version.
std::optional<bool> older_than(const std::string& have, const std::string& floor) {
  auto h = parse_dotted_version(have.substr(0, have.find_first_not_of("0123456789.")));
  auto f = parse_dotted_version(floor.substr(0, floor.find_first_not_of("0123456789.")));
  if (!h || !f || h->empty() || f->empty()) return std::nullopt;
  size_t n = std::min(h->size(), f->size());
  for (size_t i = 0; i < n; ++i)
    if ((*h)[i] != (*f)[i]) return (*h)[i] < (*f)[i];
  return false;
}

// The lowest version a requirement allows (==, ===, >=, ~=); empty when it sets none.
std::string requirement_floor(const Requirement& r) {
  std::string floor;
  for (const auto& [op, v] : r.specifiers) {
    if (op != "==" && op != "===" && op != ">=" && op != "~=") continue;
    std::string x = v.substr(0, v.find(".*"));
    if (floor.empty() || older_than(floor, x).value_or(false)) floor = x;
  }
  return floor;
}

// The distributions whose METADATA pins the libraries a framework loads: the framework's own, and
// for JAX its CUDA plugin and PJRT packages (jax-cuda12-plugin, jax-cuda13-pjrt).
bool pins_for(const FrameworkLibraries& fw, const InstalledPackage& p) {
  if (p.site_packages != fw.site_packages) return false;
  if (fw.framework == "jax") return p.name == "jax" || p.name == "jaxlib" || p.name.rfind("jax-cuda", 0) == 0;
  return p.name == fw.framework;
}

// The first n release segments of a dotted version ("2.28.9", 2 -> "2.28"); empty when it has fewer.
std::string leading_segments(const std::string& version, int n) {
  auto parts = parse_dotted_version(version);
  if (!parts || parts->size() < static_cast<size_t>(n)) return {};
  std::vector<int> head(parts->begin(), parts->begin() + n);
  return fmt::format("{}", fmt::join(head, "."));
}

bool same_leading_segments(const std::string& a, const std::string& b, int n) {
  std::string x = leading_segments(a, n);
  return !x.empty() && x == leading_segments(b, n);
}

std::string dist_info_folder(const InstalledPackage& p) {
  std::string n = p.name;
  std::replace(n.begin(), n.end(), '-', '_');
  return p.site_packages + "/" + n + "-" + p.version + ".dist-info";
}

}  // namespace

// A library found, but older than the nvidia-* wheel the framework's METADATA pins: torch
// installed with --no-deps, its nvidia-nccl-cu13==2.30.7 missing, so libnccl.so.2 resolves
// through ld.so.cache to a toolkit's NCCL 2.28.9 ("undefined symbol: ncclCommResume" at import).
const LibraryCopy* hidden_wheel_copy(const ResolvedLibrary& lib);

namespace {

void rule_library_pins(const RuleContext& ctx, const FrameworkLibraries& fw, Severity sev, std::vector<Finding>& out) {
  for (const auto& p : ctx.s.packages) {
    if (!pins_for(fw, p)) continue;
    for (const auto& line : p.requires_dist) {
      auto req = parse_requirement(line);
      if (!req) continue;
      auto roles = ctx.kb.wheel_roles(req->name);
      std::string floor = requirement_floor(*req);
      if (roles.empty() || floor.empty()) continue;
      std::string pin = req->name;  // without its markers: "nvidia-nccl-cu13==2.30.7"
      for (size_t i = 0; i < req->specifiers.size(); ++i)
        pin += (i ? "," : "") + req->specifiers[i].first + req->specifiers[i].second;
      for (const auto& lib : fw.libraries) {
        if (!lib.path.known() || std::find(roles.begin(), roles.end(), lib.role) == roles.end()) continue;
        if (hidden_wheel_copy(lib) != nullptr) continue;  // ld_library_path_wrong says it
        const Fact<std::string>& v = lib.reported_version.known() ? lib.reported_version : lib.version;
        if (!v.known() || !older_than(*v, floor).value_or(false)) continue;
        bool cudnn = lib.role.rfind("cudnn", 0) == 0;
        const auto* role = ctx.kb.role_for_file(lib.name);
        std::string label = role ? role->label : lib.role;
        // Older only in the patch (2.28.3 where 2.28.9 is pinned): it loads and works, a warning.
        bool patch_only = same_leading_segments(*v, floor, ctx.kb.pin_error_segments());
        Finding f;
        f.cause = cudnn ? "cudnn_version_mismatch" : "cuda_version_mismatch";
        f.layer = Layer::libraries;
        f.severity = patch_only ? Severity::warning : sev;
        f.title = fmt::format("{} pins {} {} ({}), but {} resolves to {} {}{}", framework_title(fw), label, floor, pin,
                              lib.name, label, *v,
                              patch_only ? fmt::format(": an older patch of the same {} release, which loads",
                                                       leading_segments(floor, ctx.kb.pin_error_segments()))
                                         : "");
        f.evidence.push_back({dist_info_folder(p) + "/METADATA",
                              fmt::format("{} {} pins {}; {} resolves to {} ({})", p.name, p.version, pin, lib.name,
                                          *lib.path, *v)});
        f.evidence.push_back({*lib.path, lib.origin + ", found via " + lib.found_via +
                                             (lib.reported_version.known() ? ", the library reports " + *lib.reported_version : "")});
        f.fix.push_back("pip install " + escape::shell(pin) + fmt::format("   (the {} wheel {} {} pins; {} finds it "
                                                                          "before {})",
                                                                          label, p.name, p.version, fw.framework, path_dirname(*lib.path)));
        if (lib.found_via.rfind("LD_LIBRARY_PATH", 0) == 0)
          f.fix.push_back("and remove " + path_dirname(*lib.path) + " from LD_LIBRARY_PATH (check ~/.bashrc and the job script)");
        else
          f.fix.push_back("or reinstall " + p.name + " with its dependencies (not --no-deps): pip install --force-reinstall " +
                          escape::shell(p.name + "==" + p.version));
        out.push_back(std::move(f));
        break;  // one finding per pin
      }
    }
  }
}

}  // namespace

// The winner came through LD_LIBRARY_PATH although the framework's own wheel has a copy of another
// version that would have loaded otherwise: the copy of the wheel that it hides; nullptr when none.
const LibraryCopy* hidden_wheel_copy(const ResolvedLibrary& lib) {
  if (!lib.path.known() || lib.found_via.rfind("LD_LIBRARY_PATH", 0) != 0) return nullptr;
  for (const auto& c : lib.others) {
    // A version that is only the SONAME's ("13" of libcublasLt.so.13) says nothing of the minor.
    auto theirs = major_minor(c.version), ours = major_minor(lib.version);
    if (c.origin.rfind("pip wheel", 0) != 0 || !theirs || !ours || theirs == ours) continue;
    return &c;
  }
  return nullptr;
}

void rule_libraries(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  // Folders of LD_LIBRARY_PATH that make some framework load the wrong copy: the fix removes them,
  // so no fix of another finding may tell to add them (merged causes must not contradict).
  std::vector<std::string> folders_to_remove;
  for (const auto& fw : s.frameworks)
    for (const auto& lib : fw.libraries)
      if (hidden_wheel_copy(lib) != nullptr || (!lib.also_mapped.empty() && lib.found_via.rfind("LD_LIBRARY_PATH", 0) == 0))
        folders_to_remove.push_back(path_dirname(*lib.path));
  for (const auto& fw : s.frameworks) {
    Severity sev = site_packages_in_use(ctx.s, fw.site_packages) ? Severity::error : Severity::warning;
    const std::string* ld = s.env_var("LD_LIBRARY_PATH");
    // Missing libraries, or present only in other major versions.
    for (const auto& lib : fw.libraries) {
      if (lib.path.known()) continue;
      const auto* role = ctx.kb.role_for_file(lib.name);
      // Optional libraries (a profiler's CUPTI) are opened on use from objects whose search path
      // is not modelled exactly: listed, never a finding.
      if (role == nullptr || lib.role == "cuda_driver" || lib.optional) continue;
      Finding f;
      f.layer = Layer::libraries;
      f.severity = sev;
      // NCCL that is only dlopened matters for several GPUs alone; optional libraries on use only.
      if ((role->role == "nccl" && lib.how == LibraryRequest::dlopen) || lib.optional) f.severity = Severity::warning;
      std::vector<const LibraryCopy*> same_name, other_version, other_machine;
      for (const auto& c : lib.others) {
        if (c.status == CopyStatus::same_name) same_name.push_back(&c);
        else if (c.status == CopyStatus::another_version) other_version.push_back(&c);
        else if (c.status == CopyStatus::wrong_machine || c.status == CopyStatus::wrong_class) other_machine.push_back(&c);
      }
      auto wanted = name_major(lib.name);
      f.evidence.push_back({lib.requested_by, fmt::format("{} {} (by {})", lib.how == LibraryRequest::dlopen ? "opens" : "needs", lib.name, to_string(lib.how))});
      f.evidence.push_back({"dynamic loader", lib.error.empty() ? "not found on its search path" : lib.error});
      if (!same_name.empty()) {
        f.cause = "ld_library_path_wrong";
        f.title = fmt::format("{} needs {}, which exists in {} but not on the loader's search path", framework_title(fw),
                              lib.name, path_dirname(same_name.front()->path));
        for (const auto* c : same_name) f.evidence.push_back({c->path, c->origin + ", not searched"});
        if (ld) f.evidence.push_back({"env LD_LIBRARY_PATH", *ld});
        std::string folder = path_dirname(same_name.front()->path);
        std::string dir = escape::shell(folder);
        bool pip_brings = fw.framework != "tensorflow" || tensorflow_has_and_cuda(ctx.kb, fw.version.value_or(""));
        if (std::find(folders_to_remove.begin(), folders_to_remove.end(), folder) != folders_to_remove.end()) {
          // On LD_LIBRARY_PATH this folder hands another framework the wrong copies.
          f.fix.push_back(pip_fix(ctx, fw, lib.role));
          f.fix.push_back("not through LD_LIBRARY_PATH: " + folder + " on it makes another framework load the wrong copies");
        } else {
          f.fix.push_back("export LD_LIBRARY_PATH=" + dir + "${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}");
          f.fix.push_back("or for every program: echo " + dir +
                          " | sudo tee -a /etc/ld.so.conf.d/gpudoctor-cuda.conf && sudo ldconfig");
          f.fix.push_back((pip_brings ? "or let pip provide it: " : "or ") + pip_fix(ctx, fw, lib.role));
        }
      } else if (!other_version.empty()) {
        bool cudnn = role->role.rfind("cudnn", 0) == 0;
        f.cause = cudnn ? "cudnn_version_mismatch" : "cuda_version_mismatch";
        std::vector<std::string> found;
        for (const auto* c : other_version) {
          std::string n(path_basename(c->path));
          if (std::find(found.begin(), found.end(), n) == found.end()) found.push_back(n);
          if (f.evidence.size() < 10) f.evidence.push_back({c->path, c->origin + (c->version.known() ? " " + *c->version : "")});
        }
        std::string list;
        for (const auto& n : found) list += (list.empty() ? "" : ", ") + n;
        f.title = fmt::format("{} was built for {} {} and needs {}, but only {} is installed", framework_title(fw),
                              cudnn ? "cuDNN" : "CUDA", cudnn ? std::to_string(wanted.value_or(0)) : fw.cuda_build.value_or("?"),
                              lib.name, list);
        f.fix.push_back(pip_fix(ctx, fw, lib.role));
        // Named by the build's version, not the library's, so that the merged finding says it once.
        f.fix.push_back(fmt::format(
            "or install the {} matching the framework's build ({} {}), or a framework build for the "
            "installed one",
            cudnn ? "cuDNN" : "CUDA toolkit", cudnn ? "cuDNN" : "CUDA",
            cudnn ? std::to_string(wanted.value_or(0)) : fw.cuda_build.value_or("?")));
      } else if (!other_machine.empty()) {
        // Copies on the search path that the loader skips: built for another CPU or ELF class
        // (a site-packages or library folder copied from an x86-64 machine to an arm64 one).
        f.cause = role->missing;
        // What the file was built for ("x86-64", "ELFCLASS32"); the state's word when unknown.
        const LibraryCopy& first = *other_machine.front();
        std::string built_for = first.detail.empty() ? std::string(to_string(first.status)) : first.detail;
        bool one = other_machine.size() == 1;
        f.title = fmt::format(
            "{} needs {} ({}), and the only {} built for another machine ({}): the loader of "
            "this {} host skips {}",
            framework_title(fw), lib.name, role->label, one ? "copy is" : "copies are", built_for,
            s.host.architecture.value_or("?"), one ? "it" : "them");
        for (const auto* c : other_machine)
          if (f.evidence.size() < 10) f.evidence.push_back({c->path, copy_status_text(*c) + " (" + c->found_via + ")"});
        f.fix.push_back(pip_fix(ctx, fw, lib.role) + "   (on this machine: pip picks the wheels built for it)");
      } else {
        f.cause = role->missing;
        f.title = fmt::format("{} needs {} ({}), and no copy of it is installed", framework_title(fw), lib.name, role->label);
        f.fix.push_back(pip_fix(ctx, fw, lib.role));
      }
      out.push_back(std::move(f));
    }
    // Loaded libraries from the wrong copy.
    std::map<std::string, const ResolvedLibrary*> by_role;
    for (const auto& lib : fw.libraries) by_role.emplace(lib.role, &lib);
    for (const auto& lib : fw.libraries) {
      if (!lib.path.known()) continue;
      // The winner came through LD_LIBRARY_PATH although the framework's own wheel has a copy of
      // another version that would have loaded otherwise.
      if (const LibraryCopy* hidden = hidden_wheel_copy(lib)) {
        {
          const LibraryCopy& c = *hidden;
          Finding f;
          f.cause = "ld_library_path_wrong";
          f.layer = Layer::libraries;
          f.severity = sev;
          f.title = fmt::format("LD_LIBRARY_PATH makes {} load {} {} instead of the {} its own wheels installed",
                                framework_title(fw), lib.name, *lib.version, *c.version);
          f.evidence.push_back({*lib.path, "loads: " + lib.found_via + ", " + lib.origin});
          f.evidence.push_back({c.resolved, "not loaded: " + c.origin});
          if (ld) f.evidence.push_back({"env LD_LIBRARY_PATH", *ld});
          f.fix.push_back("Remove " + path_dirname(*lib.path) +
                          " from LD_LIBRARY_PATH (check ~/.bashrc and the job script): "
                          "the framework finds its own CUDA libraries without it.");
          out.push_back(std::move(f));
        }
      }
    }
    // Two files of one SONAME in the process: a NEEDED brought one in, then the framework's Python
    // code loaded its own by path (glibc matches a path by its file): two cuBLASLt, say, whose
    // symbols the objects bind to whichever came first. A warning: the import works, and which
    // copy serves a call depends on the binding order.
    for (const auto& lib : fw.libraries) {
      if (!lib.path.known() || lib.also_mapped.empty()) continue;
      bool through_ld = lib.found_via.rfind("LD_LIBRARY_PATH", 0) == 0;
      const LibraryCopy& second = lib.also_mapped.front();
      Finding f;
      f.cause = through_ld ? "ld_library_path_wrong" : "conflicting_cuda_installs";
      f.layer = Layer::libraries;
      f.severity = Severity::warning;
      f.title = fmt::format("{} maps two copies of {}: {} ({}) and its own {} ({})", framework_title(fw), lib.name,
                            *lib.path, through_ld ? "through LD_LIBRARY_PATH" : lib.found_via, second.resolved,
                            second.origin.empty() ? "loaded by path" : second.origin);
      f.evidence.push_back({*lib.path, "loads first: " + lib.requested_by + " " + std::string(to_string(lib.how)) + " " + lib.name + ", found via " +
                                           lib.found_via + (lib.origin.empty() ? "" : ", " + lib.origin)});
      for (const auto& c : lib.also_mapped)
        f.evidence.push_back({c.resolved, "loads too: " + c.found_via + (origin_and_version(c).empty() ? "" : ", " + origin_and_version(c))});
      if (ld && through_ld) f.evidence.push_back({"env LD_LIBRARY_PATH", *ld});
      if (through_ld)
        f.fix.push_back("Remove " + path_dirname(*lib.path) +
                        " from LD_LIBRARY_PATH, or unset it (check ~/.bashrc and the "
                        "job script): " +
                        fw.framework +
                        " loads its own CUDA libraries by path, and a NEEDED found "
                        "through LD_LIBRARY_PATH adds a second copy.");
      else
        f.fix.push_back("Keep one copy of " + lib.name + ": remove the one in " + path_dirname(*lib.path) +
                        " from the loader's path, or the framework's wheel copy.");
      out.push_back(std::move(f));
    }
    rule_library_pins(ctx, fw, sev, out);
    // cuDNN's sub-libraries from another cuDNN than libcudnn.so itself.
    auto main = by_role.find("cudnn");
    if (main != by_role.end() && main->second->path.known()) {
      auto mv = major_minor(main->second->version);
      for (const auto& lib : fw.libraries) {
        if (lib.role.rfind("cudnn_", 0) != 0 || !lib.path.known()) continue;
        auto sv = major_minor(lib.version);
        if (!mv || !sv || *mv == *sv) continue;
        Finding f;
        f.cause = "cudnn_version_mismatch";
        f.layer = Layer::libraries;
        f.severity = sev;
        f.title = fmt::format("{} loads cuDNN {} but its sub-library {} from cuDNN {}", framework_title(fw),
                              *main->second->version, lib.name, *lib.version);
        f.evidence.push_back({*main->second->path, main->second->origin + ", " + main->second->found_via});
        f.evidence.push_back({*lib.path, lib.origin + ", " + lib.found_via});
        f.fix.push_back(
            "Keep one cuDNN: remove the other copy's folder from LD_LIBRARY_PATH, or uninstall the system "
            "cuDNN package if the framework brings its own wheel.");
        out.push_back(std::move(f));
        break;
      }
    }
  }
  // LD_LIBRARY_PATH entries that do not exist: harmless to the loader, but a sign of a stale setup.
  if (const std::string* ld = s.env_var("LD_LIBRARY_PATH"); ld && !s.frameworks.empty()) {
    (void)ld;  // existence of folders is reported by the collector in a later version
  }
}

}  // namespace gpudoctor
