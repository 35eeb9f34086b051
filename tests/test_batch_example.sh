#!/bin/bash
# The docs' own batch ("Your own batch", docs/batch.md): examples/batch/moments.c, as the build
# compiled it (the page shows the file as it is; test_docs_files checks that), run: its outputs
# against NumPy; killed with SIGKILL at random moments,
# during the first run and during resumes, each time with every item the manifest lists
# holding its final rows, and resumed to outputs byte-identical to an uninterrupted run;
# stopped once with SIGINT (exit 130) and resumed by the command it printed, run from another
# directory; items failed on purpose (NaN rows, failures.json, exit 3) and resumed; and under
# `mpirun -np 2`, byte-identical to one process (skipped with a message without mpirun).
# The batch is sized from a short calibration run, then from the reference run itself, so that
# a whole run computes for about 4 s on 2 workers (DUSK_TEST_SECONDS; the calibration's size
# times DUSK_TEST_SCALE, as in tests/runlib.py); the runs that are killed or stopped have one
# worker (the outputs are the same bits whatever the workers and chunks), so that they last
# twice as long: the kills need the manifest's saves, about once a second, to land mid-run
# even when the machine's load drops meanwhile. The SIGINT comes once the run is under way.
# Usage: test_batch_example.sh MOMENTS PYTHON
set -u
exe=$1
python=$2
# shellcheck source=tests/runlib.sh
. "$(dirname "$0")/runlib.sh"
tmp=$(mktemp -d)
bg=
trap '[ -z "$bg" ] || kill -9 "$bg" 2>/dev/null; rm -rf "$tmp"' EXIT
export STARPU_NCPU=2
fails=0
show() { sed 's/^/    /' "$@"; }

if [ ! -x "$exe" ]; then
    echo "FAIL: $exe: not the built moments program"
    exit 1
fi

# ---- helpers (and done_count, state_of from runlib.sh) ------------------------------------------
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
same_outputs() { # DIR: byte-identical to the reference, named, nothing .partial left
    cmp -s "$tmp/ref/moments.npy" "$1/moments.npy" &&
        cmp -s "$tmp/ref/histogram.npy" "$1/histogram.npy" &&
        [ -z "$(find "$1" -name '*.partial')" ]
}
# PYTHON helper: numpy REF T M S B (items against NumPy), listed DIR REF (every item the
# manifest lists has its final rows in DIR's files, .partial or named), failed DIR REF IDS
cat >"$tmp/check.py" <<'PY'
import json, os, sys
import numpy as np
sys.path.insert(0, os.environ["DUSK_TESTS"])
import runlib

def load(d, name):
    p = os.path.join(d, name + ".npy")
    return np.load(p if os.path.exists(p) else p + ".partial")

def listed_ids(d):
    return sorted(runlib.manifest_ids(runlib.manifest_fields(os.path.join(d, "manifest.txt")).get("ids", "")))

what = sys.argv[1]
if what == "numpy":
    d, t, m, s, b = sys.argv[2], *map(int, sys.argv[3:7])
    mom, hist = load(d, "moments"), load(d, "histogram")
    assert mom.shape == (t, 4) and hist.shape == (t, b), (mom.shape, hist.shape)
    worst = 0.0
    for i in sorted(set(range(0, t, max(1, t // 300))) | {t - 1}):
        np.random.seed(s + i)
        x = np.random.rand(m)
        mean = x.mean()
        dev = x - mean
        d2 = dev * dev
        c2 = d2.mean()
        want = np.array([mean, c2, (d2 * dev).mean() / c2**1.5, (d2 * d2).mean() / c2**2 - 3])
        counts = np.bincount(np.minimum((x * b).astype(np.int64), b - 1), minlength=b)
        if not (hist[i] == counts).all():
            sys.exit(f"item {i}: histogram {hist[i]} != NumPy's {counts}")
        err = np.abs(mom[i] - want).max()
        if not err <= 1e-11:
            sys.exit(f"item {i}: moments {mom[i]} != NumPy's {want} (max error {err:.2e})")
        worst = max(worst, err)
    print(f"moments within {worst:.1e} of NumPy's, histograms equal")
elif what == "listed":
    d, ref = sys.argv[2], sys.argv[3]
    ids = listed_ids(d)
    for name in ("moments", "histogram"):
        got, want = load(d, name), np.load(os.path.join(ref, name + ".npy"))
        bad = [i for i in ids if got[i].tobytes() != want[i].tobytes()]
        if bad:
            sys.exit(f"{name}: the manifest lists {len(bad)} items whose rows are not the "
                     f"final ones, first {bad[:5]}")
    print(f"{len(ids)} listed items hold their final rows")
elif what == "failed":
    d, ref, ids = sys.argv[2], sys.argv[3], sorted(map(int, sys.argv[4].split(",")))
    for name in ("moments", "histogram"):
        got, want = np.load(os.path.join(d, name + ".npy")), np.load(os.path.join(ref, name + ".npy"))
        nan = [i for i in range(len(got)) if np.isnan(got[i]).all()]
        if nan != ids:
            sys.exit(f"{name}: NaN rows {nan}, expected {ids}")
        keep = [i for i in range(len(got)) if i not in ids]
        if got[keep].tobytes() != want[keep].tobytes():
            sys.exit(f"{name}: the rows of the items that did not fail differ from a clean run's")
    failed = sorted(f["task"] for f in json.load(open(os.path.join(d, "failures.json")))["failures"])
    if failed != ids:
        sys.exit(f"failures.json lists {failed}, expected {ids}")
    print(f"rows {ids} NaN in both outputs and in failures.json, the others a clean run's")
PY
pycheck() { DUSK_TESTS="$(cd "$(dirname "$0")" && pwd)" "$python" "$tmp/check.py" "$@"; }
check_py() { # what, then pycheck's arguments: its line joins the message
    local what=$1 said
    shift
    said=$(pycheck "$@" 2>&1)
    check "$what: $said" [ $? -eq 0 ]
}

# ---- the size of the batch: about 4 s of computing ------------------------------------------------
m=20000 s=1234 b=16
secs_wanted=${DUSK_TEST_SECONDS:-4}
cal=$("$python" -c "import sys; print(max(1, round(400 * float(sys.argv[1]))))" "${DUSK_TEST_SCALE:-1}")
"$exe" --items "$cal" --size $m --seed $s --bins $b --output "$tmp/cal" >"$tmp/cal.out" 2>&1
rate=$(sed -n "s/^Processed $cal samples in .* (\([0-9.]*\) it\/s)$/\1/p" "$tmp/cal.out")
if [ -z "$rate" ]; then
    show "$tmp/cal.out"
    echo "FAIL: the calibration run"
    exit 1
fi
t=$("$python" -c "import sys; print(min(200000, max(500, int(float(sys.argv[1]) * float(sys.argv[2])))))" \
    "$rate" "$secs_wanted")
# the reference: uninterrupted; a machine that became faster gets a larger batch
for try in 1 2 3 4; do
    args=(--items "$t" --size $m --seed $s --bins $b)
    rm -rf "$tmp/ref"
    "$exe" "${args[@]}" --output "$tmp/ref" >"$tmp/ref.out" 2>&1
    rc=$?
    secs=$(sed -n "s/^Processed $t samples in \([0-9.]*\) s .*/\1/p" "$tmp/ref.out")
    if [ $rc -ne 0 ] || [ -z "$secs" ]; then
        show "$tmp/ref.out"
        echo "FAIL: the reference run (exit $rc)"
        exit 1
    fi
    more=$("$python" -c "import sys; print(0 if float(sys.argv[1]) >= 0.875 * float(sys.argv[2]) else 1)" \
        "$secs" "$secs_wanted")
    [ "$more" -eq 1 ] && [ $try -lt 4 ] || break
    t=$("$python" -c "import sys; t, s, w = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(min(200000, int(t * min(4, (w + 0.5) / max(s, 0.01)))))" "$t" "$secs" "$secs_wanted")
done
echo "batch: ${args[*]} (the reference run computed for $secs s)"
check_py "the reference run's outputs against NumPy" numpy "$tmp/ref" "$t" $m $s $b
check "the reference run: one summary through the batch" \
    [ "$(grep -c "^Processed $t samples in " "$tmp/ref.out")" -eq 1 ]
check "the reference run: state finished, $t done" \
    [ "$(state_of "$tmp/ref")" = finished -a "$(done_count "$tmp/ref")" -eq "$t" ]

# ---- SIGKILL at random moments, resumed each time ------------------------------------------------
# progress: once the manifest on disk lists more items than before the start (it is saved about
# once a second), then 0-300 ms; early: 0-700 ms after the start (often during start-up)
kdir=$tmp/killed
landed=0 landed_progress_resume=0 previous=0 monotonic=1 n=0
kill_once() { # how, then the program's arguments
    local how=$1 before ms rc w
    shift
    n=$((n + 1))
    before=$(done_count "$kdir")
    STARPU_NCPU=1 "$exe" "$@" >"$tmp/kill$n.out" 2>&1 &
    bg=$!
    if [ "$how" = progress ]; then
        for ((w = 0; w < 2400; w++)); do
            kill -0 "$bg" 2>/dev/null || break
            [ "$(done_count "$kdir")" -gt "$before" ] && break
            sleep 0.05
        done
        ms=$((RANDOM % 300))
    else
        ms=$((RANDOM % 700))
    fi
    sleep_ms $ms
    kill -9 "$bg" 2>/dev/null
    wait "$bg" 2>/dev/null
    rc=$?
    bg=
    local now
    now=$(done_count "$kdir")
    [ "$now" -ge "$previous" ] || monotonic=0
    previous=$now
    if [ $rc -eq 137 ]; then
        landed=$((landed + 1))
        [ "$how" = progress ] && [ "$n" -gt 1 ] && [ "$now" -gt "$before" ] &&
            landed_progress_resume=$((landed_progress_resume + 1))
        echo "kill $n ($how, +$ms ms): killed with $now of $t items in the manifest"
        if [ -e "$kdir/manifest.txt" ]; then
            check_py "kill $n: every item the manifest lists holds its final rows" \
                listed "$kdir" "$tmp/ref"
        fi
    else
        echo "kill $n ($how, +$ms ms): the run had ended (exit $rc) with $now of $t"
        [ $rc -eq 0 ] || show "$tmp/kill$n.out"
    fi
    return $rc
}
kill_once progress "${args[@]}" --output "$kdir"
check "the first run was killed mid-run (not finished before it)" \
    [ "$(state_of "$kdir")" != finished -a "$(done_count "$kdir")" -gt 0 ]
for how in progress early early progress; do
    kill_once $how "${args[@]}" --resume "$kdir"
done
"$exe" "${args[@]}" --resume "$kdir" >"$tmp/final.out" 2>&1
rc=$?
check "the last resume exits 0 (got $rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || show "$tmp/final.out"
check "at least 3 of the $n kills landed mid-run ($landed)" [ $landed -ge 3 ]
check "a resume was killed after saving progress of its own ($landed_progress_resume times)" \
    [ $landed_progress_resume -ge 1 ]
check "the manifest's count never went down across the kills" [ $monotonic -eq 1 ]
check "after $n SIGKILLs and resumes: outputs byte-identical to the uninterrupted run" \
    same_outputs "$kdir"
check "after the kills: state finished, $t done" \
    [ "$(state_of "$kdir")" = finished -a "$(done_count "$kdir")" -eq "$t" ]

# ---- SIGINT: a graceful stop, and the printed command run from elsewhere ------------------------
mkdir -p "$tmp/here" "$tmp/elsewhere"
(cd "$tmp/here" && export STARPU_NCPU=1 && exec "$exe" "${args[@]}" --output int) >"$tmp/int.out" \
    2>"$tmp/int.err" &
bg=$!
wait_under_way "$bg" "$tmp/here/int" "SIGINT" # some items saved, so that it stops mid-run
sleep_ms $((RANDOM % 500))
kill -INT "$bg"
wait "$bg"
rc=$?
bg=
check "SIGINT: exit 130 (got $rc)" [ $rc -eq 130 ]
saved=$(sed -n "s/^moments: stopped: \([0-9]*\) of $t samples done and saved in int$/\1/p" \
    "$tmp/int.err")
check "SIGINT: it says how many items it saved (${saved:-none}), as the manifest does" \
    [ -n "$saved" -a "$saved" = "$(done_count "$tmp/here/int")" ]
check "SIGINT: it stopped mid-run (${saved:-?} of $t saved)" \
    [ "${saved:-0}" -gt 0 -a "${saved:-0}" -lt "$t" ]
check "SIGINT: the state in the manifest is interrupted" [ "$(state_of "$tmp/here/int")" = interrupted ]
cmd=$(sed -n 's/^moments: to resume: //p' "$tmp/int.err")
check "SIGINT: the resume command names the program and the directory by absolute paths" \
    [ "${cmd%% *}" = "$exe" -a "${cmd##* }" = "$tmp/here/int" ]
[ $rc -eq 130 ] && [ -n "$cmd" ] || show "$tmp/int.err"
(cd "$tmp/elsewhere" && eval "$cmd") >"$tmp/int2.out" 2>&1
rc=$?
check "the printed command, run from another directory, resumes and exits 0 (got $rc)" \
    [ $rc -eq 0 ]
check "... starting from the $saved items saved" \
    grep -q "^moments: resuming $tmp/here/int: $saved of $t samples already done" "$tmp/int2.out"
check "after SIGINT and the printed command: outputs byte-identical to the uninterrupted run" \
    same_outputs "$tmp/here/int"
[ $rc -eq 0 ] || show "$tmp/int2.out"

# ---- items that fail: NaN rows, failures.json, exit 3, and a resume that completes them ----------
small=(--items 300 --size 1000 --seed 7 --bins 8)
"$exe" "${small[@]}" --output "$tmp/clean" >/dev/null 2>&1
DUSK_FAIL_TASKS=gen-46,stats-100 "$exe" "${small[@]}" --output "$tmp/fail" >"$tmp/fail.out" 2>&1
rc=$?
check "two items failed on purpose: exit 3 (got $rc)" [ $rc -eq 3 ]
check_py "... the rows" failed "$tmp/fail" "$tmp/clean" 46,100
check "... the summary counts them" grep -q "^Processed 300 samples in .*; 2 FAILED" "$tmp/fail.out"
"$exe" "${small[@]}" --resume "$tmp/fail" >"$tmp/fail2.out" 2>&1
rc=$?
check "... resumed without the failures: exit 0 (got $rc)" [ $rc -eq 0 ]
completed() {
    cmp -s "$tmp/clean/moments.npy" "$tmp/fail/moments.npy" &&
        cmp -s "$tmp/clean/histogram.npy" "$tmp/fail/histogram.npy" && [ ! -e "$tmp/fail/failures.json" ]
}
check "... then the outputs are a clean run's, and failures.json is gone" completed
"$exe" --items 5 --size 1 --output "$tmp/flat" >/dev/null 2>"$tmp/flat.err"
rc=$?
check "samples of one number: the kernel fails each item (exit 3, got $rc; the reason in failures.json)" \
    [ $rc -eq 3 -a "$(grep -c 'numbers are all equal' "$tmp/flat/failures.json" 2>&1)" = 5 ]
"$exe" --items 300 --size 999 --seed 7 --bins 8 --resume "$tmp/fail" >/dev/null 2>"$tmp/other.err"
rc=$?
check "a resume with other parameters is refused: exit 2 (got $rc), one line" \
    [ $rc -eq 2 -a "$(wc -l <"$tmp/other.err")" -eq 1 ]

# ---- two ranks ---------------------------------------------------------------------------------
if ! command -v mpirun >/dev/null; then
    echo "skip: mpirun is missing (Debian: openmpi-bin): the two-rank run was not tried"
else
    mpirun=(mpirun --oversubscribe)
    [ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
    # OpenMPI keeps its global state until exit: LeakSanitizer would report it from every rank
    export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
    mpirun+=(-x ASAN_OPTIONS -x UBSAN_OPTIONS -x STARPU_HOME -x STARPU_SILENT -x STARPU_NCPU=1)
    "${mpirun[@]}" -np 2 "$exe" "${args[@]}" --output "$tmp/mpi" >"$tmp/mpi.out" 2>&1
    rc=$?
    if [ $rc -ne 0 ] && grep -q "without MPI support" "$tmp/mpi.out"; then
        echo "skip: this dusk has no StarPU-MPI: the two-rank run was not tried"
    else
        check "mpirun -np 2: exit 0 (got $rc)" [ $rc -eq 0 ]
        check "mpirun -np 2: one summary, naming 2 ranks" \
            [ "$(grep -c "^Processed $t samples in .* on 2 ranks$" "$tmp/mpi.out")" -eq 1 ]
        check "mpirun -np 2: outputs byte-identical to one process's" same_outputs "$tmp/mpi"
        [ $rc -eq 0 ] || show "$tmp/mpi.out"
    fi
fi

echo "$fails failed"
[ "$fails" -eq 0 ]
