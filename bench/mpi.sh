#!/bin/bash
# bench/mpi.sh: dusk-eigh across ranks on this machine. Times the same batch without mpirun,
# with mpirun -np 1 and -np 2, and -np 2 with each choice of DUSK_MPI_CORE (a core of its own
# for StarPU-MPI's communication thread, or not), alternating the cases round after round,
# and prints a Markdown entry for bench/RESULTS.md: the median batch time of each case and
# the parallel efficiency of -np 2 against -np 1 (time(np1) / (2 * time(np2))) and against
# the single process.
# Usage: bench/mpi.sh [-n N] [-t T] [-r ROUNDS] [--build DIR]   (defaults: n=400, T=64, 3)
set -euo pipefail
prog=mpi.sh
usage="bench/mpi.sh [-n N] [-t T] [-r ROUNDS] [--build DIR]"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/common.sh
. "$here/common.sh"

n=400 t=64 rounds=3 build=
while [ $# -gt 0 ]; do
    case "$1" in
    -n) n=${2:-}; require_positive -n "$n"; shift 2 ;;
    -t) t=${2:-}; require_positive -t "$t"; shift 2 ;;
    -r) rounds=${2:-}; require_positive -r "$rounds"; shift 2 ;;
    --build) build=${2:-}; shift 2 ;;
    -h | --help) echo "usage: $usage"; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
    esac
done
resolve_build
dusk=$build/apps/dusk-eigh
[ -x "$dusk" ] || die "no dusk-eigh in $build/apps"
command -v mpirun >/dev/null || die "mpirun is missing (Debian: openmpi-bin)"
make_tmp
cores=$(nproc)
mpirun=(mpirun --oversubscribe -x DUSK_MPI_CORE)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)

cases=("single" "np1" "np2" "np2-core0" "np2-core1")
run_case() { # case -> prints seconds
    local args=(-n "$n" --ntasks "$t" -q --no-progress)
    case "$1" in
    single) "$dusk" "${args[@]}" ;;
    np1) DUSK_MPI_CORE=-1 "${mpirun[@]}" -np 1 "$dusk" "${args[@]}" ;;
    np2) DUSK_MPI_CORE=-1 "${mpirun[@]}" -np 2 "$dusk" "${args[@]}" ;;
    np2-core0) DUSK_MPI_CORE=0 "${mpirun[@]}" -np 2 "$dusk" "${args[@]}" ;;
    np2-core1) DUSK_MPI_CORE=1 "${mpirun[@]}" -np 2 "$dusk" "${args[@]}" ;;
    esac >"$tmp/out" 2>&1 || die "$1 failed: $(cat "$tmp/out")"
    sed -n 's/^Processed [0-9]* tasks in \([0-9.]*\) s.*/\1/p' "$tmp/out"
}

load_start
declare -A times
for ((r = 0; r < rounds; r++)); do
    for c in "${cases[@]}"; do
        s=$(run_case "$c")
        [ -n "$s" ] || die "$c: no Processed line"
        times[$c]="${times[$c]:-} $s"
    done
done
load_report
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
declare -A med
for c in "${cases[@]}"; do med[$c]=$(echo "${times[$c]}" | median); done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 + 0.5 }' /proc/meminfo)
echo "<!-- mpi-entry machine=\"$cpu, $cores cores, $mem\" date=\"$(date +%F)\" -->"
echo "### $(date +%F): dusk-eigh across ranks, $cpu, $cores cores, $mem"
echo
echo "n=$n, T=$t, median of $rounds rounds (alternating), batch time from the \`Processed\` line"
echo "(rank 0, until every rank is done). Machine load: $quiet."
echo
echo "| case | batch (s) | it/s | all runs (s) |"
echo "| --- | --- | --- | --- |"
label() {
    case "$1" in
    single) echo "one process, no mpirun" ;;
    np1) echo "mpirun -np 1 (default DUSK_MPI_CORE)" ;;
    np2) echo "mpirun -np 2 (default DUSK_MPI_CORE)" ;;
    np2-core0) echo "mpirun -np 2, DUSK_MPI_CORE=0 (threads share cores)" ;;
    np2-core1) echo "mpirun -np 2, DUSK_MPI_CORE=1 (a core for communication)" ;;
    esac
}
for c in "${cases[@]}"; do
    echo "| $(label "$c") | ${med[$c]} | $(awk -v s="${med[$c]}" -v t="$t" 'BEGIN { printf "%.1f", t / s }') |${times[$c]} |"
done
echo
awk -v a="${med[np1]}" -v b="${med[np2]}" -v s="${med[single]}" 'BEGIN {
    printf "Parallel efficiency of -np 2: %.2f against -np 1 (time(np1) / (2 time(np2))), %.2f against one process with every core (time(single) / time(np2)).\n", a / (2 * b), s / b }'
echo "<!-- /mpi-entry -->"
