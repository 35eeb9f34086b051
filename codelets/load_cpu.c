#include <math.h>
#include <stdio.h>

#include "codelets.h"

/* Read item `index` into a (n x n) and check it; 0, or the error with its reason in why. */
static int load_one(const dusk_load_args *args, int64_t index, double *a, int64_t n, char *why,
                    size_t len)
{
    int ret = dusk_input_read_matrix(args->input, index, a);
    if (ret == DUSK_EDATA) {
        snprintf(why, len, "matrix %lld: never written in the HDF5 dataset (chunk not allocated)",
                 (long long)index);
        return ret;
    }
    if (ret != 0) {
        snprintf(why, len, "cannot read matrix %lld: %s", (long long)index, dusk_strerror(ret));
        return ret;
    }
    double amax = 0;
    for (int64_t i = 0; i < n * n; i++) {
        if (!isfinite(a[i])) {
            snprintf(why, len, "matrix %lld has a non-finite value (%g) at [%lld, %lld]",
                     (long long)index, a[i], (long long)(i / n), (long long)(i % n));
            return DUSK_EDATA;
        }
        if (fabs(a[i]) > amax) amax = fabs(a[i]);
    }
    double worst = 0;
    int64_t wi = 0, wj = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            double d = fabs(a[i * n + j] - a[j * n + i]);
            if (d > worst) {
                worst = d;
                wi = i;
                wj = j;
            }
        }
    if (worst > args->symtol * amax) {
        snprintf(why, len,
                 "matrix %lld is not symmetric: |A[%lld, %lld] - A[%lld, %lld]| = %.3g > %.3g * "
                 "max|A|",
                 (long long)index, (long long)wi, (long long)wj, (long long)wj, (long long)wi,
                 worst, args->symtol);
        return DUSK_EDATA;
    }
    return 0;
}

int dusk__load_cpu(dusk_call *call)
{
    int64_t count, ad[2];
    size_t size;
    const dusk_load_args *args = dusk_call_value(call, &size);
    double *a = dusk_call_stack(call, 0, &count, ad);
    if (dusk_call_nargs(call) != 1 || args == NULL || size != sizeof *args || ad[0] != ad[1]) {
        dusk_call_fail(call, "load takes one stack of square matrices and dusk_load_args");
        return DUSK_EINVAL;
    }
    int64_t n = ad[0], step = args->step ? args->step : 1;
    if (args->input == NULL || dusk_input_n(args->input) != n) {
        dusk_call_fail(call, "load: the input's matrices are %lld x %lld, not %lld x %lld",
                       (long long)(args->input ? dusk_input_n(args->input) : 0),
                       (long long)(args->input ? dusk_input_n(args->input) : 0), (long long)n,
                       (long long)n);
        return DUSK_EINVAL;
    }
    for (int64_t k = 0; k < count; k++) {
        char why[256];
        if (dusk_call_item_status(call, k) != 0) continue;
        int ret = load_one(args, args->index + k * step, a + k * n * n, n, why, sizeof why);
        if (ret != 0) dusk_call_fail_item(call, k, ret, "%s", why);
    }
    return 0;
}
