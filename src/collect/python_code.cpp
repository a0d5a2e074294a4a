#include "collect/python_code.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "core/path.hpp"
#include "core/utf8.hpp"
#include "sys/root_fs.hpp"

namespace gpudoctor::python {

namespace {

// ---- Lexer ----------------------------------------------------------------------------------

constexpr std::size_t k_max_value = 256;  // string values kept (longer ones are not constants)

bool id_start(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80; }
bool id_char(unsigned char c) { return id_start(c) || (c >= '0' && c <= '9'); }
bool digit(unsigned char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

struct Prefix {
  bool raw = false, fmt = false, bytes = false;
};

/// A string prefix (docs: stringprefix, bytesprefix, f/t-strings): r, u, b, f, t and the
/// two-letter combinations of r with b, f or t, in any case.
std::optional<Prefix> string_prefix(std::string_view id) {
  if (id.empty() || id.size() > 2) return std::nullopt;
  Prefix p;
  bool u = false;
  for (char ch : id) {
    char c = lower(ch);
    bool* flag = c == 'r' ? &p.raw : (c == 'f' || c == 't') ? &p.fmt
                                 : c == 'b'                 ? &p.bytes
                                 : c == 'u'                 ? &u
                                                            : nullptr;
    if (flag == nullptr || *flag) return std::nullopt;
    *flag = true;
  }
  if ((u && id.size() > 1) || (p.bytes && p.fmt)) return std::nullopt;
  return p;
}

const char* const k_ops3[] = {"**=", "//=", ">>=", "<<=", "...", "!=="};
const char* const k_ops2[] = {"**", "//", "<<", ">>", "<=", ">=", "==", "!=", "->", ":=", "+=", "-=", "*=",
                              "/=", "%=", "&=", "|=", "^=", "@="};

class Lexer {
 public:
  Lexer(std::string_view src, const LexLimits& limits) : m_s(src), m_limits(limits) {}

  Lexed run() {
    while (m_i < m_s.size()) {
      if (m_tokens >= m_limits.max_tokens) {
        problem("more than {} tokens: the rest is not read", m_limits.max_tokens);
        break;
      }
      if (m_line_start && m_depth == 0) {
        int col = 0;
        while (m_i < m_s.size() && (m_s[m_i] == ' ' || m_s[m_i] == '\t' || m_s[m_i] == '\f')) {
          col = m_s[m_i] == '\t' ? (col / 8 + 1) * 8 : m_s[m_i] == '\f' ? 0
                                                                        : col + 1;
          ++m_i;
        }
        if (m_i >= m_s.size()) break;
        char c = m_s[m_i];
        m_line_start = false;
        if (c != '\n' && c != '\r' && c != '#') m_indent = col;
      }
      step();
    }
    flush();
    structure();
    return std::move(m_out);
  }

 private:
  template <typename... A>
  void problem(fmt::format_string<A...> f, A&&... a) {
    if (m_out.problems.size() < 20)
      m_out.problems.push_back(fmt::format("line {}: ", m_line) + fmt::format(f, std::forward<A>(a)...));
  }

  void push(Token t) {
    if (m_cur.tokens.empty()) {
      m_cur.line = t.line;
      m_cur.indent = m_indent;
    }
    m_cur.tokens.push_back(std::move(t));
    ++m_tokens;
  }

  void flush() {
    if (!m_cur.tokens.empty()) m_out.statements.push_back(std::move(m_cur));
    m_cur = Statement{};
  }

  bool newline_at(std::size_t i) const { return i < m_s.size() && (m_s[i] == '\n' || m_s[i] == '\r'); }
  /// Skips one line break at m_i (\n, \r\n or \r) and counts it.
  void skip_newline() {
    if (m_s[m_i] == '\r' && m_i + 1 < m_s.size() && m_s[m_i + 1] == '\n') ++m_i;
    ++m_i;
    ++m_line;
  }

  void step() {
    char c = m_s[m_i];
    if (c == '\n' || c == '\r') {
      skip_newline();
      if (m_depth == 0) {
        flush();
        m_line_start = true;
      }
      return;
    }
    if (c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\0') {
      ++m_i;
      return;
    }
    if (c == '#') {
      while (m_i < m_s.size() && !newline_at(m_i)) ++m_i;
      return;
    }
    if (c == '\\') {
      ++m_i;
      if (newline_at(m_i)) skip_newline();  // explicit line joining
      else push({Token::op, m_line, "\\", false});
      return;
    }
    auto uc = static_cast<unsigned char>(c);
    if (id_start(uc)) {
      std::size_t b = m_i;
      while (m_i < m_s.size() && id_char(static_cast<unsigned char>(m_s[m_i]))) ++m_i;
      std::string_view id = m_s.substr(b, m_i - b);
      if (m_i < m_s.size() && (m_s[m_i] == '\'' || m_s[m_i] == '"')) {
        if (auto p = string_prefix(id)) {
          string_token(*p);
          return;
        }
      }
      push({Token::name, m_line, std::string(id), false});
      return;
    }
    if (digit(uc) || (c == '.' && m_i + 1 < m_s.size() && digit(static_cast<unsigned char>(m_s[m_i + 1])))) {
      std::size_t b = m_i;
      bool hex = c == '0' && m_i + 1 < m_s.size() && lower(m_s[m_i + 1]) == 'x';
      while (m_i < m_s.size()) {
        char d = m_s[m_i];
        if (id_char(static_cast<unsigned char>(d)) || d == '.') {
          ++m_i;
          if (!hex && lower(d) == 'e' && m_i < m_s.size() && (m_s[m_i] == '+' || m_s[m_i] == '-')) ++m_i;
        } else {
          break;
        }
      }
      push({Token::number, m_line, std::string(m_s.substr(b, m_i - b)), false});
      return;
    }
    if (c == '\'' || c == '"') {
      string_token(Prefix{});
      return;
    }
    if (c == ';' && m_depth == 0) {
      ++m_i;
      flush();
      return;
    }
    if (c == '(' || c == '[' || c == '{') ++m_depth;
    if ((c == ')' || c == ']' || c == '}') && m_depth > 0) --m_depth;
    std::string_view rest = m_s.substr(m_i);
    for (const char* op : k_ops3)
      if (rest.substr(0, 3) == op) {
        push({Token::op, m_line, op, false});
        m_i += 3;
        return;
      }
    for (const char* op : k_ops2)
      if (rest.substr(0, 2) == op) {
        push({Token::op, m_line, op, false});
        m_i += 2;
        return;
      }
    push({Token::op, m_line, std::string(1, c), false});
    ++m_i;
  }

  // How a string's body ended.
  enum class End { closed,
                   line_end,
                   text_end,
                   field_done };

  /// m_i at the opening quote.
  void string_token(Prefix p) {
    Token t{Token::string, m_line, {}, true};
    char q = m_s[m_i];
    bool triple = m_s.substr(m_i, 3) == std::string(3, q);
    m_i += triple ? 3 : 1;
    bool cut = false;
    End e = body(p, q, triple, 0, &t.text, cut);
    if (e != End::closed) {
      problem("unterminated string");
      t.constant = false;
    }
    if (p.fmt || cut) t.constant = false;
    push(std::move(t));
  }

  void keep(std::string* value, bool& cut, char c) const {
    if (value == nullptr) return;
    if (value->size() < k_max_value) value->push_back(c);
    else cut = true;
  }

  /// A string's body from just after its opening quote(s) to just after its closing ones. A
  /// line break ends a single-quoted string without being consumed (the statement ends there).
  End body(Prefix p, char q, bool triple, int nest, std::string* value, bool& cut) {
    while (true) {
      if (m_i >= m_s.size()) return End::text_end;
      char c = m_s[m_i];
      if (c == '\\') {
        ++m_i;
        if (m_i >= m_s.size()) return End::text_end;
        char n = m_s[m_i];
        if (n == '\n' || n == '\r') {
          skip_newline();
          continue;
        }
        ++m_i;
        if (p.raw) {
          keep(value, cut, '\\');
          keep(value, cut, n);
        } else {
          char d = n == 'n' ? '\n' : n == 't' ? '\t'
                                 : n == 'r'   ? '\r'
                                 : n == '0'   ? '\0'
                                              : n;
          if (n != '\\' && n != '\'' && n != '"' && n != 'n' && n != 't' && n != 'r' && n != '0') keep(value, cut, '\\');
          keep(value, cut, d);
        }
        continue;
      }
      if (c == '\n' || c == '\r') {
        if (!triple) return End::line_end;
        skip_newline();
        keep(value, cut, '\n');
        continue;
      }
      if (c == q) {
        if (!triple) {
          ++m_i;
          return End::closed;
        }
        if (m_s.substr(m_i, 3) == std::string(3, q)) {
          m_i += 3;
          return End::closed;
        }
        keep(value, cut, c);
        ++m_i;
        continue;
      }
      if (p.fmt && (c == '{' || c == '}')) {
        if (m_i + 1 < m_s.size() && m_s[m_i + 1] == c) {  // {{ and }} are the braces themselves
          keep(value, cut, c);
          m_i += 2;
          continue;
        }
        ++m_i;
        if (c == '}' || nest >= m_limits.max_fstring_nesting) {
          keep(value, cut, c);
          continue;
        }
        keep(value, cut, '{');
        keep(value, cut, '}');
        End e = field(q, triple, nest + 1);
        if (e != End::field_done) return e;
        continue;
      }
      keep(value, cut, c);
      ++m_i;
    }
  }

  /// A nested string inside a replacement field; m_i at its quote.
  End nested_string(Prefix p, int nest) {
    char q = m_s[m_i];
    bool triple = m_s.substr(m_i, 3) == std::string(3, q);
    m_i += triple ? 3 : 1;
    bool cut = false;
    return body(p, q, triple, p.fmt ? nest : nest, nullptr, cut);
  }

  /// A replacement field of an f-string, from just after its '{' to just after its '}'
  /// (expression, !conversion, :format spec with nested fields), as Python 3.12 reads it.
  End field(char q, bool triple, int nest) {
    int depth = 0;
    while (true) {
      if (m_i >= m_s.size()) return End::text_end;
      char c = m_s[m_i];
      if (c == '\n' || c == '\r') {
        if (!triple && depth == 0) return End::line_end;
        skip_newline();
        continue;
      }
      if (c == '\\') {
        ++m_i;
        if (m_i < m_s.size()) {
          if (newline_at(m_i)) skip_newline();
          else ++m_i;
        }
        continue;
      }
      if (c == '#' && (triple || depth > 0)) {
        while (m_i < m_s.size() && !newline_at(m_i)) ++m_i;
        continue;
      }
      if (c == '\'' || c == '"') {
        if (nest >= m_limits.max_fstring_nesting) return End::line_end;
        End e = nested_string(Prefix{}, nest);
        if (e != End::closed) return e;
        continue;
      }
      if (id_start(static_cast<unsigned char>(c))) {
        std::size_t b = m_i;
        while (m_i < m_s.size() && id_char(static_cast<unsigned char>(m_s[m_i]))) ++m_i;
        if (m_i < m_s.size() && (m_s[m_i] == '\'' || m_s[m_i] == '"'))
          if (auto p = string_prefix(m_s.substr(b, m_i - b))) {
            if (nest >= m_limits.max_fstring_nesting) return End::line_end;
            End e = nested_string(*p, nest + (p->fmt ? 1 : 0));
            if (e != End::closed) return e;
          }
        continue;
      }
      ++m_i;
      if (c == '(' || c == '[' || c == '{') {
        ++depth;
      } else if (c == ')' || c == ']') {
        if (depth > 0) --depth;
      } else if (c == '}') {
        if (depth == 0) return End::field_done;
        --depth;
      } else if (c == ':' && depth == 0) {
        return spec(q, triple, nest);
      }
    }
  }

  /// A format spec, after the ':' of a field, to just after the field's '}'.
  End spec(char q, bool triple, int nest) {
    while (true) {
      if (m_i >= m_s.size()) return End::text_end;
      char c = m_s[m_i];
      if (c == '\n' || c == '\r') {
        if (!triple) return End::line_end;
        skip_newline();
        continue;
      }
      if (c == q && (!triple || m_s.substr(m_i, 3) == std::string(3, q))) {
        m_i += triple ? 3 : 1;  // the string closes inside an unfinished field
        return End::closed;
      }
      ++m_i;
      if (c == '}') return End::field_done;
      if (c == '{') {
        if (nest >= m_limits.max_fstring_nesting) continue;
        End e = field(q, triple, nest + 1);
        if (e != End::field_done) return e;
      }
    }
  }

  static bool keyword(const Statement& s, std::size_t k, std::string_view w) {
    return k < s.tokens.size() && s.tokens[k].kind == Token::name && s.tokens[k].text == w;
  }

  /// Compound headers split from a body on the same line; parents and scopes by indentation.
  void structure() {
    static const std::set<std::string, std::less<>> k_compound = {"if", "elif", "else", "for", "while", "with",
                                                                  "def", "class", "try", "except", "finally", "async"};
    std::vector<Statement> out;
    out.reserve(m_out.statements.size());
    for (auto& st : m_out.statements) {
      const auto& t = st.tokens;
      bool compound = t.front().kind == Token::name && k_compound.count(t.front().text) != 0;
      bool soft = keyword(st, 0, "match") || keyword(st, 0, "case");
      if (!compound && !(soft && t.back().kind == Token::op && t.back().text == ":")) {
        out.push_back(std::move(st));
        continue;
      }
      int depth = 0;
      std::size_t colon = t.size();
      for (std::size_t k = 0; k < t.size(); ++k) {
        if (t[k].kind != Token::op) continue;
        const auto& x = t[k].text;
        if (x == "(" || x == "[" || x == "{") ++depth;
        else if ((x == ")" || x == "]" || x == "}") && depth > 0) --depth;
        else if (x == ":" && depth == 0 && !keyword(st, k > 0 ? k - 1 : t.size(), "lambda")) {
          colon = k;
          break;
        }
      }
      if (colon == t.size()) {
        out.push_back(std::move(st));
        continue;
      }
      Statement body;
      body.tokens.assign(std::make_move_iterator(st.tokens.begin() + static_cast<std::ptrdiff_t>(colon) + 1),
                         std::make_move_iterator(st.tokens.end()));
      st.tokens.resize(colon + 1);
      st.header = true;
      int indent = st.indent;
      out.push_back(std::move(st));
      if (!body.tokens.empty()) {
        body.line = body.tokens.front().line;
        body.indent = indent + 1;
        out.push_back(std::move(body));
      }
    }
    // Each open header, with the scope and class-ness its body has (so no walk up the stack).
    struct Open {
      int index, scope;
      bool in_class;
    };
    std::vector<Open> stack;
    for (std::size_t k = 0; k < out.size(); ++k) {
      auto& st = out[k];
      while (!stack.empty() && out[static_cast<std::size_t>(stack.back().index)].indent >= st.indent) stack.pop_back();
      st.parent = stack.empty() ? -1 : stack.back().index;
      st.scope = stack.empty() ? -1 : stack.back().scope;
      st.in_class = !stack.empty() && stack.back().in_class;
      if (!st.header) continue;
      bool cls = keyword(st, 0, "class");
      bool def = cls || keyword(st, 0, "def") || (keyword(st, 0, "async") && keyword(st, 1, "def"));
      stack.push_back({static_cast<int>(k), def ? static_cast<int>(k) : st.scope, st.in_class || cls});
    }
    m_out.statements = std::move(out);
  }

  std::string_view m_s;
  LexLimits m_limits;
  std::size_t m_i = 0;
  int m_line = 1;
  int m_depth = 0;
  int m_indent = 0;
  bool m_line_start = true;
  std::size_t m_tokens = 0;
  Statement m_cur;
  Lexed m_out;
};

}  // namespace

Lexed lex(std::string_view source, const LexLimits& limits) { return Lexer(source, limits).run(); }

std::string display_line(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  while (i < s.size() && out.size() < 200) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n' || c == '\r') break;
    if (c < 0x20 || c == 0x7f) {
      out.push_back(' ');
      ++i;
      continue;
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence is kept whole; any other byte becomes U+FFFD.
    std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) {
      out += "\xef\xbf\xbd";
      ++i;
      continue;
    }
    if (out.size() + len > 200) break;
    out.append(s.substr(i, len));
    i += len;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
  return out;
}

// ---- One source text ------------------------------------------------------------------------

namespace {

using Toks = std::vector<Token>;

bool is_op(const Toks& t, std::size_t k, std::string_view op) {
  return k < t.size() && t[k].kind == Token::op && t[k].text == op;
}
bool is_name(const Toks& t, std::size_t k, std::string_view n) {
  return k < t.size() && t[k].kind == Token::name && t[k].text == n;
}

// How far a call's arguments or a bracket's contents are followed, in tokens. Longer ones are not
// read (their values are never what the rules judge), so nested calls cost O(n), not O(n^2).
constexpr std::size_t k_window = 1024;
constexpr std::size_t k_unclosed = static_cast<std::size_t>(-1);

/// The index just after the bracket that closes the one at `open`; k_unclosed when it does not
/// close within the statement and k_window tokens.
std::size_t closing(const Toks& t, std::size_t open) {
  int depth = 0;
  std::size_t end = std::min(t.size(), open + k_window);
  for (std::size_t k = open; k < end; ++k) {
    if (t[k].kind != Token::op) continue;
    const auto& x = t[k].text;
    if (x == "(" || x == "[" || x == "{") ++depth;
    else if (x == ")" || x == "]" || x == "}") {
      if (--depth == 0) return k + 1;
    }
  }
  return k_unclosed;
}

struct Arg {
  std::string keyword;  ///< "" for a positional argument
  std::size_t b = 0, e = 0;
};

/// The arguments of the call whose '(' is at `open`.
std::vector<Arg> call_args(const Toks& t, std::size_t open) {
  std::vector<Arg> out;
  std::size_t end = closing(t, open);
  if (end == k_unclosed) return out;  // unclosed, or too long to read
  std::size_t last = end - 1;
  int depth = 0;
  std::size_t b = open + 1;
  auto close_arg = [&](std::size_t e) {
    if (e <= b) return;
    Arg a;
    if (t[b].kind == Token::name && is_op(t, b + 1, "=")) {
      a.keyword = t[b].text;
      a.b = b + 2;
    } else {
      a.b = b;
    }
    a.e = e;
    if (a.e > a.b && out.size() < 64) out.push_back(a);
  };
  for (std::size_t k = open + 1; k < last; ++k) {
    if (t[k].kind != Token::op) continue;
    const auto& x = t[k].text;
    if (x == "(" || x == "[" || x == "{") ++depth;
    else if ((x == ")" || x == "]" || x == "}") && depth > 0) --depth;
    else if (x == "," && depth == 0) {
      close_arg(k);
      b = k + 1;
    }
  }
  close_arg(last);
  return out;
}

const Arg* positional(const std::vector<Arg>& args, std::size_t n) {
  std::size_t seen = 0;
  for (const auto& a : args)
    if (a.keyword.empty() && seen++ == n) return &a;
  return nullptr;
}
const Arg* keyword_arg(const std::vector<Arg>& args, std::string_view k) {
  for (const auto& a : args)
    if (a.keyword == k) return &a;
  return nullptr;
}

/// A constant string expression: adjacent literals, optionally in parentheses.
std::optional<std::string> literal(const Toks& t, std::size_t b, std::size_t e) {
  if (e > b + 64) return std::nullopt;  // a constant the rules judge is a few literals at most
  while (e > b + 1 && is_op(t, b, "(") && is_op(t, e - 1, ")") && closing(t, b) == e) {
    ++b;
    --e;
  }
  if (b >= e) return std::nullopt;
  std::string v;
  for (std::size_t k = b; k < e; ++k) {
    if (t[k].kind != Token::string || !t[k].constant) return std::nullopt;
    v += t[k].text;
  }
  return v;
}
std::optional<std::string> literal(const Toks& t, const Arg* a) {
  return a ? literal(t, a->b, a->e) : std::nullopt;
}

std::string to_lower(std::string s) {
  for (auto& c : s) c = lower(c);
  return s;
}

bool is_cpu_device(std::string_view v) {
  std::string l = to_lower(std::string(v));
  return l == "cpu" || l.rfind("cpu:", 0) == 0;
}

/// "cpu" or "gpu" for a TensorFlow device string ("/CPU:0", "/device:GPU:1",
/// "/job:localhost/replica:0/task:0/device:CPU:0", "cpu"), "" when neither.
std::string tf_device_type(std::string_view v) {
  std::string l = to_lower(std::string(v));
  std::string type;
  std::size_t b = 0;
  while (b <= l.size()) {
    std::size_t e = l.find('/', b);
    if (e == std::string::npos) e = l.size();
    std::string part = l.substr(b, e - b);
    if (part.rfind("device:", 0) == 0) part = part.substr(7);
    if (part.rfind("cpu", 0) == 0) type = "cpu";
    else if (part.rfind("gpu", 0) == 0) type = "gpu";
    b = e + 1;
  }
  return type;
}

struct Chain {
  std::vector<std::string> parts;
  std::size_t end = 0;  ///< index just after the chain
};

/// A dotted name starting at k (not itself after a '.').
std::optional<Chain> chain_at(const Toks& t, std::size_t k) {
  if (k >= t.size() || t[k].kind != Token::name || (k > 0 && is_op(t, k - 1, "."))) return std::nullopt;
  Chain c;
  c.parts.push_back(t[k].text);
  std::size_t i = k + 1;
  while (is_op(t, i, ".") && i + 1 < t.size() && t[i + 1].kind == Token::name && c.parts.size() < 16) {
    c.parts.push_back(t[i + 1].text);
    i += 2;
  }
  c.end = i;
  return c;
}

std::string join(const std::vector<std::string>& parts, std::size_t from = 0) {
  std::string s;
  for (std::size_t i = from; i < parts.size(); ++i) s += (s.empty() ? "" : ".") + parts[i];
  return s;
}

std::string tokens_text(const Toks& t, std::size_t b, std::size_t e) {
  std::string s;
  for (std::size_t k = b; k < e && k < t.size() && s.size() < 120; ++k) {
    if (t[k].kind == Token::string) s += "'" + t[k].text + "'";
    else s += t[k].text;
  }
  return s;
}

class FileScan {
 public:
  FileScan(std::string_view text, const std::string& file, const kb::PythonCodeNames& names, TorchSignals& torch)
      : m_text(text), m_file(file), m_names(names), m_torch(torch) {
    m_line_starts.push_back(0);
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= text.size() || text[i + 1] != '\n')))
        m_line_starts.push_back(i + 1);
    }
  }

  SourceScan run(const LexLimits& limits) {
    Lexed lx = lex(m_text, limits);
    m_out.problems = std::move(lx.problems);
    m_st = &lx.statements;
    m_trains.assign(lx.statements.size(), false);
    for (std::size_t k = 0; k < lx.statements.size(); ++k) statement(k);
    device_scopes();
    finish_devices();
    std::stable_sort(m_out.facts.begin(), m_out.facts.end(),
                     [](const CodeFact& a, const CodeFact& b) { return a.line < b.line; });
    return std::move(m_out);
  }

 private:
  std::string line_text(int line) const {
    auto i = static_cast<std::size_t>(line - 1);
    if (line < 1 || i >= m_line_starts.size()) return {};
    std::size_t b = m_line_starts[i];
    std::size_t e = i + 1 < m_line_starts.size() ? m_line_starts[i + 1] : m_text.size();
    return display_line(m_text.substr(b, e - b));
  }

  void fact(const char* kind, const char* framework, int line, std::string value) {
    if (m_out.facts.size() >= 64) return;
    m_out.facts.push_back({kind, framework, m_file, line, line_text(line), std::move(value)});
  }

  /// The qualified name of a chain through the file's imports; nullopt when its first name was
  /// not imported.
  std::optional<std::string> qualify(const Chain& c) const {
    auto it = m_alias.find(c.parts.front());
    if (it == m_alias.end()) return std::nullopt;
    std::string q = it->second;
    if (c.parts.size() > 1) q += "." + join(c.parts, 1);
    return normalize(q);
  }

  std::string normalize(std::string q) const {
    for (int round = 0; round < 8; ++round) {
      bool changed = false;
      for (const auto& [from, to] : m_names.module_aliases) {
        if (q == from || (q.size() > from.size() && q.compare(0, from.size(), from) == 0 && q[from.size()] == '.')) {
          q = to + q.substr(from.size());
          changed = true;
        }
      }
      if (!changed) break;
    }
    return q;
  }

  void bind(const std::string& local, const std::string& target) {
    std::string t = normalize(target);
    m_alias[local] = t;
    std::string top = t.substr(0, t.find('.'));
    if (top == "torch") m_torch.imports_torch = true;
    for (const auto& m : m_names.placing_modules)
      if (top == m) m_torch.placing_library = true;
  }

  void imports(const Statement& s) {
    const auto& t = s.tokens;
    if (is_name(t, 0, "import")) {
      std::size_t k = 1;
      while (k < t.size()) {
        auto c = chain_at(t, k);
        if (!c) break;
        std::string mod = join(c->parts);
        k = c->end;
        if (is_name(t, k, "as") && k + 1 < t.size() && t[k + 1].kind == Token::name) {
          bind(t[k + 1].text, mod);
          k += 2;
        } else {
          bind(c->parts.front(), c->parts.front());
        }
        if (m_out.imports.size() < 256) m_out.imports.push_back({0, {mod}, s.line});
        if (!is_op(t, k, ",")) break;
        ++k;
      }
      return;
    }
    if (!is_name(t, 0, "from")) return;
    std::size_t k = 1;
    int level = 0;
    while (k < t.size() && t[k].kind == Token::op && (t[k].text == "." || t[k].text == "...")) {
      level += static_cast<int>(t[k].text.size());
      ++k;
    }
    std::string mod;
    while (k < t.size() && t[k].kind == Token::name && t[k].text != "import" && mod.size() < 512) {
      mod += (mod.empty() ? "" : ".") + t[k].text;
      ++k;
      if (!is_op(t, k, ".")) break;
      ++k;
    }
    if (!is_name(t, k, "import")) return;
    ++k;
    if (is_op(t, k, "(")) ++k;
    ImportRequest req{level, {}, s.line};
    while (k < t.size() && t[k].kind == Token::name) {
      std::string name = t[k].text;
      std::string local = name;
      ++k;
      if (is_name(t, k, "as") && k + 1 < t.size() && t[k + 1].kind == Token::name) {
        local = t[k + 1].text;
        k += 2;
      }
      std::string full = mod.empty() ? name : mod + "." + name;
      if (level == 0) bind(local, full);
      else m_alias[local] = std::string(static_cast<std::size_t>(level), '.') + full;
      if (req.candidates.size() < 32) req.candidates.push_back(full);
      if (!is_op(t, k, ",")) break;
      ++k;
    }
    if (!mod.empty() || level > 0) req.candidates.push_back(mod);
    if (m_out.imports.size() < 256) m_out.imports.push_back(std::move(req));
  }

  void class_def(const Statement& s) {
    const auto& t = s.tokens;
    if (!is_name(t, 0, "class") || t.size() < 2 || t[1].kind != Token::name || !is_op(t, 2, "(")) return;
    if (m_torch.classes.size() >= 4096) return;
    std::vector<std::string> bases;
    for (const auto& a : call_args(t, 2)) {
      if (!a.keyword.empty()) continue;
      auto c = chain_at(t, a.b);
      if (!c || c->end != a.e) continue;
      auto q = qualify(*c);
      bases.push_back(q && m_names.api_is("torch_module_base", *q) ? "torch.nn.Module" : c->parts.back());
    }
    if (!bases.empty()) m_torch.classes.emplace_back(t[1].text, std::move(bases));
  }

  /// A value set for an environment variable by the program.
  void env_set(int line, const std::optional<std::string>& name, const std::optional<std::string>& value, bool is_default) {
    if (!name || !value) return;
    const auto* row = m_names.env_row(*name);
    if (row == nullptr) return;
    std::string kind = row->kind;
    if (is_default && kind == "sets_cuda_visible_devices") kind = "defaults_cuda_visible_devices";
    if (m_out.facts.size() >= 64) return;
    m_out.facts.push_back({kind, row->framework, m_file, line, line_text(line), *value});
  }

  /// Placement of PyTorch work named by an argument (.to(X), device=X).
  void device_argument(const Toks& t, const Arg& a, int line) {
    if (auto v = literal(t, a.b, a.e)) {
      if (!is_cpu_device(*v)) placed(line, tokens_text(t, a.b, a.e));
      return;
    }
    if (a.e == a.b + 1 && is_name(t, a.b, "None")) return;
    auto c = chain_at(t, a.b);
    if (c && c->end == a.e && m_device_args.size() < 256) {
      m_device_args.push_back({join(c->parts), line});
      return;
    }
    placed(line, tokens_text(t, a.b, a.e));
  }

  void placed(int line, const std::string& what) {
    m_torch.places_on_cuda = true;
    if (m_torch.placement_evidence.empty()) m_torch.placement_evidence = fmt::format("{}:{} {}", m_file, line, what);
  }

  void calls(std::size_t idx) {
    const Statement& s = (*m_st)[idx];
    const auto& t = s.tokens;
    for (std::size_t k = 0; k < t.size(); ++k) {
      // Methods on any object: model.fit(...), loss.backward(), x.cuda(), x.to(device).
      if (t[k].kind == Token::name && k > 0 && is_op(t, k - 1, ".") && is_op(t, k + 1, "(")) {
        const auto& m = t[k].text;
        if (m_names.method_is("training", m)) m_trains[idx] = true;
        if (m_names.method_is("torch_backward", m)) m_torch.trains = true;
        if (m_names.method_is("torch_cuda", m)) placed(s.line, "." + m + "()");
        if (m_names.method_is("torch_to", m)) {
          auto args = call_args(t, k + 1);
          const Arg* d = keyword_arg(args, "device");
          if (d == nullptr) d = positional(args, 0);
          if (d != nullptr) device_argument(t, *d, s.line);
        }
      }
      // device=X in any call.
      if (is_name(t, k, "device") && is_op(t, k + 1, "=") && k > 0 && (is_op(t, k - 1, "(") || is_op(t, k - 1, ","))) {
        std::size_t e = k + 2;
        int depth = 0;
        for (std::size_t stop = std::min(t.size(), k + 2 + k_window); e < stop; ++e) {
          if (t[e].kind != Token::op) continue;
          const auto& x = t[e].text;
          if (x == "(" || x == "[" || x == "{") ++depth;
          else if (x == ")" || x == "]" || x == "}") {
            if (depth-- == 0) break;
          } else if (x == "," && depth == 0) {
            break;
          }
        }
        if (e > k + 2) device_argument(t, Arg{"device", k + 2, e}, s.line);
      }
      // A string that names a CUDA device: "cuda", "cuda:0", f"cuda:{rank}".
      if (t[k].kind == Token::string && t[k].text.rfind("cuda", 0) == 0) placed(s.line, "'" + t[k].text + "'");

      auto c = chain_at(t, k);
      if (!c) continue;
      auto q = qualify(*c);
      std::size_t after = c->end;
      bool call = is_op(t, after, "(");
      // Instantiations Name(...) of the program's own classes are resolved once every file is read.
      if (call && m_torch_candidates.size() < 64 && !is_name(t, 0, "class") && !is_name(t, 0, "def")) {
        const std::string& last = c->parts.back();
        if (last[0] >= 'A' && last[0] <= 'Z') m_torch_candidates.push_back({m_file, s.line, line_text(s.line), last + "()"});
      }
      if (!q) continue;
      if (call) call_of(idx, *q, after);
      // os.environ["NAME"] = V is an assignment: handled with the targets.
    }
  }

  void call_of(std::size_t idx, const std::string& q, std::size_t open) {
    const Statement& s = (*m_st)[idx];
    const auto& t = s.tokens;
    const auto& n = m_names;
    auto args = [&] { return call_args(t, open); };
    // os.environ.setdefault / .update, os.putenv
    for (const auto& env : n.apis.count("environ") ? n.apis.at("environ") : std::vector<std::string>{}) {
      if (q == env + ".setdefault") {
        auto a = args();
        env_set(s.line, literal(t, positional(a, 0)), literal(t, positional(a, 1)), true);
      } else if (q == env + ".update") {
        auto a = args();
        for (const auto& x : a) {
          if (!x.keyword.empty()) {
            env_set(s.line, x.keyword, literal(t, &x), false);
          } else if (is_op(t, x.b, "{")) {
            // {"NAME": "V", ...}
            std::size_t k = x.b + 1;
            while (k + 2 < x.e) {
              auto key = t[k].kind == Token::string ? literal(t, k, k + 1) : std::nullopt;
              if (key && is_op(t, k + 1, ":")) {
                std::size_t e = k + 2;
                while (e < x.e && !is_op(t, e, ",") && !is_op(t, e, "}")) ++e;
                env_set(s.line, key, literal(t, k + 2, e), false);
                k = e + 1;
              } else {
                ++k;
              }
            }
          }
        }
      }
    }
    if (n.api_is("putenv", q)) {
      auto a = args();
      env_set(s.line, literal(t, positional(a, 0)), literal(t, positional(a, 1)), false);
    }
    if (n.api_is("tf_set_visible_devices", q)) {
      auto a = args();
      const Arg* devices = positional(a, 0);
      if (devices == nullptr) devices = keyword_arg(a, "devices");
      const Arg* type = positional(a, 1);
      if (type == nullptr) type = keyword_arg(a, "device_type");
      auto tv = literal(t, type);
      bool empty = devices && devices->e == devices->b + 2 && (is_op(t, devices->b, "[") || is_op(t, devices->b, "("));
      bool cpus_only = false;
      if (devices && !empty) {
        for (std::size_t k = devices->b; k < devices->e; ++k) {
          auto c = chain_at(t, k);
          if (!c || !is_op(t, c->end, "(")) continue;
          auto cq = qualify(*c);
          if (!cq || !n.api_is("tf_list_physical_devices", *cq)) continue;
          auto ca = call_args(t, c->end);
          auto dt = literal(t, positional(ca, 0));
          if (dt && to_lower(*dt) == "cpu") cpus_only = true;
        }
      }
      if ((empty && tv && to_lower(*tv) == "gpu") || (cpus_only && (!tv || to_lower(*tv) == "cpu")))
        fact("tf_hides_gpus", "tensorflow", s.line, "GPU");
    }
    if (n.api_is("tf_config_proto", q)) {
      auto a = args();
      if (const Arg* dc = keyword_arg(a, "device_count")) {
        for (std::size_t k = dc->b; k + 2 < dc->e; ++k) {
          auto key = literal(t, k, k + 1);
          if (key && to_lower(*key) == "gpu" && is_op(t, k + 1, ":") && t[k + 2].kind == Token::number &&
              t[k + 2].text == "0")
            fact("tf_hides_gpus", "tensorflow", s.line, "GPU");
        }
      }
    }
    if (n.api_is("jax_config_update", q)) {
      auto a = args();
      auto option = literal(t, positional(a, 0));
      auto value = literal(t, positional(a, 1));
      if (option && value &&
          std::find(n.jax_platform_options.begin(), n.jax_platform_options.end(), *option) != n.jax_platform_options.end())
        fact("sets_jax_platforms", "jax", s.line, *value);
    }
    if (n.api_is("tf_memory_config", q)) {
      auto it = m_first_init.find(s.scope);
      if (it != m_first_init.end())
        fact("tf_memory_growth_late", "tensorflow", s.line,
             fmt::format("after {} (line {})", it->second.second, it->second.first));
    }
    if (n.api_is("tf_initializes", q) && !m_first_init.count(s.scope)) {
      // Kept once the statement's own calls are judged: a statement that initializes and sets
      // memory growth at once reads the initializer first only when it comes first.
      m_pending_init.emplace_back(s.scope, std::make_pair(s.line, q + "()"));
    }
    if (n.api_is("tf_training", q)) m_trains[idx] = true;
    if (n.api_is("torch_model", q) && m_torch.models.size() < 8 && !s.in_class)
      m_torch.models.push_back({m_file, s.line, line_text(s.line), q + "()"});
    if (n.api_is("torch_placement", q)) placed(s.line, q + "()");
    if (n.api_is("torch_set_default_device", q)) {
      auto a = args();
      if (const Arg* d = positional(a, 0)) device_argument(t, *d, s.line);
    }
  }

  void training_by_name(std::size_t idx) {
    const auto& t = (*m_st)[idx].tokens;
    for (std::size_t k = 0; k + 1 < t.size(); ++k) {
      if (t[k].kind != Token::name || !is_op(t, k + 1, "(") || (k > 0 && is_op(t, k - 1, "."))) continue;
      for (const auto& p : m_names.training_function_prefixes)
        if (t[k].text.rfind(p, 0) == 0) m_trains[idx] = true;
    }
  }

  void assignments(const Statement& s) {
    const auto& t = s.tokens;
    std::vector<std::pair<std::size_t, std::size_t>> parts;
    int depth = 0;
    std::size_t b = 0;
    for (std::size_t k = 0; k < t.size(); ++k) {
      if (t[k].kind != Token::op) continue;
      const auto& x = t[k].text;
      if (x == "(" || x == "[" || x == "{") ++depth;
      else if ((x == ")" || x == "]" || x == "}") && depth > 0) --depth;
      else if (x == "=" && depth == 0) {
        parts.emplace_back(b, k);
        b = k + 1;
      } else if (x == "lambda") {
        break;
      }
    }
    if (parts.empty()) return;
    std::size_t vb = b, ve = t.size();
    auto value = literal(t, vb, ve);
    for (auto [tb, te] : parts) {
      // An annotated target: NAME: TYPE = V
      for (std::size_t k = tb; k < te; ++k)
        if (is_op(t, k, ":")) {
          te = k;
          break;
        }
      auto c = chain_at(t, tb);
      if (!c) continue;
      auto q = qualify(*c);
      // os.environ["NAME"] = V
      if (q && m_names.api_is("environ", *q) && is_op(t, c->end, "[") && closing(t, c->end) == te) {
        env_set(s.line, literal(t, c->end + 1, te - 1), value, false);
        continue;
      }
      if (c->end != te) continue;
      // device = "cpu" / device = torch.device("cpu")
      std::string target = join(c->parts);
      std::string last = to_lower(c->parts.back());
      bool cpu = false;
      bool named_device = last.find("device") != std::string::npos;
      if (value) {
        cpu = named_device && is_cpu_device(*value);
      } else if (auto vc = chain_at(t, vb); vc && is_op(t, vc->end, "(") && closing(t, vc->end) == ve) {
        auto vq = qualify(*vc);
        if (vq && m_names.api_is("torch_device", *vq)) {
          auto a = call_args(t, vc->end);
          auto d = literal(t, positional(a, 0));
          cpu = d && is_cpu_device(*d) && positional(a, 1) == nullptr;
          named_device = true;
        }
      }
      if (!named_device) continue;
      auto& seen = m_device_names[target];
      if (!cpu) seen.other = true;
      else if (seen.first_line == 0) seen.first_line = s.line;
    }
  }

  void statement(std::size_t idx) {
    const Statement& s = (*m_st)[idx];
    imports(s);
    class_def(s);
    calls(idx);
    training_by_name(idx);
    assignments(s);
    for (auto& [scope, init] : m_pending_init)
      if (!m_first_init.count(scope)) m_first_init[scope] = init;
    m_pending_init.clear();
    // `with tf.device("/CPU:0"):`
    const auto& t = s.tokens;
    if (s.header && (is_name(t, 0, "with") || (is_name(t, 0, "async") && is_name(t, 1, "with"))) && m_scopes.size() < 32) {
      for (std::size_t k = 1; k < t.size(); ++k) {
        auto c = chain_at(t, k);
        if (!c || !is_op(t, c->end, "(")) continue;
        auto q = qualify(*c);
        if (!q || !m_names.api_is("tf_device", *q)) continue;
        auto d = literal(t, positional(call_args(t, c->end), 0));
        if (d && tf_device_type(*d) == "cpu") m_scopes.emplace_back(idx, *d);
      }
    }
  }

  void device_scopes() {
    const auto& st = *m_st;
    for (const auto& [h, device] : m_scopes) {
      int indent = st[h].indent;
      for (std::size_t j = h + 1; j < st.size() && st[j].indent > indent; ++j) {
        if (m_trains[j]) {
          fact("tf_cpu_device_scope", "tensorflow", st[h].line, device);
          break;
        }
      }
    }
  }

  void finish_devices() {
    for (const auto& [name, seen] : m_device_names) {
      if (seen.other || seen.first_line == 0) continue;
      if (m_torch.cpu_device_names.size() < 64) m_torch.cpu_device_names.push_back(name);
      if (m_torch.cpu_devices.size() < 8)
        m_torch.cpu_devices.push_back({m_file, seen.first_line, line_text(seen.first_line), "cpu"});
    }
    for (auto& d : m_device_args) m_torch.device_args.push_back({m_file, d.second, join_arg(d.first), d.first});
    for (auto& c : m_torch_candidates)
      if (m_torch.candidates.size() < 256) m_torch.candidates.push_back(std::move(c));
  }

  static std::string join_arg(const std::string& s) { return ".to(" + s + ")"; }

  struct DeviceName {
    bool other = false;
    int first_line = 0;
  };

  std::string_view m_text;
  std::string m_file;
  const kb::PythonCodeNames& m_names;
  TorchSignals& m_torch;
  std::vector<std::size_t> m_line_starts;
  const std::vector<Statement>* m_st = nullptr;
  std::vector<bool> m_trains;
  std::map<std::string, std::string> m_alias;
  std::map<int, std::pair<int, std::string>> m_first_init;
  std::vector<std::pair<int, std::pair<int, std::string>>> m_pending_init;
  std::vector<std::pair<std::size_t, std::string>> m_scopes;
  std::map<std::string, DeviceName> m_device_names;
  std::vector<std::pair<std::string, int>> m_device_args;
  std::vector<TorchSignals::Site> m_torch_candidates;
  SourceScan m_out;
};

}  // namespace

SourceScan scan_source(std::string_view text, const std::string& file, const kb::PythonCodeNames& names,
                       TorchSignals& torch, const LexLimits& limits) {
  return FileScan(text, file, names, torch).run(limits);
}

std::vector<CodeFact> torch_facts(const TorchSignals& torch) {
  std::vector<CodeFact> out;
  if (!torch.imports_torch || torch.places_on_cuda || torch.placing_library) return out;
  // .to(X) / device=X with X a name: a placement unless X is a name only ever set to "cpu".
  for (const auto& d : torch.device_args)
    if (std::find(torch.cpu_device_names.begin(), torch.cpu_device_names.end(), d.value) == torch.cpu_device_names.end())
      return out;
  if (!torch.cpu_devices.empty()) {
    for (const auto& d : torch.cpu_devices) out.push_back({"torch_device_cpu", "torch", d.file, d.line, d.code, d.value});
    return out;
  }
  if (!torch.trains) return out;
  // The program's nn.Module subclasses, through any number of its own base classes.
  std::set<std::string> modules{"torch.nn.Module"};
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [cls, bases] : torch.classes)
      if (!modules.count(cls) && std::any_of(bases.begin(), bases.end(), [&](const std::string& b) { return modules.count(b) != 0; })) {
        modules.insert(cls);
        grew = true;
      }
  }
  // The first instantiation of one of the program's own models, else of a library's.
  const TorchSignals::Site* model = nullptr;
  for (const auto& c : torch.candidates)
    if (modules.count(c.value.substr(0, c.value.size() - 2))) {
      model = &c;
      break;
    }
  if (model == nullptr && !torch.models.empty()) model = &torch.models.front();
  if (model != nullptr) out.push_back({"torch_never_on_cuda", "torch", model->file, model->line, model->code, model->value});
  return out;
}

// ---- Notebooks ------------------------------------------------------------------------------

namespace {

/// Bracket nesting of a JSON text outside its strings, to refuse absurd depths before parsing.
int json_depth(std::string_view s) {
  int depth = 0, max = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max = std::max(max, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  for_each_line(s, [&](std::string_view line) { out.emplace_back(line); });
  return out;
}

}  // namespace

NotebookCode notebook_code(std::string_view json_text, const std::string& file, const kb::PythonCodeNames& names) {
  NotebookCode nb;
  if (json_depth(json_text) > 64) {
    nb.problems.push_back("the notebook's JSON nests deeper than 64 levels; not read");
    return nb;
  }
  auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("cells") || !j["cells"].is_array()) {
    nb.problems.push_back("not a Jupyter notebook (nbformat 4 JSON with cells)");
    return nb;
  }
  int cell_no = 0;
  for (const auto& cell : j["cells"]) {
    ++cell_no;
    if (!cell.is_object() || cell.value("cell_type", "") != "code" || !cell.contains("source")) continue;
    std::string src;
    const auto& s = cell["source"];
    if (s.is_string()) {
      src = s.get<std::string>();
    } else if (s.is_array()) {
      for (const auto& part : s)
        if (part.is_string()) src += part.get<std::string>();
    }
    auto lines = split_lines(src);
    bool python = true;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      std::string& l = lines[i];
      std::size_t b = l.find_first_not_of(" \t");
      std::string_view body = b == std::string::npos ? std::string_view{} : std::string_view(l).substr(b);
      if (i == 0 && body.substr(0, 2) == "%%") {
        std::string magic(body.substr(2, body.find_first_of(" \t", 2) == std::string_view::npos
                                             ? std::string_view::npos
                                             : body.find_first_of(" \t", 2) - 2));
        python = std::find(names.notebook_python_cell_magics.begin(), names.notebook_python_cell_magics.end(), magic) !=
                 names.notebook_python_cell_magics.end();
        l.clear();
      } else if (!python) {
        l.clear();
      } else if (!body.empty() && (body[0] == '%' || body[0] == '!' || body[0] == '?')) {
        // %env NAME=VALUE or %env NAME VALUE
        if (body.substr(0, 5) == "%env " && nb.env_facts.size() < 16) {
          std::string rest(body.substr(5));
          std::size_t sep = rest.find_first_of("= ");
          if (sep != std::string::npos) {
            std::string name = rest.substr(0, sep);
            std::string value = rest.substr(sep + 1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.pop_back();
            if (const auto* row = names.env_row(name))
              nb.env_facts.push_back({row->kind, row->framework, fmt::format("{} (cell {})", file, cell_no),
                                      static_cast<int>(i + 1), display_line(body), value});
          }
        }
        l.clear();
      }
      nb.text += l;
      nb.text += '\n';
      nb.origin.emplace_back(cell_no, static_cast<int>(i + 1));
    }
  }
  return nb;
}

// ---- The program named by a command line ----------------------------------------------------

namespace {

namespace fs = std::filesystem;

std::string base_name(const std::string& p) {
  auto s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

std::string absolute(const std::string& cwd, const std::string& p) {
  std::string s = (!p.empty() && p.front() == '/') ? fs::path(p).lexically_normal().string()
                                                   : (fs::path(cwd.empty() ? "/" : cwd) / p).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string parent(const std::string& p) {
  auto s = p.find_last_of('/');
  return s == 0 || s == std::string::npos ? "/" : p.substr(0, s);
}

bool regular(const RootFs& f, const std::string& p) {
  auto st = f.stat(p);
  return st && S_ISREG(st->st_mode);
}

bool ends_with(std::string_view s, std::string_view e) {
  return s.size() >= e.size() && s.substr(s.size() - e.size()) == e;
}

bool interpreter(const kb::PythonCodeNames& n, const std::string& base) {
  for (const auto& i : n.interpreters) {
    if (base.rfind(i, 0) != 0) continue;
    std::string rest = base.substr(i.size());
    if (std::all_of(rest.begin(), rest.end(), [](char c) { return digit(static_cast<unsigned char>(c)) || c == '.'; }))
      return true;
  }
  return false;
}

struct Finder {
  const std::vector<std::string>& argv;
  const std::string& cwd;
  const kb::PythonCodeNames& n;
  const RootFs& f;
  const std::string& path_env;

  ProgramEntry none(std::string why) const {
    ProgramEntry e;
    e.why_not = std::move(why);
    return e;
  }

  ProgramEntry script(const std::string& p, std::string launcher) const {
    ProgramEntry e;
    e.launcher = std::move(launcher);
    e.path = absolute(cwd, p);
    if (!regular(f, e.path)) return none(fmt::format("{} is not a readable file", p));
    e.kind = ends_with(e.path, ".ipynb") ? ProgramEntry::notebook : ProgramEntry::script;
    // sys.path[0] is the script's folder, symbolic links resolved.
    e.base_dir = parent(f.resolve(e.path).value_or(e.path));
    return e;
  }

  ProgramEntry module(const std::string& mod, std::size_t next, std::string launcher) const {
    for (const auto& l : n.launchers)
      if (std::find(l.argv0.begin(), l.argv0.end(), mod) != l.argv0.end()) return launched(l, next, false);
    if (mod == "jupyter") return jupyter(next);
    ProgramEntry e;
    e.launcher = std::move(launcher);
    std::string rel = mod;
    std::replace(rel.begin(), rel.end(), '.', '/');
    std::string base = absolute(cwd, ".");
    for (const auto& cand : {base + "/" + rel + ".py", base + "/" + rel + "/__main__.py"}) {
      if (regular(f, cand)) {
        e.kind = ProgramEntry::script;
        e.path = cand;
        e.base_dir = base;  // python -m: sys.path[0] is the working folder
        return e;
      }
    }
    return none(fmt::format("module {} is not a file under the working folder (installed modules are not read)", mod));
  }

  ProgramEntry python(std::size_t k, std::string launcher) const {
    while (k < argv.size()) {
      const std::string& a = argv[k];
      if (a == "-") return none("the program is read from standard input");
      if (a.size() < 2 || a[0] != '-') return script(a, launcher);
      if (a.rfind("--", 0) == 0) {
        if (std::find(n.python_value_options.begin(), n.python_value_options.end(), a) != n.python_value_options.end()) ++k;
        else if (a == "--version" || a == "--help" || a == "-V") return none("the interpreter runs no program");
        ++k;
        continue;
      }
      // Short options, possibly combined (-uB, -um MODULE, -cCODE).
      for (std::size_t i = 1; i < a.size(); ++i) {
        char c = a[i];
        std::string rest = a.substr(i + 1);
        bool has_rest = !rest.empty();
        if (c == 'c' || c == 'm') {
          std::string value = has_rest ? rest : (k + 1 < argv.size() ? argv[k + 1] : "");
          std::size_t next = has_rest ? k + 1 : k + 2;
          if (value.empty() && !has_rest && k + 1 >= argv.size()) return none("-" + std::string(1, c) + " without a value");
          if (c == 'm') return module(value, next, launcher);
          ProgramEntry e;
          e.kind = ProgramEntry::inline_code;
          e.code = value;
          e.launcher = launcher;
          e.base_dir = absolute(cwd, ".");
          return e;
        }
        if (std::find(n.python_value_options.begin(), n.python_value_options.end(), std::string("-") + c) !=
            n.python_value_options.end()) {
          if (!has_rest) ++k;  // the value is the next word
          break;
        }
        if (c == 'V' || c == 'h') return none("the interpreter runs no program");
      }
      ++k;
    }
    return none("an interactive interpreter: no program file");
  }

  ProgramEntry launched(const kb::PythonCodeNames::Launcher& l, std::size_t k, bool check_sub) const {
    if (check_sub && !l.subcommand.empty()) {
      if (k >= argv.size() || argv[k] != l.subcommand) return none(l.name + ": no script on its command line");
      ++k;
    }
    bool as_module = false;
    while (k < argv.size()) {
      const std::string& a = argv[k];
      if (a.size() > 1 && a[0] == '-') {
        if (a == "--no-python" || a == "--no_python") return none(l.name + " --no-python runs a program that is not Python");
        if (a.find('=') != std::string::npos) ++k;
        else if (std::find(l.module_flags.begin(), l.module_flags.end(), a) != l.module_flags.end()) {
          as_module = true;
          ++k;
        } else if (std::find(l.flags.begin(), l.flags.end(), a) != l.flags.end()) ++k;
        else k += (k + 1 < argv.size() && ends_with(argv[k + 1], ".py")) ? 1u : 2u;
        continue;
      }
      if (as_module) return module(a, k + 1, l.name);
      return script(a, l.name);
    }
    return none(l.name + ": no script on its command line");
  }

  ProgramEntry jupyter(std::size_t k) const {
    if (k >= argv.size()) return none("jupyter without a subcommand");
    std::string sub = argv[k];
    return notebook(k + 1, sub == "nbconvert", "jupyter " + sub);
  }

  ProgramEntry notebook(std::size_t k, bool needs_execute, std::string launcher) const {
    bool execute = !needs_execute;
    std::string nb;
    for (; k < argv.size(); ++k) {
      if (argv[k] == "--execute") execute = true;
      if (nb.empty() && ends_with(argv[k], ".ipynb")) nb = argv[k];
    }
    if (!execute) return none(launcher + " without --execute runs no code");
    if (nb.empty()) return none(launcher + ": no .ipynb on its command line");
    auto e = script(nb, launcher);
    if (e.kind == ProgramEntry::script) e.kind = ProgramEntry::notebook;
    return e;
  }

  /// The file a command word names: a path (against the working folder), or the first regular
  /// file of that name in PATH's folders; empty when there is none.
  std::string program_file(const std::string& prog) const {
    if (prog.find('/') != std::string::npos) {
      std::string path = absolute(cwd, prog);
      return regular(f, path) ? path : std::string();
    }
    for (auto dir : split_path_list(path_env)) {
      if (dir.empty()) continue;
      std::string cand = absolute(cwd, std::string(dir) + "/" + prog);
      if (regular(f, cand)) return cand;
    }
    return {};
  }

  /// The program a file's #! line runs: "/opt/venv/bin/python3", or "python3" after
  /// `/usr/bin/env` with its options and NAME=VALUE settings; empty without a #! line. pip's
  /// console scripts (distlib) whose interpreter path is too long for a #! line (over 127 bytes,
  /// or holding a space) start "#!/bin/sh" and re-run themselves with it on line 2:
  ///   '''exec' "/long/path/bin/python" "$0" "$@"
  /// and that interpreter is the program then.
  std::string shebang_program(const std::string& path) const {
    auto head = f.read_text(path, 4096).value_or("");
    if (head.rfind("#!", 0) != 0) return {};
    std::string_view rest = head;
    std::string_view first = rest.substr(2, rest.find('\n') == std::string_view::npos ? std::string_view::npos : rest.find('\n') - 2);
    std::vector<std::string> words;
    std::size_t b = 0;
    while (b < first.size()) {
      while (b < first.size() && (first[b] == ' ' || first[b] == '\t' || first[b] == '\r')) ++b;
      std::size_t e = b;
      while (e < first.size() && first[e] != ' ' && first[e] != '\t' && first[e] != '\r') ++e;
      if (e > b) words.emplace_back(first.substr(b, e - b));
      b = e;
    }
    std::size_t w = 0;
    if (w < words.size() && base_name(words[w]) == "env") {
      ++w;
      while (w < words.size() && (words[w][0] == '-' || words[w].find('=') != std::string::npos)) ++w;
    }
    if (w >= words.size()) return {};
    if (words[w] != "/bin/sh" || rest.find('\n') == std::string_view::npos) return words[w];
    std::string_view line2 = rest.substr(rest.find('\n') + 1);
    line2 = line2.substr(0, line2.find('\n'));
    constexpr std::string_view distlib = "'''exec' ";
    if (line2.substr(0, distlib.size()) != distlib) return words[w];
    line2.remove_prefix(distlib.size());
    if (!line2.empty() && line2.front() == '"') {
      auto close = line2.find('"', 1);
      return close == std::string_view::npos ? std::string() : std::string(line2.substr(1, close - 1));
    }
    return std::string(line2.substr(0, line2.find(' ')));
  }

  /// The Python interpreter a program file's #! line runs (torchrun, accelerate and jupyter are
  /// such scripts of the environment they were installed into), found as the kernel or env would
  /// find it; empty when it names none or it is not there.
  std::string shebang_interpreter(const std::string& path) const {
    if (path.empty()) return {};
    std::string prog = shebang_program(path);
    return !prog.empty() && interpreter(n, base_name(prog)) ? program_file(prog) : std::string();
  }

  /// A program started by name: found on PATH, a script when its first line names Python.
  ProgramEntry shebang(std::size_t k) const {
    std::string path = program_file(argv[k]);
    if (path.empty()) return none("");
    std::string prog = shebang_program(path);
    if (prog.empty() || !interpreter(n, base_name(prog))) return none("");
    auto e = script(path, "shebang");
    e.interpreter = program_file(prog);
    return e;
  }

  ProgramEntry find() const {
    std::size_t k = 0;
    // env [-i] [-u NAME] [NAME=VALUE]... CMD
    while (k < argv.size() && base_name(argv[k]) == "env") {
      ++k;
      while (k < argv.size() && (argv[k].rfind('-', 0) == 0 || argv[k].find('=') != std::string::npos)) {
        if (argv[k] == "-u" || argv[k] == "--unset" || argv[k] == "-C" || argv[k] == "--chdir") ++k;
        ++k;
      }
    }
    if (k >= argv.size()) return none("no command");
    std::string base = base_name(argv[k]);
    ProgramEntry e;
    if (interpreter(n, base)) {
      e = python(k + 1, base);
      e.interpreter = program_file(argv[k]);
      return e;
    }
    const kb::PythonCodeNames::Launcher* launcher = nullptr;
    for (const auto& l : n.launchers) {
      if (std::find(l.argv0.begin(), l.argv0.end(), base) != l.argv0.end()) {
        launcher = &l;
        break;
      }
    }
    if (launcher != nullptr) e = launched(*launcher, k + 1, true);
    else if (base == "jupyter") e = jupyter(k + 1);
    else if (base.rfind("jupyter-", 0) == 0) e = notebook(k + 1, base == "jupyter-nbconvert", base);
    else if (base == "papermill") e = notebook(k + 1, false, base);
    else return shebang(k);
    // A launcher is a script of the environment it was installed into: its #! names the Python.
    e.interpreter = shebang_interpreter(program_file(argv[k]));
    return e;
  }
};

}  // namespace

ProgramEntry find_program(const std::vector<std::string>& argv, const std::string& cwd, const kb::PythonCodeNames& names,
                          const RootFs& fs, const std::string& path_env) {
  return Finder{argv, cwd, names, fs, path_env}.find();
}

ProgramCode scan_program_code(const std::vector<std::string>& argv, const std::string& cwd, const RootFs& f,
                              const kb::PythonCodeNames& names, const std::string& path_env, const ScanLimits& limits) {
  ProgramCode pc;
  pc.entry = find_program(argv, cwd, names, f, path_env);
  const auto& e = pc.entry;
  if (e.kind == ProgramEntry::none) {
    if (!e.why_not.empty()) pc.notes.push_back("program code not read: " + e.why_not);
    return pc;
  }
  std::string cwd_abs = absolute(cwd, ".");
  while (cwd_abs.size() > 1 && cwd_abs.back() == '/') cwd_abs.pop_back();
  auto shown = [&](const std::string& p) {
    std::string prefix = cwd_abs == "/" ? "/" : cwd_abs + "/";
    return p.rfind(prefix, 0) == 0 ? p.substr(prefix.size()) : p;
  };
  TorchSignals torch;
  std::set<std::string> seen;
  std::size_t total = 0;
  struct Item {
    std::string path;
    int depth;
  };
  std::deque<Item> queue;

  auto follow = [&](const SourceScan& scan, const std::string& from_dir, int depth) {
    if (depth >= limits.max_depth) return;
    for (const auto& req : scan.imports) {
      std::string start = e.base_dir;
      if (req.level > 0) {
        start = from_dir;
        for (int up = 1; up < req.level; ++up) start = parent(start);
        // Relative imports stay inside the program's folder.
        if (start.rfind(e.base_dir, 0) != 0) continue;
      }
      for (const auto& cand : req.candidates) {
        std::string dir = start;
        std::size_t b = 0;
        bool found_any = false;
        int parts = 0;
        while (b <= cand.size() && parts++ < 8) {
          std::size_t dot = cand.find('.', b);
          std::string part = cand.substr(b, dot == std::string::npos ? std::string::npos : dot - b);
          if (part.empty()) break;
          std::string pkg = dir + "/" + part + "/__init__.py";
          std::string mod = dir + "/" + part + ".py";
          if (regular(f, pkg)) {
            queue.push_back({pkg, depth + 1});
            found_any = true;
            dir += "/" + part;
          } else if (regular(f, mod)) {
            queue.push_back({mod, depth + 1});
            found_any = true;
            break;
          } else if (f.is_dir(dir + "/" + part)) {
            dir += "/" + part;  // a namespace package
          } else {
            break;
          }
          if (dot == std::string::npos) break;
          b = dot + 1;
        }
        if (found_any) break;
      }
    }
  };

  auto scan_text = [&](const std::string& text, const std::string& file, const std::string& dir, int depth) {
    auto scan = scan_source(text, file, names, torch);
    for (auto& fact : scan.facts) pc.facts.push_back(std::move(fact));
    for (const auto& p : scan.problems)
      if (pc.notes.size() < 32) pc.notes.push_back(file + ": " + p);
    follow(scan, dir, depth);
  };

  if (e.kind == ProgramEntry::inline_code) {
    pc.files.push_back("-c");
    scan_text(e.code.substr(0, limits.max_file_bytes), "-c", e.base_dir, 0);
  } else if (e.kind == ProgramEntry::notebook) {
    seen.insert(e.path);
    std::string file = shown(e.path);
    pc.files.push_back(file);
    auto text = f.read_text(e.path, limits.max_notebook_bytes);
    if (!text) {
      pc.notes.push_back("program code not read: cannot read " + file);
    } else if (text->size() >= limits.max_notebook_bytes) {
      pc.notes.push_back(fmt::format("{} is larger than {} MiB; not read", file, limits.max_notebook_bytes >> 20));
    } else {
      auto nb = notebook_code(*text, file, names);
      for (const auto& p : nb.problems) pc.notes.push_back(file + ": " + p);
      std::vector<CodeFact> facts = std::move(nb.env_facts);
      auto scan = scan_source(nb.text, file, names, torch);
      for (auto& fact : scan.facts) {
        auto i = static_cast<std::size_t>(fact.line - 1);
        if (fact.line >= 1 && i < nb.origin.size()) {
          fact.file = fmt::format("{} (cell {})", file, nb.origin[i].first);
          fact.line = nb.origin[i].second;
        }
        facts.push_back(std::move(fact));
      }
      pc.facts.insert(pc.facts.end(), facts.begin(), facts.end());
      follow(scan, e.base_dir, 0);
    }
  } else {
    queue.push_back({e.path, 0});
  }

  while (!queue.empty()) {
    Item it = queue.front();
    queue.pop_front();
    std::string real = f.resolve(it.path).value_or(it.path);
    if (!seen.insert(real).second) continue;  // already read (import cycles end here)
    if (static_cast<int>(pc.files.size()) >= limits.max_files) {
      pc.notes.push_back(fmt::format("more than {} local modules: the rest is not read", limits.max_files));
      break;
    }
    if (total >= limits.max_total_bytes) {
      pc.notes.push_back(fmt::format("more than {} MiB of source: the rest is not read", limits.max_total_bytes >> 20));
      break;
    }
    std::string file = shown(it.path);
    auto text = f.read_text(it.path, limits.max_file_bytes);
    if (!text) {
      pc.notes.push_back("cannot read " + file);
      continue;
    }
    if (text->size() >= limits.max_file_bytes)
      pc.notes.push_back(fmt::format("{}: only its first {} KiB read", file, limits.max_file_bytes >> 10));
    total += text->size();
    pc.files.push_back(file);
    scan_text(*text, file, parent(it.path), it.depth);
  }

  auto tf = torch_facts(torch);
  pc.facts.insert(pc.facts.end(), tf.begin(), tf.end());
  return pc;
}

}  // namespace gpudoctor::python
