#!/bin/bash
# dusk's two commands. On a fresh Debian 12 machine, as root (or with sudo):
#   tools/quickstart.sh run [dusk-eigh flags]   install what is missing, build, run the batch
#   tools/quickstart.sh test                    install what is missing, build, run every test
# Safe to run again: it installs only missing packages and rebuilds only what changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=${1:-}
[ $# -gt 0 ] && shift

usage() {
    echo "usage: $0 run [dusk-eigh flags] | test" >&2
    exit 2
}
case "$mode" in run | test) ;; *) usage ;; esac

# ---- packages ---------------------------------------------------------------------------
packages=(build-essential cmake pkg-config libstarpu-dev libopenblas-dev liblapacke-dev
    libopenmpi-dev openmpi-bin libhwloc-dev)
[ "$mode" = test ] && packages+=(python3 python3-numpy graphviz chromium fonts-dejavu-core clang-format git
    iproute2 gnuplot-nox)

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
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc 2>/dev/null || echo 2)

# ---- build ------------------------------------------------------------------------------
build() { # build DIR [cmake options...]
    local dir=$1
    shift
    cmake -S "$here" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
}

if [ "$mode" = run ]; then
    build "$here/build" -DCMAKE_BUILD_TYPE=Release
    echo >&2
    exec "$here/build/apps/dusk-eigh" "$@"
fi

# ---- test: the plain build with -Werror, then AddressSanitizer + UndefinedBehaviorSanitizer
status=0
echo "== tests: -Wall -Wextra -Werror build ==" >&2
build "$here/build" -DCMAKE_BUILD_TYPE=Release -DDUSK_WERROR=ON
(cd "$here/build" && ctest --output-on-failure -j "$jobs") || status=1

echo "== tests: AddressSanitizer + UndefinedBehaviorSanitizer build ==" >&2
build "$here/build-asan" -DCMAKE_BUILD_TYPE=Debug -DDUSK_WERROR=ON \
    -DDUSK_SANITIZE=address,undefined -DDUSK_BUILD_BENCH=OFF
(cd "$here/build-asan" && ctest --output-on-failure -j "$jobs") || status=1

if [ $status -eq 0 ]; then echo "quickstart: all tests passed in both builds" >&2; fi
exit $status
