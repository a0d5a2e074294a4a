#include "core/path.hpp"

namespace gpudoctor {

std::string path_join(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string_view path_basename(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string path_dirname(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::vector<std::string_view> split_path_list(std::string_view list) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t colon = list.find(':', start);
    if (colon == std::string_view::npos) {
      out.push_back(list.substr(start));
      return out;
    }
    out.push_back(list.substr(start, colon - start));
    start = colon + 1;
  }
}

std::vector<std::string> absolute_folders(std::string_view list) {
  std::vector<std::string> out;
  for (auto part : split_path_list(list))
    if (!part.empty() && part.front() == '/') out.emplace_back(part);
  return out;
}

}  // namespace gpudoctor
