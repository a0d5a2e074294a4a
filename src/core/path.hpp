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

}  // namespace gpudoctor
