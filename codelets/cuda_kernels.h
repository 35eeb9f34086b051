/* The CUDA implementations of the built-in kernels, as plain functions on device memory: a
 * stream (and a handle) in, 0 or a negative DUSK_E* code out, with a one-line reason in
 * `why`. They need the CUDA toolkit only, not a StarPU with CUDA: the tests call them
 * directly, and cuda_glue.c wraps them as StarPU codelets when StarPU has CUDA.
 * Private to dusk. Errors: DUSK_ENOMEM when a device allocation fails, DUSK_ENUMERIC when
 * cuBLAS or cuSOLVER fails, DUSK_EDATA for a non-finite input, DUSK_ENODEV for any other
 * CUDA error. Each returns after its work on `stream` has finished. */
#ifndef DUSK_CUDA_KERNELS_H
#define DUSK_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out[0..count) = dusk_philox_fill(seed, ...), bit for bit. */
int dusk__philox_fill_cuda(uint64_t seed, double *out, int64_t count, cudaStream_t stream,
                           char *why, size_t whylen);

/* A (n x n) = Bᵀ B for B (m x n), both C order, both triangles filled: cuBLAS dsyrk on
 * `stream` with `handle` (whose stream this sets), as dusk__gram_cpu. */
int dusk__gram_cuda(cublasHandle_t handle, cudaStream_t stream, const double *b, double *a,
                    int64_t m, int64_t n, char *why, size_t whylen);

/* A cuSOLVER handle and a workspace kept between calls: one per GPU worker (not
 * thread-safe), grown when a larger matrix needs more. */
typedef struct dusk__eigh_cuda_ws dusk__eigh_cuda_ws;
int dusk__eigh_cuda_ws_new(dusk__eigh_cuda_ws **out, char *why, size_t whylen);
void dusk__eigh_cuda_ws_free(dusk__eigh_cuda_ws **ws);

/* Eigenvalues w (ascending) and, when `vectors`, eigenvectors into x (n x n, the columns of
 * the C-order matrix, as numpy.linalg.eigh and dusk__eigh_cpu give them) of the symmetric
 * C-order a; x == a works in place, else a is kept. Without vectors x is workspace. Uses the
 * lower triangle (C order) of a, as NumPy and the CPU kernel do. */
int dusk__eigh_cuda(dusk__eigh_cuda_ws *ws, cudaStream_t stream, const double *a, double *x,
                    double *w, int64_t n, int vectors, char *why, size_t whylen);

#ifdef __cplusplus
}
#endif
#endif
