#!/usr/bin/env bash
# docs/tutorial.md, runnable: each step of "Intro to Parallel Python", done in C with dusk.
#
#   tools/tutorial.sh STEP [-b BUILD] [-n N] [--ntasks T]    run one step in this terminal
#   tools/tutorial.sh regen [--quick|--full] [-b BUILD]       regenerate every number and plot
#
# Steps: 1 (indirect parallelism: BLAS threads), 2 (serial loop), 3 (pool of workers),
# 4 (MPI ranks), 5 (task graph), 6 (GPUs: prints how to run it), 7 (traces); "all" runs 1-7.
# Each prints the settings, a progress bar, the time, and whether every task came back.
#
# `regen` runs tools/scaling.sh (CSV and plots under bench/tutorial/), then every step with its
# console output captured, takes a screenshot of a trace report with headless Chromium, and
# rewrites the generated blocks of docs/tutorial.md (between
# "<!-- tutorial:NAME -->" and "<!-- /tutorial:NAME -->"), stamped with the machine and date.
# --quick (default; n = 1000, T = 64) takes about 8 minutes on a quiet 2-core machine (489 s
# on 2026-11-25); --full is the
# tutorial's own size (n = 1000, T = 128, 5 runs per point, sizes up to 4000).
# Exit status: 0 done, 1 a step failed, 2 bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=tutorial.sh
usage="tutorial.sh 1|2|3|4|5|6|7|all|regen [--quick|--full] [-b BUILD] [-n N] [--ntasks T]"
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

[ $# -ge 1 ] || usage_error "which step?"
what=$1
shift
case "$what" in 1 | 2 | 3 | 4 | 5 | 6 | 7 | all | regen) ;; -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*) usage_error "unknown step '$what'" ;;
esac
build="" preset=quick n="" ntasks=""
opts=$(getopt -o b:n: -l build:,quick,full,ntasks: -n "$prog" -- "$@" 2>&1) ||
    usage_error "$(echo "$opts" | head -n 1 | sed "s/^$prog: //")"
eval set -- "$opts"
while true; do
    case "$1" in
    -b | --build) build=$2 && shift 2 ;;
    --quick | --full) preset=${1#--} && shift ;;
    -n) require_positive -n "$2" && n=$2 && shift 2 ;;
    --ntasks) require_positive --ntasks "$2" && ntasks=$2 && shift 2 ;;
    --) shift && break ;;
    esac
done
[ $# -eq 0 ] || usage_error "unexpected argument '$1'"
n=${n:-1000}
if [ "$preset" = full ]; then ntasks=${ntasks:-128}; else ntasks=${ntasks:-64}; fi

resolve_build
rel=${build#"$root"/} # how docs/tutorial.md shows the commands: build/apps/...
dusk=$build/apps/dusk-eigh
for p in apps/dusk-eigh apps/dusk-timeit apps/dusk-reduce bench/dusk-ref-loop tools/dusk-trace; do
    [ -x "$build/$p" ] || die "$build/$p is missing (build first: cmake -S . -B build && cmake --build build)"
done
out=$root/bench/tutorial
make_tmp
cores=$(nproc)
export LC_ALL=C.UTF-8 # the progress bars draw with block characters

mpirun_cmd=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun_cmd+=(--allow-run-as-root)

# ---- helpers -------------------------------------------------------------------------------------

# Print "$ COMMAND" (as docs/tutorial.md shows it) and run it; its output goes to the terminal.
show() {
    local shown=("$@")
    shown=("${shown[@]/#"$build"/$rel}")
    echo "\$ ${shown[*]}"
    stdbuf -oL "$@"
}

# Run dusk-eigh ARGS with --output into a fresh directory, and say whether every task came back:
# the eigenvalues file exists only when every task succeeded, and must hold T x n values.
eigh_batch() { # [mpirun args... --] dusk-eigh args...
    local pre=() args=() vals size want
    if [ "$1" = mpirun ]; then
        while [ "$1" != -- ]; do pre+=("$1") && shift; done
        shift
    fi
    args=("$@")
    rm -rf "$tmp/res"
    show "${pre[@]}" "$dusk" "${args[@]}" --output "$tmp/res" || die "dusk-eigh failed"
    vals=$tmp/res/eigenvalues.npy
    [ -f "$vals" ] || die "no eigenvalues.npy: not every task came back"
    size=$(stat -c %s "$vals")
    want=$((ntasks * n * 8))
    if [ "$size" -ge "$want" ] && [ "$size" -lt $((want + 4096)) ]; then
        echo "# (tutorial.sh) every task came back: eigenvalues.npy holds $ntasks x $n values"
    else
        die "eigenvalues.npy holds $size bytes, not $ntasks x $n values"
    fi
}

# 0 when "mpirun -np 2 dusk-eigh" runs one batch across two ranks.
mpi_available() {
    command -v mpirun >/dev/null 2>&1 || return 1
    timeout 120 "${mpirun_cmd[@]}" -np 2 "$dusk" -n 16 --ntasks 4 --ncpu 1 --no-progress \
        >"$tmp/mpi" 2>&1 || return 1
    grep -q '^Processed 4 tasks in .* on 2 ranks' "$tmp/mpi"
}

# ---- the steps ----------------------------------------------------------------------------------

step1() {
    echo "## Step 1: indirect parallelism (one eigh, BLAS threads only; best of 5 like timeit)"
    local k
    for ((k = 1; k <= 2 * cores; k *= 2)); do
        show "$build/apps/dusk-timeit" -n "$n" --blas-threads "$k" --progress || die "dusk-timeit failed"
    done
    echo "(tools/scaling.sh --sweeps threads,sizes sweeps sizes 10 to 2000 as well)"
}

step2() {
    echo "## Step 2: a serial loop, no runtime"
    show "$build/bench/dusk-ref-loop" -n "$n" --ntasks "$ntasks" --threads 1 --progress ||
        die "dusk-ref-loop failed"
    echo "# (tutorial.sh) every task came back: exit status 0, one largest eigenvalue per task in the checksum"
}

step3() {
    echo "## Step 3: a pool of workers (StarPU CPU workers, one BLAS thread each)"
    local w
    for ((w = 1; w <= cores && w <= 4; w++)); do
        eigh_batch -n "$n" --ntasks "$ntasks" --ncpu "$w" --progress
    done
}

step4() {
    echo "## Step 4: MPI ranks (mpirun -np K dusk-eigh)"
    if ! mpi_available; then
        echo "MPI: not available in this build (dusk-eigh was built without MPI support, or"
        echo "mpirun is missing): \`mpirun -np K dusk-eigh\` would run K separate batches."
        return 0
    fi
    local r
    for ((r = 1; r <= cores; r++)); do
        eigh_batch "${mpirun_cmd[@]}" -np "$r" -- -n "$n" --ntasks "$ntasks" --ncpu 1 --progress
    done
    echo "(several nodes: the same command with a hostfile; see docs/mpi.md)"
}

step5() {
    echo "## Step 5: a task graph with its progress bar"
    eigh_batch -n "$n" --ntasks "$ntasks" --progress
    show "$build/apps/dusk-reduce" --chunks 256 --size 200000 --progress || die "dusk-reduce failed"
}

step6() {
    echo "## Step 6: one GPU, and several GPUs with MPI: not yet measured"
    echo "This machine has no GPU, and Debian's StarPU has no CUDA. On a GPU node, with StarPU"
    echo "built by tools/build-starpu.sh (the GPU issue), run:"
    echo "  STARPU_NCPU=0 STARPU_NCUDA=1 $rel/apps/dusk-eigh -n $n --ntasks $ntasks --progress"
    echo "  STARPU_NCUDA=1 $rel/apps/dusk-eigh -n $n --ntasks $ntasks --sched dmda --progress"
    echo "  mpirun -np 2 $rel/apps/dusk-eigh -n $n --ntasks $ntasks --progress   # two ranks, one GPU"
    echo "and compare with CuPy: cupy.linalg.eigh over the same batch in a loop."
}

# Step 7 writes its trace to DIR (default: tutorial-trace in the current directory).
step7() {
    local dir=${1:-tutorial-trace}
    echo "## Step 7: where the time goes, in a trace"
    rm -rf "$dir"
    show "$dusk" -n 500 --ntasks 16 --verify --progress --trace "$dir" || die "dusk-eigh --trace failed"
    show "$build/tools/dusk-trace" "$dir/trace.json" || die "dusk-trace failed"
    echo "Open $dir/report.html in a browser (and $dir/trace.json in https://ui.perfetto.dev)"
}

# ---- regen: every number and plot of docs/tutorial.md ------------------------------------------

# Run step NAME with its console output captured into $blocks/NAME.md as a console block: what a
# terminal would show (each line as last redrawn after its carriage returns).
capture() { # name step-function args...
    local name=$1
    shift
    echo "tutorial: $name" >&2
    "$@" >"$tmp/raw" 2>&1 || die "$name failed: $(tail -n 5 "$tmp/raw")"
    {
        echo '```console'
        sed 's/.*\r//' "$tmp/raw" | grep -v '^## Step' | sed "s#$tmp/#/tmp/#g"
        echo '```'
    } >"$blocks/$name.md"
}

screenshot() { # html png
    local chromium profile
    chromium=$(command -v chromium || command -v chromium-browser || true)
    if [ -z "$chromium" ]; then
        echo "tutorial: chromium is missing: the trace screenshot is not regenerated" >&2
        return 0
    fi
    profile=$(mktemp -d)
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --screenshot="$2" --window-size=1400,1100 \
        "file://$1" >/dev/null 2>&1 || die "chromium could not take the screenshot of $1"
    rm -rf "$profile"
}

# Replace each generated block of docs/tutorial.md with DIR/NAME.md.
update_tutorial() {
    local doc=$root/docs/tutorial.md
    awk -v dir="$blocks" '
        match($0, /^<!-- tutorial:[a-z0-9-]+ -->$/) {
            name = substr($0, 15, length($0) - 18)
            print
            file = dir "/" name ".md"
            if ((getline line < file) <= 0) { print "no block " file > "/dev/stderr"; exit 3 }
            do print line; while ((getline line < file) > 0)
            close(file)
            skipping = 1
            next
        }
        skipping && $0 ~ /^<!-- \/tutorial:/ { skipping = 0 }
        !skipping { print }
    ' "$doc" >"$tmp/tutorial.md" || die "docs/tutorial.md: a generated block is missing"
    cp "$tmp/tutorial.md" "$doc"
}

regen() {
    local t0=$SECONDS
    blocks=$tmp/blocks
    mkdir -p "$blocks"
    bash "$here/scaling.sh" "--$preset" -b "$build" -o "$out" -n "$n" --ntasks "$ntasks" ||
        die "scaling.sh failed"
    capture step1 step1
    capture step2 step2
    capture step3 step3
    capture step4 step4
    capture step5 step5
    capture step6 step6
    rm -rf "$out/trace"
    capture step7 step7 "$out/trace"
    sed -i "s#$out/#bench/tutorial/#g" "$blocks/step7.md"
    screenshot "$out/trace/report.html" "$out/trace-report.png"
    # The trace's report and DAG are kept (small); trace.json can be remade at will.
    rm -f "$out/trace/trace.json"

    for s in threads sizes workers ranks mixed; do cp "$out/$s.md" "$blocks/$s.md"; done
    if [ -f "$out/ranks.png" ]; then
        printf '\n![MPI ranks: time and speed-up](../bench/tutorial/ranks.svg)\n' >>"$blocks/ranks.md"
    fi
    local preset_line="\`tools/tutorial.sh regen --$preset\`: n = $n, T = $ntasks"
    printf 'Measured on %s with %s, in %d s. %s\n' "$(cat "$out/machine.txt")" "$preset_line" \
        $((SECONDS - t0)) "$(cat "$out/load.txt")" >"$blocks/stamp.md"
    update_tutorial
    echo "tutorial: regenerated bench/tutorial/ and docs/tutorial.md in $((SECONDS - t0)) s" >&2
}

case "$what" in
all) for s in 1 2 3 4 5 6 7; do "step$s" && echo; done ;;
regen) regen ;;
*) "step$what" ;;
esac
