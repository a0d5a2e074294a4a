#include "core/version.hpp"

#include <charconv>
#include <fmt/format.h>

namespace gpudoctor {

std::optional<std::vector<int>> parse_dotted_version(std::string_view text) {
  std::vector<int> parts;
  if (text.empty()) return std::nullopt;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t dot = text.find('.', pos);
    std::string_view part = text.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
    if (part.empty() || part.size() > 9) return std::nullopt;
    int value = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (ec != std::errc{} || ptr != part.data() + part.size()) return std::nullopt;
    parts.push_back(value);
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  return parts;
}

std::string cuda_version_string(int encoded) {
  if (encoded <= 0) return fmt::format("{}", encoded);
  return fmt::format("{}.{}", encoded / 1000, (encoded % 1000) / 10);
}

std::optional<int> driver_branch(std::string_view driver_version) {
  auto parts = parse_dotted_version(driver_version);
  if (!parts || parts->empty()) return std::nullopt;
  return parts->front();
}

std::optional<std::string> version_from_library_name(std::string_view file_name, std::string_view stem) {
  // stem is e.g. "libcuda.so."; what follows must be a dotted version with at least two parts.
  if (file_name.substr(0, stem.size()) != stem) return std::nullopt;
  std::string_view rest = file_name.substr(stem.size());
  auto parts = parse_dotted_version(rest);
  if (!parts || parts->size() < 2) return std::nullopt;
  return std::string(rest);
}

}  // namespace gpudoctor
