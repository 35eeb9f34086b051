/* For the CUDA tests: skip (exit 77) when no GPU is visible, and only then. */
#ifndef DUSK_CUDA_TEST_H
#define DUSK_CUDA_TEST_H

#include <dlfcn.h>

#include <cuda_runtime_api.h>

#include "test.h"

/* Exits 77 when there is no GPU: no device, or no NVIDIA driver at all. A driver that is
 * there but too old for this toolkit, or any other CUDA error, is a failure. */
static inline void cuda_test_require_gpu(void)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
        printf("no GPU visible: skipped\n");
        exit(TEST_SKIP);
    }
    if (e == cudaErrorInsufficientDriver) {
        void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
        if (driver == NULL) {
            printf("no NVIDIA driver (libcuda.so.1), so no GPU: skipped\n");
            exit(TEST_SKIP);
        }
        dlclose(driver);
    }
    if (e != cudaSuccess) TEST_FAIL_("cudaGetDeviceCount: %s (%d)", cudaGetErrorString(e), (int)e);
    struct cudaDeviceProp p;
    if ((e = cudaGetDeviceProperties(&p, 0)) != cudaSuccess)
        TEST_FAIL_("cudaGetDeviceProperties: %s", cudaGetErrorString(e));
    printf("GPU 0: %s (sm_%d%d), %d visible\n", p.name, p.major, p.minor, count);
}

#define CHECK_CUDA(call)                                                                           \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) TEST_FAIL_("%s: %s", #call, cudaGetErrorString(e_));                \
    } while (0)

#endif
