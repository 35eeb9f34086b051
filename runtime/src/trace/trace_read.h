/* The inside of a dusk_trace_set, shared by trace_read.c and trace_report.c. Private. */
#ifndef DUSK_TRACE_READ_H
#define DUSK_TRACE_READ_H

#include <stdint.h>

#include "dusk_trace.h"

struct dusk__arena {
    struct dusk__arena *next;
    size_t used, cap;
    _Alignas(8) char mem[];
};

typedef struct dusk__rank {
    int rank, nranks, has_run;
    int file;     /* index of the file it came from */
    double epoch; /* wall-clock seconds at which its times are 0 */
    double shift; /* its times plus shift are on the set's timeline (s) */
    double t1;    /* when it closed its trace, on its own times (s) */
    const char *params;
} dusk__rank;

typedef struct dusk__worker {
    int rank, tid;
    const char *name;
} dusk__worker;

typedef struct dusk__key {
    int rank;
    int64_t id, index;
} dusk__key;

struct dusk_trace_set {
    dusk_trace_task *tasks; /* starts shifted onto the common timeline */
    int64_t ntasks, tasks_cap;
    dusk__key *byid;   /* tasks sorted by (rank, id) */
    dusk__rank *ranks; /* sorted by rank */
    int nranks;
    dusk__worker *workers; /* sorted by (rank, tid); tid >= 0 */
    int nworkers, workers_cap;
    const char **names; /* interned codelet and impl names */
    int nnames, names_cap;
    double base_epoch;
    struct dusk__arena *arena;
};

/* Index of task (rank, id) or -1; index of worker (rank, tid) or -1. */
int64_t dusk__trace_find(const dusk_trace_set *s, int rank, int64_t id);
int dusk__trace_worker_index(const dusk_trace_set *s, int rank, int tid);

/* Per-worker and per-codelet figures, for the summary and the report. */
typedef struct dusk__wstats {
    int64_t tasks;
    double busy, gaps_total, gaps_longest; /* s */
    int64_t gaps;
} dusk__wstats;

typedef struct dusk__cstats {
    const char *codelet;
    int64_t count, failed;
    double mean, p50, p95, total; /* s, over tasks that ran */
} dusk__cstats;

typedef struct dusk__analysis {
    dusk_trace_stats st;
    double t0;              /* first task start (s) */
    dusk__wstats *workers;  /* set->nworkers */
    dusk__cstats *codelets; /* by total time, largest first */
    int ncodelets;
    int64_t *path; /* critical path, task indices */
    int64_t npath;
} dusk__analysis;

int dusk__trace_analyse(const dusk_trace_set *s, dusk__analysis *a);
void dusk__trace_analysis_free(dusk__analysis *a);

#endif
