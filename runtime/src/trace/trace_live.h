/* The live report: DIR/report.html while a traced batch runs, rewritten every few seconds by
 * the batch layer (runtime/src/batch/live.c) and replaced at the end by the full report
 * (dusk_trace_write_report). It shows how far the job is, the rate over time, the time left
 * and the failures so far; it reloads itself. Private. */
#ifndef DUSK_TRACE_LIVE_H
#define DUSK_TRACE_LIVE_H

#include <stdint.h>

typedef struct dusk__live_view {
    const char *program; /* "dusk-eigh" */
    const char *params;  /* one line describing the run, or NULL */
    const char *plural;  /* what the items are called: "tasks" */
    int nranks;
    int whole;       /* 1: the counts are the whole job's; 0: rank 0's share of it */
    int refresh;     /* seconds between two rewrites: the page reloads as often */
    double epoch;    /* wall-clock seconds at the run's start */
    double seconds;  /* since the run's start */
    int64_t total;   /* items of the job (or of rank 0's share) */
    int64_t before;  /* of them, done before this run (a resume) */
    int64_t done;    /* done this run */
    int64_t failed;  /* failed this run */
    int nsamples;    /* the rate chart: items processed this run (done + failed) ... */
    const double *t; /* ... at these times (seconds since the start), rising */
    const int64_t *n;
} dusk__live_view;

/* Writes the page to `path` (through PATH.tmp and a rename, so that a reader never sees half
 * of it; not fsync'ed: it is rewritten in a few seconds). 0, DUSK_EINVAL or DUSK_EIO. */
int dusk__trace_write_live(const char *path, const dusk__live_view *v);

#endif
