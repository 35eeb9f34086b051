#!/bin/bash
# The codelet palette: the runtime names no built-in kernel (the colours come from the names
# alone), the usual codelets of one run get distinct colours in report.html, and dag.dot
# (the writer) colours each codelet as the report does.
# Usage: test_trace_palette.sh SOURCE_DIR PATH/TO/dusk-trace PATH/TO/test_trace_writer
set -u
src=$1 tool=$2 writer=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# no string naming a built-in kernel in the code under runtime/src (comments apart: the
# preprocessor strips them), as the kernels register themselves
for f in $(find "$src/runtime/src" -name '*.[ch]' | sort); do
    cc -fpreprocessed -dD -E -P "$f" 2>/dev/null | grep -nE '"dusk_(gen|gram|eigh|verify|load)"' |
        sed "s|^|$f: |"
done >"$tmp/grep"
if [ -s "$tmp/grep" ]; then
    fail "runtime/src names built-in kernels:"; cat "$tmp/grep"
else
    echo "ok: runtime/src names no built-in kernel"
fi

# trace NAME CODELET...: a hand-written trace with one task per codelet
trace() {
    local out=$tmp/$1.json i=0
    shift
    {
        echo '{"traceEvents":['
        echo '{"ph":"M","pid":0,"tid":0,"name":"thread_name","args":{"name":"CPU 0"}},'
        for c in "$@"; do
            printf '{"ph":"X","pid":0,"tid":0,"ts":%d,"dur":900,"name":"%s-%d","args":{"id":%d,"codelet":"%s","status":0,"attempts":1,"deps":[]}},\n' \
                $((i * 1000)) "$c" $i $i "$c"
            i=$((i + 1))
        done
        echo '{"ph":"M","pid":0,"tid":0,"name":"dusk_run","args":{"rank":0,"nranks":1,"epoch":1700000000.0,"t1":99000,"params":""}}'
        echo '],"displayTimeUnit":"ms"}'
    } >"$out"
}

# legend NAME: the report's legend, "colour codelet" per line
legend() {
    "$tool" report -q -o "$tmp/$1.html" "$tmp/$1.json" || { fail "report of $1"; return; }
    grep -o '<span><b style="background:#[0-9a-f]*"></b>[^<]*</span>' "$tmp/$1.html" |
        sed 's/<span><b style="background:\(#[0-9a-f]*\)"><\/b>\([^<]*\)<\/span>/\1 \2/'
}

# the usual runs: dusk-eigh (with --input, dusk_load replaces dusk_gen), dusk-reduce
trace eigh dusk_gen dusk_gram dusk_eigh dusk_verify dusk_load
trace reduce dusk_gen sumsq add
for run in eigh reduce; do
    legend $run >"$tmp/$run.legend"
    n=$(wc -l <"$tmp/$run.legend")
    distinct=$(cut -d' ' -f1 "$tmp/$run.legend" | sort -u | wc -l)
    if [ "$n" -ge 3 ] && [ "$n" -eq "$distinct" ]; then
        echo "ok: $run's $n codelets have $distinct colours: $(tr '\n' ' ' <"$tmp/$run.legend")"
    else
        fail "$run's codelets share colours: $(tr '\n' ' ' <"$tmp/$run.legend")"
    fi
done
# a name's colour does not depend on the others present
grep "dusk_gen" "$tmp/eigh.legend" | cmp -s - <(grep "dusk_gen" "$tmp/reduce.legend") ||
    fail "dusk_gen's colour changes with the other codelets"

# dag.dot and report.html agree: the writer's small trace (every node drawn) and big one
# (summarised by codelet past 2000 tasks)
"$writer" "$tmp/w" >/dev/null || { fail "$writer"; exit 1; }
/usr/bin/python3 - "$tmp/w" <<'PY' || fails=$((fails + 1))
import json, re, sys
d = sys.argv[1]
bad = 0
for run in ("small", "big"):
    html = open(f"{d}/{run}/report.html", encoding="utf-8").read()
    report = dict((n, c) for c, n in re.findall(r'<span><b style="background:(#[0-9a-f]+)"></b>([^<]*)</span>', html))
    dot = open(f"{d}/{run}/dag.dot", encoding="utf-8").read()
    events = json.load(open(f"{d}/{run}/trace.json"))["traceEvents"]
    codelet = {e["args"]["id"]: e["args"]["codelet"] for e in events if e["ph"] == "X"}
    seen = {}
    for tid, colour in re.findall(r'^  t(\d+) \[label=.*fillcolor="(#[0-9a-f]+)"\];$', dot, re.M):
        seen.setdefault(codelet[int(tid)], set()).add(colour)
    for name, colour in re.findall(r'^    c\d+ \[shape=box3d, style=filled, label="([^\\"]+)\\n\d+ tasks", fillcolor="(#[0-9a-f]+)"\];$', dot, re.M):
        seen.setdefault(name, set()).add(colour)
    for name, colours in sorted(seen.items()):
        if name not in report:
            continue
        if colours != {report[name]}:
            print(f"FAIL: {run}: {name} is {sorted(colours)} in dag.dot, {report[name]} in report.html")
            bad += 1
    common = sorted(set(seen) & set(report))
    if not common:
        print(f"FAIL: {run}: no codelet in both dag.dot and report.html")
        bad += 1
    else:
        print(f"ok: {run}: dag.dot and report.html agree on {', '.join(common)}")
sys.exit(1 if bad else 0)
PY
echo "$fails failure(s)"
exit $((fails > 0))
