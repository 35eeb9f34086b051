/* The CUDA implementations as dusk kernels (compiled when the StarPU found has CUDA): the
 * arguments from the dusk_call, StarPU's stream and cuBLAS handle for the worker, and one
 * cuSOLVER handle and workspace per GPU worker, made at start-up on each worker's thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <starpu.h>
#include <starpu_cublas_v2.h>

#include "codelets.h"
#include "cuda_kernels.h"

/* Written by each GPU worker's own thread at start-up (one slot per worker, so no lock), read
 * by dusk__cuda_workers_init once starpu_execute_on_each_worker has returned. */
static dusk__eigh_cuda_ws *eigh_ws[STARPU_NMAXWORKERS];
static int init_error[STARPU_NMAXWORKERS];
static char init_why[STARPU_NMAXWORKERS][200];

static void ws_init(void *arg)
{
    (void)arg;
    int id = starpu_worker_get_id_check();
    init_why[id][0] = '\0';
    init_error[id] = dusk__eigh_cuda_ws_new(&eigh_ws[id], init_why[id], sizeof init_why[id]);
}

static void ws_fini(void *arg)
{
    (void)arg;
    dusk__eigh_cuda_ws_free(&eigh_ws[starpu_worker_get_id_check()]);
}

int dusk__cuda_workers_init(void)
{
    if (starpu_cuda_worker_get_count() == 0) return 0;
    /* StarPU's cuBLAS handles, one per worker, on the worker's stream. */
    starpu_cublas_init();
    /* A previous dusk_init in this process may have left its codes here. */
    memset(init_error, 0, sizeof init_error);
    memset(init_why, 0, sizeof init_why);
    starpu_execute_on_each_worker(ws_init, NULL, STARPU_CUDA);
    for (unsigned w = 0; w < starpu_worker_get_count(); w++)
        if (init_error[w] != 0) {
            fprintf(stderr, "dusk: GPU worker %u: %s\n", w,
                    init_why[w][0] != '\0' ? init_why[w] : dusk_strerror(init_error[w]));
            return init_error[w];
        }
    return 0;
}

void dusk__cuda_workers_fini(void)
{
    if (starpu_cuda_worker_get_count() == 0) return;
    starpu_execute_on_each_worker(ws_fini, NULL, STARPU_CUDA);
    starpu_cublas_shutdown();
}

int dusk__gen_philox_cuda_call(dusk_call *call)
{
    int64_t dims[2];
    size_t size;
    const uint64_t *seed = dusk_call_value(call, &size);
    double *b = dusk_call_data(call, 0, dims);
    if (dusk_call_nargs(call) != 1 || seed == NULL || size != sizeof *seed) {
        dusk_call_fail(call, "gen_philox takes one matrix and a uint64 seed");
        return DUSK_EINVAL;
    }
    char why[256];
    int ret = dusk__philox_fill_cuda(*seed, b, dims[0] * dims[1], dusk_call_cuda_stream(call), why,
                                     sizeof why);
    if (ret != 0) dusk_call_fail(call, "%s", why);
    return ret;
}

int dusk__gram_cuda_call(dusk_call *call)
{
    int64_t bd[2], ad[2];
    const double *b = dusk_call_data(call, 0, bd);
    double *a = dusk_call_data(call, 1, ad);
    if (dusk_call_nargs(call) != 2 || ad[0] != bd[1] || ad[1] != bd[1]) {
        dusk_call_fail(call, "gram takes B (m x n) and A (n x n)");
        return DUSK_EINVAL;
    }
    char why[256];
    int ret = dusk__gram_cuda(starpu_cublas_get_local_handle(), dusk_call_cuda_stream(call), b, a,
                              bd[0], bd[1], why, sizeof why);
    if (ret != 0) dusk_call_fail(call, "%s", why);
    return ret;
}

int dusk__eigh_cuda_call(dusk_call *call)
{
    int nargs = dusk_call_nargs(call);
    int64_t ad[2], xd[2], wd[2];
    size_t size;
    const dusk_eigh_args *args = dusk_call_value(call, &size);
    if ((nargs != 2 && nargs != 3) || args == NULL || size != sizeof *args) {
        dusk_call_fail(call, "eigh takes A, [X,] w and dusk_eigh_args");
        return DUSK_EINVAL;
    }
    double *a = dusk_call_data(call, 0, ad);
    double *x = nargs == 3 ? dusk_call_data(call, 1, xd) : a;
    double *w = dusk_call_data(call, nargs - 1, wd);
    int64_t n = ad[0];
    if (ad[1] != n || wd[0] != n || (nargs == 3 && (xd[0] != n || xd[1] != n))) {
        dusk_call_fail(call, "eigh: A must be square, X and w of its size");
        return DUSK_EINVAL;
    }
    dusk__eigh_cuda_ws *ws = eigh_ws[starpu_worker_get_id_check()];
    if (ws == NULL) {
        dusk_call_fail(call, "eigh: this GPU worker has no cuSOLVER handle");
        return DUSK_ENODEV;
    }
    char why[256];
    int ret = dusk__eigh_cuda(ws, dusk_call_cuda_stream(call), a, x, w, n, args->vectors, why,
                              sizeof why);
    if (ret != 0) dusk_call_fail(call, "%s", why);
    return ret;
}
