/* Reads: a data object's values handed to a callback once the tasks that write it are done
 * (dusk_data_read, dusk_data_read_at, dusk_data_read_hold), on the rank asked for. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "graph_internal.h"

/* A read (dusk_data_read, dusk_data_read_at, dusk_data_read_hold): also the ticket of a held
 * read. */
struct dusk_read {
    dusk_graph *g;
    dusk_data *d;
    dusk_read_fn fn;
    dusk_read_hold_fn hold_fn;
    void *user;
    int at;       /* the rank fn runs on, or DUSK_OWNER */
    int acquired; /* StarPU gave the data (read_finish gives it back) */
    int status;   /* for a held read */
    const double *values;
};

/* The data is fetched; give it back to StarPU and count the read done. */
static void read_finish(dusk_read *r)
{
    starpu_data_release(r->d->handle);
    dusk__drop_hold(r->d);
    pthread_mutex_lock(&r->g->lock);
    dusk__leave_window(r->g, dusk__data_bytes(r->d));
    pthread_mutex_unlock(&r->g->lock);
    dusk__data_unref(r->d);
    free(r);
}

static void read_ready(void *arg)
{
    dusk_read *r = arg;
    const double *p = starpu_data_handle_to_pointer(r->d->handle, STARPU_MAIN_RAM);
    r->acquired = 1;
    r->status = atomic_load(&r->d->failed);
    r->values = r->status == 0 ? p : NULL;
    if (r->hold_fn != NULL) {
        r->hold_fn(r->user, r); /* finished by dusk_read_done() */
        return;
    }
    int64_t dims[2] = {r->d->dims[0] * r->d->count, r->d->dims[1]};
    r->fn(r->user, r->status, p, dims);
    read_finish(r);
}

/* The read's callback, told that the read could not be made. */
static void read_refused(dusk_read *r, int status)
{
    int64_t dims[2] = {r->d->dims[0] * r->d->count, r->d->dims[1]};
    r->status = status;
    r->values = NULL;
    if (r->hold_fn != NULL) {
        r->hold_fn(r->user, r); /* the caller's dusk_read_done() frees it */
        return;
    }
    r->fn(r->user, status, NULL, dims);
}

int dusk__read_now(dusk_read *r)
{
    dusk_graph *g = r->g;
    (void)dusk__data_handle(r->d); /* on every rank, so that StarPU-MPI's tags agree */
    if (dusk__mpi_graph(g)) {
        /* Several ranks: the owner sends d to the reading rank (StarPU-MPI orders the send
         * after the last write, and the acquire below after the receive); ranks that
         * neither own nor read it have nothing to do. */
        int me = dusk_rank(), at = r->at == DUSK_OWNER ? r->d->owner : r->at;
        if (at != r->d->owner && (me == at || me == r->d->owner)) dusk__mpi_send_to(r->d, at);
        if (me != at) {
            dusk__data_unref(r->d);
            free(r);
            return 0;
        }
    }
    if (!dusk__produced(r->d) && !dusk__mpi_graph(g)) {
        /* every task that was to write it was refused before it ran: StarPU has no values to
         * give (it would assert), and the read hears of the failure at once */
        int failed = atomic_load(&r->d->failed);
        dusk__read_failed(r, failed ? failed : DUSK_EDEP);
        return 0;
    }
    pthread_mutex_lock(&g->lock);
    dusk__enter_window(g, dusk__data_bytes(r->d));
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_add(&r->d->holds, 1); /* the owner's hold is still there: see dusk__drop_hold */
    int ret = starpu_data_acquire_cb(r->d->handle, STARPU_R, read_ready, r);
    if (ret != 0) {
        dusk__drop_hold(r->d);
        pthread_mutex_lock(&g->lock);
        dusk__leave_window(g, dusk__data_bytes(r->d));
        pthread_mutex_unlock(&g->lock);
        return DUSK_ESTARPU;
    }
    return 0;
}

/* A read that failed to start, after dusk__read_now(): the caller's callback hears of it, so that
 * what waits for it (a count, a file's row) does not wait forever. */
void dusk__read_failed(dusk_read *r, int status)
{
    int held = r->hold_fn != NULL;
    dusk_data *d = r->d;
    read_refused(r, status);
    if (held) return; /* dusk_read_done() ends it */
    free(r);
    dusk__data_unref(d);
}

static int read_start(dusk_data *d, int rank, dusk_read_fn fn, dusk_read_hold_fn hold_fn,
                      void *user)
{
    if (d == NULL || !dusk__graph_ok(d->g) || (fn == NULL && hold_fn == NULL) ||
        rank < DUSK_OWNER || rank >= dusk_rank_count())
        return DUSK_EINVAL;
    if (!dusk__started) return DUSK_ESTATE;
    /* StarPU asserts on a handle that no task ever initialised */
    if (!d->written) return DUSK_EINVAL;
    dusk_read *r = calloc(1, sizeof *r);
    if (r == NULL) return DUSK_ENOMEM;
    *r = (dusk_read){.g = d->g, .d = d, .fn = fn, .hold_fn = hold_fn, .user = user, .at = rank};
    d->used = 1;
    atomic_fetch_add(&d->refs, 1);
    if (d->g->held) {
        if (dusk__hold_op(d->g, OP_READ, r) == 0) return 0;
        dusk__data_unref(d);
        free(r);
        return DUSK_ENOMEM;
    }
    int ret = dusk__read_now(r);
    if (ret != 0) { /* refused at the call: fn is never called */
        dusk__data_unref(d);
        free(r);
    }
    return ret;
}

int dusk_data_read_at(dusk_data *d, int rank, dusk_read_fn fn, void *user)
{
    if (fn == NULL) return DUSK_EINVAL;
    return read_start(d, rank, fn, NULL, user);
}

int dusk_data_read(dusk_data *d, dusk_read_fn fn, void *user)
{
    return dusk_data_read_at(d, DUSK_OWNER, fn, user);
}

int dusk_data_read_hold(dusk_data *d, dusk_read_hold_fn fn, void *user)
{
    if (fn == NULL) return DUSK_EINVAL;
    return read_start(d, DUSK_OWNER, NULL, fn, user);
}

int dusk_read_status(const dusk_read *r)
{
    return r != NULL ? r->status : DUSK_EINVAL;
}

const double *dusk_read_values(const dusk_read *r, int64_t *count, int64_t dims[2])
{
    if (count) *count = r ? r->d->count : 0;
    if (dims) {
        dims[0] = r ? r->d->dims[0] : 0;
        dims[1] = r ? r->d->dims[1] : 0;
    }
    return r ? r->values : NULL;
}

int dusk_read_item_status(const dusk_read *r, int64_t k)
{
    if (r == NULL) return DUSK_EINVAL;
    if (r->status != 0) return r->status;
    return dusk_data_item_status(r->d, k);
}

void dusk_read_done(dusk_read **pr)
{
    if (pr == NULL || *pr == NULL) return;
    dusk_read *r = *pr;
    *pr = NULL;
    if (!r->acquired) { /* it failed before StarPU gave the data */
        dusk__data_unref(r->d);
        free(r);
        return;
    }
    read_finish(r);
}
