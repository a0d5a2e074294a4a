#pragma once
// A fuzz input read as a small file tree, laid out in a scratch folder that serves as --root
// (fuzz_resolver, fuzz_collect and their corpus replay share it).
//
// The input is a list of records, each starting with a line "@KIND ARG" at the start of the input
// or after a newline; a record's body is every byte up to the newline before the next "@" line:
//   @file PATH      the body is the file's bytes
//   @link PATH      a symbolic link; the body's first line is its target, verbatim
//   @dir PATH       a folder
//   @elf PATH       an ELF shared object built from the body's "key=value" lines: soname, needed
//                   (one per line, repeatable), rpath, runpath, class (32/64), machine, type,
//                   flags_1 (decimal or 0x hex)
//   @cache PATH     a new-format ld.so.cache from the body's "soname=path" lines (a raw cache, or
//                   any bytes, is a @file)
//   @load PATH      (resolver) an object whose NEEDED tree is resolved; default: every @elf
//   @ldpath VALUE   (resolver) LD_LIBRARY_PATH
//   @exe PATH       (resolver) the executable, whose RPATH is searched last
//   @cwd PATH       (resolver) the working folder
// PATHs are inside the root: empty, "." and ".." components are dropped, so nothing is written
// outside the scratch folder, and no write goes through a link the input made.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpudoctor::fuzz {

struct TreeEntry {
  std::string kind;  ///< "file", "link", "dir", "elf", "cache"
  std::string path;  ///< absolute inside the root, components cleaned
  std::string body;
};

struct Tree {
  std::vector<TreeEntry> entries;
  std::vector<std::string> loads;
  std::optional<std::string> ld_library_path;
  std::optional<std::string> executable;
  std::optional<std::string> working_directory;
};

/// What the decoder and the writer take on, whatever the input says.
inline constexpr std::size_t k_max_tree_entries = 256;
inline constexpr std::size_t k_max_tree_bytes = std::size_t{4} << 20;  ///< bytes written in all
inline constexpr std::size_t k_max_path_components = 24;

Tree decode_tree(std::string_view input);

/// An ELF shared object with a PT_LOAD over the whole file and a PT_DYNAMIC holding the fields
/// of `spec` (the "key=value" lines of an @elf record).
std::string build_elf(std::string_view spec);
/// A new-format ld.so.cache ("glibc-ld.so.cache1.1") of x86-64 entries ("soname=path" lines).
std::string build_ld_so_cache(std::string_view spec);

/// A folder of its own (under $TMPDIR or /tmp) for one process, emptied before each input.
class ScratchRoot {
 public:
  ScratchRoot();
  ~ScratchRoot();
  ScratchRoot(const ScratchRoot&) = delete;
  ScratchRoot& operator=(const ScratchRoot&) = delete;
  [[nodiscard]] const std::string& path() const { return m_path; }
  /// Empties the folder and writes `tree` into it; false when the scratch folder is unusable.
  bool lay_out(const Tree& tree);

 private:
  std::string m_path;
};

/// The scratch root of this process (made on first use, removed at exit).
ScratchRoot& process_scratch_root();

}  // namespace gpudoctor::fuzz
