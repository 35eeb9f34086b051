#!/usr/bin/env bash
# dusk-eigh against the NERSC tutorial's own Python versions of the batch (bench/python/):
# the serial NumPy loop, the same loop with OpenBLAS threads = cores, multiprocessing.Pool,
# mpi4py under mpirun, Dask's processes scheduler and a Dask distributed LocalCluster; NumPy's
# numpy.linalg.eigh(stack) on the whole stack at once (NumPy's default BLAS threads, and one);
# dusk from Python, dusk.eigh(stack) on the same stack and dusk.batch_eigh(n, T); and
# dusk-eigh on the whole machine and under mpirun -np CORES, on the same n, T and machine.
#
#   bench/python.sh [-n N] [-t T] [--sizes NxT,...] [-r REPS] [--steps LIST] [--no-write]
#                   [--no-install] [BUILD_DIR]
#   bench/python.sh --map [--quick] [-r REPS] [--cases LIST] [--out FILE] BUILD_DIR
#
# --map: your own function through dusk.map against the serial loop, ThreadPoolExecutor,
# multiprocessing.Pool, Dask (threads, distributed) and mpi4py (bench/python/map_bench.py).
#
# Defaults: n = 1000, T = 128, REPS = 1 (each method runs REPS times, the order rotating from
# one round to the next; the median counts). --sizes runs the whole comparison at each size in
# turn (issue 15's: --sizes 1000x64,400x64,100x2000). LIST is a comma-separated subset of:
# serial, serial-blas, multiprocessing, mpi4py, dask-processes, dask-distributed, numpy-stack,
# numpy-stack-1, dusk-python, dusk-python-batch, dusk, dusk-mpi (serial is always run: the
# speed-ups are over it). NumPy's stack is compared with dusk.eigh(stack) (the same stack made
# the same way in the parent), the rest with dusk-eigh. Missing Debian packages
# (python3-numpy, python3-dask, python3-distributed, python3-mpi4py, openmpi-bin) are
# installed with apt-get, never pip. BUILD_DIR (default ../build) must hold apps/dusk-eigh and python/dusk (the
# package, found with PYTHONPATH=BUILD_DIR/python). Before timing, the largest eigenvalue of
# three task ids from the serial step is compared with dusk-eigh's --output, and those of the
# first tasks with dusk.eigh's and dusk.batch_eigh's.
# Prints the table, writes bench/python/results/nN_tT.{csv,md} and the entry in
# bench/RESULTS.md (with --no-write or --steps: the two files in $TMPDIR/dusk-python-bench only). Exit: 0 done, 1 a step or check failed, 2 bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=python.sh
usage="python.sh [-n N] [-t T] [--sizes NxT,...] [-r REPS] [--steps LIST] [--no-write] [--no-install] [BUILD_DIR]"
# shellcheck source=bench/common.sh
. "$here/common.sh"
n=1000
t=128
reps=1
write=1
install=1
build=""
all_steps=(serial serial-blas multiprocessing mpi4py dask-processes dask-distributed numpy-stack
    numpy-stack-1 dusk-python dusk-python-batch dusk dusk-mpi)
sizes=""
args=("$@")
steps=("${all_steps[@]}")
py=/usr/bin/python3

while [ $# -gt 0 ]; do
    case "$1" in
    -n | -t | --ntasks | -r | --reps | --steps | --sizes)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        case "$1" in
        -n) n=$2 ;;
        -t | --ntasks) t=$2 ;;
        --sizes) sizes=$2 ;;
        -r | --reps) reps=$2 ;;
        --steps)
            IFS=, read -r -a steps <<<"serial,$2"
            write=0
            ;;
        esac
        shift 2
        ;;
    --no-write)
        write=0
        shift
        ;;
    --no-install)
        install=0
        shift
        ;;
    --map)
        # dusk.map against the ways users run their own function (issue 25): its own script
        shift
        map_args=("$@")
        set --
        ;;
    -h | --help)
        print_header 2 32
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

# --sizes: this script again at each size, with the other arguments as given.
if [ -n "$sizes" ]; then
    rest=()
    skip=0
    for a in "${args[@]}"; do
        if [ $skip = 1 ]; then
            skip=0
            continue
        fi
        case "$a" in
        --sizes | -n | -t | --ntasks) skip=1 ;;
        *) rest+=("$a") ;;
        esac
    done
    IFS=, read -r -a size_list <<<"$sizes"
    for size in "${size_list[@]}"; do
        [[ "$size" =~ ^([1-9][0-9]*)x([1-9][0-9]*)$ ]] ||
            usage_error "--sizes: '$size' is not NxT (e.g. 400x64)"
    done
    status=0
    for size in "${size_list[@]}"; do
        [[ "$size" =~ ^([0-9]+)x([0-9]+)$ ]]
        echo "$prog: n = ${BASH_REMATCH[1]}, T = ${BASH_REMATCH[2]}" >&2
        bash "$here/python.sh" -n "${BASH_REMATCH[1]}" -t "${BASH_REMATCH[2]}" "${rest[@]}" || status=1
    done
    exit $status
fi
declare -A wanted=()
for s in "${steps[@]}"; do
    [[ " ${all_steps[*]} " == *" $s "* ]] || usage_error "--steps: unknown step '$s'"
    wanted[$s]=1
done
steps=()
for s in "${all_steps[@]}"; do [ -z "${wanted[$s]:-}" ] || steps+=("$s"); done

# ---- packages: Debian's, with apt-get, as tools/quickstart.sh installs its own -------------
# Only what the steps asked for need: NumPy always; Dask, distributed, mpi4py and mpirun for
# theirs (so that --steps numpy-stack,dusk-python runs where Dask is not installed).
packages=(python3 python3-numpy)
modules=(numpy)
has_step() { [[ " ${steps[*]} " == *" $1 "* ]]; }
if has_step dask-processes || has_step dask-distributed; then
    packages+=(python3-dask)
    modules+=(dask)
fi
if has_step dask-distributed; then
    packages+=(python3-distributed)
    modules+=(distributed)
fi
if has_step mpi4py; then
    packages+=(python3-mpi4py)
    modules+=(mpi4py)
fi
if has_step mpi4py || has_step dusk-mpi; then packages+=(openmpi-bin); fi
if [ -n "${map_args+x}" ]; then # every way of map_bench.py, and numba for its @cfunc case
    packages+=(python3-dask python3-distributed python3-mpi4py openmpi-bin python3-numba
        python3-scipy)
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$install" = 1 ] || die "missing Debian packages: ${missing[*]} (run without --no-install)"
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        die "missing Debian packages (${missing[*]}): run as root or install them"
    fi
    echo "$prog: installing ${missing[*]}" >&2
    log=$(mktemp)
    if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        last=$(grep -v '^\s*$' "$log" | tail -n 1)
        rm -f "$log"
        die "apt-get could not install ${missing[*]}: $last"
    fi
    rm -f "$log"
fi
[ -x "$py" ] || die "no $py (Debian's python3)"
[ -z "${map_args+x}" ] || exec "$py" "$here/python/map_bench.py" "${map_args[@]}"
imports="import $(IFS=,; echo "${modules[*]}")"
"$py" -c "$imports" 2>/dev/null ||
    die "$py cannot import ${modules[*]}: $("$py" -c "$imports" 2>&1 | tail -n 1)"
if has_step mpi4py || has_step dusk-mpi; then
    command -v mpirun >/dev/null || die "mpirun is missing (Debian: openmpi-bin)"
fi

resolve_build
dusk=$build/apps/dusk-eigh
[ -x "$dusk" ] || die "missing $dusk: build it first (cmake -S . -B build && cmake --build build)"
[ -f "$build/python/dusk/__init__.py" ] ||
    die "missing $build/python/dusk: build it first (cmake --build $build)"
export PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}"

make_tmp
load_start
cores=$(nproc)
mpirun=(mpirun --oversubscribe -np "$cores")
[ "$(id -u)" -ne 0 ] || mpirun+=(--allow-run-as-root)

# What dusk-eigh really gets on this machine (Debian's StarPU runs at most 4 CPU workers).
probe_dusk -n 8 --ntasks 1 --ncpu "$cores" --no-progress
dusk_workers=$probed
[ "$dusk_workers" = "$cores" ] ||
    echo "$prog: warning: dusk-eigh runs $dusk_workers CPU workers on $cores cores" >&2

label() {
    case "$1" in
    serial) echo "NumPy serial loop (1 BLAS thread)" ;;
    serial-blas) echo "NumPy serial loop, $cores BLAS threads" ;;
    multiprocessing) echo "multiprocessing.Pool, $cores processes" ;;
    mpi4py) echo "mpi4py, mpirun -np $cores" ;;
    dask-processes) echo "Dask delayed, processes scheduler, $cores workers" ;;
    dask-distributed) echo "Dask distributed LocalCluster, $cores workers × 1 thread" ;;
    numpy-stack) echo "numpy.linalg.eigh(stack), NumPy's default BLAS threads" ;;
    numpy-stack-1) echo "numpy.linalg.eigh(stack), 1 BLAS thread" ;;
    dusk-python) echo "**dusk.eigh(stack)** from Python, $dusk_workers workers" ;;
    dusk-python-batch) echo "**dusk.batch_eigh(n, T)** from Python, $dusk_workers workers" ;;
    dusk) echo "**dusk-eigh**, $dusk_workers workers" ;;
    dusk-mpi) echo "**dusk-eigh**, mpirun -np $cores" ;;
    esac
}

# The dusk row each method is compared with: ranks with ranks, NumPy's stack with dusk.eigh on
# the same stack, the rest with one process.
counterpart() {
    case "$1" in
    mpi4py) echo dusk-mpi ;;
    numpy-stack | numpy-stack-1) echo dusk-python ;;
    *) echo dusk ;;
    esac
}

# Run step $1 once (with extra python args after it); set $secs (the batch, as the program
# itself reports it), $gen (the data creation within it, Python only) and $wall (the whole
# process: interpreter or StarPU start-up, imports, pools and clusters included), or die.
run_step() {
    local step=$1 script=""
    shift
    local cmd=()
    case "$step" in
    serial) script=0-serial.py ;;
    serial-blas) script=0-serial-blas.py ;;
    multiprocessing) script=1-multiprocessing.py ;;
    mpi4py) script=2-mpi4py.py ;;
    dask-processes) script=3-dask.py ;;
    dask-distributed) script=3-dask-distributed.py ;;
    numpy-stack | numpy-stack-1) script=4-numpy-stack.py ;;
    dusk-python) script=5-dusk.py ;;
    dusk-python-batch) script=5-dusk-batch.py ;;
    esac
    case "$step" in
    mpi4py) cmd=("${mpirun[@]}" "$py" "$here/python/$script" -n "$n" --ntasks "$t" "$@") ;;
    dusk) cmd=("$dusk" -n "$n" --ntasks "$t" --ncpu "$dusk_workers" --no-progress -q) ;;
    dusk-mpi) cmd=("${mpirun[@]}" "$dusk" -n "$n" --ntasks "$t" --no-progress -q) ;;
    serial | serial-blas | numpy-stack | dusk-python | dusk-python-batch)
        cmd=("$py" "$here/python/$script" -n "$n" --ntasks "$t" "$@")
        ;;
    numpy-stack-1) cmd=("$py" "$here/python/$script" -n "$n" --ntasks "$t" --blas-threads 1 "$@") ;;
    *) cmd=("$py" "$here/python/$script" -n "$n" --ntasks "$t" --workers "$cores" "$@") ;;
    esac
    local t0 t1
    t0=$(date +%s.%N)
    if ! "${cmd[@]}" >"$tmp/out" 2>"$tmp/err"; then
        local msg
        msg=$(grep -v '^\s*$' "$tmp/err" | tail -n 1 || true)
        [ -n "$msg" ] || msg=$(grep -v '^\s*$' "$tmp/out" | tail -n 1 || true)
        die "step $step failed: ${msg:-no output}"
    fi
    t1=$(date +%s.%N)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    if [ "$step" = dusk ] || [ "$step" = dusk-mpi ]; then
        secs=$(summary_seconds "$tmp/out")
        gen=""
        [ -n "$secs" ] || die "step $step: no 'Processed' line in: $(head -c 300 "$tmp/out")"
    else
        local line
        line=$(grep '^RESULT ' "$tmp/out" || true)
        [ -n "$line" ] || die "step $step: no RESULT line in: $(head -c 300 "$tmp/out")"
        secs=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$line")
        gen=$(sed -n 's/.* gen_seconds=\([0-9.]*\).*/\1/p' <<<"$line")
        if ! [[ "$line" =~ \ ntasks=([0-9]+)\ .*\ tasks_back=([0-9]+) ]] ||
            [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ]; then
            die "step $step: not every task came back: $line"
        fi
    fi
}

# ---- the cross-check: the serial step's largest eigenvalues against dusk-eigh's output ------
# (dusk-eigh --seed S --ntasks 1 computes exactly task S of the batch). Done at the benchmark's
# n with the first few tasks, in a quick serial run of its own so it costs little.
check_t=$((t < 4 ? t : 4))
run_step serial --ntasks "$check_t" --eig-out "$tmp/eig.txt"
check_ids=(0 $((check_t / 2)) $((check_t - 1)))
mapfile -t check_ids < <(printf '%s\n' "${check_ids[@]}" | sort -un)
for id in "${check_ids[@]}"; do
    rm -rf "$tmp/check"
    "$dusk" -n "$n" --ntasks 1 --seed "$id" --no-progress -q --output "$tmp/check" \
        >"$tmp/out" 2>&1 || die "dusk-eigh --seed $id --output failed: $(tail -n 1 "$tmp/out")"
    want=$(awk -v id="$id" '$1 == id { print $2 }' "$tmp/eig.txt")
    [ -n "$want" ] || die "the serial step wrote no eigenvalue for task $id"
    have=$("$py" -c 'import sys, numpy as np; print(repr(float(np.load(sys.argv[1])[0, -1])))' \
        "$tmp/check/eigenvalues.npy") || die "cannot read dusk-eigh's eigenvalues.npy"
    awk -v a="$want" -v b="$have" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(d <= 1e-10) }' ||
        die "CROSS-CHECK FAILED: task $id's largest eigenvalue is $want in NumPy, $have in dusk-eigh"
done
# and dusk from Python: every task of the quick run, through dusk.eigh and dusk.batch_eigh
for s in dusk-python dusk-python-batch; do
    run_step "$s" --ntasks "$check_t" --eig-out "$tmp/eig-$s.txt"
    awk 'NR == FNR { want[$1] = $2; next }
         { d = (want[$1] - $2) / want[$1]; if (d < 0) d = -d; if (!($1 in want) || d > 1e-10) bad++; seen++ }
         END { exit !(seen == length(want) && bad == 0) }' "$tmp/eig.txt" "$tmp/eig-$s.txt" ||
        die "CROSS-CHECK FAILED: $s's largest eigenvalues differ from NumPy's: $(paste "$tmp/eig.txt" "$tmp/eig-$s.txt" | head -n 4)"
done
ids=${check_ids[*]}
check="the largest eigenvalue of tasks ${ids// /, } at n=$n"
check+=" is the same in NumPy and dusk-eigh to 1e-10 (relative), and of tasks 0 to $((check_t - 1))"
check+=" in NumPy, dusk.eigh and dusk.batch_eigh"
echo "check: $check"

# ---- the timings: each round runs every step, starting one further along the list ----------
declare -A secs_of=() gen_of=() wall_of=()
for ((r = 0; r < reps; r++)); do
    for ((k = 0; k < ${#steps[@]}; k++)); do
        s=${steps[$(((k + r) % ${#steps[@]}))]}
        run_step "$s"
        secs_of[$s]="${secs_of[$s]:-} $secs"
        gen_of[$s]="${gen_of[$s]:-} $gen"
        wall_of[$s]="${wall_of[$s]:-} $wall"
        echo "n=$n T=$t round $((r + 1)): $s $secs s (process $wall s)" >&2
    done
done
load_report
describe_machine

declare -A med=() medwall=() medgen=()
for s in "${steps[@]}"; do
    # shellcheck disable=SC2086 # the lists are space-separated numbers
    med[$s]=$(median ${secs_of[$s]})
    # shellcheck disable=SC2086
    medwall[$s]=$(median ${wall_of[$s]})
    # shellcheck disable=SC2086
    [ -z "${gen_of[$s]// /}" ] || medgen[$s]=$(median ${gen_of[$s]})
done

# ---- the table: markdown for people, CSV for programs ---------------------------------------
# (with --no-write or --steps, outside the tree, so that trial runs leave it clean)
outdir=$here/python/results
[ "$write" = 1 ] || outdir=${TMPDIR:-/tmp}/dusk-python-bench
mkdir -p "$outdir"
csv=$outdir/n${n}_t${t}.csv
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
rate() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
{
    echo "method,label,batch_s,tasks_per_s,speedup_over_serial,dusk_counterpart,dusk_speedup_over_it,process_s,data_s,runs_s"
    for s in "${steps[@]}"; do
        c=$(counterpart "$s")
        dr=""
        [ -z "${med[$c]:-}" ] || [[ "$s" == dusk* ]] || dr=$(ratio "${med[$s]}" "${med[$c]}")
        echo "$s,\"$(label "$s" | tr -d '*')\",${med[$s]},$(ratio "$t" "${med[$s]}"),$(ratio "${med[serial]}" "${med[$s]}"),$([[ "$s" == dusk* ]] || echo "$c"),$dr,${medwall[$s]},${medgen[$s]:-},${secs_of[$s]# }"
    done
} >"$csv"

rows=()
for s in "${steps[@]}"; do
    c=$(counterpart "$s")
    if [[ "$s" == dusk* ]]; then
        dr="—"
    elif [ -n "${med[$c]:-}" ]; then
        dr="$(ratio "${med[$s]}" "${med[$c]}")×"
        [ "$c" != dusk-mpi ] || dr+=" (dusk-eigh under mpirun)"
        [ "$c" != dusk-python ] || dr+=" (dusk.eigh(stack))"
    else
        dr="(not run)"
    fi
    rows+=("| $(label "$s") | ${med[$s]} | $(rate "$t" "${med[$s]}") | $(ratio "${med[serial]}" "${med[$s]}")× | $dr | ${medwall[$s]} | ${medgen[$s]:-—} |")
done
# a module's version, or "not installed" (the steps that need it were not asked for)
version_of() { "$py" -c "import $1; print($1.__version__)" 2>/dev/null || echo "not installed"; }
numpy_v=$(version_of numpy)
dask_v=$(version_of dask)
distributed_v=$(version_of distributed)
mpi4py_v=$(version_of mpi4py)
python_v=$("$py" -c 'import platform; print(platform.python_version())')
openblas=$(dpkg-query -W -f='${Version}' libopenblas0 2>/dev/null || echo unknown)
openmpi=$(dpkg-query -W -f='${Version}' openmpi-bin 2>/dev/null || echo unknown)
key="machine=\"$machine\" date=\"$date\" case=\"n=$n T=$t\""
entry=$(
    echo "<!-- python-entry $key -->"
    echo "### $date: n = $n, T = $t; $machine"
    echo
    echo "Python $python_v, NumPy $numpy_v, Dask $dask_v, distributed $distributed_v, mpi4py $mpi4py_v,"
    echo "OpenBLAS $openblas, Open MPI $openmpi, StarPU $starpu (scheduler $sched); median of $reps"
    echo "run(s). Check: $check. Machine load: $quiet."
    echo
    echo "| method | batch (s) | tasks/s | speed-up over serial | dusk-eigh faster by | whole process (s) | of which data creation (s) |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo "<!-- /python-entry -->"
)
print_entry "$entry" | tee "$outdir/n${n}_t${t}.md"
echo
echo "wrote $csv and $outdir/n${n}_t${t}.md"

# ---- bench/RESULTS.md: this script's own section, the others' left as they are --------------
results=$here/RESULTS.md
heading="## dusk against the tutorial's Python versions (bench/python.sh)"
[ "$write" = 1 ] || exit 0
[ -f "$results" ] || die "no $results"
# Split the file into what comes before this section, the section and what comes after it.
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

Written by \`bench/python.sh\` (about 6 minutes per round at n = 1000, T = 128 on 2 cores;
run nothing else heavy meanwhile), which rewrites only this section. What is measured: the tutorial's
Python versions of the batch (\`bench/python/\`, written the way NERSC's *Intro to Parallel
Python* writes them: the parent process creates every matrix, task i after
\`np.random.seed(i)\`, \`b = np.random.rand(n, n)\`, \`a = b.T @ b\`; then the step's machinery
runs \`np.linalg.eigh(a)\` on each and checks that every task id came back), against
\`dusk-eigh\`, which does all three steps of every task in its workers. **batch** is the time
each program reports for the work itself: for Python from the first matrix created to the
last id checked (the pool or cluster is started before, outside it, as StarPU is for dusk);
for dusk-eigh its \`Processed T tasks in X s\` line. NumPy's own batch,
\`numpy.linalg.eigh(stack)\` on the whole stack \`(T, n, n)\`, is timed the same way (the stack
made in place in the parent, the matrices above), and so is dusk from Python:
\`dusk.eigh(stack)\` on that same stack (\`bench/python/5-dusk.py\`: the one name changed), and
\`dusk.batch_eigh(n, T)\`, which makes the matrices inside dusk as dusk-eigh does (StarPU's
start-up outside the batch, as the pools' are). **whole process** is the command from
start to exit, start-up and shutdown included. **dusk-eigh faster by** is the method's batch
time over dusk's (mpi4py is compared with dusk-eigh under \`mpirun\`, NumPy's stack with
\`dusk.eigh(stack)\`, the others with one dusk-eigh process using every core); above 1, dusk
is faster. Before timing, the script
checks that the largest eigenvalue of a few tasks agrees between NumPy and dusk-eigh to 1e-10.

EOF
    # Human notes kept from the earlier version of this section.
    sed -n '/^<!-- python-notes -->$/,/^<!-- \/python-notes -->$/p' "$tmp/section"
    echo
    awk -v key="<!-- python-entry $key -->" '
        index($0, "<!-- python-entry ") == 1 { keep = ($0 != key); inside = 1 }
        inside && keep { print }
        index($0, "<!-- /python-entry -->") == 1 { if (inside && keep) print ""; inside = 0 }
    ' "$tmp/section"
    echo "$entry"
    echo
    cat "$tmp/post"
} >"$tmp/RESULTS.md"
write_results "$tmp/RESULTS.md"
