/* What the files of a graph share (graph.c, window.c, observers.c, data.c, reads.c, status.c,
 * submit.c): the graph itself, and the functions each offers the others. Who may call whom
 * (tools/layers.sh checks that no call goes round in a cycle):
 *
 *   graph.c      lifetime, hold/compute/wait/cancel, the bar: submit.c, reads.c, data.c,
 *                window.c, observers.c (and progress.c)
 *   submit.c     dusk_task_submit, hand-over to StarPU: status.c, data.c, window.c, observers.c
 *   status.c     status tables, failures, a task's end: data.c, window.c, observers.c
 *   reads.c      dusk_data_read*: data.c, window.c
 *   data.c       data objects: window.c
 *   window.c     what is in flight, waiting for room, held operations: progress.c (the bar)
 *   observers.c  the task-event hook and its observers: nothing
 *
 * and any of them runtime.c, mpi.c, resource.c and the I/O layer below. */
#ifndef DUSK_GRAPH_INTERNAL_H
#define DUSK_GRAPH_INTERNAL_H

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

/* An observer of one graph's tasks (observers.c); `deps`: it wants each task's dependencies. */
typedef struct dusk__graph_observer {
    dusk_observer_fn fn; /* NULL: none */
    void *user;
    int deps;
} dusk__graph_observer;
enum { DUSK__OBSERVER_USER, DUSK__OBSERVER_BAR, DUSK__GRAPH_OBSERVERS };

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
    /* Per task, 2 bits (see dusk__set_status): a batch of any length keeps a quarter of a byte per
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
    /* its own observers, called after those of every graph (observers.c), in this order:
     * dusk_graph_observe()'s, then the progress bar's (DUSK__OBSERVER_USER, _BAR) */
    dusk__graph_observer own[DUSK__GRAPH_OBSERVERS];
    /* touched by the submitting thread only: */
    dusk__graph_bar *bar; /* dusk_graph_progress(): observes the tasks, drawn while waiting */
    int held;             /* dusk_graph_hold(): operations wait in `ops` for compute */
    struct op *ops;
    int64_t nops, ops_cap;
    struct dusk_graph *next_live; /* in the list of graphs not yet freed (dusk__graphs_settle) */
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

static inline int dusk__graph_ok(const dusk_graph *g)
{
    return g != NULL && g->magic == GRAPH_MAGIC;
}

/* Under several ranks and not local: StarPU-MPI builds the tasks (owner-computes). */
static inline int dusk__mpi_graph(const dusk_graph *g)
{
    return dusk__mpi_active() && !g->local;
}

static inline int64_t dusk__data_bytes(const dusk_data *d)
{
    return dusk__data_values(d) * (int64_t)sizeof(double);
}

/* Whether StarPU holds values for d: it wraps the caller's memory, or a task that writes it
 * was handed over. When every task that was to write it was refused before it ran (out of
 * memory, StarPU refusing it), its handle holds none, and StarPU asserts on reading it
 * ("handle is not initialized"): what reads it is settled by dusk instead, as its failed
 * writer's dependents would be. */
static inline int dusk__produced(const dusk_data *d)
{
    return d->wrap != NULL || d->produced;
}

/* observers.c: whether what observes g wants each task's dependencies (the bar does not);
 * set g's own observer `slot` (DUSK__OBSERVER_*) to fn(user, ...), or to none (NULL fn). */
int dusk__observing_deps(const dusk_graph *g);
void dusk__graph_observer_set(dusk_graph *g, int slot, dusk_observer_fn fn, void *user, int deps);

/* window.c, lock held: poll dusk_graph_watch_cancel()'s flag; wait on the graph's condition
 * for a tenth of a second at most (then poll); redraw the progress bar (it rate-limits
 * itself); count one more thing in flight, of `bytes`, once there is room for it; count one
 * out. Without the lock: record an operation of a held graph (0 or DUSK_ENOMEM). */
void dusk__poll_cancel(dusk_graph *g);
void dusk__wait_a_little(dusk_graph *g);
void dusk__redraw(dusk_graph *g, int final);
void dusk__enter_window(dusk_graph *g, int64_t bytes);
void dusk__leave_window(dusk_graph *g, int64_t bytes);
int dusk__hold_op(dusk_graph *g, int kind, void *p);

/* data.c: drop a reference to d (the last frees it); d's StarPU handle, registered at its first
 * hand-over; drop one hold on the handle (the last unregisters it); the owner's release, now. */
void dusk__data_unref(dusk_data *d);
starpu_data_handle_t dusk__data_handle(dusk_data *d);
void dusk__drop_hold(dusk_data *d);
void dusk__release_now(dusk_data *d);

/* reads.c: start a read now (0, or DUSK_ESTARPU: refused at the call); tell a read's callback
 * that it could not start, and end it. */
int dusk__read_now(dusk_read *r);
void dusk__read_failed(dusk_read *r, int status);

/* status.c, lock held: make the tables cover task id; record task id's status and attempts;
 * the table of unfinished tasks (add, find). Without the lock: free a task. */
int dusk__grow_tables(dusk_graph *g, int64_t id);
int dusk__set_status(dusk_graph *g, int64_t id, int status, int attempts);
int dusk__live_add(dusk_graph *g, dusk__task *t);
dusk__task *dusk__live_find(const dusk_graph *g, int64_t id);
void dusk__task_free(dusk__task *t);

/* submit.c: hand a task to StarPU; on refusal, account for it as a failed task that never ran
 * (0, or the refusal's error). */
int dusk__submit_now(dusk_graph *g, dusk__task *t);

#endif
