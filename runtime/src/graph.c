/* Graphs: tasks handed to StarPU through a bounded window, their status, and data. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dusk_internal.h"

typedef struct failure {
    int64_t id;
    char *key;
    char *reason;
} failure;

struct dusk_graph {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled whenever something in flight finishes */
    int64_t window;
    /* under lock: */
    int64_t in_flight, peak_in_flight;
    int64_t submitted, finished, failed, counted;
    int8_t *status; /* per task: 1 pending, 0 done, or a DUSK_E* code */
    int64_t status_cap;
    failure *failures;
    int64_t failures_cap;
    /* touched by the submitting thread only: */
    dusk__progress *bar;
};

static const double redraw_seconds = 0.1;

int dusk_graph_new(dusk_graph **out)
{
    *out = NULL;
    if (!dusk__started)
        return DUSK_ESTATE;
    dusk_graph *g = calloc(1, sizeof *g);
    if (g == NULL)
        return DUSK_ENOMEM;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    const dusk_config *cfg = dusk_current_config();
    g->window = cfg->window;
    if (g->window == 0) {
        /* Enough to keep every worker fed while the next tasks are submitted; few enough
         * that only a handful of matrices per worker are ever alive. */
        g->window = 4 * (int64_t)dusk_worker_count();
        if (g->window < 8)
            g->window = 8;
    }
    *out = g;
    return 0;
}

int dusk_graph_progress(dusk_graph *g, int64_t total, const char *label)
{
    if (total < 0 || label == NULL)
        return DUSK_EINVAL;
    dusk__progress_free(&g->bar);
    g->bar = dusk__progress_new(label, total, dusk_current_config()->progress);
    return 0;
}

/* Wait on the graph's condition for at most redraw_seconds; lock held. */
static void wait_a_little(dusk_graph *g)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(redraw_seconds * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->cond, &g->lock, &ts);
}

/* Lock held: redraw the bar (it rate-limits itself). */
static void redraw(dusk_graph *g, int final)
{
    if (g->bar != NULL)
        dusk__progress_draw(g->bar, g->counted, final);
}

/* Lock held: make room for one more thing in flight and count it. A full window is left to
 * drain to half before submitting again, so the submitting thread wakes once per batch of
 * completions rather than once per task (on a small machine it shares the cores with the
 * workers, and each wake-up pushes a worker off its core). */
static void enter_window(dusk_graph *g)
{
    if (g->in_flight >= g->window) {
        while (g->in_flight > g->window / 2) {
            wait_a_little(g);
            redraw(g, 0);
        }
    }
    g->in_flight++;
    if (g->in_flight > g->peak_in_flight)
        g->peak_in_flight = g->in_flight;
}

/* Lock held: one thing in flight finished. */
static void leave_window(dusk_graph *g)
{
    g->in_flight--;
    if (g->in_flight <= g->window / 2)
        pthread_cond_signal(&g->cond);
}

static void data_unref(dusk_data *d)
{
    if (atomic_fetch_sub(&d->refs, 1) == 1)
        free(d);
}

static int data_new(dusk_graph *g, int kind, int64_t rows, int64_t cols, dusk_data **out)
{
    *out = NULL;
    if (g == NULL || rows < 1 || cols < 1 || rows > INT32_MAX || cols > INT32_MAX ||
        rows > INT64_MAX / 8 / cols)
        return DUSK_EINVAL;
    dusk_data *d = calloc(1, sizeof *d);
    if (d == NULL)
        return DUSK_ENOMEM;
    d->g = g;
    d->kind = kind;
    d->dims[0] = rows;
    d->dims[1] = cols;
    atomic_init(&d->refs, 1);
    atomic_init(&d->failed, 0);
    /* Home node -1: StarPU allocates the buffer where the first writer runs. C order is
     * StarPU's column-major with the roles of nx and ny swapped. */
    if (kind == DUSK__MATRIX)
        starpu_matrix_data_register(&d->handle, -1, 0, (uint32_t)cols, (uint32_t)cols,
                                    (uint32_t)rows, sizeof(double));
    else
        starpu_vector_data_register(&d->handle, -1, 0, (uint32_t)rows, sizeof(double));
    *out = d;
    return 0;
}

int dusk_matrix_new(dusk_graph *g, int64_t rows, int64_t cols, dusk_data **out)
{
    return data_new(g, DUSK__MATRIX, rows, cols, out);
}

int dusk_vector_new(dusk_graph *g, int64_t n, dusk_data **out)
{
    return data_new(g, DUSK__VECTOR, n, 1, out);
}

void dusk_data_release(dusk_data **d)
{
    if (d == NULL || *d == NULL)
        return;
    starpu_data_unregister_submit((*d)->handle);
    data_unref(*d);
    *d = NULL;
}

typedef struct read_req {
    dusk_graph *g;
    dusk_data *d;
    dusk_read_fn fn;
    void *user;
} read_req;

static void read_ready(void *arg)
{
    read_req *r = arg;
    const double *p = starpu_data_handle_to_pointer(r->d->handle, STARPU_MAIN_RAM);
    r->fn(r->user, atomic_load(&r->d->failed), p, r->d->dims);
    starpu_data_release(r->d->handle);
    pthread_mutex_lock(&r->g->lock);
    leave_window(r->g);
    pthread_mutex_unlock(&r->g->lock);
    data_unref(r->d);
    free(r);
}

int dusk_data_read(dusk_data *d, dusk_read_fn fn, void *user)
{
    if (d == NULL || fn == NULL)
        return DUSK_EINVAL;
    read_req *r = malloc(sizeof *r);
    if (r == NULL)
        return DUSK_ENOMEM;
    *r = (read_req){d->g, d, fn, user};
    atomic_fetch_add(&d->refs, 1);
    pthread_mutex_lock(&d->g->lock);
    enter_window(d->g);
    pthread_mutex_unlock(&d->g->lock);
    int ret = starpu_data_acquire_cb(d->handle, STARPU_R, read_ready, r);
    if (ret != 0) {
        pthread_mutex_lock(&d->g->lock);
        leave_window(d->g);
        pthread_mutex_unlock(&d->g->lock);
        data_unref(d);
        free(r);
        return DUSK_ESTARPU;
    }
    return 0;
}

void dusk_task_opts_init(dusk_task_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

/* Lock held: record task id's status, growing the table as ids come. */
static int set_status(dusk_graph *g, int64_t id, int status)
{
    if (id >= g->status_cap) {
        int64_t cap = g->status_cap ? 2 * g->status_cap : 1024;
        while (cap <= id)
            cap *= 2;
        int8_t *s = realloc(g->status, (size_t)cap);
        if (s == NULL)
            return DUSK_ENOMEM;
        g->status = s;
        g->status_cap = cap;
    }
    g->status[id] = (int8_t)status;
    return 0;
}

/* Lock held. The key and reason move from the task to the graph. */
static void record_failure(dusk_graph *g, dusk__task *t)
{
    if (g->failed >= g->failures_cap) {
        int64_t cap = g->failures_cap ? 2 * g->failures_cap : 16;
        failure *f = realloc(g->failures, (size_t)cap * sizeof *f);
        if (f == NULL)
            return; /* counted, but without its details */
        g->failures = f;
        g->failures_cap = cap;
    }
    failure *f = &g->failures[g->failed];
    f->id = t->id;
    f->key = t->key ? t->key : dusk__strdup(t->k->name);
    if (t->reason)
        f->reason = t->reason;
    else
        f->reason = dusk__strdup(dusk_strerror(t->status));
    t->key = t->reason = NULL;
}

void dusk__task_done(void *arg)
{
    dusk__task *t = arg;
    dusk_graph *g = t->g;
    pthread_mutex_lock(&g->lock);
    set_status(g, t->id, t->status);
    g->finished++;
    if (t->status != 0) {
        record_failure(g, t);
        g->failed++;
    }
    if (t->flags & DUSK_TASK_COUNTS)
        g->counted++;
    leave_window(g);
    pthread_mutex_unlock(&g->lock);
    for (int i = 0; i < t->nargs; i++)
        data_unref(t->data[i]);
    free(t->key);
    free(t->reason);
    free(t);
}

static enum starpu_data_access_mode starpu_mode(dusk_access m)
{
    switch (m) {
    case DUSK_R: return STARPU_R;
    case DUSK_W: return STARPU_W;
    case DUSK_RW: return STARPU_RW;
    case DUSK_SCRATCH: return STARPU_SCRATCH;
    }
    return STARPU_NONE;
}

int dusk_task_submit(dusk_graph *g, const dusk_kernel *k, const dusk_arg *args, int nargs,
                     const void *value, size_t value_size, const dusk_task_opts *opts,
                     int64_t *id)
{
    if (id)
        *id = -1;
    if (g == NULL || k == NULL || nargs < 0 || nargs > DUSK_MAX_ARGS ||
        (nargs > 0 && args == NULL) || (value_size > 0 && value == NULL) ||
        value_size > (1u << 20))
        return DUSK_EINVAL;
    for (int i = 0; i < nargs; i++)
        if (args[i].data == NULL || args[i].data->g != g || starpu_mode(args[i].mode) == STARPU_NONE)
            return DUSK_EINVAL;

    dusk__task *t = calloc(1, sizeof *t + value_size);
    if (t == NULL)
        return DUSK_ENOMEM;
    t->g = g;
    t->k = k;
    t->nargs = nargs;
    t->flags = opts ? opts->flags : 0;
    if (opts && opts->key && (t->key = dusk__strdup(opts->key)) == NULL) {
        free(t);
        return DUSK_ENOMEM;
    }
    if (value_size)
        memcpy(t->value, value, value_size);
    t->value_size = value_size;

    struct starpu_task *task = starpu_task_create();
    task->cl = (struct starpu_codelet *)&k->cl;
    task->cl_arg = t;
    task->callback_func = dusk__task_done;
    task->callback_arg = t;
    task->nbuffers = nargs;
    task->name = k->name;
    task->priority = opts ? opts->priority : 0;
    for (int i = 0; i < nargs; i++) {
        t->data[i] = args[i].data;
        t->modes[i] = args[i].mode;
        atomic_fetch_add(&args[i].data->refs, 1);
        task->handles[i] = args[i].data->handle;
        task->modes[i] = starpu_mode(args[i].mode);
    }

    pthread_mutex_lock(&g->lock);
    enter_window(g);
    t->id = g->submitted++;
    int ret = set_status(g, t->id, 1);
    pthread_mutex_unlock(&g->lock);
    if (ret == 0) {
        ret = starpu_task_submit(task);
        ret = ret == -ENODEV ? DUSK_ENODEV : ret != 0 ? DUSK_ESTARPU : 0;
    }
    if (ret != 0) {
        /* StarPU did not take it: account for it as a failed task, without running it. */
        task->destroy = 0;
        starpu_task_destroy(task);
        t->status = ret;
        t->flags &= ~(unsigned)DUSK_TASK_COUNTS;
        for (int i = 0; i < nargs; i++)
            if (t->modes[i] & DUSK_W)
                atomic_store(&t->data[i]->failed, ret);
        dusk__task_done(t);
        return ret;
    }
    if (id)
        *id = t->id;
    return 0;
}

int dusk_graph_wait(dusk_graph *g)
{
    if (g == NULL)
        return DUSK_EINVAL;
    pthread_mutex_lock(&g->lock);
    while (g->in_flight > 0) {
        wait_a_little(g);
        redraw(g, 0);
    }
    redraw(g, 1);
    int ret = g->failed ? DUSK_ETASK : 0;
    pthread_mutex_unlock(&g->lock);
    return ret;
}

void dusk_graph_counts(const dusk_graph *g, int64_t *submitted, int64_t *finished,
                       int64_t *failed)
{
    dusk_graph *mg = (dusk_graph *)g; /* the lock is not part of the value */
    pthread_mutex_lock(&mg->lock);
    if (submitted)
        *submitted = g->submitted;
    if (finished)
        *finished = g->finished;
    if (failed)
        *failed = g->failed;
    pthread_mutex_unlock(&mg->lock);
}

int dusk_task_status(const dusk_graph *g, int64_t id)
{
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int s = id >= 0 && id < g->submitted ? g->status[id] : DUSK_EINVAL;
    pthread_mutex_unlock(&mg->lock);
    return s;
}

int dusk_graph_failure(const dusk_graph *g, int64_t i, int64_t *id, const char **key,
                       const char **reason)
{
    dusk_graph *mg = (dusk_graph *)g;
    int ret = 0;
    pthread_mutex_lock(&mg->lock);
    if (i < 0 || i >= g->failed || i >= g->failures_cap) {
        ret = DUSK_EINVAL;
        *id = -1;
        *key = *reason = NULL;
    } else {
        *id = g->failures[i].id;
        *key = g->failures[i].key;
        *reason = g->failures[i].reason;
    }
    pthread_mutex_unlock(&mg->lock);
    return ret;
}

int64_t dusk_graph_peak_in_flight(const dusk_graph *g)
{
    return g->peak_in_flight;
}

void dusk_graph_free(dusk_graph **gp)
{
    if (gp == NULL || *gp == NULL)
        return;
    dusk_graph *g = *gp;
    pthread_mutex_lock(&g->lock);
    while (g->in_flight > 0)
        wait_a_little(g);
    pthread_mutex_unlock(&g->lock);
    for (int64_t i = 0; i < g->failed && i < g->failures_cap; i++) {
        free(g->failures[i].key);
        free(g->failures[i].reason);
    }
    free(g->failures);
    free(g->status);
    dusk__progress_free(&g->bar);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
    *gp = NULL;
}
