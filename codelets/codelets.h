/* The CPU implementations of the built-in kernels (one file each). */
#ifndef DUSK_CODELETS_H
#define DUSK_CODELETS_H

#include "dusk_kernel.h"
#include "dusk_linalg.h"

int dusk__gen_cpu(dusk_call *call);
int dusk__gram_cpu(dusk_call *call);
int dusk__eigh_cpu(dusk_call *call);
int dusk__verify_cpu(dusk_call *call);
int dusk__load_cpu(dusk_call *call);
int dusk__gen_philox_cpu(dusk_call *call);

/* cuda_glue.c, in builds whose StarPU has CUDA: the CUDA implementations, and the per-worker
 * cuSOLVER handles and workspaces, made at start-up and freed before StarPU stops. */
int dusk__gen_philox_cuda_call(dusk_call *call);
int dusk__gram_cuda_call(dusk_call *call);
int dusk__eigh_cuda_call(dusk_call *call);
int dusk__cuda_workers_init(void);
void dusk__cuda_workers_fini(void);

#endif
