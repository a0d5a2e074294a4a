#include "feed_parsers.hpp"

#include <string>
#include <string_view>

#include "collect/collect.hpp"
#include "collect/parsers.hpp"
#include "collect/python_code.hpp"
#include "core/requirement.hpp"
#include "core/snapshot_json.hpp"
#include "core/utf8.hpp"
#include "core/version.hpp"
#include "diagnose/diagnose.hpp"
#include "diagnose/visible_devices.hpp"
#include "explain/explain.hpp"

#include <cstdio>

namespace gpudoctor::fuzz {

void feed_parsers(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parse::os_release(text);
  (void)parse::proc_modules(text);
  (void)parse::nvidia_version(text);
  (void)parse::gpu_information(text, "0000:00:00.0");
  (void)parse::link_speed_gts(text);
  (void)parse::hex_number(text);
  (void)parse::decimal(text);
  (void)parse::efivar_flag(text);
  (void)parse::lockdown_mode(text);
  (void)parse::modprobe_directives(text);
  (void)parse::cmdline_directives(text);
  (void)parse::cgroup_container(text);
  (void)parse::ld_so_conf(text);
  (void)parse::group_names(text);
  (void)parse::torch_version_py(text);
  (void)parse::tf_build_info_value(text, "cuda_version");
  if (auto caps = parse::tf_build_info_value(text, "cuda_compute_capabilities")) (void)parse::quoted_items(*caps);
  (void)parse::quoted_items(text);
  (void)parse::jax_cuda_plugin_major(text);
  (void)parse::jaxlib_local_cuda(text);
  (void)valid_utf8(text);
  (void)json_text(nlohmann::json(std::string(text)));
  (void)parse_dotted_version(text);
  (void)version_from_library_name(text, "libcuda.so.");
  (void)kernel_log_lines_of_file(text);
  if (auto req = parse_requirement(text)) (void)satisfies(text.substr(0, 64), *req);
  (void)compare_versions(text, text.substr(size / 2));

  // The same bytes as a Python program's source and as a notebook.
  {
    const auto& names = kb::KnowledgeBase::get().python_code();
    python::TorchSignals torch;
    auto scan = python::scan_source(text, "fuzz.py", names, torch);
    for (const auto& f : scan.facts) (void)python::display_line(f.code);
    (void)python::torch_facts(torch);
    auto nb = python::notebook_code(text, "fuzz.ipynb", names);
    python::TorchSignals nb_torch;
    (void)python::scan_source(nb.text, "fuzz.ipynb", names, nb_torch);
  }

  VisibleDevicesInput in;
  in.value = std::string(text.substr(0, 4096));
  in.device_count = size > 0 ? data[0] % 9 : 0;
  for (unsigned i = 0; i < *in.device_count; ++i) in.gpu_uuids.push_back("GPU-" + std::to_string(i) + "abc");
  (void)evaluate_visible_devices(in);

  // A snapshot from JSON text: must either load or throw SnapshotError; the rules must then
  // diagnose whatever loaded.
  {
    // The same bytes as pasted text: read, annotated, diagnosed.
    std::string copy(text);
    if (std::FILE* f = fmemopen(copy.data(), copy.size() == 0 ? 1 : copy.size(), "rb")) {
      auto reading = explain::read_text(f, explain::Catalogue::get());
      std::fclose(f);
      (void)explain::diagnose_text(reading, nullptr);
    }
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_discarded()) {
    try {
      Snapshot s = snapshot_from_json(j);
      (void)diagnose(s);
    } catch (const SnapshotError&) {
    }
  }
}

}  // namespace gpudoctor::fuzz
