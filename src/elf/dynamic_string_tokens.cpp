#include "elf/dynamic_string_tokens.hpp"

namespace gpudoctor::elf {

namespace {

bool is_identifier_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// glibc elf/dl-load.c is_dst: `input` starts just after '$'. Returns the length of the token
// (without '$', with the braces), or 0 when `input` does not start with token `name`.
std::size_t token_length(std::string_view input, std::string_view name) {
  bool curly = !input.empty() && input.front() == '{';
  std::string_view rest = curly ? input.substr(1) : input;
  if (rest.substr(0, name.size()) != name) return 0;
  char next = rest.size() > name.size() ? rest[name.size()] : '\0';
  if (curly && next != '}') return 0;
  if (is_identifier_char(next)) return 0;
  return curly ? name.size() + 2 : name.size();
}

enum class Token { none,
                   origin,
                   platform,
                   lib };

// The token at `input` (just after '$') and its length, tried in glibc's order.
Token match_token(std::string_view input, std::size_t& length) {
  if ((length = token_length(input, "ORIGIN")) != 0) return Token::origin;
  if ((length = token_length(input, "PLATFORM")) != 0) return Token::platform;
  if ((length = token_length(input, "LIB")) != 0) return Token::lib;
  return Token::none;
}

}  // namespace

bool has_dynamic_string_token(std::string_view path) {
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '$') continue;
    std::size_t length = 0;
    if (match_token(path.substr(i + 1), length) != Token::none) return true;
  }
  return false;
}

std::optional<std::string> expand_dynamic_string_tokens(std::string_view path, const DstValues& values) {
  std::string out;
  out.reserve(path.size());
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] != '$') {
      out += path[i++];
      continue;
    }
    std::size_t length = 0;
    Token token = match_token(path.substr(i + 1), length);
    const std::string* replacement = nullptr;
    switch (token) {
      case Token::origin:
        if (!values.origin) return std::nullopt;  // known token, no value: the path is dropped
        replacement = &*values.origin;
        break;
      case Token::platform: replacement = &values.platform; break;
      case Token::lib: replacement = &values.lib; break;
      case Token::none: break;
    }
    if (replacement == nullptr) {
      out += '$';
      ++i;
      continue;
    }
    out += *replacement;
    i += 1 + length;
  }
  return out;
}

std::vector<std::string> expand_path_list(std::string_view list, const DstValues& values, std::string_view separators) {
  std::vector<std::string> out;
  // An empty list is ignored as a whole (decompose_rpath, _dl_init_paths); otherwise strsep
  // semantics as in fillin_rpath: "a:" gives "a" and "".
  if (list.empty()) return out;
  std::size_t start = 0;
  while (true) {
    std::size_t end = list.find_first_of(separators, start);
    std::string_view element = list.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (element.empty()) {
      out.emplace_back();
    } else if (auto expanded = expand_dynamic_string_tokens(element, values); expanded && !expanded->empty()) {
      out.push_back(std::move(*expanded));
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace gpudoctor::elf
