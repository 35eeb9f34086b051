/* dusk_cli: what a command-line batch program adds around dusk_batch.h, in a few lines: its
 * command line recorded for the resume hint (and given back to a resume), and the standard
 * text reporter, which says what dusk-eigh says: the progress bar, the failed items, the
 * summary, the stop message with the command that resumes, warnings and errors.
 *
 * This is the one layer of libdusk that prints (the text reporter, on stdout and stderr); it
 * is built on the public API alone (dusk_batch.h's events and records, dusk_manifest.h), as
 * a program of one's own could be. A program that speaks otherwise (a Python binding, a log
 * for a batch system) attaches its own reporter with dusk_batch_set_reporter() instead.
 *
 *   dusk_cli_batch_args(b, argc, argv, dir_flags, drop_flags, path_flags, "--resume");
 *   dusk_cli_report_text(b);
 *   if (dusk_batch_open(b) == 0 && dusk_init(&cfg, why, sizeof why) == 0)
 *       (void)dusk_batch_run(b, submit_chunk, ctx);
 *   return dusk_batch_exit_status(b);
 */
#ifndef DUSK_CLI_H
#define DUSK_CLI_H

#include "dusk.h"
#include "dusk_batch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Record the program's command line in batch b, for the manifest and the resume hint: its
 * words (dusk_batch_set_args), and the option names the batch's reasons use
 * (dusk_batch_set_flags). The flags naming the output directory are `dir_flags` (e.g.
 * {"--output", "--resume", NULL}: the first names it in messages), which the hint replaces
 * with `resume_flag` ("--resume"); flags without a value that only matter to a new run
 * (`drop_flags`, e.g. {"--overwrite", NULL}: the first is the one a message offers) are left
 * out; the values of `path_flags` (e.g. {"--input", NULL}) are recorded as absolute paths,
 * so that the hint works pasted from any directory. Abbreviations getopt_long accepts
 * ("--out") are recognised. Any list may be NULL; nothing is kept of them. Before
 * dusk_batch_open(). 0, DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_cli_batch_args(dusk_batch *b, int argc, char *const *argv,
                                       const char *const *dir_flags, const char *const *drop_flags,
                                       const char *const *path_flags, const char *resume_flag);

/* The command-line arguments recorded by the run that wrote `dir` (without the program name
 * and the directory flags), as a NULL-terminated array the caller frees with free() (one
 * block; *argv NULL and *argc 0 when the run recorded none, or DIR holds no manifest that
 * can be read: dusk_batch_open() then says why). For a program whose resume takes only the
 * directory: it parses these first, then its own. 0, DUSK_EIO (no manifest there: `why`, as
 * "DIR: strerror: there is no run to resume there"), DUSK_EINVAL, DUSK_ENOMEM. Thread-safe. */
DUSK_NODISCARD int dusk_cli_resume_args(const char *dir, char ***argv, int *argc, char *why,
                                        size_t whylen);

/* What `--continue DIR` finds in DIR (dusk_cli_continue_state): a job script's one line that
 * starts a run, goes on with it after a stop (a requeued job), and does nothing once it is
 * done. */
typedef enum dusk_cli_continue {
    DUSK_CLI_CONTINUE_NEW = 0,      /* no run there (no DIR, or no manifest in it): start one */
    DUSK_CLI_CONTINUE_RESUME = 1,   /* this run, not finished (stopped, killed, or finished
                                       with failed items): resume it */
    DUSK_CLI_CONTINUE_FINISHED = 2, /* this run, finished with every item done: nothing to do */
    DUSK_CLI_CONTINUE_OTHER = 3     /* another run's outputs: refuse, `why` says whose */
} dusk_cli_continue;

/* Decide what a run of `program` with `params` (the line dusk_batch_set_params() takes: what
 * decides the results), `items` items and output format `format` (NULL: "npy") is to do in
 * directory `dir`, from DIR/manifest.txt: the same program, params, item count and format make
 * the same run. *state and `why` (one line, without the program's name; for FINISHED what
 * was done, for OTHER the run found and how it differs, for RESUME what was saved) are set. A
 * directory with files but no manifest is NEW: dusk_batch_open() then refuses the files of no
 * run as it does for any new run. Every rank may call it before dusk_batch_open() (it only
 * reads; rank 0's opening never turns one answer into another that would part the ranks:
 * a NEW run's first manifest reads as RESUME of itself, which resumes nothing). 0,
 * DUSK_EINVAL, DUSK_EIO (DIR/manifest.txt exists but cannot be read: errno kept, `why`),
 * DUSK_ENOMEM. Thread-safe. */
DUSK_NODISCARD int dusk_cli_continue_state(const char *dir, const char *program, const char *params,
                                           int64_t items, const char *format,
                                           dusk_cli_continue *state, char *why, size_t whylen);

/* The command that resumes batch b, as a POSIX shell reads it: the program (this process's
 * executable, absolute), the words dusk_cli_batch_args() recorded, the resume flag and the
 * output directory (absolute). *out is malloc'ed (the caller frees it); NULL on failure.
 * 0, DUSK_EINVAL (no output directory: nothing to resume), DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_cli_resume_command(const dusk_batch *b, char **out);

/* How often the text reporter writes a progress line when stderr is not a terminal (a batch
 * job's output file), from DUSK_PROGRESS_INTERVAL: S seconds (a number > 0; default 10) is
 * the shortest time between two lines, which come at every 5% of the items and at least
 * every 12 S (2 minutes by default); "off" or 0: no lines. *seconds is S, 0 for off. 0, or
 * DUSK_EINVAL for a malformed value (`why`: one line naming it; *seconds is then the default).
 * Thread-safe. */
DUSK_NODISCARD int dusk_cli_progress_interval(double *seconds, char *why, size_t whylen);

/* Attach the standard text reporter to b (dusk_batch_set_reporter; its state is the batch's,
 * freed with it). What it prints, with PROG the program's name ("PROG: rank K" under several
 * ranks, where each rank says its own errors and failures and rank 0 the rest):
 *   - stderr: "PROG: REASON" for a refusal or an error, "PROG: warning: REASON"; the progress
 *     bar (rank 0, as the configuration's progress setting says), or, when stderr is not a
 *     terminal and the setting is automatic, progress lines (rank 0; its own share under
 *     several ranks; dusk_cli_progress_interval() says how often):
 *       "PROG: progress: D of T ITEMS (P%), F failed, R ITEMS/s, MM:SS left"
 *       "PROG: progress of rank 0's share: D of T ITEMS (P%), ..." (several ranks)
 *     where D counts the items processed (done or failed), of the batch's T with one rank
 *     (those done before a resume included), of rank 0's T in this run under several, and F
 *     those of them that failed in this run; "PROG: stopping: ..." at
 *     the first signal; the first 10 failed items of each rank; the stop message and
 *     "PROG: to resume: COMMAND" (the command also what a second signal prints as it quits
 *     at once); with -v (verbose > 0), the largest chunk;
 *   - stdout: "PROG: resuming DIR: K of T ITEMS already done" (not with -q), and the summary
 *     "Processed T ITEMS in X s (Y it/s)...".
 * Before dusk_batch_open(). 0, DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_cli_report_text(dusk_batch *b);

/* As dusk_cli_report_text(), with what it says on stdout said on stderr: for a library whose
 * caller's stdout is the caller's own (dusk.map in Python). */
DUSK_NODISCARD int dusk_cli_report_text_stderr(dusk_batch *b);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_CLI_H */
