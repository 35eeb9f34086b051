/* gram on a GPU: one cuBLAS dsyrk, as on the CPU, then the other triangle filled. */
#include "cuda_kernels.h"
#include "cuda_util.h"

/* Column-major a: copy the lower triangle onto the upper. One thread per element; its cost
 * is small beside the dsyrk. */
__global__ static void mirror_lower(double *a, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; /* row, column-major */
    int64_t j = (int64_t)blockIdx.y * blockDim.y + threadIdx.y;
    if (i < n && j < n && i > j) a[j + i * n] = a[i + j * n];
}

/* Every exit after cuBLAS has the stream goes through `out`, which waits for it. */
extern "C" int dusk__gram_cuda(cublasHandle_t handle, cudaStream_t stream, const double *b,
                               double *a, int64_t m, int64_t n, char *why, size_t whylen)
{
    const double one = 1.0, zero = 0.0;
    if (n == 0) return 0; /* nothing to compute; an empty grid is a launch error */
    int ret = 0;
    cudaError_t e;
    dim3 threads(32, 8);
    dim3 blocks(dusk__cuda_blocks(n, 32), dusk__cuda_blocks(n, 8));
    cublasStatus_t st = cublasSetStream(handle, stream);
    if (st != CUBLAS_STATUS_SUCCESS) {
        if (why != NULL) snprintf(why, whylen, "cublasSetStream failed (status %d)", (int)st);
        return DUSK_ENUMERIC; /* nothing queued */
    }
    /* B in C order is Bᵀ in column-major (n x m, leading dimension n), so Bᵀ B is M Mᵀ. */
    st = cublasDsyrk(handle, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, (int)n, (int)m, &one, b, (int)n,
                     &zero, a, (int)n);
    if (st != CUBLAS_STATUS_SUCCESS) {
        if (why != NULL) snprintf(why, whylen, "cublasDsyrk failed (status %d)", (int)st);
        ret = st == CUBLAS_STATUS_ALLOC_FAILED ? DUSK_ENOMEM : DUSK_ENUMERIC;
        goto out;
    }
    mirror_lower<<<blocks, threads, 0, stream>>>(a, n);
    if ((e = cudaGetLastError()) != cudaSuccess) ret = dusk__cuda_fail(e, "gram", why, whylen);
out:
    e = cudaStreamSynchronize(stream);
    if (e != cudaSuccess && ret == 0) ret = dusk__cuda_fail(e, "gram", why, whylen);
    return ret;
}
