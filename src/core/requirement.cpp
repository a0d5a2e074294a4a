#include "core/requirement.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <variant>

namespace gpudoctor {

namespace {

// A version as PEP 440 defines it (https://peps.python.org/pep-0440/), ordered as the `packaging`
// project orders it (packaging.version._cmpkey). Numbers saturate at 10^18: no real version is
// near it, and a hostile one cannot overflow.
struct Pep440 {
  uint64_t epoch = 0;
  std::vector<uint64_t> release;
  int pre_letter = -1;  // -1 none, 0 a, 1 b, 2 rc
  uint64_t pre_number = 0;
  std::optional<uint64_t> post;
  std::optional<uint64_t> dev;
  std::vector<std::variant<uint64_t, std::string>> local;
  bool has_local = false;

  bool is_prerelease() const { return pre_letter >= 0 || dev.has_value(); }
};

uint64_t to_number(std::string_view digits) {
  uint64_t n = 0;
  for (char c : digits) {
    if (n > 100000000000000000ULL) return 1000000000000000000ULL;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// PEP 440, appendix B: the canonical pattern of a version, case-insensitive, with an optional "v".
const RE2& version_pattern() {
  static const RE2 re(
      "(?i)v?"
      "(?:([0-9]+)!)?"                                               // 1 epoch
      "([0-9]+(?:\\.[0-9]+)*)"                                       // 2 release
      "(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?([0-9]+)?)?"  // 3, 4 pre
      "(?:-([0-9]+)|[-_.]?(post|rev|r)[-_.]?([0-9]+)?)?"             // 5 | 6, 7 post
      "(?:[-_.]?(dev)[-_.]?([0-9]+)?)?"                              // 8, 9 dev
      "(?:\\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?");                     // 10 local
  return re;
}

constexpr size_t k_max_version_length = 256;

std::optional<Pep440> parse_pep440(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > k_max_version_length) return std::nullopt;
  re2::StringPiece groups[11];
  if (!version_pattern().Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::ANCHOR_BOTH, groups, 11))
    return std::nullopt;
  std::string_view g[10];
  for (int i = 0; i < 10; ++i) g[i] = std::string_view(groups[i + 1].data() ? groups[i + 1].data() : "", groups[i + 1].size());
  Pep440 v;
  if (!g[0].empty()) v.epoch = to_number(g[0]);
  for (size_t pos = 0; pos <= g[1].size();) {
    size_t dot = g[1].find('.', pos);
    if (dot == std::string_view::npos) dot = g[1].size();
    v.release.push_back(to_number(g[1].substr(pos, dot - pos)));
    pos = dot + 1;
  }
  if (!g[2].empty()) {
    std::string l = lower(g[2]);
    v.pre_letter = l == "a" || l == "alpha" ? 0 : l == "b" || l == "beta" ? 1
                                                                          : 2;
    v.pre_number = g[3].empty() ? 0 : to_number(g[3]);
  }
  if (!g[4].empty()) v.post = to_number(g[4]);
  else if (!g[5].empty()) v.post = g[6].empty() ? 0 : to_number(g[6]);
  if (!g[7].empty()) v.dev = g[8].empty() ? 0 : to_number(g[8]);
  if (!g[9].empty()) {
    v.has_local = true;
    std::string l = lower(g[9]);
    size_t pos = 0;
    while (pos <= l.size()) {
      size_t end = l.find_first_of("-_.", pos);
      if (end == std::string::npos) end = l.size();
      std::string part = l.substr(pos, end - pos);
      if (!part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }))
        v.local.emplace_back(to_number(part));
      else
        v.local.emplace_back(part);
      pos = end + 1;
    }
  }
  return v;
}

template <typename T>
int three_way(const T& x, const T& y) {
  return x < y ? -1 : y < x ? 1
                            : 0;
}

// packaging's _cmpkey: trailing zeros of the release do not count; a dev release with neither pre nor
// post sorts before every pre-release of its release; no post sorts first, no dev last; no local first;
// in a local label a number sorts after any text.
int compare(const Pep440& a, const Pep440& b, bool with_local = true) {
  if (int c = three_way(a.epoch, b.epoch)) return c;
  size_t n = std::max(a.release.size(), b.release.size());
  for (size_t i = 0; i < n; ++i) {
    uint64_t x = i < a.release.size() ? a.release[i] : 0, y = i < b.release.size() ? b.release[i] : 0;
    if (int c = three_way(x, y)) return c;
  }
  auto pre_key = [](const Pep440& v) -> std::pair<int, uint64_t> {
    if (v.pre_letter < 0 && !v.post && v.dev) return {-1, 0};  // 1.0.dev1 < 1.0a1
    if (v.pre_letter < 0) return {3, 0};                       // a release after its pre-releases
    return {v.pre_letter, v.pre_number};
  };
  if (int c = three_way(pre_key(a), pre_key(b))) return c;
  auto post_key = [](const Pep440& v) -> std::pair<int, uint64_t> { return v.post ? std::pair{1, *v.post} : std::pair{0, uint64_t{0}}; };
  if (int c = three_way(post_key(a), post_key(b))) return c;
  auto dev_key = [](const Pep440& v) -> std::pair<int, uint64_t> { return v.dev ? std::pair{0, *v.dev} : std::pair{1, uint64_t{0}}; };
  if (int c = three_way(dev_key(a), dev_key(b))) return c;
  if (!with_local) return 0;
  if (a.has_local != b.has_local) return a.has_local ? 1 : -1;
  size_t m = std::min(a.local.size(), b.local.size());
  for (size_t i = 0; i < m; ++i) {
    const auto &x = a.local[i], &y = b.local[i];
    if (x.index() != y.index()) return x.index() == 0 ? 1 : -1;  // a number after any text
    if (x.index() == 0) {
      if (int c = three_way(std::get<0>(x), std::get<0>(y))) return c;
    } else if (int c = three_way(std::get<1>(x), std::get<1>(y))) {
      return c;
    }
  }
  return three_way(a.local.size(), b.local.size());
}

Pep440 public_of(Pep440 v) {
  v.has_local = false;
  v.local.clear();
  return v;
}

// For versions that are not PEP 440 (driver branches such as "535.104.05" are, most are): the runs of
// digits compared as numbers, a letter part before the release.
int compare_loosely(std::string_view a, std::string_view b) {
  auto numbers = [](std::string_view v, bool& pre) {
    std::vector<uint64_t> out;
    size_t plus = v.find('+');
    if (plus != std::string_view::npos) v = v.substr(0, plus);
    size_t i = 0;
    while (i < v.size() && out.size() < 64) {
      if (std::isdigit(static_cast<unsigned char>(v[i]))) {
        size_t j = i;
        while (j < v.size() && std::isdigit(static_cast<unsigned char>(v[j]))) ++j;
        out.push_back(to_number(v.substr(i, j - i)));
        i = j;
      } else if (v[i] == '.' || v[i] == 'v' || v[i] == 'V') {
        ++i;
      } else {
        pre = v.substr(i, 4) != "post";
        break;
      }
    }
    return out;
  };
  bool pa = false, pb = false;
  auto x = numbers(a, pa), y = numbers(b, pb);
  size_t n = std::max(x.size(), y.size());
  for (size_t i = 0; i < n; ++i) {
    uint64_t p = i < x.size() ? x[i] : 0, q = i < y.size() ? y[i] : 0;
    if (p != q) return p < q ? -1 : 1;
  }
  if (pa != pb) return pa ? -1 : 1;
  return 0;
}

// "==X.*" and "!=X.*": the prefix's epoch equal and its release components equal to the version's first
// ones, the version's release padded with zeros.
bool prefix_matches(const Pep440& version, const Pep440& prefix) {
  if (version.epoch != prefix.epoch) return false;
  for (size_t i = 0; i < prefix.release.size(); ++i) {
    uint64_t x = i < version.release.size() ? version.release[i] : 0;
    if (x != prefix.release[i]) return false;
  }
  return true;
}

// One specifier ("<", "2.16") against a version, with pre-releases allowed as `pip check` allows them.
bool contains(const std::string& op, std::string_view want_text, std::string_view version_text) {
  if (op == "===") return lower(trim(version_text)) == lower(trim(want_text));
  auto version = parse_pep440(version_text);
  if (!version) return false;
  bool wildcard = want_text.size() >= 2 && want_text.substr(want_text.size() - 2) == ".*";
  auto want = parse_pep440(wildcard ? want_text.substr(0, want_text.size() - 2) : want_text);
  if (!want) return false;
  if (wildcard) {
    if (op != "==" && op != "!=") return false;
    if (want->is_prerelease() || want->post || want->has_local) return false;  // not a valid prefix
    return prefix_matches(*version, *want) == (op == "==");
  }
  if (op == "==" || op == "!=") {
    bool equal = want->has_local ? compare(*version, *want) == 0 : compare(public_of(*version), *want) == 0;
    return equal == (op == "==");
  }
  if (want->has_local) return false;  // only == and != take a local label
  Pep440 pub = public_of(*version);
  if (op == ">=") return compare(pub, *want) >= 0;
  if (op == "<=") return compare(pub, *want) <= 0;
  if (op == "<") {
    if (compare(*version, *want) >= 0) return false;
    // "<V" does not take a pre-release of V itself unless V is one ("0.5.0rc1" is not "<0.5").
    if (!want->is_prerelease() && version->is_prerelease()) {
      Pep440 stripped = pub;
      stripped.dev.reset();
      if (!want->post) {
        stripped.pre_letter = -1;
        stripped.post.reset();
      }
      if (compare(stripped, *want) == 0) return false;
    }
    return true;
  }
  if (op == ">") {
    if (compare(*version, *want) <= 0) return false;
    if (compare(pub, *want) == 0) return false;  // a local label of V is not above V
    // ">V" does not take a post-release of V itself unless V is one.
    if (!want->post && pub.post) {
      Pep440 stripped = pub;
      stripped.post.reset();
      stripped.dev.reset();
      if (compare(stripped, *want) == 0) return false;
    }
    return true;
  }
  if (op == "~=") {
    if (want->release.size() < 2) return false;
    if (compare(pub, *want) < 0) return false;
    Pep440 prefix;
    prefix.epoch = want->epoch;
    prefix.release.assign(want->release.begin(), want->release.end() - 1);
    return prefix_matches(*version, prefix);
  }
  return false;
}

std::string normalize(std::string_view name) {
  std::string out;
  for (char c : name) {
    char n = c == '_' || c == '.' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == '-' && !out.empty() && out.back() == '-') continue;  // PEP 503: runs become one "-"
    out += n;
  }
  return out;
}

}  // namespace

int compare_versions(std::string_view a, std::string_view b) {
  auto pa = parse_pep440(a), pb = parse_pep440(b);
  if (pa && pb) return compare(*pa, *pb, false);
  return compare_loosely(a, b);
}

std::optional<Requirement> parse_requirement(std::string_view value) {
  if (value.size() > 4096) return std::nullopt;
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
      std::string op(one.substr(0, op_end));
      if (op != "==" && op != "!=" && op != "<=" && op != ">=" && op != "<" && op != ">" && op != "~=" && op != "===")
        return std::nullopt;
      std::string_view want = trim(one.substr(op_end));
      if (want.empty()) return std::nullopt;
      r.specifiers.emplace_back(op, std::string(want));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return r;
}

bool satisfies(std::string_view version, const Requirement& r) {
  for (const auto& [op, want] : r.specifiers)
    if (!contains(op, want, version)) return false;
  return true;
}

}  // namespace gpudoctor
