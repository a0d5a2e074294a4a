#include "report/report.hpp"

namespace gpudoctor {

std::string layer_title(Layer l) {
  std::string s(to_string(l));
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

std::string short_path(const std::string& path) {
  for (const char* marker : {"/site-packages/", "/dist-packages/"}) {
    size_t at = path.find(marker);
    if (at != std::string::npos) return "…" + path.substr(at);
  }
  return path;
}

}  // namespace gpudoctor
