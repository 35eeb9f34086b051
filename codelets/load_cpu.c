#include <math.h>

#include "codelets.h"

int dusk__load_cpu(dusk_call *call)
{
    int64_t ad[2];
    size_t size;
    const dusk_load_args *args = dusk_call_value(call, &size);
    double *a = dusk_call_data(call, 0, ad);
    if (dusk_call_nargs(call) != 1 || args == NULL || size != sizeof *args || ad[0] != ad[1]) {
        dusk_call_fail(call, "load takes one square matrix and dusk_load_args");
        return DUSK_EINVAL;
    }
    int64_t n = ad[0];
    if (dusk_input_n(args->input) != n) {
        dusk_call_fail(call, "matrix %lld: the input's matrices are %lld x %lld, not %lld x %lld",
                       (long long)args->index, (long long)dusk_input_n(args->input),
                       (long long)dusk_input_n(args->input), (long long)n, (long long)n);
        return DUSK_EINVAL;
    }
    int ret = dusk_input_read_matrix(args->input, args->index, a);
    if (ret != 0) {
        dusk_call_fail(call, "cannot read matrix %lld: %s", (long long)args->index,
                       dusk_strerror(ret));
        return ret;
    }
    double amax = 0;
    for (int64_t i = 0; i < n * n; i++) {
        if (!isfinite(a[i])) {
            dusk_call_fail(call, "matrix %lld has a non-finite value (%g) at [%lld, %lld]",
                           (long long)args->index, a[i], (long long)(i / n), (long long)(i % n));
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
        dusk_call_fail(call,
                       "matrix %lld is not symmetric: |A[%lld, %lld] - A[%lld, %lld]| = %.3g "
                       "> %.3g * max|A|",
                       (long long)args->index, (long long)wi, (long long)wj, (long long)wj,
                       (long long)wi, worst, args->symtol);
        return DUSK_EDATA;
    }
    return 0;
}
