/* dusk_batch: a batch of independent items, run robustly. What makes dusk-eigh dependable,
 * for any program that computes the same thing for each of T items.
 *
 * A batch has T items, numbered 0..T-1, and declared outputs: arrays whose first dimension is
 * the item (an eigenvalue row (T, n), an eigenvector matrix (T, n, n)). The program says how
 * to compute a chunk of items (a callback that submits tasks to a graph and names the data
 * holding the chunk's rows of each output); the batch does the rest:
 *
 *   - outputs written in place as items finish, from a writer thread (never from StarPU's
 *     workers), under temporary names (NAME.partial) until the batch has finished; a failed
 *     item's rows are NaN, never the zeros of a fresh file. The file format is pluggable:
 *     .npy (one file per output, DIR/NAME.npy) or HDF5 (DIR/results.h5, one dataset each);
 *   - DIR/manifest.txt lists the items whose rows are on disk (made durable first), so that a
 *     run stopped in any way (Ctrl-C, SIGTERM, SIGKILL, a full disk, failed items) resumes
 *     with dusk_batch_resume() computing only what is missing, byte for byte; the run's
 *     identity (program, parameters, input fingerprint) is checked on resume;
 *   - DIR/failures.json names each failed item, its step, error and reason;
 *   - the first SIGINT or SIGTERM stops gracefully: nothing more is submitted, running tasks
 *     finish, what is done is saved (a second signal ends the process at once);
 *   - under several ranks (mpirun, srun), each rank owns its items (cyclic: item i belongs to
 *     rank i mod R; block: contiguous runs) and computes and writes them itself, with its own
 *     graph and manifest (DIR/.rank-K/manifest.txt, merged by rank 0); no data moves between
 *     ranks, and every rank agrees on the outcome;
 *   - items are computed several per task (chunks), sized automatically so that a task lasts
 *     long enough for the runtime's cost to vanish (dusk_batch_set_chunk).
 *
 * The batch is a library: it prints nothing, and it ends the process only where nothing else
 * can be done (a second signal, dusk_batch_set_quit_message; a collective of the ranks that
 * failed, dusk_batch_run). What happens is handed out as records (the summary, each failed
 * item, the outcome and how to resume) and as events to a reporter the program attaches
 * (dusk_batch_set_reporter); without one the batch is silent. The standard text reporter,
 * with the progress bar, the failures, the summary and the resume hint, is
 * dusk_cli_report_text() (dusk_cli.h), beside dusk_cli_batch_args(), which records the
 * command line for the hint. The exit status every rank agreed on is dusk_batch_exit_status():
 * what a batch program returns from main().
 *
 * Usage (a whole program: docs/batch.md, "Your own batch", examples/batch/moments.c):
 *
 *   dusk_batch *b;
 *   dusk_batch_new("my-program", T, &b);
 *   dusk_batch_add_output(b, "values", 1, (int64_t[]){n}, &out);
 *   dusk_batch_set_output(b, "results", "npy");   (or dusk_batch_resume(b, dir))
 *   dusk_batch_set_params(b, "n=... seed=...");   (what decides the results)
 *   dusk_cli_batch_args(b, argc, argv, (const char *[]){"--output", "--resume", NULL},
 *                       NULL, NULL, "--resume");  (dusk_cli.h: the command line, for the hint)
 *   dusk_cli_report_text(b);                      (dusk_cli.h: today's words on stdout/stderr)
 *   if (dusk_batch_open(b) == 0) {                before dusk_init(), on every rank
 *       dusk_init(&cfg, ...);
 *       dusk_batch_run(b, submit_chunk, ctx);     after dusk_init(), on every rank
 *   }
 *   status = dusk_batch_exit_status(b);
 *   dusk_batch_free(&b); dusk_shutdown(); return status;
 *
 * Errors: the calls return 0 or a negative DUSK_E* code (dusk.h). A batch is used from one
 * thread, the one that calls dusk_init(), except where said; its reporter is called from
 * other threads too (see dusk_batch_report_fn).
 */
#ifndef DUSK_BATCH_H
#define DUSK_BATCH_H

#include "dusk.h"
#include "dusk_chunker.h" /* chunk sizes, for programs that make their own chunks */

#ifdef __cplusplus
extern "C" {
#endif

/* Exit statuses, the same on every rank: what a batch program returns from main()
 * (dusk_batch_exit_status), and what dusk's programs return. */
enum {
    DUSK_EXIT_OK = 0,           /* every item done */
    DUSK_EXIT_FAILURE = 1,      /* the run could not go on (an output not written, ...) */
    DUSK_EXIT_USAGE = 2,        /* refused before starting (a bad directory, another run's) */
    DUSK_EXIT_ITEMS_FAILED = 3, /* finished, but some items failed (NaN rows, failures.json) */
    DUSK_EXIT_SIGNAL = 128      /* + N: stopped by signal N (130: Ctrl-C); resumable */
};

typedef struct dusk_batch dusk_batch; /* opaque */
typedef struct dusk_input dusk_input; /* dusk_input.h */
typedef struct dusk_chunk dusk_chunk; /* the items of one call of the submit function */

/* A new batch of `nitems` items (0 allowed: nothing to do) for `program` (copied; letters,
 * digits and -_. only: it names the manifest's program). The caller owns *out (NULL on
 * failure). 0, DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_new(const char *program, int64_t nitems, dusk_batch **out);

/* Free the batch (its files are closed as they are: call dusk_batch_run() first), after a
 * last event (DUSK_BATCH_EVENT_DETACH) to its reporter, and put back the signal handlers
 * dusk_batch_open() replaced. Sets *b to NULL; NULL and *b NULL are accepted. Records and
 * strings the batch handed out are freed with it. */
void dusk_batch_free(dusk_batch **b);

/* ---- what it produces ------------------------------------------------------------------ */

/* Declare an output: `name` (copied; letters, digits and _: the file is DIR/name.npy, or the
 * HDF5 dataset /name) of shape (nitems, dims...), float64, C order; ndim 0 to 2 row
 * dimensions (a value, a vector, a matrix per item). *index (may be NULL) receives its
 * number, in order from 0 (-1 on failure). At most 8. 0 or DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_add_output(dusk_batch *b, const char *name, int ndim,
                                         const int64_t *dims, int *index);

/* Write the outputs into directory `dir` (copied; made if missing), in `format`: "npy" (the
 * default, NULL) or "h5" (DUSK_ENODEV when this dusk was built without HDF5). A directory that
 * holds files of another program's run, or a stopped run of this program, is refused by
 * dusk_batch_open() unless dusk_batch_set_overwrite(). Without an output directory the batch
 * keeps nothing on disk and cannot be resumed. 0, DUSK_EINVAL, DUSK_ENODEV, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_set_output(dusk_batch *b, const char *dir, const char *format);

/* Rows of output `index` go to the caller's memory instead (nitems x row values, C order; the
 * caller's, which must outlive dusk_batch_run()): written there as items finish, NaN for items
 * that failed. Only without an output directory. Under several ranks each rank writes its own
 * items' rows into its own memory; the others are left as they were (nothing gathers them).
 * 0 or DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_memory(dusk_batch *b, int index, double *values);

/* Go on with the run that wrote `dir` (copied; stopped, killed or with failed items): its
 * manifest says which items are done and how the run was made (format, parameters), which
 * must match (dusk_batch_open refuses another run's). 0, DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_resume(dusk_batch *b, const char *dir);

/* Allow a new run in a directory holding a stopped run of this program (its saved work is
 * discarded). Without it, dusk_batch_open() refuses and points to resuming. 0, DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_overwrite(dusk_batch *b, int overwrite);

/* One line (copied, no newline) of everything that decides the results (sizes, seeds, the
 * input's fingerprint): a resume must have the same. 0, DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_set_params(dusk_batch *b, const char *params);

/* The input the items are read from (item i is matrix i of `in`, which the caller keeps open
 * until dusk_batch_free() and reads with dusk_input_read_matrix(), as dusk_load does): so that
 * a resume never combines the results of two inputs. The manifest records the file's size and
 * modification time, and a check of the done items' matrices as they were read (the sum of
 * their hashes: dusk_input_keep_hashes(), which this calls); a resume that finds the size or
 * the time changed reads the done items' matrices again (rank 0, in dusk_batch_open()) and
 * refuses the run (DUSK_EXIT_USAGE, "the input changed since the run stopped: ...") when they
 * differ. On every rank, before dusk_batch_open(). 0, DUSK_EINVAL (the input does not hold
 * nitems matrices), DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_set_input(dusk_batch *b, dusk_input *in);

/* A name = value pair recorded with the outputs (attributes of results.h5; a value that is a
 * whole number is recorded as one), such as n, the seed or the input file. Copied. At most
 * 30. The program's name and dusk's version are recorded without being asked ("program",
 * "version"). 0, DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_set_attr(dusk_batch *b, const char *name, const char *value);

/* ---- what it says: the words of the program around it ---------------------------------- */

/* The program's command line as the manifest records it: one line (copied), opaque to the
 * batch, which writes it as the manifest's "args" and gives it back (dusk_batch_get_info;
 * a resume reads it with dusk_manifest_read(), or dusk_cli_resume_args()). Normally set by
 * dusk_cli_batch_args(). "" when not set. 0, DUSK_EINVAL (after dusk_batch_open(), or a
 * newline), DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_set_args(dusk_batch *b, const char *args);

/* How the program names its options, in the reasons the batch gives (the `why` of records and
 * events, such as "--output DIR holds a stopped run ...: resume it with --resume DIR, or start
 * again with --overwrite"): the option naming the output directory ("--output" by default),
 * the one that resumes ("--resume") and the one that allows a new run over a stopped one (""
 * by default: the reason then says to remove the directory). Copied, at most 31 bytes each;
 * NULL leaves one as it is. Before dusk_batch_open(). 0 or DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_flags(dusk_batch *b, const char *output, const char *resume,
                                        const char *overwrite);

/* The command that resumes the run (one line, copied, opaque to the batch): handed out in
 * the outcome's record (dusk_batch_state.resume) for the reporter's hint. The standard text
 * reporter sets it from dusk_cli_resume_command() when the batch opens. NULL: none. Before
 * dusk_batch_run(), or from the reporter's DUSK_BATCH_EVENT_OPEN. 0, DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_set_resume_command(dusk_batch *b, const char *command);

/* What a second SIGINT or SIGTERM writes on stderr as it ends the process at once (the one
 * place a batch writes anything: a process that must stop now cannot wait for a reporter;
 * the text is the reporter's, written from the signal handler as it is, at most 8191 bytes).
 * NULL or "": nothing is written. Before dusk_batch_run(), or from the reporter's
 * DUSK_BATCH_EVENT_OPEN. 0, DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_quit_message(dusk_batch *b, const char *text);

/* The progress bar's label ("items" by default; copied, at most 47 bytes). 0, DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_label(dusk_batch *b, const char *label);

/* The word items are counted in ("item"/"items" by default; dusk-eigh says "task"/"tasks"),
 * in the reasons the batch gives and for the reporter. Copied, at most 31 bytes each. 0 or
 * DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_noun(dusk_batch *b, const char *singular, const char *plural);

/* Failures of `step` (a task key, such as "load") are about `subject` (such as the input
 * file): their records carry it (dusk_batch_failure.subject), and the text reporter says
 * "PROG: SUBJECT: reason" rather than "PROG: item STEP-ITEM failed: reason". Copied. At most
 * 8. 0, DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_set_subject(dusk_batch *b, const char *step, const char *subject);

/* ---- how it runs ------------------------------------------------------------------------ */

typedef enum dusk_distribution {
    DUSK_CYCLIC = 0, /* item i belongs to rank i mod R (the tutorial's mpi4py step) */
    DUSK_BLOCK = 1   /* rank r has items [r T / R, (r + 1) T / R) */
} dusk_distribution;

/* catch 0: dusk_batch_open() installs no SIGINT or SIGTERM handler (the program keeps its
 * own, as Python does) and stops the batch itself with dusk_batch_stop(). Before
 * dusk_batch_open(). 0 or DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_signals(dusk_batch *b, int catch);

/* Stop the batch as the first signal `sig` would (nothing more is submitted, running tasks
 * finish, what is done is saved; the outcome is STOPPED with that signal, exit 128 + sig),
 * but never end the process. From any thread, after dusk_batch_open(); a second call does
 * nothing. 0 or DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_stop(dusk_batch *b, int sig);

/* 0 or DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_distribution(dusk_batch *b, dusk_distribution d);

/* This process computes share k of n (0 <= k < n) of the items, as rank k of n ranks would
 * (dusk_batch_set_distribution says which items), without MPI: n processes started apart (a
 * Slurm job array) write one output directory together, each in place, and never wait for
 * one another. Share k keeps its own manifest (DIR/.share-K/); the directory's lock file
 * (DIR/.dusk.lock) is held shared by the shares, so that no other run writes there meanwhile,
 * and a second lock file serialises their short steps: the first share makes the outputs, the
 * others join them, and the one that finishes last, seeing every share finished, merges the
 * manifests and failures and names the outputs, byte for byte as one process would have. A
 * share run again (after a kill) goes on with its own items; a --resume by one process merges
 * what the shares saved and does the rest. n = 0: no shares (the default). Before
 * dusk_batch_open(); refused by dusk_batch_run() under several ranks. 0 or DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_share(dusk_batch *b, int64_t k, int64_t n);

/* Items per task: k > 0 exactly (the last chunks of a rank may be smaller), 0: automatic,
 * from the time the first tasks take (see dusk_chunker), or -1: as the environment says
 * (DUSK_CHUNK=K or auto; automatic when unset, the default). `item_bytes` is the most memory
 * one item's tasks hold at once (0: unknown), which bounds k so that the tasks in flight stay
 * within the configured window. 0 or DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_chunk(dusk_batch *b, int64_t k, int64_t item_bytes);

/* Automatic chunks for tasks that cost more than usual around their items: how long a task
 * should last and how much of what is left one may take (dusk_chunker_set_target; 0, 0: the
 * defaults). Before dusk_batch_open(). 0 or DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_task_target(dusk_batch *b, double seconds, int tail);

/* ---- events: the reporter ----------------------------------------------------------------
 *
 * What happens during dusk_batch_open() and dusk_batch_run(), as it happens, for a program
 * to say (the standard text reporter, dusk_cli_report_text()), log, or turn into exceptions.
 * Events come in this order: OPEN; then REFUSED (and nothing more from open), or, from
 * dusk_batch_run(): START, PROGRESS (many; the last with `final`), FAILURES, END; ERROR and
 * WARNING as things go wrong, STOPPING once when a signal comes (at any time after OPEN);
 * DETACH last. Every rank gets its own events: a reporter that prints once per job prints on
 * rank 0 (dusk_rank()). */

typedef enum dusk_batch_event_kind {
    DUSK_BATCH_EVENT_OPEN = 1,     /* dusk_batch_open() begins: the batch is set up, and
                                      dusk_batch_set_resume_command() and
                                      dusk_batch_set_quit_message() may still be called */
    DUSK_BATCH_EVENT_REFUSED = 2,  /* dusk_batch_open() refuses the batch: why, code, usage */
    DUSK_BATCH_EVENT_ERROR = 3,    /* something went wrong on this rank (why, code): the run
                                      stops, resumably; several may come */
    DUSK_BATCH_EVENT_WARNING = 4,  /* why; the run goes on */
    DUSK_BATCH_EVENT_START = 5,    /* computing starts: todo, done_before */
    DUSK_BATCH_EVENT_PROGRESS = 6, /* rows were saved: done, failed, todo, seconds, final */
    DUSK_BATCH_EVENT_STOPPING = 7, /* the first SIGINT or SIGTERM came (signal): nothing more
                                      is submitted, running tasks finish, what is done is
                                      saved */
    DUSK_BATCH_EVENT_FAILURES = 8, /* this rank's failed items are known (even none):
                                      dusk_batch_failure_count(), dusk_batch_get_failure() */
    DUSK_BATCH_EVENT_END = 9,      /* the run is over, the ranks agreed: dusk_batch_get_state(),
                                      dusk_batch_get_summary() */
    DUSK_BATCH_EVENT_DETACH = 10   /* the last event, from dusk_batch_free() or when another
                                      reporter replaces this one: free what `user` holds */
} dusk_batch_event_kind;

typedef struct dusk_batch_event {
    dusk_batch_event_kind kind;
    dusk_batch *batch; /* for the queries below, and OPEN's setters */
    /* REFUSED, ERROR, WARNING: */
    const char *why; /* one line, without the program's name or a newline */
    int code;        /* REFUSED, ERROR: a DUSK_E* code */
    int usage;       /* REFUSED: 1 when it is the caller's to fix (a bad directory, another run's:
                        DUSK_EXIT_USAGE), 0 when it is a failure (DUSK_EXIT_FAILURE) */
    /* STOPPING: */
    int signal;
    /* START and PROGRESS, this rank's: */
    int64_t todo;        /* items this rank computes in this run */
    int64_t done_before; /* START: items done before (a resume; rank 0: the whole job's) */
    int64_t done;        /* PROGRESS: items whose rows are saved in this run (computed, where
                            nothing is stored) */
    int64_t failed;      /* PROGRESS: items that failed in this run, so far */
    double seconds;      /* PROGRESS: since the first submission */
    int final;           /* PROGRESS: the last, once every task is over */
    /* PROGRESS, the whole job's items done and failed in this run: this rank's under one
     * rank; under several, on rank 0, every rank's as last heard (sent every second; exact in
     * the last event), and -1 on the other ranks (or when rank 0 cannot know them) */
    int64_t job_done, job_failed;
} dusk_batch_event;

/* Called with each event; `ev` and what it points to are valid during the call only. Calls
 * for one batch never overlap (the batch serialises them), but come from several threads:
 * the caller's, the batch's writer thread (PROGRESS; under several ranks, on rank 0, also the
 * thread that hears the other ranks' counts) and a thread that watches for signals
 * (STOPPING); so a reporter must not call dusk_batch_run() or dusk_batch_free(), and should
 * be quick (PROGRESS may come thousands of times a second: draw at most every so often). */
typedef void (*dusk_batch_report_fn)(void *user, const dusk_batch_event *ev);

/* Attach a reporter (fn NULL: none, the default: the batch says nothing). One per batch: a
 * reporter attached before gets DETACH. `user` is the caller's (passed to fn). Before
 * dusk_batch_open(). 0 or DUSK_EINVAL. */
DUSK_NODISCARD int dusk_batch_set_reporter(dusk_batch *b, dusk_batch_report_fn fn, void *user);

/* ---- running ---------------------------------------------------------------------------- */

/* Check the output directory (lock, another run's files, free disk), then make the outputs
 * (a new run, on rank 0) or open them (a resume), start the manifest and catch SIGINT and
 * SIGTERM; first of all, /dev/null onto a closed descriptor 0, 1 or 2 (dusk_std_fds_open(),
 * so that no output gets one of them). Before dusk_init(), on every rank. 0 to go on, or
 * the reason it refused (a DUSK_E* code; the record, dusk_batch_get_state(), has it in words and
 * says whether it is the caller's to fix, DUSK_EXIT_USAGE: another program's files, a stopped run
 * without overwrite, a resume of no run or of another one; or a failure, DUSK_EXIT_FAILURE: cannot
 * write, no disk), after a REFUSED event. Once per batch (DUSK_EINVAL after that). */
DUSK_NODISCARD int dusk_batch_open(dusk_batch *b);

/* Called for each chunk of this rank's items still to compute, in order, from the thread that
 * called dusk_batch_run(): submit the tasks that compute them to g (a graph of this rank
 * alone: dusk_graph_set_local) and name with dusk_chunk_output() the data holding each
 * output's rows. Returns 0, or an error that stops the batch (a refused submission:
 * DUSK_ECANCELED once the batch is stopping is not an error). */
typedef int (*dusk_batch_submit_fn)(void *user, dusk_graph *g, dusk_chunk *c);

/* Run the batch: after dusk_init(), on every rank. Items done before (a resume) are skipped;
 * the rest of this rank's items are handed to `submit` chunk by chunk, their rows written as
 * they finish; then the outputs are named (finished) or kept for a resume (stopped). Returns,
 * the same on every rank: 0 (every item done), DUSK_ETASK (finished, some items failed: NaN
 * rows, failures.json, dusk_batch_get_failure), DUSK_ECANCELED (stopped by a signal,
 * resumable), or the code of the error that stopped it, or that dusk_batch_open() refused it
 * with (then nothing is computed). dusk_batch_exit_status() gives the matching exit status.
 * Under several ranks the ranks agree at the collectives the run holds anyway (a rank whose
 * submission fails stops, and the others learn of it at the end); the process is ended
 * (dusk_abort) only where a collective itself fails, since the ranks can then no longer
 * agree. DUSK_EINVAL for a NULL argument or a batch not opened. Once per batch. */
DUSK_NODISCARD int dusk_batch_run(dusk_batch *b, dusk_batch_submit_fn submit, void *user);

/* ---- a chunk, inside the submit function ------------------------------------------------- */

/* Its number of items, the id of its k-th (0 <= k < count), and the step between them: ids
 * run first, first + step, ... (step 1 with one rank or block distribution, R with cyclic). */
int64_t dusk_chunk_count(const dusk_chunk *c);
int64_t dusk_chunk_item(const dusk_chunk *c, int64_t k);
int64_t dusk_chunk_step(const dusk_chunk *c);

/* Options for the chunk's tasks naming its items (item_first, item_count, item_step), so
 * that failures and traces say which items a task computed; key, priority and flags are the
 * caller's. */
void dusk_chunk_task_opts(const dusk_chunk *c, dusk_task_opts *opts);

/* The chunk's rows of output `index` are in d: a stack of dusk_chunk_count() items of the
 * output's row shape (or, with one item, a plain matrix or vector of it). The batch reads d
 * once the tasks writing it are done and writes each item's row (NaN when the item failed);
 * an item is done once all its outputs are written. Call it once per output per chunk, after
 * submitting the tasks that write d. 0, DUSK_EINVAL (a bad index, a shape that is not the
 * output's: an ERROR event says which), or a read's error. */
DUSK_NODISCARD int dusk_chunk_output(dusk_chunk *c, int index, dusk_data *d);

/* ---- records: what happened -------------------------------------------------------------
 *
 * Valid from the end of dusk_batch_run() (or of a refused dusk_batch_open()) until
 * dusk_batch_free(), and during the reporter's FAILURES and END events; strings are owned by
 * the batch. */

/* Items of the batch: done in this run, done before it (a resume), failed (in this run), and
 * the largest chunk used. On rank 0: the whole job's; elsewhere this rank's. */
typedef struct dusk_batch_summary {
    int64_t items, done, done_before, failed;
    int64_t largest_chunk;
    double seconds;         /* of computing, from the first submission to the last row written */
    int finished;           /* the batch ran to its end (exit 0 or 3), rather than stopped */
    int64_t peak_in_flight; /* the most tasks in flight at once (this rank's graph) */
} dusk_batch_summary;

/* 0, or DUSK_EINVAL (then *out is zeroed). */
DUSK_NODISCARD int dusk_batch_get_summary(const dusk_batch *b, dusk_batch_summary *out);

/* How the batch ended, the same on every rank (but `why`). */
typedef enum dusk_batch_outcome {
    DUSK_BATCH_PENDING = 0,  /* not run to its end yet */
    DUSK_BATCH_FINISHED = 1, /* every item computed or failed: the outputs have their names */
    DUSK_BATCH_STOPPED = 2,  /* stopped by a signal: resumable */
    DUSK_BATCH_FAILED = 3,   /* stopped by an error: resumable where something was saved */
    DUSK_BATCH_REFUSED = 4   /* dusk_batch_open() refused it: nothing was computed */
} dusk_batch_outcome;

typedef struct dusk_batch_state {
    dusk_batch_outcome outcome;
    int exit_status;    /* dusk_batch_exit_status() */
    int code;           /* what dusk_batch_run() returned (dusk_batch_open()'s when REFUSED) */
    int signal;         /* STOPPED: the signal (SIGINT, SIGTERM) */
    int usage;          /* REFUSED: the caller's to fix (DUSK_EXIT_USAGE), not a failure */
    const char *why;    /* FAILED, REFUSED: the first error met on this rank, one line as its
                           event said it; NULL where it was another rank's */
    int ran;            /* dusk_batch_run() got as far as computing, so that a stop saved what
                           was done (0: it stopped before, an ERROR said why) */
    const char *dir;    /* the output directory; NULL without one (then nothing is saved) */
    int64_t saved;      /* STOPPED, FAILED: the items the manifest on disk lists, which a resume
                           skips (on rank 0: the whole job's) */
    int saved_current;  /* 1 when the manifest was brought up to date at the stop; 0 when it
                           could not be (it lists what it listed before, still true) */
    const char *resume; /* the command that resumes (dusk_batch_set_resume_command), or NULL */
} dusk_batch_state;

/* 0, or DUSK_EINVAL (then *out is zeroed). */
DUSK_NODISCARD int dusk_batch_get_state(const dusk_batch *b, dusk_batch_state *out);

/* The exit status for main(), the same on every rank: 0 (every item done, or not run yet), 1
 * (an error stopped the run, or dusk_batch_open() refused it for a failure), 2
 * (dusk_batch_open() refused it for something the caller is to fix), 3 (finished with failed
 * items), 128 + N (stopped by signal N). 1 for a NULL batch. */
int dusk_batch_exit_status(const dusk_batch *b);

/* One failed item of this rank (each item once: its first failure), by item. */
typedef struct dusk_batch_failure {
    int64_t item;
    int code;            /* its error, a DUSK_E* code */
    const char *step;    /* the key of the task that failed it ("gen", "eigh", ...) */
    const char *reason;  /* one line */
    const char *subject; /* what dusk_batch_set_subject() named for the step, or NULL */
} dusk_batch_failure;

/* This rank's failed items (failures.json has every rank's), and the i-th of them
 * (0 <= i < count): 0, or DUSK_EINVAL (then *out is zeroed). */
int64_t dusk_batch_failure_count(const dusk_batch *b);
DUSK_NODISCARD int dusk_batch_get_failure(const dusk_batch *b, int64_t i, dusk_batch_failure *out);

/* How the batch was set up, for a reporter's words. Strings owned by the batch. */
typedef struct dusk_batch_info {
    const char *program;                   /* dusk_batch_new()'s */
    const char *label, *singular, *plural; /* dusk_batch_set_label(), dusk_batch_set_noun() */
    const char *output_flag, *resume_flag; /* dusk_batch_set_flags() */
    const char *overwrite_flag;            /* "" when none */
    const char *dir;                       /* the output directory, or NULL */
    const char *args;                      /* dusk_batch_set_args()'s ("" when not set) */
    int resume;                            /* a resume (dusk_batch_resume()) */
    int64_t items;                         /* the batch's, every rank's */
    int64_t chunk;                         /* items per task asked for; 0: automatic */
} dusk_batch_info;

/* 0, or DUSK_EINVAL (then *out is zeroed). */
DUSK_NODISCARD int dusk_batch_get_info(const dusk_batch *b, dusk_batch_info *out);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_BATCH_H */
