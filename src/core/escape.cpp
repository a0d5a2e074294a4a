#include "core/escape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace gpudoctor::escape {

namespace {

/// One character of `s` at `i`: its length in bytes (at least 1) and code point; `valid` false
/// for a byte that does not start a well-formed UTF-8 sequence (then `length` is 1).
struct Char {
  std::size_t length = 1;
  std::uint32_t code = 0;
  bool valid = false;
};

Char next(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return {1, c, true};
  std::size_t n = 0;
  std::uint32_t code = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte (RFC 3629, table 3-7)
  if (c >= 0xC2 && c <= 0xDF) n = 2, code = c & 0x1FU;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, code = c & 0x0FU, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, code = c & 0x07U, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  else return {};
  if (i + n > s.size()) return {};
  for (std::size_t k = 1; k < n; ++k) {
    unsigned char x = b(i + k);
    if (k == 1 ? (x < lo || x > hi) : (x & 0xC0U) != 0x80U) return {};
    code = (code << 6U) | (x & 0x3FU);
  }
  return {n, code, true};
}

bool is_control(const Char& ch) {
  if (!ch.valid) return true;
  std::uint32_t c = ch.code;
  return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F) || c == 0x200E || c == 0x200F ||
         (c >= 0x2028 && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

bool plain_shell_word(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
  });
}

}  // namespace

bool has_control(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    Char ch = next(s, i);
    if (is_control(ch)) return true;
    i += ch.length;
  }
  return false;
}

std::string terminal(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    Char ch = next(s, i);
    if (!is_control(ch)) {
      out.append(s.substr(i, ch.length));
    } else if (!ch.valid) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i]));
    } else if (ch.code == '\n') {
      out += "\\n";
    } else if (ch.code == '\r') {
      out += "\\r";
    } else if (ch.code == '\t') {
      out += "\\t";
    } else if (ch.code < 0x80) {
      out += fmt::format("\\x{:02x}", ch.code);
    } else {
      out += fmt::format("\\u{:04x}", ch.code);
    }
    i += ch.length;
  }
  return out;
}

std::string markdown(std::string_view s) {
  std::string visible = terminal(s);
  std::string out;
  out.reserve(visible.size() + visible.size() / 8);
  for (char c : visible) {
    if (std::string_view("\\`*[]<>&|").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string markdown_code(std::string_view s, bool in_table) {
  std::string visible = terminal(s);
  if (in_table) {
    std::string piped;
    for (char c : visible) piped += c == '|' ? std::string("\\|") : std::string(1, c);
    visible = std::move(piped);
  }
  std::size_t run = 0, longest = 0;
  for (char c : visible) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string fence(longest + 1, '`');
  // A space keeps a backtick at either end from joining the fence (CommonMark strips one space
  // on each side); an empty value is one space.
  bool pad = visible.empty() || visible.front() == '`' || visible.back() == '`';
  return fence + (pad ? " " : "") + visible + (pad && !visible.empty() ? " " : "") + fence;
}

std::string shell(std::string_view s) {
  if (plain_shell_word(s)) return std::string(s);
  if (!has_control(s)) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }
  std::string out = "$'";
  for (std::size_t i = 0; i < s.size();) {
    Char ch = next(s, i);
    if (is_control(ch)) {
      if (ch.valid && ch.code == '\n') out += "\\n";
      else if (ch.valid && ch.code == '\t') out += "\\t";
      else
        for (std::size_t k = 0; k < ch.length; ++k) out += fmt::format("\\{:03o}", static_cast<unsigned char>(s[i + k]));
    } else if (s[i] == '\\' || s[i] == '\'') {
      out += '\\';
      out += s[i];
    } else {
      out.append(s.substr(i, ch.length));
    }
    i += ch.length;
  }
  return out + "'";
}

}  // namespace gpudoctor::escape
