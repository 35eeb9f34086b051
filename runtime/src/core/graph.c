/* Graphs: tasks handed to StarPU through a bounded window, their status, data and reads,
 * and the observers that see every task's life. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dusk_internal.h"

struct op;

typedef struct failure {
    int64_t id;
    char *key;
    char *reason;
} failure;

/* An item failure (dusk_item_failure), owned by the graph. */
typedef struct item_failure {
    int64_t item, task;
    int status;
    char *key, *reason;
} item_failure;

#define GRAPH_MAGIC 0x6475736b67726170ull /* "duskgrap" */

struct dusk_graph {
    uint64_t magic; /* GRAPH_MAGIC while alive: a freed graph reached again is refused */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled whenever something in flight finishes */
    int64_t window;
    int local; /* dusk_graph_set_local(): no StarPU-MPI, everything on this rank */
    int has_data;
    /* under lock: */
    int64_t in_flight, peak_in_flight;
    int64_t bytes_in_flight; /* data bytes the tasks and reads in flight use */
    int64_t window_bytes, window_floor;
    int64_t submitted, finished, failed, cancelled;
    /* Per task, 2 bits (see set_status): a batch of any length keeps a quarter of a byte per
     * task; what is not plain (failed, cancelled, retried) is in `odd`. */
    uint8_t *state;
    int64_t state_cap; /* tasks the bits cover */
    struct odd *odd;   /* open addressing on the task id; empty slots have id -1 */
    int64_t odd_cap, odd_count;
    failure *failures;
    int64_t failures_cap, nfailures; /* nfailures <= failed: recorded with details */
    item_failure *ifailures;
    int64_t ifailures_cap, nifailures;
    /* unfinished tasks by id, for explicit dependencies (under lock) */
    dusk__task **live;
    int64_t live_cap, live_count;
    int waiting_for_task; /* the submitter waits for one task: wake it at every completion */
    int draining;         /* the submitter waits for the window to drain */
    int64_t *trace_ids;   /* per task, when observed: for explicit dependencies */
    atomic_int cancel;    /* dusk_graph_cancel() was called: set from signal handlers too */
    const volatile int *cancel_flag; /* dusk_graph_watch_cancel() */
    dusk_observer_fn obs_fn;         /* dusk_graph_observe() */
    void *obs_user;
    /* the progress bar, an observer of this graph's tasks: */
    atomic_llong counted; /* tasks with DUSK_TASK_COUNTS done */
    /* touched by the submitting thread only: */
    dusk__progress *bar;
    int64_t bar_total; /* 0: every task counts */
    int held;          /* dusk_graph_hold(): operations wait in `ops` for compute */
    struct op *ops;
    int64_t nops, ops_cap;
    struct dusk_graph *next_live; /* in the list of graphs not yet freed (config: shutdown) */
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

static int graph_ok(const dusk_graph *g)
{
    return g != NULL && g->magic == GRAPH_MAGIC;
}

/* ---- observers ------------------------------------------------------------------------------ */

#define MAX_OBSERVERS 8
static struct {
    dusk_observer_fn fn;
    void *user;
} observers[MAX_OBSERVERS];
static atomic_int nobservers; /* slots in use, for a quick test */

/* The progress bar of dusk_graph_progress(), an observer of its graph like any other: it
 * counts the tasks that advance it (the thread that waits on the graph draws it). */
static void bar_observe(dusk_graph *g, const dusk_task_event *ev)
{
    if (ev->kind == DUSK_EVENT_FINISH && (ev->flags & DUSK_TASK_COUNTS))
        atomic_fetch_add(&g->counted, 1);
}

int dusk__observing(const dusk_graph *g)
{
    return atomic_load(&nobservers) > 0 || (g != NULL && (g->obs_fn != NULL || g->bar != NULL));
}

/* Whether what observes g wants each task's dependencies (the bar does not). */
static int observing_deps(const dusk_graph *g)
{
    return atomic_load(&nobservers) > 0 || g->obs_fn != NULL;
}

void dusk__observe(const dusk_task_event *ev)
{
    for (int i = 0; i < MAX_OBSERVERS; i++)
        if (observers[i].fn != NULL) observers[i].fn(observers[i].user, ev);
    dusk_graph *g = (dusk_graph *)ev->graph;
    if (g->obs_fn != NULL) g->obs_fn(g->obs_user, ev);
    if (g->bar != NULL) bar_observe(g, ev);
}

int dusk_graph_observe(dusk_graph *g, dusk_observer_fn fn, void *user)
{
    if (!graph_ok(g) || g->submitted > 0) return DUSK_EINVAL;
    g->obs_user = user;
    g->obs_fn = fn;
    return 0;
}

void dusk__observers_clear(void)
{
    memset(observers, 0, sizeof observers);
    atomic_store(&nobservers, 0);
}

int dusk_observer_add(dusk_observer_fn fn, void *user, int *handle)
{
    if (handle) *handle = -1;
    if (fn == NULL) return DUSK_EINVAL;
    for (int i = 0; i < MAX_OBSERVERS; i++)
        if (observers[i].fn == NULL) {
            observers[i].user = user;
            observers[i].fn = fn;
            atomic_fetch_add(&nobservers, 1);
            if (handle) *handle = i;
            return 0;
        }
    return DUSK_ENOMEM;
}

int dusk_observer_remove(int handle)
{
    if (handle < 0 || handle >= MAX_OBSERVERS || observers[handle].fn == NULL) return DUSK_EINVAL;
    observers[handle].fn = NULL;
    observers[handle].user = NULL;
    atomic_fetch_sub(&nobservers, 1);
    return 0;
}

void dusk__task_event(const dusk__task *t, dusk_event_kind kind, dusk_task_event *ev)
{
    const dusk_data *d0 = t->nargs ? t->data[0] : NULL;
    *ev = (dusk_task_event){
        .kind = kind,
        .graph = t->g,
        .id = t->id,
        .uid = t->trace_id,
        .key = dusk__task_key(t),
        .kernel = t->k->name,
        .flags = t->flags,
        .item_first = t->item_first,
        .item_count = t->item_count,
        .item_step = t->item_step,
        .items = t->nitems,
        .rows = d0 ? d0->dims[0] : 0,
        .cols = d0 ? d0->dims[1] : 0,
        .bytes = t->bytes,
        .ndeps = t->ndeps,
        .deps = t->deps,
        .worker = -1,
    };
    if (kind == DUSK_EVENT_SUBMIT) return;
    ev->worker = t->worker;
    ev->impl = t->worker >= 0 ? (t->impl ? t->impl : "CPU") : NULL;
    if (kind == DUSK_EVENT_START) return;
    int ran = t->worker >= 0 && t->start > 0 && t->end >= t->start;
    ev->start = ran ? t->start : 0;
    ev->end = ran ? t->end : 0;
    ev->status = t->status;
    ev->attempts = t->attempts;
    ev->reason = t->status ? t->reason : NULL;
    ev->items_failed = t->items_failed;
    ev->elsewhere = t->elsewhere;
}

/* ---- graphs --------------------------------------------------------------------------------- */

/* Graphs not yet freed, so that dusk_shutdown() can settle them (config.c). */
static pthread_mutex_t graphs_lock = PTHREAD_MUTEX_INITIALIZER;
static dusk_graph *live_graphs;

/* Idle workers. StarPU's workers poll for tasks in a tight loop, so between graphs (a Python
 * session between two calls, a program doing its own work between batches) they would burn
 * every core they own and slow the caller's own work on them. They are paused
 * (starpu_pause) while no graph exists and resumed when the first one is made; under
 * graphs_lock, since StarPU's pause depth is a plain counter. */
static int workers_paused, workers_stopping;

static void workers_update(void) /* with graphs_lock held */
{
    int want = live_graphs == NULL && !workers_stopping;
    if (want && !workers_paused) {
        starpu_pause();
        dusk__extensions_wake(0);
    } else if (!want && workers_paused) {
        dusk__extensions_wake(1);
        starpu_resume();
    }
    workers_paused = want;
}

void dusk__workers_started(void)
{
    pthread_mutex_lock(&graphs_lock);
    workers_stopping = 0;
    workers_update();
    pthread_mutex_unlock(&graphs_lock);
}

void dusk__workers_stopping(void)
{
    pthread_mutex_lock(&graphs_lock);
    workers_stopping = 1;
    workers_update();
    pthread_mutex_unlock(&graphs_lock);
}

int64_t dusk_window_bytes(void)
{
    const dusk_config *cfg = dusk_current_config();
    if (!dusk__started || cfg == NULL) return 0;
    return (int64_t)(cfg->window_mb ? cfg->window_mb : 32 * dusk_worker_count()) << 20;
}

int dusk_graph_new(dusk_graph **out)
{
    if (out == NULL) return DUSK_EINVAL;
    *out = NULL;
    if (!dusk__started) return DUSK_ESTATE;
    dusk_graph *g = calloc(1, sizeof *g);
    if (g == NULL) return DUSK_ENOMEM;
    g->magic = GRAPH_MAGIC;
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
    g->window_bytes = dusk_window_bytes();
    g->window_floor = 2 * workers;
    pthread_mutex_lock(&graphs_lock);
    g->next_live = live_graphs;
    live_graphs = g;
    if (dusk__started) workers_update();
    pthread_mutex_unlock(&graphs_lock);
    *out = g;
    return 0;
}

int dusk_graph_set_local(dusk_graph *g)
{
    if (!graph_ok(g) || g->has_data) return DUSK_EINVAL;
    g->local = 1;
    return 0;
}

int dusk_graph_watch_cancel(dusk_graph *g, const volatile int *flag)
{
    if (!graph_ok(g)) return DUSK_EINVAL;
    g->cancel_flag = flag;
    return 0;
}

/* Under several ranks and not local: StarPU-MPI builds the tasks (owner-computes). */
static int mpi_graph(const dusk_graph *g)
{
    return dusk__mpi_active() && !g->local;
}

int dusk_graph_progress(dusk_graph *g, int64_t total, const char *label)
{
    if (!graph_ok(g) || total < 0 || label == NULL) return DUSK_EINVAL;
    if (!dusk__started) return DUSK_ESTATE; /* no configuration to draw by */
    dusk__progress_free(&g->bar);
    g->bar = dusk__progress_new(label, total, dusk_current_config()->progress);
    g->bar_total = total;
    return 0;
}

/* Whether dusk_graph_watch_cancel()'s flag is set. Another thread writes it while this one
 * reads (a waiting language's main thread, dusk_eigh_stack's callers): read as an atomic
 * (relaxed: it orders nothing else), so that a writer storing atomically is race-free (and
 * ThreadSanitizer agrees). */
static int cancel_flagged(const dusk_graph *g)
{
    return g->cancel_flag != NULL && __atomic_load_n(g->cancel_flag, __ATOMIC_RELAXED) != 0;
}

/* Lock held: a cancel asked for through dusk_graph_watch_cancel()'s flag. */
static void poll_cancel(dusk_graph *g)
{
    if (cancel_flagged(g)) atomic_store(&g->cancel, 1);
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
    poll_cancel(g);
}

/* Lock held: redraw the bar (it rate-limits itself). */
static void redraw(dusk_graph *g, int final)
{
    if (g->bar != NULL)
        dusk__progress_draw(g->bar, g->bar_total ? atomic_load(&g->counted) : g->finished,
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

/* ---- data ----------------------------------------------------------------------------------- */

static int64_t data_bytes(const dusk_data *d)
{
    return dusk__data_values(d) * (int64_t)sizeof(double);
}

static void data_unref(dusk_data *d)
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
    if (!graph_ok(g)) return DUSK_EINVAL;
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
static starpu_data_handle_t data_handle(dusk_data *d)
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
    if (mpi_graph(d->g)) dusk__mpi_data_register(d); /* owned by rank 0 unless set */
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
    leave_window(g, 0);
    pthread_mutex_unlock(&g->lock);
    data_unref(d);
}

/* Drop one hold on d's handle (the owner's, or a finished read's); the last unregisters it.
 * Unregistering while a read (starpu_data_acquire_cb) is still queued on the handle works,
 * but StarPU 1.3 then keeps about 48 bytes per read until it shuts down: millions of reads
 * would grow without bound. So a handle with reads in flight is unregistered by the last
 * of them, once released. */
static void drop_hold(dusk_data *d)
{
    /* a handle never handed to StarPU was never registered (data_handle); after
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
        leave_window(g, 0);
        pthread_mutex_unlock(&g->lock);
        data_unref(d);
    }
}

static void release_now(dusk_data *d)
{
    drop_hold(d);
    data_unref(d);
}

void dusk_data_release(dusk_data **d)
{
    if (d == NULL || *d == NULL) return;
    dusk_data *x = *d;
    *d = NULL;
    if (!x->g->held) {
        release_now(x);
        return;
    }
    /* Held: released after the operations recorded before it. When even that cannot be
     * recorded (out of memory), the data is never released rather than go ahead of the
     * tasks that use it. */
    (void)hold_op(x->g, OP_RELEASE, x); /* on failure it leaks, deliberately */
}

/* ---- reads ---------------------------------------------------------------------------------- */

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
    drop_hold(r->d);
    pthread_mutex_lock(&r->g->lock);
    leave_window(r->g, data_bytes(r->d));
    pthread_mutex_unlock(&r->g->lock);
    data_unref(r->d);
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

static void read_failed(dusk_read *r, int status);

/* Whether StarPU holds values for d: it wraps the caller's memory, or a task that writes it
 * was handed over. When every task that was to write it was refused before it ran (out of
 * memory, StarPU refusing it), its handle holds none, and StarPU asserts on reading it
 * ("handle is not initialized"): what reads it is settled by dusk instead, as its failed
 * writer's dependents would be. */
static int produced(const dusk_data *d)
{
    return d->wrap != NULL || d->produced;
}

static int read_now(dusk_read *r)
{
    dusk_graph *g = r->g;
    (void)data_handle(r->d); /* on every rank, so that StarPU-MPI's tags agree */
    if (mpi_graph(g)) {
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
    if (!produced(r->d) && !mpi_graph(g)) {
        /* every task that was to write it was refused before it ran: StarPU has no values to
         * give (it would assert), and the read hears of the failure at once */
        int failed = atomic_load(&r->d->failed);
        read_failed(r, failed ? failed : DUSK_EDEP);
        return 0;
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
        return DUSK_ESTARPU;
    }
    return 0;
}

/* A read that failed to start, after read_now(): the caller's callback hears of it, so that
 * what waits for it (a count, a file's row) does not wait forever. */
static void read_failed(dusk_read *r, int status)
{
    int held = r->hold_fn != NULL;
    dusk_data *d = r->d;
    read_refused(r, status);
    if (held) return; /* dusk_read_done() ends it */
    free(r);
    data_unref(d);
}

static int read_start(dusk_data *d, int rank, dusk_read_fn fn, dusk_read_hold_fn hold_fn,
                      void *user)
{
    if (d == NULL || !graph_ok(d->g) || (fn == NULL && hold_fn == NULL) || rank < DUSK_OWNER ||
        rank >= dusk_rank_count())
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
        if (hold_op(d->g, OP_READ, r) == 0) return 0;
        data_unref(d);
        free(r);
        return DUSK_ENOMEM;
    }
    int ret = read_now(r);
    if (ret != 0) { /* refused at the call: fn is never called */
        data_unref(d);
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
        data_unref(r->d);
        free(r);
        return;
    }
    read_finish(r);
}

/* ---- task status ---------------------------------------------------------------------------- */

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

/* Lock held: grow the odd table to hold `want` entries at most half full. */
static int odd_reserve(dusk_graph *g, int64_t want)
{
    if (2 * want <= g->odd_cap) return 0;
    int64_t cap = g->odd_cap ? 2 * g->odd_cap : 64;
    while (2 * want > cap)
        cap *= 2;
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
    return 0;
}

/* Lock held: record an odd task. Room was reserved at submission (see dusk_task_submit), so
 * a task that finishes can always record its status. */
static int odd_put(dusk_graph *g, int64_t id, int status, int attempts)
{
    if (odd_reserve(g, g->odd_count + 1) != 0) return DUSK_ENOMEM;
    odd *o = odd_slot(g, id);
    if (o->id == -1) g->odd_count++;
    *o = (odd){id, (int8_t)status, (uint8_t)(attempts > 255 ? 255 : attempts)};
    return 0;
}

/* Lock held: make the tables cover task id (pending), and leave room in `odd` for every
 * unfinished task to finish oddly. */
static int grow_tables(dusk_graph *g, int64_t id)
{
    if (id >= g->state_cap) {
        int64_t cap = g->state_cap ? 2 * g->state_cap : 4096;
        while (cap <= id)
            cap *= 2;
        uint8_t *s = realloc(g->state, (size_t)cap / 4);
        if (s == NULL) return DUSK_ENOMEM;
        memset(s + g->state_cap / 4, 0, (size_t)(cap - g->state_cap) / 4);
        g->state = s;
        if (observing_deps(g) || g->trace_ids != NULL) {
            int64_t *ids = realloc(g->trace_ids, (size_t)cap * sizeof *ids);
            if (ids == NULL) return DUSK_ENOMEM;
            g->trace_ids = ids;
        }
        g->state_cap = cap;
    }
    return odd_reserve(g, g->odd_count + g->live_count + 1);
}

/* Lock held: record task id's status (1 pending, 0 done, DUSK_TASK_ELSEWHERE, or a DUSK_E*
 * code) and attempts. The tables cover it (grow_tables). */
static int set_status(dusk_graph *g, int64_t id, int status, int attempts)
{
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
    f->key = dusk__strdup(dusk__task_key(t));
    f->reason = dusk__strdup(t->reason ? t->reason : dusk_strerror(t->status));
}

/* Lock held: one item failure of task t. */
static void record_item(dusk_graph *g, const dusk__task *t, int64_t k, int status,
                        const char *reason)
{
    if (g->nifailures >= g->ifailures_cap) {
        int64_t cap = g->ifailures_cap ? 2 * g->ifailures_cap : 16;
        item_failure *f = realloc(g->ifailures, (size_t)cap * sizeof *f);
        if (f == NULL) return;
        g->ifailures = f;
        g->ifailures_cap = cap;
    }
    item_failure *f = &g->ifailures[g->nifailures++];
    f->item = dusk__task_item(t, k);
    f->task = t->id;
    f->status = status;
    f->key = dusk__strdup(dusk__task_key(t));
    f->reason = dusk__strdup(reason ? reason : dusk_strerror(status));
}

/* Lock held: the items task t failed. Tasks over named items or stacks record theirs: a
 * task that failed as a whole (its kernel, or before it ran) fails every item it had; one
 * whose items failed (every one, or some) records those that failed, with their reasons.
 * Items skipped because an item they depend on failed (DUSK_EDEP), and cancellations, are
 * not failures. */
static void record_items(dusk_graph *g, dusk__task *t)
{
    if (t->item_count == 0 && t->nitems <= 1) return;
    if (t->status != 0 && !t->from_items) {
        if (t->status == DUSK_EDEP || t->status == DUSK_ECANCELED) return;
        for (int64_t k = 0; k < t->nitems; k++)
            record_item(g, t, k, t->status, t->reason);
        return;
    }
    for (int64_t i = 0; i < t->nifails; i++)
        record_item(g, t, t->ifails[i].k, t->ifails[i].status, t->ifails[i].reason);
}

static void task_free(dusk__task *t)
{
    for (int i = 0; i < t->nargs; i++)
        data_unref(t->data[i]);
    for (int64_t i = 0; i < t->nifails; i++)
        free(t->ifails[i].reason);
    free(t->ifails);
    if (t->item_state != &t->item_one) free(t->item_state);
    free(t->deps);
    free(t->key);
    free(t->reason);
    free(t);
}

void dusk__task_done(void *arg)
{
    dusk__task *t = arg;
    dusk_graph *g = t->g;
    if (t->on_done && !t->elsewhere) t->on_done(t->user, t->id, t->status);
    pthread_mutex_lock(&g->lock);
    live_remove(g, t);
    (void)set_status(g, t->id, t->elsewhere ? DUSK_TASK_ELSEWHERE : t->status, t->attempts);
    g->finished++;
    if (t->status == DUSK_ECANCELED) {
        g->cancelled++;
    } else if (t->status != 0) {
        record_failure(g, t);
        g->failed++;
    }
    if (!t->elsewhere) record_items(g, t);
    int handed = t->handed;
    pthread_mutex_unlock(&g->lock);
    /* after its status is recorded; a cancelled task never ran, and one that another rank runs
     * is observed there */
    if (dusk__observing(g) && !t->elsewhere) {
        dusk_task_event ev;
        dusk__task_event(t, DUSK_EVENT_FINISH, &ev);
        dusk__observe(&ev);
    }
    int64_t bytes = t->bytes;
    task_free(t);
    /* last: once the window counts it out, dusk_graph_wait() may return and free the graph */
    if (handed) {
        pthread_mutex_lock(&g->lock);
        leave_window(g, bytes);
        pthread_mutex_unlock(&g->lock);
    }
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

/* A task that will not run (refused at submission): what it writes is not produced. The task
 * that was to write it before may not have ended yet (a held graph's, or one in flight): its
 * end would mark the data good again after this refusal, and what comes after would read its
 * values as if this task had run. So that task is told (`poison`), and its end leaves the data
 * failed (task_end in kernel.c); a task that has ended already has left the data as it is now,
 * and the failure is stored at once. A read submitted between that task and this one may
 * then see the failure too: it errs on the safe side. */
static void fail_outputs(dusk__task *t, int status)
{
    dusk_graph *g = t->g;
    pthread_mutex_lock(&g->lock); /* keeps the one before alive (dusk__task_done) */
    for (int i = 0; i < t->nargs; i++) {
        dusk_data *d = t->data[i];
        if (!(t->modes[i] & DUSK_W)) continue;
        dusk__task *p = t->prev_writer[i] >= 0 ? live_find(g, t->prev_writer[i]) : NULL;
        if (p != NULL) {
            unsigned bits = 0;
            for (int j = 0; j < p->nargs; j++)
                if (p->data[j] == d && (p->modes[j] & DUSK_W)) bits |= 1u << j;
            atomic_store(&p->poison_status, status);
            atomic_fetch_or(&p->poison, bits);
            if (!atomic_load(&p->ended)) continue; /* its end fails d; else it has ended */
        }
        atomic_store(&d->failed, status);
    }
    pthread_mutex_unlock(&g->lock);
}

/* t is handed over: what it writes holds values from now on. Returns the arguments that did
 * not before (a bit each), for a refusal to put back (unmark_produced). */
static unsigned mark_produced(dusk__task *t)
{
    unsigned fresh = 0;
    for (int i = 0; i < t->nargs; i++)
        if ((t->modes[i] & DUSK_W) && !t->data[i]->produced) {
            t->data[i]->produced = 1;
            fresh |= 1u << i;
        }
    return fresh;
}

static void unmark_produced(dusk__task *t, unsigned fresh)
{
    for (int i = 0; i < t->nargs; i++)
        if (fresh & (1u << i)) t->data[i]->produced = 0;
}

/* A task that is not handed to StarPU after all, settled with `status` (its outputs failed). */
static void settle_unrun(dusk__task *t, int status)
{
    t->stask->destroy = 0;
    starpu_task_destroy(t->stask);
    t->stask = NULL;
    t->status = status;
    fail_outputs(t, status);
    dusk__task_done(t);
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
        (void)mark_produced(t); /* by the rank that runs it */
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
    unsigned fresh = mark_produced(t); /* before: once submitted, t may be gone */
    int ret = starpu_task_submit(task);
    dusk__mpi_task_post_build(&t->k->cl, descrs, t->nargs);
    if (ret == 0) return 0;
    unmark_produced(t, fresh);
    ret = ret == -ENODEV ? DUSK_ENODEV : DUSK_ESTARPU;
    task->destroy = 0;
    starpu_task_destroy(task);
    t->status = ret;
    t->flags &= ~(unsigned)DUSK_TASK_COUNTS;
    fail_outputs(t, ret); /* readers then get DUSK_EDEP, not garbage */
    dusk__task_done(t);
    return ret;
}

/* Hand a task to StarPU; on refusal, account for it as a failed task that never ran. */
static int submit_now(dusk_graph *g, dusk__task *t)
{
    if (mpi_graph(g)) return submit_mpi(g, t);
    for (int i = 0; i < t->nargs; i++)
        if ((t->modes[i] & DUSK_R) && !produced(t->data[i])) {
            settle_unrun(t, DUSK_EDEP); /* see produced() */
            return 0;
        }
    for (int i = 0; i < t->nargs; i++)
        t->stask->handles[i] = data_handle(t->data[i]);
    pthread_mutex_lock(&g->lock);
    enter_window(g, t->bytes);
    t->handed = 1;
    pthread_mutex_unlock(&g->lock);
    unsigned fresh = mark_produced(t); /* before: once submitted, t may be gone */
    int ret = starpu_task_submit(t->stask);
    if (ret == 0) return 0;
    unmark_produced(t, fresh);
    ret = ret == -ENODEV ? DUSK_ENODEV : DUSK_ESTARPU;
    t->stask->destroy = 0;
    starpu_task_destroy(t->stask);
    t->status = ret;
    t->flags &= ~(unsigned)DUSK_TASK_COUNTS;
    fail_outputs(t, ret);
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
        if (g->trace_ids != NULL) t->deps[t->ndeps++] = g->trace_ids[after[i]];
    return 0;
}

/* Whether this rank runs a task on args: StarPU-MPI runs it on the owner of the data it
 * writes (for observers only: a task on another rank is observed there). */
static int runs_here(const dusk_graph *g, const dusk_arg *args, int nargs)
{
    if (!mpi_graph(g)) return 1;
    for (int i = 0; i < nargs; i++)
        if (args[i].mode & DUSK_W) return args[i].data->owner == dusk_rank();
    return 1;
}

/* The arguments and options of a task, checked; its number of items into *nitems. */
static int check_task(const dusk_graph *g, const dusk_kernel *k, const dusk_arg *args, int nargs,
                      const void *value, size_t value_size, const dusk_task_opts *opts,
                      int64_t *nitems)
{
    if (!graph_ok(g) || k == NULL || nargs < 0 || nargs > DUSK_MAX_ARGS ||
        (nargs > 0 && args == NULL) || (value_size > 0 && value == NULL) ||
        value_size > DUSK_MAX_VALUE_SIZE || opts->retries < 0 || opts->retries > 100 ||
        opts->nafter < 0 || (opts->nafter > 0 && opts->after == NULL) ||
        opts->where < DUSK_WHERE_ANY || opts->where > DUSK_WHERE_GPU || opts->item_count < 0)
        return DUSK_EINVAL;
    *nitems = 1;
    for (int i = 0; i < nargs; i++) {
        const dusk_data *d = args[i].data;
        if (d == NULL || d->g != g || starpu_mode(args[i].mode) == STARPU_NONE) return DUSK_EINVAL;
        /* StarPU asserts on reading a handle that nothing initialised */
        if ((args[i].mode & DUSK_R) && !d->written) return DUSK_EINVAL;
        if (d->count > 1) {
            if (*nitems > 1 && d->count != *nitems) return DUSK_EINVAL;
            *nitems = d->count;
        }
    }
    if (opts->item_count > 0 && opts->item_count != *nitems) return DUSK_EINVAL;
    /* Explicit dependencies on tasks of a held graph are declared to StarPU before either
     * runs; StarPU-MPI builds tasks only at hand-over, so under several ranks they are
     * refused in held graphs (data dependencies work across ranks). */
    if (opts->nafter > 0 && g->held && mpi_graph(g)) return DUSK_EINVAL;
    for (int i = 0; i < opts->nafter; i++)
        if (opts->after[i] < 0 || opts->after[i] >= g->submitted) return DUSK_EINVAL;
    return 0;
}

/* Data this large are checked against the memory that can still be had before a task is
 * made to allocate them: StarPU would otherwise wait forever for room that never comes. */
#define BIG_DATA ((int64_t)256 << 20)

static int check_memory(const dusk_arg *args, int nargs)
{
    int64_t need = 0;
    /* what it reads was allocated (or refused) for the task that wrote it */
    for (int i = 0; i < nargs; i++)
        if (!(args[i].mode & DUSK_R) && args[i].data->wrap == NULL && args[i].data->handle == NULL)
            need += data_bytes(args[i].data);
    if (need < BIG_DATA) return 0;
    dusk_memory m;
    if (dusk_memory_query(&m) != 0 || m.available < 0 || need <= m.available) return 0;
    return DUSK_ENOMEM;
}

int dusk_task_submit(dusk_graph *g, const dusk_kernel *k, const dusk_arg *args, int nargs,
                     const void *value, size_t value_size, const dusk_task_opts *opts, int64_t *id)
{
    dusk_task_opts defaults;
    if (id) *id = -1;
    if (opts == NULL) {
        (void)dusk_task_opts_init(&defaults);
        opts = &defaults;
    }
    int64_t nitems;
    int ret = check_task(g, k, args, nargs, value, value_size, opts, &nitems);
    if (ret != 0) return ret;
    if (!dusk__started) return DUSK_ESTATE;
    poll_cancel(g);
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
    t->nitems = nitems;
    t->item_first = opts->item_count > 0 ? opts->item_first : 0;
    t->item_count = opts->item_count;
    t->item_step = opts->item_count > 0 ? (opts->item_step ? opts->item_step : 1) : 0;
    t->item_state = &t->item_one;
    for (int i = 0; i < DUSK_MAX_ARGS; i++)
        t->prev_writer[i] = -1;
    atomic_init(&t->poison, 0);
    atomic_init(&t->poison_status, 0);
    atomic_init(&t->ended, 0);
    t->trace_id = atomic_fetch_add(&next_trace_id, 1);
    if ((opts->key && (t->key = dusk__strdup(opts->key)) == NULL) ||
        (nitems > 1 && (t->item_state = calloc((size_t)nitems, 1)) == NULL)) {
        t->item_state = t->item_state ? t->item_state : &t->item_one;
        free(t->key);
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
    int nomem = check_memory(args, nargs);

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
    ret = grow_tables(g, g->submitted);
    if (ret != 0) { /* not even counted: nothing to settle */
        pthread_mutex_unlock(&g->lock);
        task->destroy = 0;
        starpu_task_destroy(task);
        task_free(t);
        return ret;
    }
    t->id = g->submitted++;
    if (id) *id = t->id;
    ret = set_status(g, t->id, 1, 0);
    int observed = dusk__observing(g);
    if (ret == 0 && observing_deps(g)) {
        if (g->trace_ids != NULL) g->trace_ids[t->id] = t->trace_id;
        ret = collect_deps(t, args, nargs, opts->after, opts->nafter, g);
    }
    for (int i = 0; i < nargs; i++)
        if (args[i].mode & DUSK_W) {
            args[i].data->last_writer = t->trace_id;
            args[i].data->written = 1;
            t->prev_writer[i] = args[i].data->writer_id;
            args[i].data->writer_id = t->id;
        }
    if (ret == 0) ret = live_add(g, t);
    for (int i = 0; i < opts->nafter && ret == 0; i++) {
        dusk__task *p = live_find(g, opts->after[i]);
        if (p != NULL) starpu_task_declare_deps_array(task, 1, &p->stask);
    }
    pthread_mutex_unlock(&g->lock);
    if (observed && runs_here(g, args, nargs)) {
        dusk_task_event ev;
        dusk__task_event(t, DUSK_EVENT_SUBMIT, &ev);
        dusk__observe(&ev);
    }
    if (ret == 0 && nomem) {
        char why[160];
        snprintf(why, sizeof why,
                 "its data need %.1f GB of memory, more than this process can still allocate",
                 (double)t->bytes / 1e9);
        t->reason = dusk__strdup(why);
        ret = DUSK_ENOMEM;
    }
    if (ret != 0) {
        /* out of memory for the tables, or for its data: fail it without running it */
        task->destroy = 0;
        starpu_task_destroy(task);
        t->status = ret;
        fail_outputs(t, ret);
        dusk__task_done(t);
        return ret;
    }
    if (g->held) {
        if (hold_op(g, OP_TASK, t) == 0) return 0;
        /* It cannot be recorded: handing it over now would put it ahead of the operations
         * recorded before it. It fails instead, and what it writes is not produced. */
        task->destroy = 0;
        starpu_task_destroy(task);
        t->status = DUSK_ENOMEM;
        fail_outputs(t, DUSK_ENOMEM);
        dusk__task_done(t);
        return DUSK_ENOMEM;
    }
    return submit_now(g, t);
}

/* ---- running and waiting -------------------------------------------------------------------- */

int dusk_graph_hold(dusk_graph *g)
{
    if (!graph_ok(g)) return DUSK_EINVAL;
    g->held = 1;
    return 0;
}

static int wait_all(dusk_graph *g)
{
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

int dusk_graph_compute(dusk_graph *g)
{
    if (!graph_ok(g)) return DUSK_EINVAL;
    if (!dusk__started) return DUSK_ESTATE;
    g->held = 0;
    int lost_read = 0;
    for (int64_t i = 0; i < g->nops; i++) {
        op *o = &g->ops[i];
        if (o->kind == OP_TASK) {
            (void)submit_now(g, o->p); /* a refusal is recorded as the task's status */
        } else if (o->kind == OP_READ) {
            int ret = read_now(o->p);
            if (ret != 0) {
                read_failed(o->p, ret); /* its callback hears of it */
                lost_read = 1;
            }
        } else {
            release_now(o->p);
        }
    }
    free(g->ops);
    g->ops = NULL;
    g->nops = g->ops_cap = 0;
    int ret = wait_all(g);
    return ret == 0 && lost_read ? DUSK_ESTARPU : ret;
}

int dusk_graph_wait(dusk_graph *g)
{
    if (!graph_ok(g)) return DUSK_EINVAL;
    /* a held graph has run nothing yet: waiting would return at once with reads never made */
    if (g->held && g->nops > 0) return DUSK_ESTATE;
    return wait_all(g);
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
    if (!graph_ok(g)) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int64_t n = g->cancelled;
    pthread_mutex_unlock(&mg->lock);
    return n;
}

void dusk_graph_counts(const dusk_graph *g, int64_t *submitted, int64_t *finished, int64_t *failed)
{
    if (submitted) *submitted = 0;
    if (finished) *finished = 0;
    if (failed) *failed = 0;
    if (!graph_ok(g)) return;
    dusk_graph *mg = (dusk_graph *)g; /* the lock is not part of the value */
    pthread_mutex_lock(&mg->lock);
    if (submitted) *submitted = g->submitted;
    if (finished) *finished = g->finished;
    if (failed) *failed = g->failed;
    pthread_mutex_unlock(&mg->lock);
}

int dusk_task_status(const dusk_graph *g, int64_t id)
{
    if (!graph_ok(g)) return DUSK_EINVAL;
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
    if (id) *id = -1;
    if (key) *key = NULL;
    if (reason) *reason = NULL;
    if (!graph_ok(g) || id == NULL || key == NULL || reason == NULL) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    int ret = 0;
    pthread_mutex_lock(&mg->lock);
    if (i < 0 || i >= g->nfailures) {
        ret = DUSK_EINVAL;
    } else {
        *id = g->failures[i].id;
        *key = g->failures[i].key;
        *reason = g->failures[i].reason;
    }
    pthread_mutex_unlock(&mg->lock);
    return ret;
}

int64_t dusk_graph_item_failure_count(const dusk_graph *g)
{
    if (!graph_ok(g)) return 0;
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int64_t n = g->nifailures;
    pthread_mutex_unlock(&mg->lock);
    return n;
}

int dusk_graph_item_failure(const dusk_graph *g, int64_t i, dusk_item_failure *out)
{
    if (out == NULL) return DUSK_EINVAL;
    memset(out, 0, sizeof *out);
    if (!graph_ok(g)) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    int ret = 0;
    pthread_mutex_lock(&mg->lock);
    if (i < 0 || i >= g->nifailures) {
        ret = DUSK_EINVAL;
    } else {
        const item_failure *f = &g->ifailures[i];
        *out = (dusk_item_failure){f->item, f->task, f->status, f->key ? f->key : "",
                                   f->reason ? f->reason : ""};
    }
    pthread_mutex_unlock(&mg->lock);
    return ret;
}

int dusk_task_attempts(const dusk_graph *g, int64_t id)
{
    if (!graph_ok(g)) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int s, a = 0;
    if (id >= 0 && id < g->submitted && id < g->state_cap) get_status(g, id, &s, &a);
    pthread_mutex_unlock(&mg->lock);
    return a;
}

int64_t dusk_graph_peak_in_flight(const dusk_graph *g)
{
    if (!graph_ok(g)) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int64_t n = g->peak_in_flight;
    pthread_mutex_unlock(&mg->lock);
    return n;
}

/* Every graph not yet freed waits for its work in flight: dusk_shutdown() calls it before
 * StarPU stops. A held graph's recorded operations are run first (as dusk_graph_compute()
 * runs them: their reads' callbacks are called, nothing is left pending), so that
 * dusk_graph_free() after the shutdown frees only memory. */
void dusk__graphs_settle(void)
{
    pthread_mutex_lock(&graphs_lock);
    for (dusk_graph *g = live_graphs; g != NULL; g = g->next_live) {
        if (g->nops > 0 && dusk_graph_compute(g) != 0) g->held = 0; /* failures stay per task */
        (void)wait_all(g);
    }
    pthread_mutex_unlock(&graphs_lock);
}

void dusk_graph_free(dusk_graph **gp)
{
    if (gp == NULL || !graph_ok(*gp)) return;
    dusk_graph *g = *gp;
    /* Held and never computed: run it so that nothing leaks; failures stay per task. */
    if (g->nops > 0 && dusk__started && dusk_graph_compute(g) != 0) g->held = 0;
    pthread_mutex_lock(&g->lock);
    while (g->in_flight > 0)
        wait_a_little(g);
    pthread_mutex_unlock(&g->lock);
    pthread_mutex_lock(&graphs_lock);
    for (dusk_graph **p = &live_graphs; *p != NULL; p = &(*p)->next_live)
        if (*p == g) {
            *p = g->next_live;
            break;
        }
    if (dusk__started) workers_update();
    pthread_mutex_unlock(&graphs_lock);
    for (int64_t i = 0; i < g->nfailures; i++) {
        free(g->failures[i].key);
        free(g->failures[i].reason);
    }
    for (int64_t i = 0; i < g->nifailures; i++) {
        free(g->ifailures[i].key);
        free(g->ifailures[i].reason);
    }
    free(g->ifailures);
    free(g->failures);
    free(g->state);
    free(g->odd);
    free(g->trace_ids);
    free(g->live);
    free(g->ops);
    dusk__progress_free(&g->bar);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    g->magic = 0;
    free(g);
    *gp = NULL;
}
