/* The submission window bounds what is in flight, and so the memory: 400 matrices of 2 MiB
 * (800 MiB in all) go through a window of 4 tasks without the process growing by more than
 * a few of them. Also checks that argument errors are refused without side effects. */
#include "dusk_linalg.h"
#include "graph_ops.h"

int main(void)
{
    start_dusk(4);
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));

    const int64_t n = 512, count = 400;
    int64_t rss0 = dusk_peak_rss();
    double sums[2] = {0, 0};
    for (int64_t i = 0; i < count; i++) {
        dusk_data *b;
        CHECK_OK(dusk_matrix_new(g, n, n, &b));
        uint32_t seed = (uint32_t)i;
        dusk_arg args[] = {{b, DUSK_W}};
        CHECK_OK(dusk_task_submit(g, dusk_kernel_gen(), args, 1, &seed, sizeof seed, NULL, NULL));
        if (i == count - 1) CHECK_OK(dusk_data_read(b, read_scalar, sums));
        dusk_data_release(&b);
    }
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
    return 0;
}
