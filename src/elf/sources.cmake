# gd_elf: ELF headers and dynamic sections (SONAME, NEEDED, RPATH, RUNPATH) on libelf, and the
# loader's dynamic string tokens ($ORIGIN, $LIB, $PLATFORM).
add_library(gd_elf STATIC
  ${CMAKE_CURRENT_LIST_DIR}/elf_file.cpp
  ${CMAKE_CURRENT_LIST_DIR}/dynamic_string_tokens.cpp)
target_link_libraries(gd_elf PUBLIC gd_sys gd_core PRIVATE gd_libelf gpudoctor_warnings)
target_link_libraries(gd_all INTERFACE gd_elf)
