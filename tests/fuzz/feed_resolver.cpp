#include "feed_tree.hpp"

#include <memory>
#include <string_view>
#include <variant>

#include "elf/elf_file.hpp"
#include "loader/ld_so_cache.hpp"
#include "loader/resolver.hpp"
#include "sys/root_fs.hpp"
#include "tree.hpp"

namespace gpudoctor::fuzz {
namespace {

std::string check_resolution(const loader::Resolution& r) {
  if (r.path && (r.path->empty() || (*r.path)[0] != '/')) return "resolved to a relative path: " + *r.path;
  if (r.resolved_path && (r.resolved_path->empty() || (*r.resolved_path)[0] != '/'))
    return "resolved_path relative: " + *r.resolved_path;
  if (!r.found() && r.error.empty()) return "not found and no error for " + r.name;
  for (const auto* c : r.other_copies()) (void)c->path;
  return "";
}

}  // namespace

std::string feed_resolver(const std::uint8_t* data, std::size_t size) {
  Tree tree = decode_tree(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!process_scratch_root().lay_out(tree)) return "";
  RootFs fs(process_scratch_root().path());
  loader::ResolverConfig config;
  config.platform = loader::detect_loader_platform(fs);
  config.ld_library_path = tree.ld_library_path;
  config.working_directory = tree.working_directory;
  if (auto bytes = fs.read_text("/etc/ld.so.cache", std::size_t{16} << 20)) {
    auto parsed = loader::parse_ld_so_cache(*bytes);
    if (auto* cache = std::get_if<loader::LdSoCache>(&parsed))
      config.cache = std::make_shared<const loader::LdSoCache>(std::move(*cache));
  }
  if (tree.executable) {
    auto elf = elf::read_elf_file(fs, *tree.executable);
    if (auto* file = std::get_if<elf::ElfFile>(&elf)) config.executable = loader::LoaderObject::from_elf(*tree.executable, *file);
  }
  std::vector<std::string> loads = tree.loads;
  for (const auto& e : tree.entries)
    if (tree.loads.empty() && loads.size() < 4 && e.kind == "elf") loads.push_back(e.path);
  loader::Resolver resolver(fs, config);
  for (const auto& path : loads) {
    loader::LoadTree t = resolver.load_tree(path, {}, {}, 512);
    const std::size_t n = t.objects.size();
    if (t.root >= n && n != 0) return "root index " + std::to_string(t.root) + " of " + std::to_string(n);
    for (const auto& o : t.objects)
      if (o.loaded_by && *o.loaded_by >= n) return "loaded_by out of range in " + o.path;
    for (const auto& l : t.links) {
      if (l.from >= n || (l.to && *l.to >= n)) return "link index out of range for " + l.name;
      if (auto problem = check_resolution(l.resolution); !problem.empty()) return problem;
    }
    // The same names again, one by one, from the root object as loader.
    if (n > t.root && t.objects[t.root].elf) {
      auto self = loader::LoaderObject::from_elf(t.objects[t.root].path, *t.objects[t.root].elf);
      for (const auto& name : t.objects[t.root].elf->needed) {
        auto r = resolver.resolve(name, self, {}, {});
        if (auto problem = check_resolution(r); !problem.empty()) return problem;
      }
      (void)resolver.resolve("libcudart.so.12", self, {self}, {});
    }
  }
  (void)resolver.limit_reached();
  return "";
}

}  // namespace gpudoctor::fuzz
