#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codelets.h"

void dusk_square_transpose(double *a, int64_t n)
{
    const int64_t bs = 64;
    for (int64_t ii = 0; ii < n; ii += bs)
        for (int64_t jj = ii; jj < n; jj += bs)
            for (int64_t i = ii; i < ii + bs && i < n; i++)
                for (int64_t j = jj > i + 1 ? jj : i + 1; j < jj + bs && j < n; j++) {
                    double t = a[i * n + j];
                    a[i * n + j] = a[j * n + i];
                    a[j * n + i] = t;
                }
}

int dusk__eigh_args(dusk_call *call, const dusk_eigh_args **args, double **a, double **x,
                    double **w, int64_t *count, int64_t *n)
{
    int nargs = dusk_call_nargs(call);
    int64_t kx, kw, ad[2], xd[2], wd[2];
    size_t size;
    *args = dusk_call_value(call, &size);
    if ((nargs != 2 && nargs != 3) || *args == NULL || size != sizeof **args) {
        dusk_call_fail(call, "eigh takes A, [X,] w and dusk_eigh_args");
        return DUSK_EINVAL;
    }
    *a = dusk_call_stack(call, 0, count, ad);
    *x = nargs == 3 ? dusk_call_stack(call, 1, &kx, xd) : *a;
    *w = dusk_call_stack(call, nargs - 1, &kw, wd);
    *n = ad[0];
    if (ad[1] != *n || wd[0] != *n || kw != *count ||
        (nargs == 3 && (xd[0] != *n || xd[1] != *n || kx != *count))) {
        dusk_call_fail(call, "eigh: A must be square, X and w of its size, as many of each");
        return DUSK_EINVAL;
    }
    return 0;
}

/* The eigendecomposition of one matrix a (n x n, C order, symmetric: its C-order lower
 * triangle is read, or the upper one with `upper`) into w and, with vectors, x (which may be
 * a); 0 or the error, with the reason in why. */
static int eigh_one(const double *a, double *x, double *w, int64_t n, int vectors, int upper,
                    char *why, size_t len)
{
    for (int64_t i = 0; i < n * n; i++)
        if (!isfinite(a[i])) {
            snprintf(why, len, "matrix has a non-finite value (%g) at [%lld, %lld]", a[i],
                     (long long)(i / n), (long long)(i % n));
            return DUSK_EDATA;
        }
    if (x != a) memcpy(x, a, (size_t)(n * n) * sizeof *x);
    /* Column-major 'U' is the C-order lower triangle: the one numpy.linalg.eigh reads by
     * default (UPLO='L'), so nearly-symmetric inputs give NumPy's answer; 'L' is the C-order
     * upper one (UPLO='U'). */
    lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, vectors ? 'V' : 'N', upper ? 'L' : 'U',
                                     (lapack_int)n, x, (lapack_int)n, w);
    if (info != 0) {
        snprintf(why, len, "dsyevd failed (info = %d)", (int)info);
        if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
            return DUSK_ENOMEM;
        return info < 0 ? DUSK_EINVAL : DUSK_ENUMERIC;
    }
    /* dsyevd leaves eigenvector j in column j, column-major; NumPy wants it in column j of a
     * C-order matrix. */
    if (vectors) dusk_square_transpose(x, n);
    return 0;
}

int dusk__eigh_cpu(dusk_call *call)
{
    const dusk_eigh_args *args;
    double *a, *x, *w;
    int64_t ka, n;
    int ret = dusk__eigh_args(call, &args, &a, &x, &w, &ka, &n);
    if (ret != 0) return ret;
    if (args->vectors && n > DUSK_EIGH_MAX_N) {
        dusk_call_fail(call,
                       "n = %lld is over %d, the largest n whose eigenvectors LAPACK's 32-bit "
                       "workspace (2n² + 6n + 1 values) can hold",
                       (long long)n, DUSK_EIGH_MAX_N);
        return DUSK_EINVAL;
    }
    for (int64_t k = 0; k < ka; k++) {
        char why[200];
        if (dusk_call_item_status(call, k) != 0) continue;
        ret = eigh_one(a + k * n * n, x + k * n * n, w + k * n, n, args->vectors, args->upper, why,
                       sizeof why);
        if (ret != 0) dusk_call_fail_item(call, k, ret, "%s", why);
    }
    return 0;
}
