/* The CUDA implementations as dusk kernels (compiled when the StarPU found has CUDA): the
 * arguments from the dusk_call, StarPU's stream and cuBLAS handle for the worker, and one
 * cuSOLVER handle and workspace per GPU worker, made at start-up on each worker's thread,
 * their device memory from StarPU's allocator on the worker's memory node; each worker then
 * makes its first cuBLAS and cuSOLVER calls there (dusk__cuda_warm_up), so that loading the
 * libraries and their first workspaces falls inside dusk_init, not in a run's time. */
#include <stdint.h>
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

/* StarPU's allocator on the worker's memory node: the workspace counts against StarPU's
 * memory limits (STARPU_LIMIT_CUDA_MEM), which StarPU's data placement and eviction then see,
 * and blocks of up to 4 MiB come from StarPU's chunks, with no cudaMalloc or cudaFree. */
static void *node_alloc(void *ctx, size_t size)
{
    return (void *)starpu_malloc_on_node((unsigned)(uintptr_t)ctx, size);
}

static void node_free(void *ctx, void *p, size_t size)
{
    starpu_free_on_node((unsigned)(uintptr_t)ctx, (uintptr_t)p, size);
}

static void ws_init(void *arg)
{
    (void)arg;
    int id = starpu_worker_get_id_check();
    dusk__cuda_allocator alloc = {node_alloc, node_free,
                                  (void *)(uintptr_t)starpu_worker_get_memory_node(id)};
    init_why[id][0] = '\0';
    init_error[id] =
        dusk__eigh_cuda_ws_new(&eigh_ws[id], &alloc, init_why[id], sizeof init_why[id]);
    if (init_error[id] == 0)
        init_error[id] =
            dusk__cuda_warm_up(eigh_ws[id], starpu_cublas_get_local_handle(),
                               starpu_cuda_get_local_stream(), init_why[id], sizeof init_why[id]);
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
            /* dusk_init then fails, and its dusk_shutdown frees what the workers made */
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
    uint64_t seed;
    double *b;
    int64_t count;
    int ret = dusk__philox_args(call, &seed, &b, &count);
    if (ret != 0) return ret;
    char why[256];
    ret = dusk__philox_fill_cuda(seed, b, count, dusk_call_cuda_stream(call), why, sizeof why);
    if (ret != 0) dusk_call_fail(call, "%s", why);
    return ret;
}

int dusk__gram_cuda_call(dusk_call *call)
{
    const double *b;
    double *a;
    int64_t m, n;
    int ret = dusk__gram_args(call, &b, &a, &m, &n);
    if (ret != 0) return ret;
    char why[256];
    ret = dusk__gram_cuda(starpu_cublas_get_local_handle(), dusk_call_cuda_stream(call), b, a, m, n,
                          why, sizeof why);
    if (ret != 0) dusk_call_fail(call, "%s", why);
    return ret;
}

int dusk__eigh_cuda_call(dusk_call *call)
{
    const dusk_eigh_args *args;
    double *a, *x, *w;
    int64_t n;
    int ret = dusk__eigh_args(call, &args, &a, &x, &w, &n);
    if (ret != 0) return ret;
    dusk__eigh_cuda_ws *ws = eigh_ws[starpu_worker_get_id_check()];
    if (ws == NULL) {
        dusk_call_fail(call, "eigh: this GPU worker has no cuSOLVER handle");
        return DUSK_ENODEV;
    }
    char why[256];
    ret = dusk__eigh_cuda(ws, dusk_call_cuda_stream(call), a, x, w, n, args->vectors, why,
                          sizeof why);
    if (ret != 0) dusk_call_fail(call, "%s", why);
    return ret;
}

int dusk__eigh_stack_cuda_worker(const double *a, double *x, double *w, int64_t k, int64_t n,
                                 int vectors, dusk__eigh_method method, int64_t *failed, int *info,
                                 char *why, size_t whylen)
{
    int id = starpu_worker_get_id();
    dusk__eigh_cuda_ws *ws =
        id >= 0 && starpu_worker_get_type(id) == STARPU_CUDA_WORKER ? eigh_ws[id] : NULL;
    if (ws == NULL) {
        if (failed != NULL) *failed = -1;
        if (why != NULL) snprintf(why, whylen, "eigh: not on a GPU worker with a cuSOLVER handle");
        return DUSK_ENODEV;
    }
    return dusk__eigh_stack_cuda(ws, starpu_cuda_get_local_stream(), a, x, w, k, n, vectors, method,
                                 failed, info, why, whylen);
}
