/* sumsq.c: the sum of squares of K chunks of M random numbers, as a task graph built first
 * and then computed (Dask's delayed + compute). Each chunk is drawn as NumPy draws it after
 * np.random.seed(c); np.random.rand(M), then reduced by a kernel of our own. */
#include <stdint.h>
#include <stdio.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"

enum { K = 8, M = 1000 };

/* sumsq: p (W, 1 value) = sum of x*x over x (R) */
static int sumsq_cpu(dusk_call *call)
{
    int64_t xd[2], pd[2];
    const double *x = dusk_call_data(call, 0, xd);
    double *p = dusk_call_data(call, 1, pd), s = 0;
    for (int64_t i = 0; i < xd[0] * xd[1]; i++)
        s += x[i] * x[i];
    p[0] = s;
    return 0;
}

/* called once p is computed: keep its value (or -1 if its task failed) */
static void take(void *user, int status, const double *values, const int64_t dims[2])
{
    (void)dims;
    *(double *)user = status == 0 ? values[0] : -1;
}

static int build(dusk_graph *g, const dusk_kernel *sumsq, double part[K])
{
    for (uint32_t c = 0; c < K; c++) {
        dusk_data *x = NULL, *p = NULL;
        int ret = dusk_matrix_new(g, 1, M, &x);
        if (ret == 0) ret = dusk_vector_new(g, 1, &p);
        if (ret == 0) {
            dusk_arg gen[] = {{x, DUSK_W}}, sq[] = {{x, DUSK_R}, {p, DUSK_W}};
            ret = dusk_task_submit(g, dusk_kernel_gen(), gen, 1, &c, sizeof c, NULL, NULL);
            if (ret == 0) ret = dusk_task_submit(g, sumsq, sq, 2, NULL, 0, NULL, NULL);
            if (ret == 0) ret = dusk_data_read(p, take, &part[c]);
        }
        if (x != NULL) dusk_data_release(&x); /* freed once sumsq has read it */
        if (p != NULL) dusk_data_release(&p);
        if (ret != 0) return ret;
    }
    return 0;
}

int main(void)
{
    dusk_config cfg;
    char why[256];
    if (dusk_config_init(&cfg, why, sizeof why) != 0 || dusk_init(&cfg, why, sizeof why) != 0) {
        fprintf(stderr, "sumsq: %s\n", why);
        return 1;
    }
    dusk_kernel *sumsq = NULL;
    dusk_graph *g = NULL;
    double part[K], total = 0;
    int ret = dusk_kernel_new("sumsq", sumsq_cpu, &sumsq);
    if (ret == 0) ret = dusk_graph_new(&g);
    if (ret == 0) ret = dusk_graph_hold(g); /* build first ... */
    if (ret == 0) ret = build(g, sumsq, part);
    if (g != NULL) {
        int computed = dusk_graph_compute(g); /* ... then run it all and wait */
        if (ret == 0) ret = computed;
    }
    dusk_graph_free(&g);
    dusk_shutdown();
    dusk_kernel_free(&sumsq);
    if (ret != 0) {
        fprintf(stderr, "sumsq: %s\n", dusk_strerror(ret));
        return 1;
    }
    for (int c = 0; c < K; c++)
        total += part[c];
    printf("sum of squares of %d x %d numbers: %.17g\n", K, M, total);
    return 0;
}
