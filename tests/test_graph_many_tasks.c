/* 200,000 tiny tasks (no data) through the window: they all run, memory stays bounded (the
 * per-task state is freed as tasks finish; what remains is 2 bits per task, and a table of
 * the tasks that failed: every 997th here, each status checked), and
 * the throughput is printed (bench/ records it). Then a held graph of 50,000 tasks, each
 * writing a vector of its own: everything is recorded until compute, and what a recorded
 * task costs stays under 2 KB (a StarPU handle per data object made it 5.3 KB). */
#include <stdatomic.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "test.h"

static atomic_llong ran;

static int tiny_cpu(dusk_call *call)
{
    int64_t dims[2];
    size_t size;
    if (dusk_call_nargs(call) > 0) dusk_call_data(call, 0, dims)[0] = 1;
    atomic_fetch_add(&ran, 1);
    if (dusk_call_value(call, &size) != NULL) { /* the tasks told to fail */
        dusk_call_fail(call, "told to");
        return DUSK_EINVAL;
    }
    return 0;
}

/* Every task's status and attempts, as the graph keeps them (2 bits a task, and a table of
 * the others): `fail_every`th tasks failed, the others succeeded once. */
static void check_statuses(const dusk_graph *g, long long count, long long fail_every)
{
    long long wrong = 0;
    for (long long i = 0; i < count; i++) {
        int fails = i % fail_every == fail_every - 1;
        wrong +=
            dusk_task_status(g, i) != (fails ? DUSK_EINVAL : 0) || dusk_task_attempts(g, i) != 1;
    }
    CHECK_EQ(wrong, 0);
    CHECK_EQ(dusk_task_status(g, count), DUSK_EINVAL); /* no such task */
}

int main(int argc, char **argv)
{
    long long count = argc > 1 ? atoll(argv[1]) : 200000;
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
    dusk_kernel *k;
    CHECK_OK(dusk_kernel_new("test_tiny", tiny_cpu, &k));
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));

    int64_t rss0 = dusk_peak_rss();
    double t0 = dusk_now();
    const long long fail_every = 997; /* a few hundred failures: the table of odd tasks grows */
    for (long long i = 0; i < count; i++) {
        int fails = i % fail_every == fail_every - 1;
        CHECK_OK(dusk_task_submit(g, k, NULL, 0, fails ? "x" : NULL, fails, NULL, NULL));
    }
    CHECK_EQ(dusk_graph_wait(g), DUSK_ETASK);
    double elapsed = dusk_now() - t0;
    int64_t grown = dusk_peak_rss() - rss0;
    printf("%lld tiny tasks in %.3f s: %.0f tasks/s, %.2f us per task, on %d workers; "
           "memory grew by %.1f MB\n",
           count, elapsed, (double)count / elapsed, 1e6 * elapsed / (double)count,
           dusk_worker_count(), (double)grown / 1e6);
    CHECK_EQ(atomic_load(&ran), count);
    int64_t finished, failed;
    dusk_graph_counts(g, NULL, &finished, &failed);
    CHECK_EQ(finished, count);
    CHECK_EQ(failed, count / fail_every);
    check_statuses(g, count, fail_every);
    /* the default window: 64 tasks per worker */
    CHECK_LE(dusk_graph_peak_in_flight(g), 64 * dusk_worker_count());
    CHECK_GE(dusk_graph_peak_in_flight(g), 2);
#ifndef __SANITIZE_ADDRESS__
    CHECK_LT(grown, 32 * 1000 * 1000);
#endif
    dusk_graph_free(&g);

    /* held: every task and data object recorded until compute */
    const long long held = 50000;
    atomic_store(&ran, 0);
    CHECK_OK(dusk_graph_new(&g));
    CHECK_OK(dusk_graph_hold(g));
    rss0 = dusk_peak_rss();
    for (long long i = 0; i < held; i++) {
        dusk_data *v;
        CHECK_OK(dusk_vector_new(g, 1, &v));
        dusk_arg arg = {v, DUSK_W};
        CHECK_OK(dusk_task_submit(g, k, &arg, 1, NULL, 0, NULL, NULL));
        dusk_data_release(&v);
    }
    CHECK_EQ(atomic_load(&ran), 0); /* nothing ran before compute */
    CHECK_OK(dusk_graph_compute(g));
    grown = dusk_peak_rss() - rss0;
    printf("held graph: %lld tasks with a vector each; memory grew by %.1f MB (%.0f bytes per "
           "task)\n",
           held, (double)grown / 1e6, (double)grown / (double)held);
    CHECK_EQ(atomic_load(&ran), held);
#ifndef __SANITIZE_ADDRESS__
    CHECK_LT(grown, 2000 * held);
#endif
    dusk_graph_free(&g);
    dusk_kernel_free(&k);
    dusk_shutdown();
    return 0;
}
