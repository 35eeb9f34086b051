/* Retries: a task that fails its first attempt and succeeds on the second is counted once,
 * as a success that ran twice; one that always fails is reported failed after 1 + retries
 * attempts, and the tasks that do not depend on it still complete. on_done sees each task
 * once with its final status. A retry starts from the task's input even when the failed
 * attempt overwrote the data it updates in place (as LAPACK's eigh does). */
#include <stdatomic.h>

#include "graph_ops.h"

static atomic_int runs[16];
static atomic_int done_calls[16];
static atomic_int done_status[16];

/* value: {id, fail_first_n} */
static int flaky_cpu(dusk_call *call)
{
    const int *v = dusk_call_value(call, NULL);
    int64_t dims[2];
    int attempt = atomic_fetch_add(&runs[v[0]], 1) + 1;
    if (attempt <= v[1]) {
        dusk_call_fail(call, "attempt %d of task %d failed", attempt, v[0]);
        return DUSK_ENUMERIC;
    }
    dusk_call_data(call, 0, dims)[0] = v[0];
    return 0;
}

/* x = 2 x, but the first attempt scribbles over x before failing */
static atomic_int doubler_runs;
static int doubler_cpu(dusk_call *call)
{
    int64_t dims[2];
    double *x = dusk_call_data(call, 0, dims);
    if (atomic_fetch_add(&doubler_runs, 1) == 0) {
        x[0] = -999.0;
        dusk_call_fail(call, "scribbled, then failed");
        return DUSK_ENUMERIC;
    }
    x[0] *= 2;
    return 0;
}

static void on_done(void *user, int64_t id, int status)
{
    int slot = (int)(intptr_t)user;
    (void)id;
    atomic_fetch_add(&done_calls[slot], 1);
    atomic_store(&done_status[slot], status);
}

int main(void)
{
    start_dusk(0);
    dusk_kernel *k;
    CHECK_OK(dusk_kernel_new("test_flaky", flaky_cpu, &k));
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));

    /* slot: fail the first n attempts, with r retries */
    const int fail_first[] = {1, 5, 0, 2, 3};
    const int retries[] = {1, 2, 0, 2, 0};
    int64_t ids[5];
    dusk_data *out[5], *dep;
    for (int i = 0; i < 5; i++) {
        CHECK_OK(dusk_vector_new(g, 1, &out[i]));
        dusk_task_opts o;
        dusk_task_opts_init(&o);
        o.retries = retries[i];
        o.on_done = on_done;
        o.user = (void *)(intptr_t)i;
        int v[2] = {i, fail_first[i]};
        dusk_arg a[] = {{out[i], DUSK_W}};
        CHECK_OK(dusk_task_submit(g, k, a, 1, v, sizeof v, &o, &ids[i]));
    }
    /* a task reading the always-failing one's output does not run */
    CHECK_OK(dusk_vector_new(g, 1, &dep));
    dusk_arg da[] = {{out[1], DUSK_R}, {dep, DUSK_W}};
    op_args oa = {0, 0, 0, 1.0};
    int64_t dep_id;
    dusk_kernel *opk;
    CHECK_OK(dusk_kernel_new("test_op", op_cpu, &opk));
    CHECK_OK(dusk_task_submit(g, opk, da, 2, &oa, sizeof oa, NULL, &dep_id));

    /* x = 10, then x = 2 x in place with a first attempt that overwrites x and fails */
    dusk_data *x;
    CHECK_OK(dusk_vector_new(g, 1, &x));
    op_args ten = {1, 0, 0, 10.0};
    dusk_arg xa[] = {{x, DUSK_W}};
    CHECK_OK(dusk_task_submit(g, opk, xa, 1, &ten, sizeof ten, NULL, NULL));
    dusk_kernel *dk;
    CHECK_OK(dusk_kernel_new("test_doubler", doubler_cpu, &dk));
    dusk_task_opts xo;
    dusk_task_opts_init(&xo);
    xo.retries = 1;
    dusk_arg xrw[] = {{x, DUSK_RW}};
    int64_t doubler_id;
    CHECK_OK(dusk_task_submit(g, dk, xrw, 1, NULL, 0, &xo, &doubler_id));
    double xval[2] = {0, 0};
    CHECK_OK(dusk_data_read(x, read_scalar, xval));

    CHECK_EQ(dusk_graph_wait(g), DUSK_ETASK);
    CHECK_EQ(dusk_task_status(g, doubler_id), 0);
    CHECK_EQ(dusk_task_attempts(g, doubler_id), 2);
    CHECK_NEAR(xval[0], 20.0, 0); /* not -1998: the retry started from x = 10 */
    /* slot 0: fails once, 1 retry: success after 2 attempts */
    CHECK_EQ(dusk_task_status(g, ids[0]), 0);
    CHECK_EQ(dusk_task_attempts(g, ids[0]), 2);
    CHECK_EQ(atomic_load(&runs[0]), 2);
    /* slot 1: always fails (5 > 1 + 2): 3 attempts, failed with the last reason */
    CHECK_EQ(dusk_task_status(g, ids[1]), DUSK_ENUMERIC);
    CHECK_EQ(dusk_task_attempts(g, ids[1]), 3);
    CHECK_EQ(atomic_load(&runs[1]), 3);
    /* slot 2: fine at once */
    CHECK_EQ(dusk_task_status(g, ids[2]), 0);
    CHECK_EQ(dusk_task_attempts(g, ids[2]), 1);
    /* slot 3: fails twice, 2 retries: success on the third */
    CHECK_EQ(dusk_task_status(g, ids[3]), 0);
    CHECK_EQ(dusk_task_attempts(g, ids[3]), 3);
    /* slot 4: fails, no retry */
    CHECK_EQ(dusk_task_status(g, ids[4]), DUSK_ENUMERIC);
    CHECK_EQ(dusk_task_attempts(g, ids[4]), 1);
    CHECK_EQ(dusk_task_status(g, dep_id), DUSK_EDEP);
    CHECK(!records[0].ran); /* the dependent task (op id 0) never ran */

    for (int i = 0; i < 5; i++) {
        CHECK_EQ(atomic_load(&done_calls[i]), 1);
        CHECK_EQ(atomic_load(&done_status[i]), dusk_task_status(g, ids[i]));
    }
    int64_t submitted, finished, failed;
    dusk_graph_counts(g, &submitted, &finished, &failed);
    CHECK_EQ(submitted, 8);
    CHECK_EQ(finished, 8); /* each counted once, however many attempts */
    CHECK_EQ(failed, 3);
    int64_t id;
    const char *key, *reason;
    for (int64_t i = 0; i < failed; i++) {
        CHECK_OK(dusk_graph_failure(g, i, &id, &key, &reason));
        if (id == ids[1]) CHECK_STR_CONTAINS(reason, "attempt 3 of task 1 failed");
    }

    for (int i = 0; i < 5; i++)
        dusk_data_release(&out[i]);
    dusk_data_release(&dep);
    dusk_data_release(&x);
    dusk_graph_free(&g);
    dusk_kernel_free(&k);
    dusk_kernel_free(&dk);
    dusk_kernel_free(&opk);
    dusk_shutdown();
    return 0;
}
