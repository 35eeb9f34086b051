#!/bin/bash
# A process limit (ulimit -v: RLIMIT_AS; ulimit -d: RLIMIT_DATA) is counted by dusk's memory
# check: a run that cannot fit under it is refused with one line and exit 1, before StarPU
# allocates anything (it used to die in one of StarPU's assertions, exit 134); a small run
# still fits.
# Usage: test_resource_ulimit.sh PATH/TO/dusk-reduce
set -u
app=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
# AddressSanitizer maps terabytes of shadow memory at start-up: no program built with it can
# run under ulimit -v (tests/test_resource_rlimit.c checks the same count in that build).
if ldd "$app" 2>/dev/null | grep -q 'libasan\|libtsan'; then
    echo "skip: $(basename "$app") is built with a sanitizer, which cannot run under ulimit -v"
    exit 77
fi

# run LIMIT-FLAG KB ARGS...: the app under the limit; sets rc, err, out
run() {
    local flag=$1 kb=$2
    shift 2
    (
        ulimit "$flag" "$kb" || exit 99
        exec timeout 120 "$app" --no-progress "$@"
    ) >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
}
expect_refused() { # LIMIT-FLAG KB WORDS ARGS...
    local flag=$1 kb=$2 words=$3
    shift 3
    run "$flag" "$kb" "$@"
    local lines
    lines=$(wc -l <"$tmp/err")
    if [ $rc -eq 1 ] && [ "$lines" -eq 1 ] && grep -qF -- "$words" "$tmp/err" && [ ! -s "$tmp/out" ]; then
        echo "ok: ulimit $flag $kb; $(basename "$app") $* -> 1: $(cat "$tmp/err")"
    else
        echo "FAIL: ulimit $flag $kb; $(basename "$app") $* -> exit $rc (want 1), $lines stderr lines (want 1) containing '$words':"
        sed 's/^/    err: /' "$tmp/err"
        sed 's/^/    out: /' "$tmp/out"
        fails=$((fails + 1))
    fi
}

# 1,000,000 chunks held at 8 KiB each: 8 GB, under a 3 GB address space
expect_refused -v 3000000 "ulimit -v or -d" --chunks 1000000 --size 1
expect_refused -v 3000000 "dusk-reduce: --chunks 1000000 --size 1 needs 8192" --chunks 1000000 --size 1
expect_refused -d 3000000 "ulimit -v or -d" --chunks 1000000 --size 1

# the figure given is what is left under the limit, below the limit itself
have=$(sed -n 's/.* only \([0-9]*\) bytes .*/\1/p' "$tmp/err")
if [ -z "$have" ] || [ "$have" -ge $((3000000 * 1024)) ]; then
    echo "FAIL: the memory available (${have:-?}) is not what the limit leaves"
    fails=$((fails + 1))
fi

# a run that fits still runs under the same limit
run -v 3000000 --chunks 8 --size 1000 --ncpu 1
if [ $rc -eq 0 ] && grep -q "^Sum of squares" "$tmp/out"; then
    echo "ok: a small run fits under ulimit -v 3000000"
else
    echo "FAIL: a small run under ulimit -v 3000000 -> exit $rc:"
    sed 's/^/    /' "$tmp/err" "$tmp/out"
    fails=$((fails + 1))
fi
[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all passed"
