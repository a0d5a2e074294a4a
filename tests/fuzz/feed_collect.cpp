#include "feed_tree.hpp"

#include <string_view>

#include "collect/collect.hpp"
#include "core/snapshot_json.hpp"
#include "core/utf8.hpp"
#include "diagnose/diagnose.hpp"
#include "sys/root_fs.hpp"
#include "tree.hpp"

namespace gpudoctor::fuzz {

std::string feed_collectors(const std::uint8_t* data, std::size_t size) {
  Tree tree = decode_tree(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!process_scratch_root().lay_out(tree)) return "";
  CollectOptions options;
  options.root = process_scratch_root().path();
  options.driver = DriverProbeMode::none;
  if (tree.ld_library_path) options.environment["LD_LIBRARY_PATH"] = *tree.ld_library_path;
  (void)RootFs(options.root).unusable();
  Snapshot s = collect(options);
  for (const auto& e : s.collector_errors)
    if (e.find("framework_libraries: /etc/ld.so.cache") == std::string::npos) return "collector failed: " + e;
  std::string text = json_text(to_json(s));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return "the snapshot's JSON does not parse";
  try {
    Snapshot back = snapshot_from_json(j);
    (void)diagnose(back);
  } catch (const SnapshotError& e) {
    return std::string("the collected snapshot does not load back: ") + e.what();
  }
  return "";
}

}  // namespace gpudoctor::fuzz
