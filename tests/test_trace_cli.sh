#!/bin/bash
# dusk-trace's command line: bad usage is one stderr line and exit 2, and so are files of
# different runs given together (summary, merge and report alike); an unreadable or
# malformed trace one line naming the file and exit 1; a trace cut short (a killed rank) is
# read up to its last whole event with one warning naming the file and the line, exit 0; the
# summary of a known trace prints the numbers worked out by hand in test_trace_writer.c;
# merge and report write their files.
# Usage: test_trace_cli.sh PATH/TO/dusk-trace PATH/TO/test_trace_writer
set -u
tool=$1 writer=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
"$writer" "$tmp" >/dev/null || { echo "FAIL: $writer"; exit 1; }
small=$tmp/small/trace.json

# expect CODE WORDS ARGS...: exit CODE, exactly one stderr line containing WORDS, no stdout
expect() {
    local code=$1 words=$2
    shift 2
    "$tool" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -ne "$code" ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$words" "$tmp/err" ||
        [ -s "$tmp/out" ]; then
        echo "FAIL: dusk-trace $* -> exit $rc (want $code), $lines stderr lines containing '$words':"
        sed 's/^/    err: /' "$tmp/err"; sed 's/^/    out: /' "$tmp/out" | head -5
        fails=$((fails + 1))
    else
        echo "ok: dusk-trace $* -> $code: $(cat "$tmp/err")"
    fi
}

expect 2 "unknown option '--bogus'" --bogus "$small"
expect 2 "unknown option '-x'" -x "$small"
expect 2 "no trace file given"
expect 2 "no trace file given" summary
expect 2 "merge needs -o FILE" merge "$small"
expect 2 "report needs -o FILE" report "$small"
expect 2 "option '-o' needs a value" merge -o
# never written over what it reads: -o naming one of the traces (also through another name)
cp "$small" "$tmp/own.json"
ln -s own.json "$tmp/alias.json"
expect 2 "-o $tmp/own.json is the trace $tmp/own.json it reads" report -o "$tmp/own.json" "$tmp/own.json"
expect 2 "is the trace $tmp/own.json it reads" merge -o "$tmp/alias.json" "$small" "$tmp/own.json"
if cmp -s "$small" "$tmp/own.json"; then
    echo "ok: the trace named by -o is untouched"
else
    echo "FAIL: the trace named by -o was written over"
    fails=$((fails + 1))
fi
expect 2 "-o is for merge and report" -o x.json "$small"

# warns CODE WORDS ARGS...: exit CODE, exactly one stderr line containing WORDS (stdout free)
warns() {
    local code=$1 words=$2
    shift 2
    "$tool" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -ne "$code" ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$words" "$tmp/err"; then
        echo "FAIL: dusk-trace $* -> exit $rc (want $code), $lines stderr lines containing '$words':"
        sed 's/^/    err: /' "$tmp/err"; sed 's/^/    out: /' "$tmp/out" | head -5
        fails=$((fails + 1))
    else
        echo "ok: dusk-trace $* -> $code: $(cat "$tmp/err")"
    fi
}

printf '{"traceEvents":[\n{"ph":"X","pid":0\n' >"$tmp/broken.json"
echo '[1, 2, 3]' >"$tmp/other.json"
: >"$tmp/empty.json"
printf '{"traceEv' >"$tmp/header-cut.json"
# cut after a whole line, then in the middle of the next one, as a killed writer leaves it
head -n 5 "$small" >"$tmp/truncated.json"
{ head -n 6 "$small"; sed -n 7p "$small" | head -c 60; } >"$tmp/midline.json"
ntasks6=$(head -n 6 "$small" | grep -c '"ph":"X"')
warns 0 "warning: $tmp/truncated.json: truncated after line 5: the run did not finish; 1 task read" "$tmp/truncated.json"
grep -qF "trace: 1 rank, 2 workers, 1 tasks (0 failed)" "$tmp/out" || { echo "FAIL: truncated summary"; fails=$((fails + 1)); }
warns 0 "warning: $tmp/midline.json: truncated after line 6: the run did not finish; $ntasks6 tasks read" "$tmp/midline.json"
# merge and report: the warning, then the line saying what they wrote
wrote() {
    "$tool" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local rc=$?
    if [ "$rc" -ne 0 ] || [ "$(grep -c "truncated after line 6: the run did not finish" "$tmp/err")" -ne 1 ] ||
        [ "$(grep -c "^dusk-trace: wrote " "$tmp/err")" -ne 1 ] || [ "$(wc -l <"$tmp/err")" -ne 2 ]; then
        echo "FAIL: dusk-trace $* -> exit $rc:"; sed 's/^/    err: /' "$tmp/err"; fails=$((fails + 1))
    else
        echo "ok: dusk-trace $* -> 0: $(head -1 "$tmp/err")"
    fi
}
wrote merge -o "$tmp/cut.json" "$tmp/midline.json"
# the merged file keeps the mark: its summary says the rank was cut short
"$tool" "$tmp/cut.json" 2>"$tmp/err" | grep -qF "rank 0: trace truncated (the run did not finish)" && [ ! -s "$tmp/err" ] ||
    { echo "FAIL: merged truncated trace"; fails=$((fails + 1)); }
wrote report -o "$tmp/cut.html" "$tmp/midline.json"
grep -qF "The trace of rank 0 is truncated" "$tmp/cut.html" || { echo "FAIL: report of a truncated trace"; fails=$((fails + 1)); }
# a truncated rank beside a whole one: both read, one warning
head -n 9 "$tmp/r1/trace.json" >"$tmp/r1-cut.json"
warns 0 "$tmp/r1-cut.json: truncated after line 9" "$tmp/r0/trace.json" "$tmp/r1-cut.json"
grep -qF "trace: 2 ranks, 4 workers, 14 tasks" "$tmp/out" || { echo "FAIL: r0 + truncated r1: $(head -1 "$tmp/out")"; fails=$((fails + 1)); }
# -q: no warning
"$tool" -q "$tmp/truncated.json" >"$tmp/out" 2>"$tmp/err" && [ ! -s "$tmp/err" ] && [ ! -s "$tmp/out" ] ||
    { echo "FAIL: -q on a truncated trace"; fails=$((fails + 1)); }
expect 1 "$tmp/empty.json: empty file, not a dusk trace" "$tmp/empty.json"
expect 1 "$tmp/header-cut.json:1: not a dusk trace" "$tmp/header-cut.json"
sed '5s/"ts":/"ts":"x",/' "$small" >"$tmp/badfield.json"
expect 1 "$tmp/missing.json: No such file or directory" "$tmp/missing.json"
expect 1 "$tmp/broken.json:2: " "$tmp/broken.json"
expect 1 "$tmp/other.json:1: not a dusk trace" "$tmp/other.json"
expect 1 "$tmp/badfield.json:5: expected a number" "$tmp/badfield.json"
expect 2 "also in an earlier file" "$small" "$small"

# two runs given together: refused (exit 2) by summary, merge and report alike, naming both
# files. Rank 1 of a later run beside rank 0 of the writer's: they never ran at the same time.
sed -e 's/"pid":0/"pid":1/g' -e 's/"rank":0,"nranks":1/"rank":1,"nranks":1/' \
    -e 's/"epoch":\([0-9]*\)\./"epoch":9\1./' "$small" >"$tmp/later.json"
sed -e 's/"pid":0/"pid":1/g' -e 's/"rank":0,"nranks":1/"rank":1,"nranks":3/' "$small" >"$tmp/three.json"
for cmd in summary "merge -o $tmp/x.json" "report -o $tmp/x.html"; do
    # shellcheck disable=SC2086
    expect 2 "$small and $tmp/later.json are traces of different runs: rank 0 ran from " $cmd "$small" "$tmp/later.json"
    # shellcheck disable=SC2086
    expect 2 "$small and $tmp/three.json are traces of different runs: rank 0 of $small is one of 1 ranks, rank 1 of $tmp/three.json one of 3" $cmd "$small" "$tmp/three.json"
done
[ ! -e "$tmp/x.json" ] && [ ! -e "$tmp/x.html" ] || { echo "FAIL: a refused merge wrote"; fails=$((fails + 1)); }
# a write that fails says why (errno), not just "input/output error"
expect 1 "cannot write /nonexistent-dir/x.json: No such file or directory" merge -o /nonexistent-dir/x.json "$small"
expect 1 "cannot write /nonexistent-dir/r.html: No such file or directory" report -o /nonexistent-dir/r.html "$small"
mkdir -p "$tmp/adir"
expect 1 "cannot write $tmp/adir: Is a directory" merge -o "$tmp/adir" "$small"

"$tool" --help >"$tmp/out" 2>"$tmp/err" && grep -q "^Usage: dusk-trace" "$tmp/out" && [ ! -s "$tmp/err" ] ||
    { echo "FAIL: --help"; fails=$((fails + 1)); }
"$tool" --version | grep -q "^dusk-trace (dusk) " || { echo "FAIL: --version"; fails=$((fails + 1)); }

# summary of the known trace (two workers: see test_trace_writer.c)
"$tool" "$small" >"$tmp/sum" 2>"$tmp/err" || { echo "FAIL: summary exit $?"; fails=$((fails + 1)); }
"$tool" summary "$small" | cmp -s - "$tmp/sum" || { echo "FAIL: 'summary' differs"; fails=$((fails + 1)); }
for want in "trace: 1 rank, 2 workers, 9 tasks (1 failed, 1 not run because of them)" \
    "makespan: 43.000 ms, throughput: 209.3 tasks/s" \
    "parallel efficiency: 83.7% (task time 72.000 ms / (2 workers x 43.000 ms))" \
    "critical path: 4 tasks, 36.000 ms: a -> b -> d -> fail" \
    "diamond_op                  4       0       10.000        6.000       22.000       40.000" \
    "rank 0 id 7 fail (fail_op): "; do
    grep -qF -- "$want" "$tmp/sum" || { echo "FAIL: summary lacks '$want'"; fails=$((fails + 1)); }
done
grep -E '^  0 +CPU 1 +5 +42\.000 +97\.7% +1 +1\.000 +1\.000$' "$tmp/sum" >/dev/null ||
    { echo "FAIL: summary's line for CPU 1"; fails=$((fails + 1)); }
cat "$tmp/sum"

# merge two ranks, read the merged file back
"$tool" merge -q -o "$tmp/m.json" "$tmp/r0/trace.json" "$tmp/r1/trace.json" 2>"$tmp/err" ||
    { echo "FAIL: merge"; cat "$tmp/err"; fails=$((fails + 1)); }
"$tool" "$tmp/m.json" | grep -qF "trace: 2 ranks, 4 workers, 18 tasks (2 failed, 2 not run because of them)" ||
    { echo "FAIL: merged summary"; fails=$((fails + 1)); }
"$tool" report -q -o "$tmp/r.html" --params "my run" "$tmp/m.json" &&
    grep -q "my run" "$tmp/r.html" || { echo "FAIL: report"; fails=$((fails + 1)); }
echo "$fails failure(s)"
exit $((fails > 0))
