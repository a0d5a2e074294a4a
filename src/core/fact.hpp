#pragma once
// A collected fact: a value, or absent with the reason why (never a made-up 0).

#include <optional>
#include <string>
#include <utility>

namespace gpudoctor {

/// The reason of a fact nobody set: the collector or probe step that fills it never got to it.
inline constexpr const char* k_not_collected = "not collected";

/// A value that may be unknown. An unknown fact carries `reason` (for example
/// "file not present: /sys/module/nvidia/version"); JSON shows it as
/// {"value": null, "reason": "..."}, a known one as the bare value.
template <typename T>
struct Fact {
  std::optional<T> value;
  std::string reason;  ///< why the value is unknown; empty when known

  Fact() : reason(k_not_collected) {}
  Fact(T v) : value(std::move(v)) {}  // NOLINT(google-explicit-constructor): facts read like values

  static Fact unknown(std::string why) {
    Fact f;
    f.reason = std::move(why);
    return f;
  }
  [[nodiscard]] bool known() const { return value.has_value(); }
  [[nodiscard]] const T& operator*() const { return *value; }
  [[nodiscard]] const T* operator->() const { return &*value; }
  /// The value, or `fallback` when unknown.
  [[nodiscard]] T value_or(T fallback) const { return value ? *value : std::move(fallback); }
  /// True when known and equal to `v`.
  [[nodiscard]] bool is(const T& v) const { return value && *value == v; }
};

}  // namespace gpudoctor
