/* Graph options: hold + compute (nothing runs before compute, everything after), explicit
 * dependencies between tasks that share no data, priorities with the prio scheduler on one
 * worker, GPU-only tasks refused where there is no GPU, and the progress bar's counts. */
#include <stdlib.h>

#include "graph_ops.h"

/* Holds the prioritised tasks back for 100 ms, so that all of them are queued when they
 * become ready, however slowly compute() hands them over on a loaded machine. */
static int gate_cpu(dusk_call *call)
{
    (void)call;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    return 0;
}

int main(void)
{
    setenv("STARPU_SCHED", "prio", 1);
    start_dusk(64);
    dusk_kernel *k;
    CHECK_OK(dusk_kernel_new("test_op", op_cpu, &k));
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));

    /* ---- hold: tasks are recorded, not run, until compute */
    CHECK_OK(dusk_graph_hold(g));
    dusk_kernel *gate;
    CHECK_OK(dusk_kernel_new("test_gate", gate_cpu, &gate));
    dusk_data *gated;
    int64_t gate_id;
    CHECK_OK(dusk_vector_new(g, 1, &gated));
    dusk_arg ga[] = {{gated, DUSK_W}};
    CHECK_OK(dusk_task_submit(g, gate, ga, 1, NULL, 0, NULL, &gate_id));
    dusk_data_release(&gated);
    dusk_data *x[10];
    int64_t ids[10];
    for (int i = 0; i < 10; i++) {
        CHECK_OK(dusk_vector_new(g, 1, &x[i]));
        dusk_arg a[] = {{x[i], DUSK_W}};
        op_args v = {i, 0, 0, (double)i};
        dusk_task_opts o;
        dusk_task_opts_init(&o);
        o.priority = i; /* the last submitted is the most urgent */
        o.after = &gate_id;
        o.nafter = 1;
        char key[16];
        snprintf(key, sizeof key, "x-%d", i);
        o.key = key;
        CHECK_OK(dusk_task_submit(g, k, a, 1, &v, sizeof v, &o, &ids[i]));
    }
    /* explicit dependency: task 10 (no shared data) after tasks 2 and 7 */
    dusk_data *y;
    CHECK_OK(dusk_vector_new(g, 1, &y));
    dusk_arg ya[] = {{y, DUSK_W}};
    op_args yv = {10, 0, 0, 42.0};
    dusk_task_opts yo;
    dusk_task_opts_init(&yo);
    int64_t after[] = {ids[2], ids[7]};
    yo.after = after;
    yo.nafter = 2;
    yo.priority = 100;
    yo.key = "after-held";
    int64_t yid;
    CHECK_OK(dusk_task_submit(g, k, ya, 1, &yv, sizeof yv, &yo, &yid));
    double yval[2] = {0, 0};
    CHECK_OK(dusk_data_read(y, read_scalar, yval));
    for (int i = 0; i < 10; i++)
        dusk_data_release(&x[i]);
    dusk_data_release(&y);

    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    for (int i = 0; i <= 10; i++)
        CHECK(!records[i].ran);
    CHECK_EQ(dusk_task_status(g, ids[0]), 1); /* pending */
    CHECK_NEAR(yval[0], 0, 0);                /* the read has not happened either */

    CHECK_OK(dusk_graph_compute(g));
    for (int i = 0; i <= 10; i++)
        CHECK(records[i].ran);
    CHECK_NEAR(yval[0], 42.0, 0);
    CHECK_BEFORE(2, 10);
    CHECK_BEFORE(7, 10);

    /* with one worker and the prio scheduler, tasks that are ready together run by
     * priority: 9, 8, ..., 0 */
    if (dusk_worker_count() == 1)
        for (int i = 0; i < 9; i++)
            CHECK_BEFORE(i + 1, i);

    /* ---- where: GPU-only, and this build or machine has no GPU worker */
    {
        dusk_data *z;
        CHECK_OK(dusk_vector_new(g, 1, &z));
        dusk_arg za[] = {{z, DUSK_W}};
        op_args zv = {11, 0, 0, 1.0};
        dusk_task_opts zo;
        dusk_task_opts_init(&zo);
        zo.where = DUSK_WHERE_GPU;
        int64_t zid;
        CHECK_EQ(dusk_task_submit(g, k, za, 1, &zv, sizeof zv, &zo, &zid), DUSK_ENODEV);
        zo.where = DUSK_WHERE_CPU;
        CHECK_OK(dusk_task_submit(g, k, za, 1, &zv, sizeof zv, &zo, &zid));
        zo.where = (dusk_where)7;
        CHECK_EQ(dusk_task_submit(g, k, za, 1, &zv, sizeof zv, &zo, &zid), DUSK_EINVAL);
        zo.where = DUSK_WHERE_ANY;
        zo.nafter = 1;
        int64_t bad_after = 1000;
        zo.after = &bad_after; /* not a task of this graph */
        CHECK_EQ(dusk_task_submit(g, k, za, 1, &zv, sizeof zv, &zo, &zid), DUSK_EINVAL);
        dusk_data_release(&z);
        CHECK_EQ(dusk_graph_wait(g), DUSK_ETASK); /* the refused GPU task counts as failed */
    }

    /* ---- explicit dependency on a task that is still running, in a streaming graph */
    {
        dusk_data *a, *b;
        CHECK_OK(dusk_vector_new(g, 1, &a));
        CHECK_OK(dusk_vector_new(g, 1, &b));
        dusk_arg aa[] = {{a, DUSK_W}}, ba[] = {{b, DUSK_W}};
        op_args av = {12, 0, 0, 1.0}, bv = {13, 0, 0, 2.0};
        int64_t aid;
        dusk_task_opts ao;
        dusk_task_opts_init(&ao);
        ao.key = "running";
        CHECK_OK(dusk_task_submit(g, k, aa, 1, &av, sizeof av, &ao, &aid));
        dusk_task_opts bo;
        dusk_task_opts_init(&bo);
        bo.key = "after-running";
        bo.after = &aid;
        bo.nafter = 1;
        CHECK_OK(dusk_task_submit(g, k, ba, 1, &bv, sizeof bv, &bo, NULL));
        dusk_data_release(&a);
        dusk_data_release(&b);
        CHECK_EQ(dusk_graph_wait(g), DUSK_ETASK);
        CHECK_BEFORE(12, 13);
    }

    dusk_graph_free(&g);
    dusk_kernel_free(&k);
    dusk_kernel_free(&gate);
    dusk_shutdown();
    return 0;
}
