/* eigh on a GPU: cuSOLVER's 64-bit syevd (cusolverDnXsyevd) with a handle and a workspace
 * kept per worker, then the same layout as the CPU kernel (eigh_cpu.c). */
#include <stdlib.h>

#include <cusolverDn.h>

#include "cuda_kernels.h"
#include "cuda_util.h"

struct dusk__eigh_cuda_ws {
    cusolverDnHandle_t handle;
    cusolverDnParams_t params;
    void *dwork; /* device workspace, dsize bytes */
    size_t dsize;
    void *hwork; /* host workspace, hsize bytes */
    size_t hsize;
    int *dinfo;               /* device: syevd's info */
    unsigned long long *dbad; /* device: first non-finite index, or ~0 */
};

static int solver_fail(cusolverStatus_t st, const char *what, char *why, size_t whylen)
{
    if (why != NULL) snprintf(why, whylen, "%s failed (cuSOLVER status %d)", what, (int)st);
    return st == CUSOLVER_STATUS_ALLOC_FAILED ? DUSK_ENOMEM : DUSK_ENUMERIC;
}

extern "C" int dusk__eigh_cuda_ws_new(dusk__eigh_cuda_ws **out, char *why, size_t whylen)
{
    *out = NULL;
    if (why != NULL && whylen > 0) why[0] = '\0';
    dusk__eigh_cuda_ws *ws = (dusk__eigh_cuda_ws *)calloc(1, sizeof *ws);
    if (ws == NULL) {
        if (why != NULL) snprintf(why, whylen, "no host memory for the cuSOLVER workspace");
        return DUSK_ENOMEM;
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
    cudaError_t e = cudaMalloc((void **)&ws->dinfo, sizeof *ws->dinfo);
    if (e == cudaSuccess) e = cudaMalloc((void **)&ws->dbad, sizeof *ws->dbad);
    if (e != cudaSuccess) {
        dusk__eigh_cuda_ws_free(&ws);
        return dusk__cuda_fail(e, "cudaMalloc for cuSOLVER's info", why, whylen);
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
    cudaFree(ws->dwork);
    cudaFree(ws->dinfo);
    cudaFree(ws->dbad);
    free(ws->hwork);
    free(ws);
    *wsp = NULL;
}

/* The first index of a non-finite value, into *bad (which starts at ~0). */
__global__ static void find_non_finite(const double *a, int64_t count, unsigned long long *bad)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count && !isfinite(a[i])) atomicMin(bad, (unsigned long long)i);
}

/* In place: a = aᵀ (n x n). One thread per pair above the diagonal; small beside syevd. */
__global__ static void transpose_square(double *a, int64_t n)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t i = (int64_t)blockIdx.y * blockDim.y + threadIdx.y;
    if (i < n && j < n && j > i) {
        double t = a[i * n + j];
        a[i * n + j] = a[j * n + i];
        a[j * n + i] = t;
    }
}

/* Make the workspaces at least as large as this call needs; keep them for the next. A device
 * workspace grows to 5/4 of the request: cudaFree waits for the whole device, so it should
 * happen rarely, not at each slightly larger matrix. */
static int reserve(dusk__eigh_cuda_ws *ws, size_t dsize, size_t hsize, char *why, size_t whylen)
{
    if (dsize > ws->dsize) {
        size_t want = dsize + dsize / 4;
        cudaFree(ws->dwork);
        ws->dwork = NULL;
        ws->dsize = 0;
        cudaError_t e = cudaMalloc(&ws->dwork, want);
        if (e != cudaSuccess) {
            (void)cudaGetLastError(); /* clear it, then try without the slack */
            want = dsize;
            e = cudaMalloc(&ws->dwork, want);
        }
        if (e != cudaSuccess) {
            (void)cudaGetLastError(); /* clear it: the fallback still uses this device */
            char what[96];
            snprintf(what, sizeof what, "cudaMalloc of %zu bytes for the cuSOLVER workspace",
                     dsize);
            return dusk__cuda_fail(e, what, why, whylen);
        }
        ws->dsize = want;
    }
    if (hsize > ws->hsize) {
        size_t want = hsize + hsize / 4;
        void *h = realloc(ws->hwork, want);
        if (h == NULL) {
            if (why != NULL)
                snprintf(why, whylen, "no host memory for cuSOLVER (%zu bytes)", hsize);
            return DUSK_ENOMEM;
        }
        ws->hwork = h;
        ws->hsize = want;
    }
    return 0;
}

/* Every exit after the first call on `stream` goes through `out`, which waits for the stream:
 * nothing of this call is left running (nor writing into `bad` or `info`) when it returns. */
extern "C" int dusk__eigh_cuda(dusk__eigh_cuda_ws *ws, cudaStream_t stream, const double *a,
                               double *x, double *w, int64_t n, int vectors, char *why,
                               size_t whylen)
{
    const int64_t count = n * n;
    unsigned long long bad = 0;
    int info = 0, ret = 0, pending = 1;
    cudaError_t e;
    cusolverEigMode_t jobz = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
    /* Column-major upper is the C-order lower triangle, the one NumPy and the CPU read. */
    cublasFillMode_t uplo = CUBLAS_FILL_MODE_UPPER;
    size_t dsize = 0, hsize = 0;
    cusolverStatus_t st;
    dim3 threads(32, 8);
    dim3 blocks(dusk__cuda_blocks(n, 32), dusk__cuda_blocks(n, 8));

    /* The CPU kernel refuses non-finite input before LAPACK sees it: so does this one. */
    if ((e = cudaMemsetAsync(ws->dbad, 0xff, sizeof *ws->dbad, stream)) != cudaSuccess) {
        ret = dusk__cuda_fail(e, "eigh", why, whylen);
        goto out;
    }
    find_non_finite<<<dusk__cuda_blocks(count, 256), 256, 0, stream>>>(a, count, ws->dbad);
    if ((e = cudaGetLastError()) != cudaSuccess ||
        (e = cudaMemcpyAsync(&bad, ws->dbad, sizeof bad, cudaMemcpyDeviceToHost, stream)) !=
            cudaSuccess) {
        ret = dusk__cuda_fail(e, "eigh: checking the input", why, whylen);
        goto out;
    }
    e = cudaStreamSynchronize(stream);
    pending = 0;
    if (e != cudaSuccess) {
        ret = dusk__cuda_fail(e, "eigh: checking the input", why, whylen);
        goto out;
    }
    if (bad != ~0ull) {
        double v = 0;
        if (cudaMemcpy(&v, a + bad, sizeof v, cudaMemcpyDeviceToHost) != cudaSuccess) v = NAN;
        if (why != NULL)
            snprintf(why, whylen, "matrix has a non-finite value (%g) at [%lld, %lld]", v,
                     (long long)(bad / (unsigned long long)n),
                     (long long)(bad % (unsigned long long)n));
        ret = DUSK_EDATA;
        goto out;
    }

    pending = 1;
    if (x != a && (e = cudaMemcpyAsync(x, a, (size_t)count * sizeof *x, cudaMemcpyDeviceToDevice,
                                       stream)) != cudaSuccess) {
        ret = dusk__cuda_fail(e, "eigh: copying A", why, whylen);
        goto out;
    }
    st = cusolverDnSetStream(ws->handle, stream);
    if (st == CUSOLVER_STATUS_SUCCESS)
        st = cusolverDnXsyevd_bufferSize(ws->handle, ws->params, jobz, uplo, n, CUDA_R_64F, x, n,
                                         CUDA_R_64F, w, CUDA_R_64F, &dsize, &hsize);
    if (st != CUSOLVER_STATUS_SUCCESS) {
        ret = solver_fail(st, "cusolverDnXsyevd_bufferSize", why, whylen);
        goto out;
    }
    if ((ret = reserve(ws, dsize, hsize, why, whylen)) != 0) goto out;
    st = cusolverDnXsyevd(ws->handle, ws->params, jobz, uplo, n, CUDA_R_64F, x, n, CUDA_R_64F, w,
                          CUDA_R_64F, ws->dwork, dsize, ws->hwork, hsize, ws->dinfo);
    if (st != CUSOLVER_STATUS_SUCCESS) {
        ret = solver_fail(st, "cusolverDnXsyevd", why, whylen);
        goto out;
    }
    /* syevd leaves eigenvector j in column j, column-major; NumPy wants it in column j of a
     * C-order matrix. */
    if (vectors) {
        transpose_square<<<blocks, threads, 0, stream>>>(x, n);
        if ((e = cudaGetLastError()) != cudaSuccess) {
            ret = dusk__cuda_fail(e, "eigh: transposing the eigenvectors", why, whylen);
            goto out;
        }
    }
    if ((e = cudaMemcpyAsync(&info, ws->dinfo, sizeof info, cudaMemcpyDeviceToHost, stream)) !=
        cudaSuccess) {
        ret = dusk__cuda_fail(e, "eigh", why, whylen);
        goto out;
    }
    e = cudaStreamSynchronize(stream);
    pending = 0;
    if (e != cudaSuccess) {
        ret = dusk__cuda_fail(e, "eigh", why, whylen);
        goto out;
    }
    if (info != 0) {
        if (why != NULL) snprintf(why, whylen, "cusolverDnXsyevd failed (info = %d)", info);
        ret = info < 0 ? DUSK_EINVAL : DUSK_ENUMERIC;
    }
out:
    if (pending) {
        /* a failure with work queued: wait for it; the first reason is the one kept */
        e = cudaStreamSynchronize(stream);
        if (e != cudaSuccess && ret == 0) ret = dusk__cuda_fail(e, "eigh", why, whylen);
    }
    return ret;
}
