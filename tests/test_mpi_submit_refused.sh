#!/bin/bash
# test_graph_oom under two ranks (mpirun -np 2): a graph of both ranks, its data on rank 0, so
# that tasks go through StarPU-MPI's submission path (submit_mpi in graph.c). StarPU refusing
# one there fails its outputs, and what reads them after it gets DUSK_EDEP, also while an
# earlier writer of the data is still running; rank 1, which runs none of them, agrees.
# Usage: test_mpi_submit_refused.sh TEST_GRAPH_OOM
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=$1
# shellcheck source=tests/mpi_common.sh
source "$here/mpi_common.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

STARPU_NCPU=1 timeout 300 "${mpirun[@]}" -x STARPU_NCPU -np 2 "$prog" >"$tmp/out" 2>&1
rc=$?
check "test_graph_oom under 2 ranks exits 0 (exit $rc)" test $rc -eq 0
check "rank 0 ran its case" grep -q "graph oom (rank 0): ok" "$tmp/out"
check "rank 1 ran its case" grep -q "graph oom (rank 1): ok" "$tmp/out"
[ $fails -eq 0 ] || sed 's/^/    /' "$tmp/out"
echo "$fails check(s) failed"
[ $fails -eq 0 ]
