#!/usr/bin/env bash
# Strong-scaling sweeps of the tutorial's batch, written as CSV and drawn with gnuplot.
#
#   tools/scaling.sh [-o DIR] [-b BUILD] [--sweeps LIST] [--quick|--full|--tiny]
#                    [-n N] [--ntasks T] [--reps R] [--sizes LIST] [-h]
#
# Sweeps (--sweeps, comma-separated; default all):
#   threads  eigh of one n x n matrix (dusk-timeit, best of 5) with 1, 2, 4, ... BLAS threads,
#            up to twice the cores: indirect parallelism          -> threads.csv, threads.{png,svg}
#   sizes    the same at one BLAS thread for n in --sizes          -> sizes.csv, sizes.{png,svg}
#   workers  dusk-eigh's batch with 1, 2, ... CPU workers (one BLAS thread each), up to the
#            cores (and StarPU's MAXCPUS): direct parallelism      -> workers.csv, workers.{png,svg}
#   ranks    mpirun -np 1, 2, ... dusk-eigh --ncpu 1, when dusk-eigh was built with MPI
#            (otherwise skipped, and said so)                      -> ranks.csv, ranks.{png,svg}
#   mixed    workers x BLAS threads in {1, cores}^2: both kinds at once, oversubscription
#                                                                  -> mixed.csv
# Each CSV starts with a "# machine: ..., date: ..." line, then a header; gnuplot skips the
# first. Each sweep also writes DIR/NAME.md, its table in Markdown (tools/tutorial.sh puts them
# in docs/tutorial.md). Times are medians of --reps runs (dusk-timeit: best of 5, as timeit).
#
# Sizes: --quick (default) keeps the whole run to a few minutes on 2 cores (n = 1000,
# T = 64, 3 runs each); --full is the tutorial's own batch (n = 1000, T = 128, 5 runs, sizes up
# to 4000); --tiny is for the test suite (seconds). -n, --ntasks, --reps, --sizes override.
#
# gnuplot (Debian's gnuplot-nox) is installed when missing, as tools/quickstart.sh installs
# its packages. Exit status: 0 done, 1 a run or the plotting failed, 2 bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=scaling.sh
usage="scaling.sh [-o DIR] [-b BUILD] [--sweeps LIST] [--quick|--full|--tiny] [-n N] [--ntasks T] [--reps R] [--sizes LIST]"
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

out=$root/bench/tutorial
build=""
sweeps="threads,sizes,workers,ranks,mixed"
preset=quick
n="" ntasks="" reps="" sizes=""

opts=$(getopt -o o:b:n:h -l out:,build:,sweeps:,quick,full,tiny,ntasks:,reps:,sizes:,help \
    -n "$prog" -- "$@" 2>&1) || usage_error "$(echo "$opts" | head -n 1 | sed "s/^$prog: //")"
eval set -- "$opts"
while true; do
    case "$1" in
    -o | --out) out=$2 && shift 2 ;;
    -b | --build) build=$2 && shift 2 ;;
    --sweeps) sweeps=$2 && shift 2 ;;
    --quick | --full | --tiny) preset=${1#--} && shift ;;
    -n) require_positive -n "$2" && n=$2 && shift 2 ;;
    --ntasks) require_positive --ntasks "$2" && ntasks=$2 && shift 2 ;;
    --reps) require_positive --reps "$2" && reps=$2 && shift 2 ;;
    --sizes)
        [[ "$2" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
            usage_error "--sizes: '$2' is not a comma-separated list of positive numbers"
        sizes=$2 && shift 2
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    --) shift && break ;;
    esac
done
[ $# -eq 0 ] || usage_error "unexpected argument '$1'"
IFS=, read -r -a sweep_list <<<"$sweeps"
for s in "${sweep_list[@]}"; do
    case "$s" in threads | sizes | workers | ranks | mixed) ;;
    *) usage_error "--sweeps: unknown sweep '$s' (threads, sizes, workers, ranks, mixed)" ;;
    esac
done
case $preset in
quick) d_n=1000 d_t=64 d_r=3 d_sizes=10,20,50,100,200,500,1000,2000 ;;
full) d_n=1000 d_t=128 d_r=5 d_sizes=10,20,50,100,200,500,1000,2000,4000 ;;
tiny) d_n=100 d_t=8 d_r=1 d_sizes=10,50,100 ;;
esac
n=${n:-$d_n} ntasks=${ntasks:-$d_t} reps=${reps:-$d_r} sizes=${sizes:-$d_sizes}
timeit_repeat=5
[ "$preset" = tiny ] && timeit_repeat=2

resolve_build
dusk=$build/apps/dusk-eigh
timeit=$build/apps/dusk-timeit
for p in "$dusk" "$timeit"; do
    [ -x "$p" ] || die "$p is missing (build first: cmake -S . -B build && cmake --build build)"
done
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)
make_tmp

# ---- gnuplot, installed like quickstart installs its packages -------------------------------
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "$prog: installing gnuplot-nox" >&2
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        die "gnuplot is missing: install Debian's gnuplot-nox (or run as root)"
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
        gnuplot-nox >&2 || die "could not install gnuplot-nox"
fi

cores=$(nproc)
describe_machine
stamp="$machine, $date"
echo "scaling: $stamp; n=$n ntasks=$ntasks, median of $reps runs" >&2

# ---- running and timing ----------------------------------------------------------------------

# Best seconds per eigh call of dusk-timeit with ARGS.
run_timeit() {
    local t
    t=$("$timeit" -q --repeat "$timeit_repeat" "$@" 2>"$tmp/err") ||
        die "dusk-timeit $* failed: $(cat "$tmp/err")"
    [[ "$t" =~ ^[0-9.e+-]+$ ]] || die "dusk-timeit $* printed '$t', not a time"
    echo "$t"
}

# Set $batch_time to the median seconds of $reps runs of COMMAND... (a dusk-eigh run, maybe
# under mpirun), which must exit 0 and print "Processed $ntasks tasks in X s", and
# $got_workers to the CPU worker count its settings line gives. (Not in a subshell: globals.)
run_batch() {
    local times=() r t
    for ((r = 1; r <= reps; r++)); do
        "$@" >"$tmp/out" 2>"$tmp/err" || die "'$*' failed: $(tail -n 3 "$tmp/err")"
        t=$(sed -n "s/^Processed $ntasks tasks in \([0-9.]*\) s .*/\1/p" "$tmp/out" | head -n 1)
        [ -n "$t" ] || die "'$*' did not report $ntasks processed tasks: $(cat "$tmp/out")"
        times+=("$t")
    done
    got_workers=$(sed -n 's/.*, \([0-9][0-9]*\) CPU workers\{0,1\},.*/\1/p' "$tmp/out" | head -n 1)
    batch_time=$(median "${times[@]}")
}

# Batch times already measured in this run, by "WORKERS BLAS_THREADS": the mixed sweep reuses
# the workers sweep's one-BLAS-thread points instead of running them again.
declare -A measured=()

# Print a time to 4 significant digits, for the Markdown tables.
sig() { awk -v x="$1" 'BEGIN { printf "%.4g", x }'; }

# Print "a / b" to 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# ---- plotting ----------------------------------------------------------------------------------

# plot NAME XLABEL TITLE: DIR/NAME.png and .svg from DIR/NAME.csv (columns: x, seconds,
# speed-up, ideal), time on the left and speed-up against the ideal on the right.
plot_scaling() {
    local name=$1 xlabel=$2 title=$3 term ext
    for ext in png svg; do
        if [ "$ext" = png ]; then term="pngcairo size 1200,480 font 'DejaVu Sans,11'"; else
            term="svg size 1200,480 dynamic font 'DejaVu Sans,11'"
        fi
        gnuplot >"$tmp/gp.log" 2>&1 <<EOF || die "gnuplot failed on $name.$ext: $(cat "$tmp/gp.log")"
set terminal $term
set output '$out/$name.$ext'
set datafile separator ','
set key below
set grid
set multiplot layout 1,2 title "$title\n{/*0.8 $stamp}"
set xlabel '$xlabel'
set ylabel 'time (s)'
set yrange [0:*]
set xtics 1
plot '$out/$name.csv' skip 2 using 1:2 with linespoints lw 2 pt 7 title 'measured'
set ylabel 'speed-up'
set yrange [0:*]
plot '$out/$name.csv' skip 2 using 1:3 with linespoints lw 2 pt 7 title 'measured', \
     '' skip 2 using 1:4 with lines dt 2 lw 2 title 'ideal (up to the cores)'
unset multiplot
EOF
    done
}

plot_sizes() {
    local term ext
    for ext in png svg; do
        if [ "$ext" = png ]; then term="pngcairo size 800,560 font 'DejaVu Sans,11'"; else
            term="svg size 800,560 dynamic font 'DejaVu Sans,11'"
        fi
        gnuplot >"$tmp/gp.log" 2>&1 <<EOF || die "gnuplot failed on sizes.$ext: $(cat "$tmp/gp.log")"
set terminal $term
set output '$out/sizes.$ext'
set datafile separator ','
set logscale xy
set grid
set key top left
set title "eigh of one n x n matrix, 1 BLAS thread (best of $timeit_repeat)\n{/*0.8 $stamp}"
set xlabel 'n'
set ylabel 'time per call (s)'
set format y '%g'
plot '$out/sizes.csv' skip 2 using 1:2 with linespoints lw 2 pt 7 title 'measured', \
     '' skip 2 using 1:3 with lines dt 2 lw 2 title 'n^3, through the largest n'
EOF
    done
}

# Start DIR/NAME.csv with the stamp and HEADER.
csv_start() { printf '# machine: %s, date: %s\n%s\n' "$machine" "$date" "$2" >"$out/$1.csv"; }

# ---- the sweeps --------------------------------------------------------------------------------

sweep_threads() {
    local k t t1="" list=() ideal
    for ((k = 1; k <= 2 * cores; k *= 2)); do list+=("$k"); done
    csv_start threads "blas_threads,seconds,speedup,ideal,n"
    {
        echo "| BLAS threads | time per eigh (s) | speed-up | ideal |"
        echo "| --- | --- | --- | --- |"
    } >"$out/threads.md"
    for k in "${list[@]}"; do
        t=$(run_timeit -n "$n" --blas-threads "$k")
        t1=${t1:-$t}
        ideal=$((k < cores ? k : cores))
        echo "$k,$t,$(ratio "$t1" "$t"),$ideal,$n" >>"$out/threads.csv"
        echo "| $k | $(sig "$t") | $(ratio "$t1" "$t") | $ideal |" >>"$out/threads.md"
        echo "threads: $k BLAS threads, n=$n: $t s" >&2
    done
    plot_scaling threads "BLAS threads" "Indirect parallelism: eigh of one n=$n matrix, best of $timeit_repeat"
}

sweep_sizes() {
    local s t list=() last_n last_t
    IFS=, read -r -a list <<<"$sizes"
    csv_start sizes "n,seconds,n3_model"
    {
        echo "| n | time per eigh (s) |"
        echo "| --- | --- |"
    } >"$out/sizes.md"
    for s in "${list[@]}"; do
        t=$(run_timeit -n "$s" --blas-threads 1)
        echo "$s,$t" >>"$tmp/sizes"
        echo "| $s | $(sig "$t") |" >>"$out/sizes.md"
        echo "sizes: n=$s, 1 BLAS thread: $t s" >&2
    done
    # The n³ line through the largest size: where eigh's cost goes once n is large.
    read -r last_n last_t < <(tail -n 1 "$tmp/sizes" | tr , ' ')
    awk -F, -v ln="$last_n" -v lt="$last_t" \
        '{ printf "%s,%s,%.6g\n", $1, $2, lt * ($1 / ln) ^ 3 }' "$tmp/sizes" >>"$out/sizes.csv"
    plot_sizes
}

sweep_workers() {
    local w t t1="" maxw=$cores
    csv_start workers "workers,seconds,speedup,ideal,n,ntasks,efficiency"
    {
        echo "| CPU workers | time (s) | speed-up | ideal | efficiency |"
        echo "| --- | --- | --- | --- | --- |"
    } >"$out/workers.md"
    for ((w = 1; w <= maxw; w++)); do
        run_batch "$dusk" -n "$n" --ntasks "$ntasks" --ncpu "$w" --blas-threads 1 --no-progress
        t=$batch_time
        if [ "$got_workers" != "$w" ]; then
            echo "workers: asked for $w, StarPU gave $got_workers (its MAXCPUS): stopping" >&2
            break
        fi
        t1=${t1:-$t}
        measured["$w 1"]=$t
        local eff
        eff=$(awk -v a="$t1" -v b="$t" -v w="$w" 'BEGIN { printf "%.0f%%", 100 * a / b / w }')
        echo "$w,$t,$(ratio "$t1" "$t"),$w,$n,$ntasks,$eff" >>"$out/workers.csv"
        echo "| $w | $t | $(ratio "$t1" "$t") | $w | $eff |" >>"$out/workers.md"
        echo "workers: $w, n=$n T=$ntasks: $t s" >&2
    done
    plot_scaling workers "CPU workers (STARPU_NCPU)" "Direct parallelism: dusk-eigh, n=$n, $ntasks tasks"
}

# mpirun's options: as root Open MPI wants --allow-run-as-root; --oversubscribe lets the
# sweep go past the slots Open MPI counts (one per core).
mpirun_cmd=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun_cmd+=(--allow-run-as-root)

# 0 when "mpirun -np 2 dusk-eigh" runs one batch across two ranks (dusk-eigh built with MPI).
mpi_available() {
    command -v mpirun >/dev/null 2>&1 || return 1
    timeout 120 "${mpirun_cmd[@]}" -np 2 "$dusk" -n 16 --ntasks 4 --ncpu 1 --no-progress \
        >"$tmp/mpi" 2>&1 || return 1
    grep -q '^Processed 4 tasks in .* on 2 ranks' "$tmp/mpi"
}

sweep_ranks() {
    local r t t1=""
    if ! mpi_available; then
        echo "ranks: not available in this build (dusk-eigh has no MPI support, or mpirun is missing)" >&2
        rm -f "$out/ranks.csv" "$out/ranks.png" "$out/ranks.svg"
        echo "Not available in this build: dusk-eigh was built without MPI support (or \`mpirun\` is missing), so \`mpirun -np K dusk-eigh\` does not split the batch. Not yet measured." >"$out/ranks.md"
        return 0
    fi
    csv_start ranks "ranks,seconds,speedup,ideal,n,ntasks,efficiency"
    {
        echo "| MPI ranks (1 worker each) | time (s) | speed-up | ideal | efficiency |"
        echo "| --- | --- | --- | --- | --- |"
    } >"$out/ranks.md"
    for ((r = 1; r <= cores; r++)); do
        run_batch "${mpirun_cmd[@]}" -np "$r" "$dusk" -n "$n" --ntasks "$ntasks" --ncpu 1 \
            --blas-threads 1 --no-progress
        t=$batch_time
        t1=${t1:-$t}
        local eff
        eff=$(awk -v a="$t1" -v b="$t" -v w="$r" 'BEGIN { printf "%.0f%%", 100 * a / b / w }')
        echo "$r,$t,$(ratio "$t1" "$t"),$r,$n,$ntasks,$eff" >>"$out/ranks.csv"
        echo "| $r | $t | $(ratio "$t1" "$t") | $r | $eff |" >>"$out/ranks.md"
        echo "ranks: $r, n=$n T=$ntasks: $t s" >&2
    done
    plot_scaling ranks "MPI ranks" "MPI: mpirun -np K dusk-eigh --ncpu 1, n=$n, $ntasks tasks"
}

sweep_mixed() {
    local w b t t1="" pairs=()
    local maxw=$((cores < 4 ? cores : 4))
    for w in 1 "$maxw"; do
        for b in 1 "$cores"; do pairs+=("$w $b"); done
    done
    [ "$cores" -eq 1 ] && pairs=("1 1")
    csv_start mixed "workers,blas_threads,threads,seconds,speedup,n,ntasks"
    {
        echo "| CPU workers | BLAS threads each | threads on $cores cores | time (s) | speed-up over 1 x 1 |"
        echo "| --- | --- | --- | --- | --- |"
    } >"$out/mixed.md"
    for p in "${pairs[@]}"; do
        read -r w b <<<"$p"
        if [ -n "${measured["$w $b"]:-}" ]; then
            t=${measured["$w $b"]}
        else
            run_batch "$dusk" -n "$n" --ntasks "$ntasks" --ncpu "$w" --blas-threads "$b" --no-progress
            t=$batch_time
        fi
        t1=${t1:-$t}
        echo "$w,$b,$((w * b)),$t,$(ratio "$t1" "$t"),$n,$ntasks" >>"$out/mixed.csv"
        echo "| $w | $b | $((w * b)) | $t | $(ratio "$t1" "$t") |" >>"$out/mixed.md"
        echo "mixed: $w workers x $b BLAS threads, n=$n T=$ntasks: $t s" >&2
    done
}

load_start
for s in "${sweep_list[@]}"; do "sweep_$s"; done
load_report
printf '%s\n' "$stamp" >"$out/machine.txt"
printf 'Machine load during the sweeps: %s.\n' "$quiet" >"$out/load.txt"
echo "scaling: wrote ${sweeps//,/, } to $out" >&2
