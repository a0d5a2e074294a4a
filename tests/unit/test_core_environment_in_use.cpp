// "The environment in use", computed once for the framework and libraries rules and the probe:
// modelled on what collect/python_envs.cpp finds (a venv activated, conda, the system Python, and
// several environments sharing a folder).
#include <gtest/gtest.h>

#include "core/environment_in_use.hpp"

namespace gpudoctor {
namespace {

PythonEnvironment env(std::string prefix, EnvironmentKind kind, std::string found_by, bool in_use,
                      std::vector<std::string> site_packages) {
  PythonEnvironment e;
  e.prefix = std::move(prefix);
  e.kind = kind;
  e.found_by = std::move(found_by);
  e.in_use = in_use;
  e.version = std::string("3.12");
  e.site_packages = std::move(site_packages);
  return e;
}

TEST(EnvironmentInUse, AnActivatedVenv) {
  Snapshot s;
  s.python_envs.push_back(env("/home/ana/proj/.venv", EnvironmentKind::venv, "VIRTUAL_ENV", true,
                              {"/home/ana/proj/.venv/lib/python3.12/site-packages"}));
  s.python_envs.push_back(env("/usr", EnvironmentKind::system, "python3 on PATH (/usr/bin)", false,
                              {"/usr/local/lib/python3.12/dist-packages", "/usr/lib/python3/dist-packages"}));
  ASSERT_NE(environment_in_use(s), nullptr);
  EXPECT_EQ(environment_in_use(s)->prefix, "/home/ana/proj/.venv");
  EXPECT_TRUE(site_packages_in_use(s, "/home/ana/proj/.venv/lib/python3.12/site-packages"));
  EXPECT_FALSE(site_packages_in_use(s, "/usr/lib/python3/dist-packages"));
  EXPECT_FALSE(site_packages_in_use(s, "/home/ana/proj/.venv/lib/python3.12"));  // a folder above is not it
}

TEST(EnvironmentInUse, ACondaEnvironment) {
  Snapshot s;
  s.python_envs.push_back(env("/opt/conda", EnvironmentKind::conda, "conda", false, {"/opt/conda/lib/python3.12/site-packages"}));
  s.python_envs.push_back(env("/opt/conda/envs/tf", EnvironmentKind::conda, "CONDA_PREFIX", true,
                              {"/opt/conda/envs/tf/lib/python3.12/site-packages"}));
  EXPECT_EQ(environment_in_use(s)->prefix, "/opt/conda/envs/tf");
  EXPECT_TRUE(site_packages_in_use(s, "/opt/conda/envs/tf/lib/python3.12/site-packages"));
  EXPECT_FALSE(site_packages_in_use(s, "/opt/conda/lib/python3.12/site-packages"));
}

TEST(EnvironmentInUse, TheSystemPythonAndNone) {
  Snapshot s;
  EXPECT_EQ(environment_in_use(s), nullptr);
  EXPECT_FALSE(site_packages_in_use(s, "/usr/lib/python3/dist-packages"));
  s.python_envs.push_back(env("/usr", EnvironmentKind::system, "python3 on PATH (/usr/bin)", true,
                              {"/usr/local/lib/python3.12/dist-packages", "/usr/lib/python3/dist-packages"}));
  EXPECT_EQ(environment_in_use(s)->kind, EnvironmentKind::system);
  EXPECT_TRUE(site_packages_in_use(s, "/usr/lib/python3/dist-packages"));
}

// Several candidates: a user site on the path of two interpreters, found first through the one not
// in use. The folder is in use (the libraries rule once asked only the first environment listing it).
TEST(EnvironmentInUse, AFolderSharedBySeveralEnvironmentsIsInUseWhenAnyOfThemIs) {
  const std::string user_site = "/home/ana/.local/lib/python3.12/site-packages";
  Snapshot s;
  s.python_envs.push_back(env("/opt/python3.12", EnvironmentKind::system, "python3 on PATH (/opt/python3.12/bin)", false,
                              {user_site, "/opt/python3.12/lib/python3.12/site-packages"}));
  s.python_envs.push_back(env("/usr", EnvironmentKind::system, "--python", true, {user_site, "/usr/lib/python3/dist-packages"}));
  s.python_envs.push_back(env("/home/ana/old/.venv", EnvironmentKind::venv, "the working folder", false,
                              {"/home/ana/old/.venv/lib/python3.12/site-packages"}));
  EXPECT_EQ(environment_in_use(s)->prefix, "/usr");
  EXPECT_TRUE(site_packages_in_use(s, user_site));
  EXPECT_FALSE(site_packages_in_use(s, "/opt/python3.12/lib/python3.12/site-packages"));
  EXPECT_FALSE(site_packages_in_use(s, "/home/ana/old/.venv/lib/python3.12/site-packages"));
}

// The collector compares folders with links resolved (a lib64 link to lib): a framework it marked
// in use is in use under the folder's other spelling too.
TEST(EnvironmentInUse, AFrameworkTheCollectorMarkedInUse) {
  Snapshot s;
  s.python_envs.push_back(env("/opt/venv", EnvironmentKind::venv, "VIRTUAL_ENV", true, {"/opt/venv/lib/python3.12/site-packages"}));
  FrameworkInstall f;
  f.framework = "torch";
  f.site_packages = "/opt/venv/lib64/python3.12/site-packages";
  f.environment = "/opt/venv";
  f.environment_in_use = true;
  s.framework_installs.push_back(f);
  EXPECT_TRUE(site_packages_in_use(s, "/opt/venv/lib64/python3.12/site-packages"));
  s.framework_installs[0].environment_in_use = false;
  EXPECT_FALSE(site_packages_in_use(s, "/opt/venv/lib64/python3.12/site-packages"));
}

}  // namespace
}  // namespace gpudoctor
