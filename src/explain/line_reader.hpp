#pragma once
// Reads pasted text of any size as clean lines, in one pass with a fixed buffer: ANSI colour and
// cursor sequences removed, carriage returns (progress bars, Windows line ends) taken as line
// breaks, control bytes and invalid UTF-8 replaced, over-long lines cut. Memory does not grow with
// the input.

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace gpudoctor::explain {

/// `s[i]` is ESC: the index just after its sequence (CSI "ESC [ ... final", OSC "ESC ] ... BEL"
/// or "ESC \\", or a two-byte escape), never past a line break.
std::size_t escape_end(std::string_view s, std::size_t i);

/// Cleans one raw line: drops ANSI escape sequences, replaces other control bytes and invalid
/// UTF-8 by a space or U+FFFD, trims trailing blanks.
std::string clean_line(std::string_view raw);

struct ReadStats {
  std::size_t bytes = 0;
  std::size_t lines = 0;
  std::size_t cut_lines = 0;  ///< lines longer than the limit, cut
};

/// Calls `on_line(line_number, text)` for each line of `in` (line numbers from 1). Lines longer
/// than `max_line` bytes are cut there. Returns what was read.
///
/// `may_match`, when given, sees runs of whole lines (up to about 32 KiB, line breaks included)
/// before they are split; when it returns false, the run's lines are counted but not delivered.
/// It must return true for every run holding a line `on_line` would act on (a prefilter).
ReadStats read_lines(std::FILE* in, const std::function<void(std::size_t, std::string_view)>& on_line,
                     std::size_t max_line = 16384,
                     const std::function<bool(std::string_view)>& may_match = nullptr);

/// The same lines as read_lines, from bytes pushed as they arrive (a running program's output):
/// '\n', '\r' and "\r\n" end a line (also when split across two pushes), lines longer than
/// `max_line` are cut there. Memory is bounded by `max_line`.
class LineSplitter {
 public:
  using OnLine = std::function<void(std::size_t, std::string_view)>;
  explicit LineSplitter(OnLine on_line, std::size_t max_line = 16384) : m_on_line(std::move(on_line)), m_max(max_line) {}
  void push(std::string_view bytes);
  /// Delivers an unfinished last line.
  void finish();
  [[nodiscard]] const ReadStats& stats() const { return m_stats; }

 private:
  void deliver();
  OnLine m_on_line;
  std::size_t m_max;
  ReadStats m_stats;
  std::string m_line;
  bool m_cutting = false;
  bool m_prev_cr = false;
};

}  // namespace gpudoctor::explain
