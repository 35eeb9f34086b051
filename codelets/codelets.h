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

#endif
