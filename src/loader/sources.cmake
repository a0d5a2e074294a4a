# gd_loader: a model of glibc's dynamic loader search (elf/dl-load.c, elf/dl-cache.c) and a
# parser of /etc/ld.so.cache in both formats (sysdeps/generic/dl-cache.h).
add_library(gd_loader STATIC
  ${CMAKE_CURRENT_LIST_DIR}/ld_so_cache.cpp
  ${CMAKE_CURRENT_LIST_DIR}/resolver.cpp)
target_link_libraries(gd_loader PUBLIC gd_elf gd_sys gd_core PRIVATE gpudoctor_warnings)
target_link_libraries(gd_all INTERFACE gd_loader)
