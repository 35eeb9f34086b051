#!/bin/bash
# A big node from the two commands: tools/quickstart.sh builds StarPU with
# tools/build-starpu.sh when the machine has more cores than the StarPU found supports
# (Debian's: 4), says why once, and configures dusk against it; otherwise it keeps the StarPU
# found. The core count is faked (DUSK_FAKE_NPROC) and nothing is built: quickstart runs in a
# copy of tools/ where build-starpu.sh, cmake, dpkg-query and dusk-eigh are stubs that record
# how they were called.
# Usage: test_quickstart_starpu.sh SOURCE_DIR
# shellcheck disable=SC2016,SC2034 # check() evaluates its condition: single quotes on purpose
set -u
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # what, then a condition (shell code, evaluated) that holds
    local what=$1
    if eval "$2"; then
        echo "ok: $what"
    else
        echo "FAIL: $what"
        fails=$((fails + 1))
    fi
}

# ---- the decision alone: tools/starpu-plan.sh --------------------------------------------
header() { # FILE MAXCPUS|none
    if [ "$2" = none ]; then echo "#define STARPU_USE_CPU 1" >"$1"; else
        printf '#define STARPU_USE_CPU 1\n#define STARPU_MAXCPUS %s\n' "$2" >"$1"
    fi
}
header "$tmp/h4" 4
header "$tmp/h128" 128
header "$tmp/hnone" none
plan() { # NPROC HEADER: stdout of the plan; its stderr in $tmp/why
    DUSK_FAKE_NPROC=$1 DUSK_STARPU_CONFIG_H=$2 bash "$src/tools/starpu-plan.sh" "$tmp/pfx" \
        2>"$tmp/why"
}
for n in 1 2 4; do
    check "$n cores, StarPU for 4: the StarPU found, silently" \
        '[ "$(plan $n "$tmp/h4")" = system ] && [ ! -s "$tmp/why" ]'
done
check "5 cores, StarPU for 4: build" '[ "$(plan 5 "$tmp/h4")" = "build $tmp/pfx" ]'
check "5 cores: says why in one line" '[ "$(wc -l <"$tmp/why")" -eq 1 ] &&
    grep -qF "this machine has 5 cores and the StarPU found ($tmp/h4) runs at most 4" "$tmp/why"'
check "128 cores, StarPU for 4: build" '[ "$(plan 128 "$tmp/h4")" = "build $tmp/pfx" ]'
check "128 cores: says it builds for up to 128 with tools/build-starpu.sh" \
    'grep -q "has 128 cores .* for up to 128 into $tmp/pfx with tools/build-starpu.sh" "$tmp/why"'
check "200 cores: build, saying 72 cores stay idle" \
    '[ "$(plan 200 "$tmp/h4")" = "build $tmp/pfx" ] && grep -q "72 cores stay idle" "$tmp/why"'
check "128 cores, StarPU for 128: the StarPU found" '[ "$(plan 128 "$tmp/h128")" = system ]'
check "129 cores, StarPU for 128: the StarPU found (a build would have no more)" \
    '[ "$(plan 129 "$tmp/h128")" = system ]'
check "a StarPU with no STARPU_MAXCPUS: the StarPU found" '[ "$(plan 512 "$tmp/hnone")" = system ]'
check "DUSK_BUILD_STARPU=0: the StarPU found, saying 124 cores stay idle" \
    '[ "$(DUSK_BUILD_STARPU=0 plan 128 "$tmp/h4")" = system ] &&
    grep -q "124 of this machine.s 128 cores stay idle" "$tmp/why"'
mkdir -p "$tmp/pfx/share" "$tmp/pfx/include/starpu/1.3"
touch "$tmp/pfx/share/dusk-build-starpu.stamp"
header "$tmp/pfx/include/starpu/1.3/starpu_config.h" 128
check "PREFIX already built: build (reused), nothing said" \
    '[ "$(plan 128 "$tmp/h4")" = "build $tmp/pfx" ] && [ ! -s "$tmp/why" ]'
DUSK_FAKE_NPROC=lots bash "$src/tools/starpu-plan.sh" "$tmp/pfx" >/dev/null 2>"$tmp/why"
rc=$?
check "DUSK_FAKE_NPROC=lots: exit 2, one line" '[ $rc -eq 2 ] && [ "$(wc -l <"$tmp/why")" -eq 1 ]'
echo "note: this machine ($(nproc) cores): $(bash "$src/tools/starpu-plan.sh" "$tmp/pfx2" 2>&1)"

# ---- quickstart.sh itself, with stubs -------------------------------------------------------
repo=$tmp/repo
mkdir -p "$repo/tools" "$tmp/bin"
cp "$src/tools/quickstart.sh" "$src/tools/starpu-plan.sh" "$repo/tools/"
cat >"$repo/tools/build-starpu.sh" <<'EOF'
#!/bin/bash
# stub: records its arguments, installs a "build" for 128 CPUs
echo "build-starpu $*" >>"$STUB_LOG"
prefix=$2
mkdir -p "$prefix/share" "$prefix/include/starpu/1.3"
echo stub >"$prefix/share/dusk-build-starpu.stamp"
echo "#define STARPU_MAXCPUS 128" >"$prefix/include/starpu/1.3/starpu_config.h"
EOF
cat >"$tmp/bin/cmake" <<'EOF'
#!/bin/bash
# stub: records each configuration (and the cache it found), keeps STARPU_DIR in a cache
if [ "$1" = --build ]; then mkdir -p "$2/apps"; printf '#!/bin/sh\necho "dusk-eigh $*"\n' >"$2/apps/dusk-eigh"; chmod +x "$2/apps/dusk-eigh"; exit 0; fi
dir=$4
shift 4
cache=none
[ -f "$dir/CMakeCache.txt" ] && cache=$(sed -n 's/^STARPU_DIR:PATH=//p' "$dir/CMakeCache.txt") && cache=${cache:-kept}
echo "cmake $dir cache=$cache $*" >>"$STUB_LOG"
mkdir -p "$dir"
sd=$(printf '%s\n' "$@" | sed -n 's/^-DSTARPU_DIR=//p')
[ -f "$dir/CMakeCache.txt" ] && [ -z "$sd" ] && exit 0
echo "STARPU_DIR:PATH=$sd" >"$dir/CMakeCache.txt"
EOF
printf '#!/bin/sh\necho "install ok installed"\n' >"$tmp/bin/dpkg-query"
chmod +x "$repo/tools/"*.sh "$tmp/bin/"*
export STUB_LOG=$tmp/log
quickstart() { # NPROC [env...]: runs `quickstart.sh run --ntasks 1`; stderr in $tmp/err
    : >"$STUB_LOG"
    env PATH="$tmp/bin:$PATH" DUSK_FAKE_NPROC="$1" DUSK_STARPU_CONFIG_H="$tmp/h4" "${@:2}" \
        bash "$repo/tools/quickstart.sh" run --ntasks 1 >"$tmp/out" 2>"$tmp/err"
}
quickstart 2
check "quickstart, 2 cores: runs dusk-eigh" 'grep -qx "dusk-eigh --ntasks 1" "$tmp/out"'
check "quickstart, 2 cores: builds no StarPU, says nothing of it" \
    '! grep -q "build-starpu" "$STUB_LOG" && ! grep -q "StarPU" "$tmp/err"'
check "quickstart, 2 cores: configures without STARPU_DIR" \
    'grep -q "^cmake $repo/build cache=none -DCMAKE_BUILD_TYPE=Release" "$STUB_LOG"'
quickstart 128
check "quickstart, 128 cores: says why once" '[ "$(grep -c "has 128 cores" "$tmp/err")" -eq 1 ]'
check "quickstart, 128 cores: builds StarPU into build-starpu/" \
    'grep -q "^build-starpu --prefix $repo/build-starpu --jobs" "$STUB_LOG"'
check "quickstart, 128 cores: configures build/ anew against it" \
    'grep -q "^cmake $repo/build cache=none -DSTARPU_DIR=$repo/build-starpu" "$STUB_LOG"'
check "quickstart, 128 cores: runs dusk-eigh" 'grep -qx "dusk-eigh --ntasks 1" "$tmp/out"'
quickstart 128
check "quickstart again, 128 cores: nothing said, the same StarPU, the cache kept" \
    '! grep -q "has 128 cores" "$tmp/err" &&
    grep -q "^cmake $repo/build cache=$repo/build-starpu -DSTARPU_DIR=$repo/build-starpu" "$STUB_LOG"'
quickstart 128 DUSK_BUILD_STARPU=0
check "quickstart, DUSK_BUILD_STARPU=0: the StarPU found, build/ configured anew, idle cores said" \
    'grep -q "^cmake $repo/build cache=none -DCMAKE_BUILD_TYPE" "$STUB_LOG" &&
    grep -q "124 of this machine.s 128 cores stay idle" "$tmp/err"'
echo "STARPU_DIR:PATH=/opt/mine" >"$repo/build/CMakeCache.txt"
quickstart 2
check "quickstart, 2 cores: a build/ a user pointed at another StarPU is left alone" \
    'grep -q "^cmake $repo/build cache=/opt/mine -DCMAKE_BUILD_TYPE" "$STUB_LOG"'

[ $fails -eq 0 ] || {
    echo "$fails failures; quickstart's stderr:"
    cat "$tmp/err"
    exit 1
}
echo "all passed"
