#!/bin/bash
# Workers under mpirun: each rank's workers are bound to the cores the launcher gave it
# (through starpu_conf, with no STARPU_* variable left in the environment), and when the
# ranks on a node start more workers than it has cores (-np 4 on 2 cores, each rank seeing
# both) the node's first rank warns once; with one core per rank, or -q, nothing is said.
# Usage: test_mpi_placement.sh PATH/TO/test_config_scoped_env PATH/TO/dusk-reduce
#        (exit 77 without mpirun or StarPU-MPI)
set -u
probe=$1 reduce=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/mpi_common.sh
. "$here/mpi_common.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "${mpirun[@]}" -np 2 "$reduce" --chunks 2 --size 10 -q >"$tmp/probe" 2>&1; then
    if grep -q "without MPI support" "$tmp/probe"; then
        echo "dusk has no StarPU-MPI: skipped"
        exit 77
    fi
    echo "FAIL: a 2-rank trial run failed:"
    sed 's/^/    /' "$tmp/probe"
    exit 1
fi
cores=$(getconf _NPROCESSORS_ONLN)

# two ranks, one core each: the environment and the binding, checked by each rank
"${mpirun[@]}" -np 2 "$probe" >"$tmp/bind.out" 2>&1
rc=$?
check "-np 2: each rank's workers on its own cores, no variable left (exit $rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || sed 's/^/    /' "$tmp/bind.out"

warned() { grep -c "dusk: warning: the .* ranks on this node start .* workers in all, on $cores cores" "$1"; }
# more ranks than cores, each seeing every core: one warning, from one rank
np=$((2 * cores))
"${mpirun[@]}" --bind-to none -np $np "$reduce" --chunks 4 --size 10 >"$tmp/over.out" 2>&1
rc=$?
check "-np $np on $cores cores exits 0 (got $rc)" [ $rc -eq 0 ]
check "-np $np on $cores cores: warned once" [ "$(warned "$tmp/over.out")" -eq 1 ]
check "-np $np: the warning counts $np ranks and $((np * cores)) workers" \
    grep -q "the $np ranks on this node start $((np * cores)) workers in all" "$tmp/over.out"
"${mpirun[@]}" --bind-to none -np $np "$reduce" --chunks 4 --size 10 -q >"$tmp/quiet.out" 2>&1
check "-np $np -q: no warning" [ "$(warned "$tmp/quiet.out")" -eq 0 ]
# one core per rank (Open MPI binds 2 ranks to a core each): no warning
if [ "$cores" -ge 2 ]; then
    "${mpirun[@]}" -np 2 "$reduce" --chunks 4 --size 10 >"$tmp/fit.out" 2>&1
    check "-np 2 on $cores cores: no warning" [ "$(warned "$tmp/fit.out")" -eq 0 ]
fi
[ $fails -eq 0 ] || { echo "$fails failures"; cat "$tmp/over.out"; exit 1; }
echo "all passed"
