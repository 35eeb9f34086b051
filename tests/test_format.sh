#!/bin/bash
# Every C and CUDA file follows .clang-format (run `clang-format -i` on the files it names).
# Usage: test_format.sh SOURCE_DIR
set -u
# shellcheck source=tests/runlib.sh
. "$(dirname "$0")/runlib.sh"
cd "$1" || exit 1
need clang-format clang-format # skipped without it, failed under CI
files=$(git ls-files '*.c' '*.h' '*.cu' 2>/dev/null || find runtime codelets apps examples tests tools bench \( -name '*.[ch]' -o -name '*.cu' \))
bad=0
for f in $files; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f"
        bad=$((bad + 1))
    fi
done
echo "$bad files not formatted"
[ "$bad" -eq 0 ]
