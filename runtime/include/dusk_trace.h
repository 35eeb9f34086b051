/* dusk's traces: reading the trace.json files a run writes (DUSK_TRACE=DIR or --trace DIR),
 * summarising them, merging several ranks into one file and drawing an HTML report.
 *
 * A trace.json is a Chrome trace-event file (Perfetto and chrome://tracing open it) with one
 * event per line: a complete event ("ph":"X") per task, with the rank as pid and the StarPU
 * worker as tid (-1 for a task that never ran), and metadata events naming the ranks and
 * workers. Times are microseconds from the moment the rank opened its trace; each rank also
 * records the wall-clock time of that moment, which lines ranks up when they are merged.
 *
 * The functions below read only the format dusk writes, and refuse anything else; but a
 * trace cut short (its process was killed, its disk filled) is read up to its last whole
 * event, so that the post-mortem works when it matters most (dusk_trace_truncated() says
 * which files were). A task event's args may carry the items it processed:
 *   "items":{"first":F,"count":C,"step":S}   items F, F+S, ..., F+(C-1)S  (S may be left out: 1)
 *   "failed_items":N                         how many of them have no result (0 <= N <= C)
 * A set is immutable once loaded: its read-only functions may be called from several threads
 * at once. Times in the structs below are seconds on the set's common timeline (0 is the
 * earliest rank's start).
 */
#ifndef DUSK_TRACE_H
#define DUSK_TRACE_H

#include <stdint.h>
#include <stdio.h>

#include "dusk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dusk_trace_set dusk_trace_set; /* one or more ranks' traces; opaque */

/* Load npaths trace.json files (one per rank; a merged file may hold several ranks) of one
 * run. The caller owns *out and frees it with dusk_trace_set_free().
 * A file that ends before its closing line (after any line, or in the middle of one) is read
 * up to its last whole event: its ranks are marked truncated, their end is their last task's
 * and, without the run record that comes last, their start is taken to be the earliest other
 * rank's (see dusk_trace_truncated()). A task's status may be any int (a kernel's own code,
 * or a code newer than this reader): a non-zero one is a failure.
 * Returns 0, DUSK_EINVAL (no paths, two files hold the same rank, or the files are of
 * different runs: ranks whose records name different runs ("run" in their process_name or
 * dusk_run args), disagree on how many ranks there are, or ran more than 10 s apart),
 * DUSK_EIO (a file cannot be read), DUSK_EFORMAT (a file is empty, not a dusk trace, or
 * malformed before its last line; or no file holds any event) or DUSK_ENOMEM; then *out is
 * NULL and `why` (when not NULL) receives one line naming the file (both, for files that do
 * not go together), the line number where it applies, and the problem. */
DUSK_NODISCARD int dusk_trace_load(const char *const *paths, int npaths, dusk_trace_set **out,
                                   char *why, size_t whylen);

/* Whether the file_index-th file given to dusk_trace_load (0 <= file_index < npaths) was cut
 * short. *line (when not NULL) receives the number of lines read whole (the trace is
 * truncated after that line) and *ntasks (when not NULL) the number of task events read
 * from that file; both for complete files too. Returns 0 (complete), 1 (truncated: the run
 * did not finish writing it), 2 (only its closing line is missing: its run record was read)
 * or DUSK_EINVAL (NULL set or index out of range; *line and *ntasks are then 0).
 * Thread-safe on a loaded set. */
int dusk_trace_truncated(const dusk_trace_set *set, int file_index, int64_t *line, int64_t *ntasks);

/* Free a set and set *set to NULL. NULL and *set == NULL are allowed. */
void dusk_trace_set_free(dusk_trace_set **set);

/* One task of a set, as recorded. Its strings and deps belong to the set. */
typedef struct dusk_trace_task {
    int rank;
    int worker;          /* StarPU worker id (the event's tid), -1 if it never ran */
    int64_t id;          /* unique within its rank */
    const char *key;     /* e.g. "eigh-17" */
    const char *codelet; /* e.g. "dusk_eigh" */
    const char *impl;    /* "CPU" or "CUDA" */
    double start, dur;   /* seconds */
    int64_t rows, cols, bytes;
    int status; /* 0, a DUSK_E* code, or another non-zero int: a failure all the same */
    int attempts;
    const char *reason; /* why it failed, NULL if it did not or said nothing */
    int ndeps;
    const int64_t *deps; /* ids (same rank) of the tasks it waited for */
    /* The items it processed: item_first, item_first + item_step, ... (item_count of them;
     * all three 0 when the event carries none), and how many of them have no result (its
     * "failed_items", or all of them when it failed without saying). */
    int64_t item_first, item_count, item_step, items_failed;
} dusk_trace_task;

/* Number of tasks in the set, and the i-th (0 <= i < count, in the order of the files given
 * and, within a file, of the events). dusk_trace_task_at returns 0 or DUSK_EINVAL. */
int64_t dusk_trace_task_count(const dusk_trace_set *set);
DUSK_NODISCARD int dusk_trace_task_at(const dusk_trace_set *set, int64_t i, dusk_trace_task *out);

/* Figures for the whole set. The makespan runs from the first task's start to the last
 * task's end (tasks that never ran are left out of every time figure); the efficiency is
 * the sum of task times / (workers x makespan), where workers counts every worker named by
 * any rank, busy or not. The critical path is the longest chain through the DAG following
 * deps, weighted by task durations. */
typedef struct dusk_trace_stats {
    int nranks;
    int nworkers;
    int64_t ntasks;
    int64_t nfailed;      /* tasks that ran (or were refused) and failed */
    int64_t nskipped;     /* tasks not run because a task they depend on failed (DUSK_EDEP) */
    double makespan;      /* s */
    double task_time;     /* s, summed over tasks */
    double throughput;    /* tasks per second of makespan */
    double efficiency;    /* 0..1 */
    double critical_path; /* s */
    int64_t critical_path_tasks;
    int64_t nitems;        /* items over all tasks (0 when no task carries items) */
    int64_t nitems_failed; /* of them, those without a result (see dusk_trace_task) */
} dusk_trace_stats;

/* Fill *out (zeroed first). Returns 0, DUSK_EINVAL (a NULL argument) or DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_trace_stats_get(const dusk_trace_set *set, dusk_trace_stats *out);

/* The critical path, as task indices (for dusk_trace_task_at) from its first task to its
 * last. The caller frees *idx with free(). Returns 0 (*idx is NULL and *n 0 when the set has
 * no task that ran), DUSK_EINVAL (a NULL argument) or DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_trace_critical_path(const dusk_trace_set *set, int64_t **idx, int64_t *n);

/* Print a human-readable summary to out: the tasks (and items, when tasks carry them),
 * failures, truncated ranks, per-worker tasks, busy % and idle gaps (count, total, longest),
 * per-codelet time statistics (count, mean, p50, p95, total), the critical path as its chain
 * of keys (long chains are elided in the middle) with its length, the parallel efficiency,
 * the failed tasks and those not run because of them. Returns 0, DUSK_EINVAL (a NULL
 * argument), DUSK_EIO (errno tells why) or DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_trace_summary(const dusk_trace_set *set, FILE *out);

/* Write the set as one trace.json (one pid per rank, times on the common timeline), which
 * dusk_trace_load() reads back (a rank that was truncated stays marked so). Written to
 * path + ".tmp", flushed to disk and renamed over path: a crash leaves the old file or the new
 * one. Returns 0, DUSK_EINVAL (a NULL argument), DUSK_EIO (errno tells why) or DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_trace_write_json(const dusk_trace_set *set, const char *path);

/* Write a self-contained HTML report (inline CSS and JavaScript, nothing fetched): a header
 * with the program, the date of the run and its description; a Gantt chart of tasks per
 * worker (at most about 20,000 boxes; larger traces are drawn aggregated into time bins, and
 * the page says so), worker utilisation, per-codelet statistics, the critical path,
 * throughput and makespan, the failed tasks, and which ranks were truncated. The page reads
 * at any width from 600 px. `params` (may be NULL or "": then the parameters recorded in the
 * trace) is the line describing the run. Written to path + ".tmp" and renamed over path as
 * dusk_trace_write_json() does. Returns 0, DUSK_EINVAL (a NULL set or path), DUSK_EIO (errno
 * tells why) or DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_trace_write_report(const dusk_trace_set *set, const char *path,
                                           const char *params);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_TRACE_H */
