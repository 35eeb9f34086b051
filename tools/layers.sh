#!/usr/bin/env bash
# Which of dusk's source files calls which: the layering of the library, read from its objects.
#
#   tools/layers.sh [-q] [BUILD_DIR]
#   tools/layers.sh [-q] OBJECT.o...
#
# For each object of libdusk (runtime/src/**.c, codelets/*.c), `nm` tells the dusk_* and dusk__*
# names it defines and those it uses without defining; a use of a name another file defines
# is an edge "FILE -> OTHER: NAMES". Every edge is printed (-q: only the core's and the verdict),
# then the files of the core (runtime/src/core/*.c and runtime/src/trace/trace.c) are checked
# for a cycle: a core file must never call, directly or through others, back into itself. The
# objects are those CMake lists in BUILD_DIR/layers-objects.txt (default: ../build next to this
# script), so that a stale object of a file that is gone is not read.
#
# Exit status: 0 no cycle among the core's files, 1 a cycle (each printed with its edges) or an
# error, 2 bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=layers.sh
usage="layers.sh [-q] [BUILD_DIR | OBJECT.o...]"
die() {
    echo "$prog: $*" >&2
    exit 1
}
usage_error() {
    echo "$prog: $* (usage: $usage)" >&2
    exit 2
}

quiet=0
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    -q | --quiet) quiet=1 ;;
    -h | --help)
        sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    -*) usage_error "unknown option '$1'" ;;
    *) args+=("$1") ;;
    esac
    shift
done

objects=()
if [ ${#args[@]} -le 1 ] && [[ "${args[0]:-}" != *.o ]]; then
    build=${args[0]:-$here/../build}
    [ -d "$build" ] || die "no build directory at $build (configure and build first)"
    list=$build/layers-objects.txt
    [ -f "$list" ] || die "no $list: configure the build with this tree's CMakeLists.txt"
    while IFS= read -r o; do
        [ -n "$o" ] && objects+=("$o")
    done <"$list"
else
    objects=("${args[@]}")
fi
[ ${#objects[@]} -gt 0 ] || die "no objects to read"
command -v nm >/dev/null || die "nm (binutils) is not installed"

# "D FILE NAME" for each dusk name FILE defines, "U FILE NAME" for each it uses. FILE is the
# source, named as CMake names its object: .../CMakeFiles/TARGET.dir/SOURCE.o. One nm for all.
for o in "${objects[@]}"; do
    [ -f "$o" ] || die "missing object $o: build first (cmake --build)"
done
table=$(nm -A -g "${objects[@]}" | awk '{
    sym = $NF; kind = $(NF - 1)
    if (sym !~ /^dusk_/) next
    f = $0; sub(/:.*/, "", f); sub(/.*\.dir\//, "", f); sub(/\.o$/, "", f)
    print (kind == "U" ? "U" : "D"), f, sym
}') || die "nm failed"

awk -v quiet="$quiet" '
function core(f) { return f ~ /^runtime\/src\/core\/[^\/]*\.c$/ || f == "runtime/src/trace/trace.c" }
function short(f) { sub(/^runtime\/src\//, "", f); return f }
$1 == "D" { def[$3] = $2; files[$2] = 1; next }
$1 == "U" { use[++nuse] = $2 " " $3; files[$2] = 1 }
END {
    for (i = 1; i <= nuse; i++) {
        split(use[i], u, " ")
        to = def[u[2]]
        if (to == "" || to == u[1]) continue
        e = u[1] SUBSEP to
        if (!(e in names)) { edge[++nedges] = e; names[e] = u[2] } else names[e] = names[e] " " u[2]
        reach[u[1], to] = 1
    }
    # the edges, sorted by caller then callee
    for (i = 1; i <= nedges; i++) for (j = i + 1; j <= nedges; j++)
        if (edge[j] < edge[i]) { t = edge[i]; edge[i] = edge[j]; edge[j] = t }
    for (i = 1; i <= nedges; i++) {
        split(edge[i], ft, SUBSEP)
        if (quiet && !(core(ft[1]) && core(ft[2]))) continue
        printf "%s -> %s: %s\n", short(ft[1]), short(ft[2]), names[edge[i]]
    }
    # cycles: files that reach each other (a transitive closure, after Warshall) are in one cycle
    n = 0
    for (f in files) all[++n] = f
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (all[j] < all[i]) { t = all[i]; all[i] = all[j]; all[j] = t }
    for (k = 1; k <= n; k++) for (i = 1; i <= n; i++) if (reach[all[i], all[k]])
        for (j = 1; j <= n; j++) if (reach[all[k], all[j]]) reach[all[i], all[j]] = 1
    bad = 0; ncycles = 0; ncore = 0
    for (i = 1; i <= n; i++) ncore += core(all[i])
    for (i = 1; i <= n; i++) {
        if (!reach[all[i], all[i]] || (all[i] in scc)) continue
        members = ""; incore = 0; ncycles++
        for (j = 1; j <= n; j++) if (reach[all[i], all[j]] && reach[all[j], all[i]]) {
            scc[all[j]] = ncycles
            members = members " " short(all[j])
            incore += core(all[j])
        }
        bad += incore > 0
        if (quiet && !incore) continue
        printf "%s:%s\n", incore ? "CYCLE among the core files" : "note: a cycle outside the core", members
        for (e = 1; e <= nedges; e++) {
            split(edge[e], ft, SUBSEP)
            if ((ft[1] in scc) && (ft[2] in scc) && scc[ft[1]] == ncycles && scc[ft[2]] == ncycles)
                printf "  %s -> %s: %s\n", short(ft[1]), short(ft[2]), names[edge[e]]
        }
    }
    if (bad) { printf "%d cycle(s) among the %d core files\n", bad, ncore; exit 1 }
    printf "no cycle among the %d core files\n", ncore
}' <<<"$table"
