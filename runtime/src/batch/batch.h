/* What the batch layer's files share (runtime/src/batch/). Private.
 *
 *   batch.c    the handle: new, free, the setters, the info query
 *   open.c     dusk_batch_open(): the output directory's checks, the outputs made or reopened,
 *              the manifest (and the ranks' manifests merged on resume)
 *   writer.c   the writer thread and its queue: rows into the files, off StarPU's workers;
 *              the chunk's calls
 *   report.c   events to the reporter, and the records: failures, state, summary, exit status
 *   run.c      dusk_batch_run(): chunks, submission, the end of a run, the ranks' agreement
 *   signals.c  SIGINT and SIGTERM
 *   live.c     the live report (TRACE/report.html while the batch runs)
 *   share.c    shares of a job array (dusk_batch_set_share): one directory, no MPI
 *
 * The layer prints nothing and never ends the process on its own: whatever it would say is
 * an event to the program's reporter (report.c) and a record. The exceptions, each said where
 * it is: signals.c writes the reporter's own text when a second signal ends the process at
 * once, and run.c ends the job (dusk_abort) where a collective of the ranks fails, since they
 * can then no longer agree on anything. */
#ifndef DUSK_BATCH_INTERNAL_H
#define DUSK_BATCH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "dusk.h"
#include "dusk_batch.h"
#include "dusk_input.h"
#include "dusk_manifest.h"
#include "outputs.h"

#define DUSK__BATCH_MAX_SUBJECTS 8

struct dusk_batch {
    char program[64];
    int64_t nitems;
    dusk__output outs[DUSK__MAX_OUTPUTS];
    int nouts;
    double *memory[DUSK__MAX_OUTPUTS];
    char *dir;
    char format[8];
    int format_given, resume, overwrite;
    char *params;
    dusk_input *input; /* the caller's (dusk_batch_set_input), or NULL */
    char *attr_names[DUSK__MAX_ATTRS], *attr_values[DUSK__MAX_ATTRS];
    int nattrs;
    char *args;       /* the command line as the manifest records it (opaque) */
    char *resume_cmd; /* the command that resumes (opaque) */
    char *quit;       /* what a second signal writes (opaque) */
    char out_flag[32], resume_flag[32], overwrite_flag[32];
    char *subject_step[DUSK__BATCH_MAX_SUBJECTS], *subject[DUSK__BATCH_MAX_SUBJECTS];
    int nsubjects;
    dusk_distribution dist;
    int64_t share_k, share_n; /* dusk_batch_set_share(); share_n 0: no shares */
    int share_fd;             /* DIR/.share-K/lock, held while this share runs; -1 when none */
    int64_t chunk_k, item_bytes;
    double task_seconds; /* dusk_batch_set_task_target(); 0: the chunker's defaults */
    int task_tail;
    char chunk_error[160]; /* DUSK_CHUNK was malformed: refused by dusk_batch_open() */
    char label[48], noun1[32], noun2[32];

    /* the reporter: calls serialised by rlock */
    dusk_batch_report_fn report;
    void *report_user;
    pthread_mutex_t rlock;
    int stop_reported; /* STOPPING was sent (under rlock) */

    /* after dusk_batch_open() */
    int opened, ran_once;
    int lock_fd;    /* the output directory's lock (.dusk.lock), -1 when none */
    int no_signals; /* dusk_batch_set_signals(b, 0): the caller owns SIGINT and SIGTERM */
    int open_code;  /* what dusk_batch_open() returned: dusk_batch_run() refuses to go on */
    const dusk__format *fmt;
    dusk__outset *files;
    dusk_manifest *manifest, *prior; /* this rank's; what was done before (ranks > 0) */
    int64_t run_token;

    /* while running */
    dusk_graph *g;
    dusk_chunker *chunker;
    atomic_int io_error;
    atomic_llong saved;  /* items whose rows are written this run */
    atomic_llong failed; /* items that failed this run, so far */
    int64_t todo;        /* this rank's items to compute in this run */
    double start;        /* dusk_now() at the first submission */
    int stored;          /* some output is stored (a directory or the caller's memory) */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct dusk__batch_job *qhead, **qtail;
    int qstop;
    pthread_t writer;
    int writer_on;
    struct dusk__batch_live *live;           /* the live report's thread (live.c), or NULL */
    struct dusk__job_counts *jc;             /* several ranks: the whole job's counts (live.c) */
    atomic_llong others_done, others_failed; /* rank 0: the other ranks', as last heard */
    atomic_int job_known;                    /* rank 0: they are known (jc was made) */

    /* records */
    dusk_batch_summary summary;
    dusk_batch_outcome outcome;
    int status, code, signal, usage, ran, saved_current;
    int64_t saved_count;
    char *why; /* the first error of this rank */
    dusk_batch_failure *failures;
    int64_t nfailures;
};

struct dusk_chunk {
    dusk_batch *b;
    int64_t first, step, count;
    atomic_int pending;    /* outputs not yet written, + 1 while being submitted */
    unsigned char *bad;    /* per item: not done (failed, or not written) */
    unsigned char *failed; /* per item: failed (its rows NaN), for the progress count */
    unsigned named;        /* outputs given with dusk_chunk_output() */
};

/* ---- report.c --------------------------------------------------------------------------- */

/* Send ev (its batch set here) to the reporter, if any, under the reporter's lock. */
void dusk__batch_emit(dusk_batch *b, dusk_batch_event *ev);
/* An ERROR: `why` formatted, kept as the record's when it is the first. */
void dusk__batch_error(dusk_batch *b, int code, const char *fmt, ...) DUSK_PRINTF(3, 4);
/* A WARNING. */
void dusk__batch_warn(dusk_batch *b, const char *fmt, ...) DUSK_PRINTF(2, 3);
/* dusk_batch_open() refuses: the record (REFUSED, usage or failure) and the event. Returns
 * `code`. */
int dusk__batch_refuse(dusk_batch *b, int usage, int code, const char *fmt, ...) DUSK_PRINTF(4, 5);
/* PROGRESS, from the counts (the writer thread, and the last one from the run's thread). */
void dusk__batch_progress(dusk_batch *b, int final);
/* STOPPING, once, if a signal came: from the signal watcher, and from the run's thread before
 * the end of a run is reported (so that it comes first). */
void dusk__batch_stopping(void *batch, int sig);
/* This rank's failed items from the graph into the records (sorted by item, each once), then
 * the FAILURES event. *lines (malloc'ed, NULL when out of memory) gets them as failures.json's
 * writer takes them: "item<TAB>step<TAB>error<TAB>reason\n". */
void dusk__batch_collect_failures(dusk_batch *b, char **lines, size_t *len);
/* The end of a run: the outcome from the agreed status and code (REFUSED when `refused`: by
 * dusk_batch_open(), on some rank), then the END event. */
void dusk__batch_finish(dusk_batch *b, int status, int code, int refused);

/* ---- live.c ----------------------------------------------------------------------------- */

/* From now (b->start set) until dusk__batch_live_stop(), a thread that, under several ranks,
 * sends this rank's counts to rank 0 (ranks > 0) or gathers them (rank 0) every second, and
 * with a trace, on rank 0, rewrites TRACE/report.html every few seconds. Nothing when it
 * cannot start: no whole-job counts, and the report comes at the end, as without it. */
void dusk__batch_live_start(dusk_batch *b);
void dusk__batch_live_stop(dusk_batch *b);
/* Collectives, under several ranks, around the run: the whole job's counts opened (before
 * dusk__batch_live_start), and closed, when rank 0 learns every rank's exact counts (it stops
 * the live thread: on ranks > 0 first, on rank 0 once the other ranks are done). */
void dusk__batch_job_open(dusk_batch *b);
void dusk__batch_job_close(dusk_batch *b);

/* ---- open.c ----------------------------------------------------------------------------- */

/* The manifest's sync step: the output files made durable. */
int dusk__batch_manifest_sync(void *ctx);
/* The manifests ranks K > 0 left in DIR/.rank-K/ (see open.c). 0, -2 (one is not this run's)
 * or -1, after an ERROR or a refusal (`refusing`) saying why. */
int dusk__batch_rank_manifests(dusk_batch *b, int merge, const char *state, int refusing);
/* A new run, rank 0, from dusk_batch_run(): remove the trace an earlier run left in the output
 * directory unless this run traces there (dusk__outdir_remove_trace); a failure is a warning. */
void dusk__batch_drop_stale_trace(dusk_batch *b);
/* The manifest's check: the kept hash of item id's input matrix (ctx: the batch). */
uint64_t dusk__batch_item_check(void *ctx, int64_t id);
/* The disk's room checked and DIR made (a new run), or DIR found (a resume); 0 or a refusal. */
int dusk__batch_make_dir(dusk_batch *b);
/* The manifest and the outputs, made or reopened, under the directory's lock (held by the
 * caller): what rank 0 does. 0 or a refusal. */
int dusk__batch_open_locked(dusk_batch *b);

/* ---- share.c ---------------------------------------------------------------------------- */

/* dusk_batch_open() of share K of N (dusk_batch_set_share). 0 or a refusal. */
int dusk__batch_share_open(dusk_batch *b);
/* The end of a share's run: its manifest and failures saved; the last share to finish merges
 * every share's and names the outputs. Returns the status, as end_of_run() does. */
int dusk__batch_share_end(dusk_batch *b, int submit_error);
/* How many shares DIR/.shares says write DIR (0: none). */
int64_t dusk__batch_share_count(const char *dir);
/* DIR/.shares removed: the shares' parts are merged, or gone. */
void dusk__batch_share_forget(const char *dir);

/* ---- writer.c --------------------------------------------------------------------------- */

/* Start the writer thread; stop it once the graph is done (its queue is then empty). */
int dusk__batch_writer_start(dusk_batch *b);
void dusk__batch_writer_stop(dusk_batch *b);
/* One hold of the chunk done (the submission's, or an output's): the last marks its items. */
void dusk__batch_chunk_release(dusk_chunk *c);
/* The graph's observer: chunk sizes, and progress where nothing is stored. */
void dusk__batch_observe(void *user, const dusk_task_event *ev);

/* ---- signals.c -------------------------------------------------------------------------- */

/* Catch SIGINT and SIGTERM: the first stops gracefully (the graph given is cancelled, and
 * on_stop(ctx, signal) is called from a thread of its own, not from the handler); a second
 * one writes the quit text and ends the process at once. */
void dusk__batch_signals_install(void (*on_stop)(void *ctx, int sig), void *ctx, int catch);
/* A stop as the first signal makes it (dusk_batch_stop): from any thread. */
void dusk__batch_signals_raise(int sig);
void dusk__batch_signals_ensure(void);
/* The text a second signal writes (NULL: none); copied. */
void dusk__batch_signals_set_quit(const char *text);
/* The graph the first signal cancels (NULL: none; waits until no handler holds the last). */
void dusk__batch_signals_graph(dusk_graph *g);
/* The handlers that were there before, back (the batch is over), the watcher thread ended,
 * and no signal seen. */
void dusk__batch_signals_restore(void);
/* The first signal that came, or 0. */
int dusk__batch_stop_signal(void);

#endif
