/* moments.c: for each of T samples of M numbers, drawn as NumPy draws them after
 * np.random.seed(S + i); np.random.rand(M), its mean, variance, skewness and excess kurtosis,
 * and a histogram of B bins over [0, 1): DIR/moments.npy (T, 4), DIR/histogram.npy (T, B). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk.h"
#include "dusk_batch.h"
#include "dusk_cli.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"

typedef struct run {
    long long items, size, seed, bins;
    dusk_kernel *stats;
} run;

/* stats: x (R, K samples of M) -> m (W, K x 4), h (W, K x B), item by item */
static int stats_cpu(dusk_call *call)
{
    int64_t count, xd[2], md[2], hd[2];
    const double *x = dusk_call_stack(call, 0, &count, xd);
    double *m = dusk_call_stack(call, 1, &count, md), *h = dusk_call_stack(call, 2, &count, hd);
    /* (every stack has the task's K items: count is K each time) */
    int64_t n = xd[0], bins = hd[0];
    for (int64_t k = 0; k < count; k++, x += n, m += 4, h += bins) {
        if (dusk_call_item_status(call, k) != 0) continue; /* its sample failed: skip it */
        double mean = 0, c2 = 0, c3 = 0, c4 = 0;
        for (int64_t j = 0; j < n; j++)
            mean += x[j];
        mean /= (double)n;
        memset(h, 0, (size_t)bins * sizeof *h);
        for (int64_t j = 0; j < n; j++) {
            double d = x[j] - mean, d2 = d * d;
            c2 += d2, c3 += d2 * d, c4 += d2 * d2;
            int64_t bin = (int64_t)(x[j] * (double)bins);
            h[bin < bins ? bin : bins - 1] += 1;
        }
        c2 /= (double)n, c3 /= (double)n, c4 /= (double)n;
        if (!(c2 > 0)) { /* this item alone fails: NaN rows, failures.json, exit 3 */
            dusk_call_fail_item(call, k, DUSK_EDATA, "its %lld numbers are all equal",
                                (long long)n);
            continue;
        }
        m[0] = mean, m[1] = c2, m[2] = c3 / (c2 * sqrt(c2)), m[3] = c4 / (c2 * c2) - 3;
    }
    return 0;
}

/* The tasks of one chunk of K samples: gen (NumPy's generator) -> stats. */
static int submit_chunk(void *user, dusk_graph *g, dusk_chunk *c)
{
    run *r = user;
    int64_t k = dusk_chunk_count(c);
    uint32_t *seeds = malloc((size_t)k * sizeof *seeds);
    dusk_data *x = NULL, *m = NULL, *h = NULL;
    int ret = seeds ? 0 : DUSK_ENOMEM;
    for (int64_t j = 0; ret == 0 && j < k; j++)
        seeds[j] = (uint32_t)(r->seed + dusk_chunk_item(c, j));
    if (ret == 0) ret = dusk_stack_new(g, k, r->size, 0, &x);
    if (ret == 0) ret = dusk_stack_new(g, k, 4, 0, &m);
    if (ret == 0) ret = dusk_stack_new(g, k, r->bins, 0, &h);
    dusk_task_opts o;
    (void)dusk_task_opts_init(&o);
    dusk_chunk_task_opts(c, &o); /* the tasks name their items, for failures and traces */
    o.key = "gen";
    dusk_arg gen[] = {{x, DUSK_W}}, stats[] = {{x, DUSK_R}, {m, DUSK_W}, {h, DUSK_W}};
    if (ret == 0)
        ret = dusk_task_submit(g, dusk_kernel_gen(), gen, 1, seeds, (size_t)k * 4, &o, NULL);
    o.key = "stats";
    o.flags = DUSK_TASK_COUNTS;
    if (ret == 0) ret = dusk_task_submit(g, r->stats, stats, 3, NULL, 0, &o, NULL);
    if (ret == 0) ret = dusk_chunk_output(c, 0, m); /* the batch writes their rows */
    if (ret == 0) ret = dusk_chunk_output(c, 1, h);
    free(seeds);
    dusk_data_release(&x);
    dusk_data_release(&m);
    dusk_data_release(&h);
    return ret;
}

int main(int argc, char **argv)
{
    run r = {.items = 2000, .size = 100000, .seed = 0, .bins = 16};
    const char *out = NULL, *resume = NULL;
    long long *value[] = {&r.items, &r.size, &r.seed, &r.bins};
    static const struct option opts[] = {
        {"items", 1, NULL, 0},  {"size", 1, NULL, 1},   {"seed", 1, NULL, 2}, {"bins", 1, NULL, 3},
        {"output", 1, NULL, 4}, {"resume", 1, NULL, 5}, {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == '?') return 2; /* getopt_long has said why */
        if (c >= 4) {
            *(c == 4 ? &out : &resume) = optarg;
            continue;
        }
        char *end;
        long long hi = c == 2 ? 0xffffffffLL : 1LL << 24; /* a seed is 32 bits */
        *value[c] = strtoll(optarg, &end, 10);
        if (end == optarg || *end != '\0' || *value[c] < (c != 2) || *value[c] > hi) {
            fprintf(stderr, "moments: --%s %s: expected a whole number from %d to %lld\n",
                    opts[c].name, optarg, c != 2, hi);
            return 2;
        }
    }
    if (optind < argc || (out == NULL) == (resume == NULL) || r.seed + r.items > (1LL << 32)) {
        fprintf(stderr, "usage: moments [--items T] [--size M] [--seed S] [--bins B] "
                        "--output DIR | --resume DIR\n");
        return 2;
    }
    char params[160];
    snprintf(params, sizeof params, "items=%lld size=%lld seed=%lld bins=%lld", r.items, r.size,
             r.seed, r.bins);
    static const char *const dir_flags[] = {"--output", "--resume", NULL};
    const int64_t four = 4, bins = r.bins;
    dusk_batch *b = NULL;
    if (dusk_batch_new("moments", r.items, &b) != 0 ||
        dusk_batch_add_output(b, "moments", 1, &four, NULL) != 0 ||
        dusk_batch_add_output(b, "histogram", 1, &bins, NULL) != 0 ||
        (out ? dusk_batch_set_output(b, out, NULL) : dusk_batch_resume(b, resume)) != 0 ||
        dusk_batch_set_params(b, params) != 0 ||
        dusk_cli_batch_args(b, argc, argv, dir_flags, NULL, NULL, "--resume") != 0 ||
        dusk_cli_report_text(b) != 0 || /* what dusk-eigh says, in the same words */
        dusk_batch_set_chunk(b, -1, 8 * (r.size + 4 + r.bins)) != 0 ||
        dusk_batch_set_noun(b, "sample", "samples") != 0) {
        fprintf(stderr, "moments: cannot set up the batch (bad sizes?)\n");
        dusk_batch_free(&b);
        return 2;
    }
    dusk_config cfg; /* from the environment (STARPU_NCPU, ...) */
    char why[256];
    if (dusk_config_init(&cfg, why, sizeof why) != 0) {
        fprintf(stderr, "moments: %s\n", why);
        dusk_batch_free(&b);
        return 2;
    }
    /* what would keep dusk from starting, before the batch replaces a finished run's files */
    if (dusk_init_check(&cfg, why, sizeof why) != 0) {
        fprintf(stderr, "moments: %s\n", why);
        dusk_batch_free(&b);
        return 1;
    }
    /* the directory, the manifest and the signals first; then dusk */
    int status = dusk_batch_open(b) == 0 ? 0 : dusk_batch_exit_status(b); /* it said why */
    if (status == 0 && dusk_init(&cfg, why, sizeof why) != 0) {
        fprintf(stderr, "moments: %s\n", why);
        status = 1;
    }
    if (status == 0 && dusk_kernel_new("moments_stats", stats_cpu, &r.stats) != 0) status = 1;
    if (status == 0) { /* every rank; the exit status they agreed on */
        (void)!dusk_batch_run(b, submit_chunk, &r);
        status = dusk_batch_exit_status(b);
    }
    dusk_batch_free(&b);
    dusk_shutdown();
    dusk_kernel_free(&r.stats);
    return status;
}
