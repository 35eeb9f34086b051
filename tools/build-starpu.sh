#!/bin/bash
# Build StarPU 1.3.10 from Debian's source package into a prefix, with what Debian's
# libstarpu-dev lacks: CUDA (when a toolkit is found), FxT traces, and room for more than 4
# CPU workers (--enable-maxcpus=128); MPI as in Debian's build. See ../shared/GPU.md and the
# docs/install.md ("Big nodes, GPUs and FxT").
#
#   tools/build-starpu.sh --prefix /opt/starpu-cuda        then
#   cmake -S . -B build -DSTARPU_DIR=/opt/starpu-cuda
#
# Idempotent: when PREFIX already holds a build made with the same options and patch, it
# says so and exits 0. Needs root (or sudo) only to install missing Debian packages and to
# enable a deb-src line. Exit: 0 built or already there, 1 failure, 2 bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
patchfile=$here/starpu-1.3.10-cuda13.patch
version=1.3.10+dfsg-2

usage() {
    cat <<EOF
usage: $0 --prefix DIR [--cuda DIR | --no-cuda] [--jobs N] [--workdir DIR] [--force]

Builds StarPU $version (Debian's source package) with CUDA, FxT, MPI and
--enable-maxcpus=128 into DIR.

  --prefix DIR    where to install (required)
  --cuda DIR      CUDA toolkit to build with (default: the directory of nvcc on PATH,
                  else /usr/local/cuda, when it has bin/nvcc)
  --no-cuda       build without CUDA even when a toolkit is there
  --jobs N        parallel make jobs (default: nproc)
  --workdir DIR   where to unpack and build (default: DIR.src next to the prefix)
  --force         rebuild even when PREFIX already has this build
  -h, --help      this text
EOF
}

die() {
    echo "build-starpu: $*" >&2
    exit 1
}
bad_usage() {
    echo "build-starpu: $*" >&2
    echo "usage: $0 --prefix DIR [--cuda DIR | --no-cuda] [--jobs N] [--workdir DIR] [--force]" >&2
    exit 2
}

prefix="" cuda="" no_cuda=0 jobs=$(nproc 2>/dev/null || echo 2) workdir="" force=0
opts=$(getopt -o h -l prefix:,cuda:,no-cuda,jobs:,workdir:,force,help -n build-starpu -- "$@") ||
    exit 2
eval set -- "$opts"
while true; do
    case "$1" in
    --prefix) prefix=$2 && shift 2 ;;
    --cuda) cuda=$2 && shift 2 ;;
    --no-cuda) no_cuda=1 && shift ;;
    --jobs) jobs=$2 && shift 2 ;;
    --workdir) workdir=$2 && shift 2 ;;
    --force) force=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    --) shift && break ;;
    esac
done
[ $# -eq 0 ] || bad_usage "unexpected argument '$1'"
[ -n "$prefix" ] || bad_usage "--prefix DIR is required"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || bad_usage "--jobs '$jobs' is not a positive whole number"
[ -z "$cuda" ] || [ $no_cuda -eq 0 ] || bad_usage "--cuda and --no-cuda exclude each other"
[ -f "$patchfile" ] || die "missing $patchfile"
mkdir -p "$prefix" || die "cannot create $prefix"
prefix=$(cd "$prefix" && pwd)
[ -n "$workdir" ] || workdir=$prefix.src

# ---- CUDA toolkit ------------------------------------------------------------------------
if [ $no_cuda -eq 0 ]; then
    if [ -z "$cuda" ]; then
        if command -v nvcc >/dev/null; then
            cuda=$(cd "$(dirname "$(command -v nvcc)")/.." && pwd)
        elif [ -x /usr/local/cuda/bin/nvcc ]; then
            cuda=/usr/local/cuda
        fi
    elif [ ! -x "$cuda/bin/nvcc" ]; then
        bad_usage "--cuda $cuda: no bin/nvcc there"
    fi
fi
if [ -n "$cuda" ]; then
    cuda=$(cd "$cuda" && pwd)
    cuda_version=$("$cuda/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
    echo "build-starpu: CUDA $cuda_version from $cuda" >&2
    cuda_flags=(--enable-cuda "--with-cuda-dir=$cuda")
else
    echo "build-starpu: no CUDA toolkit (nvcc): building without CUDA" >&2
    cuda_version=none
    cuda_flags=(--disable-cuda)
fi

configure_flags=(--prefix="$prefix" "${cuda_flags[@]}" --with-fxt --enable-maxcpus=128
    --enable-mpi --disable-opencl --disable-socl --disable-starpufft --disable-build-doc
    --disable-build-examples --disable-build-tests --disable-static --disable-fortran)

# ---- already built? ----------------------------------------------------------------------
stamp=$prefix/share/dusk-build-starpu.stamp
want="starpu=$version cuda=$cuda_version patch=$(sha256sum "$patchfile" | cut -c1-16) flags=${configure_flags[*]}"
if [ $force -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
    [ -f "$prefix/lib/pkgconfig/starpu-1.3.pc" ]; then
    echo "build-starpu: $prefix already holds this build (--force to rebuild)" >&2
    exit 0
fi

# ---- Debian packages ---------------------------------------------------------------------
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) for: $*"
    fi
}
packages=(build-essential pkg-config dpkg-dev patch libfxt-dev libglpk-dev libhwloc-dev
    libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "build-starpu: installing ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
fi

# ---- source: Debian's package, needs a deb-src line ---------------------------------------
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
src=$workdir/starpu-$version
if [ ! -f "$workdir/starpu_$version.dsc" ]; then
    if ! apt-cache showsrc starpu 2>/dev/null | grep -q "^Version: $version\$"; then
        # Same archive and suites as the deb lines, as source.
        list=/etc/apt/sources.list.d/dusk-deb-src.sources
        if [ ! -f "$list" ]; then
            echo "build-starpu: enabling deb-src in $list" >&2
            as_root tee "$list" >/dev/null <<'EOF'
# Added by dusk's tools/build-starpu.sh: Debian's source packages (apt-get source starpu).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        fi
        as_root apt-get update -q
        apt-cache showsrc starpu 2>/dev/null | grep -q "^Version: $version\$" ||
            die "apt has no source package starpu $version (deb-src line, network?)"
    fi
    (cd "$workdir" && apt-get source --download-only "starpu=$version") ||
        die "apt-get source starpu=$version failed"
fi
rm -rf "$src"
dpkg-source -x "$workdir/starpu_$version.dsc" "$src" >/dev/null ||
    die "cannot unpack $workdir/starpu_$version.dsc"

# ---- the CUDA 13 edits (GPU.md): refuse loudly if the source is not the one expected --------
if ! (cd "$src" && patch -p1 --dry-run --quiet <"$patchfile" >/dev/null); then
    die "$patchfile does not apply to $src: the source differs from StarPU $version"
fi
(cd "$src" && patch -p1 --quiet <"$patchfile")
grep -q 'cudaDevAttrComputeMode' "$src/src/drivers/cuda/driver_cuda.c" || die "patch check failed"
if grep -q 'cublasInit\|cublasShutdown\|cublasSetKernelStream\|<cublas.h>' \
    "$src/src/drivers/cuda/starpu_cublas.c" "$src/src/drivers/cuda/driver_cuda.h"; then
    die "patch check failed: legacy cuBLAS calls remain"
fi

# ---- configure, build, install -------------------------------------------------------------
build=$workdir/build
rm -rf "$build"
mkdir -p "$build"
log=$workdir/build.log
echo "build-starpu: configure, make -j$jobs, install into $prefix (log: $log)" >&2
start=$(date +%s)
(
    cd "$build"
    "$src/configure" "${configure_flags[@]}"
    make -j"$jobs"
    make install
) >"$log" 2>&1 || {
    tail -n 30 "$log" >&2
    die "build failed: see $log"
}

# Check what we asked for is what we got.
config_h=$prefix/include/starpu/1.3/starpu_config.h
[ -f "$config_h" ] || die "no $config_h after install"
grep -q '#define STARPU_USE_FXT 1' "$config_h" || die "the build has no FxT"
grep -q '#define STARPU_USE_MPI 1' "$config_h" || die "the build has no MPI"
grep -q '#define STARPU_MAXCPUS 128' "$config_h" || die "the build has not STARPU_MAXCPUS 128"
if [ -n "$cuda" ]; then
    grep -q '#define STARPU_USE_CUDA 1' "$config_h" || die "the build has no CUDA"
fi
mkdir -p "$(dirname "$stamp")"
echo "$want" >"$stamp"
echo "build-starpu: StarPU $version in $prefix ($(($(date +%s) - start)) s; CUDA: $cuda_version)." >&2
echo "build-starpu: use it with: cmake -S . -B build -DSTARPU_DIR=$prefix" >&2
