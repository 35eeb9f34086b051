/* eigh on a GPU: cuSOLVER's 64-bit syevd (cusolverDnXsyevd), one matrix at a time or in a loop
 * over a stack, and its batched syev (cusolverDnXsyevBatched) on a whole stack; a handle and
 * workspaces kept per worker; the same layout as the CPU kernel (eigh_cpu.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cusolverDn.h>

#include "cuda_kernels.h"
#include "cuda_util.h"

/* a device block from the workspace's allocator */
struct block {
    void *p;
    size_t size;
};

/* Outgrown blocks kept until the workspace is freed; doubling makes more than a few dozen
 * impossible before the device is full, and past this many the oldest is freed. */
#define RETIRED_MAX 48

struct dusk__eigh_cuda_ws {
    cusolverDnHandle_t handle;
    cusolverDnParams_t params;
    dusk__cuda_allocator alloc;
    struct block dwork;  /* device workspace of syevd and syevBatched */
    struct block dinfo;  /* device: one int per matrix */
    struct block dbad;   /* device: first non-finite index, or ~0 */
    struct block dalign; /* device: one matrix and its eigenvalues, for items off ALIGN */
    struct block retired[RETIRED_MAX];
    int nretired;
    void *hwork; /* host workspace, hsize bytes */
    size_t hsize;
    int *hinfo; /* host copy of dinfo, hinfo_size bytes */
    size_t hinfo_size;
    int64_t max_batch; /* 0: as many as cuSOLVER takes */
    int no_batched;    /* cusolverDnXsyevBatched failed in the warm-up: not used */
};

/* What a device allocation's alignment is at least (cudaMalloc's, and StarPU's chunks'): the
 * address a one-item task's matrix and eigenvalues start at. */
#define ALIGN 256

static void *cuda_alloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = NULL;
    if (cudaMalloc(&p, size) != cudaSuccess) {
        (void)cudaGetLastError(); /* clear it: the device is still usable */
        return NULL;
    }
    return p;
}

static void cuda_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    cudaFree(p);
}

static int solver_fail(cusolverStatus_t st, const char *what, char *why, size_t whylen)
{
    if (why != NULL) snprintf(why, whylen, "%s failed (cuSOLVER status %d)", what, (int)st);
    return st == CUSOLVER_STATUS_ALLOC_FAILED    ? DUSK_ENOMEM
           : st == CUSOLVER_STATUS_INVALID_VALUE ? DUSK_EINVAL
                                                 : DUSK_ENUMERIC;
}

static void block_free(dusk__eigh_cuda_ws *ws, struct block *b)
{
    if (b->p != NULL) ws->alloc.free(ws->alloc.ctx, b->p, b->size);
    b->p = NULL;
    b->size = 0;
}

/* Make *b at least `need` bytes: a new block of twice the old size or a quarter more than the
 * need (the need alone when that fails), the old block kept aside (see cuda_kernels.h). Only
 * called with nothing of this workspace queued on any stream. */
static int grow(dusk__eigh_cuda_ws *ws, struct block *b, size_t need, const char *what, char *why,
                size_t whylen)
{
    if (need <= b->size) return 0;
    size_t want = need + need / 4;
    if (want < 2 * b->size) want = 2 * b->size;
    void *p = ws->alloc.alloc(ws->alloc.ctx, want);
    if (p == NULL) {
        want = need;
        p = ws->alloc.alloc(ws->alloc.ctx, want);
    }
    if (p == NULL) {
        if (why != NULL) snprintf(why, whylen, "no device memory for %s (%zu bytes)", what, need);
        return DUSK_ENOMEM;
    }
    if (b->p != NULL) {
        if (ws->nretired == RETIRED_MAX) {
            block_free(ws, &ws->retired[0]);
            memmove(ws->retired, ws->retired + 1, (RETIRED_MAX - 1) * sizeof ws->retired[0]);
            ws->nretired--;
        }
        ws->retired[ws->nretired++] = *b;
    }
    b->p = p;
    b->size = want;
    return 0;
}

static int grow_host(void **p, size_t *size, size_t need, char *why, size_t whylen)
{
    if (need <= *size) return 0;
    size_t want = need + need / 4;
    void *h = realloc(*p, want);
    if (h == NULL) {
        if (why != NULL) snprintf(why, whylen, "no host memory for cuSOLVER (%zu bytes)", need);
        return DUSK_ENOMEM;
    }
    *p = h;
    *size = want;
    return 0;
}

extern "C" int dusk__eigh_cuda_ws_new(dusk__eigh_cuda_ws **out, const dusk__cuda_allocator *alloc,
                                      char *why, size_t whylen)
{
    *out = NULL;
    if (why != NULL && whylen > 0) why[0] = '\0';
    dusk__eigh_cuda_ws *ws = (dusk__eigh_cuda_ws *)calloc(1, sizeof *ws);
    if (ws == NULL) {
        if (why != NULL) snprintf(why, whylen, "no host memory for the cuSOLVER workspace");
        return DUSK_ENOMEM;
    }
    if (alloc != NULL && alloc->alloc != NULL && alloc->free != NULL) {
        ws->alloc = *alloc;
    } else {
        ws->alloc.alloc = cuda_alloc;
        ws->alloc.free = cuda_free;
        ws->alloc.ctx = NULL;
    }
    cusolverStatus_t st = cusolverDnCreate(&ws->handle);
    if (st != CUSOLVER_STATUS_SUCCESS) {
        free(ws);
        return solver_fail(st, "cusolverDnCreate", why, whylen);
    }
    if ((st = cusolverDnCreateParams(&ws->params)) != CUSOLVER_STATUS_SUCCESS) {
        dusk__eigh_cuda_ws_free(&ws);
        return solver_fail(st, "cusolverDnCreateParams", why, whylen);
    }
    int ret = grow(ws, &ws->dbad, sizeof(unsigned long long), "the input check", why, whylen);
    if (ret == 0) ret = grow(ws, &ws->dinfo, sizeof(int), "cuSOLVER's info", why, whylen);
    if (ret != 0) {
        dusk__eigh_cuda_ws_free(&ws);
        return ret;
    }
    *out = ws;
    return 0;
}

extern "C" void dusk__eigh_cuda_ws_free(dusk__eigh_cuda_ws **wsp)
{
    if (wsp == NULL || *wsp == NULL) return;
    dusk__eigh_cuda_ws *ws = *wsp;
    if (ws->params) cusolverDnDestroyParams(ws->params);
    if (ws->handle) cusolverDnDestroy(ws->handle);
    block_free(ws, &ws->dwork);
    block_free(ws, &ws->dinfo);
    block_free(ws, &ws->dbad);
    block_free(ws, &ws->dalign);
    for (int i = 0; i < ws->nretired; i++)
        block_free(ws, &ws->retired[i]);
    free(ws->hwork);
    free(ws->hinfo);
    free(ws);
    *wsp = NULL;
}

extern "C" size_t dusk__eigh_cuda_ws_device_bytes(const dusk__eigh_cuda_ws *ws)
{
    size_t total = ws->dwork.size + ws->dinfo.size + ws->dbad.size + ws->dalign.size;
    for (int i = 0; i < ws->nretired; i++)
        total += ws->retired[i].size;
    return total;
}

extern "C" void dusk__eigh_cuda_ws_set_max_batch(dusk__eigh_cuda_ws *ws, int64_t max_batch)
{
    ws->max_batch = max_batch > 0 ? max_batch : 0;
}

extern "C" int dusk__eigh_cuda_ws_batched(const dusk__eigh_cuda_ws *ws)
{
    return !ws->no_batched;
}

/* The first index of a non-finite value, into *bad (which starts at ~0). */
__global__ static void find_non_finite(const double *a, int64_t count, unsigned long long *bad)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        if (!isfinite(a[i])) {
            atomicMin(bad, (unsigned long long)i);
            return; /* later ones of this thread are larger */
        }
}

/* In place: each of the k matrices (n x n, contiguous) transposed. One thread per pair above
 * the diagonal, the grid's z going over the matrices; small beside the eigensolver. */
__global__ static void transpose_stack(double *a, int64_t n, int64_t k)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t i = (int64_t)blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= n || j >= n || j <= i) return;
    for (int64_t m = blockIdx.z; m < k; m += gridDim.z) {
        double *p = a + m * n * n;
        double t = p[i * n + j];
        p[i * n + j] = p[j * n + i];
        p[j * n + i] = t;
    }
}

/* Wait for the stream; the first reason is the one kept. */
static int finish(cudaStream_t stream, int ret, char *why, size_t whylen)
{
    cudaError_t e = cudaStreamSynchronize(stream);
    if (e != cudaSuccess && ret == 0) ret = dusk__cuda_fail(e, "eigh", why, whylen);
    return ret;
}

/* The CPU kernel refuses non-finite input before LAPACK sees it: so does this one, for the
 * whole stack. Returns with nothing queued. */
static int check_finite(dusk__eigh_cuda_ws *ws, cudaStream_t stream, const double *a, int64_t k,
                        int64_t n, int64_t *failed, char *why, size_t whylen)
{
    const int64_t count = k * n * n;
    unsigned long long *dbad = (unsigned long long *)ws->dbad.p, bad = 0;
    int64_t blocks = (count + 255) / 256;
    if (blocks > 65536) blocks = 65536; /* each thread then goes over several */
    cudaError_t e = cudaMemsetAsync(dbad, 0xff, sizeof *dbad, stream);
    if (e == cudaSuccess) {
        find_non_finite<<<(unsigned)blocks, 256, 0, stream>>>(a, count, dbad);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(&bad, dbad, sizeof bad, cudaMemcpyDeviceToHost, stream);
    cudaError_t s = cudaStreamSynchronize(stream);
    if (e == cudaSuccess) e = s;
    if (e != cudaSuccess) return dusk__cuda_fail(e, "eigh: checking the input", why, whylen);
    if (bad == ~0ull) return 0;
    double v = 0;
    if (cudaMemcpy(&v, a + bad, sizeof v, cudaMemcpyDeviceToHost) != cudaSuccess) v = NAN;
    const unsigned long long nn = (unsigned long long)n * (unsigned long long)n;
    long long m = (long long)(bad / nn), i = (long long)(bad % nn / (unsigned long long)n),
              j = (long long)(bad % (unsigned long long)n);
    if (failed != NULL) *failed = m;
    if (why != NULL) {
        if (k == 1)
            snprintf(why, whylen, "matrix has a non-finite value (%g) at [%lld, %lld]", v, i, j);
        else
            snprintf(why, whylen,
                     "matrix %lld of the stack has a non-finite value (%g) at [%lld, %lld]", m, v,
                     i, j);
    }
    return DUSK_EDATA;
}

static int aligned(const void *p)
{
    return (uintptr_t)p % ALIGN == 0;
}

/* Queue cusolverDnXsyevd on each matrix of x (in place), eigenvalues into w, infos into dinfo.
 * A matrix of a stack need not start where a one-item task's would (at an ALIGN boundary: for
 * odd n, items start 8 bytes off 16), and cuSOLVER's kernels may take another path for it, so
 * such an item is decomposed in the aligned block dalign (copied there and back on the stream,
 * small beside syevd): each item then gives the bits it gives alone (dusk_linalg.h). */
static int queue_loop(dusk__eigh_cuda_ws *ws, cudaStream_t stream, double *x, double *w, int64_t k,
                      int64_t n, cusolverEigMode_t jobz, char *why, size_t whylen)
{
    /* Column-major upper is the C-order lower triangle, the one NumPy and the CPU read. */
    const cublasFillMode_t uplo = CUBLAS_FILL_MODE_UPPER;
    const int64_t nn = n * n;
    const size_t xbytes = (size_t)nn * sizeof *x, wbytes = (size_t)n * sizeof *w,
                 woff = (xbytes + ALIGN - 1) / ALIGN * ALIGN; /* dalign's eigenvalues */
    size_t dsize = 0, hsize = 0;
    cusolverStatus_t st =
        cusolverDnXsyevd_bufferSize(ws->handle, ws->params, jobz, uplo, n, CUDA_R_64F, x, n,
                                    CUDA_R_64F, w, CUDA_R_64F, &dsize, &hsize);
    if (st != CUSOLVER_STATUS_SUCCESS)
        return solver_fail(st, "cusolverDnXsyevd_bufferSize", why, whylen);
    int ret = grow(ws, &ws->dwork, dsize, "the cuSOLVER workspace", why, whylen);
    if (ret == 0) ret = grow_host(&ws->hwork, &ws->hsize, hsize, why, whylen);
    int stage = 0;
    for (int64_t m = 0; m < k && !stage; m++)
        stage = !aligned(x + m * nn) || !aligned(w + m * n);
    if (ret == 0 && stage)
        ret = grow(ws, &ws->dalign, woff + wbytes, "an aligned matrix", why, whylen);
    if (ret != 0) return ret;
    int *dinfo = (int *)ws->dinfo.p;
    for (int64_t m = 0; m < k; m++) {
        double *xm = x + m * nn, *wm = w + m * n;
        const int staged = !aligned(xm) || !aligned(wm);
        if (staged) {
            cudaError_t e =
                cudaMemcpyAsync(ws->dalign.p, xm, xbytes, cudaMemcpyDeviceToDevice, stream);
            if (e != cudaSuccess) return dusk__cuda_fail(e, "eigh: aligning a matrix", why, whylen);
            xm = (double *)ws->dalign.p;
            wm = (double *)((char *)ws->dalign.p + woff);
        }
        st = cusolverDnXsyevd(ws->handle, ws->params, jobz, uplo, n, CUDA_R_64F, xm, n, CUDA_R_64F,
                              wm, CUDA_R_64F, ws->dwork.p, dsize, ws->hwork, hsize, dinfo + m);
        if (st != CUSOLVER_STATUS_SUCCESS) return solver_fail(st, "cusolverDnXsyevd", why, whylen);
        if (staged) {
            cudaError_t e =
                cudaMemcpyAsync(w + m * n, wm, wbytes, cudaMemcpyDeviceToDevice, stream);
            if (e == cudaSuccess && jobz == CUSOLVER_EIG_MODE_VECTOR) /* else x is workspace */
                e = cudaMemcpyAsync(x + m * nn, xm, xbytes, cudaMemcpyDeviceToDevice, stream);
            if (e != cudaSuccess) return dusk__cuda_fail(e, "eigh: aligning a matrix", why, whylen);
        }
        /* A host workspace is not the stream's: the next call may reuse it only after. */
        if (hsize > 0 && m + 1 < k) {
            cudaError_t e = cudaStreamSynchronize(stream);
            if (e != cudaSuccess) return dusk__cuda_fail(e, "eigh", why, whylen);
        }
    }
    return 0;
}

/* Queue cusolverDnXsyevBatched over x in as few calls as its size limit and the device memory
 * for its workspace allow. */
static int queue_batched(dusk__eigh_cuda_ws *ws, cudaStream_t stream, double *x, double *w,
                         int64_t k, int64_t n, cusolverEigMode_t jobz, char *why, size_t whylen)
{
    const cublasFillMode_t uplo = CUBLAS_FILL_MODE_UPPER;
    /* cuSOLVER: n * lda * batchSize <= INT32_MAX (lda = n here). */
    int64_t chunk = INT32_MAX / (n * n);
    if (chunk > k) chunk = k;
    if (ws->max_batch > 0 && chunk > ws->max_batch) chunk = ws->max_batch;
    size_t dsize = 0, hsize = 0;
    int *dinfo = (int *)ws->dinfo.p;
    int ret;
    for (;;) { /* the workspace for `chunk` matrices, halving it when the device is full */
        cusolverStatus_t st =
            cusolverDnXsyevBatched_bufferSize(ws->handle, ws->params, jobz, uplo, n, CUDA_R_64F, x,
                                              n, CUDA_R_64F, w, CUDA_R_64F, &dsize, &hsize, chunk);
        if (st != CUSOLVER_STATUS_SUCCESS)
            return solver_fail(st, "cusolverDnXsyevBatched_bufferSize", why, whylen);
        ret = grow(ws, &ws->dwork, dsize, "the cuSOLVER batched workspace", why, whylen);
        if (ret != DUSK_ENOMEM || chunk == 1) break;
        chunk = (chunk + 1) / 2;
    }
    if (ret == 0 && why != NULL && whylen > 0) why[0] = '\0'; /* a halving's reason, if any */
    if (ret == 0) ret = grow_host(&ws->hwork, &ws->hsize, hsize, why, whylen);
    if (ret != 0) return ret;
    for (int64_t m = 0; m < k; m += chunk) {
        int64_t c = k - m < chunk ? k - m : chunk;
        size_t ds = dsize, hs = hsize;
        if (c != chunk) { /* the last, smaller call: its own sizes, within what is there */
            cusolverStatus_t st =
                cusolverDnXsyevBatched_bufferSize(ws->handle, ws->params, jobz, uplo, n, CUDA_R_64F,
                                                  x, n, CUDA_R_64F, w, CUDA_R_64F, &ds, &hs, c);
            if (st != CUSOLVER_STATUS_SUCCESS)
                return solver_fail(st, "cusolverDnXsyevBatched_bufferSize", why, whylen);
            if (ds > ws->dwork.size || hs > ws->hsize) {
                /* more for fewer matrices: wait for what is queued before growing */
                cudaError_t e = cudaStreamSynchronize(stream);
                if (e != cudaSuccess) return dusk__cuda_fail(e, "eigh", why, whylen);
                if ((ret = grow(ws, &ws->dwork, ds, "the cuSOLVER batched workspace", why,
                                whylen)) != 0 ||
                    (ret = grow_host(&ws->hwork, &ws->hsize, hs, why, whylen)) != 0)
                    return ret;
            }
        }
        cusolverStatus_t st = cusolverDnXsyevBatched(
            ws->handle, ws->params, jobz, uplo, n, CUDA_R_64F, x + m * n * n, n, CUDA_R_64F,
            w + m * n, CUDA_R_64F, ws->dwork.p, ds, ws->hwork, hs, dinfo + m, c);
        if (st != CUSOLVER_STATUS_SUCCESS)
            return solver_fail(st, "cusolverDnXsyevBatched", why, whylen);
        if (hs > 0 && m + c < k) {
            cudaError_t e = cudaStreamSynchronize(stream);
            if (e != cudaSuccess) return dusk__cuda_fail(e, "eigh", why, whylen);
        }
    }
    return 0;
}

extern "C" int dusk__eigh_stack_cuda(dusk__eigh_cuda_ws *ws, cudaStream_t stream, const double *a,
                                     double *x, double *w, int64_t k, int64_t n, int vectors,
                                     dusk__eigh_method method, int64_t *failed, int *info,
                                     char *why, size_t whylen)
{
    if (failed != NULL) *failed = -1;
    if (why != NULL && whylen > 0) why[0] = '\0';
    if (k < 0 || n < 0 || (n > 0 && k > INT64_MAX / n / n) ||
        (method != DUSK__EIGH_AUTO && method != DUSK__EIGH_BATCHED && method != DUSK__EIGH_LOOP)) {
        if (why != NULL)
            snprintf(why, whylen, "eigh: bad stack (k = %lld, n = %lld, method %d)", (long long)k,
                     (long long)n, (int)method);
        return DUSK_EINVAL;
    }
    if (k == 0 || n == 0) return 0;
    const int batchable = n <= INT32_MAX / n; /* one matrix per call at least */
    if (method == DUSK__EIGH_AUTO)
        method = k > 1 && batchable && !ws->no_batched ? DUSK__EIGH_BATCHED : DUSK__EIGH_LOOP;
    if (method == DUSK__EIGH_BATCHED && ws->no_batched) {
        if (why != NULL)
            snprintf(why, whylen,
                     "eigh: cusolverDnXsyevBatched is off for this workspace (its warm-up "
                     "failed)");
        return DUSK_ENODEV;
    }
    if (method == DUSK__EIGH_BATCHED && !batchable) {
        if (why != NULL)
            snprintf(why, whylen,
                     "eigh: n = %lld is past cusolverDnXsyevBatched's limit (n * n <= INT32_MAX)",
                     (long long)n);
        return DUSK_EINVAL;
    }
    const int64_t count = k * n * n;
    const cusolverEigMode_t jobz = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
    const char *what = method == DUSK__EIGH_BATCHED ? "cusolverDnXsyevBatched" : "cusolverDnXsyevd";

    int ret = check_finite(ws, stream, a, k, n, failed, why, whylen);
    if (ret != 0) return ret;
    /* Nothing is queued: the info arrays may grow. */
    void *hinfo = ws->hinfo;
    if ((ret = grow(ws, &ws->dinfo, (size_t)k * sizeof(int), "cuSOLVER's info", why, whylen)) ||
        (ret = grow_host(&hinfo, &ws->hinfo_size, (size_t)k * sizeof(int), why, whylen)))
        return ret;
    ws->hinfo = (int *)hinfo;

    cudaError_t e;
    if (x != a && (e = cudaMemcpyAsync(x, a, (size_t)count * sizeof *x, cudaMemcpyDeviceToDevice,
                                       stream)) != cudaSuccess)
        return finish(stream, dusk__cuda_fail(e, "eigh: copying A", why, whylen), why, whylen);
    cusolverStatus_t st = cusolverDnSetStream(ws->handle, stream);
    if (st != CUSOLVER_STATUS_SUCCESS)
        return finish(stream, solver_fail(st, "cusolverDnSetStream", why, whylen), why, whylen);
    ret = method == DUSK__EIGH_BATCHED ? queue_batched(ws, stream, x, w, k, n, jobz, why, whylen)
                                       : queue_loop(ws, stream, x, w, k, n, jobz, why, whylen);
    if (ret != 0) return finish(stream, ret, why, whylen);
    /* cuSOLVER leaves eigenvector j in column j, column-major; NumPy wants it in column j of
     * a C-order matrix. */
    if (vectors) {
        dim3 threads(32, 8);
        dim3 blocks(dusk__cuda_blocks(n, 32), dusk__cuda_blocks(n, 8),
                    (unsigned)(k < 65535 ? k : 65535));
        transpose_stack<<<blocks, threads, 0, stream>>>(x, n, k);
        if ((e = cudaGetLastError()) != cudaSuccess)
            return finish(stream,
                          dusk__cuda_fail(e, "eigh: transposing the eigenvectors", why, whylen),
                          why, whylen);
    }
    if ((e = cudaMemcpyAsync(ws->hinfo, ws->dinfo.p, (size_t)k * sizeof(int),
                             cudaMemcpyDeviceToHost, stream)) != cudaSuccess)
        return finish(stream, dusk__cuda_fail(e, "eigh", why, whylen), why, whylen);
    if ((ret = finish(stream, 0, why, whylen)) != 0) return ret;

    if (info != NULL) memcpy(info, ws->hinfo, (size_t)k * sizeof(int));
    int64_t first = -1, nbad = 0;
    for (int64_t m = 0; m < k; m++)
        if (ws->hinfo[m] != 0) {
            if (first < 0) first = m;
            nbad++;
        }
    if (first < 0) return 0;
    int i0 = ws->hinfo[first];
    if (failed != NULL) *failed = first;
    if (why != NULL) {
        if (i0 < 0) /* a wrong argument, reported in the first matrix's info */
            snprintf(why, whylen, "%s: argument %d is invalid (info = %d)", what, -i0, i0);
        else if (k == 1)
            snprintf(why, whylen, "%s failed (info = %d)", what, i0);
        else
            snprintf(why, whylen,
                     "%s did not converge on matrix %lld of the stack (info = %d; %lld of %lld "
                     "matrices failed)",
                     what, (long long)first, i0, (long long)nbad, (long long)k);
    }
    return i0 < 0 ? DUSK_EINVAL : DUSK_ENUMERIC;
}

extern "C" int dusk__eigh_cuda(dusk__eigh_cuda_ws *ws, cudaStream_t stream, const double *a,
                               double *x, double *w, int64_t n, int vectors, char *why,
                               size_t whylen)
{
    return dusk__eigh_stack_cuda(ws, stream, a, x, w, 1, n, vectors, DUSK__EIGH_LOOP, NULL, NULL,
                                 why, whylen);
}

/* What the warm-up decomposes: small, and two of them for the batched call. */
#define WARM_N 32
#define WARM_K 2

/* cusolverDnXsyevBatched on two matrices, with and without vectors; when it fails, the
 * workspace stops using it, and `warn` says why. */
static void warm_up_batched(dusk__eigh_cuda_ws *ws, cudaStream_t stream, const double *a, double *x,
                            double *w, char *warn, size_t warnlen)
{
    char why[200] = "";
    int ret = 0;
    for (int vectors = 1; ret == 0 && vectors >= 0; vectors--)
        ret = dusk__eigh_stack_cuda(ws, stream, a, x, w, WARM_K, WARM_N, vectors,
                                    DUSK__EIGH_BATCHED, NULL, NULL, why, sizeof why);
    if (ret == 0) return;
    (void)cudaStreamSynchronize(stream);
    (void)cudaGetLastError(); /* not the next kernel's error */
    ws->no_batched = 1;
    if (warn != NULL)
        snprintf(warn, warnlen,
                 "warm-up: %s; cusolverDnXsyevBatched is off, stacks are decomposed one matrix "
                 "at a time",
                 why[0] != '\0' ? why : dusk_strerror(ret));
}

extern "C" int dusk__cuda_warm_up(dusk__eigh_cuda_ws *ws, cublasHandle_t blas, cudaStream_t stream,
                                  dusk__eigh_method method, char *why, size_t whylen, char *warn,
                                  size_t warnlen)
{
    const int64_t n = WARM_N, k = WARM_K, nn = n * n;
    const size_t bytes = (size_t)(2 * k * nn + k * n) * sizeof(double);
    if (warn != NULL && warnlen > 0) warn[0] = '\0';
    double *buf = (double *)ws->alloc.alloc(ws->alloc.ctx, bytes);
    if (buf == NULL) {
        if (why != NULL) snprintf(why, whylen, "warm-up: no device memory (%zu bytes)", bytes);
        return DUSK_ENOMEM;
    }
    double *a = buf, *x = buf + k * nn, *w = buf + 2 * k * nn;
    int ret = dusk__philox_fill_cuda(1, x, nn, stream, why, whylen);
    if (ret == 0) ret = dusk__gram_cuda(blas, stream, x, a, n, n, why, whylen);
    cudaError_t e;
    if (ret == 0 && (e = cudaMemcpyAsync(a + nn, a, (size_t)nn * sizeof *a,
                                         cudaMemcpyDeviceToDevice, stream)) != cudaSuccess)
        ret = dusk__cuda_fail(e, "copying", why, whylen);
    /* what every method uses: syevd on one matrix, and on a stack as the loop does it */
    for (int vectors = 1; ret == 0 && vectors >= 0; vectors--)
        ret = dusk__eigh_cuda(ws, stream, a, x, w, n, vectors, why, whylen);
    if (ret == 0)
        ret = dusk__eigh_stack_cuda(ws, stream, a, x, w, k, n, 1, DUSK__EIGH_LOOP, NULL, NULL, why,
                                    whylen);
    if (ret == 0 && method != DUSK__EIGH_LOOP) warm_up_batched(ws, stream, a, x, w, warn, warnlen);
    (void)cudaStreamSynchronize(stream); /* each call waited already; this is for the free */
    ws->alloc.free(ws->alloc.ctx, buf, bytes);
    if (ret != 0 && why != NULL) {
        char inner[200];
        snprintf(inner, sizeof inner, "%s", why);
        snprintf(why, whylen, "warm-up: %s", inner);
    }
    return ret;
}
