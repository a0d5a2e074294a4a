# Real ELF shared objects for the ELF reader and loader tests, built by the C compiler with the
# SONAME, NEEDED, RPATH and RUNPATH chosen per fixture. The torch ones copy the layout of a pip
# install of torch 2.11 cu130 (readelf -d of torch/lib/libtorch_cuda.so on the GPU machine, in
# the project's shared/facts/device-survey/survey.txt), shortened to the libraries the tests use.
# Included from tests/CMakeLists.txt after gpudoctor_unit_tests is defined.

set(GPUDOCTOR_ELF_FIXTURES_DIR ${CMAKE_CURRENT_BINARY_DIR}/elf_fixtures)
file(MAKE_DIRECTORY ${GPUDOCTOR_ELF_FIXTURES_DIR})
# One exported function: enough for a real dynamic section; -nostdlib keeps libc out of NEEDED.
file(WRITE ${GPUDOCTOR_ELF_FIXTURES_DIR}/fixture.c.in "int gpudoctor_fixture(void) { return 42; }\n")
configure_file(${GPUDOCTOR_ELF_FIXTURES_DIR}/fixture.c.in ${GPUDOCTOR_ELF_FIXTURES_DIR}/fixture.c COPYONLY)
set(GPUDOCTOR_ELF_FIXTURE_SOURCE ${GPUDOCTOR_ELF_FIXTURES_DIR}/fixture.c)
set(GPUDOCTOR_ELF_FIXTURE_FILES "")

# AArch64 objects (the loader model of arm64 hosts: GH200, Graviton) come from clang with
# --target=aarch64-linux-gnu and lld (Debian's clang and lld packages): -nostdlib needs no arm64 libc.
find_program(GPUDOCTOR_CLANG NAMES clang clang-16 clang-15 clang-14)
find_program(GPUDOCTOR_LLD NAMES ld.lld ld.lld-16 ld.lld-15 ld.lld-14)
if(NOT GPUDOCTOR_CLANG OR NOT GPUDOCTOR_LLD)
  message(FATAL_ERROR "the tests build AArch64 ELF fixtures with clang and lld: apt-get install clang lld "
                      "(scripts/install-deps.sh --tests)")
endif()
set(GPUDOCTOR_AARCH64_CC "${GPUDOCTOR_CLANG} --target=aarch64-linux-gnu -fuse-ld=lld" CACHE STRING
    "C compiler command line that writes AArch64 shared objects (ELF fixtures, scenarios)")

# gpudoctor_elf_fixture(<file name> [SONAME s] [RPATH p | RUNPATH p] [NEEDED fixture...]
#                       [M32 | AARCH64] [LINK_OPTIONS opt...])
# NEEDED names fixtures built before; each adds DT_NEEDED with that fixture's SONAME.
function(gpudoctor_elf_fixture file_name)
  cmake_parse_arguments(FX "M32;AARCH64" "SONAME;RPATH;RUNPATH" "NEEDED;LINK_OPTIONS" ${ARGN})
  set(out ${GPUDOCTOR_ELF_FIXTURES_DIR}/${file_name})
  set(cc ${CMAKE_C_COMPILER})
  set(args -shared -fPIC -nostdlib -o ${out} ${GPUDOCTOR_ELF_FIXTURE_SOURCE})
  if(FX_M32)
    list(APPEND args -m32)
  endif()
  if(FX_AARCH64)
    separate_arguments(cc UNIX_COMMAND "${GPUDOCTOR_AARCH64_CC}")
  endif()
  if(FX_SONAME)
    list(APPEND args "-Wl,-soname,${FX_SONAME}")
  endif()
  # Debian's toolchain writes RUNPATH by default: say which one each fixture gets.
  if(FX_RPATH)
    list(APPEND args "-Wl,--disable-new-dtags" "-Wl,-rpath,${FX_RPATH}")
  endif()
  if(FX_RUNPATH)
    list(APPEND args "-Wl,--enable-new-dtags" "-Wl,-rpath,${FX_RUNPATH}")
  endif()
  list(APPEND args ${FX_LINK_OPTIONS})
  set(deps ${GPUDOCTOR_ELF_FIXTURE_SOURCE})
  if(FX_NEEDED)
    list(APPEND args "-Wl,--no-as-needed")
    foreach(needed ${FX_NEEDED})
      list(APPEND args ${GPUDOCTOR_ELF_FIXTURES_DIR}/${needed})
      list(APPEND deps ${GPUDOCTOR_ELF_FIXTURES_DIR}/${needed})
    endforeach()
  endif()
  add_custom_command(OUTPUT ${out}
    COMMAND ${cc} ${args}
    DEPENDS ${deps}
    COMMENT "ELF fixture ${file_name}"
    VERBATIM)
  set(GPUDOCTOR_ELF_FIXTURE_FILES ${GPUDOCTOR_ELF_FIXTURE_FILES} ${out} PARENT_SCOPE)
endfunction()

# The CUDA libraries of the nvidia-* wheels (nvidia/cu13/lib, nvidia/cudnn/lib, nvidia/nccl/lib).
gpudoctor_elf_fixture(libcudart.so.13 SONAME libcudart.so.13)
gpudoctor_elf_fixture(libcudnn.so.9 SONAME libcudnn.so.9)
gpudoctor_elf_fixture(libnccl.so.2 SONAME libnccl.so.2)
gpudoctor_elf_fixture(libcublasLt.so.13 SONAME libcublasLt.so.13)
gpudoctor_elf_fixture(libcublas.so.13 SONAME libcublas.so.13 NEEDED libcublasLt.so.13 RPATH "$ORIGIN")
# The same soname for the other ELF class: the loader skips it and searches on.
gpudoctor_elf_fixture(libcudart.so.13.i386 SONAME libcudart.so.13 M32)

# torch/lib and the extension module, with torch's RPATH style ($ORIGIN-relative, DT_RPATH).
gpudoctor_elf_fixture(libc10.so SONAME libc10.so)
gpudoctor_elf_fixture(libc10_cuda.so SONAME libc10_cuda.so NEEDED libcudart.so.13 libc10.so
  RPATH "$ORIGIN/../../nvidia/cu13/lib:$ORIGIN")
gpudoctor_elf_fixture(libtorch_cuda.so SONAME libtorch_cuda.so
  NEEDED libc10_cuda.so libcudart.so.13 libnccl.so.2 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libc10.so
  RPATH "$ORIGIN/../../nvidia/cudnn/lib:$ORIGIN/../../nvidia/nccl/lib:$ORIGIN/../../nvidia/cu13/lib:$ORIGIN")
gpudoctor_elf_fixture(_C.cpython-312-x86_64-linux-gnu.so NEEDED libtorch_cuda.so RPATH "$ORIGIN/lib")

# RPATH inheritance and RUNPATH scope: top -> mid -> leaf, leaf only in top's $ORIGIN/deps.
gpudoctor_elf_fixture(libleaf.so.1 SONAME libleaf.so.1)
gpudoctor_elf_fixture(libmid.so SONAME libmid.so NEEDED libleaf.so.1)
gpudoctor_elf_fixture(libtop_rpath.so SONAME libtop_rpath.so NEEDED libmid.so RPATH "$ORIGIN/deps")
gpudoctor_elf_fixture(libtop_runpath.so SONAME libtop_runpath.so NEEDED libmid.so RUNPATH "$ORIGIN/deps")
# DF_1_NODEFLIB: its dependencies skip the default folders and the cache's entries in them.
gpudoctor_elf_fixture(libnodeflib.so SONAME libnodeflib.so NEEDED libleaf.so.1 LINK_OPTIONS "-Wl,-z,nodefaultlib")
# Every dynamic string token form, stored verbatim.
gpudoctor_elf_fixture(libdst.so SONAME libdst.so RPATH "$ORIGIN/a:\${ORIGIN}/b:/opt/$LIB:/opt/\${PLATFORM}/x::/rel")

# An arm64 host's torch tree (torch 2.15.0's manylinux_2_28_aarch64 wheel has the x86-64
# wheel's RPATH layout, tests/fixtures/wheels/torch-2.15.0-aarch64), the wheel's libcudart and
# an x86-64 copy of the same SONAME planted on its RPATH: the loader skips that one.
gpudoctor_elf_fixture(aarch64-libcudart.so.13 SONAME libcudart.so.13 AARCH64)
gpudoctor_elf_fixture(aarch64-libc10_cuda.so SONAME libc10_cuda.so NEEDED aarch64-libcudart.so.13
  RPATH "$ORIGIN/../../nvidia/cu13/lib:$ORIGIN" AARCH64)
gpudoctor_elf_fixture(aarch64-ld-linux-aarch64.so.1 SONAME ld-linux-aarch64.so.1 AARCH64)

add_custom_target(gpudoctor_elf_fixtures DEPENDS ${GPUDOCTOR_ELF_FIXTURE_FILES})
add_dependencies(gpudoctor_unit_tests gpudoctor_elf_fixtures)
target_compile_definitions(gpudoctor_unit_tests PRIVATE
  GPUDOCTOR_ELF_FIXTURES="${GPUDOCTOR_ELF_FIXTURES_DIR}"
  GPUDOCTOR_TEST_CORPUS="${CMAKE_CURRENT_LIST_DIR}/corpus")
