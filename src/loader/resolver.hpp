#pragma once
// A model of how glibc's dynamic loader finds a NEEDED library (elf/dl-load.c _dl_map_object,
// open_path, open_verify, fillin_rpath; elf/dl-deps.c _dl_map_object_deps for the load order),
// run against an inspected root through RootFs. It never loads anything: it reads headers.
//
// The search for a name without '/', in glibc's order:
//  1. a loaded object whose name, path or SONAME equals it is reused;
//  2. DT_RPATH of the loading object, then of the object that loaded it, and on up; then of
//     the executable: all only when the loading object has no DT_RUNPATH (an object having
//     both uses only its RUNPATH);
//  3. LD_LIBRARY_PATH (separated by ':' or ';');
//  4. DT_RUNPATH of the loading object only (it is not inherited);
//  5. /etc/ld.so.cache (skipped by DF_1_NODEFLIB for entries in the default folders);
//  6. the default folders (not with DF_1_NODEFLIB).
// In each folder, the hwcaps subfolders come before the folder itself. A file of the other ELF
// class or machine is skipped silently; a file that is not ELF at all, or too short, ends the
// load with an error: the loader does not go on to the next folder.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "elf/dynamic_string_tokens.hpp"
#include "elf/elf_file.hpp"
#include "loader/ld_so_cache.hpp"
#include "sys/root_fs.hpp"

namespace gpudoctor::loader {

/// What differs between the loaders of distributions and CPUs.
struct LoaderPlatform {
  std::string name;  ///< "Debian/Ubuntu multiarch x86-64", "upstream glibc x86-64"
  /// The default folders, searched last, each ending in '/' (SYSTEM_DIRS of elf/dl-load.c,
  /// generated from slibdir and libdir by elf/gen-trusted-dirs.awk).
  std::vector<std::string> system_dirs;
  /// $LIB and $PLATFORM (DstValues::origin is not used here).
  elf::DstValues dst;
  /// glibc-hwcaps subfolders the CPU supports, best first ("x86-64-v4", "x86-64-v3",
  /// "x86-64-v2"; glibc >= 2.33). Searched as <folder>/glibc-hwcaps/<name>/ and used to
  /// rank the cache's glibc-hwcaps entries. `ld.so --help` on the machine lists them.
  std::vector<std::string> glibc_hwcaps;
  /// Legacy hwcaps subfolders (glibc <= 2.36 only: "tls/haswell/x86_64", ..., "x86_64"),
  /// searched after the glibc-hwcaps ones, in this order.
  std::vector<std::string> legacy_hwcaps_subdirs;
  std::int32_t cache_flags = 0x0303;  ///< _DL_CACHE_DEFAULT_ID (sysdeps/x86_64/dl-cache.h)
  std::uint8_t elf_class = 2;         ///< ELFCLASS64
  std::uint16_t machine = 62;         ///< EM_X86_64 (elf_machine_matches_host)

  /// Upstream glibc on x86-64 (Fedora, Arch, ...): /lib64/, /usr/lib64/; $LIB = lib64.
  static LoaderPlatform upstream_x86_64();
  /// Debian and Ubuntu (multiarch slibdir): /lib/x86_64-linux-gnu/, /usr/lib/x86_64-linux-gnu/,
  /// /lib/, /usr/lib/ (as `ld.so --help` prints on Debian 12); $LIB = lib/x86_64-linux-gnu.
  static LoaderPlatform debian_x86_64();
  /// Upstream glibc on AArch64 (RHEL, Fedora, Amazon Linux on Graviton, GH200 with RHEL):
  /// /lib64/, /usr/lib64/; $LIB = lib64; EM_AARCH64, cache flags 0x0a03.
  static LoaderPlatform upstream_aarch64();
  /// Debian and Ubuntu arm64: /lib/aarch64-linux-gnu/, /usr/lib/aarch64-linux-gnu/, /lib/,
  /// /usr/lib/ (the SYSTEM_DIRS strings of Debian 12's arm64 ld.so); $LIB = lib/aarch64-linux-gnu.
  static LoaderPlatform debian_aarch64();
};

/// A CPU the loader model knows: its uname(2) machine name, ELF e_machine and dynamic loader.
struct KnownMachine {
  std::string_view uname;    ///< "x86_64", "aarch64"
  std::uint16_t e_machine;   ///< EM_X86_64 = 62, EM_AARCH64 = 183
  std::string_view loader;   ///< PT_INTERP of its programs: "/lib64/ld-linux-x86-64.so.2"
  std::string_view triplet;  ///< Debian's multiarch folder name: "x86_64-linux-gnu"
};

/// The machines the model knows, x86-64 first.
const std::vector<KnownMachine>& known_machines();

/// The machine a name (uname(2) "x86_64", "aarch64", "arm64") or an e_machine stands for, or null.
const KnownMachine* find_machine(std::string_view uname);
const KnownMachine* find_machine(std::uint16_t e_machine);

/// The machine of the system inside `fs`, from its own files: the dynamic loader of a known
/// machine that is an ELF file of that machine; when several are (a Debian amd64 host with
/// libc6:arm64 installed has both), the e_machine of the root's /bin/sh decides. Null when no
/// known loader is there. `evidence` gets the file that decided.
const KnownMachine* detect_root_machine(const RootFs& fs, std::string* evidence = nullptr);

/// The platform of the loader inside `fs` for `machine` (a uname(2) name such as the
/// snapshot's host.architecture; empty or unknown: detect_root_machine, else x86-64):
/// Debian/Ubuntu when its ld.so holds the multiarch default folder (or, for an ld.so without
/// readable strings, when the multiarch folder holds libc.so.6), upstream otherwise.
LoaderPlatform detect_loader_platform(const RootFs& fs, std::string_view machine = {});

/// An object that loads others: the one whose NEEDED is resolved, or one of its loaders.
struct LoaderObject {
  /// The name the loader opened it by (l_name): the search folder joined with the file name,
  /// links not resolved. Its folder is $ORIGIN. For the executable: /proc/self/exe resolved.
  std::string path;
  std::optional<std::string> rpath;    ///< DT_RPATH as stored
  std::optional<std::string> runpath;  ///< DT_RUNPATH as stored
  bool nodeflib = false;               ///< DF_1_NODEFLIB

  /// From an ELF file read with gd_elf.
  static LoaderObject from_elf(std::string path, const elf::ElfFile& file);
};

/// An object already in the process (so a NEEDED naming it is not searched for).
struct LoadedObject {
  std::string path;                                ///< l_name
  std::optional<std::string> soname;               ///< DT_SONAME
  std::vector<std::string> names;                  ///< names it was requested by
  std::optional<std::pair<dev_t, ino_t>> file_id;  ///< device and inode (_dl_file_id_match_p)
};

/// Where the search was when it met a file.
enum class SearchStep {
  path_name,        ///< the name holds a '/': opened as a path
  already_loaded,   ///< an object of that name is in the process
  rpath,            ///< DT_RPATH of the object, of one of its loaders, or of the executable
  ld_library_path,  ///< LD_LIBRARY_PATH
  runpath,          ///< DT_RUNPATH of the object
  ld_so_cache,      ///< /etc/ld.so.cache
  default_dirs,     ///< the default folders
};

/// "RPATH", "LD_LIBRARY_PATH", "ld.so.cache", ...
std::string_view to_string(SearchStep step);

/// What the loader does with a file it finds (open_verify in elf/dl-load.c).
enum class CandidateStatus {
  accepted,       ///< loadable: the first one reached is the one loaded
  wrong_class,    ///< the other ELF class (32/64 bit): skipped, the search goes on
  wrong_machine,  ///< another e_machine: skipped
  unreadable,     ///< permission denied: skipped
  fatal,          ///< refused with an error that ends the whole load ("file too short", "invalid ELF header")
  excluded,       ///< not opened: the cache's pick lies in a default folder and DF_1_NODEFLIB is set
};

/// "accepted", "wrong ELF class", ...
std::string_view to_string(CandidateStatus status);

/// A file met on the search path.
struct Candidate {
  std::string path;  ///< as the loader builds it: folder + hwcaps subfolder + name
  SearchStep step = SearchStep::default_dirs;
  std::string source;  ///< "RPATH of /x/libtorch_cuda.so", "LD_LIBRARY_PATH", "ld.so.cache", ...
  CandidateStatus status = CandidateStatus::accepted;
  std::string detail;                        ///< why it was skipped or refused, or the cache entry's flags
  std::optional<std::string> resolved_path;  ///< links resolved in the root
  /// False for an ld.so.cache entry of that name that the cache lookup does not pick: a copy
  /// the loader never opens.
  bool searched = true;
  bool reached = false;  ///< the real search gets this far (false: a copy behind the winner)
};

/// How one name resolves.
struct Resolution {
  std::string name;                            ///< the name searched (DSTs expanded)
  std::optional<std::string> path;             ///< the file loaded (l_name), or nullopt
  std::optional<std::string> resolved_path;    ///< `path` with links resolved in the root (as /proc/PID/maps shows it)
  SearchStep step = SearchStep::default_dirs;  ///< where `path` came from
  std::string why;                             ///< "RPATH of /x/libtorch_cuda.so", "already loaded: /x/libc.so.6", ...
  std::optional<std::size_t> reused;           ///< for already_loaded: index in the loaded objects given
  std::vector<Candidate> candidates;           ///< every file on the whole search path, in search order
  /// When `path` is nullopt: the message dlerror() would give ("libcudnn.so.9: cannot open
  /// shared object file: No such file or directory", "/x/libcudnn.so.9: file too short").
  std::string error;
  std::vector<std::string> notes;  ///< what could not be modelled (a relative folder, no working folder known)

  [[nodiscard]] bool found() const { return path.has_value(); }
  /// Loadable files other than the one loaded (each file once, by resolved path): the other
  /// copies, whether the search reaches them or not.
  [[nodiscard]] std::vector<const Candidate*> other_copies() const;
};

/// An object of a resolved tree.
struct TreeObject {
  std::string path;                          ///< l_name
  std::optional<std::string> resolved_path;  ///< links resolved in the root
  std::optional<std::string> soname;
  std::optional<std::size_t> loaded_by;  ///< the object whose NEEDED brought it in
  bool preloaded = false;                ///< given as already loaded
  std::optional<elf::ElfFile> elf;       ///< nullopt for preloaded objects or when unreadable
  std::string read_error;                ///< why `elf` is missing
};

/// One NEEDED entry of one object and what it resolved to.
struct NeededLink {
  std::size_t from = 0;  ///< index in LoadTree::objects
  std::string name;      ///< as written in DT_NEEDED
  Resolution resolution;
  std::optional<std::size_t> to;  ///< the object loaded or reused; nullopt: not found
};

/// The objects an object brings in, in the loader's order.
struct LoadTree {
  /// Preloaded objects first, then the root, then each new object in load order (breadth
  /// first, each object's NEEDED in file order: elf/dl-deps.c).
  std::vector<TreeObject> objects;
  std::size_t root = 0;
  std::vector<NeededLink> links;  ///< in the order the loader maps them
  /// The first error that makes the real load fail (the loader stops there; the model goes on
  /// to show everything that is missing).
  std::optional<std::string> failure;
};

/// The process-wide inputs of the search.
struct ResolverConfig {
  LoaderPlatform platform = LoaderPlatform::debian_x86_64();
  /// The main program: its RPATH is tried after the loaders' (unless among them), and its
  /// folder is $ORIGIN in LD_LIBRARY_PATH.
  std::optional<LoaderObject> executable;
  std::optional<std::string> ld_library_path;  ///< the process's LD_LIBRARY_PATH; nullopt when unset
  /// null: no usable /etc/ld.so.cache. Shared: every resolver of a run reads the same one.
  std::shared_ptr<const LdSoCache> cache;
  /// The process's working folder (inside the root), for relative and empty search entries;
  /// nullopt: such entries are not searched and a note says so.
  std::optional<std::string> working_directory;
};

/// Bounds on the work of one Resolver, whatever the files under the root say: a hostile
/// library naming thousands of folders and NEEDED entries costs at most these. Real trees are
/// far below them (torch 2.9's: 60 objects, 400 NEEDED entries, 20 folders per search).
struct ResolverLimits {
  std::size_t search_folders = 4096;     ///< RPATH, LD_LIBRARY_PATH and RUNPATH folders searched for one name
  std::size_t folder_lookups = 1 << 18;  ///< names looked up in folders, over the resolver's life (a real tree: 20,000)
  std::size_t listed_folders = 1 << 16;  ///< distinct folders listed (each listing is kept)
  std::size_t tree_links = 8192;         ///< NEEDED entries followed by one load_tree
};

class Resolver {
 public:
  /// `fs` must outlive the resolver. Folders are listed once each and the listing kept: the
  /// tree under the root must not change while the resolver is in use.
  Resolver(const RootFs& fs, ResolverConfig config, ResolverLimits limits = {});

  /// Resolves `name`, a NEEDED entry (or dlopen argument) of `object`, whose loaders are
  /// `loaders` (the object that loaded `object`, then its loader, and on up). `loaded` are the
  /// objects already in the process.
  [[nodiscard]] Resolution resolve(std::string_view name, const LoaderObject& object,
                                   const std::vector<LoaderObject>& loaders,
                                   const std::vector<LoadedObject>& loaded) const;

  /// Loads `root_path` (an absolute path inside the root, as dlopen of a path would) and its
  /// whole NEEDED tree. `root_loaders` are the loaders of the root (for a module that Python
  /// dlopens: the python executable); `already_loaded` are in the process before. At most
  /// `max_objects` new objects are followed.
  [[nodiscard]] LoadTree load_tree(std::string_view root_path, const std::vector<LoaderObject>& root_loaders,
                                   const std::vector<LoadedObject>& already_loaded,
                                   std::size_t max_objects = 4096) const;

  [[nodiscard]] const ResolverConfig& config() const { return m_config; }
  /// Why searches stopped early (a limit of ResolverLimits was reached), or nullopt.
  [[nodiscard]] std::optional<std::string> limit_reached() const;

 private:
  struct Probe;
  struct Listing {
    std::unordered_set<std::string> names;
    bool complete = true;  ///< false: unreadable or cut; a name not in it may still exist
  };
  [[nodiscard]] Resolution resolve_in(std::string_view name, const LoaderObject& object,
                                      const std::vector<const LoaderObject*>& loaders,
                                      const std::vector<LoadedObject>& loaded) const;
  [[nodiscard]] Probe probe(const std::string& path) const;
  [[nodiscard]] bool may_exist(const std::string& absolute_path) const;
  [[nodiscard]] std::optional<std::string> absolute(std::string_view path) const;
  [[nodiscard]] std::optional<std::string> origin_of(std::string_view path) const;
  [[nodiscard]] std::optional<std::string> resolved(std::string_view path) const;
  void search_list(std::string_view name, const std::vector<std::string>& dirs, SearchStep step,
                   const std::string& source, std::size_t* folders_left, Resolution& out) const;
  void add_candidate(std::string path, SearchStep step, const std::string& source, Resolution& out) const;

  const RootFs& m_fs;
  ResolverConfig m_config;
  ResolverLimits m_limits;
  /// ld.so.cache entries by cache_name_key of their SONAME.
  std::unordered_map<std::string, std::vector<std::size_t>> m_cache_index;
  mutable std::unordered_map<std::string, std::unique_ptr<const Listing>> m_listings;
  mutable std::size_t m_lookups = 0;
  mutable bool m_exhausted = false;  ///< a limit was reached: searches stop
};

}  // namespace gpudoctor::loader
