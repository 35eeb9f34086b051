#!/bin/bash
# Everything a lent GPU node is for, most telling first, within a time budget (default 400 s:
# one command on the node may last 10 minutes and a whole session's device time is 15, start
# included), from the unpacked tarball of tools/pack-gpu.sh:
#   1. preflight (about 2 s): nvidia-smi sees a GPU, in a compute mode that lets a process use
#      it, with a driver CUDA 13 runs on (580 or later); if not, the session stops there
#      (exit 3) and SUMMARY.md says why;
#   2. libraries: every program and library resolves (ldd), with the node's CUDA;
#   3. starpu: StarPU sees the GPU (starpu_machine_display lists a CUDA worker), and what
#      CUDA_MODULE_LOADING=EAGER costs at start-up (dusk-eigh's smallest GPU run, lazy then
#      eager: DIR/module-loading.txt); the benchmark's timed runs use EAGER unless it costs
#      more than 6 s a process;
#   4. gpu-tests: the GPU tests (./run-tests.sh --gpu: test_cuda_philox, test_cuda_eigh,
#      test_cuda_stack_bits, test_app_gpu, which checks dusk-eigh on GPU workers against the
#      CPU and NumPy);
#   5. bench: bench/gpu/run.sh (n = 1000, T = 128; n = 4000, T = 32; n = 100, T = 10000), its
#      DIR/bench/results.md rewritten after every run, stopped at its share of the budget with
#      what it has;
#   6. eigh-stack: batched against looped eigh (dusk-eigh-stack-bench), large sizes first, one
#      line per size as it goes;
#   7. sanitizer: compute-sanitizer --tool memcheck on the CUDA tests, where the node's
#      sanitizer supports the device (it skips where it does not);
#   8. cpu-tests: ./run-tests.sh --cpu (a CPU subset, STARPU_NCUDA=0), only when 60 s are left.
# Each step has its time (its most, and what it leaves to the steps after it); a step that
# fails does not stop the next, and one not run for lack of time is "not run (time)", which is
# no failure. DIR/SUMMARY.md (each step's status and time, the GPU, the date, the figures so
# far) is rewritten after every step; each step's log is DIR/NN-step.log, the benchmark's
# files are in DIR/bench/.
#
#   tar xf dusk-gpu-*.tar.xz && dusk-gpu/bench/gpu/session.sh --out results
#   (bench/gpu/device.sh does that in one command on a lent machine)
#
# --steps NAME,...: only these steps (to rerun what failed, into another --out DIR).
# --cpu-standin: on a machine without a GPU (tools/pack-gpu.sh --check), the same flow with
# CPU workers in place of the GPU's, CuPy's NumPy stand-in, tiny sizes, and the GPU-only
# checks expected to skip; it tests the script, not a GPU.
# Exit: 0 no step failed, 1 a step failed, 2 bad usage, 3 stopped by the preflight (no usable
# GPU).
set -uo pipefail

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
src=$(cd "$here/../.." && pwd -P)
root=$(cd "$src/.." && pwd -P) # the unpacked tarball: env.sh, build/, starpu/, src/
out="" budget=420 standin=0 only=""
usage() {
    echo "usage: $0 [--out DIR] [--budget SECONDS] [--steps NAME,...] [--cpu-standin]"
}
opts=$(getopt -o h -l out:,budget:,steps:,cpu-standin,help -n gpu-session -- "$@") || exit 2
eval set -- "$opts"
while true; do
    case "$1" in
    --out) out=$2 && shift 2 ;;
    --budget) budget=$2 && shift 2 ;;
    --steps) only=$2 && shift 2 ;;
    --cpu-standin) standin=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    --) shift && break ;;
    esac
done
bad_usage() {
    echo "gpu-session: $*" >&2
    usage >&2
    exit 2
}
[ $# -eq 0 ] || bad_usage "unexpected argument '$1'"
[[ "$budget" =~ ^[1-9][0-9]*$ ]] || bad_usage "--budget '$budget' is not a whole number of seconds"
all_steps=" preflight libraries starpu gpu-tests bench eigh-stack sanitizer cpu-tests bench-quick "
for n in ${only//,/ }; do
    [[ "$all_steps" == *" $n "* ]] || bad_usage "--steps: no step '$n' (steps:$all_steps)"
done
if [ ! -f "$root/env.sh" ] || [ ! -x "$root/build/apps/dusk-eigh" ]; then
    echo "gpu-session: $root is not an unpacked dusk-gpu tarball (no env.sh or build/)" >&2
    exit 2
fi
start=$(date +%s)
deadline=$((start + budget))
# shellcheck source=/dev/null
source "$root/env.sh"
[ -n "$out" ] || out=$PWD/gpu-session-$(date -u +%Y%m%d-%H%M)
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 1
export STARPU_HOME=$out/starpu-home # one bus calibration and one set of models for all steps
export STARPU_SILENT=1 STARPU_FXT_TRACE=0
mkdir -p "$STARPU_HOME"
build=$root/build
gpu="(not known yet)"

declare -a names status secs
step_no=0
stopped=""
# step NAME MIN MAX RESERVE CMD...: run CMD (its output in DIR/NN-NAME.log) for at most MAX
# seconds, and not past RESERVE seconds before the deadline (what the steps after it need),
# but for MIN seconds at least when the deadline allows them (the steps come most telling
# first); with fewer than MIN seconds left, it is "not run (time)". step_end (when
# it must end) is exported for CMD. Status: passed, FAILED (exit N), skipped (CMD exited 77:
# its log says why), not run (time), or, when CMD runs out of its time, "stopped (time)" for
# the steps that measure as long as they may (`cuttable`: their logs keep what they did) and
# FAILED for the others (a test that hangs).
cuttable=" bench bench-quick eigh-stack sanitizer cpu-tests "
step() {
    local name=$1 need=$2 most=$3 reserve=$4 rc=0 t0 left logf
    shift 4
    [ -z "$only" ] || [[ ",$only," == *",$name,"* ]] || return 0
    step_no=$((step_no + 1))
    logf=$out/$(printf %02d $step_no)-$name.log
    names+=("$name")
    t0=$(date +%s)
    left=$((deadline - reserve - t0))
    [ $left -le "$most" ] || left=$most
    [ $left -ge "$need" ] || left=$need
    if [ $((deadline - t0)) -lt "$need" ]; then
        status+=("not run (time: $((deadline - t0)) s left, needs ${need} s)")
        secs+=(0)
        echo "gpu-session: $name: not run (time)" >&2
        write_summary
        return 0
    fi
    step_end=$((t0 + left))
    echo "gpu-session: $name (at most $left s) ..." >&2
    export step_end
    # timeout runs programs: the step's function runs in a bash that has it (export -f)
    timeout -k 5 "$left" bash -c '"$@"' step "$@" >"$logf" 2>&1 || rc=$?
    secs+=($(($(date +%s) - t0)))
    case $rc in
    0) status+=("passed") ;;
    77) status+=("skipped ($(tail -1 "$logf" | cut -c1-120))") ;;
    124 | 137)
        if [[ "$cuttable" == *" $name "* ]]; then
            status+=("stopped (time: its $left s ran out)")
        else
            status+=("FAILED (stopped after $left s)")
        fi
        ;;
    *) status+=("FAILED (exit $rc)") ;;
    esac
    echo "gpu-session: $name: ${status[-1]} (${secs[-1]} s)" >&2
    write_summary
    return $rc
}

write_summary() {
    local i f=$out/SUMMARY.md.tmp
    {
        echo "# GPU session, $(date -u +%Y-%m-%dT%H:%MZ): $gpu"
        [ $standin -eq 1 ] && echo && echo "**CPU stand-in (--cpu-standin): this tests the script, not a GPU.**"
        [ -n "$stopped" ] && echo && echo "**Stopped by the preflight: $stopped**"
        echo
        echo "$(sed -n 1p "$root/MANIFEST"); host $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) cores; budget $budget s, used $(($(date +%s) - start)) s so far."
        echo
        echo "| step | status | seconds | log |"
        echo "| --- | --- | --- | --- |"
        for i in "${!names[@]}"; do
            [ -n "${status[$i]:-}" ] || continue
            echo "| ${names[$i]} | ${status[$i]} | ${secs[$i]} | $(printf %02d $((i + 1)))-${names[$i]}.log |"
        done
        [ -f "$out/module-loading.txt" ] && echo && echo "Start-up of dusk-eigh's smallest GPU run: $(cat "$out/module-loading.txt")."
        for d in bench bench-quick; do
            if [ -f "$out/$d/results.md" ]; then
                echo
                sed 's/^## /### /' "$out/$d/results.md"
            fi
        done
        local log
        log=$(find "$out" -maxdepth 1 -name '*-eigh-stack.log' | head -1)
        if [ -n "$log" ] && grep -q '^eigh_stack' "$log"; then
            echo
            echo "### Batched against looped eigh (dusk-eigh-stack-bench: seconds per stack, best of 2)"
            echo
            echo '```'
            grep -E '^(#|eigh_stack)' "$log"
            echo '```'
        fi
    } >"$f" && mv "$f" "$out/SUMMARY.md"
}

# ---- the steps -----------------------------------------------------------------------------
preflight() {
    if [ $standin -eq 1 ]; then
        echo "--cpu-standin: no GPU expected here, no preflight"
        return 77
    fi
    if ! command -v nvidia-smi >/dev/null; then
        echo "STOP: no nvidia-smi, so no NVIDIA driver here"
        return 3
    fi
    local q rc=0
    q=$(timeout 15 nvidia-smi --query-gpu=index,name,driver_version,compute_mode,memory.total,memory.used \
        --format=csv,noheader 2>&1) || rc=$?
    echo "nvidia-smi: index, name, driver, compute mode, memory total, used:"
    echo "$q"
    if [ $rc -ne 0 ] || ! echo "$q" | grep -q '^[0-9]'; then
        echo "STOP: nvidia-smi sees no GPU (exit $rc)"
        return 3
    fi
    local count driver mode
    count=$(echo "$q" | grep -c '^[0-9]')
    driver=$(echo "$q" | head -1 | cut -d, -f3 | tr -d ' ')
    mode=$(echo "$q" | head -1 | cut -d, -f4 | tr -d ' ')
    echo "GPUs: $count; driver $driver; compute mode $mode; CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-(unset)}"
    if [ "${driver%%.*}" -lt 580 ] 2>/dev/null; then
        echo "STOP: driver $driver is older than CUDA 13 needs (580)"
        return 3
    fi
    case $mode in
    Prohibited)
        echo "STOP: compute mode Prohibited: no process may use the GPU"
        return 3
        ;;
    Exclusive_Process)
        # one process at a time: every step runs one, except two MPI ranks sharing the GPU
        echo "note: compute mode Exclusive_Process: the two-rank runs sharing the GPU will fail"
        ;;
    esac
    echo "preflight passed"
}

libraries() {
    local missing
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    # one ldd per file, 8 at a time (about 100 files)
    missing=$(for f in "$build"/apps/* "$build"/tools/dusk-trace "$build"/tests/test_cuda_* \
        "$build"/bench/gpu/dusk-eigh-stack-bench "$root"/starpu/lib/*.so.* "$root"/lib/*; do
        [ -f "$f" ] && printf '%s\0' "$f"
    done | xargs -0 -r -P 8 -n 1 sh -c 'o=$(ldd "$1" 2>/dev/null) || exit 0
        case $o in *"not found"*) echo "MISSING for $1:"; echo "$o" | grep "not found" ;; esac' ldd-check)
    echo "== dusk-eigh:"
    ldd "$build/apps/dusk-eigh"
    echo "== nvcc:"
    timeout 10 nvcc --version 2>&1 || echo "(no nvcc)"
    echo "== MANIFEST:"
    cat "$root/MANIFEST"
    if [ -n "$missing" ]; then
        echo "$missing"
        return 1
    fi
    echo "every library resolves"
}

# seconds LOADING LIMIT: the wall time of dusk-eigh's smallest GPU run under
# CUDA_MODULE_LOADING, or "failed" (past LIMIT seconds too)
seconds() {
    local t0 rc=0
    t0=$(date +%s.%N)
    CUDA_MODULE_LOADING=$1 STARPU_NCPU=0 STARPU_NCUDA=1 timeout "$2" "$build/apps/dusk-eigh" \
        -n 32 --ntasks 2 --rng philox -q --no-progress >/dev/null 2>&1 || rc=$?
    [ $rc -eq 0 ] || {
        echo "failed"
        return 0
    }
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

starpu_sees() {
    local o rc=0
    # the first StarPU run with this STARPU_HOME measures the bus: a few seconds
    o=$(timeout 30 starpu_machine_display 2>&1) || rc=$?
    echo "$o"
    if [ $rc -ne 0 ]; then
        echo "starpu_machine_display failed (exit $rc)"
        return 1
    fi
    if ! echo "$o" | grep -Eq "^[1-9][0-9]* STARPU_CUDA_WORKER"; then
        [ $standin -eq 1 ] && echo "no CUDA worker (as expected with --cpu-standin)" && return 77
        echo "StarPU found no CUDA worker"
        return 1
    fi
    echo "StarPU sees: $(echo "$o" | grep -E "^[1-9][0-9]* STARPU_CUDA_WORKER" -A1 | tr '\n\t' '  ')"
    # written before the eager run, which may be slow: "failed" means lazy for the benchmark
    local lazy eager
    lazy=$(seconds LAZY 20)
    echo "lazy ${lazy} s, eager failed s" >"$out/module-loading.txt"
    eager=$(seconds EAGER 20)
    echo "lazy ${lazy} s, eager ${eager} s" | tee "$out/module-loading.txt"
}

gpu_tests() {
    "$root/run-tests.sh" --gpu
}

sanitizer() {
    local cs=""
    for c in compute-sanitizer "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer" \
        /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
        command -v "$c" >/dev/null 2>&1 && cs=$(command -v "$c") && break
    done
    if [ -z "$cs" ]; then
        echo "no compute-sanitizer on this node: not run"
        return 77
    fi
    local rc t o=$out/sanitizer-output.txt
    for t in test_cuda_philox test_cuda_stack_bits "test_cuda_eigh --quick"; do
        echo "== compute-sanitizer --tool memcheck $t"
        # shellcheck disable=SC2086 # the test's own argument
        "$cs" --tool memcheck --error-exitcode 99 --leak-check full "$build"/tests/$t 2>&1 | tee "$o"
        rc=${PIPESTATUS[0]}
        # gVisor nodes: "Device not supported" (seen on lent H200s), then error 999
        if grep -qi "device not supported" "$o"; then
            echo "compute-sanitizer does not support this device here: not run"
            return 77
        fi
        [ $rc -eq 0 ] || return $rc
    done
}

eigh_stack() {
    if [ $standin -eq 1 ]; then
        "$build/bench/gpu/dusk-eigh-stack-bench" 8:4
        return $?
    fi
    # large sizes first: a cut loses the small ones, where the batched call is known to win
    "$build/bench/gpu/dusk-eigh-stack-bench" --reps 2 1000:16 400:32 200:128 100:500 64:1000 \
        32:2000 16:4000 8:4000
}

bench() { # OUT_SUBDIR [run.sh options]
    local d=$out/$1 loading=eager l e
    [ $standin -eq 1 ] || [ -f "$out/module-loading.txt" ] || loading=lazy # not measured
    shift
    local extra=()
    [ $standin -eq 1 ] && extra=(--cpu-standin)
    # EAGER start-up is outside the timed windows, but inside the session's time
    if [ -f "$out/module-loading.txt" ]; then
        read -r _ l _ _ e _ <"$out/module-loading.txt"
        awk -v l="$l" -v e="$e" 'BEGIN { exit !(e == "failed" || l == "failed" || e - l > 6) }' &&
            loading=lazy
    fi
    echo "module loading for the timed runs: $loading ($(cat "$out/module-loading.txt" 2>/dev/null || echo 'not measured'))"
    # its runs end 15 s before the step must, to write what it has (it does after every run)
    "$root/bench/gpu/run.sh" --out "$d" --starpu-home "$STARPU_HOME" --deadline $((step_end - 15)) \
        --module-loading "$loading" "${extra[@]}" "$@"
}

cpu_tests() {
    STARPU_NCUDA=0 "$root/run-tests.sh" --cpu -j "$(nproc)" "$@"
}

export -f libraries seconds starpu_sees gpu_tests sanitizer eigh_stack bench cpu_tests preflight
export root build out standin deadline
gpu=$(timeout 15 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
    head -1)
[ -n "$gpu" ] || gpu="no GPU (nvidia-smi found none)"
step_end=0
write_summary
# step NAME MIN MAX RESERVE: sized for an H100/H200 node with 16 cores, budget 420 s.
if [ $standin -eq 1 ]; then
    step preflight 1 5 0 preflight
    step libraries 5 30 0 libraries
    step starpu 10 60 0 starpu_sees
    step gpu-tests 30 150 0 gpu_tests
    step bench 40 600 0 bench bench --cases "150:16"
    step eigh-stack 10 60 0 eigh_stack
    step sanitizer 10 60 0 sanitizer
    # two C unit tests only: the whole CPU subset takes minutes on a small machine
    step cpu-tests 30 300 0 cpu_tests -R 'test_eigh_known|test_npy_round'
else
    rc=0
    step preflight 3 20 0 preflight || rc=$?
    if [ $rc -eq 3 ]; then
        stopped=$(sed -n 's/^STOP: //p' "$out"/*-preflight.log | head -1)
        status[-1]="stopped the session: $stopped"
        write_summary
        cat "$out/SUMMARY.md"
        exit 3
    fi
    step libraries 3 20 0 libraries
    step starpu 10 45 0 starpu_sees
    step gpu-tests 40 120 200 gpu_tests
    # the benchmark leaves 100 s: 40 to eigh-stack, the rest to the sanitizer
    step bench 60 100000 100 bench bench
    step eigh-stack 15 40 45 eigh_stack
    step sanitizer 20 60 0 sanitizer
    step cpu-tests 60 200 0 cpu_tests
    # only when asked for (--steps bench-quick): small sizes, to try the benchmark
    [ -n "$only" ] && step bench-quick 30 200 0 bench bench-quick --quick
fi

# ---- summary -------------------------------------------------------------------------------
write_summary
cat "$out/SUMMARY.md"
fails=0
for i in "${!names[@]}"; do
    case ${status[$i]} in passed | skipped* | not\ run* | stopped*) ;; *) fails=$((fails + 1)) ;; esac
done
# A skip on a GPU node is a failure for the GPU steps: there is a GPU to test.
if [ $standin -eq 0 ]; then
    for i in "${!names[@]}"; do
        case "${names[$i]}:${status[$i]}" in
        starpu:skipped* | gpu-tests:skipped* | eigh-stack:skipped*) fails=$((fails + 1)) ;;
        esac
    done
fi
[ $fails -eq 0 ]
