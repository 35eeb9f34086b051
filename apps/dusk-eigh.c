/* dusk-eigh: the tutorial's batch. For each task i, b = rand(n, n) seeded with seed + i
 * (NumPy's legacy generator, bit for bit, or Philox4x32-10 with --rng philox, which GPUs can
 * run too), a = bᵀb, and eigh(a); or eigh of each matrix of a .npy file. Everything that makes
 * a batch robust (outputs written in place, resume, signals, ranks, chunks) is the batch layer
 * (dusk_batch.h); this file holds eigh's own logic: its flags, the tasks per chunk, and the
 * verification. Uses only dusk's public API. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dusk.h"
#include "dusk_batch.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"
#include "dusk_input.h"

#define MAX_N 100000
#define SYMTOL 1e-10
#define TOL_RESIDUAL 1e-12    /* ||AV - VΛ||_F / (n ||A||_F) */
#define TOL_ORTH_PER_N 1e-13  /* ||VᵀV - I||_F, per unit of n */
#define TOL_VALUES_ONLY 1e-12 /* trace and norm identities, relative */

typedef struct options {
    long long n, ntasks, seed, chunk;
    int n_set, ntasks_set, seed_set;
    int philox; /* --rng philox */
    int values_only, vectors, verify, overwrite;
    const char *input, *output, *resume;
    int block; /* --distribution block: contiguous runs of tasks per rank */
} options;

enum {
    OPT_NTASKS = 1,
    OPT_SEED,
    OPT_VALUES_ONLY,
    OPT_INPUT,
    OPT_OUTPUT,
    OPT_VECTORS,
    OPT_VERIFY,
    OPT_RESUME,
    OPT_DISTRIBUTION,
    OPT_RNG,
    OPT_CHUNK,
    OPT_OVERWRITE
};

static const struct option longopts[] = {
    {"ntasks", required_argument, NULL, OPT_NTASKS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"values-only", no_argument, NULL, OPT_VALUES_ONLY},
    {"input", required_argument, NULL, OPT_INPUT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"vectors", no_argument, NULL, OPT_VECTORS},
    {"verify", no_argument, NULL, OPT_VERIFY},
    {"resume", required_argument, NULL, OPT_RESUME},
    {"distribution", required_argument, NULL, OPT_DISTRIBUTION},
    {"rng", required_argument, NULL, OPT_RNG},
    {"chunk", required_argument, NULL, OPT_CHUNK},
    {"overwrite", no_argument, NULL, OPT_OVERWRITE},
    {NULL, 0, NULL, 0},
};

static cli_app app;

/* "dusk-eigh", or "dusk-eigh: rank K" under several ranks: every line on stderr names the
 * rank it comes from. */
static char prog[48] = "dusk-eigh";

static int handle(void *ctx, int opt, const char *arg)
{
    options *o = ctx;
    switch (opt) {
    case 'n':
        o->n_set = 1;
        return cli_int(&app, "-n", arg, 1, MAX_N, &o->n);
    case OPT_NTASKS:
        o->ntasks_set = 1;
        return cli_int(&app, "--ntasks", arg, 1, INT32_MAX, &o->ntasks);
    case OPT_SEED:
        o->seed_set = 1;
        return cli_int(&app, "--seed", arg, 0, UINT32_MAX, &o->seed);
    case OPT_VALUES_ONLY:
        o->values_only = 1;
        return 0;
    case OPT_INPUT:
        if (*arg == '\0') return cli_usage_error(&app, "--input: the file name is empty");
        o->input = arg;
        return 0;
    case OPT_OUTPUT:
        /* room for "/eigenvectors.npy.partial" in a 4096-byte path */
        if (*arg == '\0' || strlen(arg) > 4000)
            return cli_usage_error(&app, "--output: '%.40s' is not a usable directory name", arg);
        o->output = arg;
        return 0;
    case OPT_VECTORS:
        o->vectors = 1;
        return 0;
    case OPT_VERIFY:
        o->verify = 1;
        return 0;
    case OPT_RESUME:
        o->resume = arg;
        return 0;
    case OPT_OVERWRITE:
        o->overwrite = 1;
        return 0;
    case OPT_CHUNK:
        if (strcmp(arg, "auto") == 0) {
            o->chunk = 0;
            return 0;
        }
        return cli_int(&app, "--chunk", arg, 1, INT32_MAX, &o->chunk);
    case OPT_RNG:
        if (strcmp(arg, "numpy") == 0)
            o->philox = 0;
        else if (strcmp(arg, "philox") == 0)
            o->philox = 1;
        else
            return cli_usage_error(&app, "--rng '%s': expected numpy or philox", arg);
        return 0;
    case OPT_DISTRIBUTION:
        if (strcmp(arg, "cyclic") == 0 || strcmp(arg, "block") == 0) {
            o->block = arg[0] == 'b';
            return 0;
        }
        return cli_usage_error(&app, "--distribution: '%s' is not cyclic or block", arg);
    }
    return cli_usage_error(&app, "unhandled option");
}

static cli_app app = {
    .name = "dusk-eigh",
    .synopsis = "[-n N] [--ntasks T] [--seed S] [--rng numpy|philox] [--values-only]\n"
                "                 [--input FILE.npy] [--output DIR] [--vectors] [--verify]\n"
                "                 [--resume DIR] [--overwrite] [--distribution cyclic|block]\n"
                "                 [--chunk K|auto] [runtime options]",
    .description =
        "Eigendecompose a batch of symmetric matrices on StarPU. By default task i draws\n"
        "b = rand(n, n) exactly as NumPy does after np.random.seed(S + i), forms a = bᵀb and\n"
        "computes eigh(a), as in the tutorial \"Intro to Parallel Python\".",
    .options_help =
        "Batch options:\n"
        "  -n N                  matrix size (default 1000)\n"
        "      --ntasks T        number of matrices (default 128)\n"
        "      --seed S          seed of task 0; task i uses S + i (default 0)\n"
        "      --rng numpy|philox  numpy (default): NumPy's MT19937, bit for bit, on CPUs;\n"
        "                        philox: Philox4x32-10, the same numbers on CPUs and GPUs\n"
        "      --values-only     eigenvalues only (much cheaper)\n"
        "      --input FILE.npy  decompose the matrices of FILE: float64, shape (T, n, n) or\n"
        "                        (n, n), symmetric, C or Fortran order\n"
        "      --output DIR      write DIR/eigenvalues.npy, shape (T, n), ascending rows\n"
        "      --vectors         also write DIR/eigenvectors.npy, shape (T, n, n), vectors in\n"
        "                        columns as numpy.linalg.eigh returns them\n"
        "      --verify          check every result: residual ||AV - VΛ|| / (n||A||) <= 1e-12\n"
        "                        and ||VᵀV - I|| <= n * 1e-13 (with --values-only: the trace\n"
        "                        and Frobenius norm identities, <= 1e-12)\n"
        "      --chunk K|auto    matrices per task (DUSK_CHUNK): auto (default) makes tasks\n"
        "                        long enough for the runtime's cost to vanish (one matrix\n"
        "                        per task at n = 1000, many at n = 10); the results are the\n"
        "                        same bit for bit whatever K\n"
        "      --distribution D  under mpirun, which rank owns task i: cyclic (default,\n"
        "                        i mod K) or block (contiguous runs of T/K tasks)\n"
        "      --resume DIR      go on with the run that wrote DIR (stopped, killed or with\n"
        "                        failed tasks), computing only the tasks not done; the flags\n"
        "                        of that run are taken from DIR (flags given must match), under\n"
        "                        mpirun with any number of ranks\n"
        "      --overwrite       start a new run in an --output DIR that holds a stopped run,\n"
        "                        discarding what it saved (without it, that is refused)\n"
        "\n"
        "Exit status: 0 all tasks done; 1 the run failed (an input file refused, an output\n"
        "not written, not enough memory or disk, the verification failed); 2 bad usage (a\n"
        "flag or value, a missing file, an --output holding files of no dusk-eigh run or a\n"
        "stopped run, a --resume of another run or of no directory); 3 finished but some\n"
        "tasks failed (their rows are NaN, DIR/failures.json says why); 128+N stopped by\n"
        "signal N (130: Ctrl-C), resumable with --resume.\n",
    .shortopts = "n:",
    .longopts = longopts,
    .handle = handle,
};

/* ---- the tasks of a chunk: gen -> gram -> eigh (-> verify), or load -> eigh ------------- */

typedef struct eigh_ctx {
    options opt;
    int argc; /* the command line as parsed: with --resume, the recorded flags first */
    char **argv;
    int64_t n;
    dusk_input *input;
    char fingerprint[DUSK_INPUT_FINGERPRINT_MAX]; /* --input's content, for params */
    pthread_mutex_t lock;                         /* guards the verification results below */
    double worst[2];
    int64_t nchecked, nbad, bad_ids[8]; /* checked: tasks whose verification ran */
} eigh_ctx;

typedef struct check_read {
    eigh_ctx *x;
    int64_t first, step;
} check_read;

/* The verification figures of a chunk (2 per item): the worst and the failing items. */
static void on_checks(void *user, dusk_read *r)
{
    check_read *cr = user;
    eigh_ctx *x = cr->x;
    int64_t count, dims[2];
    const double *v = dusk_read_values(r, &count, dims);
    double tol0 = x->opt.values_only ? TOL_VALUES_ONLY : TOL_RESIDUAL;
    double tol1 = x->opt.values_only ? TOL_VALUES_ONLY : TOL_ORTH_PER_N * (double)x->n;
    pthread_mutex_lock(&x->lock);
    for (int64_t k = 0; v != NULL && k < count; k++) {
        if (dusk_read_item_status(r, k) != 0) continue;
        const double *c = v + 2 * k;
        x->nchecked++;
        for (int j = 0; j < 2; j++)
            if (!(c[j] <= x->worst[j])) x->worst[j] = c[j];
        if (!(c[0] <= tol0 && c[1] <= tol1)) {
            if (x->nbad < 8) x->bad_ids[x->nbad] = cr->first + k * cr->step;
            x->nbad++;
        }
    }
    pthread_mutex_unlock(&x->lock);
    dusk_read_done(&r);
    free(cr);
}

static int submit(dusk_graph *g, dusk_chunk *c, const dusk_kernel *k, const char *step, int prio,
                  unsigned flags, const dusk_arg *args, int nargs, const void *value, size_t size)
{
    dusk_task_opts o;
    (void)dusk_task_opts_init(&o);
    dusk_chunk_task_opts(c, &o);
    o.key = step;
    o.priority = prio;
    o.flags = flags;
    return dusk_task_submit(g, k, args, nargs, value, size, &o, NULL);
}

/* The tasks of one chunk of K matrices (the batch calls it for each chunk of this rank's). */
static int submit_chunk(void *user, dusk_graph *g, dusk_chunk *c)
{
    eigh_ctx *x = user;
    int64_t n = x->n, kk = dusk_chunk_count(c);
    int keep_a = x->opt.verify; /* verification needs A after eigh */
    int vectors = !x->opt.values_only, ret;
    dusk_data *a = NULL, *bm = NULL, *v = NULL, *w = NULL, *r = NULL;
    void *seeds = NULL;
    if ((ret = dusk_stack_new(g, kk, n, n, &a)) != 0 || (ret = dusk_stack_new(g, kk, n, 0, &w)))
        goto out;
    if (x->input != NULL) {
        dusk_load_args la = {x->input, dusk_chunk_item(c, 0), SYMTOL,
                             kk > 1 ? dusk_chunk_item(c, 1) - dusk_chunk_item(c, 0) : 1};
        dusk_arg args[] = {{a, DUSK_W}};
        if ((ret = submit(g, c, dusk_kernel_load(), "load", 1, 0, args, 1, &la, sizeof la)))
            goto out;
    } else {
        /* item i draws after seed S + i: K seeds, 32 bits for NumPy's, 64 for Philox */
        size_t each = x->opt.philox ? sizeof(uint64_t) : sizeof(uint32_t);
        if ((seeds = malloc((size_t)kk * each)) == NULL) {
            ret = DUSK_ENOMEM;
            goto out;
        }
        for (int64_t j = 0; j < kk; j++) {
            uint64_t s = (uint64_t)x->opt.seed + (uint64_t)dusk_chunk_item(c, j);
            if (x->opt.philox)
                ((uint64_t *)seeds)[j] = s;
            else
                ((uint32_t *)seeds)[j] = (uint32_t)s;
        }
        if ((ret = dusk_stack_new(g, kk, n, n, &bm)) != 0) goto out;
        dusk_arg gen_args[] = {{bm, DUSK_W}};
        dusk_arg gram_args[] = {{bm, DUSK_R}, {a, DUSK_W}};
        const dusk_kernel *gen = x->opt.philox ? dusk_kernel_gen_philox() : dusk_kernel_gen();
        if ((ret = submit(g, c, gen, "gen", 0, 0, gen_args, 1, seeds, (size_t)kk * each)) ||
            (ret = submit(g, c, dusk_kernel_gram(), "gram", 1, 0, gram_args, 2, NULL, 0)))
            goto out;
        dusk_data_release(&bm); /* freed as soon as gram is done */
    }
    dusk_eigh_args ea = {.vectors = vectors};
    if (keep_a) {
        if ((ret = dusk_stack_new(g, kk, n, n, &v)) != 0) goto out;
        dusk_arg args[] = {{a, DUSK_R}, {v, vectors ? DUSK_W : DUSK_SCRATCH}, {w, DUSK_W}};
        ret =
            submit(g, c, dusk_kernel_eigh(), "eigh", 2, DUSK_TASK_COUNTS, args, 3, &ea, sizeof ea);
    } else {
        dusk_arg args[] = {{a, DUSK_RW}, {w, DUSK_W}};
        ret =
            submit(g, c, dusk_kernel_eigh(), "eigh", 2, DUSK_TASK_COUNTS, args, 2, &ea, sizeof ea);
        v = a;
        a = NULL;
    }
    if (ret != 0) goto out;
    if (x->opt.verify) {
        if ((ret = dusk_stack_new(g, kk, 2, 0, &r)) != 0) goto out;
        dusk_data *ak = keep_a ? a : v;
        dusk_arg with_v[] = {{ak, DUSK_R}, {w, DUSK_R}, {v, DUSK_R}, {r, DUSK_W}};
        dusk_arg without_v[] = {{ak, DUSK_R}, {w, DUSK_R}, {r, DUSK_W}};
        if ((ret = vectors
                       ? submit(g, c, dusk_kernel_verify(), "verify", 3, 0, with_v, 4, NULL, 0)
                       : submit(g, c, dusk_kernel_verify(), "verify", 3, 0, without_v, 3, NULL, 0)))
            goto out;
        check_read *cr = malloc(sizeof *cr);
        if (cr == NULL) {
            ret = DUSK_ENOMEM;
            goto out;
        }
        *cr = (check_read){x, dusk_chunk_item(c, 0),
                           kk > 1 ? dusk_chunk_item(c, 1) - dusk_chunk_item(c, 0) : 1};
        if ((ret = dusk_data_read_hold(r, on_checks, cr)) != 0) {
            free(cr);
            goto out;
        }
    }
    /* the batch writes the rows of both results */
    if ((ret = dusk_chunk_output(c, 0, w)) == 0 && x->opt.vectors) ret = dusk_chunk_output(c, 1, v);
out:
    free(seeds);
    dusk_data_release(&a);
    dusk_data_release(&bm);
    dusk_data_release(&v);
    dusk_data_release(&w);
    dusk_data_release(&r);
    return ret;
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* Open --input (a .npy file, or an HDF5 file and dataset) and take n and T from its shape.
 * Exit code, or -1 to go on. */
static int open_input(eigh_ctx *x, int verbose)
{
    char why[512];
    const char *path = x->opt.input;
    int ret = dusk_input_open(path, &x->input, why, sizeof why);
    if (ret != 0) {
        /* `why` names the file (and dataset): a missing file or dataset, or a dataset to
         * choose, is the user's to fix (2); data dusk does not read is a failure (1) */
        fprintf(stderr, "%s: %s\n", prog, why);
        return ret == DUSK_EIO || ret == DUSK_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    if (dusk_input_fingerprint(x->input, x->fingerprint, sizeof x->fingerprint) != 0) {
        fprintf(stderr, "%s: %s: cannot read it: %s\n", prog, path, strerror(errno));
        dusk_input_close(&x->input);
        return CLI_EXIT_FAILURE;
    }
    const char *conversion = dusk_input_conversion(x->input);
    if (conversion && verbose > 0 && dusk_rank() == 0)
        fprintf(stderr, "%s: %s: %s\n", prog, path, conversion);
    int nd = dusk_input_ndim(x->input);
    const int64_t *sh = dusk_input_shape(x->input);
    int64_t n = sh[nd - 1], t = nd == 3 ? sh[0] : 1;
    const char *problem = NULL;
    if (n < 1 || t < 1)
        problem = "holds no matrices (%d-d, matrices of %lld x %lld)";
    else if (n > MAX_N || t > INT32_MAX)
        problem = "has a size dusk-eigh does not take (%d-d, %lld x %lld)";
    if (problem) {
        fprintf(stderr, "%s: %s: ", prog, path);
        fprintf(stderr, problem, nd, (long long)n, (long long)n);
        fprintf(stderr, "\n");
        dusk_input_close(&x->input);
        return CLI_EXIT_FAILURE;
    }
    if ((x->opt.n_set && x->opt.n != n) || (x->opt.ntasks_set && x->opt.ntasks != t)) {
        fprintf(stderr, "%s: %s holds %lld matrices of size %lld, not what -n/--ntasks say\n", prog,
                path, (long long)t, (long long)n);
        dusk_input_close(&x->input);
        return CLI_EXIT_USAGE;
    }
    x->n = n;
    x->opt.ntasks = t;
    return -1;
}

/* Everything that decides the results, for the manifest: a resume must match it. */
static void params_line(const eigh_ctx *x, char *buf, size_t len)
{
    char source[4200];
    /* the input by its content (size, shape, dtype, dataset, sampled blocks), not its name:
     * a resume may spell or reach it otherwise */
    if (x->opt.input)
        snprintf(source, sizeof source, "input fingerprint=%s", x->fingerprint);
    else
        snprintf(source, sizeof source, "seed:%lld%s", x->opt.seed,
                 x->opt.philox ? " rng:philox" : "");
    snprintf(buf, len, "n=%lld ntasks=%lld values_only=%d vectors=%d source=%s", (long long)x->n,
             (long long)x->opt.ntasks, x->opt.values_only, x->opt.vectors, source);
}

/* Refuse, before anything is created or allocated, a batch that cannot run here: sizes past
 * LAPACK's 32-bit workspace, more memory than is available. One line on stderr; exit code,
 * or -1 to go on. *item_bytes: what one matrix's tasks hold at once. */
static int check_resources(const eigh_ctx *x, const dusk_config *cfg, int64_t *item_bytes)
{
    if (!x->opt.values_only && x->n > DUSK_EIGH_MAX_N) {
        fprintf(stderr,
                "%s: %s: n = %lld is over %d, the largest n whose eigenvectors LAPACK's "
                "32-bit workspace (2n² + 6n + 1 values) can hold; use --values-only\n",
                prog, x->opt.input ? x->opt.input : "-n", (long long)x->n, DUSK_EIGH_MAX_N);
        return x->opt.input ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
    }
    /* Each worker holds one matrix pipeline at a time (the window keeps two tasks per worker
     * in flight): with eigenvectors, A and dsyevd's 2n² workspace, plus A's copy to verify;
     * eigenvalues only, B and A while A = BᵀB is formed (A alone, or A and a scratch copy to
     * verify, when A is read from a file). */
    int64_t matrices = !x->opt.values_only ? 3 + x->opt.verify
                       : x->opt.input      ? 1 + x->opt.verify
                                           : 2;
    int64_t matrix = cli_mul_sat(cli_mul_sat(x->n, x->n), 8);
    int workers = dusk_config_cpu_workers(cfg);
    *item_bytes = cli_mul_sat(matrix, matrices);
    int64_t need = cli_mul_sat(*item_bytes, workers > 0 ? workers : 1);
    char what[160], size[32];
    cli_bytes(size, sizeof size, matrix);
    snprintf(what, sizeof what, "n = %lld (%lld matri%s of %s per worker, %d worker%s)",
             (long long)x->n, (long long)matrices, matrices == 1 ? "x" : "ces", size, workers,
             workers == 1 ? "" : "s");
    return cli_check_memory(&app, need, what);
}

/* ---- the end ----------------------------------------------------------------------------- */

/* Every rank's verification figures combined on rank 0 ("checked bad worst0 worst1 ids...",
 * a line per rank), and printed there. A collective. */
static void report_verification(eigh_ctx *x, int64_t ran, int *status)
{
    char line[512], *all = NULL;
    size_t all_len;
    int at = snprintf(line, sizeof line, "%lld %lld %.17g %.17g", (long long)x->nchecked,
                      (long long)x->nbad, x->worst[0], x->worst[1]);
    for (int64_t k = 0; k < x->nbad && k < 8; k++)
        at += snprintf(line + at, sizeof line - (size_t)at, " %lld", (long long)x->bad_ids[k]);
    snprintf(line + at, sizeof line - (size_t)at, "\n");
    if (dusk_ranks_gather(line, strlen(line), &all, &all_len) != 0) dusk_abort(CLI_EXIT_FAILURE);
    if (dusk_rank() != 0 || ran == 0) {
        free(all);
        return;
    }
    int64_t checked = 0, bad = 0, ids[64], nids = 0;
    double worst[2] = {0, 0};
    for (const char *l = all; l && *l;) {
        long long c, b;
        double w0, w1;
        int used = 0;
        if (sscanf(l, "%lld %lld %lg %lg%n", &c, &b, &w0, &w1, &used) != 4) break;
        checked += c, bad += b;
        if (!(w0 <= worst[0])) worst[0] = w0;
        if (!(w1 <= worst[1])) worst[1] = w1;
        char *end;
        for (const char *p = l + used; nids < 64; p = end) {
            long long id = strtoll(p, &end, 10);
            if (end == p) break;
            ids[nids++] = id;
        }
        const char *nl = strchr(l, '\n');
        l = nl ? nl + 1 : NULL;
    }
    free(all);
    for (int64_t i = 1; i < nids; i++) /* in order of task id, whatever the ranks */
        for (int64_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            int64_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    const char *what0 = x->opt.values_only ? "trace error" : "residual";
    const char *what1 = x->opt.values_only ? "norm error" : "orthogonality";
    double tol0 = x->opt.values_only ? TOL_VALUES_ONLY : TOL_RESIDUAL;
    double tol1 = x->opt.values_only ? TOL_VALUES_ONLY : TOL_ORTH_PER_N * (double)x->n;
    if (bad == 0 && checked == ran) {
        printf("Verified: all %lld tasks passed (max %s %.2e <= %.0e, max %s %.2e <= %.1e)\n",
               (long long)ran, what0, worst[0], tol0, what1, worst[1], tol1);
    } else if (bad == 0) { /* the others failed before they could be verified: exit 3 says so */
        printf("Verified: %lld of %lld tasks passed (max %s %.2e <= %.0e, max %s %.2e <= %.1e); "
               "%lld failed before they could be verified\n",
               (long long)checked, (long long)ran, what0, worst[0], tol0, what1, worst[1], tol1,
               (long long)(ran - checked));
    } else {
        printf("Verified: %lld of %lld tasks FAILED (max %s %.2e, tolerance %.0e; max %s "
               "%.2e, tolerance %.1e); first failing tasks:",
               (long long)bad, (long long)ran, what0, worst[0], tol0, what1, worst[1], tol1);
        for (int64_t k = 0; k < nids && k < 8; k++)
            printf(" %lld", (long long)ids[k]);
        printf("\n");
        *status = CLI_EXIT_FAILURE;
    }
}

/* Parse the command line; with --resume DIR, the flags the run that wrote DIR was given come
 * first, so that the directory alone resumes it and the flags given must agree with them. */
static int parse(int argc, char **argv, eigh_ctx *x, dusk_config *cfg)
{
    x->opt = (options){.n = 1000, .ntasks = 128, .chunk = -1};
    x->argc = argc;
    x->argv = argv;
    app.ctx = &x->opt;
    int ret = cli_parse(&app, argc, argv, cfg);
    if (ret >= 0 || x->opt.resume == NULL) return ret;
    if (x->opt.output && strcmp(x->opt.output, x->opt.resume) != 0)
        return cli_usage_error(&app, "--output %s and --resume %s name different directories",
                               x->opt.output, x->opt.resume);
    char **recorded, why[512];
    int nrec;
    if (dusk_batch_resume_args(x->opt.resume, &recorded, &nrec, why, sizeof why) != 0) {
        fprintf(stderr, "%s: --resume %s\n", prog, why);
        return CLI_EXIT_USAGE;
    }
    if (nrec == 0) {
        free(recorded);
        return ret;
    }
    char **all = malloc((size_t)(argc + nrec + 1) * sizeof *all);
    if (all == NULL) return CLI_EXIT_FAILURE;
    all[0] = argv[0];
    memcpy(all + 1, recorded, (size_t)nrec * sizeof *all);
    memcpy(all + 1 + nrec, argv + 1, (size_t)argc * sizeof *all); /* with its NULL */
    x->opt = (options){.n = 1000, .ntasks = 128, .chunk = -1};
    ret = cli_parse(&app, argc + nrec, all, cfg);
    x->argc = argc + nrec;
    x->argv = all; /* kept, with what it points to, until the program ends */
    return ret;
}

int main(int argc, char **argv)
{
    static eigh_ctx x;
    if (dusk_rank_count() > 1) snprintf(prog, sizeof prog, "dusk-eigh: rank %d", dusk_rank());
    app.name = prog;
    dusk_config cfg;
    int ret = parse(argc, argv, &x, &cfg);
    if (ret >= 0) return ret;
    options *o = &x.opt;
    if (o->resume) o->output = NULL;
    if (o->vectors && o->values_only)
        return cli_usage_error(&app, "--vectors and --values-only exclude each other");
    if (o->vectors && !o->output && !o->resume)
        return cli_usage_error(&app, "--vectors needs --output DIR");
    if (o->input && (o->philox || o->seed_set))
        return cli_usage_error(&app, "--%s applies to generated matrices, not to --input",
                               o->philox ? "rng" : "seed");
    if (!o->input && !o->philox && o->seed + o->ntasks - 1 > (long long)UINT32_MAX)
        return cli_usage_error(&app,
                               "--seed %lld + --ntasks %lld goes past NumPy's largest "
                               "seed (2**32 - 1)",
                               o->seed, o->ntasks);
    x.n = o->n;
    /* Every rank reads the input's header; each reads only its own matrices later. */
    if (o->input && (ret = open_input(&x, cfg.verbose)) >= 0) return ret;
    int64_t item_bytes;
    if ((ret = check_resources(&x, &cfg, &item_bytes)) >= 0) {
        dusk_input_close(&x.input);
        return ret;
    }

    char params[4600];
    params_line(&x, params, sizeof params);
    static const char *const dir_flags[] = {"--output", "--resume", NULL};
    static const char *const path_flags[] = {"--input", "--trace", NULL};
    const int64_t vec[1] = {x.n}, mat[2] = {x.n, x.n};
    char **args = malloc((size_t)(x.argc + 1) * sizeof *args); /* recorded: not --overwrite */
    int nargs = 0;
    for (int i = 0; args && i < x.argc; i++)
        if (i == 0 || strcmp(x.argv[i], "--overwrite") != 0) args[nargs++] = x.argv[i];
    dusk_batch *b = NULL;
    if (args == NULL || dusk_batch_new("dusk-eigh", o->ntasks, &b) != 0 ||
        dusk_batch_add_output(b, "eigenvalues", 1, vec, NULL) != 0 ||
        (o->vectors && dusk_batch_add_output(b, "eigenvectors", 2, mat, NULL) != 0) ||
        (o->output && dusk_batch_set_output(b, o->output, NULL) != 0) ||
        (o->resume && dusk_batch_resume(b, o->resume) != 0) ||
        dusk_batch_set_params(b, params) != 0 ||
        dusk_batch_set_args(b, nargs, args, dir_flags, path_flags, "--resume") != 0 ||
        dusk_batch_set_distribution(b, o->block ? DUSK_BLOCK : DUSK_CYCLIC) != 0 ||
        dusk_batch_set_chunk(b, o->chunk, item_bytes) != 0 ||
        dusk_batch_set_overwrite(b, o->overwrite) != 0 || dusk_batch_set_label(b, "eigh") != 0 ||
        dusk_batch_set_noun(b, "task", "tasks") != 0 ||
        (o->input && dusk_batch_set_subject(b, "load", o->input) != 0)) {
        fprintf(stderr, "%s: cannot set up the batch\n", prog);
        return CLI_EXIT_FAILURE;
    }
    free(args);
    if ((ret = dusk_batch_open(b)) != 0) {
        dusk_batch_free(&b);
        dusk_input_close(&x.input);
        return ret;
    }

    char why[256];
    double t0 = dusk_now();
    if ((ret = dusk_init(&cfg, why, sizeof why)) != 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        dusk_batch_free(&b); /* the files stay as they are, for another try */
        dusk_input_close(&x.input);
        return ret == DUSK_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    double t_init = dusk_now() - t0;
    int nranks = dusk_rank_count();
    pthread_mutex_init(&x.lock, NULL);
    char source[4200], settings[4800], ranks[64] = "", gpus[48] = "";
    if (o->input)
        snprintf(source, sizeof source, "input=%s", o->input);
    else
        snprintf(source, sizeof source, "seed=%lld%s", o->seed, o->philox ? " rng=philox" : "");
    int ncpu = dusk_cpu_worker_count(), ngpu = dusk_cuda_worker_count();
    if (ngpu > 0) snprintf(gpus, sizeof gpus, ", %d GPU worker%s", ngpu, ngpu == 1 ? "" : "s");
    if (nranks > 1)
        snprintf(ranks, sizeof ranks, " on each of %d ranks (%s)", nranks,
                 o->block ? "block" : "cyclic");
    snprintf(settings, sizeof settings,
             "n=%lld ntasks=%lld %s (%s), %d CPU worker%s%s%s, sched=%s, %d BLAS thread%s per "
             "worker",
             (long long)x.n, (long long)o->ntasks, source,
             o->values_only ? "eigenvalues only" : "eigenvalues and eigenvectors", ncpu,
             ncpu == 1 ? "" : "s", gpus, ranks, dusk_sched_name(), cfg.blas_threads,
             cfg.blas_threads == 1 ? "" : "s");
    if (cfg.verbose >= 0 && dusk_rank() == 0) {
        printf("dusk-eigh: %s\n", settings);
        fflush(stdout);
    }
    dusk_set_run_info(settings);

    int status = dusk_batch_run(b, submit_chunk, &x);
    dusk_batch_summary sum;
    (void)!dusk_batch_get_summary(b, &sum);
    int64_t ran = sum.done + sum.failed, agreed;
    if (dusk_ranks_max(sum.finished, &agreed) != 0) dusk_abort(CLI_EXIT_FAILURE);
    if (o->verify && agreed) { /* as many tasks as were computed, on every rank */
        int v = status;
        report_verification(&x, ran, &v);
        if (dusk_ranks_max(v, &agreed) != 0) dusk_abort(CLI_EXIT_FAILURE);
        if (agreed == CLI_EXIT_FAILURE) status = CLI_EXIT_FAILURE;
    }
    fflush(stdout);
    if (cfg.verbose > 0)
        fprintf(stderr, "%s: start-up %.3f s, peak memory %.1f MB\n", prog, t_init,
                (double)dusk_peak_rss() / 1e6);
    dusk_batch_free(&b);
    dusk_shutdown();
    dusk_input_close(&x.input);
    pthread_mutex_destroy(&x.lock);
    return status;
}
