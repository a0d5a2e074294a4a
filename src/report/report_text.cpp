#include "report/report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace gpudoctor {

std::string layer_title(Layer l) {
  std::string s(to_string(l));
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

std::vector<std::pair<bool, std::string>> environment_lines(const Diagnosis& d) {
  std::vector<std::pair<bool, std::string>> out;
  for (const auto& e : d.environments) {
    std::vector<std::string> held;
    for (const auto& f : d.installs) {
      if (f.environment != e.prefix) continue;
      std::string build = f.build.known() ? *f.build : f.version.value_or("?");
      std::string cuda = f.cuda_build.is(true)    ? " (CUDA " + f.cuda_version.value_or("?") + ")"
                         : f.cuda_build.is(false) ? " (CPU only)"
                                                  : "";
      held.push_back(f.distribution + " " + build + cuda);
    }
    out.emplace_back(e.in_use, e.prefix + " (" + std::string(to_string(e.kind)) + ", Python " + e.version.value_or("?") + ", " + e.found_by +
                                   "): " + (held.empty() ? "no TensorFlow, PyTorch or JAX" : fmt::format("{}", fmt::join(held, ", "))));
  }
  return out;
}

std::string probe_figure_text(const ProbeFigure& f) {
  if (!f.measured.known()) return std::string(to_string(f.state));
  std::string text = fmt::format("{:.1f} {}", *f.measured, f.unit);
  if (f.expected.known() && *f.expected > 0)
    text += fmt::format(" of {:.1f} ({:.0f}%)", *f.expected, 100.0 * *f.measured / *f.expected);
  if (f.state != FigureState::ok) text += " " + std::string(to_string(f.state));
  return text;
}

std::string short_path(const std::string& path) {
  for (const char* marker : {"/site-packages/", "/dist-packages/"}) {
    size_t at = path.find(marker);
    if (at != std::string::npos) return "…" + path.substr(at);
  }
  return path;
}

}  // namespace gpudoctor
