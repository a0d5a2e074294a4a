#pragma once
// Data files compiled into the binary (cmake/EmbedData.cmake).

#include <span>
#include <string_view>

namespace gpudoctor::kb {

struct EmbeddedFile {
  std::string_view name;     ///< file name, e.g. "causes.toml"
  std::string_view content;
};

/// Every file of src/kb/data, as compiled in.
std::span<const EmbeddedFile> embedded_files();

}  // namespace gpudoctor::kb
