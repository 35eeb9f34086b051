/* Reading results does not grow the process: 200,000 small matrices are each made, read with
 * dusk_data_read() and released at once (as dusk-eigh reads every eigenvalue row), and the
 * resident memory after them is that of the first 20,000. StarPU 1.3 kept about 48 bytes per
 * read when a handle was unregistered with its read still queued; the graph now unregisters
 * such a handle after its last read instead (graph.c, drop_hold). Every value read is checked
 * against the generator. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "dusk_linalg.h"
#include "graph_ops.h"

typedef struct tally {
    pthread_mutex_t lock;
    int64_t read, wrong;
} tally;

typedef struct one_read {
    tally *t;
    uint32_t seed;
} one_read;

static void on_read(void *user, int status, const double *values, const int64_t dims[2])
{
    one_read *r = user;
    double want;
    dusk_mt19937_fill(r->seed, &want, 1);
    pthread_mutex_lock(&r->t->lock);
    r->t->read++;
    if (status != 0 || dims[0] != 2 || values[0] != want) {
        if (r->t->wrong < 5)
            printf("wrong read: seed %u status %d dims %lld value %.17g want %.17g\n", r->seed,
                   status, (long long)dims[0], status == 0 ? values[0] : 0.0, want);
        r->t->wrong++;
    }
    pthread_mutex_unlock(&r->t->lock);
    free(r);
}

static void make_and_read(dusk_graph *g, tally *t, int64_t from, int64_t count)
{
    for (int64_t i = from; i < from + count; i++) {
        dusk_data *m;
        CHECK_OK(dusk_matrix_new(g, 2, 2, &m));
        uint32_t seed = (uint32_t)i;
        dusk_arg args[] = {{m, DUSK_W}};
        CHECK_OK(dusk_task_submit(g, dusk_kernel_gen(), args, 1, &seed, sizeof seed, NULL, NULL));
        one_read *r = malloc(sizeof *r);
        CHECK(r != NULL);
        r->t = t;
        r->seed = seed;
        CHECK_OK(dusk_data_read(m, on_read, r));
        dusk_data_release(&m);
    }
    CHECK_OK(dusk_graph_wait(g));
}

int main(void)
{
    start_dusk(64); /* far fewer than the 256 slots */
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));
    tally t = {PTHREAD_MUTEX_INITIALIZER, 0, 0};

    make_and_read(g, &t, 0, 20000);
    int64_t rss0 = dusk_peak_rss();
    make_and_read(g, &t, 20000, 200000);
    int64_t grown = dusk_peak_rss() - rss0;
    printf("%lld reads, %lld wrong; memory grew by %.2f MB over the last 200000 (%.1f bytes "
           "per read)\n",
           (long long)t.read, (long long)t.wrong, (double)grown / 1e6, (double)grown / 200000);
    CHECK_EQ(t.read, 220000);
    CHECK_EQ(t.wrong, 0);
    /* the graph keeps 2 bytes of status per task (0.4 MB here); StarPU's leak was 9.6 MB */
#ifndef __SANITIZE_ADDRESS__
    CHECK_LT(grown, 4 * 1000 * 1000);
#else
    printf("(AddressSanitizer keeps freed memory in quarantine: the memory bound is checked "
           "by the plain build)\n");
#endif
    dusk_graph_free(&g);
    dusk_shutdown();
    return 0;
}
