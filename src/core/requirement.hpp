#pragma once
// Just enough of PEP 440 and PEP 508 to check the pins one installed distribution puts on another
// ("torch==2.3.1", "keras<2.16,>=2.15.0", "jaxlib (<=0.4.30,>=0.4.27)"). Extras and environment
// markers other than Linux platform markers are not evaluated: such requirements are skipped.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpudoctor {

/// Compares two versions by their release numbers ("2.3.1+cu121" == "2.3.1"); a pre-release
/// ("2.16.0rc1", "0.5.0.dev2") sorts before its release. Returns <0, 0, >0.
int compare_versions(std::string_view a, std::string_view b);

struct Requirement {
  std::string name;                                             ///< normalized distribution name
  std::vector<std::pair<std::string, std::string>> specifiers;  ///< ("<", "2.16"), (">=", "2.15.0")
  std::string text;                                             ///< as written
};

/// Parses a Requires-Dist value; nullopt when it applies only to an extra or to another platform.
std::optional<Requirement> parse_requirement(std::string_view value);

/// Whether `version` satisfies every specifier ("==2.3.*" and "~=" included).
bool satisfies(std::string_view version, const Requirement& r);

}  // namespace gpudoctor
