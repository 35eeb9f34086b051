/* Dependencies follow from the data: chain, diamond, fan-out and fan-in graphs, checked from
 * the recorded start and end times of every task and from the values computed. */
#include "graph_ops.h"

static dusk_data *scalar(dusk_graph *g)
{
    dusk_data *d;
    CHECK_OK(dusk_vector_new(g, 1, &d));
    return d;
}

int main(void)
{
    start_dusk(0);
    dusk_kernel *k;
    CHECK_OK(dusk_kernel_new("test_op", op_cpu, &k));
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));
    int id = 0;

    /* chain: x = 0, then ten x += 1 */
    dusk_data *x = scalar(g);
    int chain0 = id;
    op(g, k, id++, 0, 0.0, x, 0, 0, NULL);
    for (int i = 0; i < 10; i++)
        op(g, k, id++, 0, 1.0, x, 1, 0, NULL);
    double chain_value[2];
    CHECK_OK(dusk_data_read(x, read_scalar, chain_value));

    /* diamond: a -> (b, c) -> d */
    dusk_data *a = scalar(g), *b = scalar(g), *c = scalar(g), *d = scalar(g);
    int da = id;
    op(g, k, id++, 0, 3.0, a, 0, 0, NULL);
    op(g, k, id++, 0, 1.0, b, 0, 1, &a);
    op(g, k, id++, 0, 2.0, c, 0, 1, &a);
    dusk_data *bc[] = {b, c};
    op(g, k, id++, 0, 0.0, d, 0, 2, bc);
    double diamond_value[2];
    CHECK_OK(dusk_data_read(d, read_scalar, diamond_value));

    /* fan-out from s to 6 outputs, then fan-in of those 6 into t */
    dusk_data *s = scalar(g), *outs[6], *t = scalar(g);
    int fo = id;
    op(g, k, id++, 0, 10.0, s, 0, 0, NULL);
    for (int i = 0; i < 6; i++) {
        outs[i] = scalar(g);
        op(g, k, id++, 0, (double)i, outs[i], 0, 1, &s);
    }
    int fi = id;
    op(g, k, id++, 0, 0.0, t, 0, 6, outs);
    double fan_value[2];
    CHECK_OK(dusk_data_read(t, read_scalar, fan_value));

    CHECK_OK(dusk_graph_wait(g));

    for (int i = chain0; i < chain0 + 10; i++)
        CHECK_BEFORE(i, i + 1);
    CHECK_NEAR(chain_value[0], 10.0, 0);

    CHECK_BEFORE(da, da + 1);
    CHECK_BEFORE(da, da + 2);
    CHECK_BEFORE(da + 1, da + 3);
    CHECK_BEFORE(da + 2, da + 3);
    CHECK_NEAR(diamond_value[0], (3.0 + 1.0) + (3.0 + 2.0), 0);

    for (int i = 1; i <= 6; i++) {
        CHECK_BEFORE(fo, fo + i);
        CHECK_BEFORE(fo + i, fi);
    }
    CHECK_NEAR(fan_value[0], 6 * 10.0 + (0 + 1 + 2 + 3 + 4 + 5), 0);

    int64_t submitted, finished, failed;
    dusk_graph_counts(g, &submitted, &finished, &failed);
    CHECK_EQ(submitted, id);
    CHECK_EQ(finished, id);
    CHECK_EQ(failed, 0);
    for (int i = 0; i < id; i++)
        CHECK_EQ(dusk_task_status(g, i), 0);

    dusk_data_release(&x);
    dusk_data_release(&a);
    dusk_data_release(&b);
    dusk_data_release(&c);
    dusk_data_release(&d);
    dusk_data_release(&s);
    dusk_data_release(&t);
    for (int i = 0; i < 6; i++)
        dusk_data_release(&outs[i]);
    dusk_graph_free(&g);
    dusk_kernel_free(&k);
    dusk_shutdown();
    printf("%d tasks ran in dependency order on %d workers\n", id, 0);
    return 0;
}
