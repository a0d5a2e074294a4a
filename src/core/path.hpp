#pragma once
// Pure helpers on absolute paths written as strings (no file system access).

#include <string>
#include <string_view>
#include <vector>

namespace gpudoctor {

/// Joins an absolute path and a name: path_join("/a/b", "c") == "/a/b/c".
std::string path_join(std::string_view dir, std::string_view name);
/// The last component of a path.
std::string_view path_basename(std::string_view path);
/// Everything up to the last component ("/a/b/c" -> "/a/b", "/a" -> "/").
std::string path_dirname(std::string_view path);

/// The entries of a colon-separated list (PATH, LD_LIBRARY_PATH, RPATH), empty ones included
/// ("a::b" -> {"a", "", "b"}; "" -> {""}): each caller decides what an empty entry means (the
/// working folder for execvp and ld.so).
std::vector<std::string_view> split_path_list(std::string_view list);
/// The absolute folders of such a list, in order: relative and empty entries dropped.
std::vector<std::string> absolute_folders(std::string_view list);

/// Calls `f(line)` for each line of `text`, without its '\n'; a last line without one counts, an
/// empty text has none. The one line splitter of in-memory text (files read whole, /proc records).
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    f(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
}

/// The complete lines of a buffer that bytes are appended to as they arrive (a child's pipe): calls
/// `f(line)` for each line ended by '\n', without it, and removes those lines from `buffer`, so
/// that an unended last line waits for the next read. `f` returns true to stop there (the lines
/// after it stay in `buffer`). The one splitter of pushed text outside explain's LineSplitter.
template <typename F>
void take_complete_lines(std::string& buffer, F&& f) {
  std::size_t pos = 0;
  for (std::size_t nl; (nl = buffer.find('\n', pos)) != std::string::npos;) {
    std::string_view line(buffer.data() + pos, nl - pos);
    pos = nl + 1;
    if (f(line)) break;
  }
  buffer.erase(0, pos);
}

}  // namespace gpudoctor
