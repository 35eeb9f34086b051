/* dusk-eigh: the tutorial's batch. For each task i, b = rand(n, n) seeded with seed + i
 * (NumPy's legacy generator, bit for bit, or Philox4x32-10 with --rng philox, which GPUs can
 * run too), a = bᵀb, and eigh(a); or eigh of each matrix of a .npy file. Results go to .npy files
 * as tasks finish. Uses only dusk's public API. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dusk.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"
#include "dusk_manifest.h"
#include "dusk_input.h"
#include "dusk_npy.h"
#include "io.h"
#include "outdir.h"

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
    int n_set, ntasks_set, seed_set;
    int philox; /* --rng philox */
    int values_only, vectors, verify;
    const char *input, *output, *resume;
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
    OPT_RESUME,
    OPT_DISTRIBUTION,
    OPT_RNG
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
                "                 [--input FILE[:DATASET]] [--output DIR] [--vectors] [--verify]\n"
                "                 [--resume DIR] [--distribution cyclic|block] [runtime options]",
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
        "      --input FILE      decompose the matrices of FILE: a .npy file, or an HDF5\n"
        "                        file's only 2-D or 3-D float dataset (FILE.h5:DATASET names\n"
        "                        one); float64 or float32 (-v says what is converted), shape\n"
        "                        (T, n, n) or (n, n), symmetric\n"
        "      --output DIR      write DIR/eigenvalues.npy, shape (T, n), ascending rows\n"
        "      --vectors         also write DIR/eigenvectors.npy, shape (T, n, n), vectors in\n"
        "                        columns as numpy.linalg.eigh returns them\n"
        "      --verify          check every result: residual ||AV - VΛ|| / (n||A||) <= 1e-12\n"
        "                        and ||VᵀV - I|| <= n * 1e-13 (with --values-only: the trace\n"
        "                        and Frobenius norm identities, <= 1e-12)\n"
        "      --distribution D  under mpirun, which rank owns task i: cyclic (default,\n"
        "                        i mod K) or block (contiguous runs of T/K tasks)\n"
        "      --resume DIR      go on with the run that wrote DIR (stopped, killed or with\n"
        "                        failed tasks), computing only the tasks not done; the other\n"
        "                        flags must be those of that run (under mpirun, any number\n"
        "                        of ranks)\n"
        "\n"
        "Exit status: 0 all tasks done; 1 the run failed (an input file refused, an output\n"
        "not written, not enough memory or disk, the verification failed); 2 bad usage (a\n"
        "flag or value, a missing file, an --output holding files of no dusk-eigh run, a\n"
        "--resume of another run or of no directory); 3 finished but some\n"
        "tasks failed (their rows are NaN, DIR/failures.json says why); 128+N stopped by\n"
        "signal N (130: Ctrl-C), resumable with --resume.\n",
    .shortopts = "n:",
    .longopts = longopts,
    .handle = handle,
};

/* ---- results, written in place as tasks finish --------------------------------------- */

typedef struct batch {
    options opt;
    int64_t n, ntasks;
    dusk_npy *values, *vectors;
    /* With --output: which tasks are done, for --resume. Rank 0's is DIR/manifest.txt; under
     * several ranks, rank K > 0 lists what it makes in DIR/.rank-K/manifest.txt (rank 0 merges
     * them at the end, or when resuming) and reads what was done before from `prior`. */
    dusk_manifest *manifest, *prior;
    int64_t run_token; /* several ranks: names this run's output directory (rank 0) */
    char params[4600]; /* params_line(), taken once: every manifest of the run names it */
    char fingerprint[DUSK_INPUT_FINGERPRINT_MAX]; /* --input's content, for params */
    atomic_int io_error;
    pthread_mutex_t lock; /* guards the verification results below */
    double worst[2];
    int64_t nchecked, nbad, bad_ids[8]; /* checked: tasks whose verification ran */
} batch;

/* A task's results still to be written (eigenvalues, and eigenvectors with --vectors): the
 * task is done, for the manifest, once all are written. Made per task and freed by its last
 * write, so that what is kept does not grow with the batch. */
typedef struct results {
    atomic_int left, bad;
} results;

typedef struct read_ctx {
    batch *b;
    int64_t index;
    enum { READ_VALUES, READ_VECTORS, READ_CHECKS } what;
    results *res; /* for VALUES and VECTORS */
} read_ctx;

/* One of task `index`'s results is written (ok) or not. */
static void result_written(batch *b, results *res, int64_t index, int ok)
{
    if (!ok) atomic_store(&res->bad, 1);
    if (atomic_fetch_sub(&res->left, 1) != 1) return;
    if (!atomic_load(&res->bad) && b->manifest) dusk_manifest_mark_done(b->manifest, index);
    free(res);
}

enum { NAN_CHUNK = 1 << 17 }; /* 1 MiB of NaN, written as many times as a row needs */
static double nan_chunk[NAN_CHUNK];
static pthread_once_t nan_once = PTHREAD_ONCE_INIT;

static void fill_nan(void)
{
    for (int k = 0; k < NAN_CHUNK; k++)
        nan_chunk[k] = NAN;
}

/* Write `count` values of task `index` into f, or NaN when the task failed, so that a failed
 * task never leaves the zeros of a fresh file that would look like a result. */
static int write_row(batch *b, dusk_npy *f, int64_t index, const double *values, int64_t count)
{
    int ret = 0;
    if (values != NULL) {
        ret = dusk_npy_write(f, index * count, values, count);
    } else {
        (void)pthread_once(&nan_once, fill_nan);
        for (int64_t done = 0; done < count && ret == 0; done += NAN_CHUNK)
            ret = dusk_npy_write(f, index * count + done, nan_chunk,
                                 count - done < NAN_CHUNK ? count - done : NAN_CHUNK);
    }
    if (ret != 0) atomic_store(&b->io_error, errno ? errno : EIO);
    return ret;
}

static void on_read(void *user, int status, const double *values, const int64_t dims[2])
{
    read_ctx *r = user;
    batch *b = r->b;
    if (r->what == READ_CHECKS) {
        if (status == 0) {
            double tol0 = b->opt.values_only ? TOL_VALUES_ONLY : TOL_RESIDUAL;
            double tol1 = b->opt.values_only ? TOL_VALUES_ONLY : TOL_ORTH_PER_N * (double)b->n;
            pthread_mutex_lock(&b->lock);
            b->nchecked++;
            for (int k = 0; k < 2; k++)
                if (!(values[k] <= b->worst[k])) b->worst[k] = values[k];
            if (!(values[0] <= tol0 && values[1] <= tol1)) {
                if (b->nbad < 8) b->bad_ids[b->nbad] = r->index;
                b->nbad++;
            }
            pthread_mutex_unlock(&b->lock);
        }
    } else {
        /* a cancelled task is simply not done: its rows stay as they are */
        dusk_npy *f = r->what == READ_VALUES ? b->values : b->vectors;
        int ok = status == 0;
        if (status != DUSK_ECANCELED &&
            write_row(b, f, r->index, status == 0 ? values : NULL, dims[0] * dims[1]) != 0)
            ok = 0;
        result_written(b, r->res, r->index, ok);
    }
    free(r);
}

/* Every rank calls it; on_read runs on d's owner, which writes the results of its own tasks:
 * under several ranks no data moves between them. */
static int read_into(batch *b, dusk_data *d, int64_t index, int what, results *res)
{
    read_ctx *r = NULL;
    if (dusk_data_owner(d) == dusk_rank()) {
        if ((r = malloc(sizeof *r)) == NULL) return DUSK_ENOMEM;
        *r = (read_ctx){b, index, what, res};
    }
    int ret = dusk_data_read(d, on_read, r);
    if (ret != 0) free(r);
    return ret;
}

/* The manifest's sync step: results written so far reach the disk before it lists them. */
static int sync_outputs(void *ctx)
{
    batch *b = ctx;
    if ((b->values && dusk_npy_sync(b->values) != 0) ||
        (b->vectors && dusk_npy_sync(b->vectors) != 0))
        return -1;
    return 0;
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

static int submit_matrix(dusk_graph *g, batch *b, const dusk_input *input, int64_t i)
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
        uint64_t seed64 = (uint64_t)b->opt.seed + (uint64_t)i;
        if ((ret = new_data(g, n, n, owner, &bm)) != 0) goto out;
        dusk_arg gen_args[] = {{bm, DUSK_W}};
        dusk_arg gram_args[] = {{bm, DUSK_R}, {a, DUSK_W}};
        if ((ret = b->opt.philox ? submit(g, dusk_kernel_gen_philox(), "gen", i, 0, 0, gen_args, 1,
                                          &seed64, sizeof seed64)
                                 : submit(g, dusk_kernel_gen(), "gen", i, 0, 0, gen_args, 1, &seed,
                                          sizeof seed)) ||
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
            (ret = read_into(b, r, i, READ_CHECKS, NULL)))
            goto out;
    }
    /* The owner writes both results straight into the shared files (every rank calls these:
     * see read_into). */
    if (b->opt.output) {
        results *res = NULL;
        int parts = 1 + b->opt.vectors;
        if (owner == dusk_rank()) {
            if ((res = malloc(sizeof *res)) == NULL) {
                ret = DUSK_ENOMEM;
                goto out;
            }
            atomic_init(&res->left, parts);
            atomic_init(&res->bad, 0);
        }
        for (int k = 0; k < parts; k++) {
            if (ret == 0)
                ret = read_into(b, k == 0 ? w : v, i, k == 0 ? READ_VALUES : READ_VECTORS, res);
            if (ret != 0 && res) result_written(b, res, i, 0); /* this part never comes */
        }
        if (ret != 0) goto out;
    }
out:
    dusk_data_release(&a);
    dusk_data_release(&bm);
    dusk_data_release(&x);
    dusk_data_release(&w);
    dusk_data_release(&r);
    return ret;
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* Open --input (FILE.npy, FILE.h5 or FILE.h5:DATASET) and take n and T from its shape. Exit
 * code, or -1 to go on. */
static int open_input(batch *b, dusk_input **in)
{
    char why[512];
    int ret = dusk_input_open(b->opt.input, in, why, sizeof why);
    if (ret != 0) {
        /* `why` names the file (and dataset): a missing file or dataset, or a dataset to
         * choose, is the user's to fix (2); data dusk does not read is a failure (1) */
        fprintf(stderr, "%s: %s\n", prog, why);
        return ret == DUSK_EIO || ret == DUSK_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    if (dusk_input_fingerprint(*in, b->fingerprint, sizeof b->fingerprint) != 0) {
        fprintf(stderr, "%s: %s: cannot read it: %s\n", prog, b->opt.input, strerror(errno));
        dusk_input_close(in);
        return CLI_EXIT_FAILURE;
    }
    const char *conversion = dusk_input_conversion(*in);
    if (conversion && b->opt.verbose > 0 && dusk_rank() == 0)
        fprintf(stderr, "%s: %s: %s\n", prog, b->opt.input, conversion);
    int nd = dusk_input_ndim(*in);
    const int64_t *sh = dusk_input_shape(*in);
    const char *problem = NULL;
    if (nd != 2 && nd != 3)
        problem = nd == 1 ? "has %d dimension; dusk-eigh reads (T, n, n) or (n, n)"
                          : "has %d dimensions; dusk-eigh reads (T, n, n) or (n, n)";
    else if (sh[nd - 1] != sh[nd - 2])
        problem = "holds non-square matrices (%d-d shape ending in %lld x %lld)";
    else if (sh[nd - 1] < 1 || (nd == 3 && sh[0] < 1))
        problem = "holds no matrices (%d-d, matrices of %lld x %lld)";
    else if (sh[nd - 1] > MAX_N || (nd == 3 && sh[0] > INT32_MAX))
        problem = "has a size dusk-eigh does not take (%d-d, %lld x %lld)";
    if (problem) {
        fprintf(stderr, "%s: %s: ", prog, b->opt.input);
        fprintf(stderr, problem, nd, (long long)(nd >= 2 ? sh[nd - 2] : 0),
                (long long)(nd >= 1 ? sh[nd - 1] : 0));
        fprintf(stderr, "\n");
        dusk_input_close(in);
        return CLI_EXIT_FAILURE;
    }
    int64_t n = sh[nd - 1], t = nd == 3 ? sh[0] : 1;
    if ((b->opt.n_set && b->opt.n != n) || (b->opt.ntasks_set && b->opt.ntasks != t)) {
        fprintf(stderr, "%s: %s holds %lld matrices of size %lld, not what -n/--ntasks say\n", prog,
                b->opt.input, (long long)t, (long long)n);
        dusk_input_close(in);
        return CLI_EXIT_USAGE;
    }
    b->n = n;
    b->ntasks = t;
    return -1;
}

/* Everything that decides the results, for the manifest: a resume must match it. */
static void params_line(const batch *b, char *buf, size_t len)
{
    char source[4200];
    /* the input by its content (size, shape, dtype, dataset, sampled blocks), not its name:
     * a resume may spell or reach it otherwise */
    if (b->opt.input)
        snprintf(source, sizeof source, "input fingerprint=%s", b->fingerprint);
    else
        snprintf(source, sizeof source, "seed:%lld%s", b->opt.seed,
                 b->opt.philox ? " rng:philox" : "");
    snprintf(buf, len, "n=%lld ntasks=%lld values_only=%d vectors=%d source=%s", (long long)b->n,
             (long long)b->ntasks, b->opt.values_only, b->opt.vectors, source);
}

/* An earlier run's results, removed by a new run before it makes its files. */
static const char *const old_results[] = {"eigenvalues.npy", "eigenvectors.npy", "failures.json"};

/* The manifests that ranks K > 0 of an earlier run left in DIR/.rank-K/ (rank 0 merges them
 * at the end of a run, so they remain only after a job that was killed). merge != 0 (a
 * resume): their tasks are added to b->manifest, which is then saved, and only then are they
 * removed. merge == 0 (a new run): they are removed, since the results they list are about to
 * go. 0, or after saying why -2 (one is not a manifest of this run) or -1 (any other error). */
static int rank_manifests(batch *b, int merge)
{
    const char *dir = b->opt.output;
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, dir, strerror(errno));
        return -1;
    }
    char sub[4200], path[4300], why[512];
    int ret = 0, merged = 0, rank;
    struct dirent *e;
    while (ret == 0 && (e = readdir(d)) != NULL) {
        char extra;
        if (sscanf(e->d_name, ".rank-%d%c", &rank, &extra) != 1 || rank < 1) continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        snprintf(path, sizeof path, "%s/manifest.txt", sub);
        if (merge && access(path, F_OK) == 0) {
            dusk_manifest *m = NULL;
            int err = dusk_manifest_open(sub, "dusk-eigh", b->params, b->ntasks, 1, NULL, NULL, &m,
                                         why, sizeof why);
            if (err != 0) {
                fprintf(stderr, "%s: --resume %s: rank %d's %s\n", prog, dir, rank, why);
                ret = err == DUSK_EINVAL || err == DUSK_EFORMAT ? -2 : -1;
                break;
            }
            for (int64_t i = 0; i < b->ntasks; i++)
                if (dusk_manifest_is_done(m, i)) dusk_manifest_mark_done(b->manifest, i);
            dusk_manifest_close(&m);
            merged = 1;
            continue;
        }
        if (!merge && unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) {
            fprintf(stderr, "%s: cannot remove the earlier run's %s: %s\n", prog, path,
                    strerror(errno));
            ret = -1;
        }
        if (!merge) (void)rmdir(sub);
    }
    closedir(d);
    if (ret != 0 || !merge) return ret;
    if (merged && dusk_manifest_save(b->manifest, "interrupted") != 0) {
        fprintf(stderr, "%s: cannot write %s/manifest.txt: %s\n", prog, dir, strerror(errno));
        return -1;
    }
    return merged ? rank_manifests(b, 0) : 0; /* saved: the parts can go */
}

/* The manifest first (a new one replaces an old one, and the ranks' old ones go, before any
 * file is made fresh, so that no manifest lists tasks whose results are gone), then the
 * output files: created under their temporary names, or reopened in place by a resume. Rank 0
 * only, before dusk_init(). Exit code, or -1 to go on. */
static int open_outputs(batch *b)
{
    char path[4096], why[512];
    const char *dir = b->opt.output;
    int resume = b->opt.resume != NULL;
    if (dir == NULL) return -1;
    if (!resume && dusk__mkdir_p(dir, 0777) != 0) {
        fprintf(stderr, "%s: cannot create output directory %s: %s\n", prog, dir, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    int ret;
    struct stat st;
    if (resume && stat(dir, &st) != 0) {
        fprintf(stderr, "%s: --resume %s: %s: there is no run to resume there\n", prog, dir,
                strerror(errno));
        return CLI_EXIT_USAGE;
    }
    if (dusk__outdir_lock(prog, dir) != 0) return CLI_EXIT_FAILURE;
    if (!resume && dusk__outdir_check_foreign(prog, dir, "dusk-eigh", old_results, 3) != 0)
        return CLI_EXIT_USAGE;
    if (!resume && rank_manifests(b, 0) != 0) return CLI_EXIT_FAILURE;
    ret = dusk_manifest_open(dir, "dusk-eigh", b->params, b->ntasks, resume, sync_outputs, b,
                             &b->manifest, why, sizeof why);
    if (ret == 0 && !resume && dusk_manifest_save(b->manifest, "running") != 0) {
        snprintf(why, sizeof why, "cannot write %s/manifest.txt: %s", dir, strerror(errno));
        ret = DUSK_EIO;
    }
    if (ret != 0) {
        fprintf(stderr, "%s: --resume %s: %s\n", prog, dir, why);
        dusk_manifest_close(&b->manifest);
        return ret == DUSK_EINVAL || ret == DUSK_EFORMAT ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    int merged = resume ? rank_manifests(b, 1) : 0;
    if (merged != 0) {
        dusk_manifest_close(&b->manifest);
        return merged == -2 ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    if ((dusk_rank_count() > 1 && dusk__outdir_write_token(prog, dir, &b->run_token) != 0) ||
        (!resume && dusk__outdir_remove(prog, dir, old_results, 3) != 0)) {
        dusk_manifest_close(&b->manifest);
        return CLI_EXIT_FAILURE;
    }
    int64_t shape[3] = {b->ntasks, b->n, b->n};
    for (int k = 0; k < 1 + b->opt.vectors; k++) {
        dusk_npy **f = k == 0 ? &b->values : &b->vectors;
        snprintf(path, sizeof path, "%s/%s", dir, k == 0 ? "eigenvalues.npy" : "eigenvectors.npy");
        ret = resume ? dusk_npy_reopen(path, 2 + k, shape, f, why, sizeof why)
                     : dusk_npy_create(path, 2 + k, shape, f, why, sizeof why);
        if (ret != 0) {
            fprintf(stderr, "%s: %s%s: %s\n", prog, path, resume ? "(.partial)" : "", why);
            /* a resume leaves what it found for another try */
            if (resume)
                (void)!dusk_npy_suspend(&b->values);
            else
                dusk_npy_abort(&b->values);
            dusk_manifest_close(&b->manifest);
            return CLI_EXIT_FAILURE;
        }
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
                "%s: %s: n = %lld is over %d, the largest n whose eigenvectors LAPACK's "
                "32-bit workspace (2n² + 6n + 1 values) can hold; use --values-only\n",
                prog, n_from, (long long)b->n, MAX_N_VECTORS);
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
    if (ret >= 0 || b->opt.output == NULL || b->opt.resume != NULL) return ret;

    /* the output files are sized in full when they are created (a resume reopens them) */
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

/* The failed matrices, one line each: "id<TAB>step<TAB>error<TAB>reason\n". Only causes are
 * listed: the steps that then did not run are implied. Tabs and newlines in a reason become
 * spaces. A malloc'ed string (NULL when out of memory), `*count` lines. */
static char *failure_lines(const dusk_graph *g, size_t *len, int64_t *count)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    int64_t failed;
    dusk_graph_counts(g, NULL, NULL, &failed);
    *count = 0;
    if (f == NULL) return NULL;
    for (int64_t i = 0; i < failed; i++) {
        int64_t id;
        const char *key, *reason;
        if (dusk_graph_failure(g, i, &id, &key, &reason) != 0) break;
        int status = dusk_task_status(g, id);
        const char *dash = strrchr(key, '-');
        if (status == DUSK_EDEP || dash == NULL) continue;
        fprintf(f, "%s\t%.*s\t%s\t", dash + 1, (int)(dash - key), key, dusk_strerror(status));
        for (const char *c = reason; *c; c++)
            fputc(*c == '\t' || *c == '\n' ? ' ' : *c, f);
        fputc('\n', f);
        ++*count;
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- Ctrl-C and kill: stop submitting, let running tasks finish, keep what is done ------ */

/* Shared with the handler, which may run on any thread: lock-free atomics only. */
static _Atomic(dusk_graph *) running;
static atomic_int stop_signal;
static atomic_int in_handler; /* handlers between reading `running` and done with it */
static int quiet_handler;     /* ranks other than 0 stop without saying so */
static int stderr_tty;

static void on_signal(int sig)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&stop_signal, &expected, sig))
        _exit(128 + sig); /* the second one: at once; the manifest stays true */
    /* after a newline that ends the progress bar's line, on a terminal */
    static const char msg[] =
        "\ndusk-eigh: stopping: running tasks finish, then what is done is saved "
        "(signal again to quit at once)\n";
    if (!quiet_handler) {
        ssize_t w = write(STDERR_FILENO, msg + !stderr_tty, sizeof msg - 1 - !stderr_tty);
        (void)w;
    }
    atomic_fetch_add(&in_handler, 1);
    dusk_graph *g = atomic_load(&running);
    if (g != NULL) dusk_graph_cancel(g);
    atomic_fetch_sub(&in_handler, 1);
}

/* The graph is about to be freed: no handler may still hold it. */
static void forget_running_graph(void)
{
    atomic_store(&running, NULL);
    while (atomic_load(&in_handler) > 0)
        sched_yield();
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* One argument of a command, quoted for a POSIX shell when it needs to be. */
static void print_shell_word(const char *a)
{
    int plain = *a != '\0';
    for (const char *c = a; *c; c++)
        plain = plain && (strchr("-_./=:,+@%", *c) || (*c >= '0' && *c <= '9') ||
                          (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'));
    if (plain) {
        fprintf(stderr, " %s", a);
        return;
    }
    fprintf(stderr, " '");
    for (const char *c = a; *c; c++)
        fprintf(stderr, *c == '\'' ? "'\\''" : "%c", *c);
    fprintf(stderr, "'");
}

/* 1 when argument `a` is --output=DIR or --resume=DIR, 2 when it is --output or --resume with
 * DIR to follow, in full or abbreviated as getopt_long accepts them (--out, --res); else 0. */
static int names_dir_flag(const char *a)
{
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') return 0;
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (len == 0 || (strncmp(a + 2, "output", len) != 0 && strncmp(a + 2, "resume", len) != 0))
        return 0;
    return eq ? 1 : 2;
}

/* The command that resumes this run: the same arguments, --output DIR becoming --resume DIR. */
static void print_resume_hint(int argc, char **argv, const char *dir)
{
    if (dusk_rank_count() > 1)
        fprintf(stderr, "%s: to resume (under mpirun, with any number of ranks):", prog);
    else
        fprintf(stderr, "%s: to resume:", prog);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int dir_flag = names_dir_flag(a);
        if (dir_flag) {
            i += dir_flag == 2; /* the directory is the next argument */
            continue;
        }
        print_shell_word(a);
    }
    fprintf(stderr, " --resume");
    print_shell_word(dir);
    fprintf(stderr, "\n");
}

/* The end of the output files: the manifest is saved with `state` (after the files are
 * synced: see sync_outputs), then, complete, the files get their names. A rename that fails
 * keeps PATH.partial: a resume finds the manifest's tasks in it and names it. 0, or -1 with
 * errno set. */
static int finish_outputs(batch *b, int complete, const char *state)
{
    int ret = 0;
    if (b->manifest && dusk_manifest_save(b->manifest, state) != 0) ret = -1;
    if (complete && ret == 0) {
        if ((b->values && dusk_npy_commit(&b->values) != 0) ||
            (b->vectors && dusk_npy_commit(&b->vectors) != 0))
            ret = -1;
    }
    int err = errno;
    if (b->values && dusk_npy_suspend(&b->values) != 0 && ret == 0) ret = -1, err = errno;
    if (b->vectors && dusk_npy_suspend(&b->vectors) != 0 && ret == 0) ret = -1, err = errno;
    errno = err;
    return ret;
}

/* A run that stopped early: what it kept, and how to go on. */
static void print_stopped(const batch *b, int argc, char **argv)
{
    if (b->opt.output == NULL) {
        fprintf(stderr, "%s: stopped before the end; nothing was saved (no --output)\n", prog);
        return;
    }
    fprintf(stderr, "%s: stopped: %lld of %lld tasks done and saved in %s\n", prog,
            (long long)dusk_manifest_done_count(b->manifest), (long long)b->ntasks, b->opt.output);
    print_resume_hint(argc, argv, b->opt.output);
}

/* "Processed T tasks in X s (Y it/s)", with the ranks, what was done before and how many
 * failed. */
static void print_summary(const batch *b, int64_t ran, int64_t already, int64_t causes,
                          double elapsed)
{
    if (ran == 0) {
        printf("Nothing to do: all %lld tasks were done before\n", (long long)b->ntasks);
        return;
    }
    printf("Processed %lld task%s in %.3f s (%.2f it/s)", (long long)ran, ran == 1 ? "" : "s",
           elapsed, (double)ran / elapsed);
    if (dusk_rank_count() > 1) printf(" on %d ranks", dusk_rank_count());
    if (already) printf(", %lld more done before", (long long)already);
    if (causes) {
        printf("; %lld FAILED", (long long)causes);
        if (b->opt.output) printf(" (see %s/failures.json)", b->opt.output);
    }
    printf("\n");
}

static void print_verification(const batch *b, int64_t ran, int *status)
{
    const char *what0 = b->opt.values_only ? "trace error" : "residual";
    const char *what1 = b->opt.values_only ? "norm error" : "orthogonality";
    double tol0 = b->opt.values_only ? TOL_VALUES_ONLY : TOL_RESIDUAL;
    double tol1 = b->opt.values_only ? TOL_VALUES_ONLY : TOL_ORTH_PER_N * (double)b->n;
    if (b->nbad == 0 && b->nchecked == ran) {
        printf("Verified: all %lld tasks passed (max %s %.2e <= %.0e, max %s %.2e <= %.1e)\n",
               (long long)ran, what0, b->worst[0], tol0, what1, b->worst[1], tol1);
        return;
    }
    if (b->nbad == 0) { /* the others failed before they could be verified: exit 3 says so */
        printf("Verified: %lld of %lld tasks passed (max %s %.2e <= %.0e, max %s %.2e <= %.1e); "
               "%lld failed before they could be verified\n",
               (long long)b->nchecked, (long long)ran, what0, b->worst[0], tol0, what1, b->worst[1],
               tol1, (long long)(ran - b->nchecked));
        return;
    }
    printf("Verified: %lld of %lld tasks FAILED (max %s %.2e, tolerance %.0e; max %s "
           "%.2e, tolerance %.1e); first failing tasks:",
           (long long)b->nbad, (long long)ran, what0, b->worst[0], tol0, what1, b->worst[1], tol1);
    for (int64_t k = 0; k < b->nbad && k < 8; k++)
        printf(" %lld", (long long)b->bad_ids[k]);
    printf("\n");
    *status = CLI_EXIT_FAILURE;
}

/* ---- several ranks ----------------------------------------------------------------------- */

/* Ranks K > 0: DIR/.rank-K/manifest.txt, for the tasks this rank makes, and (resuming) the
 * manifest rank 0 merged, for the tasks done before. 0, or -1 after saying why. */
static int open_rank_manifest(batch *b)
{
    char sub[4200], why[4400];
    snprintf(sub, sizeof sub, "%s/.rank-%d", b->opt.output, dusk_rank());
    int ret = dusk__mkdir_p(sub, 0777) == 0 ? 0 : DUSK_EIO;
    if (ret != 0) snprintf(why, sizeof why, "cannot create %s: %s", sub, strerror(errno));
    if (ret == 0 && b->opt.resume)
        ret = dusk_manifest_open(b->opt.output, "dusk-eigh", b->params, b->ntasks, 1, NULL, NULL,
                                 &b->prior, why, sizeof why);
    if (ret == 0)
        ret = dusk_manifest_open(sub, "dusk-eigh", b->params, b->ntasks, 0, sync_outputs, b,
                                 &b->manifest, why, sizeof why);
    if (ret == 0) return 0;
    fprintf(stderr, "%s: %s\n", prog, why);
    dusk_manifest_close(&b->prior);
    dusk_manifest_close(&b->manifest);
    return -1;
}

/* Rank 0 made the output files before dusk_init(); the other ranks open them to write the
 * results of their own tasks, and their manifests. Every rank calls it. 0 when every rank
 * can go on, else an exit code (the rank that failed has said why). */
static int join_outputs(batch *b)
{
    int64_t failed = 0, any, token;
    char path[4096], why[256];
    /* rank 0 has made the files, and DIR/.dusk-run holding this run's token: a rank that
     * finds another token (an earlier run's file, on a directory that is not the one rank 0
     * sees) would write its results where no one reads them */
    if (dusk_ranks_max(dusk_rank() == 0 ? b->run_token : 0, &token) != 0) return CLI_EXIT_FAILURE;
    if (dusk_rank() != 0) {
        int64_t mine;
        if (dusk__outdir_read_token(b->opt.output, &mine) != 0 || mine != token) {
            fprintf(stderr,
                    "%s: %s is not the directory rank 0 writes to (%s): give every rank "
                    "the same shared directory\n",
                    prog, b->opt.output, mine < 0 ? strerror(errno) : "another run's token");
            failed = 1;
        }
    }
    int64_t shape[3] = {b->ntasks, b->n, b->n};
    for (int k = 0; k < 1 + b->opt.vectors && !failed && dusk_rank() != 0; k++) {
        snprintf(path, sizeof path, "%s/%s", b->opt.output,
                 k == 0 ? "eigenvalues.npy" : "eigenvectors.npy");
        if (dusk_npy_join(path, 2 + k, shape, k == 0 ? &b->values : &b->vectors, why, sizeof why) !=
            0) {
            fprintf(stderr, "%s: %s: %s\n", prog, path, why);
            failed = 1;
        }
    }
    if (!failed && dusk_rank() != 0 && open_rank_manifest(b) != 0) failed = 1;
    if (dusk_ranks_max(failed, &any) != 0) dusk_abort(CLI_EXIT_FAILURE);
    return any ? CLI_EXIT_FAILURE : 0;
}

/* This rank's verification figures, one line for rank 0: "checked bad worst0 worst1 ids...". */
static void verification_line(const batch *b, char *buf, size_t len)
{
    int at = snprintf(buf, len, "%lld %lld %.17g %.17g", (long long)b->nchecked, (long long)b->nbad,
                      b->worst[0], b->worst[1]);
    for (int64_t k = 0; k < b->nbad && k < 8 && at > 0 && (size_t)at < len; k++)
        at += snprintf(buf + at, len - (size_t)at, " %lld", (long long)b->bad_ids[k]);
    if ((size_t)at + 1 < len) strcat(buf, "\n");
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Rank 0: every rank's verification line combined into b's figures. */
static void combine_verification(batch *b, const char *lines)
{
    int64_t ids[64], nids = 0;
    b->nchecked = b->nbad = 0;
    b->worst[0] = b->worst[1] = 0;
    for (const char *line = lines; line && *line;) {
        long long checked, bad;
        double w0, w1;
        int used = 0;
        if (sscanf(line, "%lld %lld %lg %lg%n", &checked, &bad, &w0, &w1, &used) != 4) break;
        b->nchecked += checked;
        b->nbad += bad;
        if (!(w0 <= b->worst[0])) b->worst[0] = w0;
        if (!(w1 <= b->worst[1])) b->worst[1] = w1;
        char *end;
        for (const char *c = line + used; nids < 64; c = end) {
            long long id = strtoll(c, &end, 10);
            if (end == c) break;
            ids[nids++] = id;
        }
        const char *next = strchr(line, '\n');
        line = next ? next + 1 : NULL;
    }
    qsort(ids, (size_t)nids, sizeof *ids, by_value);
    for (int64_t k = 0; k < nids && k < 8; k++)
        b->bad_ids[k] = ids[k];
}

/* The output files once every rank is done: stopped, each rank keeps them as PATH.partial for
 * --resume; finished, the other ranks flush their slices and rank 0 then names the files,
 * only if every rank could. Returns non-zero when the files were not named. */
static int finish_rank_outputs(batch *b, int stopped)
{
    int64_t bad = 0, any = 1;
    if (!stopped && dusk_rank() != 0 &&
        ((b->values && dusk_npy_commit(&b->values) != 0) ||
         (b->vectors && dusk_npy_commit(&b->vectors) != 0))) {
        fprintf(stderr, "%s: cannot finish writing %s: %s\n", prog, b->opt.output, strerror(errno));
        bad = 1;
    }
    if (!stopped && dusk_ranks_max(bad, &any) != 0) dusk_abort(CLI_EXIT_FAILURE);
    if (!any && dusk_rank() == 0 && finish_outputs(b, 1, "finished") != 0) {
        fprintf(stderr, "%s: cannot finish writing %s: %s\n", prog, b->opt.output, strerror(errno));
        bad = 1;
    }
    int err = errno;
    if (b->values) (void)!dusk_npy_suspend(&b->values);
    if (b->vectors) (void)!dusk_npy_suspend(&b->vectors);
    errno = err;
    return stopped || any || bad;
}

/* The end of a run of several ranks, agreed between them. Each rank wrote the results of its
 * own tasks (NaN rows for those that failed) and saved its manifest as it went; rank 0 gathers
 * the failures (failures.json) and the verification figures and merges the manifests. A
 * signal (mpirun passes Ctrl-C on to every rank) or an error on any rank stops the job with
 * the files kept for --resume, as with one process. Rank 0 prints the summary, timed until
 * every rank is done. Returns the job's exit status, the same on every rank. */
static int end_of_ranks(batch *b, const dusk_graph *g, double start, int64_t already,
                        int submit_error, int argc, char **argv)
{
    int64_t failed, causes, sig, stopped, any_failed, bad;
    size_t len, all_len, checks_len;
    char check[512];
    dusk_graph_counts(g, NULL, NULL, &failed);
    if (failed) print_failures(b, g, failed);
    char *lines = failure_lines(g, &len, &causes), *all = NULL, *checks = NULL;
    int io = atomic_load(&b->io_error);
    if (io)
        fprintf(stderr, "%s: cannot write results to %s: %s\n", prog, b->opt.output, strerror(io));
    verification_line(b, check, sizeof check);
    if (dusk_ranks_max(io || submit_error || lines == NULL, &stopped) != 0 ||
        dusk_ranks_max(atomic_load(&stop_signal), &sig) != 0 ||
        dusk_ranks_max(failed > 0, &any_failed) != 0 ||
        dusk_ranks_gather(lines ? lines : "", lines ? len : 0, &all, &all_len) != 0 ||
        dusk_ranks_gather(check, strlen(check), &checks, &checks_len) != 0)
        dusk_abort(CLI_EXIT_FAILURE);
    free(lines);
    double elapsed = dusk_now() - start;
    stopped = stopped || sig;

    /* what each rank made is in its manifest before rank 0 merges them */
    bad = dusk_rank() != 0 && b->manifest &&
          dusk_manifest_save(b->manifest, stopped ? "interrupted" : "finished") != 0;
    if (bad)
        fprintf(stderr, "%s: cannot save what this rank did in %s: %s\n", prog, b->opt.output,
                strerror(errno));
    int64_t total_causes = 0;
    if (dusk_rank() == 0) {
        for (const char *c = all; c && *c; c++)
            total_causes += *c == '\n';
        if (b->opt.output &&
            dusk__outdir_write_failures(b->opt.output, "dusk-eigh", b->ntasks, all)) {
            fprintf(stderr, "%s: cannot write %s/failures.json: %s\n", prog, b->opt.output,
                    strerror(errno));
            bad = 1;
        }
        combine_verification(b, checks);
    }
    free(all);
    free(checks);
    if (dusk_ranks_max(bad, &bad) != 0) dusk_abort(CLI_EXIT_FAILURE);
    stopped = stopped || bad;
    if (dusk_rank() == 0 && b->manifest) {
        if (rank_manifests(b, 1) != 0 ||
            (stopped && dusk_manifest_save(b->manifest, "interrupted") != 0))
            stopped = 1;
    }
    if (dusk_ranks_max(stopped, &stopped) != 0) dusk_abort(CLI_EXIT_FAILURE);
    stopped = finish_rank_outputs(b, (int)stopped);

    int status = CLI_EXIT_OK;
    if (dusk_rank() == 0 && !stopped) {
        int64_t ran = b->ntasks - already;
        print_summary(b, ran, already, total_causes, elapsed);
        if (any_failed) status = CLI_EXIT_TASKS_FAILED;
        if (b->opt.verify && ran) print_verification(b, ran, &status); /* as with one process */
    } else if (dusk_rank() == 0) {
        status = sig ? 128 + (int)sig : CLI_EXIT_FAILURE;
        print_stopped(b, argc, argv);
    }
    fflush(stdout);
    int64_t job;
    if (dusk_ranks_max(status, &job) != 0) dusk_abort(CLI_EXIT_FAILURE);
    return (int)job;
}

/* The end of a run of one process. Finished, with or without failed tasks: the files get
 * their names, failed rows are NaN and failures.json lists them (exit 3). Stopped early (a
 * signal, an error): the files stay PATH.partial and the manifest says what is in them; the
 * message says how to resume. Returns the exit status. */
static int end_of_run(batch *b, const dusk_graph *g, double elapsed, int64_t already,
                      int submit_error, int argc, char **argv)
{
    size_t len;
    int64_t causes, failed;
    dusk_graph_counts(g, NULL, NULL, &failed);
    char *lines = failure_lines(g, &len, &causes);
    int sig = atomic_load(&stop_signal), stopped = sig != 0 || submit_error;
    int status = failed ? CLI_EXIT_TASKS_FAILED : CLI_EXIT_OK;
    if (failed) print_failures(b, g, failed);
    int io = atomic_load(&b->io_error);
    if (io) {
        fprintf(stderr, "%s: cannot write results to %s: %s\n", prog, b->opt.output, strerror(io));
        stopped = 1;
    }
    if (b->opt.output && (lines == NULL || dusk__outdir_write_failures(b->opt.output, "dusk-eigh",
                                                                       b->ntasks, lines) != 0)) {
        fprintf(stderr, "%s: cannot write %s/failures.json: %s\n", prog, b->opt.output,
                strerror(errno));
        stopped = 1;
    }
    free(lines);
    if (b->opt.output && finish_outputs(b, !stopped, stopped ? "interrupted" : "finished") != 0) {
        fprintf(stderr, "%s: cannot finish writing %s: %s\n", prog, b->opt.output, strerror(errno));
        stopped = 1;
    }
    if (!stopped) {
        int64_t todo = b->ntasks - already;
        print_summary(b, todo, already, causes, elapsed);
        if (b->opt.verify && todo) print_verification(b, todo, &status);
        return status;
    }
    print_stopped(b, argc, argv);
    return sig ? 128 + sig : CLI_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    batch b;
    memset(&b, 0, sizeof b);
    b.opt.n = 1000;
    b.opt.ntasks = 128;
    if (dusk_rank_count() > 1) snprintf(prog, sizeof prog, "dusk-eigh: rank %d", dusk_rank());
    quiet_handler = dusk_rank() != 0;
    stderr_tty = isatty(STDERR_FILENO);
    app.name = prog;
    app.ctx = &b.opt;
    dusk_config cfg;
    int ret = cli_parse(&app, argc, argv, &cfg);
    if (ret >= 0) return ret;
    b.opt.verbose = cfg.verbose;
    if (b.opt.resume) {
        if (b.opt.output && strcmp(b.opt.output, b.opt.resume) != 0)
            return cli_usage_error(&app, "--output %s and --resume %s name different directories",
                                   b.opt.output, b.opt.resume);
        b.opt.output = b.opt.resume;
    }
    if (b.opt.vectors && b.opt.values_only)
        return cli_usage_error(&app, "--vectors and --values-only exclude each other");
    if (b.opt.vectors && !b.opt.output)
        return cli_usage_error(&app, "--vectors needs --output DIR");
    if (b.opt.input && (b.opt.philox || b.opt.seed_set))
        return cli_usage_error(&app, "--%s applies to generated matrices, not to --input",
                               b.opt.philox ? "rng" : "seed");
    if (!b.opt.input && !b.opt.philox && b.opt.seed + b.opt.ntasks - 1 > (long long)UINT32_MAX)
        return cli_usage_error(&app,
                               "--seed %lld + --ntasks %lld goes past NumPy's largest "
                               "seed (2**32 - 1)",
                               b.opt.seed, b.opt.ntasks);
    b.n = b.opt.n;
    b.ntasks = b.opt.ntasks;

    /* Every rank reads the input's header; each reads only its own matrices later. Rank 0
     * alone makes the output files (a rank that exits here ends the whole job). */
    dusk_input *input = NULL;
    if (b.opt.input && (ret = open_input(&b, &input)) >= 0) return ret;
    params_line(&b, b.params, sizeof b.params);
    /* Caught from here on, so that a signal during start-up is a clean stop too (under
     * several ranks, every rank then stops at its first task and they agree at the end).
     * StarPU's own SIGINT handler, installed by dusk_init(), passes it on to ours. */
    catch_signals();
    if ((ret = check_resources(&b, &cfg)) >= 0) {
        dusk_input_close(&input);
        return ret;
    }
    if (dusk_rank() == 0 && (ret = open_outputs(&b)) >= 0) {
        dusk_input_close(&input);
        return ret;
    }

    char why[256];
    double t0 = dusk_now();
    if ((ret = dusk_init(&cfg, why, sizeof why)) != 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        (void)finish_outputs(&b, 0, b.opt.resume ? "interrupted" : "running");
        dusk_manifest_close(&b.manifest);
        dusk_input_close(&input);
        return ret == DUSK_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    double t_init = dusk_now() - t0;
    int nranks = dusk_rank_count(), rank0 = dusk_rank() == 0;
    pthread_mutex_init(&b.lock, NULL);
    if (nranks > 1 && b.opt.output && (ret = join_outputs(&b)) != 0) {
        (void)!finish_outputs(&b, 0, "interrupted");
        dusk_shutdown();
        dusk_manifest_close(&b.manifest);
        dusk_input_close(&input);
        return ret;
    }
    /* what was done before: rank 0 has it in its manifest, the other ranks read it */
    const dusk_manifest *before = b.prior ? b.prior : dusk_rank() == 0 ? b.manifest : NULL;
    int64_t already = dusk_manifest_done_count(before);

    dusk_graph *g = NULL;
    if ((ret = dusk_graph_new(&g)) != 0) {
        fprintf(stderr, "%s: cannot make the graph: %s\n", prog, dusk_strerror(ret));
        if (nranks > 1) dusk_abort(CLI_EXIT_FAILURE);
        dusk_shutdown();
        return CLI_EXIT_FAILURE;
    }
    char source[4200], settings[4800], ranks[64] = "", gpus[48] = "";
    if (input)
        snprintf(source, sizeof source, "input=%s", b.opt.input);
    else
        snprintf(source, sizeof source, "seed=%lld%s", b.opt.seed,
                 b.opt.philox ? " rng=philox" : "");
    if (dusk_cuda_worker_count() > 0)
        snprintf(gpus, sizeof gpus, ", %d GPU workers", dusk_cuda_worker_count());
    if (nranks > 1)
        snprintf(ranks, sizeof ranks, " on each of %d ranks (%s)", nranks,
                 b.opt.block ? "block" : "cyclic");
    snprintf(
        settings, sizeof settings,
        "n=%lld ntasks=%lld %s (%s), %d CPU workers%s%s, sched=%s, %d BLAS thread%s per worker",
        (long long)b.n, (long long)b.ntasks, source,
        b.opt.values_only ? "eigenvalues only" : "eigenvalues and eigenvectors",
        dusk_cpu_worker_count(), gpus, ranks, dusk_sched_name(), cfg.blas_threads,
        cfg.blas_threads == 1 ? "" : "s");
    if (cfg.verbose >= 0 && rank0) {
        printf("dusk-eigh: %s\n", settings);
        if (b.opt.resume)
            printf("dusk-eigh: resuming %s: %lld of %lld tasks already done\n", b.opt.resume,
                   (long long)already, (long long)b.ntasks);
        fflush(stdout);
    }
    dusk_set_run_info(settings);
    int64_t todo = b.ntasks - already;
    if (nranks == 1) {
        (void)dusk_graph_progress(g, todo, "eigh");
    } else if (dusk_rank() == 0) {
        /* one bar, rank 0's: its share of the batch, a fair sample of the whole */
        int64_t mine = 0;
        for (int64_t i = 0; i < b.ntasks; i++)
            mine += owner_of(&b, i) == 0 && !dusk_manifest_is_done(before, i);
        (void)dusk_graph_progress(g, mine, "eigh, rank 0");
    }
    if (b.manifest && dusk_manifest_autosave(b.manifest, 1.0) != 0)
        fprintf(stderr, "%s: warning: the manifest is saved only at the end\n", prog);
    atomic_store(&running, g);
    /* Ours again in place of StarPU's. Several ranks: mpirun passes a signal on to every
     * rank, and each stops on its own (no data moves between them). */
    catch_signals();

    if (nranks > 1 && dusk_barrier() != 0) dusk_abort(CLI_EXIT_FAILURE); /* time from here */
    double start = dusk_now();
    int submit_error = 0;
    for (int64_t i = 0; i < b.ntasks && !submit_error && !atomic_load(&stop_signal); i++) {
        if (dusk_manifest_is_done(before, i)) continue;
        ret = submit_matrix(g, &b, input, i);
        if (ret != 0 && ret != DUSK_ECANCELED) {
            fprintf(stderr, "%s: cannot submit task %lld: %s\n", prog, (long long)i,
                    dusk_strerror(ret));
            /* the other ranks would wait for this one's data forever */
            if (nranks > 1) dusk_abort(CLI_EXIT_FAILURE);
            submit_error = 1;
            dusk_graph_cancel(g);
        }
    }
    ret = dusk_graph_wait(g);
    double elapsed = dusk_now() - start;
    forget_running_graph();
    (void)!dusk_manifest_autosave(b.manifest, 0); /* the last save is below */

    int status = nranks > 1 ? end_of_ranks(&b, g, start, already, submit_error, argc, argv)
                            : end_of_run(&b, g, elapsed, already, submit_error, argc, argv);
    if (cfg.verbose > 0)
        fprintf(stderr,
                "%s: start-up %.3f s, peak %lld tasks in flight (window), peak memory "
                "%.1f MB\n",
                prog, t_init, (long long)dusk_graph_peak_in_flight(g),
                (double)dusk_peak_rss() / 1e6);
    (void)ret;
    dusk_graph_free(&g);
    dusk_shutdown();
    dusk_manifest_close(&b.manifest);
    dusk_manifest_close(&b.prior);
    dusk_input_close(&input);
    pthread_mutex_destroy(&b.lock);
    return status;
}
