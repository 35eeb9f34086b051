#!/bin/bash
# Everything a lent GPU node is for, in order, within a time budget (default 470 s, under the
# 8 minutes a session may spend), from the unpacked tarball of tools/pack-gpu.sh:
#   1. libraries: every program and library resolves (ldd), with the node's CUDA;
#   2. starpu: StarPU sees the GPU (starpu_machine_display lists a CUDA worker);
#   3. gpu-tests: the GPU tests pass and none skips (./run-tests.sh --gpu: test_cuda_philox,
#      test_cuda_eigh, test_app_gpu, which checks dusk-eigh on GPU workers against the CPU
#      and NumPy);
#   4. sanitizer: test_cuda_eigh --quick and test_cuda_philox under compute-sanitizer
#      (memcheck), when the node has it;
#   5. eigh-stack: batched against looped eigh (dusk-eigh-stack-bench), what DUSK__EIGH_AUTO
#      should pick at each n;
#   6. bench-quick: bench/gpu/run.sh --quick;
#   7. bench: bench/gpu/run.sh (n = 1000, T = 128; n = 100, T = 10000; n = 4000, T = 32),
#      stopped at the budget's end with what it has;
#   8. cpu-tests: ./run-tests.sh --cpu (a CPU subset, STARPU_NCUDA=0), if time is left.
# A step that fails does not stop the next. Every figure and log goes to DIR (default
# ./gpu-session-DATE): DIR/SUMMARY.md (each step's status and time, the GPU, the date),
# DIR/NN-step.log, DIR/bench-quick/ and DIR/bench/ (results.md, calibration, trace).
#
#   tar xf dusk-gpu-*.tar.xz && dusk-gpu/bench/gpu/session.sh --out results
#
# --steps NAME,...: only these steps (to rerun what failed, into another --out DIR).
# --cpu-standin: on a machine without a GPU (tools/pack-gpu.sh --check), the same flow with
# CPU workers in place of the GPU's, CuPy's NumPy stand-in, tiny sizes, and the GPU-only
# checks expected to skip; it tests the script, not a GPU.
# Exit: 0 every step passed, 1 a step failed or ran out of time, 2 bad usage.
set -uo pipefail

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
src=$(cd "$here/../.." && pwd -P)
root=$(cd "$src/.." && pwd -P) # the unpacked tarball: env.sh, build/, starpu/, src/
out="" budget=470 standin=0 only=""
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
all_steps=" libraries starpu gpu-tests sanitizer eigh-stack bench-quick bench cpu-tests "
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

declare -a names status secs
step_no=0
# step NAME MIN MAX CMD...: run CMD (its output in DIR/NN-NAME.log) unless fewer than MIN
# seconds are left, for at most MAX seconds and not past the deadline (step_end: when it must
# end). Status: passed, FAILED (exit N), skipped (CMD exited 77: its log says why) or not run
# (time).
step() {
    local name=$1 need=$2 most=$3 rc=0 t0 left logf
    shift 3
    [ -z "$only" ] || [[ ",$only," == *",$name,"* ]] || return 0
    step_no=$((step_no + 1))
    logf=$out/$(printf %02d $step_no)-$name.log
    names+=("$name")
    t0=$(date +%s)
    left=$((deadline - t0))
    if [ $left -lt "$need" ]; then
        status+=("not run (time: ${left} s left, needs ${need})")
        secs+=(0)
        echo "gpu-session: $name: not run (time)" >&2
        return 0
    fi
    [ $left -le "$most" ] || left=$most
    step_end=$((t0 + left))
    echo "gpu-session: $name (at most $left s) ..." >&2
    export step_end
    # timeout runs programs: the step's function runs in a bash that has it (export -f)
    timeout -k 10 "$left" bash -c '"$@"' step "$@" >"$logf" 2>&1 || rc=$?
    secs+=($(($(date +%s) - t0)))
    case $rc in
    0) status+=("passed") ;;
    77) status+=("skipped ($(tail -1 "$logf" | cut -c1-120))") ;;
    124 | 137) status+=("FAILED (stopped after $left s)") ;;
    *) status+=("FAILED (exit $rc)") ;;
    esac
    echo "gpu-session: $name: ${status[-1]} (${secs[-1]} s)" >&2
}

# ---- the steps -----------------------------------------------------------------------------
libraries() {
    local bad=0 f
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    for f in "$build"/apps/* "$build"/tools/dusk-trace "$build"/tests/test_cuda_* \
        "$build"/bench/gpu/dusk-eigh-stack-bench "$root"/starpu/lib/*.so.* "$root"/lib/*; do
        if [ ! -f "$f" ] || ! ldd "$f" >/dev/null 2>&1; then continue; fi # not a dynamic ELF
        if ldd "$f" 2>&1 | grep -q 'not found'; then
            echo "MISSING for $f:"
            ldd "$f" | grep 'not found'
            bad=1
        fi
    done
    echo "== dusk-eigh:"
    ldd "$build/apps/dusk-eigh"
    echo "== nvidia-smi:"
    nvidia-smi 2>&1 || echo "(no nvidia-smi)"
    echo "== nvcc:"
    nvcc --version 2>&1 || echo "(no nvcc)"
    echo "== MANIFEST:"
    cat "$root/MANIFEST"
    [ $bad -eq 0 ] && echo "every library resolves"
    return $bad
}

starpu_sees() {
    local o rc=0
    o=$(starpu_machine_display 2>&1) || rc=$?
    echo "$o"
    if [ $rc -ne 0 ]; then
        echo "starpu_machine_display failed (exit $rc)"
        return 1
    fi
    if echo "$o" | grep -Eq "^[1-9][0-9]* STARPU_CUDA_WORKER"; then
        echo "StarPU sees: $(echo "$o" | grep -E "^[1-9][0-9]* STARPU_CUDA_WORKER" -A1 | tr '\n\t' '  ')"
        return 0
    fi
    [ $standin -eq 1 ] && echo "no CUDA worker (as expected with --cpu-standin)" && return 77
    echo "StarPU found no CUDA worker"
    return 1
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
    local rc=0 t
    for t in "test_cuda_eigh --quick" test_cuda_philox; do
        # shellcheck disable=SC2086 # the test's own argument
        "$cs" --tool memcheck --error-exitcode 99 --leak-check full "$build"/tests/$t || rc=$?
        [ $rc -eq 0 ] || break
    done
    return $rc
}

eigh_stack() {
    if [ $standin -eq 1 ]; then
        "$build/bench/gpu/dusk-eigh-stack-bench" 8:4
        return $?
    fi
    "$build/bench/gpu/dusk-eigh-stack-bench" --reps 2 8:4000 16:4000 32:2000 64:1000 100:500 \
        200:128 400:32 1000:16
}

bench() { # OUT_SUBDIR [run.sh options]
    local d=$out/$1
    shift
    local extra=()
    [ $standin -eq 1 ] && extra=(--cpu-standin)
    # its runs end 20 s before the step must, to write what it has
    "$root/bench/gpu/run.sh" --out "$d" --starpu-home "$STARPU_HOME" --deadline $((step_end - 20)) \
        "${extra[@]}" "$@"
}

cpu_tests() {
    STARPU_NCUDA=0 "$root/run-tests.sh" --cpu -j "$(nproc)"
}

export -f libraries starpu_sees gpu_tests sanitizer eigh_stack bench cpu_tests
export root build out standin deadline
# Times (MIN MAX) sized for an H100/H200 node with 16 cores; the benchmark gets what is left.
step_end=0
step libraries 5 30 libraries
step starpu 20 90 starpu_sees
step gpu-tests 40 150 gpu_tests
step sanitizer 30 90 sanitizer
step eigh-stack 30 60 eigh_stack
if [ $standin -eq 1 ]; then
    step bench-quick 40 300 bench bench-quick --cases "60:12 120:8"
    step bench 40 600 bench bench --cases "150:16"
    # two C unit tests only: the whole CPU subset takes minutes on a small machine
    step cpu-tests 30 300 env STARPU_NCUDA=0 "$root/run-tests.sh" --cpu -R 'test_eigh_known|test_npy_round'
else
    step bench-quick 60 120 bench bench-quick --quick
    step bench 90 100000 bench bench
    step cpu-tests 60 300 cpu_tests
fi

# ---- summary -------------------------------------------------------------------------------
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
    head -1)
fails=0
{
    echo "# GPU session, $(date -u +%Y-%m-%dT%H:%MZ): ${gpu:-no GPU (nvidia-smi found none)}"
    [ $standin -eq 1 ] && echo && echo "**CPU stand-in (--cpu-standin): this tests the script, not a GPU.**"
    echo
    echo "$(sed -n 1p "$root/MANIFEST"); host $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) cores; budget $budget s, used $(($(date +%s) - start)) s."
    echo
    echo "| step | status | seconds | log |"
    echo "| --- | --- | --- | --- |"
    for i in "${!names[@]}"; do
        echo "| ${names[$i]} | ${status[$i]} | ${secs[$i]} | $(printf %02d $((i + 1)))-${names[$i]}.log |"
        case ${status[$i]} in passed | skipped*) ;; *) fails=$((fails + 1)) ;; esac
    done
    for d in bench-quick bench; do
        if [ -f "$out/$d/results.md" ]; then
            echo
            sed 's/^## /### /' "$out/$d/results.md"
        fi
    done
    log=$(find "$out" -maxdepth 1 -name '*-eigh-stack.log' | head -1)
    if [ -n "$log" ] && grep -q '^eigh_stack' "$log"; then
        echo
        echo "### Batched against looped eigh (dusk-eigh-stack-bench: seconds per stack, best of 2)"
        echo
        echo '```'
        grep -E '^(#|eigh_stack)' "$log"
        echo '```'
    fi
} >"$out/SUMMARY.md"
cat "$out/SUMMARY.md"
# A skip on a GPU node is a failure for the GPU steps: there is a GPU to test.
if [ $standin -eq 0 ]; then
    for i in "${!names[@]}"; do
        case "${names[$i]}:${status[$i]}" in
        starpu:skipped* | gpu-tests:skipped* | eigh-stack:skipped*) fails=$((fails + 1)) ;;
        esac
    done
fi
[ $fails -eq 0 ]
