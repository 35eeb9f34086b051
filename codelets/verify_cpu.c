/* Checks of an eigendecomposition, as numbers the caller compares with its tolerances. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "codelets.h"

int dusk__verify_cpu(dusk_call *call)
{
    int nargs = dusk_call_nargs(call);
    int64_t ad[2], wd[2], vd[2], rd[2];
    double *a = dusk_call_data(call, 0, ad);
    double *w = dusk_call_data(call, 1, wd);
    double *v = nargs == 4 ? dusk_call_data(call, 2, vd) : NULL;
    double *r = dusk_call_data(call, nargs - 1, rd);
    int64_t n = ad[0];
    if ((nargs != 3 && nargs != 4) || ad[1] != n || wd[0] != n || rd[0] != 2 ||
        (v && (vd[0] != n || vd[1] != n))) {
        dusk_call_fail(call, "verify takes A, w, [V,] r (2 values)");
        return DUSK_EINVAL;
    }
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
        return 0;
    }

    /* With V in C order read as column-major, U = Vᵀ, and A V - V Λ = (U A - Λ U)ᵀ. */
    double *tmp = malloc((size_t)(n * n) * sizeof *tmp);
    if (tmp == NULL) return DUSK_ENOMEM;
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
    free(tmp);
    return 0;
}
