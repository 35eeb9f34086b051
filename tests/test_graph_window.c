/* The submission window bounds what is in flight, and so the memory: 400 matrices of 2 MiB
 * (800 MiB in all) go through a window of 4 tasks, then through the default window of many
 * tasks but 8 MiB of data, without the process growing by more than a few of them. Also
 * checks that argument errors are refused without side effects. */
#include "dusk_linalg.h"
#include "graph_ops.h"

/* count gen tasks, each on a new n x n matrix released at once; the last one's first value
 * goes to last[0] when last is not NULL */
static void gen_matrices(dusk_graph *g, int64_t n, int64_t count, double *last)
{
    for (int64_t i = 0; i < count; i++) {
        dusk_data *b;
        CHECK_OK(dusk_matrix_new(g, n, n, &b));
        uint32_t seed = (uint32_t)i;
        dusk_arg args[] = {{b, DUSK_W}};
        CHECK_OK(dusk_task_submit(g, dusk_kernel_gen(), args, 1, &seed, sizeof seed, NULL, NULL));
        if (last != NULL && i == count - 1) CHECK_OK(dusk_data_read(b, read_scalar, last));
        dusk_data_release(&b);
    }
}

int main(void)
{
    start_dusk(4);
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));

    const int64_t n = 512, count = 400;
    int64_t rss0 = dusk_peak_rss();
    double sums[2] = {0, 0};
    gen_matrices(g, n, count, sums);
    CHECK_OK(dusk_graph_wait(g));
    int64_t grown = dusk_peak_rss() - rss0;
    printf("peak in flight %lld, memory grew by %.1f MB for %.0f MB of matrices\n",
           (long long)dusk_graph_peak_in_flight(g), (double)grown / 1e6,
           (double)(count * n * n * 8) / 1e6);
    CHECK_LE(dusk_graph_peak_in_flight(g), 4);
    CHECK_GE(dusk_graph_peak_in_flight(g), 1);
#ifndef __SANITIZE_ADDRESS__
    CHECK_LT(grown, 64 * 1000 * 1000);
#else
    printf("(AddressSanitizer keeps freed memory in quarantine: the memory bound is checked "
           "by the plain build)\n");
#endif

    /* the last matrix is np.random.seed(399); np.random.rand(512, 512) */
    double first;
    dusk_mt19937_fill((uint32_t)(count - 1), &first, 1);
    CHECK_NEAR(sums[0], first, 0);

    /* bad arguments: refused, nothing submitted */
    dusk_data *m;
    CHECK_EQ(dusk_matrix_new(g, 0, 3, &m), DUSK_EINVAL);
    CHECK(m == NULL);
    CHECK_EQ(dusk_vector_new(g, -1, &m), DUSK_EINVAL);
    CHECK_OK(dusk_vector_new(g, 3, &m));
    dusk_arg bad[] = {{m, (dusk_access)9}};
    int64_t id = 5;
    CHECK_EQ(dusk_task_submit(g, dusk_kernel_gen(), bad, 1, NULL, 0, NULL, &id), DUSK_EINVAL);
    CHECK_EQ(id, -1);
    CHECK_EQ(dusk_task_submit(g, NULL, NULL, 0, NULL, 0, NULL, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_task_submit(g, dusk_kernel_gen(), bad, DUSK_MAX_ARGS + 1, NULL, 0, NULL, NULL),
             DUSK_EINVAL);
    int64_t submitted;
    dusk_graph_counts(g, &submitted, NULL, NULL);
    CHECK_EQ(submitted, count);
    dusk_data_release(&m);

    dusk_graph_free(&g);
    CHECK(g == NULL);
    dusk_shutdown();

    /* the default task window (64 per worker), bounded by bytes instead */
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    cfg.window_mb = 8;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
    CHECK_OK(dusk_graph_new(&g));
    int64_t rss1 = dusk_peak_rss();
    gen_matrices(g, n, count, NULL);
    CHECK_OK(dusk_graph_wait(g));
    int64_t workers = dusk_worker_count();
    printf("bytes-bounded window: peak %lld in flight, memory grew by %.1f MB\n",
           (long long)dusk_graph_peak_in_flight(g), (double)(dusk_peak_rss() - rss1) / 1e6);
    /* 8 MiB holds 4 of these; at least 2 per worker may run whatever their size */
    CHECK_LE(dusk_graph_peak_in_flight(g), 4 > 2 * workers ? 4 : 2 * workers);
    CHECK_GE(dusk_graph_peak_in_flight(g), 2);
#ifndef __SANITIZE_ADDRESS__
    CHECK_LT(dusk_peak_rss() - rss1, 64 * 1000 * 1000);
#endif
    dusk_graph_free(&g);
    dusk_shutdown();
    return 0;
}
