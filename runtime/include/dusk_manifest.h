/* dusk_manifest: which tasks of a batch are done, kept on disk so that a run that stops
 * (Ctrl-C, a killed job, failed tasks) can resume and compute only what is missing.
 *
 * The manifest is DIR/manifest.txt, a small text file:
 *
 *     dusk-manifest 1
 *     version 2
 *     program dusk-eigh
 *     params n=1000 ntasks=128 values_only=0 vectors=1 source=seed:0
 *     tasks 128
 *     state interrupted
 *     done 57
 *     ids 0-40,42-57
 *     end
 *
 * "ids" lists the done tasks as "A", "A-B" (A to B) and "A-B:S" (A, A+S, ... B): a rank's
 * tasks under a cyclic distribution are one item ("1-127:2"), so the line's length follows
 * the set's gaps, not its size (older manifests, with ranges alone, read the same).
 * (with other "key value" lines the batch layer adds). A manifest whose second line is
 * "version 2" must end with the line "end": one cut short is damaged (DUSK_EFORMAT), never
 * read in part. One without that line (written before it was) is read as before.
 * It is replaced atomically (written to manifest.txt.tmp, fsync'ed, renamed, directory
 * fsync'ed), and only ever lists tasks whose results were made durable first: the caller
 * marks a task done once its results are written, and dusk_manifest_save() takes the set,
 * calls the caller's sync function (which fsyncs the result files), and only then writes it.
 * A crash at any point leaves the previous manifest or the new one, both true.
 */
#ifndef DUSK_MANIFEST_H
#define DUSK_MANIFEST_H

#include "dusk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dusk_manifest dusk_manifest; /* opaque */

/* Make results durable: called by dusk_manifest_save() between taking the done set and
 * writing it. Returns 0, or non-zero to abandon the save. */
typedef int (*dusk_manifest_sync_fn)(void *ctx);

/* Start the manifest of a batch of `ntasks` tasks in directory `dir` (which must exist).
 * `program` and `params` (one line: everything that decides the results, such as sizes,
 * seeds and an input fingerprint) identify the run.
 * resume == 0: a new run; an earlier manifest is replaced at the first save.
 * resume != 0: dir/manifest.txt must exist and name the same program, params and ntasks; its
 * done set is loaded. Errors: DUSK_EIO (cannot read it: errno kept), DUSK_EFORMAT (not a
 * manifest), DUSK_EINVAL (it describes another run), each with one line in `why`.
 * `sync` (may be NULL) and `ctx` are kept for dusk_manifest_save(). The caller owns *out. */
DUSK_NODISCARD int dusk_manifest_open(const char *dir, const char *program, const char *params,
                                      int64_t ntasks, int resume, dusk_manifest_sync_fn sync,
                                      void *ctx, dusk_manifest **out, char *why, size_t whylen);

/* Read DIR/manifest.txt without taking it over, for a look at the run that wrote DIR (the one
 * reader of the file: a resume reads it through dusk_manifest_open(), which checks more). Its
 * lines come back through dusk_manifest_field(), its state word through
 * dusk_manifest_prior_state(); its done set is not loaded (dusk_manifest_is_done() says 0),
 * and dusk_manifest_save() and dusk_manifest_autosave() refuse it (DUSK_ESTATE). The caller
 * owns *out (dusk_manifest_close()). 0, DUSK_EIO (cannot read it: errno kept, ENOENT when
 * there is none), DUSK_EFORMAT (its first line is not a manifest's), DUSK_ENOMEM, DUSK_EINVAL,
 * each with one line in `why`. Thread-safe (a new handle each time). */
DUSK_NODISCARD int dusk_manifest_read(const char *dir, dusk_manifest **out, char *why,
                                      size_t whylen);

/* The state word read from the manifest by a resume or dusk_manifest_read() ("running",
 * "interrupted", "finished"), or "" for a new run. Owned by m. */
const char *dusk_manifest_prior_state(const dusk_manifest *m);

/* Extra "key value" lines the manifest carries after its params (the batch layer records the
 * output format and the command line there): set one (key: lowercase letters and _, not one of
 * the manifest's own; value: one line; copied; saved from the next save on), or read one: a
 * set one, else the line of the manifest that was read (a resume, dusk_manifest_read()), the
 * manifest's own lines included ("program", "params", "tasks", "state", "done", "ids"); NULL
 * when absent. Owned by m: a line read stays valid until m is closed, a value set until its
 * key is set again. At most 16 keys set; only they are saved (a line read is not, unless set).
 * dusk_manifest_set_field: 0, DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_manifest_set_field(dusk_manifest *m, const char *key, const char *value);
const char *dusk_manifest_field(const dusk_manifest *m, const char *key);

/* How many tasks the manifest on disk lists: as of the last dusk_manifest_save() that
 * succeeded (or that a resume loaded), which is what a stopped run can truly claim. */
int64_t dusk_manifest_saved_count(const dusk_manifest *m);

/* Whether task id is done, and how many are. Thread-safe. */
int dusk_manifest_is_done(const dusk_manifest *m, int64_t id);
int64_t dusk_manifest_done_count(const dusk_manifest *m);

/* Record that task id's results are written (not yet durable). Thread-safe, lock-free. */
void dusk_manifest_mark_done(dusk_manifest *m, int64_t id);

/* A check of what the done tasks were computed from (the batch layer: a hash of each task's
 * input matrix, dusk_batch_set_input), saved as the line "check HEX": the sum, modulo 2^64,
 * of fn(ctx, id) over the tasks done in this run, plus what the manifest that was resumed
 * said for the tasks done before (a sum does not depend on the order the tasks were done in,
 * and the ranks' parts add up). fn is called from dusk_manifest_save(), for each task done.
 * NULL: no check line. 0 or DUSK_EINVAL (a manifest read, not opened). */
typedef uint64_t (*dusk_manifest_check_fn)(void *ctx, int64_t id);
DUSK_NODISCARD int dusk_manifest_set_check(dusk_manifest *m, dusk_manifest_check_fn fn, void *ctx);

/* The check as the resumed manifest said it, plus the merged manifests' (dusk_manifest_merge):
 * 1 with *value, or 0 when unknown (a new run's is 0 and known; a manifest written without a
 * check line, or merged with one whose tasks it partly held already, is unknown). */
int dusk_manifest_check_value(const dusk_manifest *m, uint64_t *value);

/* Mark done in m the tasks done in `from` (a manifest of another rank of the same run, opened
 * with resume), and add its check to m's: nothing when m holds all of them already (merged
 * before), unknown when it holds some. Returns the number of tasks `from` lists. */
int64_t dusk_manifest_merge(dusk_manifest *m, const dusk_manifest *from);

/* Write the manifest with this state word (letters and underscores), as described above.
 * Thread-safe (saves are serialised). DUSK_EIO when a write, sync or rename fails. */
DUSK_NODISCARD int dusk_manifest_save(dusk_manifest *m, const char *state);

/* Save every `seconds` from a background thread, with state "running", while tasks are being
 * marked done. seconds == 0 stops it (waiting for a save in progress), as does
 * dusk_manifest_close(): stop it before the last dusk_manifest_save(). DUSK_ENOMEM/DUSK_EINVAL. */
DUSK_NODISCARD int dusk_manifest_autosave(dusk_manifest *m, double seconds);

/* Stop autosaving and free m (without saving). Sets *m to NULL. */
void dusk_manifest_close(dusk_manifest **m);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_MANIFEST_H */
