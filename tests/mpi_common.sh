# shellcheck shell=bash
# Shared by the multi-rank tests; sourced. Sets $mpirun (an array) and skips (exit 77) when
# no MPI launcher is installed or dusk-eigh was built without StarPU-MPI; and, from
# runlib.sh, under_ci, need and the manifest helpers.
# shellcheck source=tests/runlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/runlib.sh"
command -v mpirun >/dev/null || {
    echo "mpirun is missing (Debian: openmpi-bin): skipped"
    exit 77
}
# Open MPI refuses root unless told; --oversubscribe: more ranks than this machine's cores.
mpirun=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
# OpenMPI keeps its global state until exit; LeakSanitizer would report it from every rank.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
mpirun+=(-x ASAN_OPTIONS -x UBSAN_OPTIONS -x STARPU_HOME -x STARPU_SILENT)

fails=0 # counted by check (runlib.sh)

# A dusk-eigh built without StarPU-MPI refuses several ranks with one line saying so.
skip_without_mpi() { # app tmpdir
    if ! "${mpirun[@]}" -np 2 "$1" -n 8 --ntasks 2 -q >"$2/probe" 2>&1; then
        if grep -q "without MPI support" "$2/probe"; then
            echo "dusk-eigh has no StarPU-MPI: skipped"
            exit 77
        fi
        echo "FAIL: a 2-rank trial run failed:"
        sed 's/^/    /' "$2/probe"
        exit 1
    fi
}
