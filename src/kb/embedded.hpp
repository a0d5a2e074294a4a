#pragma once
// Data files compiled into the binary (cmake/EmbedData.cmake).

#include <span>
#include <string_view>

namespace gpudoctor::kb {

struct EmbeddedFile {
  std::string_view name;  ///< file name, e.g. "causes.toml"
  std::string_view content;
};

/// Every file of src/kb/data, as compiled in.
std::span<const EmbeddedFile> embedded_files();

/// The content of one embedded file ("messages.toml"); empty when there is none of that name.
inline std::string_view embedded_file(std::string_view name) {
  for (const auto& f : embedded_files())
    if (f.name == name) return f.content;
  return {};
}

}  // namespace gpudoctor::kb
