#include "core/environment_in_use.hpp"

#include <algorithm>

namespace gpudoctor {

const PythonEnvironment* environment_in_use(const Snapshot& s) {
  auto it = std::find_if(s.python_envs.begin(), s.python_envs.end(), [](const PythonEnvironment& e) { return e.in_use; });
  return it == s.python_envs.end() ? nullptr : &*it;
}

bool site_packages_in_use(const Snapshot& s, std::string_view site_packages) {
  for (const auto& e : s.python_envs)
    if (e.in_use && std::find(e.site_packages.begin(), e.site_packages.end(), site_packages) != e.site_packages.end())
      return true;
  return std::any_of(s.framework_installs.begin(), s.framework_installs.end(), [&](const FrameworkInstall& f) {
    return f.environment_in_use && f.site_packages == site_packages;
  });
}

}  // namespace gpudoctor
