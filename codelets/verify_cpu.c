/* Checks of an eigendecomposition, as numbers the caller compares with its tolerances. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "codelets.h"

/* The two figures of one item into r[0], r[1]; tmp holds n * n values (NULL without v). */
static void verify_one(const double *a, const double *w, const double *v, double *r, int64_t n,
                       double *tmp)
{
    double anorm = 0, trace = 0;
    for (int64_t i = 0; i < n * n; i++)
        anorm += a[i] * a[i];
    for (int64_t i = 0; i < n; i++)
        trace += a[i * n + i];
    double anorm2 = anorm;
    anorm = sqrt(anorm);
    double scale = anorm > 0 ? anorm : 1;

    if (v == NULL) {
        /* Without vectors: the eigenvalues must add up to the trace, and their squares to
         * the squared Frobenius norm. */
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++) {
            s += w[i];
            s2 += w[i] * w[i];
        }
        r[0] = fabs(s - trace) / ((double)n * scale);
        r[1] = fabs(s2 - anorm2) / (scale * scale);
        return;
    }

    /* With V in C order read as column-major, U = Vᵀ, and A V - V Λ = (U A - Λ U)ᵀ. */
    cblas_dsymm(CblasColMajor, CblasRight, CblasUpper, (int)n, (int)n, 1.0, a, (int)n, v, (int)n,
                0.0, tmp, (int)n);
    double res = 0;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            double e = tmp[i + j * n] - w[i] * v[i + j * n];
            res += e * e;
        }
    r[0] = sqrt(res) / ((double)n * scale);

    /* Vᵀ V - I, from U Uᵀ (the same matrix for square V); lower triangle of a dsyrk. */
    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)n, (int)n, 1.0, v, (int)n, 0.0, tmp,
                (int)n);
    double orth = 0;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = j; i < n; i++) {
            double e = tmp[i + j * n] - (i == j ? 1.0 : 0.0);
            orth += (i == j ? 1.0 : 2.0) * e * e;
        }
    r[1] = sqrt(orth);
}

int dusk__verify_cpu(dusk_call *call)
{
    int nargs = dusk_call_nargs(call);
    int64_t ka, kw, kv = 0, kr, ad[2], wd[2], vd[2], rd[2];
    const double *a = dusk_call_stack(call, 0, &ka, ad);
    const double *w = dusk_call_stack(call, 1, &kw, wd);
    const double *v = nargs == 4 ? dusk_call_stack(call, 2, &kv, vd) : NULL;
    double *r = dusk_call_stack(call, nargs - 1, &kr, rd);
    int64_t n = ad[0];
    if ((nargs != 3 && nargs != 4) || ad[1] != n || wd[0] != n || rd[0] != 2 || kw != ka ||
        kr != ka || (v && (vd[0] != n || vd[1] != n || kv != ka))) {
        dusk_call_fail(call, "verify takes A, w, [V,] r (2 values), K of each");
        return DUSK_EINVAL;
    }
    double *tmp = NULL;
    if (v != NULL && (tmp = malloc((size_t)(n * n) * sizeof *tmp)) == NULL) {
        dusk_call_fail(call, "verify: no memory for a %lld x %lld product", (long long)n,
                       (long long)n);
        return DUSK_ENOMEM;
    }
    for (int64_t k = 0; k < ka; k++)
        if (dusk_call_item_status(call, k) == 0)
            verify_one(a + k * n * n, w + k * n, v ? v + k * n * n : NULL, r + 2 * k, n, tmp);
    free(tmp);
    return 0;
}
