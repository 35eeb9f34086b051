#!/bin/bash
# Which StarPU tools/quickstart.sh builds dusk against. Debian's (libstarpu-dev) runs at most
# STARPU_MAXCPUS = 4 CPU workers: on a machine with more cores than the StarPU found supports,
# quickstart builds one for up to 128 with tools/build-starpu.sh, into PREFIX, rather than
# leave the other cores idle. This script only decides, and so is what a test can run:
#
#   tools/starpu-plan.sh PREFIX
#
# prints one line on stdout:
#   system          the StarPU that pkg-config finds (starpu-1.3) has room for every core
#   build PREFIX    build (or reuse) tools/build-starpu.sh's StarPU in PREFIX
# and, for `build` when PREFIX holds no such build yet, why, once, on stderr.
#
# The cores are those this process may run on (nproc). For tests: DUSK_FAKE_NPROC=N takes N
# instead (read here only), and DUSK_STARPU_CONFIG_H=FILE the starpu_config.h to read instead
# of pkg-config's. DUSK_BUILD_STARPU=0: never build (says what that costs).
# Exit: 0, 1 no StarPU found, 2 bad usage.
set -euo pipefail

say() { echo "quickstart: $*" >&2; }
[ $# -eq 1 ] || {
    echo "usage: $0 PREFIX" >&2
    exit 2
}
prefix=$1
built_max=128 # tools/build-starpu.sh's --enable-maxcpus

if [ -n "${DUSK_FAKE_NPROC:-}" ]; then
    [[ "$DUSK_FAKE_NPROC" =~ ^[1-9][0-9]{0,5}$ ]] || {
        echo "$0: DUSK_FAKE_NPROC='$DUSK_FAKE_NPROC' is not a whole number of cores" >&2
        exit 2
    }
    cores=$DUSK_FAKE_NPROC
else
    cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
fi

# STARPU_MAXCPUS of a starpu_config.h, or nothing when it sets none (no limit to speak of)
maxcpus() {
    sed -n 's/^#define STARPU_MAXCPUS \([0-9][0-9]*\).*/\1/p' "$1" | head -n 1
}

if [ -n "${DUSK_STARPU_CONFIG_H:-}" ]; then
    config_h=$DUSK_STARPU_CONFIG_H
else
    includedir=$(pkg-config --variable=includedir starpu-1.3 2>/dev/null) || {
        echo "$0: pkg-config finds no StarPU (starpu-1.3; Debian: libstarpu-dev)" >&2
        exit 1
    }
    config_h=$includedir/starpu/1.3/starpu_config.h
fi
[ -f "$config_h" ] || {
    echo "$0: no $config_h" >&2
    exit 1
}
have=$(maxcpus "$config_h")
# room for every core, or as much as a build would have
if [ -z "$have" ] || [ "$cores" -le "$have" ] || [ "$have" -ge $built_max ]; then
    echo system
    exit 0
fi

if [ "${DUSK_BUILD_STARPU:-1}" = 0 ]; then
    say "DUSK_BUILD_STARPU=0: keeping the StarPU found ($config_h), which runs at most $have" \
        "CPU workers: $((cores - have)) of this machine's $cores cores stay idle"
    echo system
    exit 0
fi

# PREFIX already holds a build with room enough (or as much as a build has): reuse it quietly
built=$prefix/include/starpu/1.3/starpu_config.h
if [ -f "$prefix/share/dusk-build-starpu.stamp" ] && [ -f "$built" ] &&
    [ "$(maxcpus "$built")" -ge "$((cores < built_max ? cores : built_max))" ] 2>/dev/null; then
    echo "build $prefix"
    exit 0
fi
more=""
[ "$cores" -le $built_max ] ||
    more=" (StarPU 1.3 runs at most $built_max workers: $((cores - built_max)) cores stay idle)"
say "this machine has $cores cores and the StarPU found ($config_h) runs at most $have CPU" \
    "workers: building StarPU for up to $built_max$more into $prefix with" \
    "tools/build-starpu.sh (about 5 minutes on 2 cores, once; DUSK_BUILD_STARPU=0 keeps" \
    "the $have)"
echo "build $prefix"
