#!/bin/bash
# dusk-eigh's command line: every bad flag and bad value is answered with exactly one line
# on stderr naming it, nothing on stdout, and exit code 2; --help and --version exit 0.
# Usage: test_app_cli.sh PATH/TO/dusk-eigh
set -u
app=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect CODE WORDS ARGS...: exit CODE, one stderr line containing WORDS, empty stdout
expect() {
    local code=$1 words=$2
    shift 2
    "$app" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -ne "$code" ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$words" "$tmp/err" ||
        [ -s "$tmp/out" ]; then
        echo "FAIL: dusk-eigh $* -> exit $rc (want $code), $lines stderr lines (want 1) containing '$words':"
        sed 's/^/    err: /' "$tmp/err"
        sed 's/^/    out: /' "$tmp/out"
        fails=$((fails + 1))
    else
        echo "ok: dusk-eigh $* -> $code: $(cat "$tmp/err")"
    fi
}

expect 2 "-n: 0 is out of range" -n 0
expect 2 "-n: -3 is out of range" -n -3
expect 2 "'abc' is not a whole number" --ntasks abc
expect 2 "--ntasks: 0 is out of range" --ntasks 0
expect 2 "'1e3' is not a whole number" -n 1e3
expect 2 "unknown option '--bogus'" --bogus
expect 2 "unknown option '-x'" -x
expect 2 "needs a value" -n
expect 2 "needs a value" --ntasks
expect 2 "--seed: 4294967296 is out of range" --seed 4294967296
expect 2 "goes past NumPy's largest seed" --seed 4294967295 --ntasks 2
expect 2 "--rng 'mt': expected numpy or philox" --rng mt
expect 2 "--vectors needs --output" --vectors
expect 2 "exclude each other" --vectors --values-only --output "$tmp/o"
expect 2 "unexpected argument 'extra'" extra
expect 2 "--ncpu: -1 is out of range" --ncpu -1
expect 2 "--window: 0 is out of range" --window 0
expect 2 "--blas-threads: 'x' is not a whole number" --blas-threads x
expect 2 "unknown scheduler 'nosuch'" --sched nosuch -n 4 --ntasks 1
expect 2 "$tmp/missing.npy: No such file or directory" --input "$tmp/missing.npy"
STARPU_NCPU=abc expect 2 "STARPU_NCPU='abc' is not a whole number" -n 4
DUSK_WINDOW=-5 expect 2 "DUSK_WINDOW=-5 is out of range" -n 4

# --help and --version: stdout, exit 0
if "$app" --help >"$tmp/out" 2>"$tmp/err" && grep -q "^Usage: dusk-eigh" "$tmp/out" &&
    grep -q -- "--values-only" "$tmp/out" && [ ! -s "$tmp/err" ]; then
    echo "ok: --help"
else
    echo "FAIL: --help"
    fails=$((fails + 1))
fi
if "$app" --version >"$tmp/out" && grep -qE "^dusk-eigh \(dusk\) [0-9]+\.[0-9]+\.[0-9]+$" "$tmp/out"; then
    echo "ok: --version"
else
    echo "FAIL: --version"
    fails=$((fails + 1))
fi

# a good run: the summary line, exit 0; -q prints only results
if "$app" -n 30 --ntasks 5 --verify -q >"$tmp/out" 2>"$tmp/err" &&
    grep -qE "^Processed 5 tasks in [0-9.]+ s \([0-9.]+ it/s\)$" "$tmp/out" &&
    grep -q "^Verified: all 5 tasks passed" "$tmp/out" && [ "$(wc -l <"$tmp/out")" -eq 2 ] &&
    [ ! -s "$tmp/err" ]; then
    echo "ok: quiet run"
else
    echo "FAIL: quiet run"
    cat "$tmp/out" "$tmp/err"
    fails=$((fails + 1))
fi

# the progress bar, forced on although stderr is not a terminal
if "$app" -n 30 --ntasks 7 --progress >"$tmp/out" 2>"$tmp/err" &&
    grep -q "eigh 100%|.*| 7/7 \[" "$tmp/err"; then
    echo "ok: progress bar"
else
    echo "FAIL: progress bar"
    cat "$tmp/err"
    fails=$((fails + 1))
fi

echo "$fails failed"
[ "$fails" -eq 0 ]
