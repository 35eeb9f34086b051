/* Graphs: tasks handed to StarPU through a bounded window, their status, and data. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dusk_internal.h"
#include "trace.h"

struct op;

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
    int64_t bytes_in_flight; /* data bytes the tasks and reads in flight use */
    int64_t window_bytes, window_floor;
    int64_t submitted, finished, failed, counted, cancelled;
    /* Per task, 2 bits (see set_status): a batch of any length keeps a quarter of a byte per
     * task; what is not plain (failed, cancelled, retried) is in `odd`. */
    uint8_t *state;
    int64_t state_cap; /* tasks the bits cover */
    struct odd *odd;   /* open addressing on the task id; empty slots have id -1 */
    int64_t odd_cap, odd_count;
    failure *failures;
    int64_t failures_cap, nfailures; /* nfailures <= failed: recorded with details */
    /* unfinished tasks by id, for explicit dependencies (under lock) */
    dusk__task **live;
    int64_t live_cap, live_count;
    int waiting_for_task; /* the submitter waits for one task: wake it at every completion */
    int draining;         /* the submitter waits for the window to drain */
    int64_t *trace_ids;   /* per task, when tracing: for explicit dependencies in the trace */
    atomic_int cancel;    /* dusk_graph_cancel() was called: set from signal handlers too */
    /* touched by the submitting thread only: */
    dusk__progress *bar;
    int64_t bar_total; /* 0: every task counts */
    int held;          /* dusk_graph_hold(): operations wait in `ops` for compute */
    struct op *ops;
    int64_t nops, ops_cap;
};

/* A task whose status is not one of the plain ones, or that ran other than once. */
typedef struct odd {
    int64_t id;
    int8_t status;
    uint8_t attempts;
} odd;

/* A task's 2-bit state: done after one attempt, pending, run by another rank, or see `odd`. */
enum { ST_DONE, ST_PENDING, ST_ELSEWHERE, ST_ODD };

/* An operation recorded while the graph is held. */
typedef struct op {
    enum { OP_TASK, OP_READ, OP_RELEASE } kind;
    void *p;
} op;

static atomic_llong next_trace_id;

static const double redraw_seconds = 0.1;

int dusk_graph_new(dusk_graph **out)
{
    *out = NULL;
    if (!dusk__started) return DUSK_ESTATE;
    dusk_graph *g = calloc(1, sizeof *g);
    if (g == NULL) return DUSK_ENOMEM;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    const dusk_config *cfg = dusk_current_config();
    /* The window holds at most `window` tasks and reads, and at most `window_bytes` of data
     * as soon as `window_floor` of them (two per worker) are in flight: small tasks get a
     * deep pipeline (the submitting thread wakes rarely), large matrices stay few, and
     * every worker still has work however large they are. */
    int64_t workers = dusk_worker_count();
    g->window = cfg->window ? cfg->window : 64 * workers;
    g->window_bytes = (int64_t)(cfg->window_mb ? cfg->window_mb : 32 * workers) << 20;
    g->window_floor = 2 * workers;
    *out = g;
    return 0;
}

int dusk_graph_progress(dusk_graph *g, int64_t total, const char *label)
{
    if (total < 0 || label == NULL) return DUSK_EINVAL;
    dusk__progress_free(&g->bar);
    g->bar = dusk__progress_new(label, total, dusk_current_config()->progress);
    g->bar_total = total;
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
        dusk__progress_draw(g->bar, g->bar_total ? g->counted : g->finished,
                            g->bar_total ? g->bar_total : g->submitted, final);
}

static int window_full(const dusk_graph *g, int64_t count, int64_t bytes)
{
    return g->in_flight >= count ||
           (g->in_flight >= g->window_floor && g->bytes_in_flight + bytes > 0 &&
            g->bytes_in_flight + bytes > g->window_bytes);
}

/* Lock held: make room for one more thing in flight, of `bytes`, and count it. A full
 * window is left to drain to half before submitting again, so the submitting thread wakes
 * once per batch of completions rather than once per task (on a small machine it shares
 * the cores with the workers, and each wake-up pushes a worker off its core). */
static void enter_window(dusk_graph *g, int64_t bytes)
{
    if (window_full(g, g->window, bytes)) {
        while (g->in_flight > g->window / 2 || (g->in_flight >= g->window_floor &&
                                                g->bytes_in_flight + bytes > g->window_bytes / 2)) {
            g->draining = 1;
            wait_a_little(g);
            redraw(g, 0);
        }
        g->draining = 0;
    }
    g->in_flight++;
    g->bytes_in_flight += bytes;
    if (g->in_flight > g->peak_in_flight) g->peak_in_flight = g->in_flight;
}

/* Lock held: one thing in flight, of `bytes`, finished. */
static void leave_window(dusk_graph *g, int64_t bytes)
{
    g->in_flight--;
    g->bytes_in_flight -= bytes;
    if ((g->draining && g->in_flight <= g->window / 2) || g->in_flight == 0 || g->waiting_for_task)
        pthread_cond_signal(&g->cond);
}

static int64_t data_bytes(const dusk_data *d)
{
    return d->dims[0] * d->dims[1] * (int64_t)sizeof(double);
}

static void data_unref(dusk_data *d)
{
    if (atomic_fetch_sub(&d->refs, 1) == 1) free(d);
}

static int data_new(dusk_graph *g, int kind, int64_t rows, int64_t cols, dusk_data **out)
{
    *out = NULL;
    if (g == NULL || rows < 1 || cols < 1 || rows > INT32_MAX || cols > INT32_MAX ||
        rows > INT64_MAX / 8 / cols)
        return DUSK_EINVAL;
    dusk_data *d = calloc(1, sizeof *d);
    if (d == NULL) return DUSK_ENOMEM;
    d->g = g;
    d->last_writer = -1;
    d->kind = kind;
    d->dims[0] = rows;
    d->dims[1] = cols;
    atomic_init(&d->refs, 1);
    atomic_init(&d->holds, 1);
    atomic_init(&d->failed, 0);
    /* Registered with StarPU only when first used (handed over): a StarPU handle costs about
     * 4.5 KB, which a held graph would otherwise pay for every data object it records. */
    *out = d;
    return 0;
}

/* Register d with StarPU (and StarPU-MPI) if it is not yet: at its first hand-over to StarPU,
 * from the submitting thread. */
static starpu_data_handle_t data_handle(dusk_data *d)
{
    if (d->handle != NULL) return d->handle;
    /* Home node -1: StarPU allocates the buffer where the first writer runs. C order is
     * StarPU's column-major with the roles of nx and ny swapped. */
    if (d->kind == DUSK__MATRIX)
        starpu_matrix_data_register(&d->handle, -1, 0, (uint32_t)d->dims[1], (uint32_t)d->dims[1],
                                    (uint32_t)d->dims[0], sizeof(double));
    else
        starpu_vector_data_register(&d->handle, -1, 0, (uint32_t)d->dims[0], sizeof(double));
    dusk__mpi_data_register(d); /* under several ranks: owned by rank 0 unless set */
    return d->handle;
}

int dusk_matrix_new(dusk_graph *g, int64_t rows, int64_t cols, dusk_data **out)
{
    return data_new(g, DUSK__MATRIX, rows, cols, out);
}

int dusk_vector_new(dusk_graph *g, int64_t n, dusk_data **out)
{
    return data_new(g, DUSK__VECTOR, n, 1, out);
}

int dusk_data_set_owner(dusk_data *d, int rank)
{
    if (d == NULL || rank < 0 || rank >= dusk_rank_count() || d->used) return DUSK_EINVAL;
    dusk__mpi_data_set_owner(d, rank);
    return 0;
}

int dusk_data_owner(const dusk_data *d)
{
    return d != NULL ? d->owner : 0;
}

static int hold_op(dusk_graph *g, int kind, void *p)
{
    if (g->nops == g->ops_cap) {
        int64_t cap = g->ops_cap ? 2 * g->ops_cap : 256;
        op *o = realloc(g->ops, (size_t)cap * sizeof *o);
        if (o == NULL) return DUSK_ENOMEM;
        g->ops = o;
        g->ops_cap = cap;
    }
    g->ops[g->nops++] = (op){kind, p};
    return 0;
}

/* Drop one hold on d's handle (the owner's, or a finished read's); the last unregisters it.
 * Unregistering while a read (starpu_data_acquire_cb) is still queued on the handle works,
 * but StarPU 1.3 then keeps about 48 bytes per read until it shuts down: millions of reads
 * would grow without bound. So a handle with reads in flight is unregistered by the last
 * of them, once released. */
static void drop_hold(dusk_data *d)
{
    /* a handle never handed to StarPU was never registered (data_handle) */
    if (atomic_fetch_sub(&d->holds, 1) == 1 && d->handle != NULL)
        starpu_data_unregister_submit(d->handle);
}

static void release_now(dusk_data *d)
{
    drop_hold(d);
    data_unref(d);
}

void dusk_data_release(dusk_data **d)
{
    if (d == NULL || *d == NULL) return;
    if (!(*d)->g->held || hold_op((*d)->g, OP_RELEASE, *d) != 0) release_now(*d);
    *d = NULL;
}

typedef struct read_req {
    dusk_graph *g;
    dusk_data *d;
    dusk_read_fn fn;
    void *user;
    int at; /* the rank fn runs on, or DUSK_OWNER */
} read_req;

static void read_ready(void *arg)
{
    read_req *r = arg;
    const double *p = starpu_data_handle_to_pointer(r->d->handle, STARPU_MAIN_RAM);
    r->fn(r->user, atomic_load(&r->d->failed), p, r->d->dims);
    starpu_data_release(r->d->handle);
    drop_hold(r->d);
    pthread_mutex_lock(&r->g->lock);
    leave_window(r->g, data_bytes(r->d));
    pthread_mutex_unlock(&r->g->lock);
    data_unref(r->d);
    free(r);
}

static int read_now(read_req *r)
{
    dusk_graph *g = r->g;
    (void)data_handle(r->d); /* on every rank, so that StarPU-MPI's tags agree */
    if (dusk__mpi_active()) {
        /* Several ranks: the owner sends d to the reading rank (StarPU-MPI orders the send
         * after the last write, and the acquire below after the receive); ranks that
         * neither own nor read it have nothing to do. */
        int me = dusk_rank(), at = r->at == DUSK_OWNER ? r->d->owner : r->at;
        if (at != r->d->owner && (me == at || me == r->d->owner)) dusk__mpi_send_to(r->d, at);
        if (me != at) {
            data_unref(r->d);
            free(r);
            return 0;
        }
    }
    pthread_mutex_lock(&g->lock);
    enter_window(g, data_bytes(r->d));
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_add(&r->d->holds, 1); /* the owner's hold is still there: see drop_hold */
    int ret = starpu_data_acquire_cb(r->d->handle, STARPU_R, read_ready, r);
    if (ret != 0) {
        drop_hold(r->d);
        pthread_mutex_lock(&g->lock);
        leave_window(g, data_bytes(r->d));
        pthread_mutex_unlock(&g->lock);
        data_unref(r->d);
        free(r);
        return DUSK_ESTARPU;
    }
    return 0;
}

int dusk_data_read_at(dusk_data *d, int rank, dusk_read_fn fn, void *user)
{
    if (d == NULL || fn == NULL || rank < DUSK_OWNER || rank >= dusk_rank_count())
        return DUSK_EINVAL;
    read_req *r = malloc(sizeof *r);
    if (r == NULL) return DUSK_ENOMEM;
    *r = (read_req){d->g, d, fn, user, rank};
    d->used = 1;
    atomic_fetch_add(&d->refs, 1);
    if (d->g->held) {
        if (hold_op(d->g, OP_READ, r) == 0) return 0;
        data_unref(d);
        free(r);
        return DUSK_ENOMEM;
    }
    return read_now(r);
}

int dusk_data_read(dusk_data *d, dusk_read_fn fn, void *user)
{
    return dusk_data_read_at(d, DUSK_OWNER, fn, user);
}

int dusk_task_opts_init(dusk_task_opts *opts)
{
    if (opts == NULL) return DUSK_EINVAL;
    memset(opts, 0, sizeof *opts);
    return 0;
}

/* Lock held: the slot of task id in `odd`, or the empty slot where it would go. */
static odd *odd_slot(const dusk_graph *g, int64_t id)
{
    uint64_t mask = (uint64_t)g->odd_cap - 1, h = (uint64_t)id * 0x9e3779b97f4a7c15u;
    for (uint64_t i = h & mask;; i = (i + 1) & mask)
        if (g->odd[i].id == id || g->odd[i].id == -1) return &g->odd[i];
}

/* Lock held: record an odd task, growing the table to stay at most half full. */
static int odd_put(dusk_graph *g, int64_t id, int status, int attempts)
{
    if (2 * (g->odd_count + 1) > g->odd_cap) {
        int64_t cap = g->odd_cap ? 2 * g->odd_cap : 64;
        odd *old = g->odd, *t = malloc((size_t)cap * sizeof *t);
        if (t == NULL) return DUSK_ENOMEM;
        for (int64_t i = 0; i < cap; i++)
            t[i].id = -1;
        int64_t old_cap = g->odd_cap;
        g->odd = t;
        g->odd_cap = cap;
        for (int64_t i = 0; i < old_cap; i++)
            if (old[i].id != -1) *odd_slot(g, old[i].id) = old[i];
        free(old);
    }
    odd *o = odd_slot(g, id);
    if (o->id == -1) g->odd_count++;
    *o = (odd){id, (int8_t)status, (uint8_t)(attempts > 255 ? 255 : attempts)};
    return 0;
}

/* Lock held: record task id's status (1 pending, 0 done, DUSK_TASK_ELSEWHERE, or a DUSK_E*
 * code) and attempts, growing the tables as ids come. */
static int set_status(dusk_graph *g, int64_t id, int status, int attempts)
{
    if (id >= g->state_cap) {
        int64_t cap = g->state_cap ? 2 * g->state_cap : 4096;
        while (cap <= id)
            cap *= 2;
        uint8_t *s = realloc(g->state, (size_t)cap / 4);
        if (s == NULL) return DUSK_ENOMEM;
        memset(s + g->state_cap / 4, 0, (size_t)(cap - g->state_cap) / 4);
        g->state = s;
        if (dusk__current_trace() != NULL) {
            int64_t *ids = realloc(g->trace_ids, (size_t)cap * sizeof *ids);
            if (ids == NULL) return DUSK_ENOMEM;
            g->trace_ids = ids;
        }
        g->state_cap = cap;
    }
    int st = status == 1                     ? ST_PENDING
             : status == DUSK_TASK_ELSEWHERE ? ST_ELSEWHERE
             : status == 0 && attempts == 1  ? ST_DONE
                                             : ST_ODD;
    if (st == ST_ODD && odd_put(g, id, status, attempts) != 0) return DUSK_ENOMEM;
    int shift = (int)(id % 4) * 2;
    g->state[id / 4] = (uint8_t)((g->state[id / 4] & ~(3u << shift)) | ((unsigned)st << shift));
    return 0;
}

/* Lock held: task id's status and attempts, as set_status() recorded them. */
static void get_status(const dusk_graph *g, int64_t id, int *status, int *attempts)
{
    int st = (g->state[id / 4] >> (id % 4) * 2) & 3;
    static const int plain[3][2] = {{0, 1}, {1, 0}, {DUSK_TASK_ELSEWHERE, 0}};
    if (st != ST_ODD) {
        *status = plain[st][0];
        *attempts = plain[st][1];
        return;
    }
    const odd *o = odd_slot(g, id);
    *status = o->status;
    *attempts = o->attempts;
}

/* Lock held: the table of unfinished tasks (chained hash on the id). */
static int live_add(dusk_graph *g, dusk__task *t)
{
    if (g->live_count >= g->live_cap) {
        int64_t cap = g->live_cap ? 2 * g->live_cap : 64;
        dusk__task **live = calloc((size_t)cap, sizeof *live);
        if (live == NULL) return DUSK_ENOMEM;
        for (int64_t b = 0; b < g->live_cap; b++)
            for (dusk__task *x = g->live[b], *next; x != NULL; x = next) {
                next = x->next_live;
                x->next_live = live[x->id & (cap - 1)];
                live[x->id & (cap - 1)] = x;
            }
        free(g->live);
        g->live = live;
        g->live_cap = cap;
    }
    dusk__task **head = &g->live[t->id & (g->live_cap - 1)];
    t->next_live = *head;
    *head = t;
    g->live_count++;
    return 0;
}

static dusk__task *live_find(const dusk_graph *g, int64_t id)
{
    if (g->live_cap == 0) return NULL;
    for (dusk__task *x = g->live[id & (g->live_cap - 1)]; x != NULL; x = x->next_live)
        if (x->id == id) return x;
    return NULL;
}

static void live_remove(dusk_graph *g, dusk__task *t)
{
    if (g->live_cap == 0) return;
    for (dusk__task **p = &g->live[t->id & (g->live_cap - 1)]; *p != NULL; p = &(*p)->next_live)
        if (*p == t) {
            *p = t->next_live;
            g->live_count--;
            return;
        }
}

/* Lock held. The key and reason move from the task to the graph. */
static void record_failure(dusk_graph *g, dusk__task *t)
{
    if (g->nfailures >= g->failures_cap) {
        int64_t cap = g->failures_cap ? 2 * g->failures_cap : 16;
        failure *f = realloc(g->failures, (size_t)cap * sizeof *f);
        if (f == NULL) return; /* counted, but without its details */
        g->failures = f;
        g->failures_cap = cap;
    }
    failure *f = &g->failures[g->nfailures++];
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
    struct dusk__trace *trace = t->elsewhere ? NULL : dusk__current_trace();
    if (trace != NULL && t->status != DUSK_ECANCELED) { /* a cancelled task never ran */
        const int64_t none[2] = {0, 0}, *dims = t->nargs ? t->data[0]->dims : none;
        dusk__trace_task ev = {
            .id = t->trace_id,
            .key = t->key ? t->key : t->k->name,
            .codelet = t->k->name,
            .impl = t->impl ? t->impl : "CPU",
            .worker = t->worker,
            .start = t->start,
            .end = t->end,
            .rows = dims[0],
            .cols = dims[1],
            .bytes = t->bytes,
            .status = t->status,
            .attempts = t->attempts,
            .reason = t->status ? t->reason : NULL,
            .ndeps = t->ndeps,
            .deps = t->deps,
        };
        dusk__trace_finished(trace, &ev);
    }
    if (t->on_done && !t->elsewhere) t->on_done(t->user, t->id, t->status);
    pthread_mutex_lock(&g->lock);
    live_remove(g, t);
    set_status(g, t->id, t->elsewhere ? DUSK_TASK_ELSEWHERE : t->status, t->attempts);
    g->finished++;
    if (t->status == DUSK_ECANCELED) {
        g->cancelled++;
    } else if (t->status != 0) {
        record_failure(g, t);
        g->failed++;
    }
    if ((t->flags & DUSK_TASK_COUNTS) && !t->elsewhere) g->counted++;
    if (t->handed) leave_window(g, t->bytes);
    pthread_mutex_unlock(&g->lock);
    for (int i = 0; i < t->nargs; i++)
        data_unref(t->data[i]);
    free(t->deps);
    free(t->key);
    free(t->reason);
    free(t);
}

static enum starpu_data_access_mode starpu_mode(dusk_access m)
{
    switch (m) {
    case DUSK_R:
        return STARPU_R;
    case DUSK_W:
        return STARPU_W;
    case DUSK_RW:
        return STARPU_RW;
    case DUSK_SCRATCH:
        return STARPU_SCRATCH;
    }
    return STARPU_NONE;
}

/* Several ranks: build the task with StarPU-MPI, which posts the sends and receives its
 * data need and returns a task only on the rank that runs it (the owner of the first data it
 * writes). Elsewhere the task is finished here at once, as DUSK_TASK_ELSEWHERE. */
static int submit_mpi(dusk_graph *g, dusk__task *t)
{
    struct starpu_data_descr descrs[DUSK_MAX_ARGS];
    for (int i = 0; i < t->nargs; i++) {
        descrs[i].handle = data_handle(t->data[i]);
        descrs[i].mode = starpu_mode(t->modes[i]);
    }
    struct starpu_task *task = dusk__mpi_task_build(&t->k->cl, descrs, t->nargs);
    if (task == NULL) {
        dusk__mpi_task_post_build(&t->k->cl, descrs, t->nargs);
        t->stask->destroy = 0; /* the task dusk_task_submit() made is not needed here */
        starpu_task_destroy(t->stask);
        t->stask = NULL;
        t->elsewhere = 1;
        dusk__task_done(t);
        return 0;
    }
    /* the fields dusk_task_submit() set on the task it made, now on StarPU-MPI's */
    struct starpu_task *proto = t->stask;
    task->cl_arg = proto->cl_arg;
    task->cl_arg_free = 0;
    task->callback_arg_free = 0; /* t is freed by dusk__task_done() */
    task->callback_func = proto->callback_func;
    task->callback_arg = proto->callback_arg;
    task->name = proto->name;
    task->priority = proto->priority;
    task->where = proto->where;
    proto->destroy = 0;
    starpu_task_destroy(proto);
    t->stask = task;
    pthread_mutex_lock(&g->lock);
    enter_window(g, t->bytes);
    t->handed = 1;
    pthread_mutex_unlock(&g->lock);
    int ret = starpu_task_submit(task);
    dusk__mpi_task_post_build(&t->k->cl, descrs, t->nargs);
    if (ret == 0) return 0;
    ret = ret == -ENODEV ? DUSK_ENODEV : DUSK_ESTARPU;
    task->destroy = 0;
    starpu_task_destroy(task);
    t->status = ret;
    t->flags &= ~(unsigned)DUSK_TASK_COUNTS;
    dusk__task_done(t);
    return ret;
}

/* Hand a task to StarPU; on refusal, account for it as a failed task that never ran. */
static int submit_now(dusk_graph *g, dusk__task *t)
{
    if (dusk__mpi_active()) return submit_mpi(g, t);
    for (int i = 0; i < t->nargs; i++)
        t->stask->handles[i] = data_handle(t->data[i]);
    pthread_mutex_lock(&g->lock);
    enter_window(g, t->bytes);
    t->handed = 1;
    pthread_mutex_unlock(&g->lock);
    int ret = starpu_task_submit(t->stask);
    if (ret == 0) return 0;
    ret = ret == -ENODEV ? DUSK_ENODEV : DUSK_ESTARPU;
    t->stask->destroy = 0;
    starpu_task_destroy(t->stask);
    t->status = ret;
    t->flags &= ~(unsigned)DUSK_TASK_COUNTS;
    for (int i = 0; i < t->nargs; i++)
        if (t->modes[i] & DUSK_W) atomic_store(&t->data[i]->failed, ret);
    dusk__task_done(t);
    return ret;
}

/* Trace ids of what t waits for: the last writer of each argument it reads or overwrites
 * (StarPU orders both), and the explicit ones. */
static int collect_deps(dusk__task *t, const dusk_arg *args, int nargs, const int64_t *after,
                        int nafter, const dusk_graph *g)
{
    t->deps = malloc((size_t)(nargs + nafter) * sizeof *t->deps + 1);
    if (t->deps == NULL) return DUSK_ENOMEM;
    for (int i = 0; i < nargs; i++) {
        int64_t w = args[i].data->last_writer;
        int seen = w < 0;
        for (int j = 0; j < t->ndeps && !seen; j++)
            seen = t->deps[j] == w;
        if (!seen) t->deps[t->ndeps++] = w;
    }
    for (int i = 0; i < nafter; i++)
        t->deps[t->ndeps++] = g->trace_ids[after[i]];
    return 0;
}

/* Whether this rank runs a task on args: StarPU-MPI runs it on the owner of the data it
 * writes (for the trace only: a task on another rank is traced there). */
static int runs_here(const dusk_arg *args, int nargs)
{
    if (!dusk__mpi_active()) return 1;
    for (int i = 0; i < nargs; i++)
        if (args[i].mode & DUSK_W) return args[i].data->owner == dusk_rank();
    return 1;
}

int dusk_task_submit(dusk_graph *g, const dusk_kernel *k, const dusk_arg *args, int nargs,
                     const void *value, size_t value_size, const dusk_task_opts *opts, int64_t *id)
{
    dusk_task_opts defaults;
    if (id) *id = -1;
    if (opts == NULL) {
        dusk_task_opts_init(&defaults);
        opts = &defaults;
    }
    if (g == NULL || k == NULL || nargs < 0 || nargs > DUSK_MAX_ARGS ||
        (nargs > 0 && args == NULL) || (value_size > 0 && value == NULL) ||
        value_size > (1u << 20) || opts->retries < 0 || opts->retries > 100 || opts->nafter < 0 ||
        (opts->nafter > 0 && opts->after == NULL) || opts->where < DUSK_WHERE_ANY ||
        opts->where > DUSK_WHERE_GPU)
        return DUSK_EINVAL;
    for (int i = 0; i < nargs; i++)
        if (args[i].data == NULL || args[i].data->g != g ||
            starpu_mode(args[i].mode) == STARPU_NONE)
            return DUSK_EINVAL;
    /* Explicit dependencies on tasks of a held graph are declared to StarPU before either
     * runs; StarPU-MPI builds tasks only at hand-over, so under several ranks they are
     * refused in held graphs (data dependencies work across ranks). */
    if (opts->nafter > 0 && g->held && dusk__mpi_active()) return DUSK_EINVAL;
    for (int i = 0; i < opts->nafter; i++)
        if (opts->after[i] < 0 || opts->after[i] >= g->submitted) return DUSK_EINVAL;
    if (atomic_load(&g->cancel)) return DUSK_ECANCELED;

    dusk__task *t = calloc(1, sizeof *t + value_size);
    if (t == NULL) return DUSK_ENOMEM;
    t->g = g;
    t->k = k;
    t->nargs = nargs;
    t->flags = opts->flags;
    t->retries = opts->retries;
    t->on_done = opts->on_done;
    t->user = opts->user;
    t->worker = -1;
    t->trace_id = atomic_fetch_add(&next_trace_id, 1);
    if (opts->key && (t->key = dusk__strdup(opts->key)) == NULL) {
        free(t);
        return DUSK_ENOMEM;
    }
    if (value_size) memcpy(t->value, value, value_size);
    t->value_size = value_size;

    struct starpu_task *task = starpu_task_create();
    t->stask = task;
    task->cl = (struct starpu_codelet *)&k->cl;
    task->cl_arg = t;
    task->callback_func = dusk__task_done;
    task->callback_arg = t;
    task->nbuffers = nargs;
    task->name = k->name;
    task->priority = opts->priority;
    if (opts->where == DUSK_WHERE_CPU)
        task->where = STARPU_CPU;
    else if (opts->where == DUSK_WHERE_GPU)
        task->where = STARPU_CUDA;
    for (int i = 0; i < nargs; i++) {
        t->data[i] = args[i].data;
        t->modes[i] = args[i].mode;
        atomic_fetch_add(&args[i].data->refs, 1);
        args[i].data->used = 1;
        task->modes[i] = starpu_mode(args[i].mode);
        t->bytes += data_bytes(args[i].data);
    }

    /* Explicit dependencies. StarPU (1.3) takes them only between tasks not yet handed to
     * it: for those (a held graph), declare them; for a predecessor already running, wait
     * here until it is done, which keeps the order of submission (and so the data
     * dependencies) intact at the cost of look-ahead. The lock keeps a predecessor's StarPU
     * task alive (its completion callback takes the lock before returning). */
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < opts->nafter; i++) {
        dusk__task *p;
        g->waiting_for_task = 1;
        while ((p = live_find(g, opts->after[i])) != NULL && p->handed) {
            wait_a_little(g);
            redraw(g, 0);
        }
        g->waiting_for_task = 0;
    }
    t->id = g->submitted++;
    int ret = set_status(g, t->id, 1, 0);
    if (ret == 0 && dusk__current_trace() != NULL) {
        g->trace_ids[t->id] = t->trace_id;
        ret = collect_deps(t, args, nargs, opts->after, opts->nafter, g);
    }
    for (int i = 0; i < nargs; i++)
        if (args[i].mode & DUSK_W) args[i].data->last_writer = t->trace_id;
    if (ret == 0) ret = live_add(g, t);
    for (int i = 0; i < opts->nafter && ret == 0; i++) {
        dusk__task *p = live_find(g, opts->after[i]);
        if (p != NULL) starpu_task_declare_deps_array(task, 1, &p->stask);
    }
    pthread_mutex_unlock(&g->lock);
    if (dusk__current_trace() != NULL && runs_here(args, nargs))
        dusk__trace_submitted(dusk__current_trace(), t->trace_id, t->key ? t->key : k->name,
                              k->name, t->ndeps, t->deps);
    if (ret != 0) {
        /* out of memory for the tables: fail it without running it */
        task->destroy = 0;
        starpu_task_destroy(task);
        t->status = ret;
        dusk__task_done(t);
        return ret;
    }
    if (id) *id = t->id;
    if (g->held && hold_op(g, OP_TASK, t) == 0) return 0;
    return submit_now(g, t);
}

int dusk_graph_hold(dusk_graph *g)
{
    if (g == NULL) return DUSK_EINVAL;
    g->held = 1;
    return 0;
}

int dusk_graph_compute(dusk_graph *g)
{
    if (g == NULL) return DUSK_EINVAL;
    g->held = 0;
    for (int64_t i = 0; i < g->nops; i++) {
        op *o = &g->ops[i];
        if (o->kind == OP_TASK)
            (void)submit_now(g, o->p); /* a refusal is recorded as the task's status */
        else if (o->kind == OP_READ)
            (void)read_now(o->p);
        else
            release_now(o->p);
    }
    free(g->ops);
    g->ops = NULL;
    g->nops = g->ops_cap = 0;
    return dusk_graph_wait(g);
}

int dusk_graph_wait(dusk_graph *g)
{
    if (g == NULL) return DUSK_EINVAL;
    pthread_mutex_lock(&g->lock);
    while (g->in_flight > 0) {
        wait_a_little(g);
        redraw(g, 0);
    }
    redraw(g, 1);
    int ret = g->failed ? DUSK_ETASK : g->cancelled ? DUSK_ECANCELED : 0;
    pthread_mutex_unlock(&g->lock);
    return ret;
}

void dusk_graph_cancel(dusk_graph *g)
{
    if (g != NULL) atomic_store(&g->cancel, 1);
}

int dusk__graph_cancelling(const dusk_graph *g)
{
    return atomic_load(&((dusk_graph *)g)->cancel);
}

int64_t dusk_graph_cancelled(const dusk_graph *g)
{
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int64_t n = g->cancelled;
    pthread_mutex_unlock(&mg->lock);
    return n;
}

void dusk_graph_counts(const dusk_graph *g, int64_t *submitted, int64_t *finished, int64_t *failed)
{
    dusk_graph *mg = (dusk_graph *)g; /* the lock is not part of the value */
    pthread_mutex_lock(&mg->lock);
    if (submitted) *submitted = g->submitted;
    if (finished) *finished = g->finished;
    if (failed) *failed = g->failed;
    pthread_mutex_unlock(&mg->lock);
}

int dusk_task_status(const dusk_graph *g, int64_t id)
{
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int s = DUSK_EINVAL, a;
    if (id >= 0 && id < g->submitted && id < g->state_cap) get_status(g, id, &s, &a);
    pthread_mutex_unlock(&mg->lock);
    return s;
}

int dusk_graph_failure(const dusk_graph *g, int64_t i, int64_t *id, const char **key,
                       const char **reason)
{
    dusk_graph *mg = (dusk_graph *)g;
    int ret = 0;
    pthread_mutex_lock(&mg->lock);
    if (i < 0 || i >= g->nfailures) {
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

int dusk_task_attempts(const dusk_graph *g, int64_t id)
{
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int s, a = 0;
    if (id >= 0 && id < g->submitted && id < g->state_cap) get_status(g, id, &s, &a);
    pthread_mutex_unlock(&mg->lock);
    return a;
}

int64_t dusk_graph_peak_in_flight(const dusk_graph *g)
{
    return g->peak_in_flight;
}

void dusk_graph_free(dusk_graph **gp)
{
    if (gp == NULL || *gp == NULL) return;
    dusk_graph *g = *gp;
    /* Held and never computed: run it so that nothing leaks; failures stay per task. */
    if (g->nops > 0 && dusk_graph_compute(g) != 0) g->held = 0;
    pthread_mutex_lock(&g->lock);
    while (g->in_flight > 0)
        wait_a_little(g);
    pthread_mutex_unlock(&g->lock);
    for (int64_t i = 0; i < g->nfailures; i++) {
        free(g->failures[i].key);
        free(g->failures[i].reason);
    }
    free(g->failures);
    free(g->state);
    free(g->odd);
    free(g->trace_ids);
    free(g->live);
    dusk__progress_free(&g->bar);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
    *gp = NULL;
}
