#!/usr/bin/env bash
# The code's conventions that a tool checks (docs/CONVENTIONS.md):
#   lint.sh format SRC_DIR          clang-format --dry-run --Werror with the top .clang-format on every
#                                   C++ file of src/ and tests/, except those listed in
#                                   tests/lint/unformatted.txt (older files, formatted as they are touched)
#   lint.sh tidy SRC_DIR BUILD_DIR  clang-tidy with the top .clang-tidy on src/core, src/kb and src/diagnose
#                                   (the build's compile_commands.json), two files at a time
# Exits 125 (CTest: skipped), saying why, when the tool is not installed.
set -euo pipefail
mode=${1:?usage: lint.sh format|tidy SRC_DIR [BUILD_DIR]}
src=${2:?source folder}
cd "$src"
case "$mode" in
  format)
    command -v clang-format >/dev/null || { echo "clang-format not installed: skipped"; exit 125; }
    mapfile -t skip < <(grep -v '^#' tests/lint/unformatted.txt | sed '/^$/d')
    files=()
    while IFS= read -r f; do
      keep=1
      for s in "${skip[@]}"; do [ "$f" = "$s" ] && keep=0 && break; done
      [ $keep = 1 ] && files+=("$f")
    done < <(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' 2>/dev/null ||
             find src tests -name '*.cpp' -o -name '*.hpp')
    for s in "${skip[@]}"; do
      [ -f "$s" ] || { echo "tests/lint/unformatted.txt names $s, which does not exist"; exit 1; }
      if clang-format --style=file --dry-run --Werror "$s" 2>/dev/null; then
        echo "$s is formatted now: remove it from tests/lint/unformatted.txt"; exit 1
      fi
    done
    echo "clang-format: ${#files[@]} files (${#skip[@]} listed as not yet formatted)"
    clang-format --style=file --dry-run --Werror "${files[@]}"
    ;;
  tidy)
    build=${3:?build folder}
    command -v clang-tidy >/dev/null || { echo "clang-tidy not installed: skipped"; exit 125; }
    [ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json"; exit 1; }
    files=(src/core/*.cpp src/kb/*.cpp src/diagnose/*.cpp)
    echo "clang-tidy: ${#files[@]} files"
    printf '%s\0' "${files[@]}" | xargs -0 -n 4 -P 2 clang-tidy -p "$build" --quiet
    ;;
  *) echo "usage: lint.sh format|tidy SRC_DIR [BUILD_DIR]" >&2; exit 2 ;;
esac
