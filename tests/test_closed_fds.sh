#!/bin/bash
# A program started with standard input, output or error closed (`>&-`, a daemon, a cron job
# that closed them) must not write its messages into its results: the first file it opens
# would get the lowest free descriptor, 0, 1 or 2, and everything printed to stdout or
# stderr would land in it. dusk_std_fds_open() puts /dev/null on each closed one first: in
# dusk's programs, in dusk_init() and dusk_batch_open(), and in the Python package. For fd 0,
# 1 and 2 closed alone and all three together, each of these runs, with one item failed on
# purpose (so that there are messages to print), must exit 3 (or finish, for Python) with
# outputs NumPy loads, NaN in the failed item's row only, and a finished manifest:
#   (a) dusk-eigh --output, DUSK_FAIL_TASKS=eigh-3;
#   (b) examples/batch/moments.c (the batch layer with a program of its own), stats-3 failed;
#   (c) dusk.map(fn, out=DIR) with fn raising on item 3, progress on.
# Usage: test_closed_fds.sh SOURCE_DIR BUILD_DIR PYTHON DUSK-EIGH
set -u
src=$1
build=$2
python=$3
eigh=$4
# shellcheck source=tests/runlib.sh
. "$(dirname "$0")/runlib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export STARPU_NCPU=2
fails=0

# the outputs DIR NAME... : each loads, NaN in row 3 alone; .dusk.lock is empty; the manifest
# says finished
cat >"$tmp/check.py" <<'PY'
import os, sys
import numpy as np
d = sys.argv[1]
for name in sys.argv[2:]:
    try:
        a = np.load(os.path.join(d, name + ".npy"))
    except Exception as e:
        sys.exit(f"{d}/{name}.npy does not load: {e}")
    rows = sorted({int(i) for i in np.argwhere(np.isnan(a.reshape(len(a), -1)))[:, 0]})
    if rows != [3]:
        sys.exit(f"{d}/{name}.npy: NaN in rows {rows[:10]}, not [3] alone")
# the lock is an empty file: with one descriptor closed it got that one, and the messages
lock = os.path.join(d, ".dusk.lock")
if os.path.exists(lock) and os.path.getsize(lock) != 0:
    sys.exit(f"{lock} holds {os.path.getsize(lock)} bytes of messages: "
             f"{open(lock, 'rb').read(120)!r}")
state = [l.split()[1] for l in open(os.path.join(d, "manifest.txt")) if l.startswith("state ")]
if state != ["finished"]:
    sys.exit(f"{d}/manifest.txt: state {state}, not finished")
PY
loads() { # DIR NAME...
    local out
    out=$("$python" "$tmp/check.py" "$@" 2>&1) || {
        echo "    $out"
        ls -la "$1" | sed 's/^/    /'
        return 1
    }
}

# ---- (b)'s program: examples/batch/moments.c, as the build compiled it -------------------------
moments=$build/examples/moments
if [ ! -x "$moments" ]; then
    echo "FAIL: $moments: not the built moments program"
    moments=
    fails=$((fails + 1))
fi

# (c)'s script: its stdout and stderr may be closed, so it says nothing itself
cat >"$tmp/map.py" <<'PY'
import sys
import numpy as np
import dusk

def item(i):
    if i == 3:
        raise ZeroDivisionError("item three fails on purpose")
    return np.full(4, float(i))

dusk.map(item, 12, out=sys.argv[1], progress=True)
PY

# run CLOSE COMMAND...: COMMAND with the descriptors CLOSE names (0, 1, 2, all) closed, what
# it prints on the others in $tmp/log; prints its exit status
run() {
    local close=$1
    shift
    case $close in
    0) "$@" <&- >"$tmp/log" 2>&1 ;;
    1) "$@" >&- 2>"$tmp/log" ;;
    2) "$@" 2>&- >"$tmp/log" ;;
    all) "$@" <&- >&- 2>&- ;;
    esac
    echo $?
}

for close in 0 1 2 all; do
    d=$tmp/eigh-$close
    rc=$(DUSK_FAIL_TASKS=eigh-3 run $close "$eigh" -n 50 --ntasks 40 --output "$d")
    check "fd $close closed: dusk-eigh with task 3 failed exits 3 (got $rc)" [ "$rc" = 3 ]
    check "fd $close closed: dusk-eigh's eigenvalues.npy loads, NaN in row 3 alone, lock empty" \
        loads "$d" eigenvalues
    if [ -n "$moments" ]; then
        d=$tmp/moments-$close
        rc=$(DUSK_FAIL_TASKS=stats-3 run $close "$moments" --items 40 --size 1000 --output "$d")
        check "fd $close closed: moments with item 3 failed exits 3 (got $rc)" [ "$rc" = 3 ]
        check "fd $close closed: moments.npy and histogram.npy load, NaN in row 3 alone, lock empty" \
            loads "$d" moments histogram
    fi
    d=$tmp/map-$close
    # (DUSK_PY_PRELOAD: in an AddressSanitizer build, the ASan runtime the interpreter needs
    # loaded first, as tests/CMakeLists.txt's python_test_env gives pytest)
    py=("$python")
    [ -z "${DUSK_PY_PRELOAD:-}" ] || py=(env "LD_PRELOAD=$DUSK_PY_PRELOAD"
        "ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0:protect_shadow_gap=0" "$python")
    rc=$(PYTHONPATH=$build/python${PYTHONPATH:+:$PYTHONPATH} run $close "${py[@]}" "$tmp/map.py" "$d")
    check "fd $close closed: dusk.map(out=DIR) with item 3 failing exits 0 (got $rc)" [ "$rc" = 0 ]
    check "fd $close closed: dusk.map's result.npy loads, NaN in row 3 alone, lock empty" loads "$d" result
done

if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all checks passed"
