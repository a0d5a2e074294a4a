#include "core/library_copy_text.hpp"

namespace gpudoctor {

namespace {

constexpr std::string_view k_off_path = ", not on the search path";

// The states whose text carries what the file was built for, and where it lies.
constexpr bool built_for_another(CopyStatus s) { return s == CopyStatus::wrong_class || s == CopyStatus::wrong_machine; }

}  // namespace

std::string_view copy_status_place_text() { return k_off_path; }

std::string copy_status_text(const LibraryCopy& c) {
  std::string out(to_string(c.status));
  if (!built_for_another(c.status)) return out;
  if (!c.detail.empty()) out += ": " + c.detail;
  if (c.off_path) out += k_off_path;
  return out;
}

bool read_copy_status(std::string_view text, LibraryCopy& c) {
  if (auto s = enum_from_string<CopyStatus>(text)) {
    c.status = *s;
    c.detail.clear();
    c.off_path = *s == CopyStatus::same_name || *s == CopyStatus::another_version;
    return true;
  }
  for (CopyStatus s : {CopyStatus::wrong_class, CopyStatus::wrong_machine}) {
    std::string_view word = to_string(s);
    if (!text.starts_with(word)) continue;
    std::string_view rest = text.substr(word.size());
    bool off_path = rest.ends_with(k_off_path);
    if (off_path) rest.remove_suffix(k_off_path.size());
    // Nothing more, or ": " and a detail: so that copy_status_text writes the same text back.
    if (!rest.empty() && (!rest.starts_with(": ") || rest.size() == 2)) return false;
    c.status = s;
    c.detail = rest.empty() ? std::string() : std::string(rest.substr(2));
    c.off_path = off_path;
    return true;
  }
  return false;
}

}  // namespace gpudoctor
