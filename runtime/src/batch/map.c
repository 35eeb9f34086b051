/* dusk_map_run(): a function of one item over a batch, one task per chunk (dusk_map.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "dusk_map.h"

typedef struct map_run {
    dusk_map_spec spec;
    int nouts;
    int64_t rowlen[DUSK__MAX_OUTPUTS]; /* values per row of each output */
    int64_t rows[DUSK__MAX_OUTPUTS], cols[DUSK__MAX_OUTPUTS];
    int64_t total; /* values of one item's rows, every output */
    dusk_kernel *kernel;
} map_run;

int dusk_map_spec_init(dusk_map_spec *spec)
{
    if (spec == NULL) return DUSK_EINVAL;
    memset(spec, 0, sizeof *spec);
    return 0;
}

/* The item function's task: item by item, its input row in, its rows out. */
static int run_items(const map_run *r, dusk_call *call, int64_t count, double *const *outs)
{
    const dusk_map_spec *s = &r->spec;
    double *row = NULL, *tmp = NULL;
    if (s->xlen > 0 && s->x == NULL && (row = malloc((size_t)s->xlen * sizeof *row)) == NULL)
        return DUSK_ENOMEM;
    if (r->nouts > 1 && (tmp = malloc((size_t)r->total * sizeof *tmp)) == NULL) {
        free(row);
        return DUSK_ENOMEM;
    }
    for (int64_t k = 0; k < count; k++) {
        if (dusk_call_item_status(call, k) != 0) continue;
        int64_t id = dusk_call_item_id(call, k);
        const double *x = NULL;
        if (s->xlen > 0 && s->x != NULL) x = s->x + id * s->xlen;
        if (row != NULL) {
            if (s->read(s->user, id, row) != 0) {
                dusk_call_fail_item(call, k, DUSK_EIO, "cannot read the input row of item %lld",
                                    (long long)id);
                continue;
            }
            x = row;
        }
        double *out = tmp ? tmp : outs[0] + k * r->rowlen[0];
        int rc = s->item(id, x, s->xlen, out, r->total);
        if (rc != 0) {
            dusk_call_fail_item(call, k, DUSK_EKERNEL, "%s returned %d for item %lld", s->name, rc,
                                (long long)id);
            continue;
        }
        if (tmp)
            for (int j = 0, at = 0; j < r->nouts; at += (int)r->rowlen[j], j++)
                memcpy(outs[j] + k * r->rowlen[j], tmp + at, (size_t)r->rowlen[j] * sizeof *tmp);
    }
    free(row);
    free(tmp);
    return 0;
}

static int map_cpu(dusk_call *call)
{
    size_t size;
    const map_run *const *value = dusk_call_value(call, &size);
    if (value == NULL || size != sizeof *value) return DUSK_EINVAL;
    const map_run *r = *value;
    double *outs[DUSK__MAX_OUTPUTS];
    int64_t count = 0, dims[2];
    for (int j = 0; j < r->nouts; j++)
        outs[j] = dusk_call_stack(call, j, &count, dims);
    if (r->spec.item) return run_items(r, call, count, outs);
    int64_t *items = malloc((size_t)(count > 0 ? count : 1) * sizeof *items);
    if (items == NULL) return DUSK_ENOMEM;
    for (int64_t k = 0; k < count; k++)
        items[k] = dusk_call_item_id(call, k);
    int rc = r->spec.chunk(r->spec.user, call, count, items, outs);
    free(items);
    return rc;
}

static int submit_chunk(void *user, dusk_graph *g, dusk_chunk *c)
{
    map_run *r = user;
    int64_t k = dusk_chunk_count(c);
    dusk_data *d[DUSK__MAX_OUTPUTS] = {0};
    dusk_arg args[DUSK__MAX_OUTPUTS];
    int ret = 0;
    for (int j = 0; ret == 0 && j < r->nouts; j++) {
        ret = dusk_stack_new(g, k, r->rows[j], r->cols[j], &d[j]);
        args[j] = (dusk_arg){d[j], DUSK_W};
    }
    dusk_task_opts o;
    (void)dusk_task_opts_init(&o);
    dusk_chunk_task_opts(c, &o);
    o.key = r->spec.name;
    o.flags = DUSK_TASK_COUNTS;
    if (ret == 0) ret = dusk_task_submit(g, r->kernel, args, r->nouts, &r, sizeof r, &o, NULL);
    for (int j = 0; ret == 0 && j < r->nouts; j++)
        ret = dusk_chunk_output(c, j, d[j]);
    for (int j = 0; j < r->nouts; j++)
        dusk_data_release(&d[j]);
    return ret;
}

int dusk_map_run(dusk_batch *b, const dusk_map_spec *spec)
{
    if (b == NULL || spec == NULL || spec->name == NULL ||
        (spec->chunk == NULL) == (spec->item == NULL) || spec->xlen < 0 ||
        (spec->item && spec->xlen > 0 && spec->x == NULL && spec->read == NULL) || b->nouts < 1 ||
        b->nouts > DUSK_MAX_ARGS)
        return DUSK_EINVAL;
    map_run *r = calloc(1, sizeof *r);
    if (r == NULL) return DUSK_ENOMEM;
    r->spec = *spec;
    r->nouts = b->nouts;
    for (int j = 0; j < b->nouts; j++) {
        const dusk__output *o = &b->outs[j];
        r->rowlen[j] = dusk__output_row_values(o);
        r->rows[j] = o->ndim == 0 ? 1 : o->dims[0];
        r->cols[j] = o->ndim == 2 ? o->dims[1] : 0;
        r->total += r->rowlen[j];
    }
    int ret = dusk_kernel_new(spec->name, map_cpu, &r->kernel);
    if (ret == 0) {
        int64_t bytes = spec->item_bytes > 0 ? spec->item_bytes : 8 * (spec->xlen + r->total);
        if (b->item_bytes == 0) b->item_bytes = bytes; /* what the tasks in flight hold */
        ret = dusk_batch_run(b, submit_chunk, r);
    }
    dusk_kernel_free(&r->kernel);
    free(r);
    return ret;
}
