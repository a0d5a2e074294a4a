#pragma once
// UTF-8 as RFC 3629 defines it: the one check of text from outside (kern.log lines, file and
// folder names, pasted text) before it is matched, shown or written as JSON.

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gpudoctor {

/// Length (1 to 4) of the well-formed UTF-8 sequence that starts at s[i], or 0 when none does:
/// a stray continuation byte, a sequence cut short, an overlong form (C0 AF), a surrogate
/// (ED A0 80) or a code point above U+10FFFF.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

/// `s` with each byte that starts no well-formed sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view s);

/// JSON text of `j` (indent < 0: one line). Any string in it, keys included, that is not valid
/// UTF-8 is written with U+FFFD in place of the bad bytes, so the output is always valid JSON;
/// every JSON gpudoctor writes goes through here.
template <typename Json>
std::string json_text(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gpudoctor
