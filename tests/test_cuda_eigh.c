/* gram and eigh on a GPU (cuBLAS dsyrk, cuSOLVER syevd) against the CPU path (OpenBLAS dsyrk,
 * LAPACKE dsyevd, the same layout steps): A within 1e-13 relative, eigenvalues within 1e-10
 * relative, eigenvectors as columns of the C-order matrix (checked by A v = λ v and VᵀV = I
 * in that layout, and against the CPU's up to sign), values-only, in place and copying, a
 * workspace reused across sizes, and a non-finite input refused with DUSK_EDATA.
 * Exits 77 without a GPU. */
#include <cblas.h>
#include <lapacke.h>

#include "cuda_kernels.h"
#include "cuda_test.h"
#include "dusk_linalg.h"

static double *dev_copy(const double *h, int64_t count)
{
    double *d;
    CHECK_CUDA(cudaMalloc((void **)&d, (size_t)count * sizeof *d));
    if (h) CHECK_CUDA(cudaMemcpy(d, h, (size_t)count * sizeof *d, cudaMemcpyHostToDevice));
    return d;
}

static void to_host(double *h, const double *d, int64_t count)
{
    CHECK_CUDA(cudaMemcpy(h, d, (size_t)count * sizeof *h, cudaMemcpyDeviceToHost));
}

static double max_abs(const double *x, int64_t count)
{
    double m = 0;
    for (int64_t i = 0; i < count; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

/* C-order v, eigenvector j in column j: ||A v_j - w_j v_j|| and ||VᵀV - I||. */
static void check_vectors(const double *a, const double *v, const double *w, int64_t n)
{
    double res = 0, orth = 0, scale = max_abs(w, n);
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t k = 0; k < n; k++)
                s += a[i * n + k] * v[k * n + j];
            res = fmax(res, fabs(s - w[j] * v[i * n + j]));
        }
    for (int64_t j = 0; j < n; j++)
        for (int64_t l = 0; l < n; l++) {
            double s = 0;
            for (int64_t k = 0; k < n; k++)
                s += v[k * n + j] * v[k * n + l];
            orth = fmax(orth, fabs(s - (j == l)));
        }
    if (!(res <= 1e-11 * scale) || !(orth <= 1e-11))
        TEST_FAIL_("n=%lld: residual %.3g (scale %.3g), orthogonality %.3g", (long long)n, res,
                   scale, orth);
}

static void one_size(dusk__eigh_cuda_ws *ws, cudaStream_t s, cublasHandle_t blas, int64_t n)
{
    int64_t m = n, nn = n * n;
    char why[256] = "";
    double *b = malloc((size_t)nn * sizeof *b), *a = malloc((size_t)nn * sizeof *a);
    double *ga = malloc((size_t)nn * sizeof *ga), *v = malloc((size_t)nn * sizeof *v);
    double *gv = malloc((size_t)nn * sizeof *gv), *w = malloc((size_t)n * sizeof *w);
    double *gw = malloc((size_t)n * sizeof *gw);
    CHECK(b && a && ga && v && gv && w && gw);
    dusk_philox_fill((uint64_t)n, b, nn);

    /* gram: the CPU path of gram_cpu.c, then the GPU. */
    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)n, (int)m, 1.0, b, (int)n, 0.0, a,
                (int)n);
    dusk_square_mirror_lower(a, n);
    double *db = dev_copy(b, nn), *da = dev_copy(NULL, nn), *dx = dev_copy(NULL, nn);
    double *dw = dev_copy(NULL, n);
    int rc = dusk__gram_cuda(blas, s, db, da, m, n, why, sizeof why);
    if (rc != 0) TEST_FAIL_("gram n=%lld: %d (%s)", (long long)n, rc, why);
    to_host(ga, da, nn);
    double ascale = max_abs(a, nn);
    for (int64_t i = 0; i < nn; i++)
        CHECK_NEAR(ga[i], a[i], 1e-13 * ascale);
    for (int64_t i = 0; i < n; i++) /* exactly symmetric, as on the CPU */
        for (int64_t j = 0; j < i; j++)
            CHECK(ga[i * n + j] == ga[j * n + i]);

    /* eigh on the CPU: eigh_cpu.c's calls. */
    memcpy(v, a, (size_t)nn * sizeof *v);
    CHECK_EQ(LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)n, v, (lapack_int)n, w), 0);
    dusk_square_transpose(v, n);
    double wscale = max_abs(w, n);

    for (int mode = 0; mode < 4; mode++) {
        int vectors = mode & 1, in_place = mode & 2;
        CHECK_CUDA(cudaMemcpy(da, a, (size_t)nn * sizeof *da, cudaMemcpyHostToDevice));
        rc = dusk__eigh_cuda(ws, s, da, in_place ? da : dx, dw, n, vectors, why, sizeof why);
        if (rc != 0) TEST_FAIL_("eigh n=%lld mode %d: %d (%s)", (long long)n, mode, rc, why);
        to_host(gw, dw, n);
        for (int64_t i = 0; i < n; i++)
            CHECK_NEAR(gw[i], w[i], 1e-10 * wscale);
        for (int64_t i = 1; i < n; i++)
            CHECK(gw[i - 1] <= gw[i]);
        if (!in_place) { /* A is kept */
            to_host(ga, da, nn);
            CHECK(memcmp(ga, a, (size_t)nn * sizeof *a) == 0);
        }
        if (vectors) {
            to_host(gv, in_place ? da : dx, nn);
            check_vectors(a, gv, gw, n);
            /* Same vectors as the CPU's up to sign, where eigenvalues are well separated. */
            for (int64_t j = 0; j < n; j++) {
                double gap = INFINITY;
                if (j > 0) gap = fmin(gap, w[j] - w[j - 1]);
                if (j + 1 < n) gap = fmin(gap, w[j + 1] - w[j]);
                if (gap < 1e-6 * wscale) continue;
                double dot = 0;
                for (int64_t k = 0; k < n; k++)
                    dot += gv[k * n + j] * v[k * n + j];
                double sign = dot < 0 ? -1 : 1;
                for (int64_t k = 0; k < n; k++)
                    CHECK_NEAR(sign * gv[k * n + j], v[k * n + j], 1e-8);
            }
        }
    }
    CHECK_CUDA(cudaFree(db));
    CHECK_CUDA(cudaFree(da));
    CHECK_CUDA(cudaFree(dx));
    CHECK_CUDA(cudaFree(dw));
    free(b);
    free(a);
    free(ga);
    free(v);
    free(gv);
    free(w);
    free(gw);
    printf("n=%lld: gram and eigh (4 modes) agree with the CPU\n", (long long)n);
}

int main(void)
{
    cuda_test_require_gpu();
    cudaStream_t s;
    cublasHandle_t blas;
    dusk__eigh_cuda_ws *ws = NULL;
    char why[256] = "";
    CHECK_CUDA(cudaStreamCreate(&s));
    CHECK(cublasCreate(&blas) == CUBLAS_STATUS_SUCCESS);
    int rc = dusk__eigh_cuda_ws_new(&ws, why, sizeof why);
    if (rc != 0) TEST_FAIL_("dusk__eigh_cuda_ws_new: %d (%s)", rc, why);
    /* Growing then shrinking: the cached workspace is grown and reused. */
    const int64_t sizes[] = {1, 2, 17, 64, 300, 33};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        one_size(ws, s, blas, sizes[k]);

    /* A non-finite value is refused, as the CPU kernel refuses it. */
    int64_t n = 8;
    double a[64];
    for (int i = 0; i < 64; i++)
        a[i] = (i / 8 == i % 8) ? 1.0 : 0.0;
    a[3 * 8 + 5] = NAN;
    double *da = dev_copy(a, 64), *dw = dev_copy(NULL, n);
    rc = dusk__eigh_cuda(ws, s, da, da, dw, n, 1, why, sizeof why);
    CHECK_EQ(rc, DUSK_EDATA);
    CHECK_STR_CONTAINS(why, "[3, 5]");
    /* and the worker's workspace still works afterwards */
    a[3 * 8 + 5] = 0.0;
    CHECK_CUDA(cudaMemcpy(da, a, sizeof a, cudaMemcpyHostToDevice));
    CHECK_OK(dusk__eigh_cuda(ws, s, da, da, dw, n, 1, why, sizeof why));
    CHECK_CUDA(cudaFree(da));
    CHECK_CUDA(cudaFree(dw));

    dusk__eigh_cuda_ws_free(&ws);
    CHECK(ws == NULL);
    cublasDestroy(blas);
    CHECK_CUDA(cudaStreamDestroy(s));
    return 0;
}
