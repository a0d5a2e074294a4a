#pragma once
// How a copy of a library is named in reports and evidence: its origin with its version, the
// version once (a wheel's origin already names it: "pip wheel nvidia-cublas 13.1.0.3"), and its
// status as one text, the snapshot's "status" ("wrong machine: x86-64, not on the search path").
#include <string>
#include <string_view>

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

/// The whole status of a copy: its CopyStatus word; for a copy built for another machine or ELF
/// class ": " and its detail when it has one, and ", not on the search path" when it lies off
/// the path ("wrong ELF class: ELFCLASS32", "wrong machine: x86-64, not on the search path").
/// The snapshot's "status" and the reports carry this text.
std::string copy_status_text(const LibraryCopy& c);

/// The reverse of copy_status_text: sets `c.status`, `c.detail` and `c.off_path` from such a
/// text. False, leaving `c` as it was, for any other text (a word no CopyStatus has, a detail
/// after a word that takes none): a snapshot holding one is bad input.
[[nodiscard]] bool read_copy_status(std::string_view text, LibraryCopy& c);

/// The place's part of a status text: ", not on the search path".
std::string_view copy_status_place_text();

}  // namespace gpudoctor
