#include "report/redact.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "core/snapshot_json.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {

namespace {

struct CompiledShape {
  const kb::SecretShape* shape;
  std::unique_ptr<re2::RE2> re;
};

/// The kb's secret shapes compiled once, and a set of all of them that tells in one pass
/// whether a value needs any.
struct Compiled {
  std::vector<CompiledShape> shapes;
  std::unique_ptr<re2::RE2::Set> any;
};

const Compiled& compiled() {
  static const Compiled c = [] {
    Compiled out;
    re2::RE2::Options opt;
    opt.set_log_errors(false);
    opt.set_encoding(re2::RE2::Options::EncodingLatin1);  // bytes: a value need not be valid UTF-8
    out.any = std::make_unique<re2::RE2::Set>(opt, re2::RE2::UNANCHORED);
    for (const auto& s : kb::KnowledgeBase::get().redaction().secrets) {
      auto re = std::make_unique<re2::RE2>(s.pattern, opt);
      if (!re->ok()) throw std::runtime_error("kb/data/redaction.toml: pattern of " + s.name + ": " + re->error());
      if (out.any->Add(s.pattern, nullptr) < 0) throw std::runtime_error("kb/data/redaction.toml: " + s.name);
      out.shapes.push_back({&s, std::move(re)});
    }
    if (!out.any->Compile()) throw std::runtime_error("kb/data/redaction.toml: the patterns do not compile as a set");
    return out;
  }();
  return c;
}

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool mixed_enough(std::string_view m, int max_slashes) {
  bool up = false, low = false, digit = false;
  int slashes = 0;
  for (char c : m) {
    up = up || (c >= 'A' && c <= 'Z');
    low = low || (c >= 'a' && c <= 'z');
    digit = digit || (c >= '0' && c <= '9');
    slashes += c == '/' ? 1 : 0;
  }
  return up && low && digit && (max_slashes < 0 || slashes <= max_slashes) && m.front() != '/';
}

/// Replaces each match of a token shape that stands on its own (no letter or digit just before or
/// after it). Linear: after a match that does not qualify the search goes on past its end.
void replace_tokens(std::string& s, const CompiledShape& c) {
  std::string label = "<redacted:" + c.shape->name + ">";
  std::size_t pos = 0;
  re2::StringPiece m;
  while (pos < s.size() && c.re->Match(s, pos, s.size(), re2::RE2::UNANCHORED, &m, 1)) {
    std::size_t at = static_cast<std::size_t>(m.data() - s.data());
    std::size_t end = at + m.size();
    if (m.empty()) {
      pos = at + 1;
      continue;
    }
    bool alone = (at == 0 || !alnum(s[at - 1])) && (end == s.size() || !alnum(s[end]));
    if (alone && (!c.shape->mixed || mixed_enough(std::string_view(m.data(), m.size()), c.shape->max_slashes))) {
      s.replace(at, m.size(), label);
      pos = at + label.size();
    } else {
      pos = end;
    }
  }
}

/// Characters that end a path component or a word of a value.
bool component_end(char c) { return std::string_view("/\\ \t\n:;,'\"()[]{}<>=|&@").find(c) != std::string_view::npos; }
bool host_char(char c) { return alnum(c) || c == '.' || c == '-' || c == '_'; }

}  // namespace

Redactor::Redactor(const RedactionContext& context) {
  (void)compiled();
  for (const auto& k : context.keep_words)
    if (!k.empty()) m_keep.push_back(lower(k));
  // gpudoctor's own words in a snapshot (states, fixed texts) are never a user's or a host's: the
  // shared snapshot must still read back. Words as the host matcher below cuts them.
  for (std::string_view text : snapshot_state_texts()) {
    for (std::size_t i = 0; i < text.size();) {
      std::size_t end = i;
      while (end < text.size() && host_char(text[end])) ++end;
      if (end > i) m_keep.push_back(lower(std::string(text.substr(i, end - i))));
      i = end + 1;
    }
  }
  for (const auto& u : context.user_names) add_user(u);
  for (const auto& h : context.host_names) {
    std::string name = lower(h);
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ' || name.back() == '.')) name.pop_back();
    if (name.size() < 2 || name == "localhost" || name.rfind("localhost.", 0) == 0) continue;
    for (std::string form : {name, name.substr(0, name.find('.'))}) {
      if (form.size() < 2 || std::find(m_keep.begin(), m_keep.end(), form) != m_keep.end()) continue;
      if (std::find(m_hosts.begin(), m_hosts.end(), form) == m_hosts.end()) m_hosts.push_back(form);
    }
  }
}

void Redactor::add_user(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || m_users.count(name) != 0) return;
  if (std::find(m_keep.begin(), m_keep.end(), lower(name)) != m_keep.end()) return;  // a word of the snapshot's own
  const auto& never = kb::KnowledgeBase::get().redaction().not_users;
  if (std::find(never.begin(), never.end(), name) != never.end()) return;
  if (name.find_first_of("<>") != std::string::npos) return;  // a placeholder already
  m_users[name] = m_users.empty() ? "<user>" : "<user" + std::to_string(m_users.size() + 1) + ">";
}

void Redactor::learn(std::string_view text) {
  for (const auto& parent : kb::KnowledgeBase::get().redaction().home_parents) {
    for (std::size_t at = text.find(parent); at != std::string_view::npos; at = text.find(parent, at + 1)) {
      std::size_t start = at + parent.size(), end = start;
      while (end < text.size() && !component_end(text[end])) ++end;
      if (end > start && end - start <= 64) add_user(std::string(text.substr(start, end - start)));
    }
  }
}

namespace {

template <typename Json>
void learn_all(Redactor& r, const Json& j) {
  if (j.is_string()) {
    r.learn(std::string_view(j.template get_ref<const std::string&>()));
  } else if (j.is_structured()) {
    for (const auto& v : j) learn_all(r, v);
  }
}

template <typename Json>
void redact_all(const Redactor& r, Json& j) {
  if (j.is_string()) {
    j = r.text(j.template get_ref<const std::string&>());
  } else if (j.is_structured()) {
    for (auto& v : j) redact_all(r, v);
  }
}

}  // namespace

void Redactor::learn_json(const nlohmann::json& j) { learn_all(*this, j); }

std::string Redactor::users_and_hosts(const std::string& s) const {
  if (m_users.empty() && m_hosts.empty()) return s;
  if (auto it = m_users.find(s); it != m_users.end()) return it->second;
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    // A path component: after '/' or '\', up to the next separator.
    if (s[i] == '/' || s[i] == '\\') {
      out += s[i++];
      std::size_t end = i;
      while (end < s.size() && !component_end(s[end])) ++end;
      std::string component = s.substr(i, end - i);
      auto it = m_users.find(component);
      if (it != m_users.end()) out += it->second;
      else if (std::find(m_hosts.begin(), m_hosts.end(), lower(component)) != m_hosts.end()) out += "<host>";
      else out += component;
      i = end;
      continue;
    }
    // A word that may be a host name.
    if (host_char(s[i]) && !m_hosts.empty() && (i == 0 || !host_char(s[i - 1]))) {
      std::size_t end = i;
      while (end < s.size() && host_char(s[end])) ++end;
      std::string word = s.substr(i, end - i);
      std::string bare = lower(word);
      while (!bare.empty() && bare.back() == '.') bare.pop_back();
      if (std::find(m_hosts.begin(), m_hosts.end(), bare) != m_hosts.end()) out += "<host>" + word.substr(bare.size());
      else out += word;
      i = end;
      continue;
    }
    out += s[i++];
  }
  return out;
}

std::string Redactor::text(std::string_view s) const {
  std::string r(s);
  const auto& c = compiled();
  std::vector<int> hits;
  if (c.any->Match(r, &hits)) {
    std::sort(hits.begin(), hits.end());
    for (int h : hits) {
      const auto& shape = c.shapes[static_cast<std::size_t>(h)];
      if (!shape.shape->replace.empty()) re2::RE2::GlobalReplace(&r, *shape.re, shape.shape->replace);
      else replace_tokens(r, shape);
    }
  }
  return users_and_hosts(r);
}

void Redactor::json(nlohmann::json& j) {
  learn_all(*this, j);
  redact_all(*this, j);
}

void Redactor::json(nlohmann::ordered_json& j) {
  learn_all(*this, j);
  redact_all(*this, j);
}

void Redactor::snapshot(nlohmann::json& j) {
  json(j);
  // People's ids renumbered in order of appearance; system ids (video, render, root) stay.
  unsigned first = kb::KnowledgeBase::get().redaction().first_user_id;
  std::map<std::uint64_t, std::uint64_t> uids, gids;
  auto renumber = [first](nlohmann::json& v, std::map<std::uint64_t, std::uint64_t>& table) {
    if (!v.is_number_unsigned() && !v.is_number_integer()) return;
    auto id = v.get<std::int64_t>();
    if (id < static_cast<std::int64_t>(first) || id == 65534) return;  // 65534: nobody/nogroup
    auto [it, added] = table.emplace(static_cast<std::uint64_t>(id), first + table.size());
    v = it->second;
  };
  if (j.contains("user") && j["user"].is_object()) {
    auto& u = j["user"];
    if (u.contains("uid")) renumber(u["uid"], uids);
    if (u.contains("gids") && u["gids"].is_array())
      for (auto& g : u["gids"]) renumber(g, gids);
  }
  if (j.contains("device_nodes") && j["device_nodes"].is_array()) {
    for (auto& n : j["device_nodes"]) {
      if (!n.is_object()) continue;
      if (n.contains("uid")) renumber(n["uid"], uids);
      if (n.contains("gid")) renumber(n["gid"], gids);
    }
  }
  j["redacted"] = true;
}

std::string Redactor::note() {
  return "Redacted for sharing: tokens and keys, passwords in URLs, user names (<user>), host names (<host>), "
         "GPU UUIDs (shortened), user and group ids. gpudoctor --no-redact keeps them.";
}

}  // namespace gpudoctor
