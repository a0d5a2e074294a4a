#include "driver/library.hpp"

#include <link.h>
#include <stdlib.h>  // NOLINT: realpath

namespace gpudoctor {

SharedLibrary::SharedLibrary(const char* soname) {
  m_handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (m_handle == nullptr) {
    const char* e = ::dlerror();
    m_error = e != nullptr ? e : "dlopen failed";
  }
}

SharedLibrary::~SharedLibrary() {
  // Driver libraries are not unloaded: some run code at unload that can hang, and the
  // probe's child process exits right after.
}

std::optional<std::string> SharedLibrary::path() const {
  if (m_handle == nullptr) return std::nullopt;
  link_map* map = nullptr;
  if (::dlinfo(m_handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr || map->l_name == nullptr) {
    return std::nullopt;
  }
  char* real = ::realpath(map->l_name, nullptr);
  if (real == nullptr) return std::string(map->l_name);
  std::string out(real);
  ::free(real);  // NOLINT: realpath allocates with malloc
  return out;
}

void* SharedLibrary::symbol(std::initializer_list<const char*> names) const {
  if (m_handle == nullptr) return nullptr;
  for (const char* n : names) {
    if (void* p = ::dlsym(m_handle, n)) return p;
  }
  return nullptr;
}

}  // namespace gpudoctor
