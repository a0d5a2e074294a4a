#pragma once
// The one mapping between a typed state and the word that stands for it in JSON and reports.
// An enum takes part by a specialisation of EnumText<E> listing every enumerator once with its
// word; to_string, enum_from_string and the JSON of the snapshot (snapshot_json.cpp) all read
// that one table, so a state and its word cannot drift apart.

#include <optional>
#include <string_view>
#include <utility>

namespace gpudoctor {

/// Specialised per enum: `what` names the field in messages ("child status"), `names` lists
/// every enumerator, in declaration order, with its word.
template <typename E>
struct EnumText;

template <typename E>
concept NamedEnum = requires {
  EnumText<E>::what;
  EnumText<E>::names;
};

/// The word of `e` ("" for a value outside the table, which a well-formed program never holds).
template <NamedEnum E>
constexpr std::string_view to_string(E e) {
  for (const auto& [value, word] : EnumText<E>::names)
    if (value == e) return word;
  return "";
}

/// The enumerator whose word is `word`, exactly; nullopt for any other text.
template <NamedEnum E>
constexpr std::optional<E> enum_from_string(std::string_view word) {
  for (const auto& [value, w] : EnumText<E>::names)
    if (w == word) return value;
  return std::nullopt;
}

}  // namespace gpudoctor
