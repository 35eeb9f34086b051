#!/bin/bash
# dusk's two commands. On a fresh Debian 12 machine, as root (or with sudo):
#   tools/quickstart.sh run [dusk-eigh flags]   install what is missing, build, run the batch
#   tools/quickstart.sh test                    install what is missing, build, run every test
# Safe to run again: it installs only missing packages and rebuilds only what changed. On a
# machine with more cores than Debian's StarPU runs workers (4), it builds StarPU for them
# first (tools/starpu-plan.sh, tools/build-starpu.sh; DUSK_BUILD_STARPU=0 to skip).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=${1:-}
[ $# -gt 0 ] && shift

usage() { # [exit code]: 0 prints to stdout (--help), else to stderr
    local msg="usage: $0 run [dusk-eigh flags] | test
  run   install what is missing, build (build log on stderr), run dusk-eigh with the flags
  test  install what is missing, build, run every test (two builds, fuzzing, TSan)"
    if [ "${1:-2}" -eq 0 ]; then echo "$msg"; else echo "$msg" >&2; fi
    exit "${1:-2}"
}
case "$mode" in
run | test) ;;
-h | --help) usage 0 ;;
*) usage 2 ;;
esac

# ---- packages ---------------------------------------------------------------------------
packages=(build-essential cmake pkg-config libstarpu-dev libopenblas-dev liblapacke-dev
    libopenmpi-dev openmpi-bin libhwloc-dev libhdf5-dev)
# clang and libclang-rt-14-dev: libFuzzer for the fuzz targets (gcc's TSan runtime, libtsan2,
# comes with build-essential).
# python3-h5py and hdf5-tools (h5dump): the HDF5 tests read what dusk writes with them.
# slurm-wlm and munge: the Slurm tests start a one-machine Slurm (tests/slurm_cluster.sh);
# srun's PMIx plugin loads libpmix.so, which only libpmix-dev installs.
# python3-numba: dusk.map's test of a compiled per-item kernel (a numba @cfunc).
[ "$mode" = test ] && packages+=(python3 python3-numpy python3-pytest python3-h5py hdf5-tools graphviz chromium
    fonts-dejavu-core clang-format git iproute2 clang libclang-rt-14-dev gnuplot-nox
    slurm-wlm munge libpmix-dev python3-numba)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "quickstart: installing ${missing[*]}" >&2
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        echo "quickstart: missing packages (${missing[*]}); run as root or install them" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q >&2
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

jobs=$(nproc 2>/dev/null || echo 2)

# ---- StarPU: Debian's runs at most 4 CPU workers; a machine with more cores gets one built
# for it by tools/build-starpu.sh (tools/starpu-plan.sh decides, and says why once)
starpu_prefix=$here/build-starpu
starpu_dir=""
plan=$("$here/tools/starpu-plan.sh" "$starpu_prefix")
if [ "$plan" = "build $starpu_prefix" ]; then
    "$here/tools/build-starpu.sh" --prefix "$starpu_prefix" --jobs "$jobs" >&2
    starpu_dir=$starpu_prefix
fi

# ---- build ------------------------------------------------------------------------------
configure() { # configure DIR [cmake options...]
    local dir=$1 have
    shift
    # a build directory configured against another StarPU than this one is configured anew
    # (CMake keeps what it found in its cache); one a user pointed elsewhere is left alone
    if [ -f "$dir/CMakeCache.txt" ]; then
        have=$(sed -n 's/^STARPU_DIR:[A-Z]*=//p' "$dir/CMakeCache.txt")
        if [ "$have" != "$starpu_dir" ] &&
            { [ -n "$starpu_dir" ] || [ "$have" = "$starpu_prefix" ]; }; then
            rm -f "$dir/CMakeCache.txt"
        fi
    fi
    cmake -S "$here" -B "$dir" ${starpu_dir:+"-DSTARPU_DIR=$starpu_dir"} "$@" >/dev/null
}
build() { # build DIR [cmake options...]
    local dir=$1
    shift
    configure "$dir" "$@"
    # the build log goes to stderr: stdout is for results (`run` prints dusk-eigh's there)
    cmake --build "$dir" -j "$jobs" >&2
}

if [ "$mode" = run ]; then
    build "$here/build" -DCMAKE_BUILD_TYPE=Release
    echo >&2
    exec "$here/build/apps/dusk-eigh" "$@"
fi

# ---- test: the plain build with -Werror, then AddressSanitizer + UndefinedBehaviorSanitizer,
# then the fuzz targets for a bounded time, then a small batch under ThreadSanitizer
status=0
echo "== tests: -Wall -Wextra -Werror build ==" >&2
build "$here/build" -DCMAKE_BUILD_TYPE=Release -DDUSK_WERROR=ON
(cd "$here/build" && ctest --output-on-failure -j "$jobs") || status=1

echo "== tests: AddressSanitizer + UndefinedBehaviorSanitizer build ==" >&2
build "$here/build-asan" -DCMAKE_BUILD_TYPE=Debug -DDUSK_WERROR=ON \
    -DDUSK_SANITIZE=address,undefined -DDUSK_BUILD_BENCH=OFF
(cd "$here/build-asan" && ctest --output-on-failure -j "$jobs") || status=1

echo "== fuzz: libFuzzer on the .npy header, trace and manifest readers (clang, ${DUSK_FUZZ_SECONDS:-60} s in all) ==" >&2
CC=clang build "$here/build-fuzz" -DCMAKE_BUILD_TYPE=Debug -DDUSK_WERROR=ON -DDUSK_FUZZ=ON \
    -DDUSK_FUZZ_SECONDS="${DUSK_FUZZ_SECONDS:-60}"
(cd "$here/build-fuzz" && ctest --output-on-failure) || status=1

echo "== ThreadSanitizer: a small batch (tests/tsan_batch.sh) ==" >&2
configure "$here/build-tsan" -DCMAKE_BUILD_TYPE=Debug -DDUSK_WERROR=ON -DDUSK_SANITIZE=thread \
    -DDUSK_BUILD_BENCH=OFF
cmake --build "$here/build-tsan" -j "$jobs" --target dusk-eigh dusk-reduce \
    test_graph_dependencies test_graph_failure test_graph_window test_graph_retry test_eigh_stack
bash "$here/tests/tsan_batch.sh" "$here/build-tsan" || status=1

if [ $status -eq 0 ]; then echo "quickstart: all tests passed (two builds, fuzzing, ThreadSanitizer)" >&2; fi
exit $status
