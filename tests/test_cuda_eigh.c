/* gram and eigh on a GPU (cuBLAS dsyrk, cuSOLVER syevd) against the CPU path (OpenBLAS dsyrk,
 * LAPACKE dsyevd, the same layout steps): A within 1e-13 relative, eigenvalues within 1e-10
 * relative, eigenvectors as columns of the C-order matrix (checked by A v = λ v and VᵀV = I
 * in that layout, and against the CPU's up to sign), values-only, in place and copying, a
 * workspace reused across sizes, and a non-finite input refused with DUSK_EDATA.
 * Then stacks (dusk__eigh_stack_cuda): K = 1, 7, 64 matrices of n = 8, 33, 100, each stack
 * with a matrix of a repeated eigenvalue, by cusolverDnXsyevBatched and by the loop over
 * syevd, with and without vectors, in place and copying, each matrix against LAPACKE; the
 * batched calls split into several (a cap of 3 matrices per call); a non-finite value in one
 * matrix refused with that matrix's index; bad arguments refused.
 * `--quick` (for compute-sanitizer): fewer sizes. Exits 77 without a GPU. */
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

/* Matrix m of a test stack: bᵀb for b from Philox, except matrix 1, which is 2 I + e eᵀ (e all
 * ones): eigenvalue 2 repeated n - 1 times, and 2 + n. */
static void make_stack(double *a, int64_t k, int64_t n, uint64_t seed)
{
    int64_t nn = n * n;
    double *b = malloc((size_t)nn * sizeof *b);
    CHECK(b != NULL);
    for (int64_t m = 0; m < k; m++) {
        double *am = a + m * nn;
        if (m == 1) {
            for (int64_t i = 0; i < nn; i++)
                am[i] = 1.0 + (i / n == i % n ? 2.0 : 0.0);
            continue;
        }
        dusk_philox_fill(seed + (uint64_t)m, b, nn);
        cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)n, (int)n, 1.0, b, (int)n, 0.0,
                    am, (int)n);
        dusk_square_mirror_lower(am, n);
    }
    free(b);
}

static const char *method_name(dusk__eigh_method m)
{
    return m == DUSK__EIGH_BATCHED ? "batched" : m == DUSK__EIGH_LOOP ? "loop" : "auto";
}

/* One stack of k matrices of n, every method and mode, against LAPACKE matrix by matrix. */
static void one_stack(dusk__eigh_cuda_ws *ws, cudaStream_t s, int64_t k, int64_t n)
{
    int64_t nn = n * n, count = k * nn;
    char why[256] = "";
    double *a = malloc((size_t)count * sizeof *a), *w = malloc((size_t)(k * n) * sizeof *w);
    double *ga = malloc((size_t)count * sizeof *ga), *gv = malloc((size_t)count * sizeof *gv);
    double *gw = malloc((size_t)(k * n) * sizeof *gw), *v = malloc((size_t)nn * sizeof *v);
    int *info = malloc((size_t)k * sizeof *info);
    CHECK(a && w && ga && gv && gw && v && info);
    make_stack(a, k, n, 1000 + (uint64_t)n);
    /* the CPU: eigh_cpu.c's call on each matrix */
    for (int64_t m = 0; m < k; m++) {
        memcpy(v, a + m * nn, (size_t)nn * sizeof *v);
        CHECK_EQ(
            LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'U', (lapack_int)n, v, (lapack_int)n, w + m * n),
            0);
    }
    double *da = dev_copy(NULL, count), *dx = dev_copy(NULL, count), *dw = dev_copy(NULL, k * n);
    const dusk__eigh_method methods[] = {DUSK__EIGH_BATCHED, DUSK__EIGH_LOOP, DUSK__EIGH_AUTO};
    for (size_t mi = 0; mi < sizeof methods / sizeof methods[0]; mi++) {
        for (int mode = 0; mode < 4; mode++) {
            int vectors = mode & 1, in_place = mode & 2;
            if (methods[mi] == DUSK__EIGH_AUTO && mode != 1) continue; /* auto: one mode */
            CHECK_CUDA(cudaMemcpy(da, a, (size_t)count * sizeof *da, cudaMemcpyHostToDevice));
            int64_t failed = 42;
            for (int64_t m = 0; m < k; m++)
                info[m] = -99;
            int rc = dusk__eigh_stack_cuda(ws, s, da, in_place ? da : dx, dw, k, n, vectors,
                                           methods[mi], &failed, info, why, sizeof why);
            if (rc != 0)
                TEST_FAIL_("stack k=%lld n=%lld %s mode %d: %d (%s)", (long long)k, (long long)n,
                           method_name(methods[mi]), mode, rc, why);
            CHECK_EQ(failed, -1);
            for (int64_t m = 0; m < k; m++)
                CHECK_EQ(info[m], 0);
            to_host(gw, dw, k * n);
            for (int64_t m = 0; m < k; m++) {
                const double *wm = w + m * n, *gwm = gw + m * n;
                double wscale = max_abs(wm, n);
                for (int64_t i = 0; i < n; i++)
                    if (!(fabs(gwm[i] - wm[i]) <= 1e-10 * wscale))
                        TEST_FAIL_("stack k=%lld n=%lld %s mode %d: matrix %lld eigenvalue %lld: "
                                   "%.17g vs LAPACK %.17g",
                                   (long long)k, (long long)n, method_name(methods[mi]), mode,
                                   (long long)m, (long long)i, gwm[i], wm[i]);
                for (int64_t i = 1; i < n; i++)
                    CHECK(gwm[i - 1] <= gwm[i]);
            }
            if (!in_place) { /* the stack is kept */
                to_host(ga, da, count);
                CHECK(memcmp(ga, a, (size_t)count * sizeof *a) == 0);
            }
            if (vectors) {
                to_host(gv, in_place ? da : dx, count);
                for (int64_t m = 0; m < k; m++)
                    check_vectors(a + m * nn, gv + m * nn, gw + m * n, n);
            }
        }
    }
    /* The batched path split into calls of at most 3 matrices, the last one smaller. */
    if (k > 3) {
        dusk__eigh_cuda_ws_set_max_batch(ws, 3);
        CHECK_CUDA(cudaMemcpy(da, a, (size_t)count * sizeof *da, cudaMemcpyHostToDevice));
        CHECK_OK(dusk__eigh_stack_cuda(ws, s, da, dx, dw, k, n, 1, DUSK__EIGH_BATCHED, NULL, NULL,
                                       why, sizeof why));
        dusk__eigh_cuda_ws_set_max_batch(ws, 0);
        to_host(gw, dw, k * n);
        to_host(gv, dx, count);
        for (int64_t m = 0; m < k; m++) {
            double wscale = max_abs(w + m * n, n);
            for (int64_t i = 0; i < n; i++)
                CHECK_NEAR(gw[m * n + i], w[m * n + i], 1e-10 * wscale);
            check_vectors(a + m * nn, gv + m * nn, gw + m * n, n);
        }
    }
    CHECK_CUDA(cudaFree(da));
    CHECK_CUDA(cudaFree(dx));
    CHECK_CUDA(cudaFree(dw));
    free(a);
    free(w);
    free(ga);
    free(gv);
    free(gw);
    free(v);
    free(info);
    printf("stack k=%lld n=%lld: batched, loop and auto (4 modes) agree with LAPACKE\n",
           (long long)k, (long long)n);
}

/* Refusals on stacks: a non-finite value named by matrix, row and column; bad arguments. */
static void stack_refusals(dusk__eigh_cuda_ws *ws, cudaStream_t s)
{
    const int64_t k = 7, n = 8, nn = n * n;
    char why[256] = "";
    double a[7 * 64];
    make_stack(a, k, n, 7);
    a[5 * nn + 2 * n + 6] = INFINITY;
    double *da = dev_copy(a, k * nn), *dw = dev_copy(NULL, k * n);
    const dusk__eigh_method methods[] = {DUSK__EIGH_BATCHED, DUSK__EIGH_LOOP};
    for (int mi = 0; mi < 2; mi++) {
        int64_t failed = -7;
        int rc = dusk__eigh_stack_cuda(ws, s, da, da, dw, k, n, 1, methods[mi], &failed, NULL, why,
                                       sizeof why);
        CHECK_EQ(rc, DUSK_EDATA);
        CHECK_EQ(failed, 5);
        CHECK_STR_CONTAINS(why, "matrix 5");
        CHECK_STR_CONTAINS(why, "[2, 6]");
    }
    /* bad arguments, nothing run */
    int64_t failed = 3;
    CHECK_EQ(dusk__eigh_stack_cuda(ws, s, da, da, dw, -1, n, 1, DUSK__EIGH_AUTO, &failed, NULL, why,
                                   sizeof why),
             DUSK_EINVAL);
    CHECK_EQ(failed, -1);
    CHECK_EQ(dusk__eigh_stack_cuda(ws, s, da, da, dw, k, n, 1, (dusk__eigh_method)9, NULL, NULL,
                                   why, sizeof why),
             DUSK_EINVAL);
    CHECK_EQ(dusk__eigh_stack_cuda(ws, s, da, da, dw, 2, 50000, 1, DUSK__EIGH_BATCHED, NULL, NULL,
                                   why, sizeof why),
             DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "INT32_MAX");
    /* empty stacks do nothing */
    CHECK_OK(dusk__eigh_stack_cuda(ws, s, da, da, dw, 0, n, 1, DUSK__EIGH_AUTO, NULL, NULL, why,
                                   sizeof why));
    CHECK_OK(dusk__eigh_stack_cuda(ws, s, da, da, dw, k, 0, 1, DUSK__EIGH_AUTO, NULL, NULL, why,
                                   sizeof why));
    /* and the workspace still works: the stack without its bad value */
    a[5 * nn + 2 * n + 6] = 0.0;
    a[5 * nn + 6 * n + 2] = 0.0; /* still symmetric */
    CHECK_CUDA(cudaMemcpy(da, a, sizeof a, cudaMemcpyHostToDevice));
    CHECK_OK(dusk__eigh_stack_cuda(ws, s, da, da, dw, k, n, 1, DUSK__EIGH_BATCHED, NULL, NULL, why,
                                   sizeof why));
    CHECK_CUDA(cudaFree(da));
    CHECK_CUDA(cudaFree(dw));
    printf("stack refusals: non-finite input named by matrix, bad arguments\n");
}

/* An allocator that counts, to see the workspace take its memory there and give it all back. */
static long long live_blocks, live_bytes;
static void *counting_alloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = NULL;
    if (cudaMalloc(&p, size) != cudaSuccess) return NULL;
    live_blocks++;
    live_bytes += (long long)size;
    return p;
}
static void counting_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    CHECK_CUDA(cudaFree(p));
    live_blocks--;
    live_bytes -= (long long)size;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    cuda_test_require_gpu();
    cudaStream_t s;
    cublasHandle_t blas;
    dusk__eigh_cuda_ws *ws = NULL;
    char why[256] = "";
    CHECK_CUDA(cudaStreamCreate(&s));
    CHECK(cublasCreate(&blas) == CUBLAS_STATUS_SUCCESS);
    dusk__cuda_allocator counting = {counting_alloc, counting_free, NULL};
    int rc = dusk__eigh_cuda_ws_new(&ws, &counting, why, sizeof why);
    if (rc != 0) TEST_FAIL_("dusk__eigh_cuda_ws_new: %d (%s)", rc, why);
    char warn[256] = "x";
    rc = dusk__cuda_warm_up(ws, blas, s, DUSK__EIGH_AUTO, why, sizeof why, warn, sizeof warn);
    if (rc != 0) TEST_FAIL_("dusk__cuda_warm_up: %d (%s)", rc, why);
    /* this test's batched calls need the batched solver: its warm-up must have passed */
    if (warn[0] != '\0' || !dusk__eigh_cuda_ws_batched(ws))
        TEST_FAIL_("the batched warm-up failed: %s", warn);
    CHECK_EQ(live_bytes, (long long)dusk__eigh_cuda_ws_device_bytes(ws));
    /* gram of nothing: nothing to do, and no launch of an empty grid */
    CHECK_OK(dusk__gram_cuda(blas, s, NULL, NULL, 4, 0, why, sizeof why));
    CHECK_CUDA(cudaGetLastError());
    /* Growing then shrinking: the cached workspace is grown and reused. */
    const int64_t sizes[] = {1, 2, 17, 64, 300, 33};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        if (!quick || sizes[k] <= 64) one_size(ws, s, blas, sizes[k]);

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

    /* Stacks: every K with every n. */
    const int64_t ks[] = {1, 7, 64}, ns[] = {8, 33, 100};
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 3; j++)
            if (!quick || (ks[i] <= 7 && ns[j] <= 33)) one_stack(ws, s, ks[i], ns[j]);
    stack_refusals(ws, s);

    /* Every device block the workspace took, outgrown ones included, is given back. */
    CHECK_EQ(live_bytes, (long long)dusk__eigh_cuda_ws_device_bytes(ws));
    dusk__eigh_cuda_ws_free(&ws);
    CHECK(ws == NULL);
    CHECK_EQ(live_blocks, 0);
    CHECK_EQ(live_bytes, 0);
    cublasDestroy(blas);
    CHECK_CUDA(cudaStreamDestroy(s));
    return 0;
}
