#pragma once
// Feeds one input, read as a snapshot's JSON text, through the snapshot loader, diagnose and
// every renderer (the fuzz target fuzz_report and the corpus replay test share it). Returns ""
// when every invariant held, or the first one broken: the JSON report parses back; a loaded
// snapshot written again loads again (also redacted); the terminal (without colour), Markdown,
// HTML and Prometheus outputs hold no control character but newlines, and with colour nothing
// but our own SGR sequences.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gpudoctor::fuzz {
std::string feed_report(const std::uint8_t* data, std::size_t size);
/// The first line of `out` (1-based) holding a control character other than the newlines between
/// lines (with `sgr_allowed`, "ESC [ digits;... m" colours are not counted), or 0.
std::size_t first_control_line(std::string_view out, bool sgr_allowed);
}  // namespace gpudoctor::fuzz
