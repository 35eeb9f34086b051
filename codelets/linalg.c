/* Whole stacks in one call (dusk_linalg.h): dusk_eigh_stack over the caller's matrices and
 * dusk_eigh_generated over the tutorial's, each a rank-local graph of chunks of items. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk_chunker.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"
#include "dusk_progress.h"
#include "io.h"

int dusk_eigh_opts_init(dusk_eigh_opts *opts)
{
    if (opts == NULL) return DUSK_EINVAL;
    memset(opts, 0, sizeof *opts);
    opts->uplo = 'L';
    return 0;
}

/* One call: what its chunks are made of, and what its observer collects. */
typedef struct job {
    const double *a; /* dusk_eigh_stack: the caller's matrices; NULL: generated */
    uint32_t seed;   /* dusk_eigh_generated: matrix i is made from seed + i */
    int64_t count, n;
    double *w, *v;
    int *status; /* the caller's, or the job's own */
    dusk_eigh_args ea;
    const dusk_kernel *eigh; /* the last task of each chunk: its end is its items' */
    int retries, where;
    dusk_chunker *chunker;
    /* touched by the observer, on StarPU's threads: */
    pthread_mutex_t lock;
    dusk_progress *bar;
    int64_t done;
} job;

/* Every task's end: its kernel time feeds the chunk sizer; an eigh task (the last of its chunk)
 * advances the bar, and one that did not run or failed as a whole (cancelled, or every item
 * skipped) gives its items its status, which the item failures refine once the graph is done. */
static void observe(void *user, const dusk_task_event *ev)
{
    job *j = user;
    if (ev->kind != DUSK_EVENT_FINISH) return;
    if (ev->status == 0 && ev->start > 0 && ev->end >= ev->start)
        dusk_chunker_add(j->chunker, ev->items, ev->end - ev->start);
    if (strcmp(ev->kernel, dusk_kernel_name(j->eigh)) != 0) return;
    pthread_mutex_lock(&j->lock);
    if (ev->status != 0)
        for (int64_t k = 0; k < ev->item_count; k++)
            if (j->status[ev->item_first + k] == 0) j->status[ev->item_first + k] = ev->status;
    j->done += ev->item_count;
    dusk_progress_draw(j->bar, j->done, 0);
    pthread_mutex_unlock(&j->lock);
}

/* Matrices first .. first + k - 1 of the job, as one chunk of the eigh pipeline, wrapping the
 * caller's memory where it is the input or an output. */
static int submit_chunk(dusk_graph *g, job *j, int64_t first, int64_t k)
{
    const int64_t n = j->n, nn = n * n;
    dusk_data *a = NULL, *x = NULL, *w = NULL;
    uint32_t *seeds = NULL;
    int ret = dusk_stack_wrap(g, j->w + first * n, k, n, 0, &w);
    if (ret == 0 && j->v != NULL) ret = dusk_stack_wrap(g, j->v + first * nn, k, n, n, &x);
    if (ret != 0) goto out;
    if (j->a != NULL) {
        /* read only: the kernel copies A into X before LAPACK overwrites it */
        if ((ret = dusk_stack_wrap(g, (double *)(j->a + first * nn), k, n, n, &a)) != 0 ||
            (x == NULL && (ret = dusk_stack_new(g, k, n, n, &x)) != 0))
            goto out;
    } else {
        if ((seeds = malloc((size_t)k * sizeof *seeds)) == NULL) {
            ret = DUSK_ENOMEM;
            goto out;
        }
        for (int64_t i = 0; i < k; i++)
            seeds[i] = j->seed + (uint32_t)(first + i);
        if ((ret = dusk_stack_new(g, k, n, n, &a)) != 0) goto out;
    }
    dusk_eigh_chunk c = {.a = a, .seeds = seeds, .w = w, .args = j->ea};
    c.x = (dusk_arg){x, j->v != NULL ? DUSK_W : DUSK_SCRATCH};
    dusk_task_opts o;
    (void)dusk_task_opts_init(&o);
    o.item_first = first;
    o.item_count = k;
    o.item_step = 1;
    o.retries = j->retries;
    o.where = (dusk_where)j->where;
    ret = dusk_eigh_chunk_submit(g, &c, &o);
out:
    free(seeds);
    dusk_data_release(&a);
    dusk_data_release(&x);
    dusk_data_release(&w);
    return ret;
}

/* The arguments common to both calls, checked; `why` says what is wrong. */
static int check_args(int64_t count, int64_t n, const double *w, int vectors,
                      const dusk_eigh_opts *o, char *why, size_t whylen)
{
    if (dusk_current_config() == NULL) {
        dusk__set_why(why, whylen, "dusk is not started (dusk_init)");
        return DUSK_ESTATE;
    }
    if (count < 0 || n < 0) {
        dusk__set_why(why, whylen, "count (%lld) and n (%lld) must not be negative",
                      (long long)count, (long long)n);
        return DUSK_EINVAL;
    }
    if (o->uplo != 'L' && o->uplo != 'U') {
        dusk__set_why(why, whylen, "uplo must be 'L' or 'U'");
        return DUSK_EINVAL;
    }
    if (o->chunk < 0) {
        dusk__set_why(why, whylen, "chunk (%lld) must not be negative", (long long)o->chunk);
        return DUSK_EINVAL;
    }
    if (count == 0 || n == 0) return 0;
    if (w == NULL) {
        dusk__set_why(why, whylen, "no memory given for the eigenvalues (w is NULL)");
        return DUSK_EINVAL;
    }
    /* StarPU counts a data object's values in 32 bits: one matrix must fit */
    if (n > INT32_MAX / n) {
        dusk__set_why(why, whylen, "n = %lld: one matrix is over 2^31 values", (long long)n);
        return DUSK_EINVAL;
    }
    if (vectors && n > DUSK_EIGH_MAX_N) {
        dusk__set_why(why, whylen,
                      "n = %lld is over %d, the largest n whose eigenvectors LAPACK's 32-bit "
                      "workspace can hold",
                      (long long)n, DUSK_EIGH_MAX_N);
        return DUSK_EINVAL;
    }
    return 0;
}

/* The most matrices per task: StarPU's 32-bit sizes, the by-value seeds' limit (1 MiB), and,
 * when automatic, a share of the window's memory small enough that two tasks per worker fit
 * in it (as the window itself wants them in flight). */
static int64_t max_chunk(const job *j, int automatic)
{
    const int64_t n = j->n;
    int64_t most = INT32_MAX / (n * n);
    if (j->a == NULL && most > DUSK_MAX_VALUE_SIZE / (int64_t)sizeof(uint32_t))
        most = DUSK_MAX_VALUE_SIZE / (int64_t)sizeof(uint32_t);
    if (automatic) {
        int64_t item = (2 * n * n + n) * (int64_t)sizeof(double);
        int64_t fit = dusk_window_bytes() / (2 * dusk_worker_count()) / item;
        if (fit < most) most = fit;
    }
    return most < 1 ? 1 : most;
}

/* The failures, after the graph: each item's first recorded failure gives its status (the
 * root cause: items skipped because an earlier step failed them are not recorded), and the
 * lowest failed item names the reason. */
static void collect_failures(dusk_graph *g, job *j, char *why, size_t whylen)
{
    int64_t nf = dusk_graph_item_failure_count(g), lowest = -1;
    dusk_item_failure f;
    for (int64_t i = nf - 1; i >= 0; i--) /* the earliest last, so that it stands */
        if (dusk_graph_item_failure(g, i, &f) == 0 && f.item >= 0 && f.item < j->count)
            j->status[f.item] = f.status;
    for (int64_t i = 0; i < nf; i++)
        if (dusk_graph_item_failure(g, i, &f) == 0 && f.item >= 0 && f.item < j->count &&
            (lowest < 0 || f.item < lowest)) {
            lowest = f.item;
            dusk__set_why(why, whylen, "matrix %lld: %s", (long long)f.item, f.reason);
        }
    for (int64_t i = 0; i < j->count && lowest < 0; i++)
        if (j->status[i] != 0) {
            lowest = i;
            dusk__set_why(why, whylen, "matrix %lld: %s", (long long)i,
                          dusk_strerror(j->status[i]));
        }
}

static int run(job *j, const dusk_eigh_opts *o, char *why, size_t whylen)
{
    const int64_t n = j->n, count = j->count;
    int *own = NULL;
    if (j->status == NULL) {
        if ((own = calloc((size_t)count, sizeof *own)) == NULL) return DUSK_ENOMEM;
        j->status = own;
    } else {
        memset(j->status, 0, (size_t)count * sizeof *j->status);
    }
    j->ea = (dusk_eigh_args){.vectors = j->v != NULL || o->vectors, .upper = o->uplo == 'U'};
    j->eigh = dusk_kernel_eigh();
    j->where = DUSK_WHERE_ANY;
    /* The CUDA eigh reads the lower triangle only; and a GPU that fails a task (its memory,
     * its solver) leaves it to the CPU implementation, on the host. */
    if (j->ea.upper) j->where = DUSK_WHERE_CPU;
    j->retries = dusk_cuda_worker_count() > 0 ? 1 : 0;
    pthread_mutex_init(&j->lock, NULL);

    dusk_graph *g = NULL;
    int64_t first = 0;
    int ret = dusk_graph_new(&g);
    if (ret == 0) ret = dusk_graph_set_local(g);
    if (ret == 0) ret = dusk_graph_watch_cancel(g, o->cancel);
    if (ret == 0) ret = dusk_graph_observe(g, observe, j);
    if (ret == 0)
        ret = dusk_chunker_new(o->chunk, max_chunk(j, o->chunk == 0), dusk_worker_count(),
                               &j->chunker);
    if (ret == 0 && o->progress != NULL)
        ret = dusk_progress_new(o->progress, count, dusk_current_config()->progress, &j->bar);
    if (ret != 0) {
        dusk__set_why(why, whylen, "cannot start: %s", dusk_strerror(ret));
        goto out;
    }
    while (first < count && ret == 0) {
        if (o->cancel != NULL && __atomic_load_n(o->cancel, __ATOMIC_RELAXED)) {
            ret = DUSK_ECANCELED;
            break;
        }
        int64_t k = dusk_chunker_next(j->chunker, count - first);
        ret = submit_chunk(g, j, first, k);
        if (ret == 0) first += k;
    }
    if (ret != 0 && ret != DUSK_ECANCELED)
        dusk__set_why(why, whylen, "matrix %lld could not be submitted: %s", (long long)first,
                      dusk_strerror(ret));
    int waited = dusk_graph_wait(g);
    if (ret == 0 && waited == DUSK_ECANCELED) ret = DUSK_ECANCELED;
    pthread_mutex_lock(&j->lock);
    dusk_progress_draw(j->bar, j->done, 1);
    pthread_mutex_unlock(&j->lock);
    /* What was never submitted has the reason it was not. */
    for (int64_t i = first; i < count; i++)
        if (j->status[i] == 0) j->status[i] = ret;
    collect_failures(g, j, ret == 0 ? why : NULL, ret == 0 ? whylen : 0);
    if (ret == DUSK_ECANCELED) dusk__set_why(why, whylen, "cancelled");
    int64_t failed = 0;
    for (int64_t i = 0; i < count; i++) {
        if (j->status[i] == 0) continue;
        failed++;
        for (int64_t c = 0; c < n; c++)
            j->w[i * n + c] = NAN;
        if (j->v != NULL)
            for (int64_t c = 0; c < n * n; c++)
                j->v[i * n * n + c] = NAN;
    }
    if (ret == 0 && failed > 0) ret = DUSK_ETASK;
out:
    dusk_graph_free(&g);
    dusk_chunker_free(&j->chunker);
    dusk_progress_free(&j->bar);
    pthread_mutex_destroy(&j->lock);
    free(own);
    return ret;
}

int dusk_eigh_stack(const double *a, int64_t count, int64_t n, double *w, double *v, int *status,
                    const dusk_eigh_opts *opts, char *why, size_t whylen)
{
    dusk_eigh_opts defaults;
    dusk__set_why(why, whylen, "%s", "");
    if (opts == NULL) {
        (void)dusk_eigh_opts_init(&defaults);
        opts = &defaults;
    }
    int ret = check_args(count, n, w, v != NULL || opts->vectors, opts, why, whylen);
    if (ret != 0 || count == 0 || n == 0) return ret;
    if (a == NULL) {
        dusk__set_why(why, whylen, "no matrices given (a is NULL)");
        return DUSK_EINVAL;
    }
    job j = {.a = a, .count = count, .n = n, .w = w, .v = v, .status = status};
    return run(&j, opts, why, whylen);
}

int dusk_eigh_generated(int64_t n, int64_t count, uint32_t seed, double *w, double *v, int *status,
                        const dusk_eigh_opts *opts, char *why, size_t whylen)
{
    dusk_eigh_opts defaults;
    dusk__set_why(why, whylen, "%s", "");
    if (opts == NULL) {
        (void)dusk_eigh_opts_init(&defaults);
        opts = &defaults;
    }
    int ret = check_args(count, n, w, v != NULL || opts->vectors, opts, why, whylen);
    if (ret != 0 || count == 0 || n == 0) return ret;
    if ((uint64_t)seed + (uint64_t)(count - 1) > UINT32_MAX) {
        dusk__set_why(why, whylen,
                      "seed + count - 1 is over 2^32 - 1, the largest seed NumPy takes");
        return DUSK_EINVAL;
    }
    job j = {.seed = seed, .count = count, .n = n, .w = w, .v = v, .status = status};
    return run(&j, opts, why, whylen);
}
