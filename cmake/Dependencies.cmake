# Every third-party dependency, found in one place. All come from Debian's packages
# (see README.md); nothing is downloaded at configure time.
#
# GPUDOCTOR_PORTABLE (default ON) makes one binary that runs on other distributions too (the
# GPU hosts users have are rarely the build host's distribution): fmt and toml++ header-only,
# RE2 and libstdc++ linked statically. Only glibc and libelf.so.1 stay dynamic.
option(GPUDOCTOR_PORTABLE "Link fmt, toml++, RE2 and libstdc++ into the binary" ON)
# GPUDOCTOR_STATIC (scripts/release.sh): every library but glibc linked in, found only under the
# toolchain's CMAKE_FIND_ROOT_PATH (RE2, libelf and zlib built there from Debian's source
# packages; the header-only CLI11, nlohmann-json, fmt and toml++ copied from Debian's -dev packages).
option(GPUDOCTOR_STATIC "Link every library except glibc statically (release binary)" OFF)

if(GPUDOCTOR_STATIC)
  find_package(Threads REQUIRED)
  foreach(header CLI/CLI.hpp nlohmann/json.hpp fmt/format.h toml++/toml.h re2/re2.h gelf.h)
    string(MAKE_C_IDENTIFIER "${header}" var)
    find_path(GD_INCLUDE_${var} ${header} REQUIRED)
  endforeach()
  foreach(lib re2 elf z)
    find_library(GD_STATIC_${lib} NAMES lib${lib}.a REQUIRED)
  endforeach()
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 SYSTEM INTERFACE ${GD_INCLUDE_CLI_CLI_hpp})
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  target_include_directories(nlohmann_json::nlohmann_json SYSTEM INTERFACE ${GD_INCLUDE_nlohmann_json_hpp})
  add_library(gd_toml INTERFACE)
  target_include_directories(gd_toml SYSTEM INTERFACE ${GD_INCLUDE_toml___toml_h})
  target_compile_definitions(gd_toml INTERFACE TOML_HEADER_ONLY=1 TOML_EXCEPTIONS=1)
  add_library(gd_fmt INTERFACE)
  target_include_directories(gd_fmt SYSTEM INTERFACE ${GD_INCLUDE_fmt_format_h})
  target_compile_definitions(gd_fmt INTERFACE FMT_HEADER_ONLY=1)
  add_library(gd_re2 INTERFACE)
  target_include_directories(gd_re2 SYSTEM INTERFACE ${GD_INCLUDE_re2_re2_h})
  target_link_libraries(gd_re2 INTERFACE ${GD_STATIC_re2} Threads::Threads)
  add_library(gd_libelf INTERFACE)
  target_include_directories(gd_libelf SYSTEM INTERFACE ${GD_INCLUDE_gelf_h})
  target_link_libraries(gd_libelf INTERFACE ${GD_STATIC_elf} ${GD_STATIC_z})
  return()
endif()

find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json 3.10 CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
# Debian's re2.pc reports version 0.0.0: do not version-check it.
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
pkg_check_modules(LIBELF REQUIRED IMPORTED_TARGET libelf)
find_package(Threads REQUIRED)

# toml++ is used header-only everywhere (Debian's config target would link its shared library).
find_path(TOMLPP_INCLUDE_DIR toml++/toml.h REQUIRED)
add_library(gd_toml INTERFACE)
target_include_directories(gd_toml SYSTEM INTERFACE ${TOMLPP_INCLUDE_DIR})
target_compile_definitions(gd_toml INTERFACE TOML_HEADER_ONLY=1 TOML_EXCEPTIONS=1)

add_library(gd_fmt INTERFACE)
add_library(gd_re2 INTERFACE)
if(GPUDOCTOR_PORTABLE)
  target_link_libraries(gd_fmt INTERFACE fmt::fmt-header-only)
  find_library(RE2_STATIC_LIBRARY NAMES libre2.a)
  if(RE2_STATIC_LIBRARY)
    target_include_directories(gd_re2 SYSTEM INTERFACE ${RE2_INCLUDE_DIRS})
    target_link_libraries(gd_re2 INTERFACE ${RE2_STATIC_LIBRARY} Threads::Threads)
  else()
    target_link_libraries(gd_re2 INTERFACE PkgConfig::RE2)
  endif()
else()
  target_link_libraries(gd_fmt INTERFACE fmt::fmt)
  target_link_libraries(gd_re2 INTERFACE PkgConfig::RE2)
endif()

add_library(gd_libelf INTERFACE)
target_link_libraries(gd_libelf INTERFACE PkgConfig::LIBELF)
