/* dusk-eigh: the tutorial's batch. For each task i, b = rand(n, n) seeded with seed + i
 * (NumPy's legacy generator, bit for bit), a = bᵀb, and eigh(a); or eigh of each matrix of
 * a .npy file. Results go to .npy files as tasks finish. Uses only dusk's public API. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dusk.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"
#include "dusk_npy.h"

#define MAX_N 100000
/* dsyevd with eigenvectors needs a workspace of 2n² + 6n + 1 doubles, a count LAPACK takes
 * as a 32-bit int (Debian's OpenBLAS/LAPACKE are LP64): the largest n where it fits. */
#define MAX_N_VECTORS 32766
#define SYMTOL 1e-10
#define TOL_RESIDUAL 1e-12    /* ||AV - VΛ||_F / (n ||A||_F) */
#define TOL_ORTH_PER_N 1e-13  /* ||VᵀV - I||_F, per unit of n */
#define TOL_VALUES_ONLY 1e-12 /* trace and norm identities, relative */

typedef struct options {
    long long n, ntasks, seed;
    int n_set, ntasks_set;
    int values_only, vectors, verify;
    const char *input, *output;
    int verbose;
} options;

enum { OPT_NTASKS = 1, OPT_SEED, OPT_VALUES_ONLY, OPT_INPUT, OPT_OUTPUT, OPT_VECTORS, OPT_VERIFY };

static const struct option longopts[] = {
    {"ntasks", required_argument, NULL, OPT_NTASKS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"values-only", no_argument, NULL, OPT_VALUES_ONLY},
    {"input", required_argument, NULL, OPT_INPUT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"vectors", no_argument, NULL, OPT_VECTORS},
    {"verify", no_argument, NULL, OPT_VERIFY},
    {NULL, 0, NULL, 0},
};

static cli_app app;

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
        return cli_int(&app, "--seed", arg, 0, UINT32_MAX, &o->seed);
    case OPT_VALUES_ONLY:
        o->values_only = 1;
        return 0;
    case OPT_INPUT:
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
    }
    return cli_usage_error(&app, "unhandled option");
}

static cli_app app = {
    .name = "dusk-eigh",
    .synopsis = "[-n N] [--ntasks T] [--seed S] [--values-only] [--input FILE.npy]\n"
                "                 [--output DIR] [--vectors] [--verify] [runtime options]",
    .description =
        "Eigendecompose a batch of symmetric matrices on StarPU. By default task i draws\n"
        "b = rand(n, n) exactly as NumPy does after np.random.seed(S + i), forms a = bᵀb and\n"
        "computes eigh(a), as in the tutorial \"Intro to Parallel Python\".",
    .options_help =
        "Batch options:\n"
        "  -n N                  matrix size (default 1000)\n"
        "      --ntasks T        number of matrices (default 128)\n"
        "      --seed S          seed of task 0; task i uses S + i (default 0)\n"
        "      --values-only     eigenvalues only (much cheaper)\n"
        "      --input FILE.npy  decompose the matrices of FILE: float64, shape (T, n, n) or\n"
        "                        (n, n), symmetric, C or Fortran order\n"
        "      --output DIR      write DIR/eigenvalues.npy, shape (T, n), ascending rows\n"
        "      --vectors         also write DIR/eigenvectors.npy, shape (T, n, n), vectors in\n"
        "                        columns as numpy.linalg.eigh returns them\n"
        "      --verify          check every result: residual ||AV - VΛ|| / (n||A||) <= 1e-12\n"
        "                        and ||VᵀV - I|| <= n * 1e-13 (with --values-only: the trace\n"
        "                        and Frobenius norm identities, <= 1e-12)\n",
    .shortopts = "n:",
    .longopts = longopts,
    .handle = handle,
};

/* ---- results, written in place as tasks finish --------------------------------------- */

typedef struct batch {
    options opt;
    int64_t n, ntasks;
    dusk_npy *values, *vectors;
    atomic_int io_error;
    pthread_mutex_t lock; /* guards the verification results below */
    double worst[2];
    int64_t nbad, bad_ids[8];
} batch;

typedef struct read_ctx {
    batch *b;
    int64_t index;
    enum { READ_VALUES, READ_VECTORS, READ_CHECKS } what;
} read_ctx;

static void on_read(void *user, int status, const double *values, const int64_t dims[2])
{
    read_ctx *r = user;
    batch *b = r->b;
    if (status == 0) {
        int64_t count = dims[0] * dims[1];
        if (r->what == READ_VALUES) {
            if (dusk_npy_write(b->values, r->index * count, values, count) != 0)
                atomic_store(&b->io_error, errno ? errno : EIO);
        } else if (r->what == READ_VECTORS) {
            if (dusk_npy_write(b->vectors, r->index * count, values, count) != 0)
                atomic_store(&b->io_error, errno ? errno : EIO);
        } else {
            double tol0 = b->opt.values_only ? TOL_VALUES_ONLY : TOL_RESIDUAL;
            double tol1 = b->opt.values_only ? TOL_VALUES_ONLY : TOL_ORTH_PER_N * (double)b->n;
            pthread_mutex_lock(&b->lock);
            for (int k = 0; k < 2; k++)
                if (!(values[k] <= b->worst[k])) b->worst[k] = values[k];
            if (!(values[0] <= tol0 && values[1] <= tol1)) {
                if (b->nbad < 8) b->bad_ids[b->nbad] = r->index;
                b->nbad++;
            }
            pthread_mutex_unlock(&b->lock);
        }
    }
    free(r);
}

static int read_into(batch *b, dusk_data *d, int64_t index, int what)
{
    read_ctx *r = malloc(sizeof *r);
    if (r == NULL) return DUSK_ENOMEM;
    *r = (read_ctx){b, index, what};
    int ret = dusk_data_read(d, on_read, r);
    if (ret != 0) free(r);
    return ret;
}

/* ---- the graph: per matrix, gen -> gram -> eigh (-> verify), or load -> eigh ------------ */

static int submit(dusk_graph *g, const dusk_kernel *k, const char *step, int64_t i, int prio,
                  unsigned flags, const dusk_arg *args, int nargs, const void *value, size_t size)
{
    char key[48];
    dusk_task_opts o;
    dusk_task_opts_init(&o);
    snprintf(key, sizeof key, "%s-%" PRId64, step, i);
    o.key = key;
    o.priority = prio;
    o.flags = flags;
    return dusk_task_submit(g, k, args, nargs, value, size, &o, NULL);
}

static int submit_matrix(dusk_graph *g, batch *b, const dusk_npy *input, int64_t i)
{
    int64_t n = b->n;
    int ret = 0;
    int keep_a = b->opt.verify; /* verification needs A after eigh */
    int vectors = !b->opt.values_only;
    dusk_data *a = NULL, *bm = NULL, *x = NULL, *w = NULL, *r = NULL;

    if ((ret = dusk_matrix_new(g, n, n, &a)) != 0 || (ret = dusk_vector_new(g, n, &w)) != 0)
        goto out;
    if (input != NULL) {
        dusk_load_args la = {input, i, SYMTOL};
        dusk_arg args[] = {{a, DUSK_W}};
        if ((ret = submit(g, dusk_kernel_load(), "load", i, 1, 0, args, 1, &la, sizeof la)))
            goto out;
    } else {
        uint32_t seed = (uint32_t)(b->opt.seed + i);
        if ((ret = dusk_matrix_new(g, n, n, &bm)) != 0) goto out;
        dusk_arg gen_args[] = {{bm, DUSK_W}};
        dusk_arg gram_args[] = {{bm, DUSK_R}, {a, DUSK_W}};
        if ((ret = submit(g, dusk_kernel_gen(), "gen", i, 0, 0, gen_args, 1, &seed, sizeof seed)) ||
            (ret = submit(g, dusk_kernel_gram(), "gram", i, 1, 0, gram_args, 2, NULL, 0)))
            goto out;
        dusk_data_release(&bm); /* freed as soon as gram is done */
    }

    dusk_eigh_args ea = {vectors};
    if (keep_a) {
        if ((ret = dusk_matrix_new(g, n, n, &x)) != 0) goto out;
        dusk_arg args[] = {{a, DUSK_R}, {x, vectors ? DUSK_W : DUSK_SCRATCH}, {w, DUSK_W}};
        ret =
            submit(g, dusk_kernel_eigh(), "eigh", i, 2, DUSK_TASK_COUNTS, args, 3, &ea, sizeof ea);
    } else {
        dusk_arg args[] = {{a, DUSK_RW}, {w, DUSK_W}};
        ret =
            submit(g, dusk_kernel_eigh(), "eigh", i, 2, DUSK_TASK_COUNTS, args, 2, &ea, sizeof ea);
    }
    if (ret != 0) goto out;
    dusk_data *v = keep_a ? x : a;

    if (b->opt.verify) {
        if ((ret = dusk_vector_new(g, 2, &r)) != 0) goto out;
        dusk_arg with_v[] = {{a, DUSK_R}, {w, DUSK_R}, {v, DUSK_R}, {r, DUSK_W}};
        dusk_arg without_v[] = {{a, DUSK_R}, {w, DUSK_R}, {r, DUSK_W}};
        if ((ret = vectors ? submit(g, dusk_kernel_verify(), "verify", i, 3, 0, with_v, 4, NULL, 0)
                           : submit(g, dusk_kernel_verify(), "verify", i, 3, 0, without_v, 3, NULL,
                                    0)) ||
            (ret = read_into(b, r, i, READ_CHECKS)))
            goto out;
    }
    if (b->values && (ret = read_into(b, w, i, READ_VALUES)) != 0) goto out;
    if (b->vectors && (ret = read_into(b, v, i, READ_VECTORS)) != 0) goto out;
out:
    dusk_data_release(&a);
    dusk_data_release(&bm);
    dusk_data_release(&x);
    dusk_data_release(&w);
    dusk_data_release(&r);
    return ret;
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* Open --input and take n and T from its shape. Exit code, or -1 to go on. */
static int open_input(batch *b, dusk_npy **in)
{
    char why[256];
    int ret = dusk_npy_open(b->opt.input, in, why, sizeof why);
    if (ret == DUSK_EIO) {
        fprintf(stderr, "dusk-eigh: %s: %s\n", b->opt.input, why);
        return CLI_EXIT_USAGE;
    }
    if (ret != 0) {
        fprintf(stderr, "dusk-eigh: %s: %s\n", b->opt.input, why);
        return CLI_EXIT_FAILURE;
    }
    int nd = dusk_npy_ndim(*in);
    const int64_t *sh = dusk_npy_shape(*in);
    const char *problem = NULL;
    if (nd != 2 && nd != 3)
        problem = "has %d dimensions; dusk-eigh reads (T, n, n) or (n, n)";
    else if (sh[nd - 1] != sh[nd - 2])
        problem = "holds non-square matrices (%d-d shape ending in %lld x %lld)";
    else if (sh[nd - 1] < 1 || sh[nd - 1] > MAX_N || (nd == 3 && (sh[0] < 1 || sh[0] > INT32_MAX)))
        problem = "has a size dusk-eigh does not take (%d-d, %lld x %lld)";
    if (problem) {
        fprintf(stderr, "dusk-eigh: %s: ", b->opt.input);
        fprintf(stderr, problem, nd, (long long)(nd >= 2 ? sh[nd - 2] : 0),
                (long long)(nd >= 1 ? sh[nd - 1] : 0));
        fprintf(stderr, "\n");
        dusk_npy_close(in);
        return CLI_EXIT_FAILURE;
    }
    int64_t n = sh[nd - 1], t = nd == 3 ? sh[0] : 1;
    if ((b->opt.n_set && b->opt.n != n) || (b->opt.ntasks_set && b->opt.ntasks != t)) {
        fprintf(stderr,
                "dusk-eigh: %s holds %lld matrices of size %lld, not what -n/--ntasks say\n",
                b->opt.input, (long long)t, (long long)n);
        dusk_npy_close(in);
        return CLI_EXIT_USAGE;
    }
    b->n = n;
    b->ntasks = t;
    return -1;
}

static int make_dir(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0777) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    if (mkdir(path, 0777) != 0 && errno != EEXIST) return -1;
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Create the output files under their temporary names. Exit code, or -1 to go on. */
static int open_outputs(batch *b)
{
    char path[4096], why[256];
    if (b->opt.output == NULL) return -1;
    if (make_dir(b->opt.output) != 0) {
        fprintf(stderr, "dusk-eigh: cannot create output directory %s: %s\n", b->opt.output,
                strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    int64_t shape[3] = {b->ntasks, b->n, b->n};
    snprintf(path, sizeof path, "%s/eigenvalues.npy", b->opt.output);
    if (dusk_npy_create(path, 2, shape, &b->values, why, sizeof why) != 0) {
        fprintf(stderr, "dusk-eigh: %s: %s\n", path, why);
        return CLI_EXIT_FAILURE;
    }
    snprintf(path, sizeof path, "%s/eigenvectors.npy", b->opt.output);
    if (b->opt.vectors && dusk_npy_create(path, 3, shape, &b->vectors, why, sizeof why) != 0) {
        fprintf(stderr, "dusk-eigh: %s: %s\n", path, why);
        dusk_npy_abort(&b->values);
        return CLI_EXIT_FAILURE;
    }
    return -1;
}

/* Refuse, before anything is created or allocated, a batch that cannot run here: sizes past
 * LAPACK's 32-bit workspace, more memory than is available, outputs larger than the free
 * disk. One line on stderr; exit code, or -1 to go on. */
static int check_resources(const batch *b, const dusk_config *cfg)
{
    const char *n_from = b->opt.input ? b->opt.input : "-n";
    if (!b->opt.values_only && b->n > MAX_N_VECTORS) {
        fprintf(stderr,
                "dusk-eigh: %s: n = %lld is over %d, the largest n whose eigenvectors LAPACK's "
                "32-bit workspace (2n² + 6n + 1 values) can hold; use --values-only\n",
                n_from, (long long)b->n, MAX_N_VECTORS);
        return b->opt.input ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
    }
    /* Each worker holds one matrix pipeline at a time (the window keeps two tasks per worker
     * in flight): with eigenvectors, A and dsyevd's 2n² workspace, plus A's copy to verify;
     * eigenvalues only, B and A while A = BᵀB is formed (A alone, or A and a scratch copy to
     * verify, when A is read from a file). */
    int64_t matrices = !b->opt.values_only ? 3 + b->opt.verify
                       : b->opt.input      ? 1 + b->opt.verify
                                           : 2;
    int64_t matrix = cli_mul_sat(cli_mul_sat(b->n, b->n), 8);
    int workers = dusk_config_cpu_workers(cfg);
    int64_t need = cli_mul_sat(cli_mul_sat(matrix, matrices), workers > 0 ? workers : 1);
    char what[160], size[32];
    cli_bytes(size, sizeof size, matrix);
    snprintf(what, sizeof what, "n = %lld (%lld matri%s of %s per worker, %d worker%s)",
             (long long)b->n, (long long)matrices, matrices == 1 ? "x" : "ces", size, workers,
             workers == 1 ? "" : "s");
    int ret = cli_check_memory(&app, need, what);
    if (ret >= 0 || b->opt.output == NULL) return ret;

    /* the output files are sized in full when they are created */
    int64_t out = cli_mul_sat(cli_mul_sat(b->ntasks, b->n), 8) + 4096;
    if (b->opt.vectors) out += cli_mul_sat(cli_mul_sat(b->ntasks, matrix), 1) + 4096;
    if (out < 0) out = INT64_MAX;
    snprintf(what, sizeof what, "writing %lld results of n = %lld%s", (long long)b->ntasks,
             (long long)b->n, b->opt.vectors ? " with eigenvectors" : "");
    return cli_check_disk(&app, b->opt.output, out, what);
}

/* Print the failures that are causes; those that only followed from them are counted. */
static void print_failures(const batch *b, const dusk_graph *g, int64_t failed)
{
    int64_t printed = 0, followed = 0;
    for (int64_t i = 0; i < failed; i++) {
        int64_t id;
        const char *key, *reason;
        if (dusk_graph_failure(g, i, &id, &key, &reason) != 0) break;
        if (dusk_task_status(g, id) == DUSK_EDEP) {
            followed++;
        } else if (printed++ < 10) {
            if (b->opt.input && strncmp(key, "load-", 5) == 0)
                fprintf(stderr, "dusk-eigh: %s: %s\n", b->opt.input, reason);
            else
                fprintf(stderr, "dusk-eigh: task %s failed: %s\n", key, reason);
        }
    }
    if (printed > 10)
        fprintf(stderr, "dusk-eigh: ... and %lld more failed tasks\n", (long long)(printed - 10));
    if (followed && b->opt.verbose > 0)
        fprintf(stderr, "dusk-eigh: %lld tasks did not run because of these failures\n",
                (long long)followed);
}

int main(int argc, char **argv)
{
    batch b;
    memset(&b, 0, sizeof b);
    b.opt.n = 1000;
    b.opt.ntasks = 128;
    app.ctx = &b.opt;
    dusk_config cfg;
    int ret = cli_parse(&app, argc, argv, &cfg);
    if (ret >= 0) return ret;
    b.opt.verbose = cfg.verbose;
    if (b.opt.vectors && b.opt.values_only)
        return cli_usage_error(&app, "--vectors and --values-only exclude each other");
    if (b.opt.vectors && !b.opt.output)
        return cli_usage_error(&app, "--vectors needs --output DIR");
    if (!b.opt.input && b.opt.seed + b.opt.ntasks - 1 > (long long)UINT32_MAX)
        return cli_usage_error(&app,
                               "--seed %lld + --ntasks %lld goes past NumPy's largest "
                               "seed (2**32 - 1)",
                               b.opt.seed, b.opt.ntasks);
    b.n = b.opt.n;
    b.ntasks = b.opt.ntasks;

    dusk_npy *input = NULL;
    if (b.opt.input && (ret = open_input(&b, &input)) >= 0) return ret;
    if ((ret = check_resources(&b, &cfg)) >= 0) {
        dusk_npy_close(&input);
        return ret;
    }
    if ((ret = open_outputs(&b)) >= 0) {
        dusk_npy_close(&input);
        return ret;
    }

    char why[256];
    double t0 = dusk_now();
    if ((ret = dusk_init(&cfg, why, sizeof why)) != 0) {
        fprintf(stderr, "dusk-eigh: %s\n", why);
        dusk_npy_abort(&b.values);
        dusk_npy_abort(&b.vectors);
        dusk_npy_close(&input);
        return ret == DUSK_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    double t_init = dusk_now() - t0;
    pthread_mutex_init(&b.lock, NULL);

    dusk_graph *g = NULL;
    if ((ret = dusk_graph_new(&g)) != 0) {
        fprintf(stderr, "dusk-eigh: cannot make the graph: %s\n", dusk_strerror(ret));
        dusk_shutdown();
        return CLI_EXIT_FAILURE;
    }
    char source[4200], settings[4600];
    if (input)
        snprintf(source, sizeof source, "input=%s", b.opt.input);
    else
        snprintf(source, sizeof source, "seed=%lld", b.opt.seed);
    snprintf(settings, sizeof settings,
             "n=%lld ntasks=%lld %s (%s), %d CPU workers, sched=%s, %d BLAS thread%s per worker",
             (long long)b.n, (long long)b.ntasks, source,
             b.opt.values_only ? "eigenvalues only" : "eigenvalues and eigenvectors",
             dusk_cpu_worker_count(), dusk_sched_name(), cfg.blas_threads,
             cfg.blas_threads == 1 ? "" : "s");
    if (cfg.verbose >= 0) {
        printf("dusk-eigh: %s\n", settings);
        fflush(stdout);
    }
    dusk_set_run_info(settings);
    (void)dusk_graph_progress(g, b.ntasks, "eigh");

    double start = dusk_now();
    int submit_error = 0;
    for (int64_t i = 0; i < b.ntasks && !submit_error; i++) {
        if ((ret = submit_matrix(g, &b, input, i)) != 0) {
            fprintf(stderr, "dusk-eigh: cannot submit task %lld: %s\n", (long long)i,
                    dusk_strerror(ret));
            submit_error = 1;
        }
        /* Bad input data stops the batch: there is no point decomposing the rest. */
        int64_t failed;
        dusk_graph_counts(g, NULL, NULL, &failed);
        if (input && failed) break;
    }
    ret = dusk_graph_wait(g);
    double elapsed = dusk_now() - start;

    int64_t failed;
    dusk_graph_counts(g, NULL, NULL, &failed);
    int status = CLI_EXIT_OK;
    if (failed) {
        print_failures(&b, g, failed);
        status = CLI_EXIT_FAILURE;
    }
    if (submit_error) status = CLI_EXIT_FAILURE;
    int io = atomic_load(&b.io_error);
    if (io) {
        fprintf(stderr, "dusk-eigh: cannot write results to %s: %s\n", b.opt.output, strerror(io));
        status = CLI_EXIT_FAILURE;
    }
    if (status == CLI_EXIT_OK) {
        if ((b.values && dusk_npy_commit(&b.values) != 0) ||
            (b.vectors && dusk_npy_commit(&b.vectors) != 0)) {
            fprintf(stderr, "dusk-eigh: cannot finish writing %s: %s\n", b.opt.output,
                    strerror(errno));
            status = CLI_EXIT_FAILURE;
        }
    }
    dusk_npy_abort(&b.values);
    dusk_npy_abort(&b.vectors);

    if (status == CLI_EXIT_OK || !failed) {
        printf("Processed %lld tasks in %.3f s (%.2f it/s)\n", (long long)b.ntasks, elapsed,
               (double)b.ntasks / elapsed);
    }
    if (b.opt.verify && status == CLI_EXIT_OK) {
        const char *what0 = b.opt.values_only ? "trace error" : "residual";
        const char *what1 = b.opt.values_only ? "norm error" : "orthogonality";
        double tol0 = b.opt.values_only ? TOL_VALUES_ONLY : TOL_RESIDUAL;
        double tol1 = b.opt.values_only ? TOL_VALUES_ONLY : TOL_ORTH_PER_N * (double)b.n;
        if (b.nbad == 0) {
            printf("Verified: all %lld tasks passed (max %s %.2e <= %.0e, max %s %.2e <= %.1e)\n",
                   (long long)b.ntasks, what0, b.worst[0], tol0, what1, b.worst[1], tol1);
        } else {
            printf("Verified: %lld of %lld tasks FAILED (max %s %.2e, tolerance %.0e; max %s "
                   "%.2e, tolerance %.1e); first failing tasks:",
                   (long long)b.nbad, (long long)b.ntasks, what0, b.worst[0], tol0, what1,
                   b.worst[1], tol1);
            for (int64_t k = 0; k < b.nbad && k < 8; k++)
                printf(" %lld", (long long)b.bad_ids[k]);
            printf("\n");
            status = CLI_EXIT_FAILURE;
        }
    }
    if (cfg.verbose > 0)
        fprintf(stderr,
                "dusk-eigh: start-up %.3f s, peak %lld tasks in flight (window), peak memory "
                "%.1f MB\n",
                t_init, (long long)dusk_graph_peak_in_flight(g), (double)dusk_peak_rss() / 1e6);
    (void)ret;
    dusk_graph_free(&g);
    dusk_shutdown();
    dusk_npy_close(&input);
    pthread_mutex_destroy(&b.lock);
    return status;
}
