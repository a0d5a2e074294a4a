#include "explain/line_reader.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/utf8.hpp"

namespace gpudoctor::explain {

std::size_t escape_end(std::string_view s, std::size_t i) {
  auto stop = [&](std::size_t k) { return k >= s.size() || s[k] == '\n'; };
  ++i;
  if (stop(i)) return i;
  if (s[i] == '[') {
    ++i;
    while (!stop(i) && !(s[i] >= 0x40 && s[i] <= 0x7E)) ++i;
    return stop(i) ? i : i + 1;
  }
  if (s[i] == ']') {
    auto terminator = [&](std::size_t k) { return s[k] == '\a' || (s[k] == 0x1B && !stop(k + 1) && s[k + 1] == '\\'); };
    while (!stop(i) && !terminator(i)) ++i;
    if (stop(i)) return i;
    return s[i] == '\a' ? i + 1 : i + 2;
  }
  return i + 1;
}

std::string clean_line(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    auto c = static_cast<unsigned char>(raw[i]);
    if (c == 0x1B) {
      i = escape_end(raw, i);
      continue;
    }
    if (c < 0x20 || c == 0x7F) {
      out += c == '\t' ? '\t' : ' ';
      ++i;
      continue;
    }
    size_t n = utf8_sequence_length(raw, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    out.append(raw.substr(i, n));
    i += n;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
  return out;
}

namespace {

constexpr std::size_t k_run = 32 * 1024;

// The last line break in [p, end), or nullptr.
const char* last_break(const char* p, const char* end) {
  for (const char* q = end; q > p;) {
    --q;
    if (*q == '\n' || *q == '\r') return q;
  }
  return nullptr;
}

// Line breaks in [p, end]: each '\n', and each '\r' not followed by '\n'.
std::size_t count_breaks(const char* p, const char* end, const char* buffer_end) {
  auto n = static_cast<std::size_t>(std::count(p, end + 1, '\n'));
  for (const char* q = p; q <= end;) {
    const auto* cr = static_cast<const char*>(std::memchr(q, '\r', static_cast<std::size_t>(end + 1 - q)));
    if (cr == nullptr) break;
    if (cr + 1 >= buffer_end || cr[1] != '\n') ++n;
    q = cr + 1;
  }
  return n;
}

}  // namespace

ReadStats read_lines(std::FILE* in, const std::function<void(std::size_t, std::string_view)>& on_line,
                     std::size_t max_line, const std::function<bool(std::string_view)>& may_match) {
  ReadStats st;
  std::vector<char> buf(std::size_t{1} << 20);
  std::string line;  // only for a line split across two reads
  bool cutting = false;
  bool prev_cr = false;  // a "\r\n" split across two reads is still one break
  auto deliver = [&](std::string_view piece) {
    ++st.lines;
    on_line(st.lines, piece);
  };
  // Appends `piece` to the pending line, up to max_line bytes.
  auto keep = [&](const char* p, std::size_t n) {
    if (cutting) return;
    std::size_t room = max_line > line.size() ? max_line - line.size() : 0;
    std::size_t take = std::min(room, n);
    line.append(p, take);
    if (take < n) {
      cutting = true;
      ++st.cut_lines;
    }
  };
  for (;;) {
    std::size_t n = std::fread(buf.data(), 1, buf.size(), in);
    if (n == 0) break;
    st.bytes += n;
    const char* p = buf.data();
    const char* end = p + n;
    if (prev_cr && *p == '\n') ++p;  // the second half of a "\r\n" cut by the read
    const char* run_end = p;         // lines before it were passed by may_match
    while (p < end) {
      // A run of whole lines the prefilter rules out is counted, not split.
      if (may_match && p >= run_end && line.empty() && !cutting) {
        const char* limit = std::min(end, p + k_run);
        const char* brk = last_break(p, limit);
        if (brk != nullptr && *brk == '\r' && brk + 1 < end && brk[1] == '\n') ++brk;  // keep "\r\n" whole
        if (brk != nullptr) {
          if (!may_match(std::string_view(p, static_cast<std::size_t>(brk + 1 - p)))) {
            st.lines += count_breaks(p, brk, end);
            p = brk + 1;
            if (*brk == '\r' && p < end && *p == '\n') ++p;
            continue;
          }
          run_end = brk + 1;
        }
      }
      // The next break: '\n', or '\r' (a progress bar redrawn, or the first half of "\r\n").
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* stop = nl != nullptr ? nl : end;
      const char* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(stop - p)));
      const char* brk = cr != nullptr ? cr : nl;
      if (brk == nullptr) {
        keep(p, static_cast<std::size_t>(end - p));
        break;
      }
      auto len = static_cast<std::size_t>(brk - p);
      if (line.empty() && !cutting) {
        if (len > max_line) ++st.cut_lines;
        deliver(std::string_view(p, std::min(len, max_line)));
      } else {
        keep(p, len);
        deliver(line);
        line.clear();
        cutting = false;
      }
      p = brk + 1;
      if (*brk == '\r' && p < end && *p == '\n') ++p;
    }
    prev_cr = buf[n - 1] == '\r';
  }
  if (!line.empty() || cutting) deliver(line);
  return st;
}

void LineSplitter::deliver() {
  ++m_stats.lines;
  m_on_line(m_stats.lines, m_line);
  m_line.clear();
  m_cutting = false;
}

void LineSplitter::push(std::string_view bytes) {
  m_stats.bytes += bytes.size();
  std::size_t i = 0;
  if (m_prev_cr && !bytes.empty() && bytes[0] == '\n') i = 1;  // the second half of a "\r\n"
  while (i < bytes.size()) {
    std::size_t brk = bytes.find_first_of("\r\n", i);
    std::size_t end = brk == std::string_view::npos ? bytes.size() : brk;
    if (!m_cutting) {
      std::size_t room = m_max > m_line.size() ? m_max - m_line.size() : 0;
      std::size_t take = std::min(room, end - i);
      m_line.append(bytes.substr(i, take));
      if (take < end - i) {
        m_cutting = true;
        ++m_stats.cut_lines;
      }
    }
    if (brk == std::string_view::npos) break;
    deliver();
    i = brk + 1;
    if (bytes[brk] == '\r' && i < bytes.size() && bytes[i] == '\n') ++i;
  }
  if (!bytes.empty()) m_prev_cr = bytes.back() == '\r';
}

void LineSplitter::finish() {
  if (!m_line.empty() || m_cutting) deliver();
}

}  // namespace gpudoctor::explain
