#pragma once
// Small version helpers shared by collectors and rules.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpudoctor {

/// Splits "580.159.04" into {580, 159, 4}; nullopt unless every part is a number.
std::optional<std::vector<int>> parse_dotted_version(std::string_view text);

/// "13000" -> "13.0", "12040" -> "12.4" (the encoding of cuDriverGetVersion).
std::string cuda_version_string(int encoded);

/// The driver branch of a driver version: "580.159.04" -> 580.
std::optional<int> driver_branch(std::string_view driver_version);

/// Version taken from a library file name: "libcuda.so.580.159.04" -> "580.159.04".
std::optional<std::string> version_from_library_name(std::string_view file_name, std::string_view stem);

}  // namespace gpudoctor
