/* The eigh codelet's promise on a GPU (dusk_linalg.h: a stack computes what K one-item tasks
 * compute, bit for bit): dusk__eigh_stack_cuda with DUSK__EIGH_LOOP, the method the codelet
 * uses, on stacks of 7 matrices of n = 8, 33, 100 (items at offsets of k*n*n doubles, as in a
 * stack), against dusk__eigh_cuda on each matrix in an allocation of its own (as a one-item
 * task's): eigenvalues and eigenvectors identical. Also says whether the batched method gives
 * the same bits (it need not; it must agree within 1e-10 relative). Exits 77 without a GPU. */
#include "cuda_kernels.h"
#include "cuda_test.h"
#include "dusk_linalg.h"

static void one(dusk__eigh_cuda_ws *ws, cudaStream_t s, cublasHandle_t blas, int64_t k, int64_t n)
{
    const int64_t nn = n * n, count = k * nn;
    char why[256] = "";
    double *da, *dx, *dw, *b1, *a1, *x1, *w1;
    CHECK_CUDA(cudaMalloc((void **)&da, (size_t)count * sizeof *da));
    CHECK_CUDA(cudaMalloc((void **)&dx, (size_t)count * sizeof *dx));
    CHECK_CUDA(cudaMalloc((void **)&dw, (size_t)(k * n) * sizeof *dw));
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
            TEST_FAIL_("n=%lld: item %lld of a stack of %lld is not bit for bit what one matrix "
                       "alone gives",
                       (long long)n, (long long)m, (long long)k);
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
    printf("n=%lld, %lld items: loop = one matrix alone, bit for bit; batched eigenvalues %s "
           "(max diff %.1e relative)\n",
           (long long)n, (long long)k, diff == 0 ? "the same bits" : "within 1e-10",
           scale > 0 ? diff / scale : diff);
    free(bw);
    free(hx);
    free(hw);
    free(hx1);
    free(hw1);
    CHECK_CUDA(cudaFree(da));
    CHECK_CUDA(cudaFree(dx));
    CHECK_CUDA(cudaFree(dw));
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
        one(ws, s, blas, 7, ns[i]);
    dusk__eigh_cuda_ws_free(&ws);
    cublasDestroy(blas);
    CHECK_CUDA(cudaStreamDestroy(s));
    return 0;
}
