/* dusk_graph_cancel(): tasks that have not started finish as DUSK_ECANCELED without running,
 * running ones finish, later submissions are refused, and none of it counts as a failure.
 * The cancel comes from a task's completion callback, i.e. from another thread, as it does
 * from dusk-eigh's signal handler. */
#include "graph_ops.h"

#define NTASKS 400

static dusk_graph *graph;

static void cancel_after(void *user, int64_t id, int status)
{
    (void)user;
    (void)status;
    if (id == 3) dusk_graph_cancel(graph);
}

int main(void)
{
    start_dusk(0);
    dusk_kernel *k;
    CHECK_OK(dusk_kernel_new("test_op", op_cpu, &k));
    CHECK_OK(dusk_graph_new(&graph));

    double got[NTASKS][2];
    int64_t submitted = 0, refused = 0;
    for (int i = 0; i < NTASKS; i++) {
        dusk_data *x;
        CHECK_OK(dusk_vector_new(graph, 1, &x));
        op_args a = {i, 0, 0, (double)i};
        dusk_arg arg = {x, DUSK_W};
        dusk_task_opts o;
        dusk_task_opts_init(&o);
        o.on_done = cancel_after;
        int ret = dusk_task_submit(graph, k, &arg, 1, &a, sizeof a, &o, NULL);
        if (ret == DUSK_ECANCELED) {
            refused++;
        } else {
            CHECK_OK(ret);
            submitted++;
            got[i][1] = 1;
            CHECK_OK(dusk_data_read(x, read_scalar, got[i]));
        }
        dusk_data_release(&x);
    }
    CHECK_EQ(dusk_graph_wait(graph), DUSK_ECANCELED);

    int64_t nsub, finished, failed;
    dusk_graph_counts(graph, &nsub, &finished, &failed);
    CHECK_EQ(nsub, submitted);
    CHECK_EQ(finished, submitted);
    CHECK_EQ(failed, 0); /* cancelled is not failed */
    int64_t ran = 0, cancelled = 0;
    for (int i = 0; i < submitted; i++) {
        int s = dusk_task_status(graph, i);
        if (s == 0) {
            CHECK(records[i].ran);
            CHECK_NEAR(got[i][0], (double)i, 0);
            CHECK_EQ((int)got[i][1], 0);
            ran++;
        } else {
            CHECK_EQ(s, DUSK_ECANCELED);
            CHECK(!records[i].ran); /* it never ran */
            CHECK_EQ((int)got[i][1], DUSK_ECANCELED);
            cancelled++;
        }
    }
    CHECK_EQ(dusk_task_status(graph, 3), 0); /* the cancel came when task 3 finished */
    CHECK_EQ(cancelled, dusk_graph_cancelled(graph));
    /* With 2 ms tasks, the window (64 per worker) is still full when task 3 finishes, so the
     * submissions after the cancel are refused and most of the window never runs. */
    CHECK_GT(refused, 0);
    CHECK_GT(cancelled, 0);
    CHECK_EQ(ran + cancelled + refused, NTASKS);
    CHECK_EQ(dusk_task_submit(graph, k, NULL, 0, NULL, 0, NULL, NULL), DUSK_ECANCELED);

    dusk_graph_free(&graph);
    dusk_kernel_free(&k);
    dusk_shutdown();
    return 0;
}
