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

/* A kernel's arguments, checked the same for its CPU and CUDA implementations: 0, or
 * DUSK_EINVAL after dusk_call_fail() says what is wrong. Each takes stacks of `count` items.
 * gram: B (m x n each) read, A (n x n) written. eigh: A, optionally X, w (n each), and its
 * value. gen_philox: matrices of `per` values each, and one uint64 seed per item (native
 * order, possibly unaligned: read them with memcpy). */
int dusk__gram_args(dusk_call *call, const double **b, double **a, int64_t *count, int64_t *m,
                    int64_t *n);
int dusk__eigh_args(dusk_call *call, const dusk_eigh_args **args, double **a, double **x,
                    double **w, int64_t *count, int64_t *n);
int dusk__philox_args(dusk_call *call, const unsigned char **seeds, double **b, int64_t *count,
                      int64_t *per);

/* cuda_glue.c, in builds whose StarPU has CUDA: the CUDA implementations, and the per-worker
 * cuSOLVER handles and workspaces, made at start-up and freed before StarPU stops. */
int dusk__gen_philox_cuda_call(dusk_call *call);
int dusk__gram_cuda_call(dusk_call *call);
int dusk__eigh_cuda_call(dusk_call *call);
int dusk__cuda_workers_init(void);
void dusk__cuda_workers_fini(void);

#endif
