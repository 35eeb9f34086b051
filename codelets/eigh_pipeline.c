/* The eigh pipeline for one chunk of items (dusk_linalg.h, dusk_eigh_chunk_submit): the tasks
 * that dusk-eigh's chunks and the stack calls (linalg.c) both submit, written once. */
#include <stdint.h>

#include "dusk_kernel.h"
#include "dusk_linalg.h"

/* One step: the chunk's options, with the step's key, priority and flags. */
static int step(dusk_graph *g, const dusk_kernel *k, const char *key, int priority, unsigned flags,
                const dusk_task_opts *opts, const dusk_arg *args, int nargs, const void *value,
                size_t size)
{
    dusk_task_opts o = *opts;
    o.key = key;
    o.priority = priority;
    o.flags = flags;
    return dusk_task_submit(g, k, args, nargs, value, size, &o, NULL);
}

int dusk_eigh_chunk_submit(dusk_graph *g, const dusk_eigh_chunk *c, const dusk_task_opts *opts)
{
    dusk_task_opts defaults;
    if (opts == NULL) {
        (void)dusk_task_opts_init(&defaults);
        opts = &defaults;
    }
    int64_t dims[2];
    if (g == NULL || c == NULL || c->a == NULL || c->w == NULL ||
        (c->seeds != NULL && c->load != NULL) ||
        (c->x.data != NULL && c->x.mode != DUSK_W && c->x.mode != DUSK_SCRATCH) ||
        dusk_data_dims(c->a, dims) != 0)
        return DUSK_EINVAL;
    const int64_t count = dusk_data_count(c->a);
    int ret;
    if (c->seeds != NULL) {
        size_t each = c->philox ? sizeof(uint64_t) : sizeof(uint32_t);
        const dusk_kernel *gen = c->philox ? dusk_kernel_gen_philox() : dusk_kernel_gen();
        dusk_data *b = NULL;
        if ((ret = dusk_stack_new(g, count, dims[0], dims[1], &b)) != 0) return ret;
        dusk_arg gen_args[] = {{b, DUSK_W}}, gram_args[] = {{b, DUSK_R}, {c->a, DUSK_W}};
        if ((ret = step(g, gen, "gen", 0, 0, opts, gen_args, 1, c->seeds, (size_t)count * each)) ==
            0)
            ret = step(g, dusk_kernel_gram(), "gram", 1, 0, opts, gram_args, 2, NULL, 0);
        dusk_data_release(&b); /* freed as soon as gram is done */
        if (ret != 0) return ret;
    } else if (c->load != NULL) {
        dusk_arg args[] = {{c->a, DUSK_W}};
        if ((ret = step(g, dusk_kernel_load(), "load", 1, 0, opts, args, 1, c->load,
                        sizeof *c->load)) != 0)
            return ret;
    }
    /* The CPU eigh copies a kept A into X before LAPACK overwrites it. */
    dusk_arg kept[] = {{c->a, DUSK_R}, c->x, {c->w, DUSK_W}};
    dusk_arg inplace[] = {{c->a, DUSK_RW}, {c->w, DUSK_W}}; /* A becomes the eigenvectors */
    return step(g, dusk_kernel_eigh(), "eigh", 2, opts->flags, opts,
                c->x.data != NULL ? kept : inplace, c->x.data != NULL ? 3 : 2, &c->args,
                sizeof c->args);
}
