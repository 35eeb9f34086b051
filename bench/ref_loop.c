/* dusk-ref-loop: the plain C reference that dusk-eigh is measured against.
 *
 * The same batch as dusk-eigh, with no runtime in between: an OpenMP loop over the tasks,
 * one BLAS thread per OpenMP thread, and per task exactly the work of dusk's three codelets
 * (codelets/gen_cpu.c, gram_cpu.c, eigh_cpu.c): b = rand(n, n) seeded with seed + i,
 * a = bᵀb by one dsyrk plus a copy of the lower triangle onto the upper one, then dsyevd
 * and, with eigenvectors, an in-place transpose. Each thread allocates its matrices once.
 *
 * It prints dusk-eigh's summary line and a checksum (the sum over tasks of the largest
 * eigenvalue) so that both the speed and the answer can be compared. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <lapacke.h>
#include <omp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk.h"
#include "dusk_linalg.h"
#include "dusk_progress.h"

enum { EXIT_USAGE = 2 };

typedef struct options {
    long long n, ntasks, seed, threads;
    int values_only, verbose, progress;
} options;

static const char usage[] =
    "Usage: dusk-ref-loop [-n N] [--ntasks T] [--seed S] [--threads K] [--values-only] [-q] "
    "[-v]\n"
    "                     [--progress|--no-progress]\n"
    "\n"
    "The reference for dusk-eigh: the same batch (b = rand(n, n) seeded with S + i, a = bᵀb,\n"
    "eigh(a)) as a plain OpenMP loop over the tasks, one BLAS thread per OpenMP thread.\n"
    "\n"
    "  -n N              matrix size (default 1000)\n"
    "      --ntasks T    number of matrices (default 128)\n"
    "      --seed S      seed of task 0; task i uses S + i (default 0)\n"
    "      --threads K   OpenMP threads (default: OMP_NUM_THREADS, else one per core)\n"
    "      --values-only eigenvalues only (dsyevd 'N')\n"
    "      --progress    always draw a progress bar on stderr; --no-progress: never\n"
    "                    (default: when stderr is a terminal)\n"
    "  -q, --quiet       print only the results\n"
    "  -v, --verbose     also print the peak memory on stderr\n"
    "  -h, --help        print this help and exit\n"
    "      --version     print the version and exit\n";

static int usage_error(const char *fmt, ...) DUSK_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "dusk-ref-loop: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see --help)\n");
    return EXIT_USAGE;
}

static int parse_int(const char *flag, const char *arg, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "dusk-ref-loop: %s: '%s' is not a whole number in [%lld, %lld]\n", flag,
                arg, lo, hi);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

/* -1 to go on, or an exit code. */
static int parse(int argc, char **argv, options *o)
{
    enum {
        OPT_NTASKS = 1,
        OPT_SEED,
        OPT_THREADS,
        OPT_VALUES_ONLY,
        OPT_VERSION,
        OPT_PROGRESS,
        OPT_NO_PROGRESS
    };
    static const struct option longopts[] = {
        {"ntasks", required_argument, NULL, OPT_NTASKS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"values-only", no_argument, NULL, OPT_VALUES_ONLY},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int opt, ret = -1;
    opterr = 0;
    while (ret < 0 && (opt = getopt_long(argc, argv, ":n:qvh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            ret = parse_int("-n", optarg, 1, 100000, &o->n);
            break;
        case OPT_NTASKS:
            ret = parse_int("--ntasks", optarg, 1, INT32_MAX, &o->ntasks);
            break;
        case OPT_SEED:
            ret = parse_int("--seed", optarg, 0, UINT32_MAX, &o->seed);
            break;
        case OPT_THREADS:
            ret = parse_int("--threads", optarg, 1, 4096, &o->threads);
            break;
        case OPT_VALUES_ONLY:
            o->values_only = 1;
            break;
        case OPT_PROGRESS:
            o->progress = DUSK_PROGRESS_ON;
            break;
        case OPT_NO_PROGRESS:
            o->progress = DUSK_PROGRESS_OFF;
            break;
        case 'q':
            o->verbose = -1;
            if (o->progress == DUSK_PROGRESS_AUTO) o->progress = DUSK_PROGRESS_OFF;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case OPT_VERSION:
            printf("dusk-ref-loop (dusk) %s\n", DUSK_VERSION_STRING);
            return 0;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
        if (ret == 0) ret = -1;
    }
    if (ret >= 0) return ret;
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->seed + o->ntasks - 1 > (long long)UINT32_MAX)
        return usage_error("--seed + --ntasks goes past NumPy's largest seed (2**32 - 1)");
    return -1;
}

int main(int argc, char **argv)
{
    options o = {.n = 1000, .ntasks = 128, .seed = 0, .threads = 0, .progress = DUSK_PROGRESS_AUTO};
    int ret = parse(argc, argv, &o);
    if (ret >= 0) return ret;
    int threads = o.threads > 0 ? (int)o.threads : omp_get_max_threads();
    const int n = (int)o.n;
    const int64_t ntasks = o.ntasks;
    const char jobz = o.values_only ? 'N' : 'V';

    /* The largest eigenvalue of each task, summed in task order afterwards so that the
     * checksum does not depend on the schedule. */
    double *largest = malloc((size_t)ntasks * sizeof *largest);
    if (largest == NULL) {
        fprintf(stderr, "dusk-ref-loop: out of memory\n");
        return 1;
    }
    /* One BLAS thread per OpenMP thread, as dusk runs one per worker. */
    openblas_set_num_threads(1);
    if (o.verbose >= 0) {
        printf("dusk-ref-loop: n=%d ntasks=%lld seed=%lld (%s), %d OpenMP threads, 1 BLAS "
               "thread each\n",
               n, (long long)ntasks, o.seed,
               o.values_only ? "eigenvalues only" : "eigenvalues and eigenvectors", threads);
        fflush(stdout);
    }

    /* The bar is drawn by whichever thread finishes a task, one at a time. */
    dusk_progress *bar = NULL;
    int64_t done = 0;
    if (dusk_progress_new("loop", ntasks, o.progress, &bar) != 0) bar = NULL;

    int failed = 0;
    double start = dusk_now();
#pragma omp parallel num_threads(threads) reduction(+ : failed)
    {
        size_t nn = (size_t)n * (size_t)n;
        double *b = NULL, *a = NULL, *w = NULL;
        if (posix_memalign((void **)&b, 64, nn * sizeof *b) != 0 ||
            posix_memalign((void **)&a, 64, nn * sizeof *a) != 0 ||
            posix_memalign((void **)&w, 64, (size_t)n * sizeof *w) != 0) {
            failed++;
        }
        /* Every thread takes part in the loop (its barrier), even one whose allocation
         * failed: it then skips its tasks. */
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < ntasks; i++) {
            if (b == NULL || a == NULL || w == NULL) continue;
            dusk_mt19937_fill((uint32_t)(o.seed + i), b, (int64_t)nn);
            cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, n, n, 1.0, b, n, 0.0, a, n);
            dusk_square_mirror_lower(a, n);
            lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, jobz, 'U', n, a, n, w);
            if (info != 0) {
                fprintf(stderr, "dusk-ref-loop: task %lld: dsyevd failed (info = %d)\n",
                        (long long)i, (int)info);
                failed++;
                largest[i] = 0;
                continue;
            }
            if (jobz == 'V') dusk_square_transpose(a, n);
            largest[i] = w[n - 1];
#pragma omp critical(dusk_ref_loop_progress)
            {
                done++;
                dusk_progress_draw(bar, done, done == ntasks);
            }
        }
        free(b);
        free(a);
        free(w);
    }
    double elapsed = dusk_now() - start;
    if (done != ntasks) dusk_progress_draw(bar, done, 1); /* end the line after failures */
    dusk_progress_free(&bar);
    if (failed) {
        fprintf(stderr, "dusk-ref-loop: %d failures (out of memory or dsyevd)\n", failed);
        free(largest);
        return 1;
    }

    double checksum = 0;
    for (int64_t i = 0; i < ntasks; i++)
        checksum += largest[i];
    printf("Processed %lld tasks in %.3f s (%.2f it/s)\n", (long long)ntasks, elapsed,
           (double)ntasks / elapsed);
    printf("Checksum (sum of largest eigenvalues): %.17g\n", checksum);
    if (o.verbose > 0)
        fprintf(stderr, "dusk-ref-loop: peak memory %.1f MB\n", (double)dusk_peak_rss() / 1e6);
    free(largest);
    return 0;
}
