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
 *     finish, what is done is saved, and the command that resumes is printed (a second signal
 *     stops at once, printing it too);
 *   - under several ranks (mpirun, srun), each rank owns its items (cyclic: item i belongs to
 *     rank i mod R; block: contiguous runs) and computes and writes them itself, with its own
 *     graph and manifest (DIR/.rank-K/manifest.txt, merged by rank 0); no data moves between
 *     ranks, and every rank agrees on the exit status;
 *   - items are computed several per task (chunks), sized automatically so that a task lasts
 *     long enough for the runtime's cost to vanish (dusk_batch_set_chunk);
 *   - a progress bar of the items saved, and a summary.
 *
 * Usage (see README, "Your own batch", for a whole program):
 *
 *   dusk_batch *b;
 *   dusk_batch_new("my-program", T, &b);
 *   dusk_batch_add_output(b, "values", 1, (int64_t[]){n}, &out);
 *   dusk_batch_set_output(b, "results", "npy");   (or dusk_batch_resume(b, dir))
 *   dusk_batch_set_params(b, "n=... seed=...");   (what decides the results)
 *   dusk_batch_set_args(b, argc, argv, (const char *[]){"--output", "--resume", NULL},
 *                       NULL, NULL, "--resume");  (for the resume hint)
 *   if ((status = dusk_batch_open(b)) != 0) return status;   before dusk_init()
 *   dusk_init(&cfg, ...);
 *   status = dusk_batch_run(b, submit_chunk, ctx); after dusk_init(), on every rank
 *   dusk_batch_free(&b); dusk_shutdown(); return status;
 *
 * All functions are called from the thread that calls dusk_init(), except where said.
 */
#ifndef DUSK_BATCH_H
#define DUSK_BATCH_H

#include "dusk.h"
#include "dusk_chunker.h" /* chunk sizes, for programs that make their own chunks */

#ifdef __cplusplus
extern "C" {
#endif

/* Exit statuses, the same on every rank: what a batch program returns from main(). */
enum {
    DUSK_EXIT_OK = 0,           /* every item done */
    DUSK_EXIT_FAILURE = 1,      /* the run could not go on (an output not written, ...) */
    DUSK_EXIT_USAGE = 2,        /* refused before starting (a bad directory, another run's) */
    DUSK_EXIT_ITEMS_FAILED = 3, /* finished, but some items failed (NaN rows, failures.json) */
    DUSK_EXIT_SIGNAL = 128      /* + N: stopped by signal N (130: Ctrl-C); resumable */
};

typedef struct dusk_batch dusk_batch; /* opaque */
typedef struct dusk_chunk dusk_chunk; /* the items of one call of the submit function */

/* A new batch of `nitems` items (0 allowed: nothing to do) for `program` (copied; letters,
 * digits and -_. only: it names the manifest's program). The caller owns *out. 0,
 * DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_new(const char *program, int64_t nitems, dusk_batch **out);

/* Free the batch (its files are closed as they are: call dusk_batch_run() first). Sets *b to
 * NULL. */
void dusk_batch_free(dusk_batch **b);

/* ---- what it produces ------------------------------------------------------------------ */

/* Declare an output: `name` (copied; letters, digits and _: the file is DIR/name.npy, or the
 * HDF5 dataset /name) of shape (nitems, dims...), float64, C order; ndim 0 to 2 row
 * dimensions (a value, a vector, a matrix per item). *index (may be NULL) receives its
 * number, in order from 0. At most 8. */
DUSK_NODISCARD int dusk_batch_add_output(dusk_batch *b, const char *name, int ndim,
                                         const int64_t *dims, int *index);

/* Write the outputs into directory `dir` (made if missing), in `format`: "npy" (the default,
 * NULL) or "h5" (DUSK_ENODEV when this dusk was built without HDF5). A directory that holds
 * files of another program's run, or a stopped run of this program, is refused by
 * dusk_batch_open() unless dusk_batch_set_overwrite(). Without an output directory the batch
 * keeps nothing on disk and cannot be resumed. */
DUSK_NODISCARD int dusk_batch_set_output(dusk_batch *b, const char *dir, const char *format);

/* Rows of output `index` go to the caller's memory instead (nitems x row values, C order):
 * written there as items finish, NaN for items that failed. Only without an output
 * directory. Under several ranks each rank writes its own items' rows into its own memory;
 * the others are left as they were (nothing gathers them). */
DUSK_NODISCARD int dusk_batch_set_memory(dusk_batch *b, int index, double *values);

/* Go on with the run that wrote `dir` (stopped, killed or with failed items): its manifest
 * says which items are done and how the run was made (format, parameters), which must match
 * (dusk_batch_open refuses another run's). */
DUSK_NODISCARD int dusk_batch_resume(dusk_batch *b, const char *dir);

/* Allow a new run in a directory holding a stopped run of this program (its saved work is
 * discarded). Without it, dusk_batch_open() refuses and points to resuming. */
DUSK_NODISCARD int dusk_batch_set_overwrite(dusk_batch *b, int overwrite);

/* One line (copied, no newline) of everything that decides the results (sizes, seeds, the
 * input's fingerprint): a resume must have the same. */
DUSK_NODISCARD int dusk_batch_set_params(dusk_batch *b, const char *params);

/* A name = value pair recorded with the outputs (attributes of results.h5; a value that is a
 * whole number is recorded as one), such as n, the seed or the input file. Copied. At most
 * 30. The program's name and dusk's version are recorded without being asked ("program",
 * "version"). */
DUSK_NODISCARD int dusk_batch_set_attr(dusk_batch *b, const char *name, const char *value);

/* The program's command line, for the resume hint and the manifest (a resume may then be given
 * the directory alone: dusk_batch_resume_args). The flags naming the output directory are
 * `dir_flags` (e.g. {"--output", "--resume", NULL}: the first names it in messages), which the
 * hint replaces with `resume_flag` ("--resume"); flags without a value that only matter to a
 * new run (`drop_flags`, e.g. {"--overwrite", NULL}) are left out; the values of `path_flags`
 * (e.g. {"--input", NULL}) are recorded as absolute paths, and so is the program, so that the
 * hint works pasted from any directory. Abbreviations getopt_long accepts ("--out") are
 * recognised. Any list may be NULL. Copied. */
DUSK_NODISCARD int dusk_batch_set_args(dusk_batch *b, int argc, char *const *argv,
                                       const char *const *dir_flags, const char *const *drop_flags,
                                       const char *const *path_flags, const char *resume_flag);

/* The command-line arguments recorded by the run that wrote `dir` (without the program name
 * and the directory flags), as a NULL-terminated array the caller frees with free() (one
 * block). For a program whose resume takes only the directory: it parses these first, then
 * its own. 0, DUSK_EIO (no manifest: `why`), DUSK_EFORMAT, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_batch_resume_args(const char *dir, char ***argv, int *argc, char *why,
                                          size_t whylen);

/* ---- how it runs ------------------------------------------------------------------------ */

typedef enum dusk_distribution {
    DUSK_CYCLIC = 0, /* item i belongs to rank i mod R (the tutorial's mpi4py step) */
    DUSK_BLOCK = 1   /* rank r has items [r T / R, (r + 1) T / R) */
} dusk_distribution;

DUSK_NODISCARD int dusk_batch_set_distribution(dusk_batch *b, dusk_distribution d);

/* Items per task: k > 0 exactly (the last chunks of a rank may be smaller), 0: automatic,
 * from the time the first tasks take (see dusk_chunker), or -1: as the environment says
 * (DUSK_CHUNK=K or auto; automatic when unset, the default). `item_bytes` is the most memory
 * one item's tasks hold at once (0: unknown), which bounds k so that the tasks in flight stay
 * within the configured window. */
DUSK_NODISCARD int dusk_batch_set_chunk(dusk_batch *b, int64_t k, int64_t item_bytes);

/* The progress bar's label ("items" by default; copied). */
DUSK_NODISCARD int dusk_batch_set_label(dusk_batch *b, const char *label);

/* Check the output directory (lock, another run's files, free disk), then make the outputs
 * (a new run, on rank 0) or open them (a resume), start the manifest and catch SIGINT and
 * SIGTERM. Before dusk_init(), on every rank. Returns 0 to go on, or an exit status after one
 * line on stderr naming the problem: DUSK_EXIT_USAGE for the directory (another program's
 * files, a stopped run without overwrite, a resume of no run or of another one),
 * DUSK_EXIT_FAILURE for a failure (cannot write, no disk). */
int dusk_batch_open(dusk_batch *b);

/* Called for each chunk of this rank's items still to compute, in order, from the thread that
 * called dusk_batch_run(): submit the tasks that compute them to g (a graph of this rank
 * alone: dusk_graph_set_local) and name with dusk_chunk_output() the data holding each
 * output's rows. Returns 0, or an error that stops the batch (a refused submission:
 * DUSK_ECANCELED once the batch is stopping is not an error). */
typedef int (*dusk_batch_submit_fn)(void *user, dusk_graph *g, dusk_chunk *c);

/* Run the batch: after dusk_init(), on every rank. Items done before (a resume) are skipped;
 * the rest of this rank's items are handed to `submit` chunk by chunk, their rows written as
 * they finish; then the outputs are named (finished) or kept for a resume (stopped). Prints
 * the progress bar (per the configuration), the failures and the summary ("Processed T items
 * in X s (Y it/s)"; with `noun` from dusk_batch_set_noun), or how to resume. Returns the exit
 * status, the same on every rank. After a dusk_batch_open() that did not return 0 it computes
 * nothing and returns that status (under several ranks it ends the job with it: dusk_abort). */
int dusk_batch_run(dusk_batch *b, dusk_batch_submit_fn submit, void *user);

/* The word the summary counts in ("items" by default; dusk-eigh says "tasks"). Copied. */
DUSK_NODISCARD int dusk_batch_set_noun(dusk_batch *b, const char *singular, const char *plural);

/* Failures of `step` (a task key, such as "load") are reported as being about `subject` (such
 * as the input file): "PROG: SUBJECT: reason" rather than "PROG: task STEP-ITEM failed:
 * reason". Copied. At most 8. */
DUSK_NODISCARD int dusk_batch_set_subject(dusk_batch *b, const char *step, const char *subject);

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
 * output's), or a read's error. */
DUSK_NODISCARD int dusk_chunk_output(dusk_chunk *c, int index, dusk_data *d);

/* ---- after dusk_batch_run() --------------------------------------------------------------- */

/* Items of the batch: done in this run, done before it (a resume), failed (in this run), and
 * the largest chunk used. On rank 0: the whole job's; elsewhere this rank's. */
typedef struct dusk_batch_summary {
    int64_t items, done, done_before, failed;
    int64_t largest_chunk;
    double seconds; /* of computing, from the first submission to the last row written */
    int finished;   /* the batch ran to its end (exit 0 or 3), rather than stopped */
} dusk_batch_summary;

DUSK_NODISCARD int dusk_batch_get_summary(const dusk_batch *b, dusk_batch_summary *out);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_BATCH_H */
