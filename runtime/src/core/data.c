/* Data objects: matrices, vectors and stacks of a graph, registered with StarPU at their first
 * use, and released when their owner and every read are done with them. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "graph_internal.h"

void dusk__data_unref(dusk_data *d)
{
    if (atomic_fetch_sub(&d->refs, 1) == 1) {
        free(d->item_status);
        free(d);
    }
}

static int data_new(dusk_graph *g, int kind, int64_t count, int64_t rows, int64_t cols,
                    double *wrap, dusk_data **out)
{
    if (out == NULL) return DUSK_EINVAL;
    *out = NULL;
    if (!dusk__graph_ok(g)) return DUSK_EINVAL;
    if (!dusk__started) return DUSK_ESTATE;
    /* StarPU describes a matrix with 32-bit sizes; a stack is count * rows rows of it */
    if (count < 1 || rows < 1 || cols < 1 || rows > INT32_MAX || cols > INT32_MAX ||
        count > INT32_MAX / rows || rows * count > INT64_MAX / 8 / cols)
        return DUSK_EINVAL;
    dusk_data *d = calloc(1, sizeof *d);
    if (d == NULL) return DUSK_ENOMEM;
    if (count > 1 && (d->item_status = calloc((size_t)count, 1)) == NULL) {
        free(d);
        return DUSK_ENOMEM;
    }
    d->g = g;
    d->last_writer = -1;
    d->kind = kind;
    d->count = count;
    d->dims[0] = rows;
    d->dims[1] = cols;
    d->wrap = wrap;
    d->written = wrap != NULL;
    atomic_init(&d->refs, 1);
    atomic_init(&d->holds, 1);
    atomic_init(&d->failed, 0);
    d->writer_id = -1;
    if (g->local) d->owner = dusk_rank();
    g->has_data = 1;
    /* Registered with StarPU only when first used (handed over): a StarPU handle costs about
     * 4.5 KB, which a held graph would otherwise pay for every data object it records. */
    *out = d;
    return 0;
}

/* Register d with StarPU (and StarPU-MPI) if it is not yet: at its first hand-over to StarPU,
 * from the submitting thread. */
starpu_data_handle_t dusk__data_handle(dusk_data *d)
{
    if (d->handle != NULL) return d->handle;
    /* Home node -1: StarPU allocates the buffer where the first writer runs; a wrap lives in
     * main memory. C order is StarPU's column-major with the roles of nx and ny swapped, and a
     * stack is count * rows rows. */
    int home = d->wrap ? STARPU_MAIN_RAM : -1;
    uintptr_t ptr = (uintptr_t)d->wrap;
    uint32_t rows = (uint32_t)(d->dims[0] * d->count), cols = (uint32_t)d->dims[1];
    if (d->kind == DUSK__MATRIX)
        starpu_matrix_data_register(&d->handle, home, ptr, cols, cols, rows, sizeof(double));
    else
        starpu_vector_data_register(&d->handle, home, ptr, rows, sizeof(double));
    if (dusk__mpi_graph(d->g)) dusk__mpi_data_register(d); /* owned by rank 0 unless set */
    return d->handle;
}

int dusk_matrix_new(dusk_graph *g, int64_t rows, int64_t cols, dusk_data **out)
{
    return data_new(g, DUSK__MATRIX, 1, rows, cols, NULL, out);
}

int dusk_vector_new(dusk_graph *g, int64_t n, dusk_data **out)
{
    return data_new(g, DUSK__VECTOR, 1, n, 1, NULL, out);
}

int dusk_stack_new(dusk_graph *g, int64_t count, int64_t rows, int64_t cols, dusk_data **out)
{
    if (cols < 0) return out ? (*out = NULL, DUSK_EINVAL) : DUSK_EINVAL;
    return data_new(g, cols ? DUSK__MATRIX : DUSK__VECTOR, count, rows, cols ? cols : 1, NULL, out);
}

int dusk_stack_wrap(dusk_graph *g, double *values, int64_t count, int64_t rows, int64_t cols,
                    dusk_data **out)
{
    if (values == NULL || cols < 0) return out ? (*out = NULL, DUSK_EINVAL) : DUSK_EINVAL;
    return data_new(g, cols ? DUSK__MATRIX : DUSK__VECTOR, count, rows, cols ? cols : 1, values,
                    out);
}

int64_t dusk_data_count(const dusk_data *d)
{
    return d != NULL ? d->count : 0;
}

int dusk_data_dims(const dusk_data *d, int64_t dims[2])
{
    if (dims == NULL) return DUSK_EINVAL;
    dims[0] = d ? d->dims[0] : 0;
    dims[1] = d ? d->dims[1] : 0;
    return d ? 0 : DUSK_EINVAL;
}

int dusk_data_item_status(const dusk_data *d, int64_t k)
{
    if (d == NULL || k < 0 || k >= d->count) return DUSK_EINVAL;
    int whole = atomic_load(&((dusk_data *)d)->failed);
    if (d->count == 1 || whole != 0) return whole;
    return d->item_status[k];
}

int dusk_data_set_owner(dusk_data *d, int rank)
{
    if (d == NULL || rank < 0 || rank >= dusk_rank_count() || d->used) return DUSK_EINVAL;
    if (d->g->local) return rank == dusk_rank() ? 0 : DUSK_EINVAL;
    dusk__mpi_data_set_owner(d, rank);
    return 0;
}

int dusk_data_owner(const dusk_data *d)
{
    return d != NULL ? d->owner : 0;
}

/* A wrap's values are the caller's: before StarPU forgets the handle, the last valid copy is
 * brought home (from a GPU), which unregister_submit would not do. Counted in flight, so that
 * dusk_graph_wait() returns once the caller's memory holds the results. */
static void wrap_home(void *arg)
{
    dusk_data *d = arg;
    dusk_graph *g = d->g;
    starpu_data_release_on_node(d->handle, STARPU_MAIN_RAM);
    starpu_data_unregister_submit(d->handle);
    pthread_mutex_lock(&g->lock);
    dusk__leave_window(g, 0);
    pthread_mutex_unlock(&g->lock);
    dusk__data_unref(d);
}

/* Drop one hold on d's handle (the owner's, or a finished read's); the last unregisters it.
 * Unregistering while a read (starpu_data_acquire_cb) is still queued on the handle works,
 * but StarPU 1.3 then keeps about 48 bytes per read until it shuts down: millions of reads
 * would grow without bound. So a handle with reads in flight is unregistered by the last
 * of them, once released. */
void dusk__drop_hold(dusk_data *d)
{
    /* a handle never handed to StarPU was never registered (dusk__data_handle); after
     * dusk_shutdown() StarPU has forgotten them all */
    if (atomic_fetch_sub(&d->holds, 1) != 1 || d->handle == NULL || !dusk__started) return;
    if (d->wrap == NULL) {
        starpu_data_unregister_submit(d->handle);
        return;
    }
    dusk_graph *g = d->g;
    pthread_mutex_lock(&g->lock);
    g->in_flight++; /* not through the window: this may run on a StarPU thread */
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_add(&d->refs, 1);
    if (starpu_data_acquire_on_node_cb(d->handle, STARPU_MAIN_RAM, STARPU_R, wrap_home, d) != 0) {
        starpu_data_unregister_submit(d->handle);
        pthread_mutex_lock(&g->lock);
        dusk__leave_window(g, 0);
        pthread_mutex_unlock(&g->lock);
        dusk__data_unref(d);
    }
}

void dusk__release_now(dusk_data *d)
{
    dusk__drop_hold(d);
    dusk__data_unref(d);
}

void dusk_data_release(dusk_data **d)
{
    if (d == NULL || *d == NULL) return;
    dusk_data *x = *d;
    *d = NULL;
    if (!x->g->held) {
        dusk__release_now(x);
        return;
    }
    /* Held: released after the operations recorded before it. When even that cannot be
     * recorded (out of memory), the data is never released rather than go ahead of the
     * tasks that use it. */
    (void)dusk__hold_op(x->g, OP_RELEASE, x); /* on failure it leaks, deliberately */
}
