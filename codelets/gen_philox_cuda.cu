/* gen_philox on a GPU: one thread per block of the stream (two doubles), the same code as
 * the CPU (philox.h). */
#include "cuda_kernels.h"
#include "cuda_util.h"
#include "philox.h"

__global__ static void philox_fill(uint64_t seed, double *out, int64_t count)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (2 * j >= count) return;
    double pair[2];
    dusk__philox_block(seed, (uint64_t)j, pair);
    out[2 * j] = pair[0];
    if (2 * j + 1 < count) out[2 * j + 1] = pair[1];
}

extern "C" int dusk__philox_fill_cuda(uint64_t seed, double *out, int64_t count,
                                      cudaStream_t stream, char *why, size_t whylen)
{
    const int threads = 256;
    int64_t blocks = (count + 1) / 2;
    if (count <= 0) return 0;
    philox_fill<<<dusk__cuda_blocks(blocks, threads), threads, 0, stream>>>(seed, out, count);
    cudaError_t e = cudaGetLastError();
    cudaError_t s = cudaStreamSynchronize(stream); /* even after a failed launch */
    if (e == cudaSuccess) e = s;
    return e == cudaSuccess ? 0 : dusk__cuda_fail(e, "philox kernel", why, whylen);
}
