#!/bin/bash
# dag.dot renders with Graphviz, both a small graph (every task drawn) and one past 2000
# tasks (the rest summarised by codelet). Skips (77) only when `dot` is not installed, and
# fails then under CI.
# Usage: test_trace_dot.sh PATH/TO/test_trace_writer
set -u
writer=$1
# shellcheck source=tests/runlib.sh
. "$(dirname "$0")/runlib.sh"
need dot graphviz "Graphviz's dot"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$writer" "$tmp" >/dev/null || { echo "FAIL: $writer"; exit 1; }
fails=0
for g in small big; do
    if dot -Tsvg "$tmp/$g/dag.dot" -o "$tmp/$g.svg" 2>"$tmp/err" && grep -q "<svg" "$tmp/$g.svg"; then
        echo "ok: $g/dag.dot renders ($(wc -c <"$tmp/$g.svg") bytes of SVG)"
    else
        echo "FAIL: dot -Tsvg $g/dag.dot:"; cat "$tmp/err"; fails=$((fails + 1))
    fi
done
nodes=$(grep -c '^  t[0-9]* \[label=' "$tmp/big/dag.dot")
[ "$nodes" -eq 2000 ] || { echo "FAIL: big graph draws $nodes tasks, want 2000"; fails=$((fails + 1)); }
grep -q 'label="28000 more tasks, summarised by codelet"' "$tmp/big/dag.dot" ||
    { echo "FAIL: big graph has no summary"; fails=$((fails + 1)); }
grep -q 'label="dusk_gen\\n9333 tasks"' "$tmp/big/dag.dot" ||
    { echo "FAIL: summary counts"; fails=$((fails + 1)); }
grep -q '^  t6 -> t7;$' "$tmp/small/dag.dot" || { echo "FAIL: small graph edge d -> fail"; fails=$((fails + 1)); }
exit $((fails > 0))
