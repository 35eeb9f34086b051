#!/bin/bash
# The README's C example (sumsq-stream.c, a graph streamed as it is submitted), extracted from
# README.md so that the two cannot drift: compiled with -Wall -Wextra -Werror against the build
# tree (pkg-config dusk, build/pkgconfig/dusk-uninstalled.pc), run, its sum checked against
# NumPy's, and its output line against the one the README shows.
# Usage: test_docs_example.sh SOURCE_DIR BUILD_DIR PYTHON
set -u
src=$1
build=$2
python=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the first ```c block after the example's marker
awk '/^<!-- example: sumsq-stream.c/ {found = 1; next}
     found && /^```c$/ {inside = 1; next}
     inside && /^```$/ {exit}
     inside {print}' "$src/README.md" >"$tmp/sumsq-stream.c"
if ! grep -q "dusk_graph_wait" "$tmp/sumsq-stream.c"; then
    echo "FAIL: the example program sumsq-stream.c was not found in README.md"
    exit 1
fi
if ! flags=$(PKG_CONFIG_PATH=$build/pkgconfig pkg-config --cflags --libs dusk 2>&1); then
    echo "FAIL: pkg-config dusk: $flags"
    exit 1
fi
# shellcheck disable=SC2086 # the flags are words
if ! cc -std=c11 -Wall -Wextra -Werror "$tmp/sumsq-stream.c" -o "$tmp/sumsq-stream" $flags \
    >"$tmp/cc.log" 2>&1; then
    sed 's/^/    /' "$tmp/cc.log"
    echo "FAIL: the README's sumsq-stream.c does not compile with -Wall -Wextra -Werror: $flags"
    exit 1
fi
if ! STARPU_NCPU=2 timeout 120 "$tmp/sumsq-stream" >"$tmp/out" 2>"$tmp/err"; then
    cat "$tmp/err"
    echo "FAIL: sumsq-stream exited non-zero"
    exit 1
fi
want=$("$python" -c '
import numpy as np
t = 0.0
for c in range(8):
    np.random.seed(c)
    x = np.random.rand(1000)
    t += float((x * x).sum())
print(repr(t))')
got=$(sed -n 's/^sum of squares of 8 x 1000 numbers: \(.*\)$/\1/p' "$tmp/out")
if [ -z "$got" ] || ! "$python" -c "import sys; g, w = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(g - w) <= 1e-12 * w else 1)" "$got" "$want"; then
    echo "FAIL: sumsq-stream printed '$(cat "$tmp/out")', NumPy says $want"
    exit 1
fi
if ! grep -qxF "$(cat "$tmp/out")" "$src/README.md"; then
    echo "FAIL: the README does not show the line sumsq-stream prints: $(cat "$tmp/out")"
    exit 1
fi
echo "ok: the README's sumsq-stream.c ($(wc -l <"$tmp/sumsq-stream.c") lines) compiles with -Werror and prints $(cat "$tmp/out") (NumPy: $want)"
