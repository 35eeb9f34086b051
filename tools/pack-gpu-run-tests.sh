#!/bin/bash
# run-tests.sh of the tarball that tools/pack-gpu.sh makes (copied there; not for use in a
# source tree): dusk's tests from the unpacked directory, in two parts, each with its own
# status:
#   --gpu  the GPU tests (test_cuda_*, test_app_gpu) with every GPU visible; where nvidia-smi
#          sees a GPU, a test that skips counts as failed (there is a GPU to test);
#   --cpu  a CPU subset (the C unit tests and the app tests; not the GPU, MPI, tutorial,
#          install or format tests), with STARPU_NCUDA=0 so that no CPU test gains a GPU
#          worker;
# both, one after the other, when neither is given. Other arguments go to ctest (-R, -j N).
# One line per part at the end: "run-tests: gpu: passed (100% tests passed, ...)".
# Exit: 0 every part run passed, 1 a part failed.
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")" || exit 1
# shellcheck source=/dev/null
source ./env.sh
parts=()
while [ $# -gt 0 ]; do
    case "$1" in
    --gpu) parts+=(gpu) && shift ;;
    --cpu) parts+=(cpu) && shift ;;
    -h | --help) sed -n '2,12s/^# \{0,1\}//p' "$0" && exit 0 ;;
    *) break ;;
    esac
done
[ ${#parts[@]} -gt 0 ] || parts=(gpu cpu)

# A Python with NumPy (CuPy's nodes have one), else the tests that need it skip.
py=/usr/bin/python3
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c "import numpy" 2>/dev/null; then
        py=$(command -v "$p")
        break
    fi
done
# The build's test files name the paths of the machine that built it (BUILT_PATHS: build=,
# src=): point them here, once (the file records where they point now).
built_build=$(sed -n 's/^build=//p' BUILT_PATHS)
built_src=$(sed -n 's/^src=//p' BUILT_PATHS)
built_py=$(sed -n 's/^python=//p' BUILT_PATHS)
if [ "$built_build" != "$PWD/build" ] || [ "$built_py" != "$py" ]; then
    find build -name CTestTestfile.cmake -print0 | xargs -0 sed -i -e "s#$built_build#$PWD/build#g" \
        -e "s#$built_src#$PWD/src#g" -e "s#$built_py#$py#g"
    printf 'build=%s\nsrc=%s\npython=%s\n' "$PWD/build" "$PWD/src" "$py" >BUILT_PATHS
fi

gpu_tests='^(test_cuda_.*|test_app_gpu)$'
not_cpu='^(test_cuda_.*|test_app_gpu|test_mpi_.*|test_tutorial_scaling|test_install_pkgconfig|test_format)$'
have_gpu=0
nvidia-smi -L 2>/dev/null | grep -q '^GPU ' && have_gpu=1
failed=0
summary=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for part in "${parts[@]}"; do
    rc=0
    if [ "$part" = gpu ]; then
        (cd build && ctest --output-on-failure -R "$gpu_tests" "$@") 2>&1 | tee "$log" || rc=$?
        if [ $rc -eq 0 ] && [ $have_gpu -eq 1 ] && grep -q 'Skipped' "$log"; then
            echo "run-tests: gpu: a GPU test skipped on a node with a GPU" >&2
            rc=1
        fi
    else
        (cd build && STARPU_NCUDA=0 ctest --output-on-failure -E "$not_cpu" "$@") 2>&1 |
            tee "$log" || rc=$?
    fi
    result=$(grep -E '^[0-9]+% tests passed' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        summary+=("run-tests: $part: passed (${result:-no tests})")
    else
        summary+=("run-tests: $part: FAILED (${result:-ctest exit $rc})")
        failed=1
    fi
done
printf '%s\n' "${summary[@]}"
exit $failed
