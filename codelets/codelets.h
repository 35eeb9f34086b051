/* The CPU implementations of the built-in kernels (one file each), and the checks of each
 * kernel's arguments that its CPU and CUDA implementations share. */
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

/* A kernel's arguments, checked: 0, or DUSK_EINVAL after dusk_call_fail() says what is wrong.
 * gram: B (m x n) read, A (n x n) written. eigh: A, optionally X, w, and its value.
 * gen_philox: one matrix of `count` values and a uint64 seed. */
int dusk__gram_args(dusk_call *call, const double **b, double **a, int64_t *m, int64_t *n);
int dusk__eigh_args(dusk_call *call, const dusk_eigh_args **args, double **a, double **x,
                    double **w, int64_t *n);
int dusk__philox_args(dusk_call *call, uint64_t *seed, double **b, int64_t *count);

/* cuda_glue.c, in builds whose StarPU has CUDA: the CUDA implementations, and the per-worker
 * cuSOLVER handles and workspaces, made at start-up and freed before StarPU stops. */
int dusk__gen_philox_cuda_call(dusk_call *call);
int dusk__gram_cuda_call(dusk_call *call);
int dusk__eigh_cuda_call(dusk_call *call);
int dusk__cuda_workers_init(void);
void dusk__cuda_workers_fini(void);

#endif
