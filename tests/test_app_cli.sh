#!/bin/bash
# dusk-eigh's command line: every bad flag and bad value is answered with exactly one line
# on stderr naming it, nothing on stdout, and exit code 2; --help and --version exit 0.
# Some cases for dusk-reduce and dusk-timeit (the flags they refuse or add) too.
# Usage: test_app_cli.sh PATH/TO/dusk-eigh [PATH/TO/dusk-reduce]
set -u
app=$1
reduce=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect CODE WORDS ARGS...: exit CODE, one stderr line containing WORDS, empty stdout
expect() {
    local code=$1 words=$2
    shift 2
    timeout "${TIMEOUT:-60}" "$app" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -ne "$code" ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$words" "$tmp/err" ||
        [ -s "$tmp/out" ]; then
        echo "FAIL: $(basename "$app") $* -> exit $rc (want $code), $lines stderr lines (want 1) containing '$words':"
        sed 's/^/    err: /' "$tmp/err"
        sed 's/^/    out: /' "$tmp/out"
        fails=$((fails + 1))
    else
        echo "ok: $(basename "$app") $* -> $code: $(cat "$tmp/err")"
    fi
}

expect 2 "-n: 0 is out of range" -n 0
expect 2 "-n: -3 is out of range" -n -3
expect 2 "'abc' is not a whole number" --ntasks abc
expect 2 "--ntasks: 0 is out of range" --ntasks 0
expect 2 "'1e3' is not a whole number" -n 1e3
expect 2 "unknown option '--bogus'" --bogus
expect 2 "unknown option '-x'" -x
expect 2 "needs a value" -n
expect 2 "needs a value" --ntasks
expect 2 "--seed: 4294967296 is out of range" --seed 4294967296
expect 2 "goes past NumPy's largest seed" --seed 4294967295 --ntasks 2
expect 2 "--rng 'mt': expected numpy or philox" --rng mt
expect 2 "--vectors needs --output" --vectors
expect 2 "--format needs --output" --format npy -n 4 --ntasks 1
expect 2 "--input: the file name holds a newline" --input "$tmp/a
b.npy"
expect 2 "exclude each other" --vectors --values-only --output "$tmp/o"
expect 2 "unexpected argument 'extra'" extra
expect 2 "--ncpu: -1 is out of range" --ncpu -1
expect 2 "--window: 0 is out of range" --window 0
expect 2 "--blas-threads: 'x' is not a whole number" --blas-threads x
expect 2 "unknown scheduler 'nosuch'" --sched nosuch -n 4 --ntasks 1
# the whole line, the usual names first (StarPU has ~20: listing them all was cut mid-word)
sched_line="unknown scheduler 'nonsense' (try lws, eager, dmda, ws"
sched_end="; all: STARPU_SCHED=help or --sched help)"
expect 2 "$sched_end" --sched nonsense
grep -qF "$sched_line" "$tmp/err" || { echo "FAIL: --sched nonsense: $(cat "$tmp/err")"; fails=$((fails + 1)); }
STARPU_SCHED=nonsense expect 2 "$sched_end" -n 4 --ntasks 1
timeit=$(dirname "$app")/dusk-timeit
if [ -n "$reduce" ] && [ -x "$reduce" ]; then
    (
        app=$reduce fails=0
        expect 2 "$(basename "$reduce"): $sched_line" --sched nonsense
        exit $fails
    ) || fails=$((fails + 1))
fi
# dusk-timeit runs no graph: a trace it would not write is refused, and so are the flags
# that set up StarPU's workers (they were accepted and changed nothing)
if [ -x "$timeit" ]; then
    (
        app=$timeit fails=0
        cd "$tmp" || exit 1
        expect 2 "dusk-timeit: --trace does not apply: dusk-timeit runs no tasks on StarPU" --trace tt
        DUSK_TRACE=tt expect 2 "DUSK_TRACE does not apply" -n 10
        [ ! -e tt ] || { echo "FAIL: dusk-timeit made tt"; fails=$((fails + 1)); }
        for flag in --ncpu --sched --window --window-mb; do
            value=2
            [ "$flag" = --sched ] && value=lws
            expect 2 "dusk-timeit: $flag does not apply: dusk-timeit runs no tasks on StarPU" \
                "$flag" "$value" -n 10 --repeat 1 --number 1
            expect 2 "dusk-timeit: $flag does not apply" "$flag=$value" -n 10
        done
        expect 2 "dusk-timeit: --sched does not apply" --sched nonsense
        "$timeit" --help | grep -q -- "--ncpu, --sched, --window, --window-mb" ||
            { echo "FAIL: dusk-timeit --help does not say which flags it refuses"; fails=$((fails + 1)); }
        exit $fails
    ) || fails=$((fails + 1))
fi
# dusk-reduce: "1 CPU worker", and --no-check skips the serial loop: the same sum, not checked
if [ -n "$reduce" ] && [ -x "$reduce" ]; then
    if "$reduce" --ncpu 1 --chunks 3 --size 1000 >"$tmp/out" 2>"$tmp/err" &&
        [ "$(head -1 "$tmp/out")" = "dusk-reduce chunks=3 size=1000 seed=0, 1 CPU worker" ] &&
        "$reduce" --ncpu 2 --chunks 3 --size 1000 --no-check >"$tmp/out2" 2>>"$tmp/err" &&
        [ "$(head -1 "$tmp/out2")" = "dusk-reduce chunks=3 size=1000 seed=0, 2 CPU workers, no check" ] &&
        sum=$(sed -n 's/^Sum of squares: \([0-9.e+]*\) (serial loop: .*/\1/p' "$tmp/out") && [ -n "$sum" ] &&
        grep -qxF "Sum of squares: $sum (not checked: --no-check; expected about 1000)" "$tmp/out2" &&
        ! grep -q "serial loop" "$tmp/out2" && [ ! -s "$tmp/err" ]; then
        echo "ok: dusk-reduce: 1 CPU worker; --no-check: $(sed -n 2p "$tmp/out2")"
    else
        echo "FAIL: dusk-reduce plural or --no-check:"; cat "$tmp/out" "$tmp/out2" "$tmp/err"
        fails=$((fails + 1))
    fi
    "$reduce" --help | grep -q -- "--no-check  " ||
        { echo "FAIL: dusk-reduce --help lacks --no-check"; fails=$((fails + 1)); }
fi
# worker counts: the messages speak of what was asked for, not of cores or one variable
expect 1 "StarPU found no worker to run tasks: 0 CPU workers asked for (--ncpu or STARPU_NCPU)" \
    --ncpu 0 -n 10 --ntasks 1
if "$app" --ncpu 1000 -n 10 --ntasks 1 >"$tmp/out" 2>"$tmp/err" &&
    grep -q "warning: 1000 CPU workers asked for (--ncpu or STARPU_NCPU) but this StarPU runs at most" "$tmp/err"; then
    echo "ok: --ncpu 1000 warns of the workers asked for"
else
    echo "FAIL: --ncpu 1000: $(cat "$tmp/err")"
    fails=$((fails + 1))
fi
# --blas-threads past OpenBLAS's cap: the banner shows the count the workers get, -v says why
if "$app" --blas-threads 1000 -n 10 --ntasks 1 >"$tmp/out" 2>"$tmp/err" &&
    ! grep -q "1000 BLAS threads per worker" "$tmp/out" &&
    grep -qE "[0-9]+ BLAS threads? per worker" "$tmp/out" &&
    "$app" -v --blas-threads 1000 -n 10 --ntasks 1 >"$tmp/out2" 2>"$tmp/err" &&
    [ "$(grep -c "blas-threads 1000 asked, but OpenBLAS caps it at [0-9]" "$tmp/out2")" -eq 1 ]; then
    echo "ok: --blas-threads 1000 shows OpenBLAS's cap"
else
    echo "FAIL: --blas-threads 1000:"; cat "$tmp/out" "$tmp/out2" "$tmp/err"
    fails=$((fails + 1))
fi
# STARPU_NCUDA=1 on a StarPU without CUDA: one warning (not under -q), CPU workers only
if ! ldd "$app" 2>/dev/null | grep -q "libcudart\|libcuda\.so"; then
    if STARPU_NCUDA=1 "$app" -n 10 --ntasks 1 >"$tmp/out" 2>"$tmp/err" &&
        [ "$(grep -c "warning: STARPU_NCUDA=1 asks for GPU workers, but this StarPU has no CUDA: CPU workers only" "$tmp/err")" -eq 1 ] &&
        STARPU_NCUDA=1 "$app" -q -n 10 --ntasks 1 >"$tmp/out" 2>"$tmp/err" && [ ! -s "$tmp/err" ]; then
        echo "ok: STARPU_NCUDA=1 without CUDA warns once"
    else
        echo "FAIL: STARPU_NCUDA=1 without CUDA:"; cat "$tmp/err"
        fails=$((fails + 1))
    fi
fi
# --sched help lists every policy on stdout, exit 0
if "$app" --sched help >"$tmp/out" 2>"$tmp/err" && grep -qE "^  lws +" "$tmp/out" &&
    grep -qE "^  dmda +" "$tmp/out" && [ ! -s "$tmp/err" ] &&
    STARPU_SCHED=help "$app" >"$tmp/out2" 2>&1 && cmp -s "$tmp/out" "$tmp/out2"; then
    echo "ok: --sched help, STARPU_SCHED=help"
else
    echo "FAIL: --sched help"
    fails=$((fails + 1))
fi
expect 2 "$tmp/missing.npy: No such file or directory" --input "$tmp/missing.npy"
STARPU_NCPU=abc expect 2 "STARPU_NCPU='abc' is not a whole number" -n 4
DUSK_WINDOW=-5 expect 2 "DUSK_WINDOW=-5 is out of range" -n 4

# StarPU's own variables: StarPU would abort (core dump) or crash on these; dusk refuses them
STARPU_CALIBRATE=abc expect 2 "STARPU_CALIBRATE='abc' is not a whole number" -n 4 --ntasks 1
STARPU_WORKERS_CPUID=-1 expect 2 "STARPU_WORKERS_CPUID='-1' is not a list" -n 4 --ntasks 1
STARPU_NCPU= expect 2 "STARPU_NCPU='' is not a whole number" -n 4 --ntasks 1
DUSK_FAIL_TASKS=bogus expect 2 "DUSK_FAIL_TASKS='bogus': 'bogus' is not a task key" -n 4 --ntasks 1
# a CPU list that fills StarPU's worker table makes it assert: refused with the count
# (0-999: past every StarPU's table; Debian's has 16 entries, tools/build-starpu.sh's 144)
STARPU_WORKERS_CPUID=0-999 expect 2 "STARPU_WORKERS_CPUID='0-999' names 1000 CPUs" -n 50 --ntasks 4
# a directory StarPU cannot create for its performance models makes it abort: refused
STARPU_HOME=/proc/x expect 1 "StarPU cannot create its directory /proc/x/.starpu/sampling (from STARPU_HOME): No such file or directory; set STARPU_HOME to a writable directory" -n 5 --ntasks 2
STARPU_PERF_MODEL_DIR=/proc/x expect 1 "/proc/x (from STARPU_PERF_MODEL_DIR)" -n 5 --ntasks 2
if [ -n "$reduce" ]; then
    (
        app=$reduce fails=0
        unset STARPU_HOME XDG_CACHE_HOME STARPU_PERF_MODEL_DIR
        HOME=/proc/nope expect 1 "/proc/nope/.starpu/sampling (from HOME)" --chunks 2 --size 3
        exit $fails
    ) || fails=$((fails + 1))
fi
expect 2 "--output: '' is not a usable directory name" --output ""
expect 2 "--output: '$(printf 'o%.0s' {1..40})' is not a usable" --output "$(printf 'o%.0s' {1..4001})"

# --input that is not a regular file: refused at once, a FIFO with no writer included
mkfifo "$tmp/fifo"
TIMEOUT=10 expect 1 "$tmp/fifo: not a regular file" --input "$tmp/fifo"

# eigenvectors past LAPACK's 32-bit workspace: usage with -n, a refused file with --input
expect 2 "n = 32767 is over 32766" -n 32767 --ntasks 1
/usr/bin/python3 - "$tmp/big.npy" <<'PY'
import struct, sys
n = 100000
d = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, %d, %d), }" % (n, n)
h = d.encode() + b" " * (-(10 + len(d) + 1) % 64) + b"\n"
with open(sys.argv[1], "wb") as f:  # sparse: 80 GB of data that takes no disk
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h)
    f.truncate(10 + len(h) + 8 * n * n)
PY
expect 1 "$tmp/big.npy: n = 100000 is over 32766" --input "$tmp/big.npy"

# memory: refused before anything is created, with what is needed and what is available
avail=$(($(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) * 1024))
need=$((100000 * 100000 * 8))  # one matrix for one worker: the least that --input needs
if [ "$avail" -lt "$need" ]; then
    expect 1 "needs $need bytes (80.0 GB) of memory, only" --input "$tmp/big.npy" --values-only \
        --ncpu 1 --output "$tmp/mem-out"
    have=$(sed -n 's/.* only \([0-9]*\) bytes .*/\1/p' "$tmp/err")
    if [ -e "$tmp/mem-out" ] || [ -z "$have" ] || [ "$have" -gt $((avail + avail / 10)) ]; then
        echo "FAIL: memory refusal: output left behind, or available ${have:-?} is not MemAvailable $avail"
        fails=$((fails + 1))
    fi
    expect 1 "n = 100000 (2 matrices of 80.0 GB per worker, 2 workers) needs 320000000000 bytes" \
        -n 100000 --values-only --ncpu 2
    if [ -n "$reduce" ]; then
        # 2**24 chunks held at 8 KiB each, before the chunks' values
        (
            app=$reduce fails=0
            expect 1 "dusk-reduce: --chunks 16777216 --size 1000 needs" --chunks 16777216 \
                --size 1000 --ncpu 1
            exit $fails
        ) || fails=$((fails + 1))
    fi
else
    echo "skip: memory refusal (this machine has $avail bytes available)"
fi

# disk: outputs larger than the free space are refused before anything is created
expect 1 "of disk in $tmp/deep/out, only" -n 1000 --ntasks 2147483647 --vectors \
    --output "$tmp/deep/out"
if [ -e "$tmp/deep" ]; then
    echo "FAIL: disk refusal left $tmp/deep behind"
    fails=$((fails + 1))
fi

# --help and --version: stdout, exit 0
if "$app" --help >"$tmp/out" 2>"$tmp/err" && grep -q "^Usage: dusk-eigh" "$tmp/out" &&
    grep -q -- "--values-only" "$tmp/out" && [ ! -s "$tmp/err" ]; then
    echo "ok: --help"
else
    echo "FAIL: --help"
    fails=$((fails + 1))
fi
if "$app" --version >"$tmp/out" && grep -qE "^dusk-eigh \(dusk\) [0-9]+\.[0-9]+\.[0-9]+$" "$tmp/out"; then
    echo "ok: --version"
else
    echo "FAIL: --version"
    fails=$((fails + 1))
fi

# a good run: the summary line, exit 0; -q prints only results
if "$app" -n 30 --ntasks 5 --verify -q >"$tmp/out" 2>"$tmp/err" &&
    grep -qE "^Processed 5 tasks in [0-9.]+ s \([0-9.]+ it/s\)$" "$tmp/out" &&
    grep -q "^Verified: all 5 tasks passed" "$tmp/out" && [ "$(wc -l <"$tmp/out")" -eq 2 ] &&
    [ ! -s "$tmp/err" ]; then
    echo "ok: quiet run"
else
    echo "FAIL: quiet run"
    cat "$tmp/out" "$tmp/err"
    fails=$((fails + 1))
fi

# the progress bar, forced on although stderr is not a terminal
if "$app" -n 30 --ntasks 7 --progress >"$tmp/out" 2>"$tmp/err" &&
    grep -q "eigh 100%|.*| 7/7 \[" "$tmp/err"; then
    echo "ok: progress bar"
else
    echo "FAIL: progress bar"
    cat "$tmp/err"
    fails=$((fails + 1))
fi

echo "$fails failed"
[ "$fails" -eq 0 ]
