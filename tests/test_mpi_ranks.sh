#!/bin/bash
# dusk-eigh across ranks on this machine (mpirun on loopback): the outputs of -np 1, 2 and 3,
# cyclic and block, are byte for byte those of a run without mpirun, for generated matrices
# (also many small ones, .npy and HDF5) and for --input; rank 0 prints the summary with the
# rank count; --trace gives one trace per rank and a merged one with one process per rank.
# Usage: test_mpi_ranks.sh PATH/TO/dusk-eigh PYTHON   (exit 77 without mpirun or StarPU-MPI)
set -u
app=$1 python=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/mpi_common.sh
. "$here/mpi_common.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
skip_without_mpi "$app" "$tmp"

args=(-n 64 --ntasks 7 --seed 3 --vectors --verify --no-progress)
"$app" "${args[@]}" --output "$tmp/ref" >"$tmp/ref.out" 2>&1 || {
    echo "FAIL: the single-process run failed:"
    cat "$tmp/ref.out"
    exit 1
}
same_outputs() { # dir
    cmp -s "$tmp/ref/eigenvalues.npy" "$1/eigenvalues.npy" &&
        cmp -s "$tmp/ref/eigenvectors.npy" "$1/eigenvectors.npy" &&
        [ -z "$(find "$1" -name '*.partial')" ]
}
for np in 1 2 3; do
    for dist in cyclic block; do
        out=$tmp/np$np-$dist
        "${mpirun[@]}" -np $np "$app" "${args[@]}" --distribution $dist --output "$out" \
            >"$out.out" 2>&1
        rc=$?
        check "-np $np --distribution $dist exits 0 (got $rc)" [ $rc -eq 0 ]
        check "-np $np $dist: outputs byte-identical to the single-process run" same_outputs "$out"
        check "-np $np $dist: verified" grep -q "^Verified: all 7 tasks passed" "$out.out"
        if [ $np -gt 1 ]; then
            check "-np $np $dist: one summary, naming $np ranks" \
                [ "$(grep -c "^Processed 7 tasks in .* on $np ranks$" "$out.out")" -eq 1 ]
        fi
        [ $rc -eq 0 ] || sed 's/^/    /' "$out.out"
    done
done

# many small tasks (n = 4): a rank's chunks hold many items, whose rows (32 bytes) lie a rank
# count apart in the file under cyclic, all written at once (through mappings of the file,
# where it is local), the other ranks writing the rows in between; .npy, and HDF5 where this
# dusk has it
small=(-n 4 --ntasks 20000 --seed 11 --values-only -q --no-progress)
formats=(npy)
"$app" -n 4 --ntasks 1 -q --format h5 --output "$tmp/h5probe" >/dev/null 2>&1 && formats+=(h5)
for fmt in "${formats[@]}"; do
    file=eigenvalues.npy
    [ "$fmt" = h5 ] && file=results.h5
    "$app" "${small[@]}" --format "$fmt" --output "$tmp/small-$fmt" >/dev/null 2>&1
    check "many small tasks, $fmt: the single-process run exits 0" [ $? -eq 0 ]
    for np in 2 3; do
        out=$tmp/small$np-$fmt
        "${mpirun[@]}" -np $np "$app" "${small[@]}" --format "$fmt" --distribution cyclic \
            --output "$out" >"$out.out" 2>&1
        rc=$?
        check "many small tasks, -np $np cyclic, $fmt: exit 0 (got $rc)" [ $rc -eq 0 ]
        check "many small tasks, -np $np cyclic, $fmt: $file byte-identical to one process's" \
            cmp -s "$tmp/small-$fmt/$file" "$out/$file"
        [ $rc -eq 0 ] || sed 's/^/    /' "$out.out"
    done
done

# --input: each rank reads its own matrices (Fortran order, to go through the slow path too)
"$python" - "$tmp/in.npy" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(7)
b = rng.random((5, 40, 40))
a = np.asfortranarray(b.transpose(0, 2, 1) @ b)
np.save(sys.argv[1], a)
PY
"$app" --input "$tmp/in.npy" --vectors -q --output "$tmp/in-ref" >/dev/null 2>&1
for np in 2 3; do
    "${mpirun[@]}" -np $np "$app" --input "$tmp/in.npy" --vectors -q --output "$tmp/in$np" \
        >"$tmp/in$np.out" 2>&1
    check "--input, -np $np: exit 0" [ $? -eq 0 ]
    check "--input, -np $np: outputs byte-identical" cmp -s "$tmp/in-ref/eigenvectors.npy" \
        "$tmp/in$np/eigenvectors.npy"
    check "--input, -np $np: eigenvalues byte-identical" cmp -s "$tmp/in-ref/eigenvalues.npy" \
        "$tmp/in$np/eigenvalues.npy"
done

# an HDF5 input (chunked, compressed) of the same matrices: each rank reads its own, and the
# outputs are those of the .npy run (skipped without h5py, or in a dusk built without HDF5;
# failed then under CI, where tools/quickstart.sh test installed both)
if "$python" -c "
import sys, h5py, numpy as np
with h5py.File(sys.argv[2], 'w') as f:
    f.create_dataset('/group/mats', data=np.load(sys.argv[1]), chunks=(2, 40, 40),
                     compression='gzip', shuffle=True)" "$tmp/in.npy" "$tmp/in.h5" 2>/dev/null &&
    ! "$app" --input "$tmp/in.h5" -q 2>&1 | grep -q "built without HDF5"; then
    for np in 2 3; do
        "${mpirun[@]}" -np $np "$app" --input "$tmp/in.h5:/group/mats" --vectors -q \
            --output "$tmp/h5in$np" >"$tmp/h5in$np.out" 2>&1
        check "--input FILE.h5:DATASET, -np $np: exit 0" [ $? -eq 0 ]
        check "--input FILE.h5:DATASET, -np $np: outputs byte-identical to the .npy run" \
            cmp -s "$tmp/in-ref/eigenvectors.npy" "$tmp/h5in$np/eigenvectors.npy"
        check "--input FILE.h5:DATASET, -np $np: eigenvalues byte-identical" \
            cmp -s "$tmp/in-ref/eigenvalues.npy" "$tmp/h5in$np/eigenvalues.npy"
    done
elif under_ci; then
    check "HDF5 input under mpirun: h5py (python3-h5py) and dusk's HDF5 (libhdf5-dev), under CI" false
else
    echo "skip: HDF5 input under mpirun (no h5py, or dusk built without HDF5)"
fi

# traces: rank-K/ per rank, merged trace.json with one pid per rank, report for all ranks
"${mpirun[@]}" -np 3 "$app" -n 32 --ntasks 6 -q --trace "$tmp/tr" >"$tmp/tr.out" 2>&1
rc=$?
check "--trace under 3 ranks: exit 0 (got $rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || sed 's/^/    /' "$tmp/tr.out" # what the ranks said, to diagnose
for r in 0 1 2; do
    check "rank $r wrote its own trace" [ -s "$tmp/tr/rank-$r/trace.json" ]
done
check "merged trace: pids 0, 1, 2, each with 2 tasks x 3 steps" "$python" - "$tmp/tr/trace.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
tasks = [e for e in ev if e["ph"] == "X"]
pids = sorted({e["pid"] for e in tasks})
per = {p: sum(1 for e in tasks if e["pid"] == p) for p in pids}
names = {e["args"]["name"] for e in ev if e.get("name") == "process_name"}
ok = pids == [0, 1, 2] and all(v == 6 for v in per.values()) and names == {"rank 0", "rank 1", "rank 2"}
print(per, names)
sys.exit(0 if ok else 1)
PY
check "merged report names every rank" grep -q "rank 2" "$tmp/tr/report.html"

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
