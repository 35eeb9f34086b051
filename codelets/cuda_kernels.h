/* The CUDA implementations of the built-in kernels, as plain functions on device memory: a
 * stream (and a handle) in, 0 or a negative DUSK_E* code out, with a one-line reason in
 * `why`. They need the CUDA toolkit only, not a StarPU with CUDA: the tests call them
 * directly, and cuda_glue.c wraps them as StarPU codelets when StarPU has CUDA.
 * Private to dusk. Errors: DUSK_ENOMEM when a device allocation fails, DUSK_EINVAL when
 * cuSOLVER refuses an argument (CUSOLVER_STATUS_INVALID_VALUE), DUSK_ENUMERIC when cuBLAS or
 * cuSOLVER fails otherwise, DUSK_EDATA for a non-finite input, DUSK_ENODEV for any other
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

/* Where a workspace takes its device memory: alloc returns NULL when it cannot, free gets the
 * size given to alloc. The default (a NULL allocator) is cudaMalloc and cudaFree; cuda_glue.c
 * gives StarPU's allocator on the worker's memory node (starpu_malloc_on_node), so that the
 * workspace counts against StarPU's memory limits and small blocks come from its chunks. */
typedef struct dusk__cuda_allocator {
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *p, size_t size);
    void *ctx;
} dusk__cuda_allocator;

/* A cuSOLVER handle and the workspaces kept between calls: one per GPU worker (not
 * thread-safe), made on the thread and device that use it. Workspaces (device and host, and
 * one info per matrix) are sized by cuSOLVER's _bufferSize calls and grow when a call needs
 * more: to twice their size at least, and the device blocks they outgrow are kept until
 * dusk__eigh_cuda_ws_free, because freeing device memory (cudaFree, which StarPU's allocator
 * calls for large blocks) waits for the whole device, every other worker's stream included.
 * Doubling bounds what is kept to less than the block in use. `alloc` is copied; NULL means
 * cudaMalloc. */
typedef struct dusk__eigh_cuda_ws dusk__eigh_cuda_ws;
int dusk__eigh_cuda_ws_new(dusk__eigh_cuda_ws **out, const dusk__cuda_allocator *alloc, char *why,
                           size_t whylen);
void dusk__eigh_cuda_ws_free(dusk__eigh_cuda_ws **ws);
/* Device bytes the workspace holds now (in use and outgrown), for tests and reports. */
size_t dusk__eigh_cuda_ws_device_bytes(const dusk__eigh_cuda_ws *ws);
/* For tests and benchmarks: at most `max_batch` matrices per cusolverDnXsyevBatched call
 * (0: the most cuSOLVER takes, n * n * batch <= INT32_MAX). */
void dusk__eigh_cuda_ws_set_max_batch(dusk__eigh_cuda_ws *ws, int64_t max_batch);
/* 1 while the workspace may use cusolverDnXsyevBatched; 0 once its warm-up failed
 * (dusk__cuda_warm_up). */
int dusk__eigh_cuda_ws_batched(const dusk__eigh_cuda_ws *ws);

/* Eigenvalues w (ascending) and, when `vectors`, eigenvectors into x (n x n, the columns of
 * the C-order matrix, as numpy.linalg.eigh and dusk__eigh_cpu give them) of the symmetric
 * C-order a; x == a works in place, else a is kept. Without vectors x is workspace. Uses the
 * lower triangle (C order) of a, as NumPy and the CPU kernel do. cusolverDnXsyevd. */
int dusk__eigh_cuda(dusk__eigh_cuda_ws *ws, cudaStream_t stream, const double *a, double *x,
                    double *w, int64_t n, int vectors, char *why, size_t whylen);

/* How dusk__eigh_stack_cuda decomposes a stack. */
typedef enum dusk__eigh_method {
    /* BATCHED when k > 1 and cuSOLVER's batched call takes n, else LOOP. Provisional until
     * bench/gpu/eigh_stack measures where each is faster (published: batched at every
     * n >= 32 on an A100). */
    DUSK__EIGH_AUTO = 0,
    /* cusolverDnXsyevBatched, as many matrices per call as n * n * batch <= INT32_MAX (and
     * the device memory for its workspace) allow; DUSK_EINVAL when n * n alone is past it. */
    DUSK__EIGH_BATCHED,
    /* cusolverDnXsyevd on each matrix in turn, all queued on the stream before one wait. */
    DUSK__EIGH_LOOP,
} dusk__eigh_method;

/* dusk__eigh_cuda on each of the k matrices of a stack: a holds k symmetric n x n float64
 * matrices, C order, contiguous (matrix m at a + m*n*n, as NumPy lays out shape (k, n, n));
 * w gets k*n eigenvalues (row m ascending, at w + m*n: shape (k, n)); x gets the eigenvectors
 * in the same layout as a, each matrix's in its columns (with `vectors`; else x is workspace
 * of the same size). x == a works in place, else a is kept. All three are device pointers.
 *
 * *failed (when not NULL) is set to -1, or to the first matrix that failed; `info` (when not
 * NULL, k ints on the host) gets each matrix's status: 0, or cuSOLVER's info for it (> 0: did
 * not converge). A stack with a non-finite value is refused whole before cuSOLVER runs
 * (DUSK_EDATA; *failed names the first matrix that has one, `why` its row and column; info
 * is then left as it was). A matrix that does not converge gives DUSK_ENUMERIC, the others'
 * results being valid (their info 0). Returns after its work on `stream` has finished.
 * DUSK__EIGH_LOOP gives each matrix the bits it gets alone (dusk__eigh_cuda on a matrix of
 * its own): a matrix or its eigenvalues that do not start at a 256-byte boundary, as a
 * device allocation would (items of odd n start 8 bytes off 16), are decomposed in an
 * aligned block of the workspace. */
int dusk__eigh_stack_cuda(dusk__eigh_cuda_ws *ws, cudaStream_t stream, const double *a, double *x,
                          double *w, int64_t k, int64_t n, int vectors, dusk__eigh_method method,
                          int64_t *failed, int *info, char *why, size_t whylen);

/* A GPU worker's first calls, made at start-up so that they fall outside any timed window:
 * on `stream`, a small Philox fill, gram (cuBLAS dsyrk with `blas`) and eigh by syevd (one
 * matrix with and without vectors, and a stack of two as DUSK__EIGH_LOOP does it), in buffers
 * from the workspace's allocator, freed after; loads cuBLAS's and cuSOLVER's libraries and
 * first kernels, and gives `ws` its first workspaces. A failure there is returned: the
 * codelets cannot work without them. With `method` other than DUSK__EIGH_LOOP (what the
 * caller will use), a small cusolverDnXsyevBatched too, with and without vectors; its failure
 * is not returned: the workspace stops using it (DUSK__EIGH_AUTO then loops, and
 * DUSK__EIGH_BATCHED gives DUSK_ENODEV; dusk__eigh_cuda_ws_batched says 0) and `warn` (when
 * not NULL) gets why, else "". Kernels that only larger sizes use may still load at their
 * first use (CUDA's lazy loading; CUDA_MODULE_LOADING=EAGER loads all at start-up). */
int dusk__cuda_warm_up(dusk__eigh_cuda_ws *ws, cublasHandle_t blas, cudaStream_t stream,
                       dusk__eigh_method method, char *why, size_t whylen, char *warn,
                       size_t warnlen);

#ifdef __cplusplus
}
#endif
#endif
