/* The eigh codelet's promise on a GPU (dusk_linalg.h: a stack computes what K one-item tasks
 * compute, bit for bit): dusk__eigh_stack_cuda with DUSK__EIGH_LOOP, the method the codelet
 * uses, on stacks of 7 matrices of n = 8, 33, 100 (items at offsets of k*n*n doubles, as in a
 * stack: for odd n, 8 bytes off 16), and on stacks that start off an allocation's alignment,
 * against dusk__eigh_cuda on each matrix in an allocation of its own (as a one-item task's):
 * eigenvalues and eigenvectors identical. Also says whether the batched method gives
 * the same bits (it need not; it must agree within 1e-10 relative). Exits 77 without a GPU. */
#include "cuda_kernels.h"
#include "cuda_test.h"
#include "dusk_linalg.h"

/* `shift` doubles past the start of each allocation: the stack's items and eigenvalues then
 * start off every alignment a one-item task's have. */
static void one(dusk__eigh_cuda_ws *ws, cudaStream_t s, cublasHandle_t blas, int64_t k, int64_t n,
                int64_t shift)
{
    const int64_t nn = n * n, count = k * nn;
    char why[256] = "";
    double *ma, *mx, *mw, *da, *dx, *dw, *b1, *a1, *x1, *w1;
    CHECK_CUDA(cudaMalloc((void **)&ma, (size_t)(count + shift) * sizeof *ma));
    CHECK_CUDA(cudaMalloc((void **)&mx, (size_t)(count + shift) * sizeof *mx));
    CHECK_CUDA(cudaMalloc((void **)&mw, (size_t)(k * n + shift) * sizeof *mw));
    da = ma + shift;
    dx = mx + shift;
    dw = mw + shift;
    CHECK_CUDA(cudaMalloc((void **)&b1, (size_t)nn * sizeof *b1));
    CHECK_CUDA(cudaMalloc((void **)&a1, (size_t)nn * sizeof *a1));
    CHECK_CUDA(cudaMalloc((void **)&x1, (size_t)nn * sizeof *x1));
    CHECK_CUDA(cudaMalloc((void **)&w1, (size_t)n * sizeof *w1));
    double *hx = malloc((size_t)count * sizeof *hx), *hw = malloc((size_t)(k * n) * sizeof *hw);
    double *hx1 = malloc((size_t)nn * sizeof *hx1), *hw1 = malloc((size_t)n * sizeof *hw1);
    CHECK(hx && hw && hx1 && hw1);
    for (int64_t m = 0; m < k; m++) { /* item m: gram of Philox(m), made on the GPU */
        CHECK_OK(dusk__philox_fill_cuda((uint64_t)m, b1, nn, s, why, sizeof why));
        CHECK_OK(dusk__gram_cuda(blas, s, b1, da + m * nn, n, n, why, sizeof why));
    }
    CHECK_OK(dusk__eigh_stack_cuda(ws, s, da, dx, dw, k, n, 1, DUSK__EIGH_LOOP, NULL, NULL, why,
                                   sizeof why));
    CHECK_CUDA(cudaMemcpy(hx, dx, (size_t)count * sizeof *hx, cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(hw, dw, (size_t)(k * n) * sizeof *hw, cudaMemcpyDeviceToHost));
    for (int64_t m = 0; m < k; m++) {
        CHECK_CUDA(cudaMemcpy(a1, da + m * nn, (size_t)nn * sizeof *a1, cudaMemcpyDeviceToDevice));
        CHECK_OK(dusk__eigh_cuda(ws, s, a1, x1, w1, n, 1, why, sizeof why));
        CHECK_CUDA(cudaMemcpy(hx1, x1, (size_t)nn * sizeof *hx1, cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(hw1, w1, (size_t)n * sizeof *hw1, cudaMemcpyDeviceToHost));
        if (memcmp(hw1, hw + m * n, (size_t)n * sizeof *hw1) != 0 ||
            memcmp(hx1, hx + m * nn, (size_t)nn * sizeof *hx1) != 0)
            TEST_FAIL_("n=%lld, shift %lld: item %lld of a stack of %lld is not bit for bit what "
                       "one matrix alone gives",
                       (long long)n, (long long)shift, (long long)m, (long long)k);
    }
    /* The batched method: within 1e-10 of the loop, the same bits or not (said, not checked). */
    double *bw = malloc((size_t)(k * n) * sizeof *bw);
    CHECK(bw != NULL);
    CHECK_OK(dusk__eigh_stack_cuda(ws, s, da, dx, dw, k, n, 1, DUSK__EIGH_BATCHED, NULL, NULL, why,
                                   sizeof why));
    CHECK_CUDA(cudaMemcpy(bw, dw, (size_t)(k * n) * sizeof *bw, cudaMemcpyDeviceToHost));
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < k * n; i++) {
        diff = fmax(diff, fabs(bw[i] - hw[i]));
        scale = fmax(scale, fabs(hw[i]));
    }
    CHECK(diff <= 1e-10 * scale);
    printf("n=%lld, %lld items, shift %lld: loop = one matrix alone, bit for bit; batched "
           "eigenvalues %s (max diff %.1e relative)\n",
           (long long)n, (long long)k, (long long)shift,
           diff == 0 ? "the same bits" : "within 1e-10", scale > 0 ? diff / scale : diff);
    free(bw);
    free(hx);
    free(hw);
    free(hx1);
    free(hw1);
    CHECK_CUDA(cudaFree(ma));
    CHECK_CUDA(cudaFree(mx));
    CHECK_CUDA(cudaFree(mw));
    CHECK_CUDA(cudaFree(b1));
    CHECK_CUDA(cudaFree(a1));
    CHECK_CUDA(cudaFree(x1));
    CHECK_CUDA(cudaFree(w1));
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
    int rc = dusk__eigh_cuda_ws_new(&ws, NULL, why, sizeof why);
    if (rc != 0) TEST_FAIL_("dusk__eigh_cuda_ws_new: %d (%s)", rc, why);
    const int64_t ns[] = {8, 33, 100};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        one(ws, s, blas, 7, ns[i], 0);
    /* every item off the alignment of an allocation of its own (dusk__eigh_stack_cuda then
     * decomposes each in an aligned block) */
    one(ws, s, blas, 3, 8, 1);
    one(ws, s, blas, 3, 33, 3);
    dusk__eigh_cuda_ws_free(&ws);
    cublasDestroy(blas);
    CHECK_CUDA(cudaStreamDestroy(s));
    return 0;
}
