#include <string.h>

#include "codelets.h"

/* A stack of K matrices, item k = np.random.rand(rows, cols) after np.random.seed(seeds[k]). */
int dusk__gen_cpu(dusk_call *call)
{
    int64_t count, dims[2];
    size_t size;
    const void *value = dusk_call_value(call, &size);
    double *b = dusk_call_stack(call, 0, &count, dims);
    if (dusk_call_nargs(call) != 1 || value == NULL || size != (size_t)count * sizeof(uint32_t)) {
        dusk_call_fail(call, "gen takes one stack of K matrices and K uint32 seeds");
        return DUSK_EINVAL;
    }
    const int64_t per = dims[0] * dims[1];
    for (int64_t k = 0; k < count; k++) {
        uint32_t seed;
        memcpy(&seed, (const unsigned char *)value + k * (int64_t)sizeof seed, sizeof seed);
        dusk_mt19937_fill(seed, b + k * per, per);
    }
    return 0;
}
