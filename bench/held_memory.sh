#!/usr/bin/env bash
# Memory per task, streamed (tasks handed to StarPU as they are submitted, through the window)
# against held (dusk_graph_hold: every task, read and release recorded until compute). Prints
# a Markdown table to paste into bench/RESULTS.md ("## Held graphs"), with the machine and
# date; writes nothing itself.
#
#   bench/held_memory.sh [-N TASKS] [BUILD_DIR]
#
# dusk-bench-tiny runs TASKS empty tasks (default 100000) without data and with a 1-value
# vector per task, streamed and held; dusk-reduce --size 1 (3 tasks and 3 data objects per
# chunk, keys, a tree) runs held with TASKS / 3 chunks, measured by /usr/bin/time's peak RSS.
# Exit status: 0, 1 on error, 2 on bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=held_memory.sh
usage="held_memory.sh [-N TASKS] [BUILD_DIR]"
# shellcheck source=bench/common.sh
. "$here/common.sh"
ntasks=100000
build=""
while [ $# -gt 0 ]; do
    case "$1" in
    -N | --ntasks)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        ntasks=$2
        shift 2
        ;;
    -h | --help)
        print_header 2 12
        ;;
    -*) usage_error "unknown option '$1'" ;;
    *)
        take_build_arg "$1"
        shift
        ;;
    esac
done
require_positive -N "$ntasks"
resolve_build
tiny=$build/bench/dusk-bench-tiny
reduce=$build/apps/dusk-reduce
require_built "$tiny" "$reduce"
[ -x /usr/bin/time ] || die "needs /usr/bin/time (Debian package time)"
make_tmp

echo "$(date +%Y-%m-%d), $(nproc) cores, $(awk '/^model name/ {sub(/^[^:]*: /, ""); print; exit}' /proc/cpuinfo)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | tasks | peak memory growth | bytes per task |"
echo "| --- | --- | --- | --- |"
for mode in "" "--data" "--hold" "--hold --data"; do
    # shellcheck disable=SC2086
    "$tiny" -q -N "$ntasks" $mode >"$tmp/out" 2>"$tmp/err" ||
        die "dusk-bench-tiny -N $ntasks $mode failed: $(cat "$tmp/err")"
    mb=$(sed -n 's/.*grew by \([0-9.]*\) MB.*/\1/p' "$tmp/out")
    per=$(sed -n 's/.*(\([0-9]*\) bytes per task.*/\1/p' "$tmp/out")
    [ -n "$mb" ] && [ -n "$per" ] || die "cannot read dusk-bench-tiny's line: $(cat "$tmp/out")"
    what="dusk-bench-tiny, $( [[ $mode == *hold* ]] && echo held || echo streamed)"
    what+="$( [[ $mode == *data* ]] && echo ", a vector per task" || echo ", no data")"
    echo "| $what | $ntasks | $mb MB | $per |"
done
chunks=$((ntasks / 3))
/usr/bin/time -f "%M" -o "$tmp/rss" "$reduce" --chunks "$chunks" --size 1 -q >"$tmp/out" 2>"$tmp/err" ||
    die "dusk-reduce --chunks $chunks --size 1 failed: $(cat "$tmp/err")"
/usr/bin/time -f "%M" -o "$tmp/rss0" "$reduce" --chunks 1 --size 1 -q >/dev/null 2>&1 ||
    die "dusk-reduce --chunks 1 failed"
rtasks=$((3 * chunks - 1))
awk -v a="$(cat "$tmp/rss")" -v b="$(cat "$tmp/rss0")" -v t="$rtasks" -v c="$chunks" 'BEGIN {
    g = (a - b) * 1024
    printf "| dusk-reduce --chunks %d --size 1, held (peak RSS %.0f MB) | %d | %.1f MB | %.0f |\n", c, a / 1024, t, g / 1e6, g / t }'
