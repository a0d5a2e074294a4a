# Every third-party dependency, found in one place. All come from Debian's packages
# (see README.md); nothing is downloaded at configure time.
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json 3.10 CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(tomlplusplus CONFIG QUIET)
find_package(PkgConfig REQUIRED)
# Debian's re2.pc reports version 0.0.0: do not version-check it.
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
pkg_check_modules(LIBELF REQUIRED IMPORTED_TARGET libelf)
if(NOT TARGET tomlplusplus::tomlplusplus)
  pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
  add_library(tomlplusplus::tomlplusplus ALIAS PkgConfig::TOMLPP)
endif()
find_package(Threads REQUIRED)
