#!/bin/bash
# tools/scaling.sh at a tiny size: every sweep writes a CSV with the expected rows, consistent
# numbers (speed-up = t1 / t), a Markdown table, and PNG and SVG plots; bad usage exits 2.
# Also dusk-timeit's own refusals and check line, and tools/quickstart.sh's usage.
#   test_tutorial_scaling.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1
build=$2
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
# tools/quickstart.sh's usage: --help on stdout with exit 0, a bad mode on stderr with exit 2
qs_err=${TMPDIR:-/tmp}/qs-err.$$
qs_out=$(bash "$src/tools/quickstart.sh" --help 2>"$qs_err")
qs_rc=$?
case "$qs_out" in
"usage: "*"quickstart.sh run"*) qs_usage=1 ;;
*) qs_usage=0 ;;
esac
[ $qs_rc -eq 0 ] && [ ! -s "$qs_err" ] && [ $qs_usage -eq 1 ] ||
    fail "quickstart.sh --help: want usage on stdout and exit 0; got exit $qs_rc," \
        "stdout '${qs_out:0:60}', stderr '$(head -c 200 "$qs_err")'"
rm -f "$qs_err"
bash "$src/tools/quickstart.sh" bogus >"${TMPDIR:-/tmp}/qs.$$" 2>/dev/null
rc=$?
[ $rc -eq 2 ] && [ ! -s "${TMPDIR:-/tmp}/qs.$$" ] || fail "quickstart.sh bogus: exit $rc, stdout not empty"
rm -f "${TMPDIR:-/tmp}/qs.$$"
# shellcheck source=tests/runlib.sh
. "$(dirname "$0")/runlib.sh"
need gnuplot gnuplot-nox # skipped without it, failed under CI
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cores=$(nproc)

# ---- dusk-timeit ------------------------------------------------------------------------------
timeit=$build/apps/dusk-timeit
out=$("$timeit" -n 60 --repeat 2 --no-progress) || fail "dusk-timeit -n 60 failed: $out"
grep -q '^dusk-timeit: eigh of one n=60 matrix (eigenvalues and eigenvectors), seed=0, 1 BLAS thread' \
    <<<"$out" || fail "dusk-timeit's settings line: $out"
grep -Eq '^[0-9]+ loops?, best of 2: [0-9.]+ (sec|msec|usec) per loop$' <<<"$out" ||
    fail "dusk-timeit's timing line: $out"
grep -q '^Check: .*: passed$' <<<"$out" || fail "dusk-timeit's check line: $out"
t=$("$timeit" -n 60 --repeat 1 -q --values-only --blas-threads 2) || fail "dusk-timeit -q failed"
awk -v t="$t" 'BEGIN { exit !(t > 0 && t < 10) }' || fail "dusk-timeit -q printed '$t'"
for bad in "-n 0" "--repeat 0" "--number -1" "--blas-threads 0" "--bogus" "extra"; do
    # shellcheck disable=SC2086
    "$timeit" $bad >"$tmp/o" 2>"$tmp/e"
    rc=$?
    [ $rc -eq 2 ] || fail "dusk-timeit $bad: exit $rc, not 2"
    [ "$(wc -l <"$tmp/e")" -eq 1 ] || fail "dusk-timeit $bad: not one line on stderr: $(cat "$tmp/e")"
    [ ! -s "$tmp/o" ] || fail "dusk-timeit $bad printed on stdout"
done

# ---- scaling.sh's refusals ---------------------------------------------------------------------
scaling=$src/tools/scaling.sh
for bad in "--bogus" "--sweeps nope" "-n 0" "--sizes 1,,2" "extra"; do
    # shellcheck disable=SC2086
    bash "$scaling" -b "$build" -o "$tmp/bad" $bad >/dev/null 2>"$tmp/e"
    rc=$?
    [ $rc -eq 2 ] || fail "scaling.sh $bad: exit $rc, not 2"
    [ "$(wc -l <"$tmp/e")" -eq 1 ] || fail "scaling.sh $bad: not one line: $(cat "$tmp/e")"
done
bash "$scaling" -b "$tmp/no-build" -o "$tmp/bad" >/dev/null 2>&1
[ $? -eq 1 ] || fail "scaling.sh with no build directory: exit not 1"

# ---- the sweeps --------------------------------------------------------------------------------
bash "$scaling" --tiny -b "$build" -o "$tmp/out" >"$tmp/log" 2>&1 ||
    fail "scaling.sh --tiny failed: $(cat "$tmp/log")"
d=$tmp/out

# check_csv NAME HEADER FIRST-COLUMN-VALUES...: stamp line, header, rows with those x values.
check_csv() {
    local name=$1 header=$2
    shift 2
    local f=$d/$name.csv want got
    [ -f "$f" ] || fail "$name.csv was not written"
    head -n 1 "$f" | grep -Eq '^# machine: .+, [0-9]+ cores, .+, date: [0-9]{4}-[0-9]{2}-[0-9]{2}$' ||
        fail "$name.csv: no machine and date stamp: $(head -n 1 "$f")"
    [ "$(sed -n 2p "$f")" = "$header" ] || fail "$name.csv header: $(sed -n 2p "$f")"
    want=$(printf '%s\n' "$@")
    got=$(tail -n +3 "$f" | cut -d, -f1)
    [ "$want" = "$got" ] || fail "$name.csv rows: want $(tr "\n" " " <<<"$want"), got $(tr "\n" " " <<<"$got")"
    [ -s "$d/$name.md" ] || fail "$name.md was not written"
}

# check_speedup NAME TIME-COLUMN SPEEDUP-COLUMN: each speed-up is the first time over this one.
check_speedup() {
    tail -n +3 "$d/$1.csv" | awk -F, -v tc="$2" -v sc="$3" '
        NR == 1 { t1 = $tc }
        { if (!($tc > 0)) { print "time " $tc " not positive"; exit 1 }
          want = t1 / $tc; if ((want - $sc) ^ 2 > 0.006 ^ 2) { print "speed-up " $sc " != " want; exit 1 } }' ||
        fail "$1.csv: inconsistent numbers: $(cat "$d/$1.csv")"
}

# check_plots NAME: a PNG and an SVG, both real.
check_plots() {
    [ "$(head -c 8 "$d/$1.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
        fail "$1.png is not a PNG"
    [ "$(stat -c %s "$d/$1.png")" -gt 5000 ] || fail "$1.png is too small to hold a plot"
    grep -q '<svg' "$d/$1.svg" || fail "$1.svg is not an SVG"
    grep -q '<path' "$d/$1.svg" || fail "$1.svg draws nothing"
}

threads=()
for ((k = 1; k <= 2 * cores; k *= 2)); do threads+=("$k"); done
check_csv threads "blas_threads,seconds,speedup,ideal,n" "${threads[@]}"
check_speedup threads 2 3
# The ideal line stops at the number of cores.
tail -n +3 "$d/threads.csv" | awk -F, -v c="$cores" '{ w = $1 < c ? $1 : c; if ($4 != w) exit 1 }' ||
    fail "threads.csv: ideal column is not min(threads, cores)"
check_plots threads

check_csv sizes "n,seconds,n3_model" 10 50 100
check_plots sizes

nw=$(tail -n +3 "$d/workers.csv" | wc -l)
[ "$nw" -eq "$cores" ] || { [ "$cores" -gt 4 ] && [ "$nw" -ge 4 ]; } ||
    fail "workers.csv has $nw rows for $cores cores"
check_csv workers "workers,seconds,speedup,ideal,n,ntasks,efficiency" $(seq 1 "$nw")
check_speedup workers 2 3
check_plots workers

if [ -f "$d/ranks.csv" ]; then
    check_csv ranks "ranks,seconds,speedup,ideal,n,ntasks,efficiency" $(seq 1 "$cores")
    check_speedup ranks 2 3
    check_plots ranks
else
    grep -q '^Not available in this build' "$d/ranks.md" ||
        fail "no ranks.csv, and ranks.md does not say why: $(cat "$d/ranks.md" 2>&1)"
fi

if [ "$cores" -gt 1 ]; then
    mw=$((cores < 4 ? cores : 4))
    check_csv mixed "workers,blas_threads,threads,seconds,speedup,n,ntasks" 1 1 "$mw" "$mw"
    check_speedup mixed 4 5
fi
grep -Eq '^.+, [0-9]+ cores, .+, [0-9]{4}-[0-9]{2}-[0-9]{2}$' "$d/machine.txt" ||
    fail "machine.txt: $(cat "$d/machine.txt")"
echo "scaling.sh: every sweep written and consistent"
