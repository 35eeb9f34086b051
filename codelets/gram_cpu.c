#include <cblas.h>

#include "codelets.h"

void dusk_square_mirror_lower(double *a, int64_t n)
{
    /* Blocked so that both the rows read and the columns written stay in cache. */
    const int64_t bs = 64;
    for (int64_t jj = 0; jj < n; jj += bs)
        for (int64_t ii = jj; ii < n; ii += bs)
            for (int64_t j = jj; j < jj + bs && j < n; j++)
                for (int64_t i = ii > j + 1 ? ii : j + 1; i < ii + bs && i < n; i++)
                    a[j + i * n] = a[i + j * n];
}

int dusk__gram_args(dusk_call *call, const double **b, double **a, int64_t *count, int64_t *m,
                    int64_t *n)
{
    int64_t kb, bd[2], ad[2];
    *b = dusk_call_stack(call, 0, &kb, bd);
    *a = dusk_call_stack(call, 1, count, ad);
    *m = bd[0];
    *n = bd[1];
    if (dusk_call_nargs(call) != 2 || kb != *count || ad[0] != *n || ad[1] != *n) {
        dusk_call_fail(call, "gram takes B (K x m x n) and A (K x n x n)");
        return DUSK_EINVAL;
    }
    return 0;
}

/* A stack of K: A_k = B_kᵀ B_k, for the items still to compute. */
int dusk__gram_cpu(dusk_call *call)
{
    const double *b;
    double *a;
    int64_t ka, m, n;
    int ret = dusk__gram_args(call, &b, &a, &ka, &m, &n);
    if (ret != 0) return ret;
    for (int64_t k = 0; k < ka; k++) {
        if (dusk_call_item_status(call, k) != 0) continue;
        /* B in C order is Bᵀ in column-major (n x m, leading dimension n), so Bᵀ B is
         * M Mᵀ for that M: one dsyrk without transposition. */
        cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)n, (int)m, 1.0, b + k * m * n,
                    (int)n, 0.0, a + k * n * n, (int)n);
        dusk_square_mirror_lower(a + k * n * n, n);
    }
    return 0;
}
