#include "core/requirement.hpp"

#include <algorithm>
#include <cctype>

namespace gpudoctor {

namespace {

struct Parsed {
  std::vector<long> release;
  bool pre = false;  // a, b, rc, dev
};

Parsed parse(std::string_view v) {
  Parsed p;
  size_t plus = v.find('+');
  if (plus != std::string_view::npos) v = v.substr(0, plus);
  if (!v.empty() && (v.front() == 'v' || v.front() == 'V')) v.remove_prefix(1);
  size_t i = 0;
  while (i < v.size()) {
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) {
      if (v[i] == '.') {
        ++i;
        continue;
      }
      p.pre = true;  // any letter part: a pre-, dev- or post-release; treated as before the release
      if (v.substr(i, 4) == "post") p.pre = false;
      break;
    }
    long n = 0;
    size_t digits = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])) && digits < 12) {
      n = n * 10 + (v[i] - '0');
      ++i;
      ++digits;
    }
    p.release.push_back(n);
  }
  return p;
}

std::string normalize(std::string_view name) {
  std::string out;
  for (char c : name) out += c == '_' || c == '.' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

int compare_versions(std::string_view a, std::string_view b) {
  Parsed pa = parse(a), pb = parse(b);
  size_t n = std::max(pa.release.size(), pb.release.size());
  for (size_t i = 0; i < n; ++i) {
    long x = i < pa.release.size() ? pa.release[i] : 0;
    long y = i < pb.release.size() ? pb.release[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  if (pa.pre != pb.pre) return pa.pre ? -1 : 1;
  return 0;
}

std::optional<Requirement> parse_requirement(std::string_view value) {
  Requirement r;
  r.text = std::string(value);
  std::string_view spec = value;
  size_t semi = spec.find(';');
  if (semi != std::string_view::npos) {
    std::string_view marker = spec.substr(semi + 1);
    if (marker.find("extra") != std::string_view::npos) return std::nullopt;
    for (const char* other : {"\"Windows\"", "'Windows'", "\"Darwin\"", "'Darwin'", "\"win32\"", "\"darwin\""})
      if (marker.find(other) != std::string_view::npos && marker.find("!=") == std::string_view::npos) return std::nullopt;
    spec = spec.substr(0, semi);
  }
  spec = trim(spec);
  size_t name_end = 0;
  while (name_end < spec.size() && (std::isalnum(static_cast<unsigned char>(spec[name_end])) || spec[name_end] == '-' ||
                                    spec[name_end] == '_' || spec[name_end] == '.'))
    ++name_end;
  if (name_end == 0) return std::nullopt;
  r.name = normalize(spec.substr(0, name_end));
  std::string rest(spec.substr(name_end));
  // Drop extras "[cuda]" and parentheses.
  size_t lb = rest.find('[');
  if (lb != std::string::npos) {
    size_t rb = rest.find(']', lb);
    rest.erase(lb, rb == std::string::npos ? std::string::npos : rb - lb + 1);
  }
  rest.erase(std::remove(rest.begin(), rest.end(), '('), rest.end());
  rest.erase(std::remove(rest.begin(), rest.end(), ')'), rest.end());
  size_t pos = 0;
  while (pos < rest.size()) {
    size_t comma = rest.find(',', pos);
    std::string_view one = trim(std::string_view(rest).substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (!one.empty()) {
      size_t op_end = 0;
      while (op_end < one.size() && std::string_view("<>=!~").find(one[op_end]) != std::string_view::npos) ++op_end;
      if (op_end == 0) return std::nullopt;
      r.specifiers.emplace_back(std::string(one.substr(0, op_end)), std::string(trim(one.substr(op_end))));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return r;
}

bool satisfies(std::string_view version, const Requirement& r) {
  for (const auto& [op, want] : r.specifiers) {
    if ((op == "==" || op == "!=") && !want.empty() && want.back() == '*') {
      std::string prefix = want.substr(0, want.size() - 1);
      if (!prefix.empty() && prefix.back() == '.') prefix.pop_back();
      bool match = compare_versions(std::string(version).substr(0, prefix.size()), prefix) == 0 &&
                   (version.size() == prefix.size() || version[prefix.size()] == '.');
      if ((op == "==") != match) return false;
      continue;
    }
    int c = compare_versions(version, want);
    if (op == "==" && c != 0) return false;
    if (op == "===" && version != want) return false;
    if (op == "!=" && c == 0) return false;
    if (op == ">=" && c < 0) return false;
    if (op == "<=" && c > 0) return false;
    if (op == ">" && c <= 0) return false;
    if (op == "<" && c >= 0) return false;
    if (op == "~=") {
      if (c < 0) return false;
      // ~=X.Y.Z means >=X.Y.Z, ==X.Y.*
      std::string prefix = want.substr(0, want.rfind('.'));
      if (compare_versions(std::string(version).substr(0, prefix.size()), prefix) != 0) return false;
    }
  }
  return true;
}

}  // namespace gpudoctor
