/* The writer thread: a chunk's rows go into the output files (or the caller's memory) as its
 * tasks finish, off StarPU's workers, through a queue of held reads; an item is done, and
 * marked in the manifest, once every output's rows of it are written. And the chunk's calls
 * (dusk_batch.h, "a chunk"), and the graph's observer. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"

typedef struct dusk__batch_job {
    struct dusk__batch_job *next;
    dusk_chunk *c;
    int o;
    dusk_read *r;
} job;

static int64_t item_id(const dusk_chunk *c, int64_t k)
{
    return c->first + k * c->step;
}

/* Everything written for the chunk: its items done, those that are. */
void dusk__batch_chunk_release(dusk_chunk *c)
{
    if (atomic_fetch_sub(&c->pending, 1) != 1) return;
    dusk_batch *b = c->b;
    int64_t good = 0, failed = 0;
    for (int64_t k = 0; k < c->count; k++) {
        failed += c->failed[k];
        if (c->bad[k]) continue;
        if (b->manifest) dusk_manifest_mark_done(b->manifest, item_id(c, k));
        good++;
    }
    if (b->stored) { /* else counted as tasks finish */
        atomic_fetch_add(&b->saved, good);
        atomic_fetch_add(&b->failed, failed);
    }
    free(c->bad);
    free(c->failed);
    free(c);
}

/* Items k0 .. k1-1 of the chunk, alike: one write, of their values or NaN. Their rows are
 * consecutive in the output, or (a cyclic distribution) step rows apart, the other ranks'
 * rows in between: the format writes them all at once either way. */
static void write_run(dusk_batch *b, dusk_chunk *c, int o, int64_t k0, int64_t k1,
                      const double *values)
{
    int64_t row = dusk__output_row_values(&b->outs[o]);
    const double *src = values ? values + k0 * row : NULL;
    if (b->memory[o] != NULL) {
        for (int64_t k = k0; k < k1; k++) {
            double *dst = b->memory[o] + item_id(c, k) * row;
            if (src)
                memcpy(dst, src + (k - k0) * row, (size_t)row * sizeof *dst);
            else
                for (int64_t j = 0; j < row; j++)
                    dst[j] = NAN;
        }
        return;
    }
    if (b->files == NULL) return;
    int ret = b->fmt->write(b->files, o, item_id(c, k0), c->step, k1 - k0, src);
    if (ret != 0) {
        int expected = 0;
        atomic_compare_exchange_strong(&b->io_error, &expected, errno ? errno : EIO);
        for (int64_t k = k0; k < k1; k++)
            c->bad[k] = 1;
        dusk_graph_cancel(b->g); /* a disk that is full stays full: stop, resumable */
    }
}

static void write_job(dusk_batch *b, job *j)
{
    dusk_chunk *c = j->c;
    int status = dusk_read_status(j->r);
    int64_t count, dims[2];
    const double *values = dusk_read_values(j->r, &count, dims);
    if (status == DUSK_ECANCELED) {
        /* a cancelled task is simply not done: its rows stay as they are */
        for (int64_t k = 0; k < c->count; k++)
            c->bad[k] = 1;
    } else {
        /* runs of items alike (computed, or failed: NaN) in one write each */
        for (int64_t k0 = 0; k0 < c->count;) {
            int failed = dusk_read_item_status(j->r, k0) != 0;
            int64_t k1 = k0 + 1;
            while (k1 < c->count && (dusk_read_item_status(j->r, k1) != 0) == failed)
                k1++;
            write_run(b, c, j->o, k0, k1, failed ? NULL : values);
            if (failed)
                for (int64_t k = k0; k < k1; k++)
                    c->bad[k] = c->failed[k] = 1;
            k0 = k1;
        }
    }
    dusk_read_done(&j->r);
    dusk__batch_chunk_release(c);
    free(j);
    dusk__batch_progress(b, 0);
}

static void *writer_main(void *arg)
{
    dusk_batch *b = arg;
    pthread_mutex_lock(&b->qlock);
    for (;;) {
        while (b->qhead == NULL && !b->qstop)
            pthread_cond_wait(&b->qcond, &b->qlock);
        job *j = b->qhead;
        if (j == NULL) break; /* stopping, and nothing left */
        b->qhead = j->next;
        if (b->qhead == NULL) b->qtail = &b->qhead;
        pthread_mutex_unlock(&b->qlock);
        write_job(b, j);
        pthread_mutex_lock(&b->qlock);
    }
    pthread_mutex_unlock(&b->qlock);
    return NULL;
}

int dusk__batch_writer_start(dusk_batch *b)
{
    if (pthread_create(&b->writer, NULL, writer_main, b) != 0) return DUSK_ENOMEM;
    b->writer_on = 1;
    return 0;
}

/* The held reads are done once the graph is: the queue is empty, or about to be. */
void dusk__batch_writer_stop(dusk_batch *b)
{
    if (!b->writer_on) return;
    pthread_mutex_lock(&b->qlock);
    b->qstop = 1;
    pthread_cond_signal(&b->qcond);
    pthread_mutex_unlock(&b->qlock);
    pthread_join(b->writer, NULL);
    b->writer_on = 0;
}

/* On a StarPU thread: hand the held rows to the writer. */
static void on_rows(void *user, dusk_read *r)
{
    job *j = user;
    dusk_batch *b = j->c->b;
    j->r = r;
    pthread_mutex_lock(&b->qlock);
    *b->qtail = j;
    b->qtail = &j->next;
    pthread_cond_signal(&b->qcond);
    pthread_mutex_unlock(&b->qlock);
}

/* ---- a chunk ----------------------------------------------------------------------------------
 */

int64_t dusk_chunk_count(const dusk_chunk *c)
{
    return c ? c->count : 0;
}

int64_t dusk_chunk_item(const dusk_chunk *c, int64_t k)
{
    return c && k >= 0 && k < c->count ? item_id(c, k) : -1;
}

int64_t dusk_chunk_step(const dusk_chunk *c)
{
    return c ? c->step : 0;
}

void dusk_chunk_task_opts(const dusk_chunk *c, dusk_task_opts *opts)
{
    if (c == NULL || opts == NULL) return;
    opts->item_first = c->first;
    opts->item_count = c->count;
    opts->item_step = c->step;
}

int dusk_chunk_output(dusk_chunk *c, int index, dusk_data *d)
{
    if (c == NULL || d == NULL || index < 0 || index >= c->b->nouts || (c->named >> index) & 1)
        return DUSK_EINVAL;
    dusk_batch *b = c->b;
    int64_t dims[2];
    const dusk__output *o = &b->outs[index];
    if (dusk_data_count(d) != c->count || dusk_data_dims(d, dims) != 0 ||
        dims[0] * dims[1] != dusk__output_row_values(o) ||
        (o->ndim == 2 && (dims[0] != o->dims[0] || dims[1] != o->dims[1]))) {
        /* a mistake of the program's: say which, once */
        dusk__batch_error(b, DUSK_EINVAL,
                          "output %s: the data given holds %lld items of %lld x %lld, where %lld "
                          "rows of %lld values each were declared",
                          o->name, (long long)dusk_data_count(d), (long long)dims[0],
                          (long long)dims[1], (long long)c->count,
                          (long long)dusk__output_row_values(o));
        return DUSK_EINVAL;
    }
    c->named |= 1u << index;
    if (b->files == NULL && b->memory[index] == NULL) return 0; /* nowhere to keep it */
    job *j = calloc(1, sizeof *j);
    if (j == NULL) return DUSK_ENOMEM;
    j->c = c;
    j->o = index;
    atomic_fetch_add(&c->pending, 1);
    int ret = dusk_data_read_hold(d, on_rows, j);
    if (ret != 0) {
        free(j);
        for (int64_t k = 0; k < c->count; k++)
            c->bad[k] = 1;
        atomic_fetch_sub(&c->pending, 1);
    }
    return ret;
}

/* ---- observing the graph: chunk sizes, and progress without outputs ----------------------- */

void dusk__batch_observe(void *user, const dusk_task_event *ev)
{
    dusk_batch *b = user;
    if (ev->kind != DUSK_EVENT_FINISH) return;
    if (ev->worker >= 0 && ev->end > ev->start && ev->status == 0)
        dusk_chunker_add(b->chunker, ev->items, ev->end - ev->start);
    if (!b->stored && (ev->flags & DUSK_TASK_COUNTS) && ev->status != DUSK_ECANCELED) {
        int64_t done = ev->items - ev->items_failed;
        if (ev->status == 0 && done > 0) atomic_fetch_add(&b->saved, done);
        atomic_fetch_add(&b->failed, ev->status == 0 ? ev->items_failed : ev->items);
    }
}
