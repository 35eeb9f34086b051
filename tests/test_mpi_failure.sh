#!/bin/bash
# A failing task stays local across ranks; a failing rank ends the whole job with a non-zero
# status and a line naming the rank and the reason, and never hangs (each run is under `timeout`; 124 would mean a hang):
#  - a task fails on rank 1 only (its matrix of --input is not symmetric), or tasks fail on
#    several ranks: the failure stays local as with one process (exit 3, NaN rows,
#    failures.json), byte-identical to a one-process run;
#  - rank 1 exits at once with an error (a bad DUSK_WINDOW in its environment only), while
#    the other ranks start: the launcher ends them;
#  - a rank that cannot open the shared output file (removed under it) makes every rank stop
#    before computing, with a line naming that rank and the file;
#  - a rank that sees another directory under the output's name is refused.
# Usage: test_mpi_failure.sh PATH/TO/dusk-eigh PYTHON   (exit 77 without mpirun or StarPU-MPI)
set -u
app=$1 python=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/mpi_common.sh
. "$here/mpi_common.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
skip_without_mpi "$app" "$tmp"
limit=120

"$python" - "$tmp/bad.npy" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(1)
b = rng.random((6, 30, 30))
a = b.transpose(0, 2, 1) @ b
a[1, 0, 1] += 1.0  # matrix 1: rank 1's under the cyclic distribution
np.save(sys.argv[1], a)
PY

# 1. a task fails on rank 1: it stays local, as with one process (exit 3, its rows NaN,
#    failures.json), and the outputs are byte-identical to a one-process run's
"$app" --input "$tmp/bad.npy" --vectors --output "$tmp/o1ref" -q >/dev/null 2>&1
rc=$?
check "one process, bad matrix: exit 3 (got $rc)" [ $rc -eq 3 ]
timeout $limit "${mpirun[@]}" -np 3 "$app" --input "$tmp/bad.npy" --vectors --output "$tmp/o1" \
    --no-progress >"$tmp/1.out" 2>"$tmp/1.err"
rc=$?
check "task failure on rank 1: exit 3, no hang (got $rc)" [ $rc -eq 3 ]
check "task failure on rank 1: one line naming rank 1 and the reason" \
    [ "$(grep -c '^dusk-eigh: rank 1: .*bad.npy: matrix 1 is not symmetric' "$tmp/1.err")" -eq 1 ]
check "task failure on rank 1: the other ranks report nothing of their own" \
    [ "$(grep -c '^dusk-eigh: rank [02]:' "$tmp/1.err")" -eq 0 ]
check "task failure on rank 1: the summary counts it" \
    grep -q "^Processed 6 tasks .* on 3 ranks; 1 FAILED (see $tmp/o1/failures.json)" "$tmp/1.out"
for f in eigenvalues.npy eigenvectors.npy failures.json; do
    check "task failure on rank 1: $f identical to one process" cmp -s "$tmp/o1/$f" "$tmp/o1ref/$f"
done
[ $rc -eq 3 ] && [ "$(grep -c 'rank 1:' "$tmp/1.err")" -eq 1 ] || sed 's/^/    /' "$tmp/1.err"

# 1b. failures of every step, on every rank (injected): the same files as one process
#     (a failed verify leaves the eigenvalues it checked: they stay, as with one process)
export DUSK_FAIL_TASKS=gram-1,eigh-5,gen-9,verify-3
"$app" -n 40 --ntasks 12 --vectors --verify --output "$tmp/o1bref" -q >/dev/null 2>&1
timeout $limit "${mpirun[@]}" -x DUSK_FAIL_TASKS -np 3 "$app" -n 40 --ntasks 12 --vectors \
    --verify --output "$tmp/o1b" --no-progress >"$tmp/1b.out" 2>"$tmp/1b.err"
rc=$?
unset DUSK_FAIL_TASKS
check "failures on ranks 1 and 2: exit 3 (got $rc)" [ $rc -eq 3 ]
for f in eigenvalues.npy eigenvectors.npy failures.json; do
    check "failures on ranks 1 and 2: $f identical to one process" \
        cmp -s "$tmp/o1b/$f" "$tmp/o1bref/$f"
done
check "failures on ranks 0, 1 and 2: failures.json lists all four" \
    [ "$(grep -c '"task": ' "$tmp/o1b/failures.json")" -eq 4 ]

# 2. rank 1 exits with an error while the others start
cat >"$tmp/wrap.sh" <<'SH'
#!/bin/sh
[ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ] && export DUSK_WINDOW=zz
exec "$@"
SH
chmod +x "$tmp/wrap.sh"
timeout $limit "${mpirun[@]}" -np 3 "$tmp/wrap.sh" "$app" -n 40 --ntasks 30 --no-progress \
    >"$tmp/2.out" 2>"$tmp/2.err"
rc=$?
check "rank 1 exits early: job exits non-zero, no hang (got $rc)" test $rc -ne 0 -a $rc -ne 124
check "rank 1 exits early: a line naming rank 1 and the reason" \
    grep -q "^dusk-eigh: rank 1: DUSK_WINDOW='zz' is not a whole number" "$tmp/2.err"
[ $rc -ne 0 ] || sed 's/^/    /' "$tmp/2.err"

# 3. rank 2 cannot open the shared eigenvectors file: all stop before computing
cat >"$tmp/wrap3.sh" <<'SH'
#!/bin/sh
# rank 2 starts late, after rank 0 made the file and it was removed
if [ "${OMPI_COMM_WORLD_RANK:-0}" = 2 ]; then
    while [ ! -e "$OUT/eigenvectors.npy.partial" ]; do sleep 0.05; done
    rm -f "$OUT/eigenvectors.npy.partial"
fi
exec "$@"
SH
chmod +x "$tmp/wrap3.sh"
OUT=$tmp/o3 timeout $limit "${mpirun[@]}" -x OUT -np 3 "$tmp/wrap3.sh" "$app" -n 40 --ntasks 9 \
        --vectors --output "$tmp/o3" --no-progress >"$tmp/3.out" 2>"$tmp/3.err"
rc=$?
check "rank 2 cannot open the output: exit non-zero, no hang (got $rc)" test $rc -ne 0 -a $rc -ne 124
check "rank 2 cannot open the output: a line naming rank 2 and the file" \
    grep -q "^dusk-eigh: rank 2: .*eigenvectors.npy: " "$tmp/3.err"
check "rank 2 cannot open the output: nothing computed" [ "$(grep -c '^Processed' "$tmp/3.out")" -eq 0 ]

# 4. rank 1 sees another directory under the same name (node-local, with an earlier run's
#    files in it): refused, instead of writing its results where no one reads them
mkdir -p "$tmp/main" "$tmp/other"
(cd "$tmp/other" && "$app" -n 20 --ntasks 4 --vectors --output out -q >/dev/null 2>&1 &&
    mv out/eigenvectors.npy out/eigenvectors.npy.partial) # as a killed run leaves it
cat >"$tmp/wrap5.sh" <<'SH'
#!/bin/sh
[ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ] && cd "$OTHER"
exec "$@"
SH
chmod +x "$tmp/wrap5.sh"
(cd "$tmp/main" && OTHER=$tmp/other timeout $limit "${mpirun[@]}" -x OTHER -np 2 "$tmp/wrap5.sh" \
    "$app" -n 20 --ntasks 4 --vectors --output out --no-progress >"$tmp/5.out" 2>"$tmp/5.err")
rc=$?
check "rank 1 sees another directory: exit non-zero, no hang (got $rc)" test $rc -ne 0 -a $rc -ne 124
check "rank 1 sees another directory: a line naming rank 1 and the problem" \
    grep -q "^dusk-eigh: rank 1: out is not the directory rank 0 writes to" "$tmp/5.err"
check "rank 1 sees another directory: nothing named as complete" \
    test ! -e "$tmp/main/out/eigenvectors.npy"

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
