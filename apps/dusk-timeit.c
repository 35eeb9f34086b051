/* dusk-timeit: the tutorial's first step, indirect parallelism. Time eigh of one symmetric
 * n x n matrix (a = bᵀb, b = rand(n, n) after np.random.seed(S), as dusk-eigh's task S) the
 * way `python -m timeit` times np.linalg.eigh(a): R repeats of a loop of K calls, the best
 * repeat counts. The only parallelism is OpenBLAS's own threads (--blas-threads): no runtime,
 * no workers. Uses dusk's public API for the matrix and the command line, and calls
 * LAPACKE's dsyevd directly, as numpy.linalg.eigh does. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dusk.h"
#include "dusk_linalg.h"
#include "dusk_progress.h"

#define TOL 1e-12 /* the trace and Frobenius identities, relative */

typedef struct options {
    long long n, seed, repeat, number;
    int values_only;
} options;

enum {
    OPT_SEED = 1,
    OPT_REPEAT,
    OPT_NUMBER,
    OPT_VALUES_ONLY,
    OPT_NO_NCPU,
    OPT_NO_SCHED,
    OPT_NO_WINDOW,
    OPT_NO_WINDOW_MB
};

/* The runtime's flags that set up StarPU workers are listed here too, ahead of the shared
 * ones (getopt takes the first entry of a name), so that they are refused rather than
 * accepted and ignored: no StarPU worker runs here. */
static const struct option longopts[] = {
    {"seed", required_argument, NULL, OPT_SEED},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {"number", required_argument, NULL, OPT_NUMBER},
    {"values-only", no_argument, NULL, OPT_VALUES_ONLY},
    {"ncpu", required_argument, NULL, OPT_NO_NCPU},
    {"sched", required_argument, NULL, OPT_NO_SCHED},
    {"window", required_argument, NULL, OPT_NO_WINDOW},
    {"window-mb", required_argument, NULL, OPT_NO_WINDOW_MB},
    {NULL, 0, NULL, 0},
};

static cli_app app;

/* One line, as for --trace: the flag would be accepted and change nothing. */
static int not_here(const char *flag)
{
    fprintf(stderr, "%s: %s does not apply: %s runs no tasks on StarPU\n", app.name, flag,
            app.name);
    return DUSK_EXIT_USAGE;
}

static int handle(void *ctx, int opt, const char *arg)
{
    options *o = ctx;
    switch (opt) {
    case OPT_NO_NCPU:
        return not_here("--ncpu");
    case OPT_NO_SCHED:
        return not_here("--sched");
    case OPT_NO_WINDOW:
        return not_here("--window");
    case OPT_NO_WINDOW_MB:
        return not_here("--window-mb");
    case 'n':
        return cli_int(&app, "-n", arg, 1, 20000, &o->n);
    case OPT_SEED:
        return cli_int(&app, "--seed", arg, 0, UINT32_MAX, &o->seed);
    case OPT_REPEAT:
        return cli_int(&app, "--repeat", arg, 1, 1000, &o->repeat);
    case OPT_NUMBER:
        return cli_int(&app, "--number", arg, 0, 1000000, &o->number);
    case OPT_VALUES_ONLY:
        o->values_only = 1;
        return 0;
    }
    return cli_usage_error(&app, "unhandled option");
}

static cli_app app = {
    .name = "dusk-timeit",
    .synopsis = "[-n N] [--seed S] [--repeat R] [--number K] [--values-only]\n"
                "                   [--blas-threads K] [-q] [-v]",
    .description =
        "Time eigh of one symmetric n x n matrix (a = bᵀb, b = rand(n, n) after\n"
        "np.random.seed(S)) like `python -m timeit`: R repeats of K calls, best repeat\n"
        "reported. The only parallelism is BLAS's own threads (--blas-threads). With -q it\n"
        "prints only the best time per call, in seconds.",
    .options_help =
        "Options:\n"
        "  -n N                  matrix size (default 1000)\n"
        "      --seed S          the matrix of dusk-eigh's task S (default 0)\n"
        "      --repeat R        repeats; the best counts (default 5, as timeit)\n"
        "      --number K        calls per repeat; 0: as timeit, the first of 1, 2, 5, 10,\n"
        "                        20, 50, ... whose loop takes 0.2 s or more (default 0)\n"
        "      --values-only     eigenvalues only (dsyevd 'N')\n"
        "Of the runtime options below only --blas-threads, --progress, --no-progress, -q and\n"
        "-v apply: no StarPU worker is started, and --ncpu, --sched, --window, --window-mb\n"
        "and --trace are refused.\n",
    .shortopts = "n:",
    .longopts = longopts,
    .handle = handle,
};

/* One eigh call on a fresh copy of a (dsyevd overwrites its input, and numpy.linalg.eigh
 * copies too): 0, or LAPACK's info. */
static int eigh_once(const double *a, double *work, double *w, int n, char jobz)
{
    memcpy(work, a, (size_t)n * (size_t)n * sizeof *work);
    return (int)LAPACKE_dsyevd(LAPACK_COL_MAJOR, jobz, 'U', n, work, n, w);
}

/* Seconds for `number` calls, or a negative value when a call fails. */
static double time_loop(const double *a, double *work, double *w, int n, char jobz,
                        long long number)
{
    double t0 = dusk_now();
    for (long long k = 0; k < number; k++)
        if (eigh_once(a, work, w, n, jobz) != 0) return -1;
    return dusk_now() - t0;
}

static void print_time(double s)
{
    if (s >= 1)
        printf("%.3g sec", s);
    else if (s >= 1e-3)
        printf("%.3g msec", s * 1e3);
    else
        printf("%.3g usec", s * 1e6);
}

int main(int argc, char **argv)
{
    options o = {.n = 1000, .seed = 0, .repeat = 5, .number = 0};
    /* before any file is opened: a closed stdout or stderr would be the first file's number */
    if (dusk_std_fds_open() != 0) {
        perror("dusk-timeit: cannot open /dev/null for a closed standard descriptor");
        return DUSK_EXIT_FAILURE;
    }
    app.ctx = &o;
    dusk_config cfg;
    int ret = cli_parse(&app, argc, argv, &cfg);
    if (ret >= 0) return ret;
    if (cfg.trace[0] != '\0') { /* a trace would be empty: say so rather than write nothing */
        const char *env = getenv("DUSK_TRACE");
        fprintf(stderr, "dusk-timeit: %s does not apply: dusk-timeit runs no tasks on StarPU\n",
                env != NULL && strcmp(env, cfg.trace) == 0 ? "DUSK_TRACE" : "--trace");
        return DUSK_EXIT_USAGE;
    }

    const int n = (int)o.n;
    const size_t nn = (size_t)n * (size_t)n;
    const char jobz = o.values_only ? 'N' : 'V';
    double *b = malloc(nn * sizeof *b), *a = malloc(nn * sizeof *a);
    double *work = malloc(nn * sizeof *work), *w = malloc((size_t)n * sizeof *w);
    if (b == NULL || a == NULL || work == NULL || w == NULL) {
        fprintf(stderr, "dusk-timeit: out of memory for n=%d\n", n);
        free(b), free(a), free(work), free(w);
        return DUSK_EXIT_FAILURE;
    }
    /* The same matrix as dusk-eigh's task S: gen, then gram (a = bᵀb, both triangles). */
    dusk_mt19937_fill((uint32_t)o.seed, b, (int64_t)nn);
    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, n, n, 1.0, b, n, 0.0, a, n);
    dusk_square_mirror_lower(a, n);
    free(b);

    openblas_set_num_threads(cfg.blas_threads);
    int threads = openblas_get_num_threads();
    if (cfg.verbose >= 0) {
        printf("dusk-timeit: eigh of one n=%d matrix (%s), seed=%lld, %d BLAS thread%s, no "
               "runtime\n",
               n, o.values_only ? "eigenvalues only" : "eigenvalues and eigenvectors", o.seed,
               threads, threads == 1 ? "" : "s");
        fflush(stdout);
    }

    /* timeit's autorange: the first of 1, 2, 5, 10, 20, 50, ... taking 0.2 s or more. */
    long long number = o.number;
    double t = 0;
    if (number == 0) {
        for (long long base = 1; number == 0; base *= 10)
            for (int m = 0; m < 3 && number == 0; m++) {
                long long k = base * (m == 0 ? 1 : m == 1 ? 2 : 5);
                if ((t = time_loop(a, work, w, n, jobz, k)) < 0) break;
                if (t >= 0.2 || k >= 1000000) number = k;
            }
    }
    double best = INFINITY;
    dusk_progress *bar = NULL;
    if (t >= 0 && dusk_progress_new("timeit", o.repeat, cfg.progress, &bar) != 0) bar = NULL;
    for (long long r = 0; r < o.repeat && t >= 0; r++) {
        if ((t = time_loop(a, work, w, n, jobz, number)) >= 0 && t / (double)number < best)
            best = t / (double)number;
        dusk_progress_draw(bar, r + 1, r + 1 == o.repeat);
    }
    dusk_progress_free(&bar);
    if (t < 0) {
        fprintf(stderr, "dusk-timeit: dsyevd failed on the n=%d matrix (seed %lld)\n", n, o.seed);
        free(a), free(work), free(w);
        return DUSK_EXIT_FAILURE;
    }

    /* The last call's eigenvalues against two identities of a symmetric matrix:
     * sum(w) = trace(a) and sum(w²) = ||a||_F². A wrong or missing result fails here. */
    double tr = 0, fro2 = 0, sw = 0, sw2 = 0;
    for (int i = 0; i < n; i++) {
        tr += a[(size_t)i * n + i];
        sw += w[i];
        sw2 += w[i] * w[i];
    }
    for (size_t i = 0; i < nn; i++)
        fro2 += a[i] * a[i];
    double e0 = fabs(sw - tr) / sqrt(fro2), e1 = fabs(sw2 - fro2) / fro2;
    int ok = e0 <= TOL && e1 <= TOL;
    free(a), free(work), free(w);

    if (cfg.verbose < 0) {
        printf("%.6g\n", best);
    } else {
        printf("%lld loop%s, best of %lld: ", number, number == 1 ? "" : "s", o.repeat);
        print_time(best);
        printf(" per loop\n");
        printf("Check: sum of eigenvalues = trace (error %.1e), sum of squares = ||a||_F^2 "
               "(error %.1e): %s\n",
               e0, e1, ok ? "passed" : "FAILED");
    }
    if (!ok) {
        if (cfg.verbose < 0)
            fprintf(stderr, "dusk-timeit: eigenvalues fail the trace identities (%.1e, %.1e)\n", e0,
                    e1);
        return DUSK_EXIT_FAILURE;
    }
    return DUSK_EXIT_OK;
}
