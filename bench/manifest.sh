#!/bin/bash
# bench/manifest.sh: what --output costs across ranks, tiny tasks (n=4, values only, many of
# them), where the manifest's done set is largest and saved about once a second. Times
# dusk-eigh with 1, 2 and 3 ranks (1: one process, no mpirun), with the cyclic and the block
# distribution, each without and with --output, alternating the cases round after round, and
# prints a Markdown entry for bench/RESULTS.md ("## The manifest under ranks"): the median
# batch time of each case and what --output costs against the same rank count and
# distribution without it (target: under 5% at any rank count). Then one run of 2 ranks,
# cyclic, with --output, stopped by SIGINT once every rank's manifest lists a task done: the
# size of each rank's manifest just before the stop (SIGTERM to every rank) and of the merged
# one after it.
# Usage: bench/manifest.sh [-t T] [-r ROUNDS] [--ranks "1 2 3"] [--build DIR]
#        (defaults: T=2000000, 3 rounds)
set -euo pipefail
prog=manifest.sh
usage="bench/manifest.sh [-t T] [-r ROUNDS] [--ranks \"1 2 3\"] [--build DIR]"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/common.sh
. "$here/common.sh"

t=2000000 rounds=3 ranks="1 2 3" build=
while [ $# -gt 0 ]; do
    case "$1" in
    -t) t=${2:-}; require_positive -t "$t"; shift 2 ;;
    -r) rounds=${2:-}; require_positive -r "$rounds"; shift 2 ;;
    --ranks) ranks=${2:-}; shift 2 ;;
    --build) build=${2:-}; shift 2 ;;
    -h | --help) echo "usage: $usage"; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
    esac
done
for r in $ranks; do require_positive --ranks "$r"; done
resolve_build
dusk=$build/apps/dusk-eigh
[ -x "$dusk" ] || die "no dusk-eigh in $build/apps"
command -v mpirun >/dev/null || die "mpirun is missing (Debian: openmpi-bin)"
make_tmp
cores=$(nproc)
mpirun=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
args=(-n 4 --ntasks "$t" --values-only -q --no-progress)

cases=()
for r in $ranks; do
    for d in cyclic block; do
        [ "$r" -eq 1 ] && [ "$d" = block ] && continue # one rank: no distribution
        cases+=("$r $d plain" "$r $d output")
    done
done
run_case() { # "ranks distribution plain|output" -> prints seconds
    local r d o cmd=()
    read -r r d o <<<"$1"
    [ "$r" -gt 1 ] && cmd=("${mpirun[@]}" -np "$r")
    local extra=()
    [ "$r" -gt 1 ] && extra=(--distribution "$d")
    rm -rf "$tmp/out"
    [ "$o" = output ] && extra+=(--output "$tmp/out")
    "${cmd[@]}" "$dusk" "${args[@]}" "${extra[@]}" >"$tmp/log" 2>&1 || die "$1 failed: $(cat "$tmp/log")"
    sed -n 's/^Processed [0-9]* tasks in \([0-9.]*\) s.*/\1/p' "$tmp/log" | head -n 1
}

load_start
load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A times
for ((k = 0; k < rounds; k++)); do
    for c in "${cases[@]}"; do
        s=$(run_case "$c")
        [ -n "$s" ] || die "$c: no Processed line"
        times[$c]="${times[$c]:-} $s"
    done
done

# ---- the manifest's size: 2 ranks, cyclic, stopped once under way
out=$tmp/stop
"${mpirun[@]}" -np 2 "$dusk" "${args[@]}" --ntasks $((t * 10)) --output "$out" >"$tmp/stop.log" 2>&1 &
pid=$!
for ((w = 0; w < 600; w++)); do
    a=$(sed -n 's/^done //p' "$out/manifest.txt" 2>/dev/null || true)
    b=$(sed -n 's/^done //p' "$out/.rank-1/manifest.txt" 2>/dev/null || true)
    [ "${a:-0}" -gt 0 ] && [ "${b:-0}" -gt 0 ] && break
    kill -0 "$pid" 2>/dev/null || die "the run to stop ended first: $(cat "$tmp/stop.log")"
    sleep 0.1
done
sleep 2 # two more saves, each rank's set larger
size0=$(stat -c %s "$out/manifest.txt") size1=$(stat -c %s "$out/.rank-1/manifest.txt" 2>/dev/null) ||
    die "the run to stop ended before its stop (merged): give a larger -t"
# SIGTERM to every rank, as a batch system sends it (mpirun kills the ranks about a second
# after passing a Ctrl-C on, too soon on a loaded machine for them to save and merge)
ranks_pids=$(pgrep -P "$pid" || true)
[ -n "$ranks_pids" ] || die "no ranks under mpirun ($pid) to stop"
# shellcheck disable=SC2086
kill -TERM $ranks_pids
wait "$pid" || true
merged=$(stat -c %s "$out/manifest.txt")
done_merged=$(sed -n 's/^done //p' "$out/manifest.txt")
ids=$(sed -n 's/^ids //p' "$out/manifest.txt")
load_report
load1=$(cut -d' ' -f1-3 /proc/loadavg)

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
declare -A med
for c in "${cases[@]}"; do med[$c]=$(echo "${times[$c]}" | median); done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 + 0.5 }' /proc/meminfo)
echo "<!-- manifest-entry machine=\"$cpu, $cores cores, $mem\" date=\"$(date +%F)\" -->"
echo "### $(date -u '+%F %H:%M UTC'): $cpu, $cores cores, $mem"
echo
echo "dusk-eigh -n 4 --values-only, T=$t, median of $rounds rounds (alternating), batch time from"
echo "the \`Processed\` line. Load average (1, 5, 15 min) $load0 before, $load1 after."
echo "Machine load: $quiet."
echo
echo "| ranks | distribution | without --output (s) | with --output (s) | --output costs | target < 5% | all runs, without / with (s) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
fail=0
for r in $ranks; do
    for d in cyclic block; do
        [ "$r" -eq 1 ] && [ "$d" = block ] && continue
        p=${med["$r $d plain"]} o=${med["$r $d output"]}
        pct=$(awk -v p="$p" -v o="$o" 'BEGIN { printf "%+.1f%%", (o / p - 1) * 100 }')
        ok=$(awk -v p="$p" -v o="$o" 'BEGIN { print (o < 1.05 * p) ? "PASS" : "FAIL" }')
        [ "$ok" = PASS ] || fail=1
        [ "$r" -eq 1 ] && d="(one process)"
        echo "| $r | $d | $p | $o | $pct | $ok |${times["$r ${d/(one process)/cyclic} plain"]} /${times["$r ${d/(one process)/cyclic} output"]} |"
    done
done
echo
state=$(sed -n 's/^state //p' "$out/manifest.txt")
echo "Stopped run (2 ranks, cyclic, T=$((t * 10)), SIGTERM to both ranks about 2 s after both listed a"
echo "task done): rank 0's manifest $size0 bytes and rank 1's $size1 bytes just before the stop;"
echo "the merged manifest (state $state) $merged bytes, $done_merged tasks done, \`ids ${ids:0:160}\`."
echo "<!-- /manifest-entry -->"
exit $((fail ? 3 : 0))
