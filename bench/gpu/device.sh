#!/bin/bash
# The one command for a lent GPU machine: from the repository root, with the tarball that
# tools/pack-gpu.sh made here carried along, unpack it, run its bench/gpu/session.sh in what
# is left of --limit seconds (default 480: 8 minutes; give the command a timeout of about 540),
# and keep in $OUT the few files a lent machine sends back (at most 8), each rewritten as the
# session goes, so that a session stopped at any point still returns what it measured:
#   $OUT/SUMMARY.md       the session's summary (each step's status, the figures so far)
#   $OUT/results.md       the benchmark's results.md (rewritten after every run)
#   $OUT/session.log      the session's own output
#   $OUT/session.tar.gz   the whole session directory (every step's log, the benchmark's log,
#                         calibration and trace report, the performance models) without the
#                         eigenvalue files and FxT traces; packed every 20 s and at the end
# Usage: bench/gpu/device.sh [--limit SECONDS] [TARBALL] [-- SESSION_OPTIONS]  (default: the
# newest dusk-gpu-*.tar.xz in the current directory; SESSION_OPTIONS go to session.sh, e.g.
# "-- --steps bench" to rerun one step). OUT defaults to ./device-out.
# Exit: the session's (0 no step failed, 1 a step failed, 3 no usable GPU), 2 bad usage.
set -uo pipefail
t0=$(date +%s)
limit=480
if [ "${1:-}" = --limit ]; then
    limit=${2:-}
    shift 2
fi
[[ "$limit" =~ ^[1-9][0-9]*$ ]] || {
    echo "device: --limit '$limit' is not a whole number of seconds" >&2
    exit 2
}
tarball=""
if [ $# -gt 0 ] && [ "$1" != -- ]; then
    tarball=$1
    shift
fi
[ "${1:-}" != -- ] || shift
[ -n "$tarball" ] || tarball=$(ls -t dusk-gpu-*.tar.xz 2>/dev/null | head -1)
[ -n "$tarball" ] && [ -f "$tarball" ] || {
    echo "device: no tarball (tools/pack-gpu.sh makes dusk-gpu-COMMIT.tar.xz; carry it)" >&2
    exit 2
}
out=${OUT:-$PWD/device-out}
mkdir -p "$out"
work=$(mktemp -d /tmp/dusk-gpu.XXXXXX)
echo "device: unpacking $tarball into $work" >&2
tar -C "$work" -xJf "$tarball" || {
    echo "device: cannot unpack $tarball" >&2
    exit 2
}
session=$work/session
sync_out() {
    [ -f "$session/SUMMARY.md" ] && cp -f "$session/SUMMARY.md" "$out/SUMMARY.md"
    [ -f "$session/bench/results.md" ] && cp -f "$session/bench/results.md" "$out/results.md"
    tar -C "$work" -czf "$out/session.tar.gz.part" --exclude='*.npy' --exclude='fxt' session \
        2>/dev/null && mv -f "$out/session.tar.gz.part" "$out/session.tar.gz"
    return 0
}
(while sleep 20; do sync_out; done) &
syncer=$!
# What is left, less 30 s: the last step may overrun its end by 5 s, then the summary and the
# last packing.
budget=$((limit - ($(date +%s) - t0) - 30))
[ $budget -ge 60 ] || budget=60
rc=0
"$work/dusk-gpu/bench/gpu/session.sh" --out "$session" --budget "$budget" "$@" 2>&1 |
    tee "$out/session.log" || rc=$?
kill "$syncer" 2>/dev/null
wait "$syncer" 2>/dev/null
sync_out
echo "device: session exit $rc after $(($(date +%s) - t0)) s; $out holds: $(ls "$out" | tr '\n' ' ')" >&2
exit $rc
