#include <string.h>

#include "codelets.h"

int dusk__gen_cpu(dusk_call *call)
{
    int64_t dims[2];
    size_t size;
    const void *value = dusk_call_value(call, &size);
    double *b = dusk_call_data(call, 0, dims);
    uint32_t seed;
    if (dusk_call_nargs(call) != 1 || value == NULL || size != sizeof seed) {
        dusk_call_fail(call, "gen takes one matrix and a uint32 seed");
        return DUSK_EINVAL;
    }
    memcpy(&seed, value, sizeof seed);
    dusk_mt19937_fill(seed, b, dims[0] * dims[1]);
    return 0;
}
