/* A batch's output directory: locked against a second run, emptied of an earlier run's
 * results, and the small files beside the results (the run token that ranks check,
 * failures.json). Part of the I/O layer (no StarPU); private to the runtime. It prints nothing:
 * functions that return -1 say why in one line in why[whylen] (no program name in front),
 * unless they say otherwise. */
#ifndef DUSK_OUTDIR_H
#define DUSK_OUTDIR_H

#include <stddef.h>
#include <stdint.h>

/* One run at a time per directory: an exclusive flock on DIR/.dusk.lock, held while *held
 * (the descriptor) is open: until the batch is freed, or the process exits, however it
 * exits. 0 or -1. */
int dusk__outdir_lock(const char *dir, int *held, char *why, size_t whylen);

/* Whether files named like a run's results (`names`, `count` of them, and their .partial
 * forms) or DIR/manifest.txt are in DIR though its manifest is not `program`'s (`ours` is 0:
 * DIR/manifest.txt is missing or not a manifest of `program`, as dusk_manifest_read() tells):
 * a new run must not remove them (they are the user's). 0 when DIR holds none or they are
 * `program`'s, -1 naming the first one (with `flag`, the option naming DIR). */
int dusk__outdir_check_foreign(const char *dir, int ours, const char *flag, const char *program,
                               const char *const *names, int count, char *why, size_t whylen);

/* Remove DIR/NAME for each of the `count` names that exist, then sync the directory: a new
 * run must not leave an earlier run's results under their final names. Their .partial forms
 * go too. 0 or -1. */
int dusk__outdir_remove(const char *dir, const char *const *names, int count, char *why,
                        size_t whylen);

/* A new run that writes no trace into DIR: remove the trace an earlier run wrote there
 * (trace.json, report.html, dag.dot, dag.dot.partial, and the same in DIR/rank-K/ with those
 * directories, as several ranks leave them), which would otherwise sit beside results it
 * does not describe. Only files dusk wrote go (by how each begins, as the trace writer tells
 * its own: runtime/src/trace/trace.c); any other file of those names stays. 0 or -1. */
int dusk__outdir_remove_trace(const char *dir, char *why, size_t whylen);

/* Under several ranks: a new token naming this run, written to DIR/.dusk-run (rank 0), and
 * read back by the other ranks, who thereby know they see the directory rank 0 writes.
 * dusk__outdir_read_token: 0, or -1 with errno set (nothing printed), *token -1 when it holds none.
 */
int dusk__outdir_write_token(const char *dir, int64_t *token, char *why, size_t whylen);
int dusk__outdir_read_token(const char *dir, int64_t *token);

/* DIR/failures.json, written whole (temporary file, fsync, rename) from `lines`, one failed
 * task per line, "id<TAB>step<TAB>error<TAB>reason\n", in any order: the file lists them by
 * task id. With no lines (NULL or ""), an old failures.json is removed. 0, or -1 with errno
 * set (nothing printed). */
int dusk__outdir_write_failures(const char *dir, const char *program, int64_t ntasks,
                                const char *lines);

#endif
