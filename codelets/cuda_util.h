/* What the .cu files share: error mapping and reasons. Private to codelets/. */
#ifndef DUSK_CUDA_UTIL_H
#define DUSK_CUDA_UTIL_H

#include <stdio.h>

#include <cuda_runtime_api.h>

#include "dusk.h"

/* Record why a CUDA runtime call failed, and the dusk code for it. */
static inline int dusk__cuda_fail(cudaError_t e, const char *what, char *why, size_t whylen)
{
    if (why != NULL) snprintf(why, whylen, "%s: %s", what, cudaGetErrorString(e));
    return e == cudaErrorMemoryAllocation ? DUSK_ENOMEM : DUSK_ENODEV;
}

static inline int dusk__cuda_blocks(int64_t count, int threads)
{
    return (int)((count + threads - 1) / threads);
}

#endif
