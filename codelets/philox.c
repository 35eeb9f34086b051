/* The CPU side of the Philox generator; the algorithm is in philox.h, shared with CUDA. */
#include <string.h>

#include "codelets.h"
#include "philox.h"

void dusk_philox_fill(uint64_t seed, double *out, int64_t count)
{
    double pair[2];
    int64_t i = 0;
    for (; i + 1 < count; i += 2)
        dusk__philox_block(seed, (uint64_t)i / 2, &out[i]);
    if (i < count) {
        dusk__philox_block(seed, (uint64_t)i / 2, pair);
        out[i] = pair[0];
    }
}

void dusk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    dusk__philox4x32 c = {{ctr[0], ctr[1], ctr[2], ctr[3]}};
    dusk__philox4x32 x = dusk__philox4x32_10(c, key[0], key[1]);
    for (int i = 0; i < 4; i++)
        out[i] = x.v[i];
}

int dusk__philox_args(dusk_call *call, const unsigned char **seeds, double **b, int64_t *count,
                      int64_t *per)
{
    int64_t dims[2];
    size_t size;
    *seeds = dusk_call_value(call, &size);
    *b = dusk_call_stack(call, 0, count, dims);
    *per = dims[0] * dims[1];
    if (dusk_call_nargs(call) != 1 || *seeds == NULL || size != (size_t)*count * sizeof(uint64_t)) {
        dusk_call_fail(call, "gen_philox takes one stack of K matrices and K uint64 seeds");
        return DUSK_EINVAL;
    }
    return 0;
}

int dusk__gen_philox_cpu(dusk_call *call)
{
    const unsigned char *seeds;
    double *b;
    int64_t count, per;
    int ret = dusk__philox_args(call, &seeds, &b, &count, &per);
    if (ret != 0) return ret;
    for (int64_t k = 0; k < count; k++) {
        uint64_t seed;
        memcpy(&seed, seeds + k * (int64_t)sizeof seed, sizeof seed);
        dusk_philox_fill(seed, b + k * per, per);
    }
    return 0;
}
