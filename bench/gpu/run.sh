#!/bin/bash
# The GPU benchmark (issues 5, 16 and 23), in one run on one GPU node, for each size (default
# n = 1000, T = 128 first, the figure the goals name; then n = 4000, T = 32; then n = 100,
# T = 10000; --quick: n = 200, T = 32 and n = 400, T = 16). A first pass over the sizes makes
# what the goals compare, a second the rest, so that a deadline cuts extra runs, not sizes:
#   - CuPy: cupy.linalg.eigh over the batch in a loop (the tutorial's GPU step);
#   - dusk on the GPU alone: STARPU_NCPU=0 (StarPU's GPU drivers run on their own threads),
#     --rng philox so that every task can run there, 1 worker per GPU;
#   - dusk on the GPU and every CPU core: dmda, --rng philox (every task anywhere);
# then (second pass):
#   - CuPy on the stack (T, n, n) in one call: batched Jacobi (syevjBatched), which can take
#     minutes at n = 1000 and more, so on at most --stack-cap matrices (by default 4 at
#     n >= 2000, 16 at n >= 500, 64 at n >= 200, 1000 below), its figure per matrix;
#   - dusk on the GPU alone with 2 and 4 workers per GPU (STARPU_NWORKER_PER_CUDA, with
#     STARPU_CUDA_THREAD_PER_WORKER=1, since StarPU 1.3 otherwise drives all of a GPU's workers
#     from one thread, and dusk's codelets wait for their stream, so the extra workers would
#     never overlap);
#   - dusk on the GPU and every core with NumPy's generator (the generation on CPUs).
# The GPU + cores runs and their CPU calibration are made only for n <= --node-max-n (default
# 2000): at n = 4000 a CPU eigh takes about a minute, and calibrating it takes minutes.
# Before a size's GPU + cores runs, the performance models are calibrated until
# starpu_perfmodel_display shows, for each kernel and size, at least STARPU_CALIBRATE_MINIMUM
# (10) samples on both the CPU and the GPU (GPU-only and CPU-only runs with
# STARPU_CALIBRATE=1, repeated while one is short), so that dmda never decides on an
# uncalibrated model; DIR/calibration.txt keeps what the models held.
# Every timed process (dusk and CuPy) runs with CUDA_MODULE_LOADING=EAGER (--module-loading
# lazy: CUDA's default), so that no kernel is loaded inside a timed window: dusk's warm-up (in
# dusk_init, untimed) decomposes n = 32 matrices only, and the kernels that syevd needs at n =
# 1000 and 4000 would otherwise load in the first timed task, while CuPy's loop gets two
# untimed iterations at the real n.
# Checks: the GPU-and-cores run gives the GPU-only run's eigenvalues within 1e-10 relative
# (dmda sends each matrix to LAPACK or cuSOLVER, whichever the run picks); the CuPy + MPI step
# (2 ranks sharing the GPU) gives 1 rank's output bit for bit, when mpirun and mpi4py are
# there; dusk-eigh under mpirun -np 1 and 2: GPU-only runs bit for bit, GPU-and-cores runs
# within 1e-10 relative, when mpirun is there.
# StarPU's FxT tracing is off (STARPU_FXT_TRACE=0) except in the trace run, which writes
# DIR/trace-N/ (dusk's report.html and trace.json, and StarPU's FxT file).
# It writes DIR/results.md (GPU model, driver, date, what is timed, every figure, the ratios
# against the targets, the checks) after every run, so that what was measured is there
# whenever the script is stopped; the raw log and the calibration beside it.
#
# From the unpacked tarball (tools/pack-gpu.sh):  bench/gpu/run.sh --out DIR
# From a build with CUDA:                          bench/gpu/run.sh --build build-gpu --out DIR
# Options: --quick (small sizes, to try the script); --cases "N:T ..." (these sizes instead,
# in this order); --deadline EPOCH (runs that would start after this time, in seconds since
# 1970, are not run and are marked so, and a run still going then is stopped and marked so);
# --run-max S (no run lasts longer, default 150); --stack-cap K (CuPy's stack on at most K
# matrices at every size); --node-max-n N; --module-loading eager|lazy; --starpu-home DIR
# (performance models and bus calibration kept there, default DIR/starpu-home);
# --cpu-standin (no GPU: the GPU-only runs use one CPU worker instead, the figures are marked
# as a stand-in; for tools/pack-gpu.sh --check, with the NumPy stand-in for CuPy in
# bench/gpu/fake_cupy on PYTHONPATH).
# A run not made or stopped for time is said so, and is not a failure.
# Exit: 0 done (targets met or not: results.md says), 1 a run or a check failed (results.md
# is still written, the failed runs marked "failed"), 2 bad usage.
set -euo pipefail

# The physical directory: in the unpacked tarball bench/ is a symlink to src/bench, and the
# root (src/, with env.sh beside it) is found from where the script really lies.
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
src=$(cd "$here/../.." && pwd -P)
build="" out="" quick=0 cases="" deadline=0 starpu_home="" standin=0
run_max=150 stack_cap=0 node_max_n=2000 module_loading=eager
usage() {
    echo "usage: $0 [--build DIR] [--out DIR] [--quick] [--cases \"N:T ...\"] [--deadline EPOCH]"
    echo "       [--run-max S] [--stack-cap K] [--node-max-n N] [--module-loading eager|lazy]"
    echo "       [--starpu-home DIR] [--cpu-standin]"
}
bad_usage() {
    echo "bench-gpu: $*" >&2
    usage >&2
    exit 2
}
opts=$(getopt -o h -l build:,out:,quick,cases:,deadline:,run-max:,stack-cap:,node-max-n:,module-loading:,starpu-home:,cpu-standin,help \
    -n bench-gpu -- "$@") || exit 2
eval set -- "$opts"
while true; do
    case "$1" in
    --build) build=$2 && shift 2 ;;
    --out) out=$2 && shift 2 ;;
    --quick) quick=1 && shift ;;
    --cases) cases=$2 && shift 2 ;;
    --deadline) deadline=$2 && shift 2 ;;
    --run-max) run_max=$2 && shift 2 ;;
    --stack-cap) stack_cap=$2 && shift 2 ;;
    --node-max-n) node_max_n=$2 && shift 2 ;;
    --module-loading) module_loading=$2 && shift 2 ;;
    --starpu-home) starpu_home=$2 && shift 2 ;;
    --cpu-standin) standin=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    --) shift && break ;;
    esac
done
[ $# -eq 0 ] || bad_usage "unexpected argument '$1'"
[[ "$deadline" =~ ^[0-9]+$ ]] || bad_usage "--deadline '$deadline' is not a time in seconds"
[[ "$run_max" =~ ^[1-9][0-9]*$ ]] || bad_usage "--run-max '$run_max' is not a positive number of seconds"
[[ "$stack_cap" =~ ^[0-9]+$ ]] || bad_usage "--stack-cap '$stack_cap' is not a whole number"
[[ "$node_max_n" =~ ^[0-9]+$ ]] || bad_usage "--node-max-n '$node_max_n' is not a whole number"
case "$module_loading" in eager | lazy) ;; *) bad_usage "--module-loading '$module_loading': eager or lazy" ;; esac
for c in $cases; do
    [[ "$c" =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || bad_usage "--cases: '$c' is not N:T"
done
die() {
    echo "bench-gpu: $*" >&2
    exit 1
}

# The unpacked tarball has env.sh and build/ next to src/.
# shellcheck source=/dev/null
[ -f "$src/../env.sh" ] && source "$src/../env.sh"
if [ -z "$build" ]; then
    for b in "$src/../build" "$src/build-gpu" "$src/build-cuda" "$src/build"; do
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
# performance models and bus calibration, kept per run unless shared
export STARPU_HOME=${starpu_home:-$out/starpu-home}
mkdir -p "$STARPU_HOME"
export STARPU_SILENT=1
# The FxT build traces every run by default: off, except in the trace run.
export STARPU_FXT_TRACE=0
min_samples=${STARPU_CALIBRATE_MINIMUM:-10}
display=$(command -v starpu_perfmodel_display || true)
[ -n "$display" ] || for d in "$src/../starpu/bin" /opt/starpu-cuda/bin; do
    [ -x "$d/starpu_perfmodel_display" ] && display=$d/starpu_perfmodel_display && break
done

gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
    head -1 || true)
[ -n "$gpu" ] || gpu="unknown GPU (nvidia-smi missing)"
[ $standin -eq 0 ] || gpu="NO GPU: CPU stand-in run (--cpu-standin), not GPU figures"
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
cores=$(nproc)
date=$(date -u +%Y-%m-%d)
py=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c "import numpy" 2>/dev/null; then
        py=$(command -v "$p")
        break
    fi
done
have_cupy=0 cupy_kind="CuPy"
case $([ -n "$py" ] && "$py" -c "import cupy; print('standin' if getattr(cupy, 'DUSK_STANDIN', False) else 'cupy')" 2>/dev/null) in
cupy) have_cupy=1 ;;
standin) have_cupy=1 cupy_kind="CuPy STAND-IN (NumPy on the CPU)" ;;
esac

# The GPU's worker settings, or their CPU stand-in.
if [ $standin -eq 0 ]; then
    gpu_only=(STARPU_NCPU=0 STARPU_NCUDA=1)
    with_gpu=(STARPU_NCUDA=1)
    kinds="cpu cuda"
else
    gpu_only=(STARPU_NCPU=1 STARPU_NCUDA=0)
    with_gpu=(STARPU_NCUDA=0)
    kinds="cpu"
fi
# What every timed process runs with: no kernel loaded inside a timed window.
timed_env=(CUDA_MODULE_LOADING=LAZY)
[ "$module_loading" = eager ] && timed_env=(CUDA_MODULE_LOADING=EAGER)

# past: whether the deadline has passed (less than 2 s left).
past() {
    [ "$deadline" -gt 0 ] && [ $((deadline - $(date +%s))) -lt 2 ]
}

# run LABEL ENV... -- CMD...: time it, keep the "it/s" figure; a failure is recorded, the
# script goes on, and exits 1 at the end. Past the deadline, the run is "not run (time)"; a
# run stopped at the deadline or at --run-max is "stopped after S s": neither is a failure.
# RUN_MAX (when set) is this run's own limit, below --run-max. results.md is rewritten after
# each run made (not after those not run: the last write covers them).
declare -A rate
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
    local most=${RUN_MAX:-$run_max} left
    [ "$most" -le "$run_max" ] || most=$run_max
    left=$most
    if [ "$deadline" -gt 0 ]; then
        left=$((deadline - $(date +%s)))
        [ $left -le "$most" ] || left=$most
    fi
    if [ "$left" -lt 2 ]; then
        echo "== $label: not run (past the deadline)" >>"$log"
        rate[$label]="not run (time)"
        return 0
    fi
    echo "== $label: ${envs[*]} $* (at most $left s)" >>"$log"
    local o t0 rc=0
    t0=$(date +%s.%N)
    o=$(timeout -k 5 "$left" env "${envs[@]}" "$@" 2>>"$log") || rc=$?
    local wall
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    echo "$o" >>"$log"
    echo "   (wall $wall s, exit $rc)" >>"$log"
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        rate[$label]="stopped after $left s"
        echo "bench-gpu: $label ${rate[$label]} (see $log)" >&2
    elif [ $rc -ne 0 ]; then
        rate[$label]=failed
        echo "bench-gpu: $label failed (exit $rc, see $log)" >&2
        failed=1
    else
        rate[$label]=$(echo "$o" | sed -n 's/.*[( ]\([0-9.]*\) it\/s.*/\1/p; s/.*it\/s=\([0-9.]*\).*/\1/p' | tail -1)
        [ -n "${rate[$label]}" ] || rate[$label]="?"
        echo "bench-gpu: $label: ${rate[$label]} it/s (wall $wall s)" >&2
    fi
    write_results
}
fig() { # LABEL: "R it/s", or why there is no figure
    if [[ "${rate[$1]:-}" =~ ^[0-9.]+$ ]]; then echo "${rate[$1]} it/s"; else echo "${rate[$1]:-not run}"; fi
}

# compare A B exact|TOL: "identical", "within TOL (max diff R relative)", or "DIFFERENT ...";
# "not compared" when a run is missing. DIFFERENT makes the script exit 1.
compare() {
    local a=$1 b=$2 how=$3 r
    if [ ! -f "$a" ] || [ ! -f "$b" ]; then
        echo "not compared (an output is missing)"
        return 0
    fi
    if [ "$how" = exact ]; then
        if cmp -s "$a" "$b"; then echo "identical (bit for bit)"; else
            echo "DIFFERENT (not bit for bit)"
            failed=1
        fi
        return 0
    fi
    if [ -z "$py" ]; then
        echo "not compared (no Python with NumPy)"
        return 0
    fi
    if r=$("$py" "$here/compare.py" "$a" "$b" --rtol "$how" 2>&1); then echo "$r"; else
        echo "DIFFERENT: $r"
        failed=1
    fi
}

if [ -n "$cases" ]; then
    :
elif [ $quick -eq 1 ]; then
    cases="200:32 400:16"
else
    cases="1000:128 4000:32 100:10000"
fi
first=${cases%% *}
n1=${first%:*}
t1=${first#*:}

# How many matrices CuPy's stack gets at size n (of t): syevjBatched's time grows fast with n.
stack_count() {
    local n=$1 t=$2 k
    if [ "$stack_cap" -gt 0 ]; then
        k=$stack_cap
    elif [ "$n" -ge 2000 ]; then
        k=4
    elif [ "$n" -ge 500 ]; then
        k=16
    elif [ "$n" -ge 200 ]; then
        k=64
    else
        k=1000
    fi
    [ "$k" -le "$t" ] || k=$t
    echo "$k"
}

# ---- calibration ---------------------------------------------------------------------------
# samples MODEL N: "KIND=COUNT ..." for each architecture kind (cpu, cuda) of MODEL, the most
# samples of one history entry whose data size is that of size N. An entry's size is the bytes
# of the task's data: 8n² (gen), 16n² (gram), 8n² + 8n (eigh in place; 16n² + 8n with X apart),
# so [8n², 24n² + 64n] holds the entries of N and of no size √3 times larger or smaller.
samples() {
    [ -n "$display" ] || return 0
    "$display" -s "$1" 2>/dev/null | awk -v n="$2" '
        /^# performance model for / { kind = $5; sub(/[0-9].*/, "", kind); next }
        /^#/ || NF < 6 { next }
        { lo = 8 * n * n; hi = 24 * n * n + 64 * n
          if ($2 + 0 >= lo && $2 + 0 <= hi && $6 + 0 > best[kind]) best[kind] = $6 + 0 }
        END { for (k in best) { printf "%s=%d ", k, best[k]; any = 1 }
              if (!any) printf "none " }'
}
# short N KINDS MODEL...: the "MODEL:KIND" pairs below min_samples at size N
short() {
    local n=$1 want=$2 m k s
    shift 2
    for m in "$@"; do
        s=" $(samples "$m" "$n")"
        for k in $want; do
            [[ "$s" =~ \ $k=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge "$min_samples" ] && continue
            echo -n "$m:$k "
        done
    done
}
ncal=$((min_samples + 2))
declare -A calibrated calib_samples
# calibrate N: until every model the runs use has min_samples at size N on each architecture.
calibrate() {
    local n=$1 rounds=0 miss="" m
    if past; then
        calibrated[$n]="not done (time)"
        return 0
    fi
    if [ -z "$display" ]; then
        calibrated[$n]="not checked (no starpu_perfmodel_display)"
        run "calibrate-$n-gpu" STARPU_CALIBRATE=1 "${gpu_only[@]}" -- \
            "$eigh" -n "$n" --ntasks "$ncal" --rng philox --sched dmda -q
        run "calibrate-$n-cpu" STARPU_CALIBRATE=1 STARPU_NCUDA=0 -- \
            "$eigh" -n "$n" --ntasks "$ncal" --rng philox --sched dmda -q
        run "calibrate-$n-numpy" STARPU_CALIBRATE=1 "${with_gpu[@]}" -- \
            "$eigh" -n "$n" --ntasks "$ncal" --rng numpy --sched dmda -q
        return 0
    fi
    while :; do
        miss=$(short "$n" "$kinds" dusk_gen_philox dusk_gram dusk_eigh)
        miss="$miss$(short "$n" cpu dusk_gen)"
        echo "calibration n=$n round $rounds: short of $min_samples samples: ${miss:-none}" >>"$log"
        if [ -z "$miss" ] || [ $rounds -ge 4 ] || past; then break; fi
        rounds=$((rounds + 1))
        # GPU-only and CPU-only runs: every task on the architecture that lacks samples.
        [[ " $miss" =~ :cuda ]] &&
            run "calibrate-$n-gpu-$rounds" STARPU_CALIBRATE=1 "${gpu_only[@]}" -- \
                "$eigh" -n "$n" --ntasks "$ncal" --rng philox --sched dmda -q
        [[ " $miss" =~ (gen_philox|gram|eigh):cpu ]] &&
            run "calibrate-$n-cpu-$rounds" STARPU_CALIBRATE=1 STARPU_NCUDA=0 -- \
                "$eigh" -n "$n" --ntasks "$ncal" --rng philox --sched dmda -q
        # NumPy's generator runs on CPUs only; the rest, calibrated, goes where dmda says.
        [[ " $miss" =~ dusk_gen:cpu ]] &&
            run "calibrate-$n-numpy-$rounds" STARPU_CALIBRATE=1 "${with_gpu[@]}" -- \
                "$eigh" -n "$n" --ntasks "$ncal" --rng numpy --sched dmda -q
    done
    if [ -z "$miss" ]; then
        calibrated[$n]="calibrated (calibration rounds: $rounds)"
    else
        calibrated[$n]="SHORT of $min_samples samples (calibration rounds: $rounds): $miss"
    fi
    past || calib_samples[$n]=$(for m in dusk_gen_philox dusk_gram dusk_eigh dusk_gen; do
        echo -n "$m $(samples "$m" "$n" | sed 's/ $//'), "
    done | sed 's/, $//')
    {
        echo "== n=$n: ${calibrated[$n]}"
        echo "${calib_samples[$n]}"
    } >>"$out/calibration.txt"
    write_results
}

# ---- results.md, rewritten after every run -----------------------------------------------------
ratio() { # a / b, or "-"
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}
best() { # the largest of the figures given (non-numbers ignored), or 0
    local b=0 r
    for r in "$@"; do
        awk -v a="$r" -v b="$b" 'BEGIN { exit !(a + 0 > b + 0) }' && b=$r
    done
    echo "$b"
}
declare -A same
mpi_line="not run"
dusk_mpi_line="not run"
trace_line="not run"
finished=0
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || sed -n '1s/.*dusk \([0-9a-f]*\).*/\1/p' "$src/../MANIFEST" 2>/dev/null || echo '?')
write_results() {
    local c n t bg bc f=$out/results.md.tmp
    {
        echo "## GPU benchmark, $date: $gpu"
        echo
        if [ $finished -eq 0 ]; then
            echo "**Incomplete: written after each run; the script was still running (or was stopped) when this was written.**"
            echo
        fi
        echo "Host: $cpu, $cores cores; dusk $commit; bench/gpu/run.sh$([ $quick -eq 1 ] && echo ' --quick')$([ $standin -eq 1 ] && echo ' --cpu-standin'). $cupy_kind. Every timed process ran with CUDA_MODULE_LOADING=${timed_env[0]#*=}."
        echo
        echo "Throughput in tasks (matrices) per second, eigenvalues and eigenvectors. **What is timed.** dusk: dusk-eigh's \"Processed T tasks in X s\", from the first task's submission to the end of the graph: it leaves out StarPU's start-up and each GPU worker's warm-up (a small Philox fill, dsyrk and syevd on its stream, in dusk_init) and includes generating the matrices, moving them between host and GPU, gram and eigh, and the first use of each larger cuSOLVER workspace (one allocation per worker and size, through StarPU's allocator). CuPy loop: after 2 untimed iterations, T iterations of seed, rand(n, n), bᵀb, eigh, until the device is synchronised (bench/gpu/cupy_eigh.py). CuPy stack: after one untimed call on 2 matrices, K matrices made and multiplied, then one cupy.linalg.eigh on the (K, n, n) stack, until synchronised; K is T or the cap (column \"K\"), the figure per matrix."
        echo "dusk GPU + cores after calibration (below), sched dmda, only for n ≤ $node_max_n. GPU only with 2 and 4 workers per GPU: STARPU_NWORKER_PER_CUDA=k with STARPU_CUDA_THREAD_PER_WORKER=1 (one driver thread, and one stream, per worker; StarPU 1.3's default is one thread per GPU, which runs dusk's synchronous codelets one at a time). The GPU-only run with 1 worker and the philox GPU + cores run also write eigenvalues.npy (T × n values) for the checks."
        echo
        echo "| n, T | CuPy loop | CuPy stack (K) | dusk GPU only (1 / 2 / 4 workers per GPU) | dusk GPU + $cores cores, philox | dusk GPU + cores, numpy rng | GPU only / best CuPy (target ≥ 1) | node / GPU only (target > 1 at n = 1000) | node / CuPy loop |"
        echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        for c in $cases; do
            n=${c%:*}
            t=${c#*:}
            bg=$(best "${rate[gpu-$n-w1]:-}" "${rate[gpu-$n-w2]:-}" "${rate[gpu-$n-w4]:-}")
            bc=$(best "${rate[cupy-$n]:-}" "${rate[cupystack-$n]:-}")
            echo "| $n, $t | $(fig "cupy-$n") | $(fig "cupystack-$n") ($(stack_count "$n" "$t")) | $(fig "gpu-$n-w1") / $(fig "gpu-$n-w2") / $(fig "gpu-$n-w4") | $(fig "node-$n-philox") | $(fig "node-$n-numpy") | $(ratio "$bg" "$bc") | $(ratio "${rate[node-$n-philox]:-}" "$bg") | $(ratio "${rate[node-$n-philox]:-}" "${rate[cupy-$n]:-}") |"
        done
        echo
        echo "Calibration (samples per architecture of the entry for each size; StarPU's minimum is $min_samples; DIR/calibration.txt has starpu_perfmodel_display's whole output):"
        for c in $cases; do
            n=${c%:*}
            echo "- n = $n: ${calibrated[$n]:-not done}${calib_samples[$n]:+; samples: ${calib_samples[$n]}}."
        done
        echo
        echo "Checks:"
        for c in $cases; do
            n=${c%:*}
            echo "- n = $n, GPU + cores (philox) against GPU only: ${same[$n]:-not compared (not run)}."
        done
        echo "- CuPy + MPI (n = $n1, T = $t1): $mpi_line."
        echo "- dusk across ranks sharing the GPU (n = $n1, T = $t1, philox): $dusk_mpi_line."
        echo
        echo "Trace of the CPU + GPU run: $trace_line. Raw output: log.txt."
        if [ $failed -ne 0 ]; then
            echo
            echo "Some runs or checks FAILED (marked \"failed\" or DIFFERENT above): see log.txt."
        fi
    } >"$f" && mv "$f" "$out/results.md"
}
write_results

# ---- two passes over the sizes: first what the goals need, then the rest -----------------------
# so that a deadline cuts the extra runs of every size rather than whole sizes.
for c in $cases; do
    n=${c%:*}
    t=${c#*:}
    if [ $have_cupy -eq 1 ]; then
        run "cupy-$n" "${timed_env[@]}" -- "$py" "$here/cupy_eigh.py" "$n" "$t"
    else
        rate[cupy-$n]="no CuPy"
        rate[cupystack-$n]="no CuPy"
    fi
    rm -rf "$out/gpu-$n"
    run "gpu-$n-w1" "${timed_env[@]}" "${gpu_only[@]}" STARPU_NWORKER_PER_CUDA=1 -- \
        "$eigh" -n "$n" --ntasks "$t" --rng philox --sched dmda -q --output "$out/gpu-$n"
    if [ "$n" -le "$node_max_n" ]; then
        # just before the GPU + cores runs, which need the models on both sides
        calibrate "$n"
        rm -rf "$out/node-$n"
        run "node-$n-philox" "${timed_env[@]}" "${with_gpu[@]}" -- \
            "$eigh" -n "$n" --ntasks "$t" --rng philox --sched dmda -q --output "$out/node-$n"
        # The same matrices (philox) on the GPU alone and on GPU + cores: cuSOLVER and LAPACK
        # round differently, so within a tolerance, not bit for bit.
        past || same[$n]=$(compare "$out/gpu-$n/eigenvalues.npy" "$out/node-$n/eigenvalues.npy" 1e-10)
    else
        calibrated[$n]="not needed (no GPU + cores run at n > $node_max_n)"
        for k in node-$n-philox node-$n-numpy; do
            rate[$k]="not run (n > $node_max_n)"
        done
        same[$n]="not compared (no GPU + cores run at n > $node_max_n)"
    fi
    write_results
done
for c in $cases; do
    n=${c%:*}
    t=${c#*:}
    if [ $have_cupy -eq 1 ]; then
        # batched Jacobi: capped in matrices and in time, its figure per matrix
        RUN_MAX=45 run "cupystack-$n" "${timed_env[@]}" -- \
            "$py" "$here/cupy_eigh.py" "$n" "$(stack_count "$n" "$t")" --stack
    fi
    for k in 2 4; do
        # One driver thread per worker, else StarPU 1.3 runs a GPU's workers from one thread.
        run "gpu-$n-w$k" "${timed_env[@]}" "${gpu_only[@]}" STARPU_NWORKER_PER_CUDA=$k \
            STARPU_CUDA_THREAD_PER_WORKER=1 -- \
            "$eigh" -n "$n" --ntasks "$t" --rng philox --sched dmda -q
    done
    if [ "$n" -le "$node_max_n" ]; then
        run "node-$n-numpy" "${timed_env[@]}" "${with_gpu[@]}" -- \
            "$eigh" -n "$n" --ntasks "$t" --rng numpy --sched dmda -q
    fi
done
# What the models hold after every run (the timed runs update them too).
if [ -n "$display" ] && ! past; then
    for m in dusk_gen dusk_gen_philox dusk_gram dusk_eigh; do
        echo "==== starpu_perfmodel_display -s $m"
        timeout 5 "$display" -s "$m" 2>&1 || true
    done >>"$out/calibration.txt"
fi
# FxT on for this run only, its file in the trace directory.
trace_env=("${with_gpu[@]}")
[ "$n1" -le "$node_max_n" ] || trace_env=("${gpu_only[@]}")
rm -rf "$out/trace-$n1"
mkdir -p "$out/trace-$n1/fxt"
run "trace-$n1" "${trace_env[@]}" STARPU_FXT_TRACE=1 STARPU_FXT_PREFIX="$out/trace-$n1/fxt/" -- \
    "$eigh" -n "$n1" --ntasks "$t1" --rng philox --sched dmda -q --trace "$out/trace-$n1"
fxt_file=$(find "$out/trace-$n1/fxt" -type f 2>/dev/null | head -1)
if [[ "${rate[trace-$n1]}" =~ ^[0-9.]+$ ]]; then
    trace_line="trace-$n1/report.html (dusk's); StarPU's FxT trace: "
    if [ -n "$fxt_file" ]; then
        trace_line+="trace-$n1/fxt/$(basename "$fxt_file") (starpu_fxt_tool -i FILE makes Paje and DAG files)"
    else
        trace_line+="none written (a StarPU without FxT?)"
    fi
else
    trace_line="${rate[trace-$n1]}"
fi
write_results

# ---- several ranks -------------------------------------------------------------------------
mpirun_flags=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun_flags+=(--allow-run-as-root)
# CuPy + MPI: two ranks sharing the GPU, outputs identical to one rank's.
mpi_line="not run: no mpirun or no mpi4py/CuPy on this node"
past && mpi_line="not run (time)"
if ! past && command -v mpirun >/dev/null && [ -n "$py" ] && "$py" -c "import mpi4py, cupy" 2>/dev/null; then
    for np in 1 2; do
        rm -f "$out/cupy-mpi$np.npy"
        run "cupy-mpi-$np" X=1 -- mpirun "${mpirun_flags[@]}" -np $np "$py" \
            "$here/cupy_mpi_eigh.py" "$n1" "$t1" --output "$out/cupy-mpi$np.npy"
    done
    mpi_line="1 rank $(fig cupy-mpi-1), 2 ranks $(fig cupy-mpi-2); outputs $(
        compare "$out/cupy-mpi1.npy" "$out/cupy-mpi2.npy" exact)"
fi
# dusk across ranks sharing the GPU (StarPU-MPI). On the GPU alone, every matrix goes through
# the same cuSOLVER call whatever the rank: bit for bit. With the cores too, each rank's dmda
# decides where each matrix goes: within 1e-10.
dusk_mpi_line="not run: no mpirun on this node (the tarball does not carry Open MPI's launcher)"
past && dusk_mpi_line="not run (time)"
if ! past && command -v mpirun >/dev/null; then
    for np in 1 2; do
        rm -rf "$out/dusk-mpi-gpu$np" "$out/dusk-mpi-node$np"
        run "dusk-mpi-gpu-$np" "${gpu_only[@]}" -- mpirun "${mpirun_flags[@]}" -np $np \
            -x STARPU_NCPU -x STARPU_NCUDA -x LD_LIBRARY_PATH -x STARPU_HOME -x STARPU_FXT_TRACE \
            "$eigh" -n "$n1" --ntasks "$t1" --rng philox --sched dmda -q --output "$out/dusk-mpi-gpu$np"
        run "dusk-mpi-node-$np" "${with_gpu[@]}" -- mpirun "${mpirun_flags[@]}" -np $np \
            -x STARPU_NCUDA -x LD_LIBRARY_PATH -x STARPU_HOME -x STARPU_FXT_TRACE \
            "$eigh" -n "$n1" --ntasks "$t1" --rng philox --sched dmda -q --output "$out/dusk-mpi-node$np"
    done
    dusk_mpi_line="GPU only: 1 rank $(fig dusk-mpi-gpu-1), 2 ranks $(fig dusk-mpi-gpu-2), eigenvalues $(
        compare "$out/dusk-mpi-gpu1/eigenvalues.npy" "$out/dusk-mpi-gpu2/eigenvalues.npy" exact); GPU + cores: 1 rank $(fig dusk-mpi-node-1), 2 ranks $(fig dusk-mpi-node-2), eigenvalues $(
        compare "$out/dusk-mpi-node1/eigenvalues.npy" "$out/dusk-mpi-node2/eigenvalues.npy" 1e-10)"
fi

finished=1
write_results
cat "$out/results.md"
[ $failed -eq 0 ] || {
    echo "bench-gpu: some runs or checks failed (see $log)" >&2
    exit 1
}
