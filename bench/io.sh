#!/usr/bin/env bash
# HDF5 against .npy (issue 14): what writing dusk-eigh's results as DIR/results.h5 costs
# against DIR/*.npy, and what reading the matrices from FILE.h5:/mats costs against FILE.npy;
# records the figures under "## HDF5 against .npy (bench/io.sh)" in bench/RESULTS.md.
#
#   bench/io.sh [-n N] [-t T] [-r REPS] [--sides write,read] [--dir DIR] [--no-write]
#               [BUILD_DIR] [-- DUSK_EIGH_ARGS...]
#
# BUILD_DIR defaults to ../build next to this script; it must hold apps/dusk-eigh, built with
# HDF5 (this script builds nothing). Defaults: n = 1000, T = 128, REPS = 5. Writing: dusk-eigh
# -n N --ntasks T --vectors --output OUT with --format npy against --format h5. Reading:
# --input FILE.npy against --input FILE.h5:/mats, two files of the same T symmetric matrices
# (task i: b = rand(n, n) after np.random.seed(i), a = bᵀb made exactly symmetric), written
# once by Debian's /usr/bin/python3 with NumPy and h5py (contiguous float64), eigenvectors
# computed and eigenvalues saved as .npy. Each side runs REPS rounds, alternating the formats
# and which goes first, after `sync` (so that no run pays for the previous one's writeback);
# the median wall time of the whole process counts (the batch's own `Processed` time and the
# largest peak memory of the runs are shown too). Target: HDF5 under 2% slower than .npy on
# both sides. Then the last outputs are compared: results.h5 against the .npy files, and the
# eigenvalues read from the .h5 input against those from the .npy one, bit for bit (every
# row). The files go to a
# fresh directory under DIR (default /var/tmp), which must be on a local disk (not tmpfs:
# its pages are memory) with room for 4 files of T n² doubles (4.3 GB at the defaults), and
# are removed at the end. --sides write or read runs one side only; with it, arguments after
# `--` (given to every dusk-eigh run) or --no-write, RESULTS.md is left alone. About 5 minutes
# at the defaults on the 2-core build machine (the files made in about 20 s, then 20 runs of
# about 12 s).
#
# Exit status: 0 when both targets are met, 3 when one is missed, 1 on error (a run failed, the
# outputs differ, no HDF5 support, a tmpfs DIR), 2 on bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=io.sh
usage="io.sh [-n N] [-t T] [-r REPS] [--sides write,read] [--dir DIR] [--no-write] [BUILD_DIR] [-- ARGS]"
# shellcheck source=bench/common.sh
. "$here/common.sh"
n=1000
t=128
reps=5
sides=write,read
parent=/var/tmp
write=1
build=""
extra=()
py=/usr/bin/python3
# HDF5 may be this much slower than .npy (percent of the .npy median), on each side.
max_pct=2

while [ $# -gt 0 ]; do
    case "$1" in
    -n | -t | --ntasks | -r | --reps | --sides | --dir)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        case "$1" in
        -n) n=$2 ;;
        -t | --ntasks) t=$2 ;;
        -r | --reps) reps=$2 ;;
        --sides) sides=$2 ;;
        --dir) parent=$2 ;;
        esac
        shift 2
        ;;
    --no-write)
        write=0
        shift
        ;;
    -h | --help)
        print_header 2 31
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
require_positive -n "$n"
require_positive -t "$t"
require_positive -r "$reps"
do_write=0 do_read=0
IFS=, read -r -a side_list <<<"$sides"
[ ${#side_list[@]} -gt 0 ] || usage_error "--sides: no side given"
for s in "${side_list[@]}"; do
    case "$s" in
    write) do_write=1 ;;
    read) do_read=1 ;;
    *) usage_error "--sides: '$s' is not write or read" ;;
    esac
done
[ "$do_write" = 1 ] && [ "$do_read" = 1 ] || write=0
[ ${#extra[@]} -eq 0 ] || write=0

resolve_build
dusk=$build/apps/dusk-eigh
require_built "$dusk"
[ -x "$py" ] || die "no $py (Debian's python3, with python3-numpy and python3-h5py)"
"$py" -c 'import numpy, h5py' 2>/dev/null ||
    die "$py cannot import numpy and h5py (Debian: apt-get install python3-numpy python3-h5py)"
# The writing side needs dusk-eigh's --format (issue 14).
if [ "$do_write" = 1 ] && ! [[ "$("$dusk" --help)" == *--format* ]]; then
    die "this dusk-eigh has no --format (the HDF5 output of issue 14): build one that has," \
        "or run the reading side alone with --sides read"
fi

# ---- the directory: on a local disk, with room for the files ------------------------------
[ -d "$parent" ] || die "--dir: no directory $parent"
fstype=$(findmnt -n -o FSTYPE --target "$parent" 2>/dev/null || stat -f -c %T "$parent")
case "$fstype" in
tmpfs | ramfs) die "$parent is on $fstype (memory, not a disk): give a directory on a local disk with --dir" ;;
nfs* | cifs | smb* | fuse*) echo "$prog: warning: $parent is on $fstype, not a local disk" >&2 ;;
esac
need_mb=$(awk -v n="$n" -v t="$t" 'BEGIN { printf "%.0f", 4 * 8 * t * n * n * 1.1 / 1048576 + 64 }')
avail_mb=$(df -Pm "$parent" | awk 'NR == 2 { print $4 }')
[ "$avail_mb" -ge "$need_mb" ] ||
    die "$parent has $avail_mb MB free, this run needs about $need_mb MB (give another with --dir)"
make_tmp
work=$(mktemp -d "$parent/dusk-io-bench.XXXXXX")
trap 'rm -rf "$tmp" "$work"' EXIT

load_start
cores=$(nproc)
probe_dusk -n 8 --ntasks 1 --no-progress "${extra[@]}"
workers=$probed

# One run of dusk-eigh ARGS...; sets $wall (the whole process), $batch (its Processed line)
# and $mb (its peak memory, from -v). sync first, outside the time.
run_eigh() {
    sync
    local t0 t1
    t0=$(now)
    "$dusk" "$@" --no-progress -v "${extra[@]}" >"$tmp/out" 2>"$tmp/err" ||
        die "dusk-eigh $* failed: $(grep -v '^\s*$' "$tmp/err" | tail -n 3)"
    t1=$(now)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    batch=$(summary_seconds "$tmp/out")
    [ -n "$batch" ] || die "no summary line in dusk-eigh's output: $(cat "$tmp/out")"
    mb=$(sed -n 's/.*peak memory \([0-9.]*\) MB.*/\1/p' "$tmp/err")
    [ -n "$mb" ] || die "no 'peak memory' line in dusk-eigh -v's output: $(cat "$tmp/err")"
}


# REPS rounds of the two formats' commands, alternating; sets the rows' figures.
# The commands are the functions run_npy and run_h5 (each writes into a fresh directory).
rows=()
misses=0
compare_sides() { # side-label
    local label=$1 r which
    local nw=() hw=() nb=() hb=() nm=() hm=()
    for ((r = 1; r <= reps; r++)); do
        for which in $( ((r % 2)) && echo "npy h5" || echo "h5 npy"); do
            if [ "$which" = npy ]; then
                run_npy
                nw+=("$wall") nb+=("$batch") nm+=("$mb")
            else
                run_h5
                hw+=("$wall") hb+=("$batch") hm+=("$mb")
            fi
        done
        echo "$label round $r: npy ${nw[-1]} s (batch ${nb[-1]} s), h5 ${hw[-1]} s (batch ${hb[-1]} s)" >&2
    done
    local mnw mhw mnb mhb pct bpct verdict
    mnw=$(median "${nw[@]}") mhw=$(median "${hw[@]}")
    mnb=$(median "${nb[@]}") mhb=$(median "${hb[@]}")
    pct=$(awk -v h="$mhw" -v n="$mnw" 'BEGIN { printf "%+.1f", 100 * (h / n - 1) }')
    bpct=$(awk -v h="$mhb" -v n="$mnb" 'BEGIN { printf "%+.1f", 100 * (h / n - 1) }')
    if awk -v h="$mhw" -v n="$mnw" -v m="$max_pct" 'BEGIN { exit !(100 * (h / n - 1) < m) }'; then
        verdict=PASS
    else
        verdict=MISS
        misses=$((misses + 1))
    fi
    rows+=("| $label | $mnw | $mhw | $pct% | < +$max_pct% | $verdict | $mnb / $mhb ($bpct%) | $(largest "${nm[@]}") / $(largest "${hm[@]}") | ${nw[*]} / ${hw[*]} |")
}

# ---- the writing side -----------------------------------------------------------------------
checks=()
if [ "$do_write" = 1 ]; then
    run_npy() {
        rm -rf "$work/w-npy"
        run_eigh -n "$n" --ntasks "$t" --vectors --output "$work/w-npy" --format npy
    }
    run_h5() {
        rm -rf "$work/w-h5"
        run_eigh -n "$n" --ntasks "$t" --vectors --output "$work/w-h5" --format h5
    }
    compare_sides "writing: --output, --format npy / h5"
    [ -f "$work/w-h5/results.h5" ] || die "no results.h5 in the h5 run's --output: $(ls "$work/w-h5")"
    "$py" - "$work/w-npy" "$work/w-h5/results.h5" <<'EOF' || die "the h5 and npy outputs differ"
import sys
import h5py, numpy as np
d, h = sys.argv[1], sys.argv[2]
with h5py.File(h, "r") as f:
    for name in ("eigenvalues", "eigenvectors"):
        a = np.load(f"{d}/{name}.npy", mmap_mode="r")
        b = f[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            sys.exit(f"{name}: {a.shape} {a.dtype} in .npy, {b.shape} {b.dtype} in results.h5")
        for i in range(a.shape[0]):  # a row at a time: memory stays bounded
            if np.asarray(a[i]).tobytes() != b[i].tobytes():
                sys.exit(f"{name}: row {i} differs between .npy and results.h5")
EOF
    checks+=("results.h5's /eigenvalues and /eigenvectors are the .npy files' bit for bit")
fi

# ---- the reading side -----------------------------------------------------------------------
if [ "$do_read" = 1 ]; then
    t0=$(now)
    "$py" - "$n" "$t" "$work/mats.npy" "$work/mats.h5" <<'EOF' || die "could not write the input files"
import sys
import h5py, numpy as np
n, t, npy, h5 = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = np.lib.format.open_memmap(npy, mode="w+", dtype="<f8", shape=(t, n, n))
with h5py.File(h5, "w") as f:
    mats = f.create_dataset("mats", shape=(t, n, n), dtype="<f8")  # contiguous
    for i in range(t):  # one matrix at a time: memory stays bounded
        np.random.seed(i)
        b = np.random.rand(n, n)
        a = b.T @ b
        a = np.triu(a) + np.triu(a, 1).T  # exactly symmetric
        out[i] = a
        mats[i] = a
out.flush()
del out
EOF
    made=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    echo "made $work/mats.npy and mats.h5 ($t matrices of n = $n) in $made s" >&2
    run_npy() {
        rm -rf "$work/r-npy"
        run_eigh --input "$work/mats.npy" --output "$work/r-npy"
    }
    run_h5() {
        rm -rf "$work/r-h5"
        run_eigh --input "$work/mats.h5:/mats" --output "$work/r-h5"
    }
    compare_sides "reading: --input FILE.npy / FILE.h5:/mats"
    "$py" - "$work/r-npy/eigenvalues.npy" "$work/r-h5/eigenvalues.npy" <<'EOF' ||
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
if a.shape != b.shape or a.tobytes() != b.tobytes():
    sys.exit("the eigenvalues from the .h5 input differ from those from the .npy input")
EOF
        die "the eigenvalues of the two inputs differ"
    checks+=("the eigenvalues computed from FILE.h5:/mats are those from FILE.npy bit for bit")
fi
check=$(printf '%s; ' "${checks[@]}" | sed 's/; $//')
echo "check: $check"

# ---- the report -------------------------------------------------------------------------------
load_report
describe_machine
hdf5=$(dpkg-query -W -f='${Version}' libhdf5-dev 2>/dev/null || echo unknown)
h5py_v=$("$py" -c 'import h5py; print(h5py.__version__)')
disk=$(df -P "$parent" | awk 'NR == 2 { print $1 }')
key="machine=\"$machine\" date=\"$date\" case=\"n=$n T=$t\""
entry=$(
    echo "<!-- io-entry $key -->"
    echo "### $date: n = $n, T = $t; $machine"
    echo
    echo "StarPU $starpu (scheduler $sched), HDF5 $hdf5 (libhdf5-dev), h5py $h5py_v; dusk-eigh with"
    echo "$workers workers${extra[*]:+ (${extra[*]})}, eigenvectors computed; files on $fstype ($disk);"
    echo "median of $reps rounds, alternating. Check: $check. Machine load: $quiet."
    echo
    echo "| side | .npy (s) | HDF5 (s) | HDF5 slower by | target | | batch (s), .npy / HDF5 | peak memory (MB), .npy / HDF5 | all runs, .npy / HDF5 (s) |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo "<!-- /io-entry -->"
)
print_entry "$entry"

results=$here/RESULTS.md
heading="## HDF5 against .npy (bench/io.sh)"
if [ "$write" = 1 ]; then
    [ -f "$results" ] || die "no $results"
    # Split the file into what comes before this section, the section and what comes after
    # (a new section goes at the end).
    for part in pre section post; do : >"$tmp/$part"; done
    awk -v h="$heading" -v dir="$tmp" '
        $0 == h { part = 1; next }
        part == 1 && /^## / { part = 2 }
        { print > (dir (part == 0 ? "/pre" : part == 1 ? "/section" : "/post")) }
    ' "$results"
    {
        cat "$tmp/pre"
        echo
        cat <<EOF
$heading

Written by \`bench/io.sh\` (about 5 minutes at n = 1000, T = 128; run nothing else heavy
meanwhile), which rewrites only this section. What is measured (issue 14: HDF5 in and out,
target under 2% slower than .npy): **writing**, \`dusk-eigh -n N --ntasks T --vectors --output
DIR\` with \`--format npy\` (DIR/eigenvalues.npy and eigenvectors.npy) against \`--format h5\`
(DIR/results.h5, /eigenvalues and /eigenvectors); **reading**, \`dusk-eigh --input FILE.npy\`
against \`--input FILE.h5:/mats\`, two files holding the same T symmetric matrices (written once
by NumPy and h5py, contiguous float64), eigenvectors computed and eigenvalues saved as .npy.
Each round runs both formats, alternating which goes first, each after \`sync\`; the time is
the whole process's (file creation and the final rename included), its median counts; the
batch time (\`Processed\` line) and the largest peak memory of the runs are shown too. The
files are on a local disk (not tmpfs) but, after the first round, in the page cache: the
reading side measures decoding and copying, not the disk. The script checks that results.h5
holds the .npy files' values bit for bit and that both inputs give the same eigenvalues bit
for bit.

EOF
        awk -v key="<!-- io-entry $key -->" '
            index($0, "<!-- io-entry ") == 1 { keep = ($0 != key); inside = 1 }
            inside && keep { print }
            index($0, "<!-- /io-entry -->") == 1 { if (inside && keep) print ""; inside = 0 }
        ' "$tmp/section"
        echo "$entry"
        echo
        cat "$tmp/post"
    } >"$tmp/RESULTS.md"
    write_results "$tmp/RESULTS.md"
fi

if [ "$misses" -gt 0 ]; then
    echo "HDF5 is $max_pct% or more slower than .npy on $misses side(s)" >&2
    exit 3
fi
