#!/bin/bash
# The README's C example, examples/c/sumsq-stream.c (a graph streamed as it is submitted; the
# README shows the file as it is, test_docs_files checks that), as the build compiled it: run,
# its sum checked against NumPy's, and its output line against the one the README shows.
# Usage: test_docs_example.sh SOURCE_DIR SUMSQ_STREAM PYTHON
set -u
src=$1
exe=$2
python=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! STARPU_NCPU=2 timeout 120 "$exe" >"$tmp/out" 2>"$tmp/err"; then
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
echo "ok: the README's sumsq-stream.c prints $(cat "$tmp/out") (NumPy: $want)"
