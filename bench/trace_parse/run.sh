#!/bin/bash
# Parse a synthetic 1M-task trace with dusk's JSON-lines reader, cJSON and Jansson
# (bench/trace_parse/trace_parse.c), and load it with dusk-trace; see bench/RESULTS.md.
# Needs libcjson-dev and libjansson-dev (Debian), for this measurement only.
# Usage: bench/trace_parse/run.sh [BUILD_DIR] [TASKS] [RUNS]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
tasks=${2:-1000000}
runs=${3:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/trace_parse" "$here/trace_parse.c" "$root/runtime/src/trace/jsonl.c" \
    -I"$root/runtime/src/trace" -lcjson -ljansson -lm
/usr/bin/python3 "$here/make_trace.py" "$tasks" "$work/trace.json"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
    "$(date -u '+%Y-%m-%d %H:%M UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "trace: $tasks tasks, $(stat -c %s "$work/trace.json") bytes"
for parser in hand cjson jansson; do
    "$work/trace_parse" "$parser" "$work/trace.json" "$runs"
done
# the whole load (parse, set, index) and the summary, as a user runs it: CPU seconds
for r in $(seq "$runs"); do
    /usr/bin/time -f "dusk-trace summary: %U s user + %S s sys, %M KB peak" \
        "$build/tools/dusk-trace" "$work/trace.json" >/dev/null
done
