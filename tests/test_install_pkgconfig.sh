#!/bin/bash
# A program of one's own against dusk: install the build into a temporary prefix, compile the
# C API guide's example program (examples/c/sumsq.c, which docs/c-api.md shows as it is) with
# `pkg-config --cflags --libs dusk` (libdusk.so) and `dusk-static` (libdusk.a) and -Wall
# -Wextra -Werror, from the prefix and from the build tree (build/pkgconfig/*-uninstalled.pc),
# run it, and check its answer against NumPy (and the build's own, build/examples/sumsq's); the
# installed dusk-eigh and dusk-trace run too, and the installed Python package computes with the
# installed library.
# Usage: test_install_pkgconfig.sh SOURCE_DIR BUILD_DIR PYTHON
set -u
src=$1
build=$2
python=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

if ! cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log"
    echo "FAIL: cmake --install"
    exit 1
fi
for f in lib/libdusk.a lib/libdusk.so lib/pkgconfig/dusk-static.pc include/dusk.h include/dusk_kernel.h include/dusk_linalg.h \
    lib/pkgconfig/dusk.pc bin/dusk-eigh bin/dusk-reduce bin/dusk-timeit bin/dusk-trace; do
    [ -e "$tmp/prefix/$f" ] || fail "not installed: $f"
done

# the C API guide's program, as a user would copy it
cp "$src/examples/c/sumsq.c" "$tmp/sumsq.c" || exit 1

# NumPy's answer: the same chunks, np.random.seed(c); np.random.rand(M)
want=$("$python" - <<'PY'
import numpy as np
t = 0.0
for c in range(8):
    np.random.seed(c)
    x = np.random.rand(1000)
    t += float((x * x).sum())
print(repr(t))
PY
)

# build_and_run NAME PKG_CONFIG_PATH MODULE: compile sumsq.c, run it, compare with NumPy
build_and_run() {
    local name=$1 pcpath=$2 module=$3 flags
    if ! flags=$(PKG_CONFIG_PATH=$pcpath pkg-config --cflags --libs "$module" 2>"$tmp/err"); then
        fail "$name: pkg-config $module: $(cat "$tmp/err")"
        return
    fi
    if ! cc -std=c11 -Wall -Wextra -Werror "$tmp/sumsq.c" -o "$tmp/sumsq-$name" $flags \
        >"$tmp/cc.log" 2>&1; then
        sed 's/^/    /' "$tmp/cc.log"
        fail "$name: examples/c/sumsq.c does not compile with: $flags"
        return
    fi
    run_and_check "$name" "$tmp/sumsq-$name"
}
# run_and_check NAME PROGRAM: run a build of sumsq.c, compare its sum with NumPy's
run_and_check() {
    local name=$1
    if ! STARPU_NCPU=2 timeout 120 "$2" >"$tmp/out" 2>"$tmp/err"; then
        cat "$tmp/err"
        fail "$name: sumsq exited non-zero"
        return
    fi
    local got
    got=$(sed -n 's/^sum of squares of 8 x 1000 numbers: \(.*\)$/\1/p' "$tmp/out")
    if [ -z "$got" ] || ! "$python" -c "import sys; g, w = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(g - w) <= 1e-12 * w else 1)" "$got" "$want"; then
        fail "$name: sumsq printed '$(cat "$tmp/out")', NumPy says $want"
        return
    fi
    echo "ok: $name: $(cat "$tmp/out") (NumPy: $want)"
}
for module in dusk dusk-static; do
    build_and_run "installed-$module" "$tmp/prefix/lib/pkgconfig" "$module"
    build_and_run "build-tree-$module" "$build/pkgconfig" "$module"
done
run_and_check "the build's own (build/examples)" "$build/examples/sumsq"
# a program that reads an input (dusk_input.h) links too: with libdusk.a that needs HDF5's
# libraries (when the build has HDF5), which dusk-static.pc must name
cat >"$tmp/peek.c" <<'EOF'
#include <dusk_input.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    dusk_input *in;
    char why[512];
    if (argc != 2 || dusk_input_open(argv[1], &in, why, sizeof why) != 0) {
        fprintf(stderr, "peek: %s\n", argc == 2 ? why : "usage: peek FILE");
        return 1;
    }
    printf("%lld matrices of %lld x %lld\n", (long long)dusk_input_count(in),
           (long long)dusk_input_n(in), (long long)dusk_input_n(in));
    dusk_input_close(&in);
    return 0;
}
EOF
"$python" -c "import numpy as np, sys; np.save(sys.argv[1], np.eye(4)[None].repeat(3, 0))" \
    "$tmp/three.npy"
for module in dusk dusk-static; do
    flags=$(PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig pkg-config --cflags --libs "$module")
    if cc -std=c11 -Wall -Wextra -Werror "$tmp/peek.c" -o "$tmp/peek-$module" $flags \
        >"$tmp/cc.log" 2>&1 &&
        [ "$("$tmp/peek-$module" "$tmp/three.npy" 2>&1)" = "3 matrices of 4 x 4" ]; then
        echo "ok: a program reading an input links with $module and runs"
    else
        sed 's/^/    /' "$tmp/cc.log"
        fail "a program reading an input, with $module: $flags"
    fi
done

# the shared build links libdusk.so, the static one does not
if ldd "$tmp/sumsq-installed-dusk" | grep -q "libdusk.so.0 => $tmp/prefix/lib/" &&
    ! ldd "$tmp/sumsq-installed-dusk-static" | grep -q libdusk.so; then
    echo "ok: dusk.pc links libdusk.so from the prefix, dusk-static.pc links libdusk.a"
else
    fail "which libdusk the programs link: $(ldd "$tmp/sumsq-installed-dusk" | grep dusk)"
fi

# the installed programs run
if "$tmp/prefix/bin/dusk-eigh" -n 20 --ntasks 3 -q --trace "$tmp/tr" >"$tmp/out" 2>&1 &&
    grep -q "^Processed 3 tasks" "$tmp/out" &&
    "$tmp/prefix/bin/dusk-trace" "$tmp/tr/trace.json" >"$tmp/out" 2>&1; then
    echo "ok: installed dusk-eigh and dusk-trace run"
else
    cat "$tmp/out"
    fail "installed dusk-eigh or dusk-trace"
fi

# the installed Python package (DUSK_PYTHON_DIR, under the prefix by default) finds the
# installed library by itself, from any directory
pkg=$(find "$tmp/prefix" -path '*/dusk/__init__.py' -print -quit)
# an AddressSanitizer build: the uninstrumented interpreter needs the ASan runtime first
preload=()
asan=$(ldd "$tmp/prefix/lib/libdusk.so.0" | awk '/libasan/ { print $3 }')
[ -z "$asan" ] || preload=(LD_PRELOAD="$asan" ASAN_OPTIONS=detect_leaks=0)
if [ -z "$pkg" ]; then
    echo "skip: the Python package is not installed (DUSK_PYTHON_DIR empty or outside the prefix)"
elif (cd "$tmp" && env -u DUSK_LIBRARY "${preload[@]}" PYTHONPATH="$(dirname "$(dirname "$pkg")")" \
    STARPU_NCPU=2 timeout 120 "$python" -c '
import sys, numpy as np, dusk
assert dusk.library == sys.argv[1], dusk.library
w = dusk.batch_eigh(20, 3)
np.random.seed(2); b = np.random.rand(20, 20)
ref = np.linalg.eigvalsh(b.T @ b)
assert abs(w[2] - ref).max() <= 1e-10 * ref.max(), (w[2], ref)
' "$tmp/prefix/lib/libdusk.so.0") >"$tmp/out" 2>&1; then
    echo "ok: the installed Python package ($pkg) uses the installed libdusk.so"
else
    cat "$tmp/out"
    fail "the installed Python package"
fi

echo "$fails failed"
[ "$fails" -eq 0 ]
