/* The command line that every dusk app shares: the common flags (workers, scheduler,
 * window, BLAS threads, progress, -q/-v, --help, --version) parsed in one place with
 * getopt_long, and strict parsing of numeric values. Uses only the public API. */
#ifndef DUSK_APPS_CLI_H
#define DUSK_APPS_CLI_H

#include <getopt.h>

#include "dusk.h"
#include "dusk_batch.h" /* the exit statuses the apps share: DUSK_EXIT_* */

typedef struct cli_app {
    const char *name;              /* program name used in messages */
    const char *synopsis;          /* one line: "[-n N] [--ntasks T] ..." */
    const char *description;       /* a paragraph for --help */
    const char *options_help;      /* the app's own options, formatted for --help */
    const char *shortopts;         /* the app's short options, getopt syntax */
    const struct option *longopts; /* the app's long options, ending with a zero entry */
    /* Called for each of the app's options (getopt's return value and optarg).
     * Returns 0, or DUSK_EXIT_USAGE after printing one line with cli_usage_error(). */
    int (*handle)(void *ctx, int opt, const char *arg);
    void *ctx;
} cli_app;

/* Fill cfg (dusk_config_init + flags) and run app->handle for the app's options.
 * Returns -1 to go on, or an exit code: 0 after --help or --version, DUSK_EXIT_USAGE after
 * printing one line naming the bad flag or value. Positional arguments are refused. */
int cli_parse(const cli_app *app, int argc, char **argv, dusk_config *cfg);

/* For a program whose --resume DIR takes the rest of its flags from DIR (dusk_cli.h,
 * dusk_cli_resume_args): *out_argv becomes argv with the flags DIR's run recorded put
 * first (argv[0] stays first), so that parsing it again gives the run's flags, overridden
 * by those typed. The array lives until the program ends. Returns -1 to go on (*out_argc and
 * *out_argv set; argv itself when DIR recorded none), or an exit code after one line. */
int cli_resume_argv(const cli_app *app, const char *dir, int argc, char **argv, int *out_argc,
                    char ***out_argv);

/* Print "NAME: message" on stderr (one line) and return DUSK_EXIT_USAGE. */
int cli_usage_error(const cli_app *app, const char *fmt, ...) DUSK_PRINTF(2, 3);

/* Parse a whole number in [lo, hi] for option `flag`; on error print one line and return
 * DUSK_EXIT_USAGE. */
int cli_int(const cli_app *app, const char *flag, const char *arg, long long lo, long long hi,
            long long *out);

/* --share K/N (0 <= K < N) or --share slurm: this process's share of a job array's items
 * (dusk_batch_set_share). slurm: K and N from the job array's task (SLURM_ARRAY_TASK_ID,
 * _MIN, _MAX, _STEP, _COUNT): task MIN + K * STEP is share K of COUNT, so that --array=0-3,
 * 5-8 and 0-7:2 all give shares 0..3 of 4; an array whose indices are not such a range (1,2,5)
 * is refused. 0, or DUSK_EXIT_USAGE after one line. */
int cli_share(const cli_app *app, const char *flag, const char *arg, long long *k, long long *n);

/* A positive finite number for option `flag`. */
int cli_double(const cli_app *app, const char *flag, const char *arg, double *out);

/* Refuse a run that needs `needed` bytes of memory when dusk_memory_query() says less is
 * available: prints "NAME: WHAT needs N bytes (..) of memory, only M bytes (..) are
 * available (SOURCE)" on stderr and returns DUSK_EXIT_FAILURE; returns -1 to go on (it fits,
 * or nothing is known). */
int cli_check_memory(const cli_app *app, int64_t needed, const char *what);

#endif
