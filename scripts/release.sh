#!/usr/bin/env bash
# Builds the release binary: dist/gpudoctor-VERSION-linux-ARCH, one stripped file that links only
# glibc (2.28 or newer) dynamically; the C++ runtime (zig's libc++), RE2, libelf and zlib are in it.
#
#   scripts/release.sh [x86_64|aarch64]        (default: x86_64)
#
# Toolchain: zig's C/C++ compiler from PyPI (package ziglang) in a venv under build-release/,
# targeting ARCH-linux-gnu.2.28. RE2, elfutils (libelf) and zlib are built from Debian 12's source
# packages (apt-get source, with a private list of deb-src lines under build-release/apt, so the
# machine's apt configuration is left alone); the header-only CLI11, nlohmann-json, fmt and toml++
# are copied from the installed Debian -dev packages. Everything built is kept under
# build-release/ (the dependencies once per architecture), so a second run rebuilds only gpudoctor.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
arch=${1:-x86_64}
case "$arch" in
  x86_64 | aarch64) ;;
  *) echo "usage: scripts/release.sh [x86_64|aarch64]" >&2; exit 2 ;;
esac
jobs=${JOBS:-2}
zig_version=0.17.1   # PyPI ziglang; the version this script was checked with
B=$repo/build-release
T=$B/$arch
P=$T/prefix
target=$arch-linux-gnu.2.28
version=$(sed -n 's/^project(gpudoctor VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
start=$(date +%s)
log() { printf 'release.sh: %s\n' "$*" >&2; }

# --- the toolchain --------------------------------------------------------------------------
if [ ! -x "$B/venv/bin/python" ] || ! "$B/venv/bin/python" -m ziglang version >/dev/null 2>&1; then
  log "creating the zig venv (PyPI ziglang==$zig_version)"
  python3 -m venv "$B/venv"
  "$B/venv/bin/pip" install -q "ziglang==$zig_version"
fi
mkdir -p "$T/bin" "$P/include" "$P/lib"
for tool in cc c++ ar ranlib; do
  case "$tool" in
    cc | c++) cmd="$tool -target $target" ;;
    *) cmd="$tool" ;;
  esac
  printf '#!/bin/sh\nexec "%s" -m ziglang %s "$@"\n' "$B/venv/bin/python" "$cmd" >"$T/bin/zig-$tool"
  chmod +x "$T/bin/zig-$tool"
done
CC=$T/bin/zig-cc CXX=$T/bin/zig-c++ AR=$T/bin/zig-ar RANLIB=$T/bin/zig-ranlib
cat >"$T/toolchain.cmake" <<EOF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR $arch)
set(CMAKE_C_COMPILER $CC)
set(CMAKE_CXX_COMPILER $CXX)
set(CMAKE_AR $AR)
set(CMAKE_RANLIB $RANLIB)
set(CMAKE_FIND_ROOT_PATH $P)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
EOF

# --- the sources: Debian 12's source packages -----------------------------------------------
packages=(re2=20220601+dfsg-1 elfutils=0.188-2.1 zlib=1:1.2.13.dfsg-1)
src=$B/src
if [ ! -f "$src/.fetched" ]; then
  log "fetching Debian source packages: ${packages[*]}"
  mkdir -p "$B/apt/lists/partial" "$src"
  cat >"$B/apt/sources.list" <<'EOF'
deb-src http://deb.debian.org/debian bookworm main
EOF
  aptopt=(-o "Dir::Etc::SourceList=$B/apt/sources.list" -o Dir::Etc::SourceParts=- -o "Dir::State::Lists=$B/apt/lists"
          -o Debug::NoLocking=1)
  apt-get "${aptopt[@]}" update -qq
  (cd "$src" && apt-get "${aptopt[@]}" source --download-only -qq "${packages[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  (cd "$src" && for dsc in *.dsc; do dpkg-source -x "$dsc" >/dev/null; done)
  # Debian strips RE2's generated tables; they are generated as debian/rules does (REBUILD_TABLES),
  # the Unicode ones from Debian's unicode-data.
  [ -f /usr/share/unicode/CaseFolding.txt ] || { echo "missing unicode-data: apt-get install unicode-data" >&2; exit 1; }
  make -s -C "$src"/re2-20220601+dfsg REBUILD_TABLES=1 re2/perl_groups.cc re2/unicode_casefold.cc re2/unicode_groups.cc
  touch "$src/.fetched"
fi

# Header-only libraries, from the installed -dev packages (not /usr/include itself, which would put
# the build machine's glibc headers before zig's 2.28 ones).
for h in CLI nlohmann fmt toml++; do
  [ -d "/usr/include/$h" ] || { echo "missing /usr/include/$h: apt-get install libcli11-dev nlohmann-json3-dev libfmt-dev libtomlplusplus-dev" >&2; exit 1; }
  rm -rf "${P:?}/include/$h" && cp -r "/usr/include/$h" "$P/include/$h"
done

# --- the dependencies, built once per architecture ------------------------------------------
if [ ! -f "$P/lib/libz.a" ]; then
  log "building zlib ($arch)"
  rm -rf "$T/zlib" && cp -r "$src"/zlib-1.2.13.dfsg "$T/zlib"
  (cd "$T/zlib" && CC=$CC AR=$AR RANLIB=$RANLIB CFLAGS="-O2 -fPIC -w" ./configure --static --prefix="$P" >/dev/null &&
     make -j"$jobs" libz.a >/dev/null 2>&1 && cp libz.a "$P/lib/" && cp zlib.h zconf.h "$P/include/")
fi
if [ ! -f "$P/lib/libre2.a" ]; then
  log "building RE2 ($arch)"
  cmake -S "$src"/re2-20220601+dfsg -B "$T/re2" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$T/toolchain.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$P" -DBUILD_SHARED_LIBS=OFF -DRE2_BUILD_TESTING=OFF \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON >/dev/null
  cmake --build "$T/re2" -j "$jobs" >/dev/null
  cmake --install "$T/re2" >/dev/null
fi
if [ ! -f "$P/lib/libelf.a" ]; then
  log "building libelf from elfutils ($arch)"
  rm -rf "$T/elfutils" && mkdir -p "$T/elfutils"
  (cd "$T/elfutils" &&
     "$src"/elfutils-0.188/configure --host="$arch-linux-gnu" CC="$CC" AR="$AR" RANLIB="$RANLIB" \
       CFLAGS="-O2 -fPIC -Wno-error" CPPFLAGS="-I$P/include" LDFLAGS="-L$P/lib" \
       --disable-debuginfod --disable-libdebuginfod --without-bzlib --without-lzma --without-zstd \
       --disable-nls --disable-demangler --disable-symbol-versioning >configure.log 2>&1 ||
       { tail -30 configure.log >&2; exit 1; }
     make -j"$jobs" -C lib libeu.a >make.log 2>&1 && make -j"$jobs" -C libelf libelf.a >>make.log 2>&1 ||
       { tail -30 make.log >&2; exit 1; }
     cp libelf/libelf.a "$P/lib/" &&
     cp "$src"/elfutils-0.188/libelf/{libelf.h,gelf.h,nlist.h} "$P/include/")
fi
deps_done=$(date +%s)

# --- gpudoctor ------------------------------------------------------------------------------
log "building gpudoctor ($arch)"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$T/gpudoctor" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$T/toolchain.cmake" -DCMAKE_BUILD_TYPE=Release \
  -DGPUDOCTOR_STATIC=ON -DGPUDOCTOR_PORTABLE=OFF -DGPUDOCTOR_BUILD_TESTS=OFF "${launcher[@]}" \
  -DCMAKE_EXE_LINKER_FLAGS="-s" >/dev/null
cmake --build "$T/gpudoctor" -j "$jobs" --target gpudoctor >"$T/gpudoctor.log" 2>&1 || { grep -B2 -A8 -m5 "error" "$T/gpudoctor.log" >&2; exit 1; }
mkdir -p dist
out=dist/gpudoctor-$version-linux-$arch
cp "$T/gpudoctor/src/gpudoctor" "$out"
end=$(date +%s)

# --- checks: what the file is, what it needs ------------------------------------------------
machine=$(readelf -h "$out" | sed -n 's/^ *Machine: *//p')
case "$arch" in
  x86_64) [ "$machine" = "Advanced Micro Devices X86-64" ] ;;
  aarch64) [ "$machine" = "AArch64" ] ;;
esac || { echo "$out: wrong machine: $machine" >&2; exit 1; }
needed=$(readelf -d "$out" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
for lib in $needed; do
  case "$lib" in
    libc.so.6 | libm.so.6 | libdl.so.2 | libpthread.so.0 | librt.so.1 | ld-linux-*.so.* ) ;;
    *) echo "$out needs $lib, which is not part of glibc" >&2; exit 1 ;;
  esac
done
newest=$(readelf -V -W "$out" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -t. -k2,2n -k3,3n -u | tail -1)
if [ "$(printf '%s\nGLIBC_2.28\n' "$newest" | sort -t. -k2,2n -k3,3n | tail -1)" != "GLIBC_2.28" ]; then
  echo "$out needs $newest, newer than glibc 2.28" >&2; exit 1
fi
if grep -q '\.symtab' <<<"$(readelf -S "$out")"; then echo "$out is not stripped" >&2; exit 1; fi
size=$(stat -c %s "$out")
if [ "$size" -ge 10000000 ]; then echo "$out is $size bytes, not under 10 MB" >&2; exit 1; fi
echo "$out: $size bytes, needs only ${needed}(newest symbol $newest), stripped;" \
  "dependencies $((deps_done - start)) s, gpudoctor $((end - deps_done)) s"
