/* What runtime/src and codelets/ share; nothing here is public. */
#ifndef DUSK_INTERNAL_H
#define DUSK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include <starpu.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "io.h" /* strings, files: the layer below */

struct dusk_kernel {
    char name[DUSK_KERNEL_NAME_MAX + 1];
    dusk_kernel_fn cpu;
    dusk_kernel_fn cuda;            /* NULL: CPU only */
    dusk_footprint_fn footprint;    /* NULL: StarPU's data footprint alone */
    struct dusk_kernel *next_named; /* in kernel.c's table of the names in use */
    struct starpu_perfmodel model;
    struct starpu_codelet cl;
    struct dusk_kernel *next_doomed; /* freed by dusk_shutdown() when freed while running */
};

enum { DUSK__MATRIX = 1, DUSK__VECTOR = 2 };

struct dusk_data {
    starpu_data_handle_t handle;
    dusk_graph *g;   /* the graph it was made for */
    int kind;        /* DUSK__MATRIX or DUSK__VECTOR */
    int64_t count;   /* items: a stack of `count` matrices or vectors (1: plain data) */
    int64_t dims[2]; /* of one item: rows, cols (cols is 1 for a vector) */
    double *wrap;    /* the caller's memory (dusk_stack_wrap), or NULL: StarPU allocates */
    atomic_int refs;
    /* The owner's reference plus the reads in flight: StarPU's handle is unregistered when it
     * drops to 0 (see dusk__release_now in data.c). */
    atomic_int holds;
    /* 0, or the error of the last task that was to write it and failed as a whole: tasks
     * reading it are then not run. Written and read inside task bodies, which StarPU orders. */
    atomic_int failed;
    /* count > 1: each item's status (0, or the error that failed it), set by the last task
     * that wrote it, in the same order as `failed`. */
    int8_t *item_status;
    int64_t last_writer; /* uid of the last task submitted to write it, or -1 */
    int64_t writer_id;   /* its id in the graph (for refusals: fail_outputs in submit.c) */
    int owner;           /* rank that owns it (0 unless set) */
    int used;            /* a task or read has used it: the owner can no longer change */
    int written;         /* a task was submitted to write it (or it wraps the caller's values) */
    /* A task that writes it was handed to StarPU (on another rank too): StarPU's handle then
     * holds values. Set on the submitting thread, at hand-over, in order. */
    int produced;
};

/* Values of all of d's items. */
static inline int64_t dusk__data_values(const dusk_data *d)
{
    return d->count * d->dims[0] * d->dims[1];
}

/* An item that failed in a running task, with its reason (moved to the graph at the end). */
typedef struct dusk__item_fail {
    int64_t k;
    int status;
    char *reason;
} dusk__item_fail;

/* One task of a graph, from submission to its completion callback (StarPU's cl_arg). */
typedef struct dusk__task {
    dusk_graph *g;
    const dusk_kernel *k;
    struct starpu_task *stask;    /* valid until the completion callback returns */
    struct dusk__task *next_live; /* in the graph's table of unfinished tasks */
    int64_t id;                   /* in the graph, from 0 */
    int64_t trace_id;             /* in the process (the uid of events) */
    int nargs;
    unsigned flags;
    int status;
    int retries, attempts;
    int handed;    /* given to StarPU (under the graph's lock) */
    int elsewhere; /* another rank runs it (under several ranks) */
    int64_t bytes; /* of its data arguments, for the window */
    int worker;
    double start, end;
    dusk_done_fn on_done;
    void *user;
    char *key;        /* NULL: the kernel's name */
    char *reason;     /* set by dusk_call_fail(), or NULL */
    const char *impl; /* what ran it, for traces: "CPU", "CUDA", "CUDA>CPU", "CUDA>host" */
    dusk_data *data[DUSK_MAX_ARGS];
    dusk_access modes[DUSK_MAX_ARGS];
    /* For each argument it writes, the id of the task submitted to write it before (-1:
     * none). When the next writer of its argument i is refused before it runs, that refusal
     * sets bit i of `poison` with its error (fail_outputs in submit.c), and the end of this
     * task leaves the data failed rather than good; `ended`: that end has happened. */
    int64_t prev_writer[DUSK_MAX_ARGS];
    atomic_uint poison;
    atomic_int poison_status;
    atomic_int ended;
    int ndeps;
    int64_t *deps; /* trace ids of the tasks it waits for, when observed */
    /* items: nitems (the count of its stacks), named item_first + k * item_step when
     * item_count > 0; each one's state while it runs (0, or why it is not computed) */
    int64_t nitems, item_first, item_count, item_step;
    int8_t *item_state; /* nitems entries (item_one when nitems is 1) */
    int8_t item_one;
    int64_t items_failed;    /* items not computed, after the run */
    int from_items;          /* its status is that of its items, every one of which failed */
    dusk__item_fail *ifails; /* items it failed, with reasons */
    int64_t nifails, ifails_cap;
    size_t value_size;
    _Alignas(16) unsigned char value[];
} dusk__task;

/* What names task t (its key, or its kernel's name), and the id of its item k. */
static inline const char *dusk__task_key(const dusk__task *t)
{
    return t->key ? t->key : t->k->name;
}

static inline int64_t dusk__task_item(const dusk__task *t, int64_t k)
{
    return t->item_count > 0 ? t->item_first + k * t->item_step : k;
}

struct dusk_call {
    dusk__task *task;
    void **buffers;
    double **host; /* when not NULL: host copies of the arguments (a GPU task's fallback) */
    void *stream;  /* the worker's cudaStream_t on a CUDA worker, else NULL */
};

/* kernel.c: StarPU's entry points for every CPU and CUDA implementation. */
void dusk__cpu_entry(void *buffers[], void *cl_arg);
void dusk__cuda_entry(void *buffers[], void *cl_arg);

/* status.c: called by StarPU when a task has finished. */
void dusk__task_done(void *arg);

/* observers.c: observers. Whether any is registered, for all graphs or g's own (then tasks
 * collect their dependencies), an event to every one, and the registry emptied at
 * dusk_shutdown(). */
int dusk__observing(const dusk_graph *g);
void dusk__observe(const dusk_task_event *ev);
void dusk__observers_clear(void);
/* The event for task t at this step, filled from the task (kind, status fields as now). */
void dusk__task_event(const dusk__task *t, dusk_event_kind kind, dusk_task_event *ev);

/* graph.c: at dusk_shutdown(), every graph not yet freed waits for its work in flight, and
 * is left for dusk_graph_free() to free. */
void dusk__graphs_settle(void);

/* graph.c: StarPU's workers are paused while no graph exists (they would poll, burning their
 * cores); dusk_init() calls the first once StarPU and the extensions are started, and
 * dusk_shutdown() the second before it waits for StarPU's work, which resumes them for good. */
void dusk__workers_started(void);
void dusk__workers_stopping(void);

/* window.c: whether dusk_graph_cancel() was called on g (async-signal-safe). */
int dusk__graph_cancelling(const dusk_graph *g);

/* fault.c: fault injection, a test aid. DUSK_FAIL_TASKS's syntax (0, or DUSK_EINVAL with
 * `why`); at dusk_init(), when the variable names tasks, the hook that fails them
 * (dusk__before_run) is set, and dusk_shutdown() takes it away. */
int dusk__fail_tasks_check(char *why, size_t whylen);
void dusk__fault_start(void);
void dusk__fault_stop(void);

/* config_env.c: cfg's fields against the bounds of the settings (dusk_config_bounds): 0, or
 * DUSK_EINVAL with `why` naming the field and range. */
int dusk__config_check(const dusk_config *cfg, char *why, size_t whylen);

/* kernel.c: dusk__kernel_new_builtin(), for the built-in kernels: declared once, there. */
#include "dusk_builtin.h"

/* progress.c: a tqdm-like bar on stderr. */
typedef struct dusk__progress dusk__progress;
dusk__progress *dusk__progress_new(const char *label, int64_t total, int mode);
void dusk__progress_draw(dusk__progress *p, int64_t done, int64_t total, int final);
void dusk__progress_free(dusk__progress **p);
/* progress.c: a graph's bar (dusk_graph_progress), an observer of its tasks. _set makes *b (on
 * first use) and gives it a new bar, keeping its count; it returns whether the bar is shown
 * (the observer is then to be registered, with *b as its user). _observe counts the finished
 * tasks with DUSK_TASK_COUNTS (on any thread). _draw draws it, from the thread that waits:
 * done of total when a total was given, else finished of submitted (NULL b: nothing). */
typedef struct dusk__graph_bar dusk__graph_bar;
int dusk__graph_bar_set(dusk__graph_bar **b, const char *label, int64_t total, int mode);
void dusk__graph_bar_observe(void *user, const dusk_task_event *ev);
void dusk__graph_bar_draw(dusk__graph_bar *b, int64_t finished, int64_t submitted, int final);
void dusk__graph_bar_free(dusk__graph_bar **b);

/* kernel.c: at dusk_shutdown(), once StarPU has stopped, free the kernels that
 * dusk_kernel_free() was given while StarPU still held their codelets. */
void dusk__kernels_reap(void);

/* runtime.c: the process-wide state, which the rest of the core reads here (and runtime.c
 * calls none of it). dusk__started: dusk_init() has succeeded and dusk_shutdown() has not
 * ended it; dusk__runtime_start() records cfg as the running configuration and sets it,
 * dusk__runtime_stop() clears it. */
extern int dusk__started;
void dusk__runtime_start(const dusk_config *cfg);
void dusk__runtime_stop(void);
/* runtime.c: the trace dusk_init() opened (*: NULL when none), and the line of
 * dusk_set_run_info() for it ("" when none; cleared at dusk_shutdown()). */
typedef struct dusk__trace dusk__trace;
dusk__trace **dusk__runtime_trace(void);
const char *dusk__runtime_run_info(void);
void dusk__runtime_run_info_clear(void);
/* runtime.c: the registered extensions: start (each start hook in order, then every worker's
 * worker_start hook; `why` says which failed), every started one's wake hook (awake != 0) or
 * sleep hook in order, and their stop and fini hooks in reverse order. */
int dusk__extensions_start(char *why, size_t whylen);
void dusk__extensions_wake(int awake);
void dusk__extensions_stop(void);
void dusk__extensions_fini(void);
/* runtime.c: set (value) or unset (NULL) an environment variable that StarPU reads only while
 * it starts, until dusk__env_restore() puts back what was there; dusk_init() restores once
 * StarPU has started, so nothing stays in the environment. */
void dusk__env_scope(const char *name, const char *value);
void dusk__env_restore(void);
/* runtime.c: called by kernel.c before each task body, on its worker, once the task's inputs
 * are checked and its items' states set; NULL unless an extension of the core set it (fault
 * injection, fault.c, at dusk_init()). It returns 0, or the error that fails the whole task
 * without running it (its reason given with dusk_call_fail()); it may fail items alone
 * (dusk_call_fail_item()). */
typedef int (*dusk__before_run_fn)(const dusk__task *t, dusk_call *call);
extern dusk__before_run_fn dusk__before_run;

/* mpi.c: ranks. dusk__mpi_start() starts StarPU (with StarPU-MPI under a launcher) and
 * returns starpu_init()'s code, or a negative errno with `why` set; dusk__mpi_stop() stops
 * both. The rest is the graph's owner-computes path (data.c, reads.c, submit.c), used only when
 * dusk__mpi_active(). */
int dusk__launched_size(void);
/* The CPU workers of a rank given `allowed` cores, one of them reserved for StarPU-MPI's
 * thread or not, and a core left to each GPU's driver thread: at least 1. */
int dusk__rank_cpu_workers(int allowed, int reserve_mpi, int cuda_workers);
/* The CUDA workers StarPU will start: one per visible GPU, or fewer when cfg->ncuda says so (0
 * in a build without CUDA, or where CUDA finds no device). Each is driven by a thread of its
 * own, which wants a core. Asks the CUDA runtime: call it only when the answer matters. */
int dusk__cuda_workers_expected(const dusk_config *cfg);
int dusk__mpi_start(struct starpu_conf *conf, const dusk_config *cfg, char *why, size_t whylen);
void dusk__mpi_stop(void);
int dusk__mpi_active(void);
void dusk__mpi_data_register(dusk_data *d);
void dusk__mpi_data_set_owner(dusk_data *d, int owner);
struct starpu_task *dusk__mpi_task_build(const struct starpu_codelet *cl,
                                         struct starpu_data_descr *descrs, int n);
void dusk__mpi_task_post_build(const struct starpu_codelet *cl, struct starpu_data_descr *descrs,
                               int n);
void dusk__mpi_send_to(dusk_data *d, int to);

#endif
