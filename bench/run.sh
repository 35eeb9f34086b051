#!/usr/bin/env bash
# Compare dusk-eigh with the plain OpenMP reference (dusk-ref-loop) over a sweep of matrix
# sizes, and record the result in bench/RESULTS.md.
#
#   bench/run.sh [-r REPS] [-w WORKERS] [--sizes N,...] [--scale F] [--no-write] [BUILD_DIR]
#                [-- DUSK_EIGH_ARGS...]
#
# BUILD_DIR defaults to ../build next to this script; it must already hold apps/dusk-eigh and
# bench/dusk-ref-loop (this script builds nothing). The sweep: n = 10, 30, 100, 300, 1000 and
# 2000, each with a T that makes the loop last about 2 to 4 s on 2 threads; dusk-eigh runs with
# its default --chunk auto. Each case runs REPS times (default 3), alternating the two programs
# and which goes first; the median time counts, the peak memory is the largest of the runs (both
# from the programs' -v lines), and the chunk size auto chose is read from dusk-eigh -v. Then
# the memory cases, one run each: n = 10, T = 1,000,000 and n = 1000, T = 128. WORKERS defaults
# to the number of cores (the targets are for 2). --sizes keeps only the sweep and memory
# cases of those n; --scale multiplies every T by F (e.g. 0.01 for a trial run; T >= 1).
# Arguments after `--` go to dusk-eigh only (e.g. `-- --chunk 1` or `-- --sched eager`). With
# --sizes, --scale other than 1, arguments after `--` or --no-write, RESULTS.md is left alone.
# About 3 minutes at -r 3 on the 2-core build machine (-r 5: about 5).
#
# Exit status: 0 when every target is met, 3 when one is missed, 1 on error, 2 on bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=run.sh
usage="run.sh [-r REPS] [-w WORKERS] [--sizes N,...] [--scale F] [--no-write] [BUILD_DIR] [-- ARGS]"
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
reps=3
workers=""
write=1
build=""
sizes=""
scale=1
extra=()

# The sweep (issue 13): "N T MAX_RATIO" (ratio = dusk time / reference time). T makes the
# loop last about 2 to 4 s with 2 threads on the build machine (from the tutorial's time per
# eigh and the earlier entries: n = 10, T = 200,000 took 1.7 s).
cases=("10 400000 1.15" "30 60000 1.15" "100 6000 1.15" "300 600 1.15" "1000 32 1.05"
    "2000 6 1.15")
# The memory cases: "N T MAX_MB" (peak resident memory of dusk-eigh): bounded whatever T.
mem_cases=("10 1000000 100" "1000 128 150")

while [ $# -gt 0 ]; do
    case "$1" in
    -r | --reps | -w | --workers | --sizes | --scale)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        case "$1" in
        -r | --reps) reps=$2 ;;
        -w | --workers) workers=$2 ;;
        --sizes) sizes=$2 ;;
        --scale) scale=$2 ;;
        esac
        shift 2
        ;;
    --no-write)
        write=0
        shift
        ;;
    -h | --help)
        print_header 2 21
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
if ! [[ "$scale" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] || ! awk -v s="$scale" 'BEGIN { exit !(s > 0) }'; then
    usage_error "--scale: '$scale' is not a positive number"
fi
[ ${#extra[@]} -eq 0 ] || write=0
awk -v s="$scale" 'BEGIN { exit !(s == 1) }' || write=0

# --sizes: the cases of those n only (each must be one of the sweep's).
if [ -n "$sizes" ]; then
    write=0
    IFS=, read -r -a size_list <<<"$sizes"
    [ ${#size_list[@]} -gt 0 ] || usage_error "--sizes: no size given"
    keep=() keep_mem=()
    for s in "${size_list[@]}"; do
        found=0
        for c in "${cases[@]}"; do
            [ "${c%% *}" != "$s" ] || { keep+=("$c") && found=1; }
        done
        for c in "${mem_cases[@]}"; do [ "${c%% *}" != "$s" ] || keep_mem+=("$c"); done
        [ "$found" = 1 ] || usage_error "--sizes: '$s' is not one of the sweep's n" \
            "($(for c in "${cases[@]}"; do printf '%s ' "${c%% *}"; done | sed 's/ $//'))"
    done
    cases=("${keep[@]}")
    mem_cases=("${keep_mem[@]}")
fi

# T times the scale, at least 1.
scaled() { awk -v t="$1" -v s="$scale" 'BEGIN { x = int(t * s + 0.5); print x < 1 ? 1 : x }'; }

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

# The MB of a "peak memory X MB" line of file $1 (both programs print one with -v).
peak_mb_of() {
    local m
    m=$(sed -n 's/.*peak memory \([0-9.]*\) MB.*/\1/p' "$1")
    [ -n "$m" ] || die "no 'peak memory' line in the -v output: $(cat "$1")"
    echo "$m"
}

# One run each; they set $secs, $mb and (dusk) $chunk, from the -v lines.
run_dusk() { # n t
    "$dusk" -n "$1" --ntasks "$2" --ncpu "$workers" --no-progress -v "${extra[@]}" \
        >"$tmp/out" 2>"$tmp/err" || die "dusk-eigh -n $1 --ntasks $2 failed: $(cat "$tmp/err")"
    secs=$(seconds_of "$tmp/out")
    mb=$(peak_mb_of "$tmp/err")
    # "dusk-eigh: largest chunk K tasks in one StarPU task (chosen automatically), peak ..." (batch.c)
    chunk=$(sed -n 's/.*: largest chunk \([0-9][0-9]*\) .*/\1/p' "$tmp/err")
    [ -n "$chunk" ] || die "no 'largest chunk' line in dusk-eigh -v's output: $(cat "$tmp/err")"
    grep -q ': largest chunk .*(chosen automatically)' "$tmp/err" || chunk="$chunk (set)"
}

run_ref() { # n t
    "$ref" -n "$1" --ntasks "$2" --threads "$workers" -q -v >"$tmp/out" 2>"$tmp/err" ||
        die "dusk-ref-loop -n $1 --ntasks $2 failed: $(cat "$tmp/err")"
    secs=$(seconds_of "$tmp/out")
    mb=$(peak_mb_of "$tmp/err")
}

# ---- correctness: both must compute the same eigenvalues (needs python3 to read .npy), at a
# size where auto makes chunks of one matrix (n = 200, T = 16) and at one where it makes
# chunks of many (n = 10, T = 4000) --------------------------------------------------------
check="skipped (no python3)"
if command -v python3 >/dev/null 2>&1; then
    checked=()
    for c in "200 16" "10 4000"; do
        read -r n t <<<"$c"
        rm -rf "$tmp/values"
        "$dusk" -n "$n" --ntasks "$t" --ncpu "$workers" --no-progress -v --values-only \
            --output "$tmp/values" "${extra[@]}" >/dev/null 2>"$tmp/err" ||
            die "dusk-eigh --output failed: $(cat "$tmp/err")"
        k=$(sed -n 's/.*: largest chunk \([0-9][0-9]*\) .*/\1/p' "$tmp/err")
        want=$("$ref" -n "$n" --ntasks "$t" --threads "$workers" -q --values-only |
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
        awk -v a="$want" -v b="$have" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-12 * a) }' ||
            die "dusk-eigh and dusk-ref-loop disagree at n=$n, T=$t: checksums $have and $want"
        checked+=("checksum $want at n=$n, T=$t, chunks of up to ${k:-?}")
    done
    check="same eigenvalues ($(printf '%s; ' "${checked[@]}" | sed 's/; $//'))"
fi
echo "check: $check"

# ---- the sweep ------------------------------------------------------------------------------
rows=()
misses=0
for c in "${cases[@]}"; do
    read -r n t target <<<"$c"
    t=$(scaled "$t")
    dts=() rts=() dms=() rms=() ks=()
    for ((r = 1; r <= reps; r++)); do
        for which in $( ((r % 2)) && echo "dusk ref" || echo "ref dusk"); do
            if [ "$which" = dusk ]; then
                run_dusk "$n" "$t"
                dts+=("$secs") dms+=("$mb") ks+=("$chunk")
            else
                run_ref "$n" "$t"
                rts+=("$secs") rms+=("$mb")
            fi
        done
        echo "n=$n T=$t rep $r: dusk ${dts[-1]} s (chunks of ${ks[-1]}), ref ${rts[-1]} s" >&2
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
    if [[ "${ks[0]}" == *"(set)" ]]; then
        k="${ks[0]}"
    else
        k=$(chunk_range "${ks[@]}")
    fi
    rows+=("| $n | $t | $dm | $rm_ | $ratio | ≤ $target | $verdict | $k | $(largest "${dms[@]}") / $(largest "${rms[@]}") | ${dts[*]} / ${rts[*]} |")
done

# ---- peak memory whatever T: one run each -----------------------------------------------------
mem_rows=()
for c in "${mem_cases[@]}"; do
    read -r n t max_mb <<<"$c"
    t=$(scaled "$t")
    run_dusk "$n" "$t"
    dsecs=$secs dmb=$mb dk=$chunk
    run_ref "$n" "$t"
    echo "memory n=$n T=$t: dusk $dmb MB in $dsecs s (chunks of $dk), ref $mb MB in $secs s" >&2
    if awk -v x="$dmb" -v m="$max_mb" 'BEGIN { exit !(x <= m) }'; then
        verdict=PASS
    else
        verdict=MISS
        misses=$((misses + 1))
    fi
    mem_rows+=("| n=$n, T=$t | $dmb (in $dsecs s) | $mb (in $secs s) | ≤ $max_mb | $verdict | $dk |")
done

# ---- the report -------------------------------------------------------------------------------
load_report
describe_machine
openblas=$(dpkg-query -W -f='${Version}' libopenblas0 2>/dev/null || echo unknown)
dusk_args="--ncpu $workers${extra[*]:+ ${extra[*]}}"
trial=""
[ "$scale" = 1 ] || trial=" Trial run: every T times $scale."

entry=$(
    echo "<!-- bench-entry machine=\"$machine\" date=\"$date\" -->"
    echo "### $date: $machine"
    echo
    echo "StarPU $starpu (scheduler $sched), OpenBLAS $openblas; $workers workers / OpenMP"
    echo "threads, one BLAS thread each; dusk-eigh $dusk_args (chunks: auto unless set there);"
    echo "median of $reps runs, alternating.$trial Check: $check."
    echo "Machine load: $quiet."
    echo
    if [ ${#rows[@]} -gt 0 ]; then
        echo "| n | T | dusk-eigh (s) | reference (s) | dusk / ref | target | | chunk (matrices per task) | peak memory (MB), dusk / ref | all runs, dusk / ref (s) |"
        echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        printf '%s\n' "${rows[@]}"
    fi
    if [ ${#mem_rows[@]} -gt 0 ]; then
        echo
        echo "| peak memory (MB), one run | dusk-eigh | reference | target (dusk-eigh) | | chunk |"
        echo "| --- | --- | --- | --- | --- | --- |"
        printf '%s\n' "${mem_rows[@]}"
    fi
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
buffers are allocated once per thread, dusk's by StarPU per task. dusk-eigh runs with its
default `--chunk auto`: several matrices per task where one is too little work (the "chunk"
column: the largest chunk of each run, from `dusk-eigh -v`). Peak memory is each program's
resident set (`-v`). Before timing, the script checks that both give the same eigenvalues,
at a size where chunks hold one matrix and at one where they hold many.

Targets (issue 13 for the sweep): dusk / reference ≤ 1.15 at every n of the sweep (n = 10
to 2000, T chosen so that the loop lasts about 2 to 4 s on 2 threads: 400,000 matrices at
n = 10, 6 at n = 2000), and ≤ 1.05 at n = 1000, T = 32 (large tasks: the runtime's overhead
must vanish); peak resident memory of dusk-eigh bounded whatever T: ≤ 100 MB at n = 10,
T = 1,000,000 and ≤ 150 MB at n = 1000, T = 128 (the submission window bounds what is
allocated; all at once would need about 1 GB). The sweep replaced the two cases of the
entries up to 2026-11-25: n = 1000, T = 32 is kept as it was; n = 100, T = 2000 (target 1.2)
became n = 100, T = 6000 (target 1.15).

Rerun (about 3 minutes at -r 3; run nothing else heavy meanwhile):

    cmake -S . -B build && cmake --build build -j
    bench/run.sh            # or: bench/run.sh -r 5 path/to/build

Each run appends an entry below, or replaces the one for the same machine and date. Run
`bench/run.sh -- --chunk 1` (any dusk-eigh flags after `--`), `--sizes 10,30` or
`--scale 0.1` to try variants without recording them. This header is rewritten by run.sh:
edit it there.

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
        # bench/graph.sh's section and the others after it, as they are.
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
