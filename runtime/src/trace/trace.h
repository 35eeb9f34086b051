/* The tracer: an observer of every task (dusk.h, dusk_observer_add) that writes
 * DIR/trace.json (Chrome trace events), DIR/dag.dot and, on close, DIR/report.html.
 * dusk__trace_open() attaches it, dusk__trace_close() detaches it; the two functions it feeds
 * from the events are here too, for its tests. All functions are thread-safe unless said
 * otherwise. */
#ifndef DUSK_TRACE_INTERNAL_H
#define DUSK_TRACE_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

typedef struct dusk__trace dusk__trace;

/* One executed (or failed) task. Times are seconds on dusk_now()'s clock. */
typedef struct dusk__trace_task {
    int64_t id;          /* unique in the process (and so in the trace) */
    const char *key;     /* e.g. "eigh-17" */
    const char *codelet; /* the kernel's name, e.g. "dusk_eigh" */
    const char *impl;    /* "CPU" or "CUDA" */
    int worker;          /* StarPU worker id, -1 if it never ran */
    double start, end;
    int64_t rows, cols; /* dims of its first data argument */
    int64_t bytes;      /* bytes of all its data arguments */
    int status;         /* 0 or a DUSK_E* code */
    int attempts;       /* 1 unless retried */
    const char *reason; /* why it failed (one line), or NULL */
    int ndeps;
    const int64_t *deps; /* ids of the tasks it waited for */
    /* the items it computed (item_count 0: it names none), and how many of them failed */
    int64_t item_first, item_count, item_step, items_failed;
} dusk__trace_task;

/* 0 when a trace may be written in dir: each of trace.json, dag.dot and report.html there is
 * missing, empty, or one dusk wrote (by how it begins); else DUSK_EEXIST, `why` naming the
 * file. */
int dusk__trace_dir_check(const char *dir, char *why, size_t whylen);

/* Start a trace in dir (created if missing) for this process, rank `rank` of `nranks`, and
 * observe every task from now on. Writes the worker names (StarPU must be started). Returns
 * 0, DUSK_ENOMEM (no room for one more observer), DUSK_EEXIST (dusk__trace_dir_check) or
 * DUSK_EIO with `why`. dag.dot is dag.dot.partial until the close. */
int dusk__trace_open(const char *dir, int rank, int nranks, dusk__trace **out, char *why,
                     size_t whylen);

/* A task was submitted (called by the submitting thread, in submission order): a node and
 * its edges for dag.dot. */
void dusk__trace_submitted(dusk__trace *t, int64_t id, const char *key, const char *codelet,
                           int ndeps, const int64_t *deps);

/* A task finished: its complete event in trace.json. */
void dusk__trace_finished(dusk__trace *t, const dusk__trace_task *task);

/* Stop observing, close the files and write report.html from trace.json. `params` is one line
 * describing the run (program, flags, workers, scheduler) shown in the report. Sets *t to NULL. */
int dusk__trace_close(dusk__trace **t, const char *params);

#endif
