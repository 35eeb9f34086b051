/* dusk-eigh: the tutorial's batch. For each task i, b = rand(n, n) seeded with seed + i
 * (NumPy's legacy generator, bit for bit, or Philox4x32-10 with --rng philox, which GPUs can
 * run too), a = bᵀb, and eigh(a); or eigh of each matrix of a .npy file. Everything that makes
 * a batch robust (outputs written in place, resume, signals, ranks, chunks) is the batch layer
 * (dusk_batch.h), and what it says is the standard text reporter (dusk_cli.h); this file holds
 * eigh's own logic: its flags, the tasks per chunk, and the verification. Uses only dusk's
 * public API. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dusk.h"
#include "dusk_batch.h"
#include "dusk_cli.h"
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
    const char *input, *output, *resume, *format;
    const char *cont;           /* --continue DIR: --output DIR, or --resume DIR of this same run */
    int block;                  /* --distribution block: contiguous runs of tasks per rank */
    long long share_k, share_n; /* --share K/N; share_n 0: none */
} options;

static options opt; /* getopt_long sets the flags without a value itself */

/* The long flags with a value are named by a letter of their own (they have no short form). */
static const struct option longopts[] = {
    {"ntasks", required_argument, NULL, 'T'},
    {"seed", required_argument, NULL, 'S'},
    {"values-only", no_argument, &opt.values_only, 1},
    {"input", required_argument, NULL, 'I'},
    {"output", required_argument, NULL, 'O'},
    {"vectors", no_argument, &opt.vectors, 1},
    {"verify", no_argument, &opt.verify, 1},
    {"resume", required_argument, NULL, 'R'},
    {"continue", required_argument, NULL, 'C'},
    {"distribution", required_argument, NULL, 'D'},
    {"share", required_argument, NULL, 'A'},
    {"rng", required_argument, NULL, 'G'},
    {"chunk", required_argument, NULL, 'K'},
    {"overwrite", no_argument, &opt.overwrite, 1},
    {"format", required_argument, NULL, 'F'},
    {NULL, 0, NULL, 0},
};

static cli_app app;

/* "dusk-eigh", or "dusk-eigh: rank K" under several ranks: each line on stderr names its rank */
static char prog[48] = "dusk-eigh";

/* 0 or 1 for arg naming the first or the second word, else a usage error (-2 - that). */
static int pick(const char *flag, const char *arg, const char *w0, const char *w1)
{
    if (strcmp(arg, w0) == 0 || strcmp(arg, w1) == 0) return strcmp(arg, w1) == 0;
    return -2 - cli_usage_error(&app, "%s '%s': expected %s or %s", flag, arg, w0, w1);
}

static int handle(void *ctx, int opt_id, const char *arg)
{
    options *o = ctx;
    int w;
    switch (opt_id) {
    case 0: /* a flag getopt_long has set */
        return 0;
    case 'n':
        o->n_set = 1;
        return cli_int(&app, "-n", arg, 1, MAX_N, &o->n);
    case 'T':
        o->ntasks_set = 1;
        return cli_int(&app, "--ntasks", arg, 1, INT32_MAX, &o->ntasks);
    case 'S':
        o->seed_set = 1;
        return cli_int(&app, "--seed", arg, 0, UINT32_MAX, &o->seed);
    case 'I':
        if (*arg == '\0') return cli_usage_error(&app, "--input: the file name is empty");
        /* the manifest records it on its one line of flags, for --resume */
        if (strchr(arg, '\n') != NULL)
            return cli_usage_error(&app, "--input: the file name holds a newline, which the "
                                         "run's manifest cannot record");
        o->input = arg;
        return 0;
    case 'O':
        /* room for "/eigenvectors.npy.partial" in a 4096-byte path */
        if (*arg == '\0' || strlen(arg) > 4000)
            return cli_usage_error(&app, "--output: '%.40s' is not a usable directory name", arg);
        o->output = arg;
        return 0;
    case 'R':
        return o->resume = arg, 0;
    case 'C':
        if (*arg == '\0' || strlen(arg) > 4000)
            return cli_usage_error(&app, "--continue: '%.40s' is not a usable directory name", arg);
        o->cont = arg;
        return 0;
    case 'F':
        if ((w = pick("--format", arg, "npy", "h5")) < 0) return -2 - w;
        if (w == 1 && !dusk_have_hdf5())
            return cli_usage_error(&app, "--format h5: this dusk was built without HDF5 "
                                         "(install libhdf5-dev and rebuild)");
        o->format = arg;
        return 0;
    case 'K':
        o->chunk = 0;
        return strcmp(arg, "auto") == 0 ? 0
                                        : cli_int(&app, "--chunk", arg, 1, INT32_MAX, &o->chunk);
    case 'G':
        return (w = pick("--rng", arg, "numpy", "philox")) < 0 ? -2 - w : (o->philox = w, 0);
    case 'D':
        return (w = pick("--distribution", arg, "cyclic", "block")) < 0 ? -2 - w
                                                                        : (o->block = w, 0);
    case 'A':
        return cli_share(&app, "--share", arg, &o->share_k, &o->share_n);
    }
    return cli_usage_error(&app, "unhandled option");
}

static cli_app app = {
    .name = "dusk-eigh",
    .synopsis = "[-n N] [--ntasks T] [--seed S] [--rng numpy|philox] [--values-only]\n"
                "                 [--input FILE.npy|FILE.h5[:DATASET]] [--output DIR]\n"
                "                 [--format npy|h5] [--vectors] [--verify] [--resume DIR]\n"
                "                 [--continue DIR] [--overwrite] [--distribution cyclic|block]\n"
                "                 [--chunk K|auto] [--share K/N|slurm]\n"
                "                 [runtime options]",
    .description =
        "Eigendecompose a batch of symmetric matrices on StarPU. By default task i draws\n"
        "b = rand(n, n) exactly as NumPy does after np.random.seed(S + i), forms a = bᵀb and\n"
        "computes eigh(a), as in the tutorial \"Intro to Parallel Python\".",
    .options_help =
        "Batch options:\n"
        "  -n N                  matrix size (default 1000)\n"
        "      --ntasks T        number of matrices (default 128)\n"
        "      --seed S          seed of task 0; task i uses S + i (default 0)\n"
        "      --rng numpy|philox  numpy (default): NumPy's MT19937 bit for bit, on CPUs;\n"
        "                        philox: Philox4x32-10, the same numbers on CPUs and GPUs\n"
        "      --values-only     eigenvalues only (much cheaper)\n"
        "      --input SPEC      the matrices of FILE.npy or FILE.h5:DATASET (FILE.h5 alone:\n"
        "                        its only one), float64/32, (T, n, n) or (n, n), symmetric\n"
        "      --output DIR      write DIR/eigenvalues.npy, shape (T, n), ascending rows\n"
        "      --format npy|h5   npy (default), or h5: DIR/results.h5, datasets /eigenvalues\n"
        "                        and /eigenvectors, the run's parameters as attributes\n"
        "      --vectors         also the eigenvectors, (T, n, n), in columns as numpy.linalg\n"
        "                        .eigh returns them (DIR/eigenvectors.npy)\n"
        "      --verify          check every result: residual ||AV - VΛ|| / (n||A||) <= 1e-12\n"
        "                        and ||VᵀV - I|| <= n * 1e-13 (with --values-only: the trace\n"
        "                        and Frobenius norm identities, <= 1e-12)\n"
        "      --chunk K|auto    matrices per task (DUSK_CHUNK): auto (default) sizes tasks so\n"
        "                        that the runtime's cost vanishes (1 at n = 1000, many at n =\n"
        "                        10); the results are the same bit for bit whatever K\n"
        "      --distribution D  under mpirun, which rank owns task i: cyclic (default,\n"
        "                        i mod K) or block (contiguous runs of T/K tasks)\n"
        "      --resume DIR      go on with the run that wrote DIR (stopped, killed, or with\n"
        "                        failed tasks), computing only the tasks not done, with its\n"
        "                        flags (flags given must match); under mpirun, any ranks\n"
        "      --continue DIR    one command for a job that may stop and run again (a\n"
        "                        requeued Slurm job): --output DIR when DIR holds no run;\n"
        "                        --resume DIR when it holds this run (the same -n, --ntasks,\n"
        "                        --seed, --rng, --input, --vectors/--values-only, --format)\n"
        "                        not finished; exit 0 saying so when it holds it finished;\n"
        "                        refused (exit 2) when it holds another run's outputs\n"
        "      --overwrite       start anew in an --output DIR holding a stopped run (its\n"
        "                        saved work is lost; refused without it)\n"
        "      --share K/N       compute share K of N (from 0) of the tasks, as rank K of N\n"
        "                        would, without MPI: N processes started apart (a Slurm job\n"
        "                        array) write one DIR, the last to finish names the outputs;\n"
        "                        --share slurm: K and N from the job array's task (--array=\n"
        "                        0-3, 5-8 or 0-7:2 give shares 0..3 of 4); with --continue\n"
        "                        DIR, a share run again goes on with its own tasks\n"
        "\n"
        "Exit status: 0 all tasks done (with --continue: also before); 1 the run failed (an\n"
        "input file refused, an output not written, not enough memory or disk, the\n"
        "verification failed); 2 bad usage (a flag or value, a missing file, an --output\n"
        "holding files of no dusk-eigh run or a stopped run, a --resume of another run or of\n"
        "no directory, a --continue of another run's outputs); 3 finished but some tasks\n"
        "failed (their rows are NaN, DIR/failures.json says why); 128+N stopped by signal N\n"
        "(130: Ctrl-C), resumable with --resume or --continue.\n",
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
    double tol[2];                                /* of the verification's two figures */
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
    pthread_mutex_lock(&x->lock);
    for (int64_t k = 0; v != NULL && k < count; k++) {
        if (dusk_read_item_status(r, k) != 0) continue;
        const double *c = v + 2 * k;
        x->nchecked++;
        for (int j = 0; j < 2; j++)
            if (!(c[j] <= x->worst[j])) x->worst[j] = c[j];
        if (!(c[0] <= x->tol[0] && c[1] <= x->tol[1])) { /* keep the 8 smallest ids, in order */
            int64_t id = cr->first + k * cr->step, j = x->nbad < 8 ? x->nbad : 8;
            for (; j > 0 && x->bad_ids[j - 1] > id; j--)
                if (j < 8) x->bad_ids[j] = x->bad_ids[j - 1];
            if (j < 8) x->bad_ids[j] = id;
            x->nbad++;
        }
    }
    pthread_mutex_unlock(&x->lock);
    dusk_read_done(&r);
    free(cr);
}

/* The tasks of one chunk of K matrices (the batch calls it for each chunk of this rank's): the
 * eigh pipeline (dusk_eigh_chunk_submit), then the verification. */
static int submit_chunk(void *user, dusk_graph *g, dusk_chunk *c)
{
    eigh_ctx *x = user;
    int64_t n = x->n, kk = dusk_chunk_count(c);
    int keep_a = x->opt.verify; /* verification needs A after eigh */
    int vectors = !x->opt.values_only, ret;
    dusk_data *a = NULL, *v = NULL, *w = NULL, *r = NULL;
    void *seeds = NULL;
    dusk_load_args la = {x->input, dusk_chunk_item(c, 0), SYMTOL, dusk_chunk_step(c)};
    dusk_eigh_chunk ec = {.args = {.vectors = vectors}};
    if ((ret = dusk_stack_new(g, kk, n, n, &a)) != 0 || (ret = dusk_stack_new(g, kk, n, 0, &w)))
        goto out;
    if (x->input != NULL) {
        ec.load = &la;
    } else {
        /* item i draws after seed S + i: K seeds, 32 bits for NumPy's, 64 for Philox */
        size_t each = x->opt.philox ? sizeof(uint64_t) : sizeof(uint32_t);
        uint64_t *s64 = seeds = malloc((size_t)kk * each);
        uint32_t *s32 = seeds;
        if (seeds == NULL) {
            ret = DUSK_ENOMEM;
            goto out;
        }
        for (int64_t j = 0; j < kk; j++) {
            uint64_t s = (uint64_t)x->opt.seed + (uint64_t)dusk_chunk_item(c, j);
            x->opt.philox ? (void)(s64[j] = s) : (void)(s32[j] = (uint32_t)s);
        }
        ec.seeds = seeds;
        ec.philox = x->opt.philox;
    }
    if (keep_a && (ret = dusk_stack_new(g, kk, n, n, &v)) != 0) goto out;
    ec.a = a;
    ec.w = w;
    ec.x = (dusk_arg){keep_a ? v : NULL, vectors ? DUSK_W : DUSK_SCRATCH};
    dusk_task_opts o;
    (void)dusk_task_opts_init(&o);
    dusk_chunk_task_opts(c, &o);
    o.flags = DUSK_TASK_COUNTS; /* eigh's: its end is its items' */
    if ((ret = dusk_eigh_chunk_submit(g, &ec, &o)) != 0) goto out;
    if (!keep_a) v = a, a = NULL; /* A became the eigenvectors */
    if (x->opt.verify) {
        check_read *cr = malloc(sizeof *cr);
        if (cr == NULL || (ret = dusk_stack_new(g, kk, 2, 0, &r)) != 0) {
            free(cr);
            ret = ret ? ret : DUSK_ENOMEM;
            goto out;
        }
        dusk_arg args[] = {{a, DUSK_R}, {w, DUSK_R}, {v, DUSK_R}, {r, DUSK_W}};
        if (!vectors) args[2] = args[3]; /* the identities need no vectors */
        *cr = (check_read){x, dusk_chunk_item(c, 0), dusk_chunk_step(c)};
        o.key = "verify";
        o.priority = 3;
        o.flags = 0;
        if ((ret = dusk_task_submit(g, dusk_kernel_verify(), args, vectors ? 4 : 3, NULL, 0, &o,
                                    NULL)) ||
            (ret = dusk_data_read_hold(r, on_checks, cr)) != 0) {
            free(cr);
            goto out;
        }
    }
    /* the batch writes the rows of both results */
    if ((ret = dusk_chunk_output(c, 0, w)) == 0 && x->opt.vectors) ret = dusk_chunk_output(c, 1, v);
out:
    free(seeds);
    dusk_data_release(&a);
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
    if (ret == 0 && dusk_input_fingerprint(x->input, x->fingerprint, sizeof x->fingerprint) != 0) {
        snprintf(why, sizeof why, "%s: cannot read it: %s", path, strerror(errno));
        dusk_input_close(&x->input);
        ret = DUSK_EFORMAT;
    }
    if (ret != 0) {
        /* `why` names the file (and dataset): a missing file or dataset, or a dataset to
         * choose, is the user's to fix (2); data dusk does not read is a failure (1) */
        fprintf(stderr, "%s: %s\n", prog, why);
        return ret == DUSK_EIO || ret == DUSK_EINVAL ? DUSK_EXIT_USAGE : DUSK_EXIT_FAILURE;
    }
    const char *conversion = dusk_input_conversion(x->input);
    if (conversion && verbose > 0 && dusk_rank() == 0)
        fprintf(stderr, "%s: %s: %s\n", prog, path, conversion);
    int nd = dusk_input_ndim(x->input);
    const int64_t *sh = dusk_input_shape(x->input);
    int64_t n = sh[nd - 1], t = nd == 3 ? sh[0] : 1;
    if (n < 1 || n > MAX_N || t > INT32_MAX) { /* T = 0 is an empty batch, as for NumPy */
        fprintf(stderr, "%s: %s: %s (%d-d, matrices of %lld x %lld)\n", prog, path,
                n < 1 ? "holds matrices of no size" : "has a size dusk-eigh does not take", nd,
                (long long)n, (long long)n);
        dusk_input_close(&x->input);
        return DUSK_EXIT_FAILURE;
    }
    if ((x->opt.n_set && x->opt.n != n) || (x->opt.ntasks_set && x->opt.ntasks != t)) {
        fprintf(stderr, "%s: %s holds %lld matrices of size %lld, not what -n/--ntasks say\n", prog,
                path, (long long)t, (long long)n);
        dusk_input_close(&x->input);
        return DUSK_EXIT_USAGE;
    }
    x->n = n;
    x->opt.ntasks = t;
    return -1;
}

/* Everything that decides the results, for the manifest: a resume must match it. */
static void params_line(const eigh_ctx *x, char *buf, size_t len)
{
    /* the input by its content (size, shape, dtype, dataset, sampled blocks), not its name:
     * a resume may spell or reach it otherwise */
    int at =
        snprintf(buf, len, "n=%lld ntasks=%lld values_only=%d vectors=%d source=", (long long)x->n,
                 x->opt.ntasks, x->opt.values_only, x->opt.vectors);
    if (x->opt.input)
        snprintf(buf + at, len - (size_t)at, "input fingerprint=%s", x->fingerprint);
    else
        snprintf(buf + at, len - (size_t)at, "seed:%lld%s", x->opt.seed,
                 x->opt.philox ? " rng:philox" : "");
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
        return x->opt.input ? DUSK_EXIT_FAILURE : DUSK_EXIT_USAGE;
    }
    /* Matrices a worker holds for one item: with eigenvectors, A and dsyevd's 2n² workspace
     * (and A's copy to verify); eigenvalues only, B and A (A, and its copy to verify, read). */
    int64_t matrices = !x->opt.values_only ? 3 + x->opt.verify
                       : x->opt.input      ? 1 + x->opt.verify
                                           : 2;
    int64_t matrix = dusk_mul_sat(dusk_mul_sat(x->n, x->n), 8);
    int workers = dusk_config_cpu_workers(cfg);
    *item_bytes = dusk_mul_sat(matrix, matrices);
    int64_t need = dusk_mul_sat(*item_bytes, workers > 0 ? workers : 1);
    char what[160], size[32];
    dusk_bytes_text(size, sizeof size, matrix);
    snprintf(what, sizeof what, "n = %lld (%lld matri%s of %s per worker, %d worker%s)",
             (long long)x->n, (long long)matrices, matrices == 1 ? "x" : "ces", size, workers,
             workers == 1 ? "" : "s");
    return cli_check_memory(&app, need, what);
}

/* The run's parameters, recorded with the outputs (attributes of results.h5). */
static int set_attrs(dusk_batch *b, const eigh_ctx *x)
{
    char n[24], t[24], seed[24];
    const char *dataset = x->input ? dusk_input_dataset(x->input) : NULL;
    snprintf(n, sizeof n, "%lld", (long long)x->n);
    snprintf(t, sizeof t, "%lld", x->opt.ntasks);
    snprintf(seed, sizeof seed, "%lld", x->opt.seed);
    int ret = dusk_batch_set_attr(b, "n", n) || dusk_batch_set_attr(b, "ntasks", t) ||
              dusk_batch_set_attr(b, "values_only", x->opt.values_only ? "1" : "0");
    if (x->input)
        return ret || dusk_batch_set_attr(b, "input", dusk_input_path(x->input)) ||
               (dataset && dusk_batch_set_attr(b, "dataset", dataset));
    return ret || dusk_batch_set_attr(b, "seed", seed) ||
           dusk_batch_set_attr(b, "generator",
                               x->opt.philox ? "philox4x32-10" : "numpy-legacy-mt19937");
}

/* GPU workers alone (--ncpu 0 or STARPU_NCPU=0): what runs only on CPUs cannot run (a StarPU
 * error otherwise). Exit code, or -1 to go on. */
static int check_cpu_needed(const options *o, int cpu_workers)
{
    if (cpu_workers != 0 || (!o->input && o->philox && !o->verify)) return -1;
    fprintf(stderr,
            "%s: %s needs a CPU worker, and this run has none (--ncpu 0 or STARPU_NCPU=0); "
            "--rng philox generates on the GPU\n",
            prog,
            o->input     ? "--input"
            : !o->philox ? "NumPy's generator (--rng numpy)"
                         : "--verify");
    return DUSK_EXIT_USAGE;
}

/* ---- the end ----------------------------------------------------------------------------- */

static int by_id(const void *p, const void *q)
{
    int64_t a = *(const int64_t *)p, b = *(const int64_t *)q;
    return (a > b) - (a < b);
}

/* Every rank's verification figures combined (the worst of non-negative doubles is the
 * largest of their bit patterns), printed on rank 0. A collective. */
static void report_verification(eigh_ctx *x, int64_t ran, int *status)
{
    int64_t checked, bad, worst[2], mine[8], *ids = NULL;
    size_t len;
    for (int j = 0; j < 8; j++)
        mine[j] = j < x->nbad ? x->bad_ids[j] : INT64_MAX;
    memcpy(worst, x->worst, sizeof worst);
    if (dusk_ranks_sum(x->nchecked, &checked) != 0 || dusk_ranks_sum(x->nbad, &bad) != 0 ||
        dusk_ranks_max(worst[0], &worst[0]) != 0 || dusk_ranks_max(worst[1], &worst[1]) != 0 ||
        dusk_ranks_gather((const char *)mine, sizeof mine, (char **)&ids, &len) != 0)
        dusk_abort(DUSK_EXIT_FAILURE);
    if (dusk_rank() != 0 || ran == 0) {
        free(ids);
        return;
    }
    double w[2];
    memcpy(w, worst, sizeof w); /* back from their bits */
    size_t nids = len / sizeof *ids;
    qsort(ids, nids, sizeof *ids, by_id); /* in order of task id, whatever the ranks */
    const char *what0 = x->opt.values_only ? "trace error" : "residual";
    const char *what1 = x->opt.values_only ? "norm error" : "orthogonality";
    double tol0 = x->tol[0], tol1 = x->tol[1];
    if (bad == 0) { /* those not checked failed before they could be: exit 3 says so */
        if (checked == ran)
            printf("Verified: all %lld", (long long)ran);
        else
            printf("Verified: %lld of %lld", (long long)checked, (long long)ran);
        printf(" tasks passed (max %s %.2e <= %.0e, max %s %.2e <= %.1e)", what0, w[0], tol0, what1,
               w[1], tol1);
        if (checked != ran)
            printf("; %lld failed before they could be verified", (long long)(ran - checked));
        printf("\n");
    } else {
        printf("Verified: %lld of %lld tasks FAILED (max %s %.2e, tolerance %.0e; max %s %.2e, "
               "tolerance %.1e); first failing tasks:",
               (long long)bad, (long long)ran, what0, w[0], tol0, what1, w[1], tol1);
        for (size_t k = 0; k < nids && k < 8 && ids[k] != INT64_MAX; k++)
            printf(" %lld", (long long)ids[k]);
        printf("\n");
        *status = DUSK_EXIT_FAILURE;
    }
    free(ids);
}

/* Parse the command line; with --resume DIR, the flags the run that wrote DIR was given come
 * first, so that the directory alone resumes it and the flags given must agree with them. */
static int parse(int argc, char **argv, eigh_ctx *x, dusk_config *cfg)
{
    opt = (options){.n = 1000, .ntasks = 128, .chunk = -1};
    x->argc = argc;
    x->argv = argv;
    app.ctx = &opt;
    int ret = cli_parse(&app, argc, argv, cfg);
    if (ret < 0 && opt.cont && (opt.output || opt.resume || opt.overwrite))
        return cli_usage_error(&app, "--continue DIR takes the place of %s",
                               opt.output   ? "--output"
                               : opt.resume ? "--resume"
                                            : "--overwrite");
    if (ret >= 0 || opt.resume == NULL) return ret;
    if (opt.output && strcmp(opt.output, opt.resume) != 0)
        return cli_usage_error(&app, "--output %s and --resume %s name different directories",
                               opt.output, opt.resume);
    if ((ret = cli_resume_argv(&app, opt.resume, argc, argv, &x->argc, &x->argv)) >= 0) return ret;
    opt = (options){.n = 1000, .ntasks = 128, .chunk = -1};
    return cli_parse(&app, x->argc, x->argv, cfg);
}

/* --continue DIR: a new run into DIR (--output), a resume of this run (--resume), or nothing
 * to do, as DIR's manifest says (dusk_cli_continue_state). Every rank decides from the same
 * files. Exit code, or -1 to go on. */
static int continue_run(options *o, const char *params, int verbose)
{
    dusk_cli_continue state;
    char why[5000];
    int ret = dusk_cli_continue_state(o->cont, "dusk-eigh", params, o->ntasks,
                                      o->format ? o->format : "npy", &state, why, sizeof why);
    if (ret != 0) {
        fprintf(stderr, "%s: --continue %s\n", prog, why);
        return DUSK_EXIT_FAILURE;
    }
    switch (state) {
    case DUSK_CLI_CONTINUE_NEW:
        o->output = o->cont;
        return -1;
    case DUSK_CLI_CONTINUE_RESUME:
        o->resume = o->cont;
        return -1;
    case DUSK_CLI_CONTINUE_FINISHED:
        if (dusk_rank() == 0 && verbose >= 0)
            printf("dusk-eigh: --continue %s: %s: nothing to do\n", o->cont, why);
        return DUSK_EXIT_OK;
    default: /* another run's outputs: they are left alone */
        if (dusk_rank() == 0)
            fprintf(stderr,
                    "%s: --continue %s %s: give another directory, or remove this one to start "
                    "again\n",
                    prog, o->cont, why);
        return DUSK_EXIT_USAGE;
    }
}

int main(int argc, char **argv)
{
    static eigh_ctx x = {.lock = PTHREAD_MUTEX_INITIALIZER};
    /* before any file is opened: a closed stdout or stderr would be the first file's number */
    if (dusk_std_fds_open() != 0) {
        perror("dusk-eigh: cannot open /dev/null for a closed standard descriptor");
        return DUSK_EXIT_FAILURE;
    }
    if (dusk_rank_count() > 1) snprintf(prog, sizeof prog, "dusk-eigh: rank %d", dusk_rank());
    app.name = prog;
    dusk_config cfg;
    int ret = parse(argc, argv, &x, &cfg);
    if (ret >= 0) return ret;
    x.opt = opt;
    options *o = &x.opt;
    if (o->resume) o->output = NULL;
    if (o->vectors && o->values_only)
        return cli_usage_error(&app, "--vectors and --values-only exclude each other");
    if (o->vectors && !o->output && !o->resume && !o->cont)
        return cli_usage_error(&app, "--vectors needs --output DIR");
    if (o->share_n > 0 && !o->output && !o->resume && !o->cont)
        return cli_usage_error(&app, "--share needs --continue DIR (or --output DIR): the "
                                     "directory the shares write together");
    if (o->format && !o->output && !o->resume && !o->cont)
        return cli_usage_error(&app, "--format needs --output DIR (the format of its files)");
    if (o->input && (o->philox || o->seed_set))
        return cli_usage_error(&app, "--%s applies to generated matrices, not to --input",
                               o->philox ? "rng" : "seed");
    if (!o->input && !o->philox && o->seed + o->ntasks - 1 > (long long)UINT32_MAX)
        return cli_usage_error(&app,
                               "--seed %lld + --ntasks %lld goes past NumPy's largest seed "
                               "(2**32 - 1)",
                               o->seed, o->ntasks);
    x.n = o->n;
    /* Every rank reads the input's header; each reads only its own matrices later. */
    if (o->input && (ret = open_input(&x, cfg.verbose)) >= 0) return ret;
    x.tol[0] = o->values_only ? TOL_VALUES_ONLY : TOL_RESIDUAL;
    x.tol[1] = o->values_only ? TOL_VALUES_ONLY : TOL_ORTH_PER_N * (double)x.n;
    int64_t item_bytes;
    char why[256];
    if ((ret = check_resources(&x, &cfg, &item_bytes)) >= 0) {
        dusk_input_close(&x.input);
        return ret;
    }
    /* Whatever would refuse the run once it is under way (the settings, the scheduler, the
     * trace directory, the workers) refuses it now, before dusk_batch_open() replaces the
     * files of a finished run in --output DIR: a run that cannot start leaves them as they
     * are. */
    if ((ret = dusk_init_check(&cfg, why, sizeof why)) != 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        dusk_input_close(&x.input);
        return ret == DUSK_EINVAL ? DUSK_EXIT_USAGE : DUSK_EXIT_FAILURE;
    }
    if (cfg.ncpu == 0 && (ret = check_cpu_needed(o, 0)) >= 0) {
        dusk_input_close(&x.input);
        return ret;
    }

    char params[4600];
    params_line(&x, params, sizeof params);
    if (o->cont && (ret = continue_run(o, params, cfg.verbose)) >= 0) {
        dusk_input_close(&x.input);
        return ret;
    }
    /* the first names the directory in the batch's messages */
    /* --share and its value are no part of the run's flags (every share records the same,
     * and a --resume by one process merges the shares) */
    static const char *const dir_flags[] = {"--output", "--resume", "--continue", "--share", NULL};
    static const char *const dir_flags_cont[] = {"--continue", "--output", "--resume", "--share",
                                                 NULL};
    static const char *const drop_flags[] = {"--overwrite", NULL};
    static const char *const path_flags[] = {"--input", "--trace", NULL};
    const int64_t vec[1] = {x.n}, mat[2] = {x.n, x.n};
    dusk_batch *b = NULL;
    if (dusk_batch_new("dusk-eigh", o->ntasks, &b) != 0 ||
        dusk_batch_add_output(b, "eigenvalues", 1, vec, NULL) != 0 ||
        (o->vectors && dusk_batch_add_output(b, "eigenvectors", 2, mat, NULL) != 0) ||
        ((o->output || o->format) &&
         dusk_batch_set_output(b, o->output ? o->output : o->resume, o->format) != 0) ||
        (o->resume && dusk_batch_resume(b, o->resume) != 0) || set_attrs(b, &x) != 0 ||
        dusk_batch_set_params(b, params) != 0 ||
        dusk_cli_batch_args(b, x.argc, x.argv, o->cont ? dir_flags_cont : dir_flags, drop_flags,
                            path_flags, o->cont ? "--continue" : "--resume") ||
        dusk_cli_report_text(b) != 0 ||
        dusk_batch_set_distribution(b, o->block ? DUSK_BLOCK : DUSK_CYCLIC) != 0 ||
        dusk_batch_set_share(b, o->share_k, o->share_n) != 0 ||
        dusk_batch_set_chunk(b, o->chunk, item_bytes) != 0 ||
        dusk_batch_set_overwrite(b, o->overwrite) != 0 || dusk_batch_set_label(b, "eigh") != 0 ||
        dusk_batch_set_noun(b, "task", "tasks") != 0 ||
        (o->input && dusk_batch_set_subject(b, "load", o->input) != 0) ||
        (x.input && dusk_batch_set_input(b, x.input) != 0)) {
        fprintf(stderr, "%s: cannot set up the batch\n", prog);
        return DUSK_EXIT_FAILURE;
    }
    if (dusk_batch_open(b) != 0) { /* the reporter has said why */
        ret = dusk_batch_exit_status(b);
        dusk_batch_free(&b);
        dusk_input_close(&x.input);
        return ret;
    }

    double t0 = dusk_now();
    if ((ret = dusk_init(&cfg, why, sizeof why)) != 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        dusk_batch_free(&b); /* the files stay as they are, for another try */
        dusk_input_close(&x.input);
        return ret == DUSK_EINVAL ? DUSK_EXIT_USAGE : DUSK_EXIT_FAILURE;
    }
    double t_init = dusk_now() - t0;
    int nranks = dusk_rank_count();
    if ((ret = check_cpu_needed(o, dusk_cpu_worker_count())) >= 0) {
        dusk_batch_free(&b);
        dusk_shutdown();
        return ret;
    }
    char settings[4800], gpus[48] = "", ranks[64] = "", seed[24];
    snprintf(seed, sizeof seed, "%lld", o->seed);
    int ncpu = dusk_cpu_worker_count(), ngpu = dusk_cuda_worker_count();
    int blas_threads = dusk_blas_threads_effective(cfg.blas_threads); /* OpenBLAS caps it */
    if (ngpu > 0) snprintf(gpus, sizeof gpus, ", %d GPU worker%s", ngpu, ngpu == 1 ? "" : "s");
    if (nranks > 1)
        snprintf(ranks, sizeof ranks, " on each of %d ranks (%s)", nranks,
                 o->block ? "block" : "cyclic");
    snprintf(settings, sizeof settings,
             "n=%lld ntasks=%lld %s%s%s (%s), %d CPU worker%s%s%s, sched=%s, %d BLAS thread%s per "
             "worker",
             (long long)x.n, (long long)o->ntasks,
             o->input ? "input=" : "seed=", o->input ? o->input : seed,
             o->philox ? " rng=philox" : "",
             o->values_only ? "eigenvalues only" : "eigenvalues and eigenvectors", ncpu,
             ncpu == 1 ? "" : "s", gpus, ranks, dusk_sched_name(), blas_threads,
             blas_threads == 1 ? "" : "s");
    if (cfg.verbose >= 0 && dusk_rank() == 0) printf("dusk-eigh: %s\n", settings);
    if (blas_threads != cfg.blas_threads && cfg.verbose > 0 && dusk_rank() == 0)
        printf("dusk-eigh: --blas-threads %d asked, but OpenBLAS caps it at %d\n", cfg.blas_threads,
               blas_threads);
    fflush(stdout);
    dusk_set_run_info(settings);

    (void)!dusk_batch_run(b, submit_chunk, &x); /* its reporter says what happened */
    int status = dusk_batch_exit_status(b);
    dusk_batch_summary sum;
    (void)!dusk_batch_get_summary(b, &sum);
    int64_t ran = sum.done + sum.failed, agreed;
    if (dusk_ranks_max(sum.finished, &agreed) != 0) dusk_abort(DUSK_EXIT_FAILURE);
    if (o->verify && agreed) { /* as many tasks as were computed, on every rank */
        int v = status;
        report_verification(&x, ran, &v);
        if (dusk_ranks_max(v, &agreed) != 0) dusk_abort(DUSK_EXIT_FAILURE);
        if (agreed == DUSK_EXIT_FAILURE) status = DUSK_EXIT_FAILURE;
    }
    fflush(stdout);
    if (cfg.verbose > 0)
        fprintf(stderr, "%s: start-up %.3f s, peak memory %.1f MB\n", prog, t_init,
                (double)dusk_peak_rss() / 1e6);
    dusk_batch_free(&b);
    dusk_shutdown();
    dusk_input_close(&x.input);
    return status;
}
