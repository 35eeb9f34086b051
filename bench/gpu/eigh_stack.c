/* Batched against looped eigh on one GPU: dusk__eigh_stack_cuda on stacks of K matrices of n
 * (bᵀb, b from Philox), by cusolverDnXsyevBatched and by the loop over cusolverDnXsyevd, with
 * and without vectors, so that measurements decide what DUSK__EIGH_AUTO picks at which n.
 * One line per case:
 *   eigh_stack n=N k=K vectors=V batched_s=S loop_s=S batched/loop=R agree=D
 * where each time is the best of --reps calls after one untimed call (the workspace sized,
 * kernels loaded), and `agree` the largest difference between the two methods' eigenvalues,
 * relative to the largest eigenvalue (they must agree within 1e-10, else exit 1).
 * Usage: dusk-eigh-stack-bench [--reps R] N:K [N:K ...]   (default: a set of sizes)
 * Exit: 0 done, 1 a CUDA or cuSOLVER failure or a disagreement, 2 bad usage, 77 no GPU. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "cuda_kernels.h"
#include "dusk.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what, int rc, const char *why)
{
    fprintf(stderr, "dusk-eigh-stack-bench: %s: %s (%s)\n", what, why, dusk_strerror(rc));
    return 1;
}

/* Best of `reps` timed calls, after one untimed. */
static int timed(dusk__eigh_cuda_ws *ws, cudaStream_t s, const double *a, double *x, double *w,
                 int64_t k, int64_t n, int vectors, dusk__eigh_method m, int reps, double *best)
{
    char why[256];
    *best = INFINITY;
    for (int r = -1; r < reps; r++) {
        double t0 = now();
        int rc =
            dusk__eigh_stack_cuda(ws, s, a, x, w, k, n, vectors, m, NULL, NULL, why, sizeof why);
        double t = now() - t0;
        if (rc != 0) return fail(m == DUSK__EIGH_BATCHED ? "batched" : "loop", rc, why);
        if (r >= 0 && t < *best) *best = t;
    }
    return 0;
}

static int one_case(dusk__eigh_cuda_ws *ws, cublasHandle_t blas, cudaStream_t s, int64_t n,
                    int64_t k, int reps)
{
    const int64_t nn = n * n;
    char why[256];
    double *a = NULL, *x = NULL, *w1 = NULL, *w2 = NULL;
    double *h1 = malloc((size_t)(k * n) * sizeof *h1), *h2 = malloc((size_t)(k * n) * sizeof *h2);
    int ret = 1;
    if (h1 == NULL || h2 == NULL || cudaMalloc((void **)&a, (size_t)(k * nn) * sizeof *a) ||
        cudaMalloc((void **)&x, (size_t)(k * nn) * sizeof *x) ||
        cudaMalloc((void **)&w1, (size_t)(k * n) * sizeof *w1) ||
        cudaMalloc((void **)&w2, (size_t)(k * n) * sizeof *w2)) {
        fprintf(stderr, "dusk-eigh-stack-bench: n=%lld k=%lld: out of memory\n", (long long)n,
                (long long)k);
        goto out;
    }
    /* the stack: matrix m is bᵀb for b = Philox(m), b made in x */
    for (int64_t m = 0; m < k; m++) {
        int rc = dusk__philox_fill_cuda((uint64_t)m, x, nn, s, why, sizeof why);
        if (rc == 0) rc = dusk__gram_cuda(blas, s, x, a + m * nn, n, n, why, sizeof why);
        if (rc != 0) {
            ret = fail("making the stack", rc, why);
            goto out;
        }
    }
    for (int vectors = 1; vectors >= 0; vectors--) {
        double tb, tl;
        if (timed(ws, s, a, x, w1, k, n, vectors, DUSK__EIGH_BATCHED, reps, &tb) ||
            timed(ws, s, a, x, w2, k, n, vectors, DUSK__EIGH_LOOP, reps, &tl))
            goto out;
        if (cudaMemcpy(h1, w1, (size_t)(k * n) * sizeof *h1, cudaMemcpyDeviceToHost) ||
            cudaMemcpy(h2, w2, (size_t)(k * n) * sizeof *h2, cudaMemcpyDeviceToHost)) {
            fprintf(stderr, "dusk-eigh-stack-bench: copying the eigenvalues failed\n");
            goto out;
        }
        double diff = 0, scale = 0;
        for (int64_t i = 0; i < k * n; i++) {
            diff = fmax(diff, fabs(h1[i] - h2[i]));
            scale = fmax(scale, fabs(h2[i]));
        }
        double agree = scale > 0 ? diff / scale : diff;
        printf("eigh_stack n=%lld k=%lld vectors=%d batched_s=%.6f loop_s=%.6f batched/loop=%.3f "
               "agree=%.1e\n",
               (long long)n, (long long)k, vectors, tb, tl, tb / tl, agree);
        fflush(stdout);
        if (!(agree <= 1e-10)) {
            fprintf(stderr, "dusk-eigh-stack-bench: n=%lld k=%lld: batched and loop disagree\n",
                    (long long)n, (long long)k);
            goto out;
        }
    }
    ret = 0;
out:
    cudaFree(a);
    cudaFree(x);
    cudaFree(w1);
    cudaFree(w2);
    free(h1);
    free(h2);
    return ret;
}

int main(int argc, char **argv)
{
    static const char *defaults[] = {"8:10000",  "16:10000", "32:4000", "64:2000",
                                     "100:1000", "200:256",  "400:64",  "1000:32"};
    int reps = 3, first = 1;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: dusk-eigh-stack-bench [--reps R] N:K [N:K ...]\n");
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "--reps") == 0) {
        reps = atoi(argv[2]);
        first = 3;
        if (reps < 1 || reps > 1000) {
            fprintf(stderr, "dusk-eigh-stack-bench: --reps '%s' is not 1 to 1000\n", argv[2]);
            return 2;
        }
    }
    int ncases = argc - first;
    const char **cases = ncases > 0 ? (const char **)argv + first : defaults;
    if (ncases == 0) ncases = (int)(sizeof defaults / sizeof defaults[0]);
    for (int c = 0; c < ncases; c++) {
        long long n, k;
        char end;
        if (sscanf(cases[c], "%lld:%lld%c", &n, &k, &end) != 2 || n < 1 || k < 1 || n > 100000 ||
            k > 100000000) {
            fprintf(stderr, "dusk-eigh-stack-bench: '%s' is not N:K (two positive numbers)\n",
                    cases[c]);
            return 2;
        }
    }
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        printf("no GPU visible (%s): skipped\n", cudaGetErrorString(e));
        return 77;
    }
    struct cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
        printf("# GPU 0: %s; best of %d calls after one untimed\n", p.name, reps);
    cudaStream_t s;
    cublasHandle_t blas;
    dusk__eigh_cuda_ws *ws = NULL;
    char why[256];
    if (cudaStreamCreate(&s) != cudaSuccess || cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "dusk-eigh-stack-bench: cannot make a stream and a cuBLAS handle\n");
        return 1;
    }
    int rc = dusk__eigh_cuda_ws_new(&ws, NULL, why, sizeof why);
    if (rc != 0) return fail("the workspace", rc, why);
    int ret = 0;
    for (int c = 0; c < ncases && ret == 0; c++) {
        long long n, k;
        sscanf(cases[c], "%lld:%lld", &n, &k);
        ret = one_case(ws, blas, s, n, k, reps);
    }
    dusk__eigh_cuda_ws_free(&ws);
    cublasDestroy(blas);
    cudaStreamDestroy(s);
    return ret;
}
