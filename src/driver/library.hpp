#pragma once
// A shared library opened with dlopen, and a table of its functions filled from a symbol list.

#include <dlfcn.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace gpudoctor {

class SharedLibrary {
 public:
  /// dlopen(`soname`, RTLD_NOW | RTLD_LOCAL). Check `loaded()`; `error()` holds dlerror().
  explicit SharedLibrary(const char* soname);
  ~SharedLibrary();
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  [[nodiscard]] bool loaded() const { return m_handle != nullptr; }
  [[nodiscard]] const std::string& error() const { return m_error; }
  /// The file the loader picked, symbolic links resolved.
  [[nodiscard]] std::optional<std::string> path() const;
  /// The first of `names` the library exports, or nullptr.
  [[nodiscard]] void* symbol(std::initializer_list<const char*> names) const;

  /// Fills `fn` with the first exported name of `names`; records the names of missing ones.
  template <typename Fn>
  void bind(Fn*& fn, std::initializer_list<const char*> names) {
    fn = reinterpret_cast<Fn*>(symbol(names));  // NOLINT: dlsym returns object pointers
    if (fn == nullptr) m_missing.emplace_back(*names.begin());
  }
  [[nodiscard]] const std::vector<std::string>& missing_symbols() const { return m_missing; }

 private:
  void* m_handle = nullptr;
  std::string m_error;
  std::vector<std::string> m_missing;
};

}  // namespace gpudoctor
