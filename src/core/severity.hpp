#pragma once
// How bad a finding or a log line is; its JSON word in EnumText below.

#include <string_view>
#include <utility>

#include "core/enum_text.hpp"

namespace gpudoctor {

enum class Severity {
  error,    ///< blocks the GPU path
  warning,  ///< degrades it, or may block it; not enough alone to call the host broken
  info,     ///< benign explanation of something that looks wrong
};
template <>
struct EnumText<Severity> {
  static constexpr std::string_view what = "severity";
  static constexpr std::pair<Severity, std::string_view> names[] = {
      {Severity::error, "error"}, {Severity::warning, "warning"}, {Severity::info, "info"}};
};

}  // namespace gpudoctor
