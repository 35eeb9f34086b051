/* Submission: a task checked, recorded, observed and handed to StarPU (through StarPU-MPI under
 * several ranks), or settled as failed without running when it cannot be. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

static atomic_llong next_trace_id;

int dusk_task_opts_init(dusk_task_opts *opts)
{
    if (opts == NULL) return DUSK_EINVAL;
    memset(opts, 0, sizeof *opts);
    return 0;
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
        dusk__task *p = t->prev_writer[i] >= 0 ? dusk__live_find(g, t->prev_writer[i]) : NULL;
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
        descrs[i].handle = dusk__data_handle(t->data[i]);
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
    dusk__enter_window(g, t->bytes);
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
int dusk__submit_now(dusk_graph *g, dusk__task *t)
{
    if (dusk__mpi_graph(g)) return submit_mpi(g, t);
    for (int i = 0; i < t->nargs; i++)
        if ((t->modes[i] & DUSK_R) && !dusk__produced(t->data[i])) {
            settle_unrun(t, DUSK_EDEP); /* see dusk__produced() */
            return 0;
        }
    for (int i = 0; i < t->nargs; i++)
        t->stask->handles[i] = dusk__data_handle(t->data[i]);
    pthread_mutex_lock(&g->lock);
    dusk__enter_window(g, t->bytes);
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
    if (!dusk__mpi_graph(g)) return 1;
    for (int i = 0; i < nargs; i++)
        if (args[i].mode & DUSK_W) return args[i].data->owner == dusk_rank();
    return 1;
}

/* The arguments and options of a task, checked; its number of items into *nitems. */
static int check_task(const dusk_graph *g, const dusk_kernel *k, const dusk_arg *args, int nargs,
                      const void *value, size_t value_size, const dusk_task_opts *opts,
                      int64_t *nitems)
{
    if (!dusk__graph_ok(g) || k == NULL || nargs < 0 || nargs > DUSK_MAX_ARGS ||
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
    if (opts->nafter > 0 && g->held && dusk__mpi_graph(g)) return DUSK_EINVAL;
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
            need += dusk__data_bytes(args[i].data);
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
    dusk__poll_cancel(g);
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
        t->bytes += dusk__data_bytes(args[i].data);
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
        while ((p = dusk__live_find(g, opts->after[i])) != NULL && p->handed) {
            dusk__wait_a_little(g);
            dusk__redraw(g, 0);
        }
        g->waiting_for_task = 0;
    }
    ret = dusk__grow_tables(g, g->submitted);
    if (ret != 0) { /* not even counted: nothing to settle */
        pthread_mutex_unlock(&g->lock);
        task->destroy = 0;
        starpu_task_destroy(task);
        dusk__task_free(t);
        return ret;
    }
    t->id = g->submitted++;
    if (id) *id = t->id;
    ret = dusk__set_status(g, t->id, 1, 0);
    int observed = dusk__observing(g);
    if (ret == 0 && dusk__observing_deps(g)) {
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
    if (ret == 0) ret = dusk__live_add(g, t);
    for (int i = 0; i < opts->nafter && ret == 0; i++) {
        dusk__task *p = dusk__live_find(g, opts->after[i]);
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
        if (dusk__hold_op(g, OP_TASK, t) == 0) return 0;
        /* It cannot be recorded: handing it over now would put it ahead of the operations
         * recorded before it. It fails instead, and what it writes is not produced. */
        task->destroy = 0;
        starpu_task_destroy(task);
        t->status = DUSK_ENOMEM;
        fail_outputs(t, DUSK_ENOMEM);
        dusk__task_done(t);
        return DUSK_ENOMEM;
    }
    return dusk__submit_now(g, t);
}
