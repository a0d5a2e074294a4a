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

/// Whether `c`, a copy met while resolving `lib`, is mapped beside the one found (listed in
/// also_mapped): reports name it there, not again among the copies not loaded.
inline bool mapped_beside(const ResolvedLibrary& lib, const LibraryCopy& c) {
  for (const auto& m : lib.also_mapped)
    if (m.resolved == c.resolved) return true;
  return false;
}

}  // namespace gpudoctor
