#!/bin/bash
# Make one tarball that runs dusk on a GPU node that has the CUDA 13 toolkit and a driver but
# no StarPU, OpenBLAS, hwloc or MPI, and no package registry (../shared/GPU.md):
#   1. StarPU with CUDA and FxT into --starpu DIR (tools/build-starpu.sh; skipped when built),
#   2. dusk built against it in --build DIR (Release, CUDA for sm_80 and sm_90),
#   3. the build, the sources the tests read, the StarPU prefix and every shared library the
#      programs need (from ldd) except the C library's own and CUDA's (the node has those),
#      into dusk-gpu-<commit>.tar.xz (at most 60 MiB, else it fails: a lent GPU machine takes
#      64 MiB in all, the repository's files and the tarball carried beside them),
#   4. --check: unpack it in a temporary directory, check that every library resolves there
#      and run dusk-eigh from it on the CPU, with only its own directories for libraries;
#      then run bench/gpu/session.sh --cpu-standin from it (run-tests.sh's two parts,
#      bench/gpu/run.sh's whole flow with CPU workers in place of the GPU's and a NumPy
#      stand-in for CuPy, bench/gpu/fake_cupy, on PYTHONPATH), which must pass.
# On the GPU node:   tar xf dusk-gpu-*.tar.xz && dusk-gpu/bench/gpu/session.sh --out results
#   (or step by step: cd dusk-gpu; ./run-tests.sh; bench/gpu/run.sh --out results; a failed
#   test part does not stop the benchmark). On a lent machine, from the repository root with
#   the tarball carried: bench/gpu/device.sh (one command, 8 minutes, results in $OUT).
# Exit: 0 done, 1 failure, 2 bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
starpu=/opt/starpu-cuda build=$here/build-gpu out="" check=0 limit_mib=60

usage() {
    cat <<EOF
usage: $0 [--starpu DIR] [--build DIR] [-o FILE] [--check]

  --starpu DIR   StarPU prefix with CUDA (default /opt/starpu-cuda; built when missing)
  --build DIR    dusk build directory (default build-gpu/)
  -o FILE        the tarball (default dusk-gpu-COMMIT.tar.xz in the current directory)
  --check        unpack it in a temporary directory, run dusk-eigh from it on the CPU,
                 then bench/gpu/session.sh --cpu-standin from it
EOF
}
die() {
    echo "pack-gpu: $*" >&2
    exit 1
}
opts=$(getopt -o ho: -l starpu:,build:,check,help -n pack-gpu -- "$@") || exit 2
eval set -- "$opts"
while true; do
    case "$1" in
    --starpu) starpu=$2 && shift 2 ;;
    --build) build=$2 && shift 2 ;;
    -o) out=$2 && shift 2 ;;
    --check) check=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    --) shift && break ;;
    esac
done
[ $# -eq 0 ] || {
    echo "pack-gpu: unexpected argument '$1'" >&2
    exit 2
}
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$out" ] || out=$PWD/dusk-gpu-$commit.tar.xz
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

# ---- 1 and 2: StarPU with CUDA, dusk against it --------------------------------------------
"$here/tools/build-starpu.sh" --prefix "$starpu"
grep -q '#define STARPU_USE_CUDA 1' "$starpu/include/starpu/1.3/starpu_config.h" ||
    die "$starpu has no CUDA (is the CUDA toolkit installed?)"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSTARPU_DIR="$starpu" -DDUSK_CUDA=ON \
    -DDUSK_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)"
grep -q 'define DUSK_HAVE_CUDA 1' "$build/generated/dusk_features.h" ||
    die "$build was not configured with CUDA"
build=$(cd "$build" && pwd)
built_python=$(sed -n 's/^DUSK_PYTHON:FILEPATH=//p' "$build/CMakeCache.txt")

# ---- 3: stage ------------------------------------------------------------------------------
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/dusk-gpu
mkdir -p "$root/lib" "$root/src" "$root/build"
# The sources the tests and benchmarks read (tracked files only).
git -C "$here" ls-files -z | (cd "$here" && xargs -0 cp --parents -t "$root/src")
# The build without its object files.
(cd "$build" && find . -path '*/CMakeFiles' -prune -o -type f ! -name '*.o' ! -name '*.a' -print0 |
    xargs -0 cp --parents -t "$root/build")
# StarPU: shared libraries, tools, headers; not the static or libtool files, nor docs.
mkdir -p "$root/starpu"
cp -a "$starpu/lib" "$starpu/bin" "$starpu/include" "$root/starpu/"
[ -d "$starpu/share/starpu" ] && mkdir -p "$root/starpu/share" && cp -a "$starpu/share/starpu" "$root/starpu/share/"
find "$root/starpu/lib" \( -name '*.a' -o -name '*.la' \) -delete

# Libraries: what ldd resolves, except glibc's, the compiler runtime's and CUDA's own, which
# the node has (newer); the node's CUDA must be 13 (the sonames say so).
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libutil\.|libresolv\.|libstdc\+\+|libgcc_s|libcuda\.|libcudart|libcublas|libcublasLt|libcusolver|libcusparse|libnvJitLink|libnvidia)'
binaries=$(find "$build" -path '*/CMakeFiles' -prune -o -type f -perm -u+x -print |
    while read -r f; do file -b "$f" | grep -q ELF && echo "$f"; done)
binaries="$binaries $(find "$starpu/lib" "$starpu/bin" -type f -name '*.so*') $(find "$starpu/bin" -type f)"
for f in $binaries; do
    file -b "$f" | grep -q ELF || continue
    LD_LIBRARY_PATH=$starpu/lib ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
    [[ "$name" =~ $skip ]] && continue
    [[ "$path" == "$starpu"/* ]] && continue
    cp -L "$path" "$root/lib/$name"
done

cat >"$root/env.sh" <<'EOF'
# Source this: the libraries and programs of this directory first, then the node's CUDA
# libraries (no binary here has a RUNPATH to them): ${CUDA_HOME:-/usr/local/cuda}/lib64 and
# /lib, those that exist, after the tarball's and before what LD_LIBRARY_PATH held.
dusk_root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dusk_cuda_libs=
for dusk_d in "${CUDA_HOME:-/usr/local/cuda}/lib64" "${CUDA_HOME:-/usr/local/cuda}/lib"; do
    [ -d "$dusk_d" ] && dusk_cuda_libs=$dusk_cuda_libs:$dusk_d
done
export LD_LIBRARY_PATH=$dusk_root/lib:$dusk_root/starpu/lib$dusk_cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=$dusk_root/build/apps:$dusk_root/build/tools:$dusk_root/starpu/bin:$PATH
unset dusk_d dusk_cuda_libs
EOF
# The tests in two parts (GPU, CPU subset), and the paths the build's test files name.
cp "$here/tools/pack-gpu-run-tests.sh" "$root/run-tests.sh"
printf 'build=%s\nsrc=%s\npython=%s\n' "$build" "$here" "${built_python:-/usr/bin/python3}" \
    >"$root/BUILT_PATHS"
chmod +x "$root/run-tests.sh"
ln -s src/bench "$root/bench"
{
    echo "dusk-gpu: dusk $commit, built $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname)"
    echo "StarPU: $(cat "$starpu/share/dusk-build-starpu.stamp")"
    echo "CUDA: $(/usr/local/cuda/bin/nvcc --version 2>/dev/null | sed -n 's/.*release /release /p')"
    echo "needs on the node: an NVIDIA driver for CUDA 13, and the CUDA 13 toolkit's libraries"
    echo "(libcudart.so.13, libcublas.so.13, libcusolver.so.12): env.sh adds \$CUDA_HOME/lib64 and"
    echo "\$CUDA_HOME/lib (default /usr/local/cuda) to LD_LIBRARY_PATH; elsewhere, put them there yourself."
    echo "libraries carried:"
    ls "$root/lib" | sed 's/^/  /'
} >"$root/MANIFEST"

rm -f "$out"
tar -C "$stage" -cf - dusk-gpu | xz -T0 -6 >"$out"
size=$(stat -c %s "$out")
echo "pack-gpu: $out: $((size / 1024 / 1024)) MiB ($size bytes), $(ls "$root/lib" | wc -l) libraries carried" >&2
[ "$size" -le $((limit_mib * 1024 * 1024)) ] || die "$out is over $limit_mib MiB"

# ---- 4: check it runs from where it is unpacked ------------------------------------------------
if [ $check -eq 1 ]; then
    t=$(mktemp -d)
    trap 'rm -rf "$stage" "$t"' EXIT
    tar -C "$t" -xJf "$out"
    d=$t/dusk-gpu
    # the libraries as env.sh sets them (the tarball's, then CUDA's lib64 and lib)
    libpath=$(unset LD_LIBRARY_PATH && source "$d/env.sh" && echo "$LD_LIBRARY_PATH")
    # Every library the programs load comes from the tarball, or is one the node provides.
    missing=$(for f in "$d"/build/apps/dusk-eigh "$d"/starpu/lib/libstarpu-1.3.so.9; do
        LD_LIBRARY_PATH=$libpath ldd "$f" | awk '$2 == "=>" {print $1, $3}'
    done | sort -u | while read -r name path; do
        [[ "$name" =~ $skip ]] && continue
        [[ "$path" == "$d"/* ]] || echo "$name => $path"
    done)
    [ -z "$missing" ] || die "libraries not in the tarball: $missing"
    outdir=$t/out
    STARPU_HOME=$t/home LD_LIBRARY_PATH=$libpath STARPU_NCUDA=0 \
        "$d/build/apps/dusk-eigh" -n 200 --ntasks 8 --verify --output "$outdir" --no-progress ||
        die "dusk-eigh from the unpacked tarball failed"
    [ -f "$outdir/eigenvalues.npy" ] || die "no eigenvalues.npy from the unpacked dusk-eigh"
    STARPU_HOME=$t/home LD_LIBRARY_PATH=$libpath "$d/starpu/bin/starpu_machine_display" >/dev/null ||
        die "starpu_machine_display from the unpacked tarball failed"
    echo "pack-gpu: checked: dusk-eigh runs from the unpacked tarball (CPU), all libraries resolve there" >&2
    # The node's script, its CPU side: every step, the benchmark with CPU workers for the GPU's
    # and NumPy for CuPy. Its GPU steps skip here; the rest must pass.
    if ! PYTHONPATH=$d/src/bench/gpu/fake_cupy${PYTHONPATH:+:$PYTHONPATH} LD_LIBRARY_PATH=$libpath \
        "$d/bench/gpu/session.sh" --cpu-standin --budget 900 --out "$t/session" >"$t/session.out" 2>&1; then
        cat "$t/session.out" >&2
        die "bench/gpu/session.sh --cpu-standin from the unpacked tarball failed"
    fi
    grep -q '^| bench | passed' "$t/session/SUMMARY.md" || die "session.sh ran no benchmark"
    grep -q 'CPU stand-in' "$t/session/bench/results.md" || die "the benchmark did not say it was a stand-in"
    echo "pack-gpu: checked: bench/gpu/session.sh --cpu-standin runs from the unpacked tarball:" >&2
    sed -n '/^| step/,/^$/p' "$t/session/SUMMARY.md" >&2
fi
