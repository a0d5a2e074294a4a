#pragma once
// Pure helpers on absolute paths written as strings (no file system access).

#include <string>
#include <string_view>

namespace gpudoctor {

/// Joins an absolute path and a name: path_join("/a/b", "c") == "/a/b/c".
std::string path_join(std::string_view dir, std::string_view name);
/// The last component of a path.
std::string_view path_basename(std::string_view path);
/// Everything up to the last component ("/a/b/c" -> "/a/b", "/a" -> "/").
std::string path_dirname(std::string_view path);

}  // namespace gpudoctor
