#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dusk_cli.h"

enum {
    OPT_SCHED = 1000,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_VERSION,
    OPT_TRACE,
    /* the numeric settings that have a flag (--ncpu, --window, ...): OPT_SETTING + the
     * dusk_setting, their names and ranges from dusk_config_bounds() */
    OPT_SETTING = 1100,
};

static const struct option common[] = {
    {"sched", required_argument, NULL, OPT_SCHED},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"trace", required_argument, NULL, OPT_TRACE},
};

static const char common_help[] =
    "Runtime options (StarPU's environment variables work too; flags win):\n"
    "      --ncpu K          CPU workers (STARPU_NCPU)\n"
    "      --sched NAME      StarPU scheduling policy, e.g. lws, eager, dmda (STARPU_SCHED)\n"
    "      --window N        most tasks in flight at once (DUSK_WINDOW; default 64 per\n"
    "                        worker)\n"
    "      --window-mb M     most MiB of data in flight once 2 tasks per worker run\n"
    "                        (DUSK_WINDOW_MB; default 32 per worker): bounds memory\n"
    "      --blas-threads K  BLAS threads per worker (DUSK_BLAS_THREADS; default 1)\n"
    "      --progress        always draw the progress bar on stderr\n"
    "      --no-progress     never draw it (default: only when stderr is a terminal;\n"
    "                        otherwise a batch writes a line at every 5% of its items, no\n"
    "                        sooner than DUSK_PROGRESS_INTERVAL s (default 10) after the\n"
    "                        last, and at least every 12 times that; =off: no lines)\n"
    "      --trace DIR       write DIR/trace.json (open in Perfetto or chrome://tracing),\n"
    "                        DIR/report.html and DIR/dag.dot (DUSK_TRACE); for programs\n"
    "                        that run tasks on StarPU\n"
    "  -q, --quiet           print only the results\n"
    "  -v, --verbose         print more, StarPU's messages included\n"
    "  -h, --help            print this help and exit\n"
    "      --version         print the version and exit\n";

int cli_usage_error(const cli_app *app, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", app->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see --help)\n");
    return DUSK_EXIT_USAGE;
}

int cli_int(const cli_app *app, const char *flag, const char *arg, long long lo, long long hi,
            long long *out)
{
    char *end;
    *out = 0;
    if (arg == NULL || *arg == '\0') return cli_usage_error(app, "%s needs a value", flag);
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (*end != '\0' || end == arg || !(*arg == '-' || *arg == '+' || (*arg >= '0' && *arg <= '9')))
        return cli_usage_error(app, "%s: '%s' is not a whole number", flag, arg);
    if (errno == ERANGE || v < lo || v > hi)
        return cli_usage_error(app, "%s: %s is out of range (%lld to %lld)", flag, arg, lo, hi);
    *out = v;
    return 0;
}

/* One of the job array's variables, a whole number >= 0; -1 when unset, -2 when malformed. */
static long long slurm_var(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    return *end != '\0' || errno || x < 0 || !(*v >= '0' && *v <= '9') ? -2 : x;
}

int cli_share(const cli_app *app, const char *flag, const char *arg, long long *k, long long *n)
{
    const long long most = 1 << 20;
    if (strcmp(arg, "slurm") != 0) {
        char *slash = strchr(arg, '/'), head[32];
        if (slash == NULL || slash == arg || (size_t)(slash - arg) >= sizeof head)
            return cli_usage_error(app, "%s '%s': expected K/N (share K of N, from 0) or slurm",
                                   flag, arg);
        snprintf(head, sizeof head, "%.*s", (int)(slash - arg), arg);
        if (cli_int(app, flag, slash + 1, 1, most, n) != 0) return DUSK_EXIT_USAGE;
        if (cli_int(app, flag, head, 0, *n - 1, k) != 0) return DUSK_EXIT_USAGE;
        return 0;
    }
    long long id = slurm_var("SLURM_ARRAY_TASK_ID"), lo = slurm_var("SLURM_ARRAY_TASK_MIN");
    long long hi = slurm_var("SLURM_ARRAY_TASK_MAX"), count = slurm_var("SLURM_ARRAY_TASK_COUNT");
    long long step = slurm_var("SLURM_ARRAY_TASK_STEP");
    if (id == -1)
        return cli_usage_error(app,
                               "%s slurm: SLURM_ARRAY_TASK_ID is not set: this is not a "
                               "task of a Slurm job array (sbatch --array=0-3)",
                               flag);
    if (step == -1) step = 1; /* Slurm sets it for ranges A-B:S; a list has none */
    if (id < 0 || lo < 0 || hi < 0 || count < 1 || step < 1)
        return cli_usage_error(app,
                               "%s slurm: SLURM_ARRAY_TASK_ID, _MIN, _MAX and _COUNT must "
                               "be set, whole numbers",
                               flag);
    if (hi < lo || (hi - lo) % step != 0 || (hi - lo) / step + 1 != count || id < lo || id > hi ||
        (id - lo) % step != 0 || count > most)
        return cli_usage_error(app,
                               "%s slurm: the job array's indices (%lld to %lld, step %lld, %lld "
                               "tasks) are not one range with a step: use --array=A-B or "
                               "A-B:S, or --share K/N",
                               flag, lo, hi, step, count);
    *k = (id - lo) / step;
    *n = count;
    return 0;
}

int cli_double(const cli_app *app, const char *flag, const char *arg, double *out)
{
    char *end;
    *out = 0;
    errno = 0;
    double v = arg ? strtod(arg, &end) : 0;
    if (arg == NULL || *arg == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v) || v <= 0)
        return cli_usage_error(app, "%s: '%s' is not a positive number", flag, arg ? arg : "");
    *out = v;
    return 0;
}

int cli_check_memory(const cli_app *app, int64_t needed, const char *what)
{
    dusk_memory m;
    if (dusk_memory_query(&m) != 0 || m.available < 0 || needed <= m.available) return -1;
    char need[32], have[32], source[128];
    dusk_bytes_text(need, sizeof need, needed);
    dusk_bytes_text(have, sizeof have, m.available);
    if (m.rlimit >= 0 && m.rlimit == m.available) {
        char mi[32];
        dusk_bytes_text(mi, sizeof mi, m.meminfo);
        snprintf(source, sizeof source,
                 "this process's limits, ulimit -v or -d, less what it uses; MemAvailable is %s",
                 mi);
    } else if (m.cgroup >= 0 && m.cgroup == m.available) {
        char mi[32];
        dusk_bytes_text(mi, sizeof mi, m.meminfo);
        snprintf(source, sizeof source, "the cgroup's memory limit; MemAvailable is %s", mi);
    } else {
        snprintf(source, sizeof source, "MemAvailable in /proc/meminfo");
    }
    fprintf(stderr,
            "%s: %s needs %lld bytes (%s) of memory, only %lld bytes (%s) are available (%s)\n",
            app->name, what, (long long)needed, need, (long long)m.available, have, source);
    return DUSK_EXIT_FAILURE;
}

static void print_help(const cli_app *app)
{
    printf("Usage: %s %s\n\n%s\n\n%s\n%s", app->name, app->synopsis, app->description,
           app->options_help, common_help);
}

/* The app's long options, the common ones and the settings' flags, in one table to free; and
 * the short options, in getopt's syntax after `prefix` (":" or "+:"). NULL: out of memory. */
static struct option *options_table(const cli_app *app, const char *prefix, char *shortopts,
                                    size_t len)
{
    size_t napp = 0;
    while (app->longopts[napp].name != NULL)
        napp++;
    size_t ncommon = sizeof common / sizeof common[0];
    struct option *all = calloc(napp + ncommon + DUSK_SETTING_COUNT + 1, sizeof *all);
    if (all == NULL) return NULL;
    memcpy(all, app->longopts, napp * sizeof *all);
    memcpy(all + napp, common, ncommon * sizeof *all);
    size_t nall = napp + ncommon;
    for (int s = 0; s < DUSK_SETTING_COUNT; s++) {
        const char *flag;
        if (dusk_config_bounds((dusk_setting)s, NULL, NULL, NULL, NULL, NULL, &flag) == 0 &&
            flag != NULL && strncmp(flag, "--", 2) == 0)
            all[nall++] = (struct option){flag + 2, required_argument, NULL, OPT_SETTING + s};
    }
    snprintf(shortopts, len, "%s%sqvh", prefix, app->shortopts);
    return all;
}

int cli_parse(const cli_app *app, int argc, char **argv, dusk_config *cfg)
{
    char why[256];
    /* Each message reaches stderr in one write, whole lines at a time, even when it is
     * printed in pieces: under mpirun the ranks share one stderr, and unbuffered pieces of
     * two ranks' lines would interleave. (The progress bar flushes itself.) */
    static char errbuf[BUFSIZ];
    setvbuf(stderr, errbuf, _IOLBF, sizeof errbuf);
    double interval;
    if (dusk_config_init(cfg, why, sizeof why) != 0 ||
        dusk_cli_progress_interval(&interval, why, sizeof why) != 0) {
        fprintf(stderr, "%s: %s\n", app->name, why);
        return DUSK_EXIT_USAGE;
    }

    char shortopts[64];
    struct option *all = options_table(app, ":", shortopts, sizeof shortopts);
    if (all == NULL) return DUSK_EXIT_FAILURE;

    int ret = -1, opt;
    long long v;
    opterr = 0;
    optind = 1;
    while (ret < 0 && (opt = getopt_long(argc, argv, shortopts, all, NULL)) != -1) {
        const char *bad = argv[optind - 1];
        switch (opt) {
        case '?':
            if (optopt && optopt < 256 && strncmp(bad, "--", 2) != 0)
                ret = cli_usage_error(app, "unknown option '-%c'", optopt);
            else
                ret = cli_usage_error(app, "unknown option '%s'", bad);
            break;
        case ':':
            ret = cli_usage_error(app, "option '%s' needs a value", bad);
            break;
        case OPT_SCHED:
            if (strlen(optarg) == 0 || strlen(optarg) >= sizeof cfg->sched)
                ret = cli_usage_error(app, "--sched: '%s' is not a scheduler name", optarg);
            else
                strcpy(cfg->sched, optarg);
            break;
        case OPT_TRACE:
            if (*optarg == '\0' || strlen(optarg) >= sizeof cfg->trace)
                ret = cli_usage_error(app, "--trace: '%s' is not a usable directory name", optarg);
            else
                strcpy(cfg->trace, optarg);
            break;
        case OPT_PROGRESS:
            cfg->progress = DUSK_PROGRESS_ON;
            break;
        case OPT_NO_PROGRESS:
            cfg->progress = DUSK_PROGRESS_OFF;
            break;
        case 'q':
            cfg->verbose = -1;
            break;
        case 'v':
            cfg->verbose = 1;
            break;
        case 'h':
            print_help(app);
            ret = DUSK_EXIT_OK;
            break;
        case OPT_VERSION:
            printf("%s (dusk) %s\n", app->name, DUSK_VERSION_STRING);
            ret = DUSK_EXIT_OK;
            break;
        default:
            if (opt >= OPT_SETTING && opt < OPT_SETTING + DUSK_SETTING_COUNT) {
                dusk_setting s = (dusk_setting)(opt - OPT_SETTING);
                long long lo, hi;
                const char *flag;
                if (dusk_config_bounds(s, &lo, &hi, NULL, NULL, NULL, &flag) != 0)
                    ret = cli_usage_error(app, "unknown setting");
                else if ((ret = cli_int(app, flag, optarg, lo, hi, &v)) == 0 &&
                         (ret = dusk_config_set(cfg, s, v, why, sizeof why)) != 0)
                    ret = cli_usage_error(app, "%s: %s", flag, why);
                else if (ret == 0)
                    ret = -1;
                break;
            }
            if ((ret = app->handle(app->ctx, opt, optarg)) == 0) ret = -1;
            break;
        }
    }
    if (ret < 0 && optind < argc)
        ret = cli_usage_error(app, "unexpected argument '%s'", argv[optind]);
    /* --sched help or STARPU_SCHED=help lists the policies, as StarPU's own "help" does */
    if (ret < 0 && strcmp(cfg->sched, "help") == 0) {
        const char *name, *description;
        printf("StarPU's scheduling policies (--sched NAME or STARPU_SCHED=NAME):\n");
        for (int i = 0; dusk_sched_policy(i, &name, &description) == 0; i++)
            printf("  %-28s %s\n", name, description);
        ret = DUSK_EXIT_OK;
    } else if (ret < 0 && cfg->sched[0] != '\0' && dusk_sched_check(cfg->sched, why, sizeof why)) {
        fprintf(stderr, "%s: %s\n", app->name, why);
        ret = DUSK_EXIT_USAGE;
    }
    if (ret < 0 && cfg->verbose < 0 && cfg->progress == DUSK_PROGRESS_AUTO)
        cfg->progress = DUSK_PROGRESS_OFF;
    free(all);
    return ret;
}

/* An option as written: its words, from argv[at] (1, or 2 with a separate value), and what
 * it sets (options that set the same thing share a group: -q and -v, --progress and
 * --no-progress; others are their own). */
typedef struct unit {
    int at, words, group;
} unit;

static int group_of(int opt)
{
    if (opt == 'v') return 'q';
    if (opt == OPT_NO_PROGRESS) return OPT_PROGRESS;
    return opt;
}

/* argv[1..argc-1] cut into options as getopt reads them (a word it does not read, a unit of
 * its own, group 0). Returns how many, into units[argc]; -1 out of memory. */
static int option_units(const cli_app *app, int argc, char **argv, unit *units)
{
    char shortopts[64];
    struct option *all = options_table(app, "+:", shortopts, sizeof shortopts);
    char **copy = malloc((size_t)(argc + 1) * sizeof *copy);
    if (all == NULL || copy == NULL) {
        free(all);
        free(copy);
        return -1;
    }
    memcpy(copy, argv, (size_t)(argc + 1) * sizeof *copy);
    int n = 0, at = 1, opt, first = 0;
    opterr = 0;
    optind = 0; /* glibc's getopt starts afresh */
    while (at < argc) {
        opt = getopt_long(argc, copy, shortopts, all, NULL);
        if (opt == -1) { /* a word that is not an option: on to the next */
            units[n++] = (unit){at, 1, 0};
            optind = ++at;
            continue;
        }
        if (first == 0) first = opt; /* -qv: one word, several options */
        if (optind == at) continue;
        units[n++] = (unit){at, optind - at, group_of(first)};
        at = optind;
        first = 0;
    }
    optind = 1;
    free(all);
    free(copy);
    return n;
}

/* An option's flag and value (NULL: none), as flag[] and a pointer into argv. */
static const char *flag_value(char **argv, const unit *u, char *flag, size_t len)
{
    const char *w = argv[u->at], *eq = strchr(w, '=');
    if (u->words == 2) {
        snprintf(flag, len, "%s", w);
        return argv[u->at + 1];
    }
    if (strncmp(w, "--", 2) == 0 && eq != NULL) {
        snprintf(flag, len, "%.*s", (int)(eq - w), w);
        return eq + 1;
    }
    snprintf(flag, len, "%s", w);
    return NULL;
}

/* Whether the given option g says what the recorded (or given) option r says: the same flag
 * and value, a path given relative that the recorded line holds absolute (as
 * dusk_cli_batch_args records paths) counting as the same. */
static int same_option(char **ra, const unit *r, char **ga, const unit *g)
{
    char rf[128], gf[128], abs[PATH_MAX];
    const char *rv = flag_value(ra, r, rf, sizeof rf), *gv = flag_value(ga, g, gf, sizeof gf);
    if (strcmp(rf, gf) != 0 || (rv == NULL) != (gv == NULL)) return 0;
    if (rv == NULL || strcmp(rv, gv) == 0) return 1;
    if (rv[0] != '/' || gv[0] == '/') return 0;
    char cwd[PATH_MAX];
    if (realpath(gv, abs) != NULL) return strcmp(abs, rv) == 0;
    return getcwd(cwd, sizeof cwd) != NULL &&
           snprintf(abs, sizeof abs, "%s/%s", cwd, gv) < (int)sizeof abs && strcmp(abs, rv) == 0;
}

/* The command line of a resume, without the options that only say again what the recorded
 * ones (or one before it) already say: the recorded options given again from the first, in
 * order (a resume hint pasted), and an option whose group's last one before it, recorded or
 * given, is the same option. A resume hint pasted whole (the recorded options, then --resume
 * DIR) then adds nothing, and the line a resume records does not grow from resume to resume.
 * Returns the new argc (argv compacted in place). */
static int drop_restated(const cli_app *app, int nrec, char **rec, int argc, char **argv)
{
    unit *ru = malloc((size_t)(nrec + 2) * sizeof *ru), *nu = malloc((size_t)argc * sizeof *nu);
    int nr = ru && nu ? option_units(app, nrec + 1, rec, ru) : -1;
    int nn = nr >= 0 ? option_units(app, argc, argv, nu) : -1;
    if (nn < 0) {
        free(ru);
        free(nu);
        return argc;
    }
    char *drop = calloc((size_t)argc, 1);
    /* the recorded options given again from the first, all of them in order: a hint pasted */
    int pasted = drop != NULL && nn >= nr;
    for (int i = 0; pasted && i < nr; i++)
        pasted = ru[i].group != 0 && same_option(rec, &ru[i], argv, &nu[i]);
    for (int i = 0; pasted && i < nr; i++)
        for (int w = 0; w < nu[i].words; w++)
            drop[nu[i].at + w] = 1;
    for (int i = 0; drop && i < nn; i++) {
        if (drop[nu[i].at]) continue;
        if (nu[i].group == 0) continue;
        const unit *last = NULL;
        char **last_words = NULL;
        for (int j = i - 1; j >= 0 && last == NULL; j--)
            if (!drop[nu[j].at] && nu[j].group == nu[i].group) last = &nu[j], last_words = argv;
        for (int j = nr - 1; j >= 0 && last == NULL; j--)
            if (ru[j].group == nu[i].group) last = &ru[j], last_words = rec;
        if (last != NULL && same_option(last_words, last, argv, &nu[i]))
            for (int w = 0; w < nu[i].words; w++)
                drop[nu[i].at + w] = 1;
    }
    int kept = 1;
    for (int i = 1; i < argc; i++)
        if (!drop || !drop[i]) argv[kept++] = argv[i];
    argv[kept] = NULL;
    free(drop);
    free(ru);
    free(nu);
    return kept;
}

int cli_resume_argv(const cli_app *app, const char *dir, int argc, char **argv, int *out_argc,
                    char ***out_argv)
{
    char **recorded, why[512];
    int nrec;
    *out_argc = argc;
    *out_argv = argv;
    if (dusk_cli_resume_args(dir, &recorded, &nrec, why, sizeof why) != 0) {
        fprintf(stderr, "%s: --resume %s\n", app->name, why);
        return DUSK_EXIT_USAGE;
    }
    if (nrec == 0) {
        free(recorded);
        return -1;
    }
    char **all = malloc((size_t)(argc + nrec + 1) * sizeof *all);
    if (all == NULL) return DUSK_EXIT_FAILURE;
    /* the recorded words as an argv of their own (getopt's word 0 is the program) */
    char **rec = malloc((size_t)(nrec + 2) * sizeof *rec);
    if (rec == NULL) {
        free(all);
        return DUSK_EXIT_FAILURE;
    }
    rec[0] = argv[0];
    memcpy(rec + 1, recorded, (size_t)nrec * sizeof *rec);
    rec[nrec + 1] = NULL;
    char **given = all + nrec; /* the given words, compacted where they will stay */
    given[0] = argv[0];
    memcpy(given + 1, argv + 1, (size_t)argc * sizeof *given); /* with its NULL */
    int ngiven = drop_restated(app, nrec, rec, argc, given);
    free(rec);
    all[0] = argv[0];
    memcpy(all + 1, recorded, (size_t)nrec * sizeof *all);
    *out_argc = ngiven + nrec;
    *out_argv = all; /* with `recorded`, which its words point into: kept until exit */
    return -1;
}
