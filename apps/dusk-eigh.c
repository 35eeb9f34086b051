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
    OPT_DISTRIBUTION
};

static const struct option longopts[] = {
    {"ntasks", required_argument, NULL, OPT_NTASKS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"values-only", no_argument, NULL, OPT_VALUES_ONLY},
    {"input", required_argument, NULL, OPT_INPUT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"vectors", no_argument, NULL, OPT_VECTORS},
    {"verify", no_argument, NULL, OPT_VERIFY},
    {"distribution", required_argument, NULL, OPT_DISTRIBUTION},
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
        return cli_int(&app, "--seed", arg, 0, UINT32_MAX, &o->seed);
    case OPT_VALUES_ONLY:
        o->values_only = 1;
        return 0;
    case OPT_INPUT:
        o->input = arg;
        return 0;
    case OPT_OUTPUT:
        o->output = arg;
        return 0;
    case OPT_VECTORS:
        o->vectors = 1;
        return 0;
    case OPT_VERIFY:
        o->verify = 1;
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
        "                        and Frobenius norm identities, <= 1e-12)\n"
        "      --distribution D  under mpirun, which rank owns task i: cyclic (default,\n"
        "                        i mod K) or block (contiguous runs of T/K tasks)\n",
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

/* Every rank calls it; on_read runs on `rank` (or the owner) only. */
static int read_into(batch *b, dusk_data *d, int rank, int64_t index, int what)
{
    read_ctx *r = NULL;
    if ((rank == DUSK_OWNER ? dusk_data_owner(d) : rank) == dusk_rank()) {
        if ((r = malloc(sizeof *r)) == NULL) return DUSK_ENOMEM;
        *r = (read_ctx){b, index, what};
    }
    int ret = dusk_data_read_at(d, rank, on_read, r);
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

/* The rank that owns task i and its data: round-robin as the tutorial's mpi4py step does, or
 * contiguous blocks. */
static int owner_of(const batch *b, int64_t i)
{
    int64_t k = dusk_rank_count();
    return (int)(b->opt.block ? i * k / b->ntasks : i % k);
}

/* A new matrix (cols > 0) or vector (cols == 0) owned by `owner`. */
static int new_data(dusk_graph *g, int64_t rows, int64_t cols, int owner, dusk_data **out)
{
    int ret = cols ? dusk_matrix_new(g, rows, cols, out) : dusk_vector_new(g, rows, out);
    if (ret == 0 && (ret = dusk_data_set_owner(*out, owner)) != 0) dusk_data_release(out);
    return ret;
}

static int submit_matrix(dusk_graph *g, batch *b, const dusk_npy *input, int64_t i)
{
    int64_t n = b->n;
    int owner = owner_of(b, i);
    int ret = 0;
    int keep_a = b->opt.verify; /* verification needs A after eigh */
    int vectors = !b->opt.values_only;
    dusk_data *a = NULL, *bm = NULL, *x = NULL, *w = NULL, *r = NULL;

    if ((ret = new_data(g, n, n, owner, &a)) != 0 || (ret = new_data(g, n, 0, owner, &w)) != 0)
        goto out;
    if (input != NULL) {
        dusk_load_args la = {input, i, SYMTOL};
        dusk_arg args[] = {{a, DUSK_W}};
        if ((ret = submit(g, dusk_kernel_load(), "load", i, 1, 0, args, 1, &la, sizeof la)))
            goto out;
    } else {
        uint32_t seed = (uint32_t)(b->opt.seed + i);
        if ((ret = new_data(g, n, n, owner, &bm)) != 0) goto out;
        dusk_arg gen_args[] = {{bm, DUSK_W}};
        dusk_arg gram_args[] = {{bm, DUSK_R}, {a, DUSK_W}};
        if ((ret = submit(g, dusk_kernel_gen(), "gen", i, 0, 0, gen_args, 1, &seed, sizeof seed)) ||
            (ret = submit(g, dusk_kernel_gram(), "gram", i, 1, 0, gram_args, 2, NULL, 0)))
            goto out;
        dusk_data_release(&bm); /* freed as soon as gram is done */
    }

    dusk_eigh_args ea = {vectors};
    if (keep_a) {
        if ((ret = new_data(g, n, n, owner, &x)) != 0) goto out;
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
        if ((ret = new_data(g, 2, 0, owner, &r)) != 0) goto out;
        dusk_arg with_v[] = {{a, DUSK_R}, {w, DUSK_R}, {v, DUSK_R}, {r, DUSK_W}};
        dusk_arg without_v[] = {{a, DUSK_R}, {w, DUSK_R}, {r, DUSK_W}};
        if ((ret = vectors ? submit(g, dusk_kernel_verify(), "verify", i, 3, 0, with_v, 4, NULL, 0)
                           : submit(g, dusk_kernel_verify(), "verify", i, 3, 0, without_v, 3, NULL,
                                    0)) ||
            (ret = read_into(b, r, 0, i, READ_CHECKS)))
            goto out;
    }
    /* Rank 0 gathers the eigenvalues and the checks; eigenvectors are written by their owner
     * straight into the shared file. */
    if (b->opt.output && (ret = read_into(b, w, 0, i, READ_VALUES)) != 0) goto out;
    if (b->opt.vectors && (ret = read_into(b, v, DUSK_OWNER, i, READ_VECTORS)) != 0) goto out;
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
        fprintf(stderr, "%s: %s: %s\n", prog, b->opt.input, why);
        return CLI_EXIT_USAGE;
    }
    if (ret != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, b->opt.input, why);
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
        fprintf(stderr, "%s: %s: ", prog, b->opt.input);
        fprintf(stderr, problem, nd, (long long)(nd >= 2 ? sh[nd - 2] : 0),
                (long long)(nd >= 1 ? sh[nd - 1] : 0));
        fprintf(stderr, "\n");
        dusk_npy_close(in);
        return CLI_EXIT_FAILURE;
    }
    int64_t n = sh[nd - 1], t = nd == 3 ? sh[0] : 1;
    if ((b->opt.n_set && b->opt.n != n) || (b->opt.ntasks_set && b->opt.ntasks != t)) {
        fprintf(stderr, "%s: %s holds %lld matrices of size %lld, not what -n/--ntasks say\n", prog,
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
        fprintf(stderr, "%s: cannot create output directory %s: %s\n", prog, b->opt.output,
                strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    int64_t shape[3] = {b->ntasks, b->n, b->n};
    snprintf(path, sizeof path, "%s/eigenvalues.npy", b->opt.output);
    if (dusk_npy_create(path, 2, shape, &b->values, why, sizeof why) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, why);
        return CLI_EXIT_FAILURE;
    }
    snprintf(path, sizeof path, "%s/eigenvectors.npy", b->opt.output);
    if (b->opt.vectors && dusk_npy_create(path, 3, shape, &b->vectors, why, sizeof why) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, why);
        dusk_npy_abort(&b->values);
        return CLI_EXIT_FAILURE;
    }
    return -1;
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
                fprintf(stderr, "%s: %s: %s\n", prog, b->opt.input, reason);
            else
                fprintf(stderr, "%s: task %s failed: %s\n", prog, key, reason);
        }
    }
    if (printed > 10)
        fprintf(stderr, "%s: ... and %lld more failed tasks\n", prog, (long long)(printed - 10));
    if (followed && b->opt.verbose > 0)
        fprintf(stderr, "%s: %lld tasks did not run because of these failures\n", prog,
                (long long)followed);
}

/* Several ranks: rank 0 made the output files before dusk_init(); the others open the
 * eigenvectors file to write their own slices. Every rank calls it. 0 when every rank can go
 * on, else an exit code (the rank that failed has said why). */
static int join_outputs(batch *b)
{
    int64_t failed = 0, any;
    char path[4096], why[256];
    if (dusk_barrier() != 0) return CLI_EXIT_FAILURE; /* rank 0 has made them */
    if (dusk_rank() != 0 && b->opt.vectors) {
        int64_t shape[3] = {b->ntasks, b->n, b->n};
        snprintf(path, sizeof path, "%s/eigenvectors.npy", b->opt.output);
        if (dusk_npy_join(path, 3, shape, &b->vectors, why, sizeof why) != 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, path, why);
            failed = 1;
        }
    }
    if (dusk_ranks_max(failed, &any) != 0) dusk_abort(CLI_EXIT_FAILURE);
    return any ? CLI_EXIT_FAILURE : 0;
}

/* Finish the output files once every rank's status is known (`all`, the largest): the other
 * ranks flush their slices, then rank 0 renames the files, only if every rank succeeded.
 * Returns this rank's status. */
static int finish_outputs(batch *b, int status, int64_t all)
{
    int64_t flushed = 0, any;
    if (all == CLI_EXIT_OK && dusk_rank() != 0 && b->vectors && dusk_npy_commit(&b->vectors) != 0) {
        fprintf(stderr, "%s: cannot finish writing %s: %s\n", prog, b->opt.output, strerror(errno));
        flushed = status = CLI_EXIT_FAILURE;
    }
    if (dusk_ranks_max(flushed, &any) != 0) dusk_abort(CLI_EXIT_FAILURE);
    if (all == CLI_EXIT_OK && any == 0 && dusk_rank() == 0) {
        if ((b->values && dusk_npy_commit(&b->values) != 0) ||
            (b->vectors && dusk_npy_commit(&b->vectors) != 0)) {
            fprintf(stderr, "%s: cannot finish writing %s: %s\n", prog, b->opt.output,
                    strerror(errno));
            status = CLI_EXIT_FAILURE;
        }
    }
    if (any) status = CLI_EXIT_FAILURE;
    dusk_npy_abort(&b->values);
    dusk_npy_abort(&b->vectors);
    return status;
}

int main(int argc, char **argv)
{
    batch b;
    memset(&b, 0, sizeof b);
    b.opt.n = 1000;
    b.opt.ntasks = 128;
    if (dusk_rank_count() > 1) snprintf(prog, sizeof prog, "dusk-eigh: rank %d", dusk_rank());
    app.name = prog;
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

    /* Every rank reads the input's header; each reads only its own matrices later. Rank 0
     * alone makes the output files (a rank that exits here ends the whole job). */
    dusk_npy *input = NULL;
    if (b.opt.input && (ret = open_input(&b, &input)) >= 0) return ret;
    if (dusk_rank() == 0 && (ret = open_outputs(&b)) >= 0) {
        dusk_npy_close(&input);
        return ret;
    }

    char why[256];
    double t0 = dusk_now();
    if ((ret = dusk_init(&cfg, why, sizeof why)) != 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        dusk_npy_abort(&b.values);
        dusk_npy_abort(&b.vectors);
        dusk_npy_close(&input);
        return ret == DUSK_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    double t_init = dusk_now() - t0;
    int nranks = dusk_rank_count(), rank0 = dusk_rank() == 0;
    pthread_mutex_init(&b.lock, NULL);
    if (nranks > 1 && b.opt.output && (ret = join_outputs(&b)) != 0) {
        dusk_npy_abort(&b.values);
        dusk_npy_abort(&b.vectors);
        dusk_shutdown();
        dusk_npy_close(&input);
        return ret;
    }

    dusk_graph *g = NULL;
    if ((ret = dusk_graph_new(&g)) != 0) {
        fprintf(stderr, "%s: cannot make the graph: %s\n", prog, dusk_strerror(ret));
        if (nranks > 1) dusk_abort(CLI_EXIT_FAILURE);
        dusk_shutdown();
        return CLI_EXIT_FAILURE;
    }
    char source[4200], settings[4700], ranks[64] = "";
    if (input)
        snprintf(source, sizeof source, "input=%s", b.opt.input);
    else
        snprintf(source, sizeof source, "seed=%lld", b.opt.seed);
    if (nranks > 1)
        snprintf(ranks, sizeof ranks, " on each of %d ranks (%s)", nranks,
                 b.opt.block ? "block" : "cyclic");
    snprintf(settings, sizeof settings,
             "n=%lld ntasks=%lld %s (%s), %d CPU workers%s, sched=%s, %d BLAS thread%s per worker",
             (long long)b.n, (long long)b.ntasks, source,
             b.opt.values_only ? "eigenvalues only" : "eigenvalues and eigenvectors",
             dusk_cpu_worker_count(), ranks, dusk_sched_name(), cfg.blas_threads,
             cfg.blas_threads == 1 ? "" : "s");
    if (cfg.verbose >= 0 && rank0) {
        printf("dusk-eigh: %s\n", settings);
        fflush(stdout);
    }
    dusk_set_run_info(settings);
    (void)dusk_graph_progress(g, b.ntasks, "eigh");

    if (nranks > 1 && dusk_barrier() != 0) dusk_abort(CLI_EXIT_FAILURE); /* time from here */
    double start = dusk_now();
    int submit_error = 0;
    for (int64_t i = 0; i < b.ntasks && !submit_error; i++) {
        if ((ret = submit_matrix(g, &b, input, i)) != 0) {
            fprintf(stderr, "%s: cannot submit task %lld: %s\n", prog, (long long)i,
                    dusk_strerror(ret));
            /* the other ranks would wait for this one's data forever */
            if (nranks > 1) dusk_abort(CLI_EXIT_FAILURE);
            submit_error = 1;
        }
        /* Bad input data stops the batch: there is no point decomposing the rest. Not under
         * several ranks, which must all build the whole graph. */
        int64_t failed;
        dusk_graph_counts(g, NULL, NULL, &failed);
        if (input && failed && nranks == 1) break;
    }
    ret = dusk_graph_wait(g);

    int64_t failed, all, any_failed;
    dusk_graph_counts(g, NULL, NULL, &failed);
    int status = CLI_EXIT_OK;
    if (failed) {
        print_failures(&b, g, failed);
        status = CLI_EXIT_FAILURE;
    }
    if (submit_error) status = CLI_EXIT_FAILURE;
    int io = atomic_load(&b.io_error);
    if (io) {
        fprintf(stderr, "%s: cannot write results to %s: %s\n", prog, b.opt.output, strerror(io));
        status = CLI_EXIT_FAILURE;
    }
    /* every rank learns whether all succeeded: only then are the files renamed */
    if (dusk_ranks_max(status, &all) != 0 || dusk_ranks_max(failed > 0, &any_failed) != 0)
        dusk_abort(CLI_EXIT_FAILURE);
    double elapsed = dusk_now() - start; /* on rank 0: until every rank is done */
    status = finish_outputs(&b, status, all);

    if (rank0 && (all == CLI_EXIT_OK || !any_failed)) {
        printf("Processed %lld tasks in %.3f s (%.2f it/s)", (long long)b.ntasks, elapsed,
               (double)b.ntasks / elapsed);
        if (nranks > 1) printf(" on %d ranks", nranks);
        printf("\n");
    }
    if (rank0 && b.opt.verify && all == CLI_EXIT_OK && status == CLI_EXIT_OK) {
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
                "%s: start-up %.3f s, peak %lld tasks in flight (window), peak memory "
                "%.1f MB\n",
                prog, t_init, (long long)dusk_graph_peak_in_flight(g),
                (double)dusk_peak_rss() / 1e6);
    (void)ret;
    fflush(stdout);
    /* every rank exits with the same status: the worst */
    if (dusk_ranks_max(status, &all) != 0) dusk_abort(CLI_EXIT_FAILURE);
    dusk_graph_free(&g);
    dusk_shutdown();
    dusk_npy_close(&input);
    pthread_mutex_destroy(&b.lock);
    return (int)all;
}
