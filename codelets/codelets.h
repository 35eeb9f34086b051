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

/* Copy the lower triangle of a column-major n x n matrix onto its upper one. */
void dusk__symmetrize_lower(double *a, int64_t n);

/* Transpose a square n x n matrix in place. */
void dusk__transpose_square(double *a, int64_t n);

#endif
