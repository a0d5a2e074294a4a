#pragma once
// How a copy of a library is named in reports and evidence: its origin with its version, the
// version once (a wheel's origin already names it: "pip wheel nvidia-cublas 13.1.0.3").
#include <string>

#include "core/snapshot.hpp"

namespace gpudoctor {

inline std::string origin_and_version(const LibraryCopy& c) {
  if (!c.version.known() || c.origin.find(*c.version) != std::string::npos) return c.origin;
  return c.origin.empty() ? *c.version : c.origin + " " + *c.version;
}

}  // namespace gpudoctor
