#!/bin/bash
# A new run into the directory of a finished one that cannot start (a trace directory that is
# a file or holding files dusk did not write, no worker, an unknown scheduler) is refused before any file there is touched: one
# line on stderr, a non-zero exit, and the finished run's files byte-identical afterwards,
# its manifest still saying finished. (dusk-eigh used to open the batch first, which made the
# new run's manifest and empty .partial files, and only then find that dusk could not start:
# the finished results were gone.)
# Usage: test_failed_start.sh PATH/TO/dusk-eigh
set -u
app=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export STARPU_NCPU=2
unset DUSK_TRACE STARPU_SCHED STARPU_NCUDA
fails=0

d=$tmp/d
if ! "$app" -n 10 --ntasks 3 --vectors --output "$d" >"$tmp/first.out" 2>&1; then
    sed 's/^/    /' "$tmp/first.out"
    echo "FAIL: the first run did not finish"
    exit 1
fi
cp -a "$d" "$tmp/ref"
: >"$tmp/afile"

# refused WORDS ENV... -- ARGS...: the run exits non-zero with one line on stderr holding
# WORDS, and leaves d as the finished run left it
refused() {
    local words=$1 envs=()
    shift
    while [ "$1" != -- ]; do
        envs+=("$1")
        shift
    done
    shift
    env "${envs[@]}" "$app" -n 10 --ntasks 3 --vectors --output "$d" "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? lines what="${envs[*]} dusk-eigh --output d $*" bad=
    lines=$(wc -l <"$tmp/err")
    [ "$rc" -ne 0 ] || bad="exit 0"
    [ "$lines" -eq 1 ] && grep -qF -- "$words" "$tmp/err" ||
        bad="$bad; $lines stderr lines, want 1 holding '$words'"
    diff -r "$tmp/ref" "$d" >"$tmp/diff" 2>&1 || bad="$bad; the finished run's files changed"
    if [ -z "$bad" ]; then
        echo "ok: $what -> $rc: $(cat "$tmp/err")"
    else
        echo "FAIL: $what -> exit $rc: ${bad#; }"
        sed 's/^/    err: /' "$tmp/err"
        sed 's/^/    diff: /' "$tmp/diff"
        ls -la "$d" | sed 's/^/    ls: /'
        fails=$((fails + 1))
        rm -rf "$d" && cp -a "$tmp/ref" "$d" # the next case starts from the finished run
    fi
}

refused "afile" -- --trace "$tmp/afile"
refused "afile" DUSK_TRACE="$tmp/afile" --
mkdir "$tmp/notes" && echo "my own notes" >"$tmp/notes/report.html"
refused "report.html is not a file dusk wrote" -- --trace "$tmp/notes"
if [ "$(cat "$tmp/notes/report.html")" = "my own notes" ]; then
    echo "ok: the trace directory's own report.html is untouched"
else
    echo "FAIL: the trace directory's own report.html was replaced"
    fails=$((fails + 1))
fi
refused "STARPU_NCPU" STARPU_NCPU=0 --
refused "no worker" STARPU_NCPU=0 STARPU_NCUDA=0 -- --rng philox
refused "unknown scheduler 'nosuch'" -- --sched nosuch
refused "unknown scheduler 'nosuch'" STARPU_SCHED=nosuch --

if grep -qx "state finished" "$d/manifest.txt"; then
    echo "ok: the manifest still says finished"
else
    echo "FAIL: the manifest no longer says finished: $(grep '^state' "$d/manifest.txt")"
    fails=$((fails + 1))
fi
if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all checks passed"
