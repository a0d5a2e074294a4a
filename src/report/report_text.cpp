#include "report/report.hpp"

namespace gpudoctor {

std::string layer_title(Layer l) {
  std::string s(to_string(l));
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

}  // namespace gpudoctor
