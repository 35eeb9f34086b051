/* dusk_map: a function of one item, run over a batch (dusk_batch.h) by dusk's workers.
 *
 * What dusk.map (Python) runs on: the batch's outputs are declared by the caller as usual
 * (dusk_batch_add_output), and dusk_map_run() does the rest of dusk_batch_run()'s work: one
 * task per chunk of items, on the CPU workers, that fills the chunk's rows of every output
 * and fails items alone. The per-chunk work is either
 *
 *   - a chunk function, called once per task with the chunk's item ids and its output rows
 *     (dusk.map calls into Python there: one call per task, several items), which fails items
 *     alone with dusk_call_fail_item(call, k, ...); or
 *   - an item function with the C signature below (a numba @cfunc, a C function from a shared
 *     library), called once per item with the item's input row, if any.
 *
 * Usage:
 *   dusk_batch_new(...); dusk_batch_add_output(...); ...; dusk_batch_open(b); dusk_init(...);
 *   dusk_map_spec s; dusk_map_spec_init(&s);
 *   s.name = "my_function"; s.item = my_function; s.x = rows; s.xlen = m;
 *   dusk_map_run(b, &s);    (returns what dusk_batch_run() returns)
 */
#ifndef DUSK_MAP_H
#define DUSK_MAP_H

#include "dusk_batch.h"
#include "dusk_kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One item: `x` its input row of `xlen` values (NULL and 0 when the items have no input),
 * `out` the item's rows of the batch's outputs one after another (`outlen` values in all).
 * Returns 0, or nonzero to fail the item (its rows are NaN). Called from the workers, several
 * at once. */
typedef int (*dusk_map_item_fn)(int64_t item, const double *x, int64_t xlen, double *out,
                                int64_t outlen);

/* One chunk: `count` items, ids `items[0..count-1]`; `outs[j]` the chunk's rows of output j
 * (count rows, C order). Fail an item alone with dusk_call_fail_item(call, k, ...); a nonzero
 * return fails the whole task (every item). Called from the workers, several at once. */
typedef int (*dusk_map_chunk_fn)(void *user, dusk_call *call, int64_t count, const int64_t *items,
                                 double *const *outs);

/* An input row for the item function, where the rows are not in memory: 0 or nonzero (the
 * item fails). Called from the workers, several at once. */
typedef int (*dusk_map_read_fn)(void *user, int64_t item, double *row);

typedef struct dusk_map_spec {
    const char *name;        /* the kernel's name (tasks and traces), dusk_kernel_new()'s rules */
    dusk_map_chunk_fn chunk; /* either this, with user */
    void *user;
    dusk_map_item_fn item; /* or this, with the rows: */
    const double *x;       /* item i's row at x + i * xlen (NULL: read, or none) */
    dusk_map_read_fn read; /* or read (with user) */
    int64_t xlen;          /* values per input row (0: none) */
    int64_t item_bytes;    /* for dusk_batch_set_chunk (0: rows' size) */
} dusk_map_spec;

/* Zero the spec. 0, or DUSK_EINVAL for NULL. */
DUSK_NODISCARD int dusk_map_spec_init(dusk_map_spec *spec);

/* Run batch b (opened; after dusk_init()) with spec: exactly one of chunk and item; an item
 * function with xlen > 0 needs x or read. Returns what dusk_batch_run() returns, or
 * DUSK_EINVAL for a bad spec, or dusk_kernel_new()'s error. */
DUSK_NODISCARD int dusk_map_run(dusk_batch *b, const dusk_map_spec *spec);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_MAP_H */
