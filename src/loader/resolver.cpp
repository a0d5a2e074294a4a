#include "loader/resolver.hpp"

#include "core/path.hpp"
#include "core/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <unordered_set>

namespace gpudoctor::loader {

namespace {

constexpr std::size_t kElf64HeaderSize = 64;  // glibc reads sizeof (ElfW(Ehdr)) before any check
constexpr std::size_t kElf64PhdrSize = 56;    // sizeof (Elf64_Phdr)
constexpr std::uint8_t kOsabiSysv = 0;        // ELFOSABI_SYSV
constexpr std::uint8_t kOsabiGnu = 3;         // ELFOSABI_GNU
// LIBC_ABI_MAX on x86-64: DEFAULT, UNIQUE, IFUNC, ABSOLUTE (glibc libc-abis), so 4.
constexpr std::uint8_t kLibcAbiMax = 4;

using Fd = ::gpudoctor::UniqueFd;

std::uint16_t le16(const std::array<char, kElf64HeaderSize>& b, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(b[at]) | (static_cast<std::uint8_t>(b[at + 1]) << 8U));
}

std::uint32_t le32(const std::array<char, kElf64HeaderSize>& b, std::size_t at) {
  return static_cast<std::uint32_t>(le16(b, at)) | (static_cast<std::uint32_t>(le16(b, at + 2)) << 16U);
}

// A search folder as fillin_rpath stores it: trailing slashes removed (but "/" kept), then
// one added; the empty element stays empty (the current folder).
std::string normalize_dir(std::string dir) {
  if (dir.empty()) return dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.back() != '/') dir += '/';
  return dir;
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

}  // namespace

// ---- platforms ---------------------------------------------------------------------------

LoaderPlatform LoaderPlatform::upstream_x86_64() {
  LoaderPlatform p;
  p.name = "upstream glibc x86-64";
  // sysdeps/unix/sysv/linux/x86_64/64/configure: slibdir=/lib64, libdir=/usr/lib64.
  p.system_dirs = {"/lib64/", "/usr/lib64/"};
  p.dst.lib = "lib64";  // DL_DST_LIB = notdir(slibdir), elf/Makefile
  p.dst.platform = "x86_64";
  return p;
}

LoaderPlatform LoaderPlatform::debian_x86_64() {
  LoaderPlatform p;
  p.name = "Debian/Ubuntu multiarch x86-64";
  // The SYSTEM_DIRS strings of Debian 12's ld.so and its `ld.so --help` ("system search path").
  p.system_dirs = {"/lib/x86_64-linux-gnu/", "/usr/lib/x86_64-linux-gnu/", "/lib/", "/usr/lib/"};
  // Seen with LD_DEBUG=libs and RPATH "$LIB" on Debian 12 (glibc 2.36-9+deb12u14).
  p.dst.lib = "lib/x86_64-linux-gnu";
  p.dst.platform = "x86_64";
  return p;
}

LoaderPlatform LoaderPlatform::upstream_aarch64() {
  LoaderPlatform p;
  p.name = "upstream glibc AArch64";
  // sysdeps/unix/sysv/linux/aarch64/configure.ac: LIBC_SLIBDIR_RTLDDIR([lib64], [lib]) for the
  // LP64 ABI: slibdir=/lib64, libdir=/usr/lib64, the loader itself in /lib.
  p.system_dirs = {"/lib64/", "/usr/lib64/"};
  p.dst.lib = "lib64";
  p.dst.platform = "aarch64";  // AT_PLATFORM of the Linux kernel on arm64 (ELF_PLATFORM "aarch64")
  // sysdeps/unix/sysv/linux/aarch64/dl-cache.h: _DL_CACHE_DEFAULT_ID = FLAG_AARCH64_LIB64 |
  // FLAG_ELF_LIBC6 for __LP64__; sysdeps/generic/ldconfig.h: FLAG_AARCH64_LIB64 0x0a00,
  // FLAG_ELF_LIBC6 0x0003 (`ldconfig -p` prints "libc6,AArch64").
  p.cache_flags = 0x0a03;
  p.machine = 183;  // EM_AARCH64
  return p;
}

LoaderPlatform LoaderPlatform::debian_aarch64() {
  LoaderPlatform p = upstream_aarch64();
  p.name = "Debian/Ubuntu multiarch AArch64";
  // The SYSTEM_DIRS strings of Debian 12's arm64 ld.so (libc6 2.36-9+deb12u14 arm64:
  // lib/aarch64-linux-gnu/ld-linux-aarch64.so.1, linked from /lib/ld-linux-aarch64.so.1).
  p.system_dirs = {"/lib/aarch64-linux-gnu/", "/usr/lib/aarch64-linux-gnu/", "/lib/", "/usr/lib/"};
  p.dst.lib = "lib/aarch64-linux-gnu";
  return p;
}

const std::vector<KnownMachine>& known_machines() {
  // The loaders' names: SYSDEP_KNOWN_INTERPRETER_NAMES of sysdeps/unix/sysv/linux/x86_64/ldconfig.h
  // and .../aarch64/ldconfig.h; e_machine values of elf/elf.h.
  static const std::vector<KnownMachine> machines = {
      {"x86_64", 62, "/lib64/ld-linux-x86-64.so.2", "x86_64-linux-gnu"},
      {"aarch64", 183, "/lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu"},
  };
  return machines;
}

const KnownMachine* find_machine(std::string_view uname) {
  if (uname == "arm64") uname = "aarch64";  // what macOS and Debian's dpkg call it
  for (const auto& m : known_machines())
    if (m.uname == uname) return &m;
  return nullptr;
}

const KnownMachine* find_machine(std::uint16_t e_machine) {
  for (const auto& m : known_machines())
    if (m.e_machine == e_machine) return &m;
  return nullptr;
}

namespace {

std::optional<std::uint16_t> elf_machine_of(const RootFs& fs, std::string_view path) {
  auto bytes = fs.read_text(std::string(path), 64);
  if (!bytes) return std::nullopt;
  auto header = elf::parse_elf_header(*bytes);
  if (const auto* h = std::get_if<elf::ElfHeader>(&header)) return h->machine;
  return std::nullopt;
}

}  // namespace

const KnownMachine* detect_root_machine(const RootFs& fs, std::string* evidence) {
  std::vector<const KnownMachine*> found;
  for (const auto& m : known_machines())
    if (elf_machine_of(fs, m.loader) == m.e_machine) found.push_back(&m);
  if (found.size() == 1) {
    if (evidence) *evidence = std::string(found.front()->loader) + " (e_machine " + elf::machine_name(found.front()->e_machine) + ")";
    return found.front();
  }
  if (found.empty()) return nullptr;
  // Both loaders: a foreign architecture's libc6 is installed beside the native one. The
  // root's own shell is of the native one.
  for (const char* program : {"/bin/sh", "/usr/bin/sh", "/bin/bash", "/usr/bin/env"}) {
    auto machine = elf_machine_of(fs, program);
    if (!machine) continue;
    for (const auto* m : found) {
      if (m->e_machine != *machine) continue;
      if (evidence) *evidence = std::string(program) + " (e_machine " + elf::machine_name(*machine) + ")";
      return m;
    }
  }
  if (evidence) *evidence = std::string(found.front()->loader) + " (e_machine " + elf::machine_name(found.front()->e_machine) + ")";
  return found.front();
}

LoaderPlatform detect_loader_platform(const RootFs& fs, std::string_view machine) {
  const KnownMachine* m = machine.empty() ? nullptr : find_machine(machine);
  if (!m) m = detect_root_machine(fs);
  if (!m) m = &known_machines().front();
  bool aarch64 = m->e_machine == 183;
  // The ld.so binary holds SYSTEM_DIRS as plain strings; a multiarch one names its triplet.
  std::string folder = "/lib/" + std::string(m->triplet) + "/";
  auto bytes = fs.read_text(std::string(m->loader), std::size_t{8} << 20);
  bool multiarch = bytes && bytes->find(std::string_view(folder.c_str(), folder.size() + 1)) != std::string::npos;
  // An ld.so whose strings say nothing (unreadable, or a stand-in): the libc of the multiarch
  // folder, where only Debian's libc6 puts it.
  if (!multiarch && (!bytes || bytes->find(std::string_view("/lib64/\0", 8)) == std::string::npos)) {
    for (const char* prefix : {"/lib/", "/usr/lib/"})
      if (fs.exists(prefix + std::string(m->triplet) + "/libc.so.6")) multiarch = true;
  }
  if (aarch64) return multiarch ? LoaderPlatform::debian_aarch64() : LoaderPlatform::upstream_aarch64();
  return multiarch ? LoaderPlatform::debian_x86_64() : LoaderPlatform::upstream_x86_64();
}

// ---- names -------------------------------------------------------------------------------

std::string_view to_string(SearchStep step) {
  switch (step) {
    case SearchStep::path_name: return "path";
    case SearchStep::already_loaded: return "already loaded";
    case SearchStep::rpath: return "RPATH";
    case SearchStep::ld_library_path: return "LD_LIBRARY_PATH";
    case SearchStep::runpath: return "RUNPATH";
    case SearchStep::ld_so_cache: return "ld.so.cache";
    case SearchStep::default_dirs: return "default folder";
  }
  return "unknown";
}

std::string_view to_string(CandidateStatus status) {
  switch (status) {
    case CandidateStatus::accepted: return "accepted";
    case CandidateStatus::wrong_class: return "wrong ELF class";
    case CandidateStatus::wrong_machine: return "wrong machine";
    case CandidateStatus::unreadable: return "unreadable";
    case CandidateStatus::fatal: return "refused";
    case CandidateStatus::excluded: return "excluded";
  }
  return "unknown";
}

LoaderObject LoaderObject::from_elf(std::string path, const elf::ElfFile& file) {
  LoaderObject object;
  object.path = std::move(path);
  // elf/get-dynamic-info.h: "If both RUNPATH and RPATH are given, the latter is ignored."
  if (file.rpath && !file.runpath) object.rpath = file.rpath->raw;
  if (file.runpath) object.runpath = file.runpath->raw;
  object.nodeflib = file.nodeflib();
  return object;
}

std::vector<const Candidate*> Resolution::other_copies() const {
  std::vector<const Candidate*> out;
  std::vector<std::string> seen;
  if (resolved_path) seen.push_back(*resolved_path);
  if (path) seen.push_back(*path);
  for (const auto& c : candidates) {
    if (c.status != CandidateStatus::accepted) continue;
    std::string key = c.resolved_path.value_or(c.path);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    out.push_back(&c);
  }
  return out;
}

// ---- the resolver ------------------------------------------------------------------------

struct Resolver::Probe {
  bool exists = false;
  CandidateStatus status = CandidateStatus::accepted;
  std::string detail;
};

Resolver::Resolver(const RootFs& fs, ResolverConfig config, ResolverLimits limits)
    : m_fs(fs), m_config(std::move(config)), m_limits(limits) {
  if (m_config.cache) {
    const auto& entries = m_config.cache->entries;
    for (std::size_t i = 0; i < entries.size(); ++i) m_cache_index[cache_name_key(entries[i].soname)].push_back(i);
  }
}

std::optional<std::string> Resolver::limit_reached() const {
  if (!m_exhausted) return std::nullopt;
  return "search stopped: the files under the root name more folders than gpudoctor follows (at most " +
         std::to_string(m_limits.folder_lookups) + " lookups in " + std::to_string(m_limits.listed_folders) + " folders)";
}

bool Resolver::may_exist(const std::string& absolute_path) const {
  // Each folder is listed once: a name is then looked up, not opened, in every folder of a
  // search path (a hostile RPATH names thousands).
  if (m_exhausted) return false;
  if (++m_lookups > m_limits.folder_lookups) {
    m_exhausted = true;
    return false;
  }
  std::string folder = path_dirname(absolute_path);
  auto it = m_listings.find(folder);
  if (it == m_listings.end()) {
    if (m_listings.size() >= m_limits.listed_folders) {
      m_exhausted = true;
      return false;
    }
    auto listing = std::make_unique<Listing>();
    auto names = m_fs.list_dir(folder);
    // An empty listing of a folder that exists may be one we cannot read (mode 0711): then
    // the names are opened, as the loader does.
    listing->complete = names.size() < RootFs::k_max_listing && (!names.empty() || !m_fs.is_dir(folder));
    for (auto& n : names) listing->names.insert(std::move(n));
    it = m_listings.emplace(std::move(folder), std::move(listing)).first;
  }
  const Listing& l = *it->second;
  return !l.complete || l.names.count(std::string(path_basename(absolute_path))) > 0;
}

std::optional<std::string> Resolver::absolute(std::string_view path) const {
  if (!path.empty() && path.front() == '/') return std::string(path);
  if (!m_config.working_directory) return std::nullopt;
  return path_join(*m_config.working_directory, path);
}

std::optional<std::string> Resolver::resolved(std::string_view path) const {
  auto abs = absolute(path);
  if (!abs) return std::nullopt;
  if (!m_fs.is_host()) return m_fs.resolve(*abs);
  // On the host RootFs leaves links alone; the kernel's name for the file is realpath(3)'s.
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(abs->c_str(), nullptr), &std::free);
  if (!real) return std::nullopt;
  return std::string(real.get());
}

std::optional<std::string> Resolver::origin_of(std::string_view path) const {
  // elf/dl-object.c _dl_new_object: the name the object was opened by, made absolute with the
  // current folder, without its last component ("/foo" keeps "/"). Links are not resolved.
  auto abs = absolute(path);
  if (!abs) return std::nullopt;
  return path_dirname(*abs);
}

Resolver::Probe Resolver::probe(const std::string& path) const {
  // open_verify, elf/dl-load.c: the checks and their order, for the host's class and machine.
  Probe out;
  auto host = m_fs.host_path(path);
  if (!host) return out;  // ENOENT (a missing folder or a dangling link)
  // Under a root the path has no links left: O_NOFOLLOW keeps one swapped in from escaping.
  int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (m_fs.is_host() ? 0 : O_NOFOLLOW);
  Fd fd(::open(host->c_str(), flags));
  if (fd.get() < 0) {
    if (errno != EACCES) return out;
    out.exists = true;
    out.status = CandidateStatus::unreadable;
    out.detail = "permission denied";
    return out;
  }
  out.exists = true;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || S_ISDIR(st.st_mode)) {
    // read(2) fails with EISDIR: "cannot read file data", which ends the load.
    out.status = CandidateStatus::fatal;
    out.detail = "cannot read file data: Is a directory";
    return out;
  }
  if (!S_ISREG(st.st_mode)) {
    out.status = CandidateStatus::fatal;
    out.detail = "not a regular file (the loader would try to read it)";
    return out;
  }
  std::array<char, kElf64HeaderSize> h{};
  std::size_t got = 0;
  while (got < h.size()) {
    ssize_t n = ::pread(fd.get(), h.data() + got, h.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  auto fatal = [&](std::string why) {
    out.status = CandidateStatus::fatal;
    out.detail = std::move(why);
    return out;
  };
  if (got < h.size()) return fatal("file too short");
  if (h[0] != '\x7f' || h[1] != 'E' || h[2] != 'L' || h[3] != 'F') return fatal("invalid ELF header");
  auto elf_class = static_cast<std::uint8_t>(h[4]);
  if (elf_class != m_config.platform.elf_class) {
    // "This is not a fatal error. On architectures where 32-bit and 64-bit binaries can be
    // run this might happen."
    out.status = CandidateStatus::wrong_class;
    out.detail = elf_class == 1   ? "ELFCLASS32"
                 : elf_class == 2 ? "ELFCLASS64"
                                  : "ELF class " + std::to_string(elf_class);
    return out;
  }
  if (h[5] != 1) return fatal("ELF file data encoding not little-endian");
  if (h[6] != 1) return fatal("ELF file version ident does not match current one");
  auto osabi = static_cast<std::uint8_t>(h[7]);
  auto abi_version = static_cast<std::uint8_t>(h[8]);
  // VALID_ELF_OSABI and VALID_ELF_ABIVERSION of sysdeps/gnu/ldsodefs.h.
  if (osabi != kOsabiSysv && osabi != kOsabiGnu) return fatal("ELF file OS ABI invalid");
  if (!(abi_version == 0 || (osabi == kOsabiGnu && abi_version < kLibcAbiMax)))
    return fatal("ELF file ABI version invalid");
  for (std::size_t i = 9; i < 16; ++i) {
    if (h[i] != 0) return fatal("nonzero padding in e_ident");
  }
  if (le32(h, 20) != 1) return fatal("ELF file version does not match current one");
  std::uint16_t machine = le16(h, 18);
  if (machine != m_config.platform.machine) {
    out.status = CandidateStatus::wrong_machine;
    out.detail = elf::machine_name(machine);
    return out;
  }
  std::uint16_t type = le16(h, 16);
  if (type != 2 && type != 3) return fatal("only ET_DYN and ET_EXEC can be loaded");
  if (le16(h, 54) != kElf64PhdrSize) return fatal("ELF file's phentsize not the expected size");
  return out;
}

void Resolver::add_candidate(std::string path, SearchStep step, const std::string& source, Resolution& out) const {
  auto abs = absolute(path);
  if (!abs || !may_exist(*abs)) return;
  Probe p = probe(*abs);
  if (!p.exists) return;
  Candidate c;
  c.path = std::move(path);
  c.step = step;
  c.source = source;
  c.status = p.status;
  c.detail = std::move(p.detail);
  c.resolved_path = resolved(c.path);
  out.candidates.push_back(std::move(c));
}

void Resolver::search_list(std::string_view name, const std::vector<std::string>& dirs, SearchStep step,
                           const std::string& source, std::size_t* folders_left, Resolution& out) const {
  // open_path: each folder once (fillin_rpath drops repeats within a list), and in each folder
  // the hwcaps subfolders first (capstr from _dl_important_hwcaps, ending with "").
  std::vector<std::string> subdirs;
  for (const auto& h : m_config.platform.glibc_hwcaps) subdirs.push_back("glibc-hwcaps/" + h + "/");
  for (const auto& h : m_config.platform.legacy_hwcaps_subdirs) subdirs.push_back(normalize_dir(h));
  subdirs.emplace_back();
  std::unordered_set<std::string> seen;
  for (const auto& raw : dirs) {
    std::string dir = normalize_dir(raw);
    if (!seen.insert(dir).second) continue;
    if (folders_left != nullptr) {
      if (*folders_left == 0) {
        out.notes.push_back("search cut after " + std::to_string(m_limits.search_folders) + " folders, in " + source);
        return;
      }
      --*folders_left;
    }
    if ((dir.empty() || dir.front() != '/') && !m_config.working_directory) {
      if (out.notes.size() < 16)
        out.notes.push_back("relative folder \"" + dir + "\" of " + source +
                            " not searched: the process's working folder is unknown");
      continue;
    }
    for (const auto& sub : subdirs) add_candidate(dir + sub + std::string(name), step, source, out);
  }
}

Resolution Resolver::resolve(std::string_view needed, const LoaderObject& object,
                             const std::vector<LoaderObject>& loaders, const std::vector<LoadedObject>& loaded) const {
  std::vector<const LoaderObject*> chain;
  chain.reserve(loaders.size());
  for (const auto& l : loaders) chain.push_back(&l);
  return resolve_in(needed, object, chain, loaded);
}

Resolution Resolver::resolve_in(std::string_view needed, const LoaderObject& object,
                                const std::vector<const LoaderObject*>& loaders,
                                const std::vector<LoadedObject>& loaded) const {
  Resolution out;
  std::size_t folders_left = m_limits.search_folders;
  // elf/dl-deps.c expand_dst: tokens in a NEEDED name are replaced with the object's values.
  elf::DstValues object_dst = m_config.platform.dst;
  object_dst.origin = origin_of(object.path);
  if (elf::has_dynamic_string_token(needed)) {
    auto expanded = elf::expand_dynamic_string_tokens(needed, object_dst);
    if (!expanded || expanded->empty()) {
      out.name = std::string(needed);
      out.error = out.name + ": empty dynamic string token substitution";
      return out;
    }
    out.name = std::move(*expanded);
  } else {
    out.name = std::string(needed);
  }
  const std::string& name = out.name;

  // _dl_map_object: "Look for this name among those already loaded" (l_name, the names it was
  // requested by, its SONAME).
  for (std::size_t i = 0; i < loaded.size() && !out.reused; ++i) {
    const auto& l = loaded[i];
    bool match = l.path == name || (l.soname && *l.soname == name) ||
                 std::find(l.names.begin(), l.names.end(), name) != l.names.end();
    if (match) out.reused = i;
  }

  if (name.find('/') != std::string::npos) {
    add_candidate(name, SearchStep::path_name, "path", out);
  } else {
    // 2. RPATH, only when the loading object has no RUNPATH.
    if (!object.runpath) {
      const LoaderObject* executable = m_config.executable ? &*m_config.executable : nullptr;
      bool did_executable = false;
      std::vector<const LoaderObject*> chain{&object};
      chain.insert(chain.end(), loaders.begin(), loaders.end());
      for (const LoaderObject* l : chain) {
        if (folders_left == 0) break;
        if (!l->rpath || l->runpath || l->rpath->empty()) continue;
        elf::DstValues dst = m_config.platform.dst;
        dst.origin = origin_of(l->path);
        search_list(name, elf::expand_path_list(*l->rpath, dst), SearchStep::rpath, "RPATH of " + l->path,
                    &folders_left, out);
        did_executable |= executable != nullptr && l->path == executable->path;
      }
      if (executable != nullptr && !did_executable && executable->rpath && !executable->runpath &&
          !executable->rpath->empty()) {
        elf::DstValues dst = m_config.platform.dst;
        dst.origin = origin_of(executable->path);
        search_list(name, elf::expand_path_list(*executable->rpath, dst), SearchStep::rpath,
                    "RPATH of " + executable->path, &folders_left, out);
      }
    }
    // 3. LD_LIBRARY_PATH: ':' and ';' separate; its $ORIGIN is the executable's folder.
    if (m_config.ld_library_path && !m_config.ld_library_path->empty()) {
      elf::DstValues dst = m_config.platform.dst;
      if (m_config.executable) dst.origin = origin_of(m_config.executable->path);
      search_list(name, elf::expand_path_list(*m_config.ld_library_path, dst, ":;"), SearchStep::ld_library_path,
                  "LD_LIBRARY_PATH", &folders_left, out);
    }
    // 4. RUNPATH of the loading object alone.
    if (object.runpath && !object.runpath->empty()) {
      search_list(name, elf::expand_path_list(*object.runpath, object_dst), SearchStep::runpath,
                  "RUNPATH of " + object.path, &folders_left, out);
    }
    // 5. ld.so.cache: the one entry search_cache picks is opened; the other entries of that
    //    name are listed as copies the loader does not try.
    if (m_config.cache) {
      CacheLookupOptions options;
      options.accepted_flags = m_config.platform.cache_flags;
      options.hwcaps_priority = m_config.platform.glibc_hwcaps;
      auto picked = lookup_ld_so_cache(*m_config.cache, name, options);
      if (picked) {
        const auto& entry = m_config.cache->entries[*picked];
        bool in_system_dir = std::any_of(m_config.platform.system_dirs.begin(), m_config.platform.system_dirs.end(),
                                         [&](const std::string& d) { return starts_with(entry.path, d); });
        std::size_t before = out.candidates.size();
        if (object.nodeflib && in_system_dir) {
          Candidate c;
          c.path = entry.path;
          c.step = SearchStep::ld_so_cache;
          c.source = "ld.so.cache";
          c.status = CandidateStatus::excluded;
          c.detail = "DF_1_NODEFLIB of " + object.path + " excludes cache entries in the default folders";
          out.candidates.push_back(std::move(c));
        } else {
          add_candidate(entry.path, SearchStep::ld_so_cache, "ld.so.cache", out);
        }
        if (out.candidates.size() > before)
          out.candidates.back().detail +=
              (out.candidates.back().detail.empty() ? "" : "; ") + entry.flags_description();
      }
      auto same_name = m_cache_index.find(cache_name_key(name));
      for (auto index : same_name == m_cache_index.end() ? std::vector<std::size_t>{} : same_name->second) {
        if (picked && index == *picked) continue;
        const auto& entry = m_config.cache->entries[index];
        std::size_t before = out.candidates.size();
        add_candidate(entry.path, SearchStep::ld_so_cache, "ld.so.cache", out);
        if (out.candidates.size() > before) {
          auto& c = out.candidates.back();
          c.detail = "cache entry not picked by the loader (" + entry.flags_description() + ")" +
                     (c.detail.empty() ? "" : ": " + c.detail);
          c.searched = false;
        }
      }
    }
    // 6. The default folders, unless DF_1_NODEFLIB.
    if (!object.nodeflib) {
      search_list(name, m_config.platform.system_dirs, SearchStep::default_dirs, "default folder", nullptr, out);
    }
  }
  if (auto why = limit_reached()) out.notes.push_back(*why);

  if (out.reused) {
    const auto& l = loaded[*out.reused];
    out.path = l.path;
    out.step = SearchStep::already_loaded;
    out.why = "already loaded: " + l.path;
    out.resolved_path = resolved(l.path);
    return out;  // the loader does not search: no candidate is reached
  }

  // The search stops at the first file that is loaded or that fails the whole load.
  bool other_class = false;
  for (auto& c : out.candidates) {
    if (!c.searched || c.status == CandidateStatus::excluded) continue;
    c.reached = true;
    if (c.status == CandidateStatus::wrong_class) other_class = true;
    if (c.status == CandidateStatus::accepted) {
      out.path = c.path;
      out.step = c.step;
      out.why = c.source;
      out.resolved_path = resolved(c.path);
      return out;
    }
    if (c.status == CandidateStatus::fatal) {
      out.error = c.path + ": " + c.detail;
      return out;
    }
  }
  // _dl_map_object: a file of the other class found and nothing else.
  if (m_exhausted) {
    out.error = name + ": not searched to the end (the search path named more folders than gpudoctor follows)";
    return out;
  }
  out.error =
      name + ": " +
      (other_class ? (m_config.platform.elf_class == 2 ? "wrong ELF class: ELFCLASS32" : "wrong ELF class: ELFCLASS64")
                   : "cannot open shared object file: No such file or directory");
  return out;
}

LoadTree Resolver::load_tree(std::string_view root_path, const std::vector<LoaderObject>& root_loaders,
                             const std::vector<LoadedObject>& already_loaded, std::size_t max_objects) const {
  LoadTree tree;
  std::vector<LoadedObject> in_process;               // parallel to tree.objects
  std::deque<std::optional<LoaderObject>> as_loader;  // each object as a loader (a deque: chains point into it)
  // The loaders of an object: the object that loaded it (loaded_by), and on up to the root,
  // whose loaders are root_loaders: built when needed, as pointers (a chain can be long).
  auto chain_of = [&](std::size_t index) {
    std::vector<const LoaderObject*> chain;
    for (auto up = tree.objects[index].loaded_by; up; up = tree.objects[*up].loaded_by)
      if (as_loader[*up]) chain.push_back(&*as_loader[*up]);
    for (const auto& l : root_loaders) chain.push_back(&l);
    return chain;
  };
  for (const auto& l : already_loaded) {
    TreeObject t;
    t.path = l.path;
    t.resolved_path = resolved(l.path);
    t.soname = l.soname;
    t.preloaded = true;
    tree.objects.push_back(std::move(t));
    in_process.push_back(l);
    as_loader.emplace_back();
  }

  auto file_id = [&](const std::string& path) -> std::optional<std::pair<dev_t, ino_t>> {
    auto abs = absolute(path);
    if (!abs) return std::nullopt;
    auto st = m_fs.stat(*abs);
    if (!st) return std::nullopt;
    return std::make_pair(st->st_dev, st->st_ino);
  };
  std::size_t added = 0;
  // Adds a newly found object; returns its index, or an index already holding that file.
  auto add_name = [&](std::size_t k, const std::string& name) {
    auto& names = in_process[k].names;
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  auto add_object = [&](const Resolution& r, const std::string& requested,
                        std::optional<std::size_t> loaded_by) -> std::size_t {
    auto id = file_id(*r.path);
    if (id) {
      // _dl_map_object_from_fd: "Look again to see if the real name matched another already loaded."
      for (std::size_t k = 0; k < in_process.size(); ++k) {
        if (in_process[k].file_id == id) {
          add_name(k, requested);
          return k;
        }
      }
    }
    TreeObject t;
    t.path = *r.path;
    t.resolved_path = r.resolved_path;
    t.loaded_by = loaded_by;
    LoadedObject l;
    l.path = *r.path;
    l.names.push_back(requested);
    l.file_id = id;
    std::optional<LoaderObject> loader_view;
    if (auto abs = absolute(*r.path)) {
      auto parsed = elf::read_elf_file(m_fs, *abs);
      if (auto* file = std::get_if<elf::ElfFile>(&parsed)) {
        t.soname = file->soname;
        l.soname = file->soname;
        loader_view = LoaderObject::from_elf(*r.path, *file);
        t.elf = std::move(*file);
      } else {
        t.read_error = std::get<elf::ElfError>(parsed).reason;
      }
    } else {
      t.read_error = "relative path and unknown working folder";
    }
    tree.objects.push_back(std::move(t));
    in_process.push_back(std::move(l));
    as_loader.push_back(std::move(loader_view));
    ++added;
    return tree.objects.size() - 1;
  };

  // The root, opened by path as dlopen does (its caller is the first of root_loaders).
  LoaderObject caller;
  std::vector<LoaderObject> caller_loaders;
  if (!root_loaders.empty()) {
    caller = root_loaders.front();
    caller_loaders.assign(root_loaders.begin() + 1, root_loaders.end());
  } else if (m_config.executable) {
    caller = *m_config.executable;
  } else {
    caller.path = std::string(root_path);
  }
  Resolution root = resolve(root_path, caller, caller_loaders, in_process);
  if (root.reused) {
    tree.root = *root.reused;
    return tree;  // already in the process: its dependencies are too
  }
  if (!root.found()) {
    TreeObject t;
    t.path = std::string(root_path);
    t.read_error = root.error;
    tree.objects.push_back(std::move(t));
    tree.root = tree.objects.size() - 1;
    tree.failure = root.error;
    return tree;
  }
  tree.root = add_object(root, std::string(root_path), std::nullopt);

  // elf/dl-deps.c: a breadth-first walk; each object's NEEDED entries in file order.
  std::deque<std::size_t> queue{tree.root};
  std::vector<bool> queued(tree.objects.size(), false);
  queued[tree.root] = true;
  while (!queue.empty()) {
    std::size_t index = queue.front();
    queue.pop_front();
    if (!tree.objects[index].elf || !as_loader[index]) continue;
    const LoaderObject self = *as_loader[index];
    const std::vector<std::string> needed = tree.objects[index].elf->needed;
    const std::vector<const LoaderObject*> chain = chain_of(index);
    for (const auto& name : needed) {
      if (tree.links.size() >= m_limits.tree_links) {
        if (!tree.failure) tree.failure = "more than " + std::to_string(m_limits.tree_links) + " NEEDED entries: walk stopped";
        return tree;
      }
      NeededLink link;
      link.from = index;
      link.name = name;
      link.resolution = resolve_in(name, self, chain, in_process);
      if (link.resolution.reused) {
        link.to = *link.resolution.reused;
        add_name(*link.to, link.resolution.name);
      } else if (link.resolution.found()) {
        if (added >= max_objects) {
          if (!tree.failure) tree.failure = "more than " + std::to_string(max_objects) + " objects: walk stopped";
          tree.links.push_back(std::move(link));
          return tree;
        }
        std::size_t to = add_object(link.resolution, link.resolution.name, index);
        link.to = to;
        if (queued.size() < tree.objects.size()) queued.resize(tree.objects.size(), false);
        if (!queued[to]) {
          queued[to] = true;
          queue.push_back(to);
        }
      } else if (!tree.failure) {
        tree.failure = link.resolution.error;
      }
      tree.links.push_back(std::move(link));
    }
  }
  return tree;
}

}  // namespace gpudoctor::loader
