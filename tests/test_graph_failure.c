/* A failing task is a per-task status, not an abort: the tasks that read what it writes are
 * marked DUSK_EDEP without running, the tasks that do not depend on it complete, and the
 * graph reports the failures with their reasons. */
#include "graph_ops.h"

int main(void)
{
    start_dusk(0);
    dusk_kernel *k;
    CHECK_OK(dusk_kernel_new("test_op", op_cpu, &k));
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));

    dusk_data *a, *b, *c, *d, *e;
    CHECK_OK(dusk_vector_new(g, 1, &a));
    CHECK_OK(dusk_vector_new(g, 1, &b));
    CHECK_OK(dusk_vector_new(g, 1, &c));
    CHECK_OK(dusk_vector_new(g, 1, &d));
    CHECK_OK(dusk_vector_new(g, 1, &e));
    int64_t ta = op(g, k, 0, 1, 1.0, a, 0, 0, NULL); /* fails */
    int64_t tb = op(g, k, 1, 0, 1.0, b, 0, 1, &a);   /* depends on a */
    int64_t tc = op(g, k, 2, 0, 1.0, c, 0, 1, &b);   /* depends on b */
    int64_t td = op(g, k, 3, 0, 5.0, d, 0, 0, NULL); /* independent */
    int64_t te = op(g, k, 4, 0, 1.0, e, 0, 1, &d);
    /* a rewritten by a good task after the failure is good again */
    int64_t ta2 = op(g, k, 5, 0, 7.0, a, 0, 0, NULL);
    double vc[2], ve[2], va[2];
    CHECK_OK(dusk_data_read(c, read_scalar, vc));
    CHECK_OK(dusk_data_read(e, read_scalar, ve));
    CHECK_OK(dusk_data_read(a, read_scalar, va));

    CHECK_EQ(dusk_graph_wait(g), DUSK_ETASK);
    CHECK_EQ(dusk_task_status(g, ta), DUSK_EDATA);
    CHECK_EQ(dusk_task_status(g, tb), DUSK_EDEP);
    CHECK_EQ(dusk_task_status(g, tc), DUSK_EDEP);
    CHECK_EQ(dusk_task_status(g, td), 0);
    CHECK_EQ(dusk_task_status(g, te), 0);
    CHECK_EQ(dusk_task_status(g, ta2), 0);
    CHECK(!records[1].ran && !records[2].ran); /* dependents did not run */
    CHECK_EQ((int)vc[1], DUSK_EDEP);
    CHECK_NEAR(ve[0], 6.0, 0);
    CHECK_EQ((int)ve[1], 0);
    CHECK_NEAR(va[0], 7.0, 0);

    int64_t submitted, finished, failed;
    dusk_graph_counts(g, &submitted, &finished, &failed);
    CHECK_EQ(submitted, 6);
    CHECK_EQ(finished, 6);
    CHECK_EQ(failed, 3);
    int64_t id;
    const char *key, *reason;
    int saw_boom = 0;
    for (int64_t i = 0; i < failed; i++) {
        CHECK_OK(dusk_graph_failure(g, i, &id, &key, &reason));
        CHECK_STR_CONTAINS(key, "test_op");
        if (id == ta) {
            CHECK_STR_CONTAINS(reason, "boom 0");
            saw_boom = 1;
        } else {
            CHECK(id == tb || id == tc);
            CHECK_STR_CONTAINS(reason, "depends on failed");
        }
    }
    CHECK(saw_boom);
    CHECK_EQ(dusk_graph_failure(g, failed, &id, &key, &reason), DUSK_EINVAL);

    dusk_data_release(&a);
    dusk_data_release(&b);
    dusk_data_release(&c);
    dusk_data_release(&d);
    dusk_data_release(&e);
    dusk_graph_free(&g);
    dusk_kernel_free(&k);
    dusk_shutdown();
    return 0;
}
