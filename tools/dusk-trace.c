/* dusk-trace: summarise, merge and draw the trace.json files that dusk writes
 * (DUSK_TRACE=DIR or --trace DIR). Uses only dusk's public API. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dusk.h"
#include "dusk_trace.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };
enum { CMD_SUMMARY, CMD_MERGE, CMD_REPORT };
enum { OPT_VERSION = 256, OPT_PARAMS };

typedef struct options {
    int cmd;
    const char *output;
    const char *params;
    int quiet;
    const char *const *paths;
    int npaths;
} options;

static const char HELP[] =
    "Usage: dusk-trace [summary] TRACE.json...\n"
    "       dusk-trace merge -o OUT.json TRACE.json...\n"
    "       dusk-trace report -o OUT.html [--params TEXT] TRACE.json...\n"
    "\n"
    "Read the trace.json files of a dusk run (one per rank) and print a summary: per-worker\n"
    "busy time and idle gaps, per-codelet statistics, the critical path and the parallel\n"
    "efficiency; or merge them into one trace (one pid per rank) that Perfetto and\n"
    "chrome://tracing open; or write a self-contained HTML report.\n"
    "\n"
    "The files must be of one run: files of different runs (ranks that ran more than 10 s\n"
    "apart, or disagree on how many they are) are refused, as is one rank given twice.\n"
    "A trace cut short (its process was killed) is read up to its last whole event, with a\n"
    "warning on stderr naming the file and the line it stops after.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   where merge and report write (required for them)\n"
    "      --params TEXT   the run's description shown by report (default: the recorded one)\n"
    "  -q, --quiet         print nothing but errors (no warnings either)\n"
    "  -h, --help          print this help and exit\n"
    "      --version       print the version and exit\n"
    "\n"
    "Exit codes: 0 success (truncated traces included), 1 a trace could not be read or an\n"
    "output written, 2 bad usage (files of different runs, or one rank twice, included).\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("dusk-trace: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see dusk-trace --help)\n", stderr);
    return EXIT_USAGE;
}

/* Returns -1 to go on, or an exit code. */
static int parse(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"params", required_argument, NULL, OPT_PARAMS},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, OPT_VERSION},
                                             {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    int first = 1;
    if (argc > 1) {
        if (strcmp(argv[1], "summary") == 0)
            o->cmd = CMD_SUMMARY, first = 2;
        else if (strcmp(argv[1], "merge") == 0)
            o->cmd = CMD_MERGE, first = 2;
        else if (strcmp(argv[1], "report") == 0)
            o->cmd = CMD_REPORT, first = 2;
    }
    opterr = 0;
    optind = first;
    int opt;
    while ((opt = getopt_long(argc, argv, ":o:qh", longopts, NULL)) != -1) {
        const char *bad = argv[optind - 1];
        switch (opt) {
        case 'o':
            o->output = optarg;
            break;
        case OPT_PARAMS:
            o->params = optarg;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        case OPT_VERSION:
            printf("dusk-trace (dusk) %s\n", DUSK_VERSION_STRING);
            return EXIT_OK;
        case ':':
            return usage_error("option '%s' needs a value", bad);
        default:
            if (optopt && optopt < 256 && strncmp(bad, "--", 2) != 0) {
                char flag[3] = {'-', (char)optopt, '\0'};
                return usage_error("unknown option '%s'", flag);
            }
            return usage_error("unknown option '%s'", bad);
        }
    }
    if (optind >= argc) return usage_error("%sno trace file given", "");
    if (o->cmd != CMD_SUMMARY && o->output == NULL)
        return usage_error("%s needs -o FILE", o->cmd == CMD_MERGE ? "merge" : "report");
    if (o->cmd == CMD_SUMMARY && o->output) return usage_error("%s-o is for merge and report", "");
    if (o->cmd != CMD_REPORT && o->params) return usage_error("%s--params is for report", "");
    o->paths = (const char *const *)argv + optind;
    o->npaths = argc - optind;
    /* never write over what is read: -o naming one of the traces (by its file, not its name) */
    struct stat out;
    if (o->output && stat(o->output, &out) == 0)
        for (int i = 0; i < o->npaths; i++) {
            struct stat in;
            if (stat(o->paths[i], &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
                fprintf(stderr,
                        "dusk-trace: -o %s is the trace %s it reads: write to another "
                        "file (see dusk-trace --help)\n",
                        o->output, o->paths[i]);
                return EXIT_USAGE;
            }
        }
    return -1;
}

/* The text of a failure: for DUSK_EIO, errno's (the library leaves it set), which says why
 * (no such directory, disk full, ...) where "input/output error" would not. */
static const char *reason(int rc)
{
    return rc == DUSK_EIO && errno != 0 ? strerror(errno) : dusk_strerror(rc);
}

int main(int argc, char **argv)
{
    options o;
    /* before any file is opened: a closed stdout or stderr would be the first file's number */
    if (dusk_std_fds_open() != 0) {
        perror("dusk-trace: cannot open /dev/null for a closed standard descriptor");
        return EXIT_FAIL;
    }
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    char why[1024];
    dusk_trace_set *set;
    if ((rc = dusk_trace_load(o.paths, o.npaths, &set, why, sizeof why)) != 0) {
        fprintf(stderr, "dusk-trace: %s\n", why);
        /* files that do not go together: a mistake in the command, not in the files */
        return rc == DUSK_EINVAL ? EXIT_USAGE : EXIT_FAIL;
    }
    for (int i = 0; i < o.npaths && !o.quiet; i++) {
        int64_t line, ntasks;
        int cut = dusk_trace_truncated(set, i, &line, &ntasks);
        if (cut > 0)
            fprintf(stderr,
                    "dusk-trace: warning: %s: truncated after line %lld: %s; %lld task%s read\n",
                    o.paths[i], (long long)line,
                    cut == 1 ? "the run did not finish" : "its closing line is missing",
                    (long long)ntasks, ntasks == 1 ? "" : "s");
    }
    switch (o.cmd) {
    case CMD_SUMMARY:
        errno = 0;
        rc = o.quiet ? 0 : dusk_trace_summary(set, stdout);
        if (rc == 0 && fflush(stdout) != 0) rc = DUSK_EIO;
        if (rc) fprintf(stderr, "dusk-trace: cannot print the summary: %s\n", reason(rc));
        break;
    case CMD_MERGE:
    case CMD_REPORT:
        errno = 0;
        rc = o.cmd == CMD_MERGE ? dusk_trace_write_json(set, o.output)
                                : dusk_trace_write_report(set, o.output, o.params);
        if (rc)
            fprintf(stderr, "dusk-trace: cannot write %s: %s\n", o.output, reason(rc));
        else if (!o.quiet)
            fprintf(stderr, "dusk-trace: wrote %s (%lld tasks, %d file%s)\n", o.output,
                    (long long)dusk_trace_task_count(set), o.npaths, o.npaths == 1 ? "" : "s");
        break;
    }
    dusk_trace_set_free(&set);
    return rc ? EXIT_FAIL : EXIT_OK;
}
