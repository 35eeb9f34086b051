/* The sum of squares of K chunks of M random numbers, as a task graph: the built-in gen kernel
 * draws chunk c as NumPy does (np.random.seed(c); np.random.rand(M)), our kernel squares it. */
#include <stdint.h>
#include <stdio.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"

enum { K = 8, M = 1000 };

static int sumsq_cpu(dusk_call *call) /* p[0] = the sum of x[i]^2 */
{
    int64_t xd[2], pd[2];
    const double *x = dusk_call_data(call, 0, xd);
    double *p = dusk_call_data(call, 1, pd);
    p[0] = 0;
    for (int64_t i = 0; i < xd[0] * xd[1]; i++)
        p[0] += x[i] * x[i];
    return 0;
}

static void take(void *part, int status, const double *p, const int64_t dims[2])
{
    (void)dims;
    if (status == 0) *(double *)part = p[0]; /* a failure shows in dusk_graph_wait() */
}

int main(void)
{
    dusk_config cfg;
    dusk_kernel *sumsq = NULL;
    dusk_graph *g = NULL;
    double part[K] = {0}, total = 0;
    char why[256] = "";
    int ret = dusk_config_init(&cfg, why, sizeof why);
    if (ret == 0) ret = dusk_init(&cfg, why, sizeof why);
    if (ret == 0) ret = dusk_kernel_new("sumsq", sumsq_cpu, &sumsq);
    if (ret == 0) ret = dusk_graph_new(&g);
    for (uint32_t c = 0; ret == 0 && c < K;
         c++) { /* each task starts once what it reads is ready */
        dusk_data *x = NULL, *p = NULL;
        ret = dusk_matrix_new(g, 1, M, &x);
        if (ret == 0) ret = dusk_vector_new(g, 1, &p);
        dusk_arg gen[] = {{x, DUSK_W}}, sq[] = {{x, DUSK_R}, {p, DUSK_W}};
        if (ret == 0)
            ret = dusk_task_submit(g, dusk_kernel_gen(), gen, 1, &c, sizeof c, NULL, NULL);
        if (ret == 0) ret = dusk_task_submit(g, sumsq, sq, 2, NULL, 0, NULL, NULL);
        if (ret == 0) ret = dusk_data_read(p, take, &part[c]);
        if (x != NULL) dusk_data_release(&x); /* freed once its last reader is done */
        if (p != NULL) dusk_data_release(&p);
    }
    if (ret == 0) ret = dusk_graph_wait(g);
    dusk_graph_free(&g);
    dusk_shutdown();
    dusk_kernel_free(&sumsq);
    if (ret != 0) {
        fprintf(stderr, "sumsq: %s\n", why[0] != '\0' ? why : dusk_strerror(ret));
        return 1;
    }
    for (int c = 0; c < K; c++)
        total += part[c];
    printf("sum of squares of %d x %d numbers: %.17g\n", K, M, total);
    return 0;
}
