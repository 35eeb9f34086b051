/* dusk-reduce: build a small graph with dusk's API and run it, in the spirit of the
 * tutorial's Dask step. K chunks of M uniform numbers are drawn (fan-out), each chunk is
 * reduced to its sum of squares, and the partial sums are added pairwise in a tree (fan-in)
 * to one number, checked against a plain serial loop (unless --no-check). The graph is built
 * first (held), then computed, like Dask's delayed + compute. Uses only dusk's public API. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dusk.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"

/* What one chunk of the held graph costs before it runs (3 tasks, 3 data objects, keys):
 * measured 1.18 GB peak for 200,000 chunks of one value, 5.9 KB each (2026-11-25; 3.2 GB
 * while every data object had its StarPU handle from the start). */
#define BYTES_PER_CHUNK 8192

typedef struct options {
    long long chunks, size, seed;
    int no_check;
} options;

enum { OPT_CHUNKS = 1, OPT_SIZE, OPT_SEED, OPT_NO_CHECK };

static const struct option longopts[] = {
    {"chunks", required_argument, NULL, OPT_CHUNKS},
    {"size", required_argument, NULL, OPT_SIZE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"no-check", no_argument, NULL, OPT_NO_CHECK},
    {NULL, 0, NULL, 0},
};

static cli_app app;

static int handle(void *ctx, int opt, const char *arg)
{
    options *o = ctx;
    switch (opt) {
    case OPT_CHUNKS:
        return cli_int(&app, "--chunks", arg, 1, 1 << 24, &o->chunks);
    case OPT_SIZE:
        return cli_int(&app, "--size", arg, 1, 1 << 26, &o->size);
    case OPT_SEED:
        return cli_int(&app, "--seed", arg, 0, UINT32_MAX, &o->seed);
    case OPT_NO_CHECK:
        o->no_check = 1;
        return 0;
    }
    return cli_usage_error(&app, "unhandled option");
}

static cli_app app = {
    .name = "dusk-reduce",
    .synopsis = "[--chunks K] [--size M] [--seed S] [--no-check] [runtime options]",
    .description =
        "Sum the squares of K chunks of M uniform numbers with a task graph: K generate\n"
        "tasks, K square-sum tasks and a pairwise tree of K - 1 add tasks, built first\n"
        "and then computed; the result is checked against a serial loop (unless --no-check).",
    .options_help =
        "Options:\n"
        "      --chunks K        number of chunks (default 64)\n"
        "      --size M          numbers per chunk (default 100000)\n"
        "      --seed S          chunk c draws after np.random.seed(S + c) (default 0)\n"
        "      --no-check        skip the serial loop that checks the result (it draws every\n"
        "                        number again, on one thread: longer than the graph itself\n"
        "                        on several workers)\n",
    .shortopts = "",
    .longopts = longopts,
    .handle = handle,
};

/* sumsq: p (W, 1) = sum of x² for x (R, any shape) */
static int sumsq_cpu(dusk_call *call)
{
    int64_t xd[2], pd[2];
    const double *x = dusk_call_data(call, 0, xd);
    double *p = dusk_call_data(call, 1, pd), s = 0;
    for (int64_t i = 0; i < xd[0] * xd[1]; i++)
        s += x[i] * x[i];
    p[0] = s;
    return 0;
}

/* add: c (W, 1) = a + b */
static int add_cpu(dusk_call *call)
{
    int64_t d[2];
    double a = dusk_call_data(call, 0, d)[0], b = dusk_call_data(call, 1, d)[0];
    dusk_call_data(call, 2, d)[0] = a + b;
    return 0;
}

static void take(void *user, int status, const double *values, const int64_t dims[2])
{
    (void)dims;
    *(double *)user = status == 0 ? values[0] : NAN;
}

static int submit(dusk_graph *g, const dusk_kernel *k, const char *key, const dusk_arg *args,
                  int nargs, const void *value, size_t size)
{
    dusk_task_opts o;
    dusk_task_opts_init(&o);
    o.key = key;
    return dusk_task_submit(g, k, args, nargs, value, size, &o, NULL);
}

/* Build the graph: returns 0 or a dusk error; *result is read when the graph is computed. */
static int build(dusk_graph *g, const options *o, dusk_kernel *sumsq, dusk_kernel *add,
                 double *result)
{
    int64_t k = o->chunks;
    dusk_data **level = calloc((size_t)k, sizeof *level);
    char key[64];
    int ret = 0;
    if (level == NULL) return DUSK_ENOMEM;
    for (int64_t c = 0; c < k && ret == 0; c++) {
        dusk_data *x;
        uint32_t seed = (uint32_t)(o->seed + c);
        if ((ret = dusk_matrix_new(g, 1, o->size, &x)) || (ret = dusk_vector_new(g, 1, &level[c])))
            break;
        dusk_arg gen[] = {{x, DUSK_W}}, sq[] = {{x, DUSK_R}, {level[c], DUSK_W}};
        snprintf(key, sizeof key, "gen-%lld", (long long)c);
        if ((ret = submit(g, dusk_kernel_gen(), key, gen, 1, &seed, sizeof seed)) == 0) {
            snprintf(key, sizeof key, "sumsq-%lld", (long long)c);
            ret = submit(g, sumsq, key, sq, 2, NULL, 0);
        }
        dusk_data_release(&x);
    }
    /* pairwise tree: level i has ceil(n / 2) sums of level i - 1 */
    for (int64_t n = k, depth = 1; n > 1 && ret == 0; n = (n + 1) / 2, depth++) {
        for (int64_t i = 0; i + 1 < n && ret == 0; i += 2) {
            dusk_data *sum;
            if ((ret = dusk_vector_new(g, 1, &sum)) != 0) break;
            dusk_arg args[] = {{level[i], DUSK_R}, {level[i + 1], DUSK_R}, {sum, DUSK_W}};
            snprintf(key, sizeof key, "add-%lld-%lld", (long long)depth, (long long)(i / 2));
            ret = submit(g, add, key, args, 3, NULL, 0);
            dusk_data_release(&level[i]);
            dusk_data_release(&level[i + 1]);
            level[i / 2] = sum;
        }
        if (n % 2 == 1 && ret == 0) level[(n - 1) / 2] = level[n - 1];
    }
    if (ret == 0) ret = dusk_data_read(level[0], take, result);
    dusk_data_release(&level[0]);
    free(level);
    return ret;
}

int main(int argc, char **argv)
{
    options o = {64, 100000, 0, 0};
    /* before any file is opened: a closed stdout or stderr would be the first file's number */
    if (dusk_std_fds_open() != 0) {
        perror("dusk-reduce: cannot open /dev/null for a closed standard descriptor");
        return DUSK_EXIT_FAILURE;
    }
    app.ctx = &o;
    dusk_config cfg;
    int ret = cli_parse(&app, argc, argv, &cfg);
    if (ret >= 0) return ret;
    if (o.seed + o.chunks - 1 > (long long)UINT32_MAX)
        return cli_usage_error(&app, "--seed + --chunks goes past the largest seed (2**32 - 1)");

    /* Refuse a graph that cannot fit before building it: every chunk is recorded up front
     * (held), then each worker holds up to two chunks of values while it runs, and the
     * serial check needs one more. */
    int workers = dusk_config_cpu_workers(&cfg);
    int64_t chunk = dusk_mul_sat(o.size, 8);
    int64_t need = dusk_mul_sat(o.chunks, BYTES_PER_CHUNK) +
                   dusk_mul_sat(chunk, 2 * (int64_t)(workers > 0 ? workers : 1) + !o.no_check);
    char what[96];
    snprintf(what, sizeof what, "--chunks %lld --size %lld", o.chunks, o.size);
    if ((ret = cli_check_memory(&app, need, what)) >= 0) return ret;

    char why[256];
    if ((ret = dusk_init(&cfg, why, sizeof why)) != 0) {
        fprintf(stderr, "dusk-reduce: %s\n", why);
        return ret == DUSK_EINVAL ? DUSK_EXIT_USAGE : DUSK_EXIT_FAILURE;
    }
    char info[160];
    int ncpu = dusk_cpu_worker_count();
    snprintf(info, sizeof info, "dusk-reduce chunks=%lld size=%lld seed=%lld, %d CPU worker%s%s",
             o.chunks, o.size, o.seed, ncpu, ncpu == 1 ? "" : "s", o.no_check ? ", no check" : "");
    dusk_set_run_info(info);
    /* Under mpirun every rank builds the graph; its data are rank 0's (the default owner),
     * so rank 0 runs every task and reports, the other ranks only take part. */
    int rank = dusk_rank();
    if (cfg.verbose >= 0 && rank == 0) printf("%s\n", info);

    dusk_kernel *sumsq = NULL, *add = NULL;
    dusk_graph *g = NULL;
    double result = NAN;
    if ((ret = dusk_kernel_new("sumsq", sumsq_cpu, &sumsq)) ||
        (ret = dusk_kernel_new("add", add_cpu, &add)) || (ret = dusk_graph_new(&g))) {
        fprintf(stderr, "dusk-reduce: %s\n", dusk_strerror(ret));
        dusk_shutdown();
        return DUSK_EXIT_FAILURE;
    }
    (void)dusk_graph_progress(g, 0, "tasks");
    double t0 = dusk_now();
    if ((ret = dusk_graph_hold(g)) == 0) ret = build(g, &o, sumsq, add, &result);
    if (ret != 0) fprintf(stderr, "dusk-reduce: cannot build the graph: %s\n", dusk_strerror(ret));
    int computed = dusk_graph_compute(g);
    double elapsed = dusk_now() - t0;
    int64_t ntasks, failed;
    dusk_graph_counts(g, &ntasks, NULL, &failed);
    dusk_graph_free(&g);
    dusk_shutdown();
    dusk_kernel_free(&sumsq);
    dusk_kernel_free(&add);
    if (ret != 0 || computed != 0) {
        fprintf(stderr, "dusk-reduce: %lld of %lld tasks failed\n", (long long)failed,
                (long long)ntasks);
        return DUSK_EXIT_FAILURE;
    }
    if (rank != 0) return DUSK_EXIT_OK;

    printf("Processed %lld tasks in %.3f s (%.0f tasks/s)\n", (long long)ntasks, elapsed,
           (double)ntasks / elapsed);
    if (o.no_check) {
        printf("Sum of squares: %.10g (not checked: --no-check; expected about %.4g)\n", result,
               (double)o.chunks * (double)o.size / 3.0);
        return DUSK_EXIT_OK;
    }

    /* the same sum, serially */
    double serial = 0, *x = malloc((size_t)o.size * sizeof *x);
    if (x == NULL) {
        fprintf(stderr, "dusk-reduce: out of memory for the serial check (--no-check skips it)\n");
        return DUSK_EXIT_FAILURE;
    }
    for (long long c = 0; c < o.chunks; c++) {
        double s = 0;
        dusk_mt19937_fill((uint32_t)(o.seed + c), x, o.size);
        for (long long i = 0; i < o.size; i++)
            s += x[i] * x[i];
        serial += s;
    }
    free(x);
    /* the graph adds the partial sums in another order: equal to rounding */
    double diff = fabs(result - serial) / serial;
    printf("Sum of squares: %.10g (serial loop: %.10g, relative difference %.1e; expected "
           "about %.4g)\n",
           result, serial, diff, (double)o.chunks * (double)o.size / 3.0);
    if (!(diff < 1e-12)) {
        fprintf(stderr, "dusk-reduce: the graph's result differs from the serial loop\n");
        return DUSK_EXIT_FAILURE;
    }
    return DUSK_EXIT_OK;
}
