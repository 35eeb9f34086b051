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

/* How the eigh codelet decomposes a stack: one syevd per item, as one-item tasks do, so that
 * a stack's results are those of K one-item tasks bit for bit (dusk_linalg.h promises it).
 * cusolverDnXsyevBatched (DUSK__EIGH_BATCHED) agrees with them within rounding only; using
 * it here is a choice for whoever owns that promise (and bench/gpu/eigh_stack's figures). The
 * warm-up tries the batched call only when this is not DUSK__EIGH_LOOP. */
static const dusk__eigh_method codelet_method = DUSK__EIGH_LOOP;

/* Device blocks a worker's workspace took with cudaMalloc, when StarPU's allocator had none. */
#define DIRECT_MAX 16

/* Where a GPU worker's workspace takes its device memory; used by that worker's thread only. */
typedef struct node_mem {
    unsigned node;
    int ndirect;
    void *direct[DIRECT_MAX];
} node_mem;

/* Written by each GPU worker's own thread at start-up (one slot per worker, so no lock), read
 * by dusk__cuda_workers_init once starpu_execute_on_each_worker has returned. */
static dusk__eigh_cuda_ws *eigh_ws[STARPU_NMAXWORKERS];
static node_mem mem[STARPU_NMAXWORKERS];
static int init_error[STARPU_NMAXWORKERS];
static char init_why[STARPU_NMAXWORKERS][200];
static char init_warn[STARPU_NMAXWORKERS][240];

/* StarPU's allocator on the worker's memory node: the workspace counts against StarPU's
 * memory limits (STARPU_LIMIT_CUDA_MEM), which StarPU's data placement and eviction then see,
 * and blocks of up to 4 MiB come from StarPU's chunks, with no cudaMalloc or cudaFree. That
 * allocator does not evict StarPU's cached data for this call: when it has nothing, StarPU is
 * asked to tidy the node (write back dirty data, and free cached blocks past
 * STARPU_MINIMUM_AVAILABLE_MEM) and asked again; then cudaMalloc, outside StarPU's count, for a
 * few blocks. A failed cudaMalloc leaves the thread's last CUDA error set, which the next
 * cudaGetLastError() would report as its own: it is cleared. */
static void *node_alloc(void *ctx, size_t size)
{
    node_mem *m = ctx;
    void *p = (void *)starpu_malloc_on_node(m->node, size);
    if (p == NULL) {
        (void)cudaGetLastError();
        starpu_memchunk_tidy(m->node);
        p = (void *)starpu_malloc_on_node(m->node, size);
    }
    if (p == NULL && m->ndirect < DIRECT_MAX) {
        (void)cudaGetLastError();
        if (cudaMalloc(&p, size) == cudaSuccess)
            m->direct[m->ndirect++] = p;
        else
            p = NULL;
    }
    if (p == NULL) (void)cudaGetLastError();
    return p;
}

static void node_free(void *ctx, void *p, size_t size)
{
    node_mem *m = ctx;
    for (int i = 0; i < m->ndirect; i++)
        if (m->direct[i] == p) {
            cudaFree(p);
            m->direct[i] = m->direct[--m->ndirect];
            return;
        }
    starpu_free_on_node(m->node, (uintptr_t)p, size);
}

static void ws_init(void *arg)
{
    (void)arg;
    int id = starpu_worker_get_id_check();
    mem[id] = (node_mem){.node = starpu_worker_get_memory_node(id)};
    dusk__cuda_allocator alloc = {node_alloc, node_free, &mem[id]};
    init_why[id][0] = '\0';
    init_warn[id][0] = '\0';
    init_error[id] =
        dusk__eigh_cuda_ws_new(&eigh_ws[id], &alloc, init_why[id], sizeof init_why[id]);
    if (init_error[id] == 0)
        init_error[id] = dusk__cuda_warm_up(
            eigh_ws[id], starpu_cublas_get_local_handle(), starpu_cuda_get_local_stream(),
            codelet_method, init_why[id], sizeof init_why[id], init_warn[id], sizeof init_warn[id]);
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
    memset(init_warn, 0, sizeof init_warn);
    starpu_execute_on_each_worker(ws_init, NULL, STARPU_CUDA);
    for (unsigned w = 0; w < starpu_worker_get_count(); w++)
        if (init_error[w] == 0 && init_warn[w][0] != '\0')
            fprintf(stderr, "dusk: GPU worker %u: warning: %s\n", w, init_warn[w]);
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

/* The kernels take stacks of K items (dusk_linalg.h): each implementation below computes the
 * items whose status is 0, as the CPU ones do. A CUDA or cuBLAS error fails the whole task
 * (with dusk_task_opts.retries, the CPU implementation then runs it); what is wrong with one
 * item's matrix (a non-finite value, no convergence) fails that item alone. */

int dusk__gen_philox_cuda_call(dusk_call *call)
{
    const unsigned char *seeds;
    double *b;
    int64_t count, per;
    int ret = dusk__philox_args(call, &seeds, &b, &count, &per);
    if (ret != 0) return ret;
    char why[256];
    for (int64_t k = 0; k < count; k++) {
        if (dusk_call_item_status(call, k) != 0) continue;
        uint64_t seed;
        memcpy(&seed, seeds + k * (int64_t)sizeof seed, sizeof seed);
        ret = dusk__philox_fill_cuda(seed, b + k * per, per, dusk_call_cuda_stream(call), why,
                                     sizeof why);
        if (ret != 0) {
            dusk_call_fail(call, "%s", why);
            return ret;
        }
    }
    return 0;
}

int dusk__gram_cuda_call(dusk_call *call)
{
    const double *b;
    double *a;
    int64_t ka, m, n;
    int ret = dusk__gram_args(call, &b, &a, &ka, &m, &n);
    if (ret != 0) return ret;
    char why[256];
    for (int64_t k = 0; k < ka; k++) {
        if (dusk_call_item_status(call, k) != 0) continue;
        ret = dusk__gram_cuda(starpu_cublas_get_local_handle(), dusk_call_cuda_stream(call),
                              b + k * m * n, a + k * n * n, m, n, why, sizeof why);
        if (ret != 0) {
            dusk_call_fail(call, "%s", why);
            return ret;
        }
    }
    return 0;
}

int dusk__eigh_cuda_call(dusk_call *call)
{
    const dusk_eigh_args *args;
    double *a, *x, *w;
    int64_t ka, n;
    int ret = dusk__eigh_args(call, &args, &a, &x, &w, &ka, &n);
    if (ret != 0) return ret;
    /* the kernels read the C-order lower triangle only (dusk_linalg.h) */
    if (args->upper) {
        dusk_call_fail(call, "eigh: this implementation reads the lower triangle only (upper)");
        return DUSK_EINVAL;
    }
    const int64_t nn = n * n;
    dusk__eigh_cuda_ws *ws = eigh_ws[starpu_worker_get_id_check()];
    if (ws == NULL) {
        dusk_call_fail(call, "eigh: this GPU worker has no cuSOLVER handle");
        return DUSK_ENODEV;
    }
    cudaStream_t stream = dusk_call_cuda_stream(call);
    /* the batched call is off when this worker's warm-up of it failed */
    const dusk__eigh_method method =
        codelet_method != DUSK__EIGH_LOOP && !dusk__eigh_cuda_ws_batched(ws) ? DUSK__EIGH_LOOP
                                                                             : codelet_method;
    int *info = malloc((size_t)(ka > 0 ? ka : 1) * sizeof *info);
    if (info == NULL) {
        dusk_call_fail(call, "eigh: no host memory for %lld statuses", (long long)ka);
        return DUSK_ENOMEM;
    }
    char why[256];
    /* Each run of items still to compute, in one call; a non-finite item fails alone and the
     * run is found again without it. */
    for (int64_t start = 0; start < ka && ret == 0;) {
        if (dusk_call_item_status(call, start) != 0) {
            start++;
            continue;
        }
        int64_t end = start + 1, failed = -1;
        while (end < ka && dusk_call_item_status(call, end) == 0)
            end++;
        ret = dusk__eigh_stack_cuda(ws, stream, a + start * nn, x + start * nn, w + start * n,
                                    end - start, n, args->vectors, method, &failed, info, why,
                                    sizeof why);
        if (ret == DUSK_EDATA && failed >= 0) {
            int64_t bad = start + failed;
            /* its own reason, worded as for one matrix (as the CPU's) */
            (void)dusk__eigh_stack_cuda(ws, stream, a + bad * nn, x + bad * nn, w + bad * n, 1, n,
                                        args->vectors, method, NULL, NULL, why, sizeof why);
            dusk_call_fail_item(call, bad, DUSK_EDATA, "%s", why);
            ret = dusk_call_item_status(call, bad) != 0 ? 0 : DUSK_EDATA; /* else no progress */
            continue;
        }
        if (ret == DUSK_ENUMERIC && failed >= 0) {
            for (int64_t m = failed; m < end - start; m++)
                if (info[m] > 0)
                    dusk_call_fail_item(call, start + m, DUSK_ENUMERIC,
                                        "cuSOLVER's eigensolver did not converge (info = %d)",
                                        info[m]);
            ret = 0;
        }
        start = end;
    }
    free(info);
    if (ret != 0) dusk_call_fail(call, "%s", why);
    return ret;
}
