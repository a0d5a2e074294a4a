#include "feed_binary.hpp"

#include <string_view>
#include <variant>

#include "elf/elf_file.hpp"
#include "loader/ld_so_cache.hpp"

namespace gpudoctor::fuzz {

void feed_binary(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto elf = elf::read_elf(bytes);
  if (const auto* file = std::get_if<elf::ElfFile>(&elf)) {
    (void)file->effective_rpath();
    (void)elf::machine_name(file->header.machine);
  }
  auto parsed = loader::parse_ld_so_cache(bytes);
  if (const auto* cache = std::get_if<loader::LdSoCache>(&parsed)) {
    loader::CacheLookupOptions options;
    options.hwcaps_priority = {"x86-64-v4", "x86-64-v3", "x86-64-v2"};
    for (const char* name : {"libc.so.6", "libcudart.so.12", "libcudnn.so.9", "libfoo.so.09"}) {
      (void)loader::lookup_ld_so_cache(*cache, name, options);
      (void)loader::ld_so_cache_entries_named(*cache, name);
    }
    for (const auto& e : cache->entries) {
      (void)e.flags_description();
      (void)loader::cache_name_key(e.soname);
    }
  }
}

}  // namespace gpudoctor::fuzz
