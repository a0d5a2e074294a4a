#pragma once
// /etc/ld.so.cache, parsed from its bytes, and looked up the way ld.so looks it up.
// Layout: glibc sysdeps/generic/dl-cache.h (struct cache_file, file_entry, cache_file_new,
// file_entry_new, cache_extension); reading and lookup: elf/dl-cache.c (_dl_load_cache_lookup,
// search_cache, _dl_cache_libcmp); flag values: sysdeps/generic/ldconfig.h; writer: elf/cache.c.
// Read against glibc 2.36 (Debian 12) and the 2026 master branch.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gpudoctor::loader {

/// Which of the three layouts glibc knows the file has.
enum class LdSoCacheFormat {
  old_only,      ///< "ld.so-1.7.0" (libc5, glibc 2.0/2.1), written by `ldconfig -c old`
  old_with_new,  ///< the old layout with the new one hidden in its string table (`-c compat`)
  new_only,      ///< "glibc-ld.so.cache1.1" (`-c new`, the default since glibc 2.32)
};

/// One library of the cache: `ldconfig -p` prints it as "soname (flags) => path".
struct LdSoCacheEntry {
  std::string soname;       ///< the key: the file's SONAME (or its name if it has none)
  std::string path;         ///< the value: the library's path
  std::int32_t flags = 0;   ///< FLAG_* of ldconfig.h: 0x0303 = ELF libc6 x86-64
  std::uint64_t hwcap = 0;  ///< new format only; 0 for a plain entry
  /// For entries of a glibc-hwcaps subfolder (hwcap has only DL_CACHE_HWCAP_EXTENSION set
  /// besides the ISA level and index): the subfolder name, "x86-64-v3".
  std::optional<std::string> hwcaps_subdir;
  std::uint32_t isa_level = 0;  ///< x86 ISA level of a glibc-hwcaps entry (0 = baseline .. 3 = v4)

  /// "libc6,x86-64", with ", hwcap: ..." when set: exactly what `ldconfig -p` prints in the
  /// parentheses (elf/cache.c print_entry).
  [[nodiscard]] std::string flags_description() const;
  /// True for a glibc-hwcaps entry (dl_cache_hwcap_extension in dl-cache.h).
  [[nodiscard]] bool is_hwcaps_entry() const;
};

/// A parsed cache. `entries` are those ld.so reads: the new part when present, else the old.
struct LdSoCache {
  LdSoCacheFormat format = LdSoCacheFormat::new_only;
  std::vector<LdSoCacheEntry> entries;       ///< in file order (ldconfig sorts them for binary search)
  std::uint32_t old_format_entry_count = 0;  ///< entries of the old part (0 for new_only)
  std::optional<std::string> generator;      ///< extension "generator": "ldconfig (GNU libc) 2.36"
  std::vector<std::string> hwcaps_subdirs;   ///< extension "glibc-hwcaps": subfolder names, sorted
};

/// Why a cache could not be used. ld.so then ignores the cache entirely.
struct LdSoCacheError {
  std::string reason;
};

/// Parses the bytes of an ld.so.cache. Every count, offset and string is checked against the
/// size; a cache that ld.so would reject, or whose entries point outside the file, is an
/// error (glibc itself would skip a single bad entry during lookup; we report the file).
std::variant<LdSoCache, LdSoCacheError> parse_ld_so_cache(std::string_view bytes);

/// glibc's _dl_cache_libcmp: compares names with runs of digits compared as numbers, so
/// "libfoo.so.10" sorts after "libfoo.so.9" and "libfoo.so.09" equals "libfoo.so.9".
/// Negative, zero or positive like strcmp.
int cache_name_compare(std::string_view left, std::string_view right);

/// What the loader of the inspected system accepts from the cache.
struct CacheLookupOptions {
  /// _DL_CACHE_DEFAULT_ID: the only flags ld.so accepts (sysdeps/x86_64/dl-cache.h: 0x0303,
  /// ELF libc6 x86-64; an i386 entry, flags 0x0003, is skipped).
  std::int32_t accepted_flags = 0x0303;
  /// glibc-hwcaps subfolders the CPU supports, best first ("x86-64-v4", "x86-64-v3", ...).
  /// Entries of other subfolders are skipped. Empty: every glibc-hwcaps entry is skipped.
  std::vector<std::string> hwcaps_priority;
};

/// The index in `cache.entries` of the entry ld.so picks for `name`, or nullopt: the same
/// binary search as search_cache in elf/dl-cache.c (first entry of the run of equal names with
/// the accepted flags; glibc-hwcaps entries first, by priority). Entries with legacy hwcap
/// bits (glibc <= 2.36) are skipped, as glibc 2.37 and later do.
std::optional<std::size_t> lookup_ld_so_cache(const LdSoCache& cache, std::string_view name,
                                              const CacheLookupOptions& options = {});

/// A key equal for two names exactly when cache_name_compare finds them equal: each run of
/// digits written without its leading zeros ("libfoo.so.09" -> "libfoo.so.9").
std::string cache_name_key(std::string_view name);

/// Every entry whose name equals `name` (in cache_name_compare's sense), in file order: the
/// other copies the cache knows of.
std::vector<std::size_t> ld_so_cache_entries_named(const LdSoCache& cache, std::string_view name);

}  // namespace gpudoctor::loader
