// Install commands shared by the rules and by explain.

#include "diagnose/install_fixes.hpp"

#include <fmt/format.h>

#include "core/escape.hpp"
#include "core/version.hpp"

namespace gpudoctor {

namespace {

// "2.15.1" / "2.15.*" / "2.6.0rc1" -> "2.15" / "2.15" / "2.6"; empty when it does not start with X.Y.
std::string series_of(std::string_view version) {
  auto dot = version.find('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  auto end = version.find_first_not_of("0123456789", dot + 1);
  if (end == dot + 1) return {};
  std::string_view series = version.substr(0, end == std::string_view::npos ? version.size() : end);
  return parse_dotted_version(series) ? std::string(series) : std::string();
}

}  // namespace

bool tensorflow_has_and_cuda(const kb::KnowledgeBase& kb, std::string_view version) {
  if (version.empty()) return true;
  auto have = parse_dotted_version(series_of(version));
  auto first = parse_dotted_version(series_of(kb.tf_and_cuda_first()));
  if (!have || !first || have->size() < 2 || first->size() < 2) return true;
  return *have >= *first;
}

std::string tensorflow_gpu_install(const kb::KnowledgeBase& kb, std::string_view version, std::string_view pip) {
  std::string pin = version.empty() ? std::string() : "==" + std::string(version);
  if (tensorflow_has_and_cuda(kb, version))
    return fmt::format("{} install {}", pip, escape::shell("tensorflow[and-cuda]" + pin));
  std::string series = series_of(version);
  const auto* rel = kb.tf_release(series);
  std::string package = rel != nullptr && !rel->linux_gpu_package.empty() ? rel->linux_gpu_package : "tensorflow";
  std::string install = fmt::format("{} install {}", pip, escape::shell(package + pin));
  std::string first = series_of(kb.tf_and_cuda_first());
  if (rel == nullptr || rel->cuda.empty())
    return fmt::format(
        "{}, then install the CUDA and cuDNN of TensorFlow {}'s tested build ({}) and put their lib "
        "folders on LD_LIBRARY_PATH (the [and-cuda] extra exists from TensorFlow {})",
        install, series, kb.tf_tested_builds_url(), first);
  return fmt::format(
      "{}, then install CUDA {} and cuDNN {} (TensorFlow {}'s tested build) and put their lib folders on "
      "LD_LIBRARY_PATH (the [and-cuda] extra exists from TensorFlow {})",
      install, rel->cuda, rel->cudnn, series, first);
}

}  // namespace gpudoctor
