#include "loader/ld_so_cache.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

namespace gpudoctor::loader {

namespace {

// sysdeps/generic/dl-cache.h.
constexpr std::string_view kOldMagic = "ld.so-1.7.0";           // CACHEMAGIC
constexpr std::string_view kNewMagic = "glibc-ld.so.cache1.1";  // CACHEMAGIC_VERSION_NEW
constexpr std::size_t kOldHeaderSize = 16;                      // struct cache_file: magic[11], pad, nlibs
constexpr std::size_t kOldEntrySize = 12;                       // struct file_entry: flags, key, value
constexpr std::size_t kNewHeaderSize = 48;                      // struct cache_file_new (_Static_assert in dl-cache.h)
constexpr std::size_t kNewEntrySize = 24;                       // struct file_entry_new: + osversion_unused, hwcap
constexpr std::size_t kNewAlignment = 8;                        // __alignof__ (struct cache_file_new), ALIGN_CACHE
constexpr std::uint8_t kEndianMask = 3;                         // cache_file_new_flags_endian_mask
constexpr std::uint8_t kEndianLittle = 2;                       // cache_file_new_flags_endian_little
constexpr std::uint32_t kExtensionMagic = 0xEAA42174U;          // cache_extension_magic, (uint32_t) -358342284
constexpr std::uint32_t kExtensionTagGenerator = 0;             // cache_extension_tag_generator
constexpr std::uint32_t kExtensionTagGlibcHwcaps = 1;           // cache_extension_tag_glibc_hwcaps
constexpr std::uint64_t kHwcapExtension = 1ULL << 62;           // DL_CACHE_HWCAP_EXTENSION
constexpr std::uint64_t kIsaLevelMask = (1U << 10) - 1;         // DL_CACHE_HWCAP_ISA_LEVEL_MASK
constexpr std::size_t kMaxGeneratorBytes = 4096;
// What a hostile cache can make us take on (a real one: 2,000 entries of 60 bytes each).
constexpr std::size_t kMaxStringBytes = 4096;      // one SONAME or path (PATH_MAX)
constexpr std::uint64_t kMaxEntries = 1U << 16;    // entries of one cache
constexpr std::size_t kMaxAllStrings = 32U << 20;  // bytes of all the entries' strings together
constexpr std::size_t kMaxHwcapsSubdirs = 64;      // names of the glibc-hwcaps extension

// The file is little endian on every machine gpudoctor inspects (x86-64); the endian flag is
// checked, so a big-endian cache is refused rather than misread.
std::uint32_t u32_at(std::string_view bytes, std::size_t offset) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[offset + i])) << (8 * i);
  return v;
}

std::uint64_t u64_at(std::string_view bytes, std::size_t offset) {
  return static_cast<std::uint64_t>(u32_at(bytes, offset)) |
         (static_cast<std::uint64_t>(u32_at(bytes, offset + 4)) << 32U);
}

// The NUL-terminated string at absolute `offset`; nullopt when it starts or runs past the end,
// or is longer than kMaxStringBytes (only that many bytes are looked at).
std::optional<std::string> string_at(std::string_view bytes, std::uint64_t offset) {
  if (offset >= bytes.size()) return std::nullopt;
  std::size_t start = static_cast<std::size_t>(offset);
  std::size_t span = std::min(bytes.size() - start, kMaxStringBytes + 1);
  const void* nul = std::memchr(bytes.data() + start, '\0', span);
  if (nul == nullptr) return std::nullopt;
  return std::string(bytes.data() + start, static_cast<const char*>(nul));
}

// Checks the count of entries and the bytes their strings took so far.
std::optional<LdSoCacheError> over_limits(std::uint64_t count, std::size_t string_bytes) {
  if (count > kMaxEntries)
    return LdSoCacheError{"cache claims " + std::to_string(count) + " entries, more than " + std::to_string(kMaxEntries)};
  if (string_bytes > kMaxAllStrings)
    return LdSoCacheError{"cache entries' strings exceed " + std::to_string(kMaxAllStrings >> 20) + " MiB"};
  return std::nullopt;
}

// cache_file_new_matches_endian.
bool endian_matches(std::uint8_t flags) { return flags == 0 || (flags & kEndianMask) == kEndianLittle; }

struct Extensions {
  std::optional<std::string> generator;
  std::vector<std::uint32_t> hwcaps_string_offsets;  // indices from the start of the file
};

// cache_extension_load + cache_extension_verify. A malformed extension directory makes ld.so
// ignore the extensions (no glibc-hwcaps priorities), not the cache: so it does here.
Extensions load_extensions(std::string_view bytes, std::size_t new_header_at) {
  Extensions out;
  std::uint32_t offset = u32_at(bytes, new_header_at + 32);  // extension_offset
  if (offset == 0 || offset % 4 != 0) return out;
  std::uint64_t size = bytes.size();
  if (std::uint64_t{offset} + 8 > size) return out;
  if (u32_at(bytes, offset) != kExtensionMagic) return out;
  std::uint64_t count = u32_at(bytes, offset + 4U);
  if (std::uint64_t{offset} + 8 + count * 16 > size) return out;
  Extensions found;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::size_t at = static_cast<std::size_t>(offset + 8 + i * 16);
    std::uint32_t tag = u32_at(bytes, at);
    std::uint32_t section_offset = u32_at(bytes, at + 8);
    std::uint32_t section_size = u32_at(bytes, at + 12);
    if (std::uint64_t{section_offset} + section_size > size) return out;  // the whole directory is refused
    if (tag == kExtensionTagGenerator) {
      found.generator =
          std::string(bytes.substr(section_offset, std::min<std::size_t>(section_size, kMaxGeneratorBytes)));
    } else if (tag == kExtensionTagGlibcHwcaps) {
      found.hwcaps_string_offsets.clear();
      if (section_size == 0 || section_offset % 4 != 0 || section_size % 4 != 0) continue;
      for (std::uint32_t k = 0; k < section_size / 4 && k < kMaxHwcapsSubdirs; ++k) {
        found.hwcaps_string_offsets.push_back(u32_at(bytes, section_offset + k * 4U));
      }
    }
  }
  return found;
}

// Reads `count` new-format entries from the header at `header_at`; strings are relative to
// the header (elf/cache.c: "the string table always begins at the beginning of the new cache
// struct").
std::variant<LdSoCache, LdSoCacheError> read_new_entries(std::string_view bytes, std::size_t header_at,
                                                         LdSoCacheFormat format) {
  std::uint8_t flags = static_cast<std::uint8_t>(bytes[header_at + 28]);
  if (!endian_matches(flags))
    return LdSoCacheError{"cache has the wrong byte order (flags " + std::to_string(flags) + ")"};
  std::uint64_t count = u32_at(bytes, header_at + 20);
  std::uint64_t room = (bytes.size() - header_at - kNewHeaderSize) / kNewEntrySize;
  if (count > room) {
    return LdSoCacheError{"cache claims " + std::to_string(count) + " entries, room for " + std::to_string(room)};
  }
  if (auto err = over_limits(count, 0)) return *err;
  Extensions ext = load_extensions(bytes, header_at);
  LdSoCache cache;
  cache.format = format;
  cache.generator = ext.generator;
  std::vector<std::optional<std::string>> hwcaps_names;
  for (auto offset : ext.hwcaps_string_offsets) {
    // dl-cache.c resolves these from the start of the file (`cache`), not of the new header.
    hwcaps_names.push_back(string_at(bytes, offset));
    if (hwcaps_names.back()) cache.hwcaps_subdirs.push_back(*hwcaps_names.back());
  }
  cache.entries.reserve(static_cast<std::size_t>(count));
  std::size_t string_bytes = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::size_t at = header_at + kNewHeaderSize + static_cast<std::size_t>(i) * kNewEntrySize;
    LdSoCacheEntry entry;
    entry.flags = static_cast<std::int32_t>(u32_at(bytes, at));
    std::uint64_t key = header_at + std::uint64_t{u32_at(bytes, at + 4)};
    std::uint64_t value = header_at + std::uint64_t{u32_at(bytes, at + 8)};
    entry.hwcap = u64_at(bytes, at + 16);
    auto soname = string_at(bytes, key);
    auto path = string_at(bytes, value);
    if (!soname || !path) return LdSoCacheError{"entry " + std::to_string(i) + " points outside the file or names a string longer than 4096 bytes"};
    string_bytes += soname->size() + path->size();
    if (auto err = over_limits(count, string_bytes)) return *err;
    entry.soname = std::move(*soname);
    entry.path = std::move(*path);
    if (entry.is_hwcaps_entry()) {
      entry.isa_level = static_cast<std::uint32_t>((entry.hwcap >> 32U) & kIsaLevelMask);
      auto index = static_cast<std::uint32_t>(entry.hwcap);
      if (index < hwcaps_names.size()) entry.hwcaps_subdir = hwcaps_names[index];
    }
    cache.entries.push_back(std::move(entry));
  }
  return cache;
}

}  // namespace

bool LdSoCacheEntry::is_hwcaps_entry() const {
  // dl_cache_hwcap_extension: only the extension bit set above the ISA level bits.
  return ((hwcap >> 32U) & ~kIsaLevelMask) == (kHwcapExtension >> 32U);
}

std::string LdSoCacheEntry::flags_description() const {
  // elf/cache.c print_entry (glibc 2.36); flag values from sysdeps/generic/ldconfig.h.
  static constexpr const char* kTypes[] = {"libc4", "ELF", "libc5", "libc6"};
  std::string out;
  auto type = static_cast<std::uint32_t>(flags) & 0x00ffU;
  out += type < 4 ? kTypes[type] : "unknown";
  switch (static_cast<std::uint32_t>(flags) & 0xff00U) {
    case 0x0000: break;
    case 0x0100: out += ",64bit"; break;          // FLAG_SPARC_LIB64
    case 0x0200: out += ",IA-64"; break;          // FLAG_IA64_LIB64 (until glibc 2.36)
    case 0x0300: out += ",x86-64"; break;         // FLAG_X8664_LIB64
    case 0x0400: out += ",64bit"; break;          // FLAG_S390_LIB64
    case 0x0500: out += ",64bit"; break;          // FLAG_POWERPC_LIB64
    case 0x0600: out += ",N32"; break;            // FLAG_MIPS64_LIBN32
    case 0x0700: out += ",64bit"; break;          // FLAG_MIPS64_LIBN64
    case 0x0800: out += ",x32"; break;            // FLAG_X8664_LIBX32
    case 0x0900: out += ",hard-float"; break;     // FLAG_ARM_LIBHF
    case 0x0a00: out += ",AArch64"; break;        // FLAG_AARCH64_LIB64
    case 0x0b00: out += ",soft-float"; break;     // FLAG_ARM_LIBSF
    case 0x0c00: out += ",nan2008"; break;        // FLAG_MIPS_LIB32_NAN2008
    case 0x0d00: out += ",N32,nan2008"; break;    // FLAG_MIPS64_LIBN32_NAN2008
    case 0x0e00: out += ",64bit,nan2008"; break;  // FLAG_MIPS64_LIBN64_NAN2008
    case 0x0f00: out += ",soft-float"; break;     // FLAG_RISCV_FLOAT_ABI_SOFT
    case 0x1000: out += ",double-float"; break;   // FLAG_RISCV_FLOAT_ABI_DOUBLE
    case 0x1100: out += ",soft-float"; break;     // FLAG_LARCH_FLOAT_ABI_SOFT
    case 0x1200: out += ",double-float"; break;   // FLAG_LARCH_FLOAT_ABI_DOUBLE
    default: out += "," + std::to_string(static_cast<std::uint32_t>(flags) & 0xff00U); break;
  }
  if (hwcaps_subdir) {
    out += ", hwcap: \"" + *hwcaps_subdir + "\"";
  } else if (hwcap != 0) {
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "%#.16llx", static_cast<unsigned long long>(hwcap));
    out += ", hwcap: ";
    out += buf.data();
  }
  return out;
}

std::variant<LdSoCache, LdSoCacheError> parse_ld_so_cache(std::string_view bytes) {
  // The order of the checks is _dl_load_cache_lookup's (elf/dl-cache.c).
  if (bytes.substr(0, kNewMagic.size()) == kNewMagic) {
    if (bytes.size() <= kNewHeaderSize) return LdSoCacheError{"cache too short for its header"};
    return read_new_entries(bytes, 0, LdSoCacheFormat::new_only);
  }
  if (bytes.substr(0, kOldMagic.size()) != kOldMagic) {
    return LdSoCacheError{bytes.empty() ? "cache file is empty" : "not an ld.so.cache (unknown magic)"};
  }
  if (bytes.size() <= kOldHeaderSize) return LdSoCacheError{"cache too short for its header"};
  std::uint64_t old_count = u32_at(bytes, 12);
  std::uint64_t room = (bytes.size() - kOldHeaderSize) / kOldEntrySize;
  if (old_count > room) {
    return LdSoCacheError{"cache claims " + std::to_string(old_count) + " entries, room for " + std::to_string(room)};
  }
  std::size_t old_end = kOldHeaderSize + static_cast<std::size_t>(old_count) * kOldEntrySize;
  // The new format hides in the old string table, at the next 8-byte boundary (ALIGN_CACHE).
  std::size_t new_at = (old_end + kNewAlignment - 1) & ~(kNewAlignment - 1);
  if (bytes.size() >= new_at + kNewHeaderSize && bytes.substr(new_at, kNewMagic.size()) == kNewMagic) {
    auto parsed = read_new_entries(bytes, new_at, LdSoCacheFormat::old_with_new);
    if (auto* cache = std::get_if<LdSoCache>(&parsed))
      cache->old_format_entry_count = static_cast<std::uint32_t>(old_count);
    return parsed;
  }
  // Old format only: strings are relative to the end of the entry array.
  if (auto err = over_limits(old_count, 0)) return *err;
  LdSoCache cache;
  cache.format = LdSoCacheFormat::old_only;
  cache.old_format_entry_count = static_cast<std::uint32_t>(old_count);
  cache.entries.reserve(static_cast<std::size_t>(old_count));
  std::size_t string_bytes = 0;
  for (std::uint64_t i = 0; i < old_count; ++i) {
    std::size_t at = kOldHeaderSize + static_cast<std::size_t>(i) * kOldEntrySize;
    LdSoCacheEntry entry;
    entry.flags = static_cast<std::int32_t>(u32_at(bytes, at));
    auto soname = string_at(bytes, old_end + std::uint64_t{u32_at(bytes, at + 4)});
    auto path = string_at(bytes, old_end + std::uint64_t{u32_at(bytes, at + 8)});
    if (!soname || !path) return LdSoCacheError{"entry " + std::to_string(i) + " points outside the file or names a string longer than 4096 bytes"};
    string_bytes += soname->size() + path->size();
    if (auto err = over_limits(old_count, string_bytes)) return *err;
    entry.soname = std::move(*soname);
    entry.path = std::move(*path);
    cache.entries.push_back(std::move(entry));
  }
  return cache;
}

int cache_name_compare(std::string_view left, std::string_view right) {
  // _dl_cache_libcmp, elf/dl-cache.c. The C version reads past a shorter `right` only up to its
  // NUL; here the end of the view plays the NUL.
  // Characters compare as the C code's `char`: signed on x86-64.
  auto at = [](std::string_view s, std::size_t i) -> int { return i < s.size() ? static_cast<signed char>(s[i]) : 0; };
  auto is_digit = [](int c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0;
  std::size_t j = 0;
  while (at(left, i) != 0) {
    int a = at(left, i);
    int b = at(right, j);
    if (is_digit(a)) {
      if (!is_digit(b)) return 1;
      // Compare the runs of digits as numbers. glibc accumulates in an int (and can overflow on
      // absurd runs); compare by magnitude instead: leading zeros dropped, then length, then digits.
      std::size_t a_end = i;
      while (is_digit(at(left, a_end))) ++a_end;
      std::size_t b_end = j;
      while (is_digit(at(right, b_end))) ++b_end;
      std::size_t a0 = i;
      while (a0 + 1 < a_end && left[a0] == '0') ++a0;
      std::size_t b0 = j;
      while (b0 + 1 < b_end && right[b0] == '0') ++b0;
      std::string_view a_digits = left.substr(a0, a_end - a0);
      std::string_view b_digits = right.substr(b0, b_end - b0);
      if (a_digits.size() != b_digits.size()) return a_digits.size() < b_digits.size() ? -1 : 1;
      if (int c = a_digits.compare(b_digits); c != 0) return c < 0 ? -1 : 1;
      i = a_end;
      j = b_end;
    } else if (is_digit(b)) {
      return -1;
    } else if (a != b) {
      return a - b;
    } else {
      ++i;
      ++j;
    }
  }
  return -at(right, j);
}

std::optional<std::size_t> lookup_ld_so_cache(const LdSoCache& cache, std::string_view name,
                                              const CacheLookupOptions& options) {
  // search_cache, elf/dl-cache.c, step by step.
  const auto& entries = cache.entries;
  if (entries.empty()) return std::nullopt;
  bool new_format_entries = cache.format != LdSoCacheFormat::old_only;
  // dl_cache_hwcap_isa_level_compatible (sysdeps/x86/dl-isa-level.h): the CPU's ISA level is
  // that of the best x86-64-vN subfolder it supports (v2 = level 1 .. v4 = level 3).
  std::uint32_t cpu_isa_level = 0;
  for (const auto& sub : options.hwcaps_priority) {
    if (sub.size() == 9 && sub.rfind("x86-64-v", 0) == 0 && sub[8] >= '2' && sub[8] <= '4') {
      cpu_isa_level = std::max<std::uint32_t>(cpu_isa_level, static_cast<std::uint32_t>(sub[8] - '1'));
    }
  }
  auto priority_of = [&](const LdSoCacheEntry& e) -> std::uint32_t {
    if (!e.hwcaps_subdir) return 0;
    for (std::size_t k = 0; k < options.hwcaps_priority.size(); ++k) {
      if (options.hwcaps_priority[k] == *e.hwcaps_subdir) return static_cast<std::uint32_t>(k + 1);
    }
    return 0;
  };

  long left = 0;
  long right = static_cast<long>(entries.size()) - 1;
  while (left <= right) {
    long middle = (left + right) / 2;
    int cmp = cache_name_compare(name, entries[static_cast<std::size_t>(middle)].soname);
    if (cmp == 0) {
      left = middle;  // the last entry known to match
      // The run of entries of this name: a few in a real cache (hwcaps variants, i386); a
      // hostile one is looked at for kMaxRun entries each way.
      constexpr long kMaxRun = 1024;
      while (middle > 0 && left - middle < kMaxRun &&
             cache_name_compare(name, entries[static_cast<std::size_t>(middle - 1)].soname) == 0)
        --middle;
      right = std::min(right, left + kMaxRun);
      std::optional<std::size_t> best;
      std::uint32_t best_priority = 0;
      for (; middle <= right; ++middle) {
        const auto& entry = entries[static_cast<std::size_t>(middle)];
        if (middle > left && cache_name_compare(name, entry.soname) != 0) break;
        if (entry.flags != options.accepted_flags) continue;
        bool named_hwcap = false;
        if (new_format_entries) {
          named_hwcap = entry.is_hwcaps_entry();
          if (named_hwcap && entry.isa_level > cpu_isa_level) continue;
          // glibc-hwcaps entries come first; the first plain entry ends the search when one matched.
          if (!named_hwcap && best) break;
          if (!named_hwcap && entry.hwcap != 0) continue;  // legacy hwcaps: ignored since glibc 2.37
          if (named_hwcap) {
            std::uint32_t priority = priority_of(entry);
            if (priority == 0) continue;
            if (best && priority >= best_priority) continue;
            best_priority = priority;
          }
        }
        best = static_cast<std::size_t>(middle);
        if (!named_hwcap) break;  // flags already equal the accepted ones: nothing better follows
      }
      return best;
    }
    // ldconfig sorts the entries in descending order (elf/cache.c compare swaps its arguments).
    if (cmp < 0) {
      left = middle + 1;
    } else {
      right = middle - 1;
    }
  }
  return std::nullopt;
}

std::string cache_name_key(std::string_view name) {
  std::string key;
  key.reserve(name.size());
  for (std::size_t i = 0; i < name.size();) {
    if (name[i] < '0' || name[i] > '9') {
      key += name[i++];
      continue;
    }
    std::size_t end = i;
    while (end < name.size() && name[end] >= '0' && name[end] <= '9') ++end;
    while (i + 1 < end && name[i] == '0') ++i;
    key.append(name.substr(i, end - i));
    i = end;
  }
  return key;
}

std::vector<std::size_t> ld_so_cache_entries_named(const LdSoCache& cache, std::string_view name) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < cache.entries.size(); ++i) {
    if (cache_name_compare(name, cache.entries[i].soname) == 0) out.push_back(i);
  }
  return out;
}

}  // namespace gpudoctor::loader
