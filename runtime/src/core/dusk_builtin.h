/* What the core offers the built-in kernels (codelets/) beyond its public API (dusk.h,
 * dusk_kernel.h): this, and nothing of StarPU or of the core's insides (dusk_internal.h).
 * Private. Defined in core/kernel.c. */
#ifndef DUSK_BUILTIN_H
#define DUSK_BUILTIN_H

#include "dusk_kernel.h"

/* dusk_kernel_new() for the built-in kernels, whose names start with "dusk_": a prefix that
 * dusk_kernel_name_check() refuses to users' kernels, so that theirs never take these names.
 * Returns and ownership as dusk_kernel_new(). */
int dusk__kernel_new_builtin(const char *name, dusk_kernel_fn cpu, dusk_kernel **out);

#endif
