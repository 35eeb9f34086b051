#!/bin/bash
# A small batch under ThreadSanitizer: dusk-eigh in the configurations that exercise dusk's
# threads (results written and verified from StarPU's threads, traces, the progress bar,
# several schedulers, a tiny window, two BLAS threads), dusk-reduce's held graph, the graph
# tests and dusk_eigh_stack's (four threads at once, cancellation), on 1 and 2 workers. Any
# report not covered by tests/tsan.supp (StarPU's and OpenBLAS's own, explained there) fails it. Bounded: about a minute on 2 cores.
# Usage: tsan_batch.sh BUILD_DIR   (a build configured with -DDUSK_SANITIZE=thread)
set -u
build=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TSAN_OPTIONS="suppressions=$here/tsan.supp halt_on_error=0 exitcode=66 second_deadlock_stack=1"
export STARPU_HOME="$build/starpu-home"
fails=0 runs=0

# gcc's TSan refuses kernels that randomise mmap with more bits than it expects ("unexpected
# memory mapping"); without address randomisation it runs everywhere.
norand=()
if setarch "$(uname -m)" -R true 2>/dev/null; then norand=(setarch "$(uname -m)" -R); fi

run() { # run NCPU PROGRAM ARGS...
    local ncpu=$1
    shift
    runs=$((runs + 1))
    STARPU_NCPU=$ncpu timeout 300 "${norand[@]}" "$@" >"$tmp/out" 2>&1
    local rc=$?
    if [ $rc -ne 0 ] || grep -q "WARNING: ThreadSanitizer" "$tmp/out"; then
        echo "FAIL (exit $rc): STARPU_NCPU=$ncpu $*"
        sed 's/^/    /' "$tmp/out"
        fails=$((fails + 1))
    else
        echo "ok: STARPU_NCPU=$ncpu $(basename "$1") ${*:2}"
    fi
}

eigh=$build/apps/dusk-eigh
for ncpu in 1 2; do
    run $ncpu "$eigh" -n 30 --ntasks 120 --verify --output "$tmp/o$ncpu" --vectors -q
    run $ncpu "$eigh" -n 20 --ntasks 200 --values-only --verify --window 4 --sched prio -q
    run $ncpu "$eigh" -n 16 --ntasks 100 --trace "$tmp/t$ncpu" --progress --sched dmda -q
    run $ncpu "$build/apps/dusk-reduce" --chunks 64 --size 1000 -q
    for t in test_graph_dependencies test_graph_failure test_graph_window test_graph_retry \
        test_eigh_stack; do
        run $ncpu "$build/tests/$t"
    done
done
run 2 "$eigh" -n 40 --ntasks 200 --verify --sched eager -q
run 1 "$eigh" -n 150 --ntasks 10 --blas-threads 2 --verify -q

echo "$fails of $runs runs failed under ThreadSanitizer"
[ $fails -eq 0 ]
