add_library(gpudoctor_warnings INTERFACE)
target_compile_options(gpudoctor_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(GPUDOCTOR_WERROR)
  target_compile_options(gpudoctor_warnings INTERFACE -Werror)
endif()
