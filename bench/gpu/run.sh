#!/bin/bash
# The GPU benchmark (issue 5), in one run on one GPU node: for n = 1000, T = 128 and
# n = 4000, T = 32,
#   - CuPy: cupy.linalg.eigh over the batch in a loop (the tutorial's GPU step);
#   - dusk on the GPU alone: STARPU_NCPU=0 (StarPU's GPU drivers run on their own threads),
#     --rng philox so that every task can run there, 1, 2 and 4 workers per GPU
#     (STARPU_NWORKER_PER_CUDA; with 2 and 4 also STARPU_CUDA_THREAD_PER_WORKER=1, since
#     StarPU 1.3 otherwise drives all of a GPU's workers from one thread, and dusk's codelets
#     wait for their stream, so the extra workers would never overlap);
#   - dusk on the GPU and every CPU core: dmda, with both generators (philox: anywhere;
#     numpy: the generation on CPUs), after a calibration run of the performance models;
#   - the CuPy + MPI step when mpirun and mpi4py are there: 2 ranks sharing the GPU, outputs
#     compared byte for byte with 1 rank; and dusk-eigh under mpirun -np 1 and 2 the same way.
# It writes DIR/results.md (GPU model, driver, date, every figure, the ratios against the
# targets), the raw log, and a trace report of a CPU + GPU run (DIR/trace-n1000/report.html).
#
# From the unpacked tarball (tools/pack-gpu.sh):  bench/gpu/run.sh --out DIR
# From a build with CUDA:                          bench/gpu/run.sh --build build-gpu --out DIR
# Exit: 0 done (targets met or not: results.md says), 1 a run failed (results.md is still
# written, the failed runs marked "failed"), 2 bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
build="" out="" quick=0
usage() {
    echo "usage: $0 [--build DIR] [--out DIR] [--quick]   (--quick: small sizes, to try the script)"
}
opts=$(getopt -o h -l build:,out:,quick,help -n bench-gpu -- "$@") || exit 2
eval set -- "$opts"
while true; do
    case "$1" in
    --build) build=$2 && shift 2 ;;
    --out) out=$2 && shift 2 ;;
    --quick) quick=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    --) shift && break ;;
    esac
done
[ $# -eq 0 ] || {
    usage >&2
    exit 2
}
die() {
    echo "bench-gpu: $*" >&2
    exit 1
}

# The unpacked tarball has env.sh and build/ next to src/.
[ -f "$src/../env.sh" ] && source "$src/../env.sh"
if [ -z "$build" ]; then
    for b in "$src/../build" "$src/build-gpu" "$src/build"; do
        [ -x "$b/apps/dusk-eigh" ] && build=$(cd "$b" && pwd) && break
    done
fi
eigh=$build/apps/dusk-eigh
[ -x "$eigh" ] || die "no dusk-eigh (give --build DIR)"
[ -n "$out" ] || out=$PWD/gpu-results-$(date -u +%Y%m%d-%H%M)
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/log.txt
: >"$log"
export STARPU_HOME=$out/starpu-home # performance models and bus calibration, kept per run
export STARPU_SILENT=1

gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
    head -1 || true)
[ -n "$gpu" ] || gpu="unknown GPU (nvidia-smi missing)"
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
cores=$(nproc)
date=$(date -u +%Y-%m-%d)
py=$(command -v python3 || true)

# run LABEL ENV... -- CMD...: time it, keep the "it/s" figure; a failure is recorded, the
# script goes on, and exits 1 at the end.
declare -A rate secs
failed=0
run() {
    local label=$1
    shift
    local envs=()
    while [ "$1" != "--" ]; do
        envs+=("$1")
        shift
    done
    shift
    echo "== $label: ${envs[*]} $*" >>"$log"
    local o
    if ! o=$(env "${envs[@]}" "$@" 2>>"$log"); then
        echo "$o" >>"$log"
        echo "bench-gpu: $label failed (see $log)" >&2
        rate[$label]=failed
        secs[$label]=failed
        failed=1
        return 0
    fi
    echo "$o" >>"$log"
    rate[$label]=$(echo "$o" | sed -n 's/.*[( ]\([0-9.]*\) it\/s.*/\1/p; s/.*it\/s=\([0-9.]*\).*/\1/p' | tail -1)
    secs[$label]=$(echo "$o" | sed -n 's/.* in \([0-9.]*\) s .*/\1/p; s/.*seconds=\([0-9.]*\).*/\1/p' | tail -1)
    echo "bench-gpu: $label: ${rate[$label]} it/s" >&2
}

if [ $quick -eq 1 ]; then
    cases="200:16 400:8"
else
    cases="1000:128 4000:32"
fi

# Calibration: history-based models need about ten runs per kernel, size and architecture.
for c in $cases; do
    n=${c%:*}
    t=${c#*:}
    for rng in philox numpy; do
        run "calibrate-$n-$rng" STARPU_CALIBRATE=1 STARPU_NCUDA=1 -- \
            "$eigh" -n "$n" --ntasks "$((t / 2 > 16 ? t / 2 : 16))" --rng "$rng" --sched dmda -q
    done
done

for c in $cases; do
    n=${c%:*}
    t=${c#*:}
    if [ -n "$py" ] && "$py" -c "import cupy" 2>/dev/null; then
        run "cupy-$n" X=1 -- "$py" "$here/cupy_eigh.py" "$n" "$t"
    else
        rate[cupy-$n]="no CuPy"
        secs[cupy-$n]="no CuPy"
    fi
    for k in 1 2 4; do
        # One driver thread per worker, else StarPU 1.3 runs a GPU's workers from one thread.
        thr=()
        [ "$k" -gt 1 ] && thr=(STARPU_CUDA_THREAD_PER_WORKER=1)
        run "gpu-$n-w$k" STARPU_NCPU=0 STARPU_NCUDA=1 STARPU_NWORKER_PER_CUDA=$k "${thr[@]}" -- \
            "$eigh" -n "$n" --ntasks "$t" --rng philox --sched dmda -q
    done
    for rng in philox numpy; do
        run "node-$n-$rng" STARPU_NCUDA=1 -- \
            "$eigh" -n "$n" --ntasks "$t" --rng "$rng" --sched dmda -q
    done
done
first=${cases%% *}
n1=${first%:*}
t1=${first#*:}
run "trace-$n1" STARPU_NCUDA=1 -- "$eigh" -n "$n1" --ntasks "$t1" --rng philox --sched dmda \
    -q --trace "$out/trace-$n1"

# CuPy + MPI: two ranks sharing the GPU, outputs identical to one rank's.
mpi_line="not run: no mpirun or no mpi4py/CuPy on this node"
if command -v mpirun >/dev/null && [ -n "$py" ] && "$py" -c "import mpi4py, cupy" 2>/dev/null; then
    mpirun_flags=(--oversubscribe)
    [ "$(id -u)" -eq 0 ] && mpirun_flags+=(--allow-run-as-root)
    run "cupy-mpi-1" X=1 -- mpirun "${mpirun_flags[@]}" -np 1 "$py" "$here/cupy_mpi_eigh.py" \
        "$n1" "$t1" --output "$out/mpi1.npy"
    run "cupy-mpi-2" X=1 -- mpirun "${mpirun_flags[@]}" -np 2 "$py" "$here/cupy_mpi_eigh.py" \
        "$n1" "$t1" --output "$out/mpi2.npy"
    if cmp -s "$out/mpi1.npy" "$out/mpi2.npy"; then same="identical"; else same="DIFFERENT"; fi
    mpi_line="1 rank ${rate[cupy-mpi-1]} it/s, 2 ranks ${rate[cupy-mpi-2]} it/s; outputs $same"
fi

# dusk across ranks sharing the GPU (StarPU-MPI): 2 ranks give the outputs of 1, byte for byte.
dusk_mpi_line="not run: no mpirun on this node (the tarball does not carry Open MPI's launcher)"
if command -v mpirun >/dev/null; then
    mpirun_flags=(--oversubscribe)
    [ "$(id -u)" -eq 0 ] && mpirun_flags+=(--allow-run-as-root)
    for np in 1 2; do
        rm -rf "$out/dusk-mpi$np"
        run "dusk-mpi-$np" STARPU_NCUDA=1 -- mpirun "${mpirun_flags[@]}" -np $np -x STARPU_NCUDA \
            -x LD_LIBRARY_PATH -x STARPU_HOME "$eigh" -n "$n1" --ntasks "$t1" --rng philox \
            --sched dmda -q --output "$out/dusk-mpi$np"
    done
    if cmp -s "$out/dusk-mpi1/eigenvalues.npy" "$out/dusk-mpi2/eigenvalues.npy"; then
        same="identical"
    else
        same="DIFFERENT"
    fi
    dusk_mpi_line="1 rank ${rate[dusk-mpi-1]} it/s, 2 ranks ${rate[dusk-mpi-2]} it/s; eigenvalues.npy $same"
fi

# ---- results.md ---------------------------------------------------------------------------
ratio() { # a / b, or "-"
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}
best_gpu() {
    local best=0
    for k in 1 2 4; do
        local r=${rate[gpu-$1-w$k]}
        awk -v a="$r" -v b="$best" 'BEGIN { exit !(a + 0 > b + 0) }' && best=$r
    done
    echo "$best"
}
{
    echo "## GPU benchmark, $date: $gpu"
    echo
    echo "Host: $cpu, $cores cores; dusk $(git -C "$src" rev-parse --short HEAD 2>/dev/null || head -1 "$src/../MANIFEST" 2>/dev/null || echo '?'); bench/gpu/run.sh$([ $quick -eq 1 ] && echo ' --quick')."
    echo "Throughput in tasks (matrices) per second; dusk after a calibration run (STARPU_CALIBRATE=1), sched dmda."
    echo "GPU only with 2 and 4 workers per GPU: STARPU_NWORKER_PER_CUDA=k with STARPU_CUDA_THREAD_PER_WORKER=1 (one driver thread, and one stream, per worker; StarPU 1.3's default is one thread per GPU, which runs dusk's synchronous codelets one at a time)."
    echo
    echo "| n, T | CuPy loop | dusk GPU only (1 / 2 / 4 workers per GPU) | dusk GPU + $cores cores, philox | dusk GPU + cores, numpy rng | GPU only / CuPy (target ≥ 1) | node / CuPy (target ≥ 3 at n = 1000) |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    for c in $cases; do
        n=${c%:*}
        t=${c#*:}
        bg=$(best_gpu "$n")
        echo "| $n, $t | ${rate[cupy-$n]} | ${rate[gpu-$n-w1]} / ${rate[gpu-$n-w2]} / ${rate[gpu-$n-w4]} | ${rate[node-$n-philox]} | ${rate[node-$n-numpy]} | $(ratio "$bg" "${rate[cupy-$n]}") | $(ratio "${rate[node-$n-philox]}" "${rate[cupy-$n]}") |"
    done
    echo
    echo "CuPy + MPI (n = $n1, T = $t1): $mpi_line."
    echo "dusk across ranks sharing the GPU (n = $n1, T = $t1, philox): $dusk_mpi_line."
    echo "Trace of the CPU + GPU run: trace-$n1/report.html. Raw output: log.txt."
    if [ $failed -ne 0 ]; then
        echo
        echo "Some runs FAILED (marked \"failed\" above): see log.txt."
    fi
} >"$out/results.md"
cat "$out/results.md"
[ $failed -eq 0 ] || {
    echo "bench-gpu: some runs failed (see $log)" >&2
    exit 1
}
