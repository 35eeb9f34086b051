#!/usr/bin/env bash
# Compare dusk-eigh with the plain OpenMP reference (dusk-ref-loop) on the issue's cases and
# record the result in bench/RESULTS.md.
#
#   bench/run.sh [-r REPS] [-w WORKERS] [--no-write] [BUILD_DIR] [-- DUSK_EIGH_ARGS...]
#
# BUILD_DIR defaults to ../build next to this script; it must already hold apps/dusk-eigh and
# bench/dusk-ref-loop (this script builds nothing). Each case runs REPS times (default 3),
# alternating the two programs and which goes first; the median time counts. Arguments after
# `--` go to dusk-eigh only (e.g. `-- --sched eager --window 16`); with them, or with
# --no-write, RESULTS.md is left alone.
#
# Exit status: 0 when every target is met, 3 when one is missed, 1 on error, 2 on bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=run.sh
usage="run.sh [-r REPS] [-w WORKERS] [--no-write] [BUILD_DIR] [-- ARGS]"
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
reps=3
workers=""
write=1
build=""
extra=()

# The cases and targets of the issue: "N T MAX_RATIO" (ratio = dusk time / reference time).
cases=("1000 32 1.05" "100 2000 1.2")
mem_n=1000
mem_t=128
mem_max_mb=150

while [ $# -gt 0 ]; do
    case "$1" in
    -r | --reps)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        reps=$2
        shift 2
        ;;
    -w | --workers)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        workers=$2
        shift 2
        ;;
    --no-write)
        write=0
        shift
        ;;
    -h | --help)
        print_header 2 13
        ;;
    --)
        shift
        extra=("$@")
        break
        ;;
    -*) usage_error "unknown option '$1'" ;;
    *)
        take_build_arg "$1"
        shift
        ;;
    esac
done
require_positive -r "$reps"
[ -z "$workers" ] || require_positive -w "$workers"
[ ${#extra[@]} -eq 0 ] || write=0

resolve_build
dusk=$build/apps/dusk-eigh
ref=$build/bench/dusk-ref-loop
for exe in "$dusk" "$ref"; do
    [ -x "$exe" ] || die "missing $exe: build it first (cmake --build $build;" \
        "dusk-ref-loop needs -DDUSK_BUILD_BENCH=ON and OpenMP)"
done

make_tmp
load_start

# ---- the worker count: what dusk-eigh really gets (a StarPU built with STARPU_MAXCPUS may
# give fewer than asked), and as many OpenMP threads for the reference ----------------------
cores=$(nproc)
workers=${workers:-$cores}
probe_dusk -n 8 --ntasks 1 --ncpu "$workers" --no-progress "${extra[@]}"
got=$probed
if [ "$got" != "$workers" ]; then
    echo "run.sh: dusk-eigh runs $got workers, not $workers: the reference uses $got threads too" >&2
    workers=$got
fi

# The seconds from a "Processed T tasks in X s (Y it/s)" line of file $1.
seconds_of() {
    local s
    s=$(summary_seconds "$1")
    [ -n "$s" ] || die "no summary line in the output: $(cat "$1")"
    echo "$s"
}

run_dusk() { # n t -> seconds
    "$dusk" -n "$1" --ntasks "$2" --ncpu "$workers" --no-progress -q "${extra[@]}" \
        >"$tmp/out" 2>"$tmp/err" || die "dusk-eigh -n $1 --ntasks $2 failed: $(cat "$tmp/err")"
    seconds_of "$tmp/out"
}

run_ref() { # n t -> seconds
    "$ref" -n "$1" --ntasks "$2" --threads "$workers" -q >"$tmp/out" 2>"$tmp/err" ||
        die "dusk-ref-loop -n $1 --ntasks $2 failed: $(cat "$tmp/err")"
    seconds_of "$tmp/out"
}

# ---- correctness: both must compute the same eigenvalues (needs python3 to read .npy) ---------
check="skipped (no python3)"
if command -v python3 >/dev/null 2>&1; then
    "$dusk" -n 200 --ntasks 16 --ncpu "$workers" --no-progress -q --values-only \
        --output "$tmp/values" >/dev/null 2>"$tmp/err" || die "dusk-eigh --output failed: $(cat "$tmp/err")"
    want=$("$ref" -n 200 --ntasks 16 --threads "$workers" -q --values-only |
        sed -n 's/^Checksum[^:]*: //p')
    have=$(python3 - "$tmp/values/eigenvalues.npy" <<'EOF'
import ast, struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:6] == b"\x93NUMPY", "not a .npy file"
size, off = (struct.unpack("<H", data[8:10])[0], 10) if data[6] == 1 else (struct.unpack("<I", data[8:12])[0], 12)
header = ast.literal_eval(data[off:off + size].decode("latin1"))
t, n = header["shape"]
values = struct.unpack("<%dd" % (t * n), data[off + size:off + size + 8 * t * n])
print(repr(sum(values[i * n + n - 1] for i in range(t))))
EOF
)
    if awk -v a="$want" -v b="$have" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-12 * a) }'; then
        check="same eigenvalues (checksum $want at n=200, T=16)"
    else
        die "dusk-eigh and dusk-ref-loop disagree: checksums $have and $want"
    fi
fi
echo "check: $check"

# ---- the timings ----------------------------------------------------------------------------
rows=()
misses=0
for c in "${cases[@]}"; do
    read -r n t target <<<"$c"
    dts=()
    rts=()
    for ((r = 1; r <= reps; r++)); do
        if ((r % 2)); then
            dts+=("$(run_dusk "$n" "$t")")
            rts+=("$(run_ref "$n" "$t")")
        else
            rts+=("$(run_ref "$n" "$t")")
            dts+=("$(run_dusk "$n" "$t")")
        fi
        echo "n=$n T=$t rep $r: dusk ${dts[-1]} s, ref ${rts[-1]} s" >&2
    done
    dm=$(median "${dts[@]}")
    rm_=$(median "${rts[@]}")
    ratio=$(awk -v d="$dm" -v r="$rm_" 'BEGIN { printf "%.3f", d / r }')
    if awk -v x="$ratio" -v m="$target" 'BEGIN { exit !(x <= m) }'; then
        verdict=PASS
    else
        verdict=MISS
        misses=$((misses + 1))
    fi
    rows+=("| n=$n, T=$t | $dm | $rm_ | $ratio | ≤ $target | $verdict | ${dts[*]} / ${rts[*]} |")
done

# ---- peak memory, from dusk-eigh's own -v line ------------------------------------------------
"$dusk" -n "$mem_n" --ntasks "$mem_t" --ncpu "$workers" --no-progress -v "${extra[@]}" \
    >"$tmp/out" 2>"$tmp/err" || die "dusk-eigh -v failed: $(cat "$tmp/err")"
mem=$(sed -n 's/.*peak memory \([0-9.]*\) MB.*/\1/p' "$tmp/err")
[ -n "$mem" ] || die "no 'peak memory' line in dusk-eigh -v's output: $(cat "$tmp/err")"
mem_time=$(seconds_of "$tmp/out")
"$ref" -n "$mem_n" --ntasks "$mem_t" --threads "$workers" -q -v >"$tmp/out" 2>"$tmp/err" ||
    die "dusk-ref-loop -v failed: $(cat "$tmp/err")"
ref_mem=$(sed -n 's/.*peak memory \([0-9.]*\) MB.*/\1/p' "$tmp/err")
ref_mem_time=$(seconds_of "$tmp/out")
if awk -v x="$mem" -v m="$mem_max_mb" 'BEGIN { exit !(x <= m) }'; then
    mem_verdict=PASS
else
    mem_verdict=MISS
    misses=$((misses + 1))
fi

# ---- the report -------------------------------------------------------------------------------
load_report
describe_machine
openblas=$(dpkg-query -W -f='${Version}' libopenblas0 2>/dev/null || echo unknown)
dusk_args="--ncpu $workers${extra[*]:+ ${extra[*]}}"

entry=$(
    echo "<!-- bench-entry machine=\"$machine\" date=\"$date\" -->"
    echo "### $date: $machine"
    echo
    echo "StarPU $starpu (scheduler $sched), OpenBLAS $openblas; $workers workers / OpenMP"
    echo "threads, one BLAS thread each; dusk-eigh $dusk_args; median of $reps runs. Check: $check."
    echo "Machine load: $quiet."
    echo
    echo "| case | dusk-eigh (s) | reference (s) | dusk / ref | target | | all runs, dusk / ref (s) |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo
    echo "| peak memory, n=$mem_n, T=$mem_t | dusk-eigh | reference | target | |"
    echo "| --- | --- | --- | --- | --- |"
    echo "| resident set (MB) | $mem (in $mem_time s) | $ref_mem (in $ref_mem_time s) | ≤ $mem_max_mb | $mem_verdict |"
    echo "<!-- /bench-entry -->"
)
print_entry "$entry"

results=$here/RESULTS.md
if [ "$write" = 1 ]; then
    {
        cat <<'EOF'
# dusk-eigh against a plain OpenMP loop

What is measured: the wall time of the batch of the tutorial (per task i: b = rand(n, n)
seeded with i, a = bᵀb, eigh(a) with eigenvectors) run by `dusk-eigh` on StarPU, against
`dusk-ref-loop` (bench/ref_loop.c), an OpenMP `parallel for` (dynamic schedule, one task at a
time) that makes exactly the same OpenBLAS and LAPACKE calls as dusk's three codelets, with
the same number of threads as dusk has workers and one BLAS thread each. Both time only the
batch (not StarPU's start-up) and print `Processed T tasks in X s`; the reference's
buffers are allocated once per thread, dusk's by StarPU per task. Before timing, the script
checks that both give the same eigenvalues.

Targets (from the issue): dusk / reference ≤ 1.05 at n = 1000, T = 32 (large tasks: the
runtime's overhead must vanish) and ≤ 1.2 at n = 100, T = 2000 (6000 small tasks: the
overhead per task shows); peak resident memory of dusk-eigh ≤ 150 MB at n = 1000, T = 128
(the submission window bounds what is allocated; all at once would need about 1 GB).

Rerun (takes a few minutes; run nothing else heavy meanwhile):

    cmake -S . -B build && cmake --build build -j
    bench/run.sh            # or: bench/run.sh -r 5 path/to/build

Each run appends an entry below, or replaces the one for the same machine and date. Run
`bench/run.sh -- --sched eager` (any dusk-eigh flags after `--`) to try variants without
recording them. This header is rewritten by run.sh: edit it there.

The runtime's own overhead (what `--trace` costs, and empty tasks per second) is measured by
`bench/graph.sh` and recorded in its own section, "Runtime overhead", after this one;
each script rewrites only its own part.

## Results

EOF
        if [ -f "$results" ]; then
            # Keep every earlier entry except the one this run replaces.
            other_entries bench "$results"
        fi
        echo "$entry"
        # bench/graph.sh's section, as it is.
        if [ -f "$results" ] && grep -q '^## Runtime overhead$' "$results"; then
            echo
            sed -n '/^## Runtime overhead$/,$p' "$results"
        fi
    } >"$tmp/RESULTS.md"
    # Exactly one blank line after the "## Results" heading, whatever came before.
    write_results "$tmp/RESULTS.md"
fi

if [ "$misses" -gt 0 ]; then
    echo "$misses target(s) missed" >&2
    exit 3
fi
