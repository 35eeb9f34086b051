/* The inside of a dusk_trace_set, shared by the reader (trace_read.c, trace_set.c), the analysis
 * (trace_analysis.c), the merged trace (trace_json.c) and the report (trace_report.c).
 * These use the I/O layer only (no StarPU). Private. */
#ifndef DUSK_TRACE_READ_H
#define DUSK_TRACE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "dusk_trace.h"

struct dusk__arena {
    struct dusk__arena *next;
    size_t used, cap;
    _Alignas(8) char mem[];
};

typedef struct dusk__rank {
    int rank, nranks; /* nranks is 0 when unknown (a truncated trace) */
    int has_run;      /* its dusk_run record was read */
    int has_epoch;    /* its epoch is known (dusk_run, or the process_name record) */
    int truncated;    /* its file ends before the closing line */
    int file;         /* index of the file it came from */
    double epoch;     /* wall-clock seconds at which its times are 0 */
    double shift;     /* its times plus shift are on the set's timeline (s) */
    double t1;        /* when it closed its trace (its last task's end if it did not), own times */
    const char *params;  /* "" when not recorded */
    const char *program; /* NULL when not recorded */
    const char *run;     /* the run's name when the writer records one ("run"), else NULL */
} dusk__rank;

typedef struct dusk__worker {
    int rank, tid;
    const char *name;
} dusk__worker;

typedef struct dusk__key {
    int rank;
    int64_t id, index;
} dusk__key;

typedef struct dusk__file {
    int64_t lines;  /* lines read whole */
    int64_t ntasks; /* task events read from it */
    int truncated;  /* no closing line: the run was killed, or its disk filled */
} dusk__file;

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
    dusk__file *files; /* one per path given to dusk_trace_load */
    int nfiles;
    double base_epoch; /* 0 when no rank's epoch is known */
    int has_epoch;
    struct dusk__arena *arena;
};

/* Index of task (rank, id) or -1; index of worker (rank, tid) or -1. */
int64_t dusk__trace_find(const dusk_trace_set *s, int rank, int64_t id);
int dusk__trace_worker_index(const dusk_trace_set *s, int rank, int tid);

/* A task's status as text: dusk_strerror()'s for a code it knows, else "error N" (a kernel
 * that returned 1, or a code newer than this reader). Returns buf. */
const char *dusk__trace_status_text(int status, char *buf, size_t len);

/* The program that wrote the set: recorded by the writer, else the first word of a rank's
 * run description when it reads as a program name ("dusk-reduce chunks=4 ..."); NULL if
 * neither says. Written into buf. */
const char *dusk__trace_program(const dusk_trace_set *s, char *buf, size_t len);

/* Per-worker and per-codelet figures, for the summary and the report. */
typedef struct dusk__wstats {
    int64_t tasks;
    double busy, gaps_total, gaps_longest; /* s */
    int64_t gaps;
} dusk__wstats;

typedef struct dusk__cstats {
    const char *codelet;
    int64_t count, failed, items;
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
