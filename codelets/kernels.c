/* The built-in kernels: an extension of the core (dusk_extension), registered before main()
 * runs by any program that links this file (every program that calls dusk_kernel_eigh() and
 * the others), so that dusk_init() creates them and dusk_shutdown() frees them. */
#include <cblas.h>

#include "codelets.h"
#include "dusk_builtin.h"
#include "dusk_features.h"
#include "io.h"

static dusk_kernel *gen, *gen_philox, *gram, *eigh, *verify, *load;

/* OpenBLAS's pthreads build (Debian's default) keeps one thread count for the whole process:
 * the workers' count would also be the caller's own (NumPy's matrix products in the same
 * Python process would run on one thread). The caller's count is set back while the workers
 * sleep, and after dusk_shutdown(). */
static int caller_blas_threads;

static void linalg_fini(void)
{
    dusk_kernel_free(&gen);
    dusk_kernel_free(&gen_philox);
    dusk_kernel_free(&gram);
    dusk_kernel_free(&eigh);
    dusk_kernel_free(&verify);
    dusk_kernel_free(&load);
}

/* eigh's cost depends on whether it computes eigenvectors (about 2 to 4 times as long at
 * n = 1000): each setting keeps its own entries in the performance model's history. */
static uint32_t eigh_footprint(const void *value, size_t size)
{
    if (value == NULL || size != sizeof(dusk_eigh_args)) return 0;
    return ((const dusk_eigh_args *)value)->vectors != 0 ? 2 : 1;
}

static int linalg_start(const dusk_config *cfg, char *why, size_t whylen)
{
    (void)cfg;
    int ret;
    caller_blas_threads = openblas_get_num_threads(); /* before worker_start changes it */
    if ((ret = dusk__kernel_new_builtin("dusk_gen", dusk__gen_cpu, &gen)) ||
        (ret = dusk__kernel_new_builtin("dusk_gen_philox", dusk__gen_philox_cpu, &gen_philox)) ||
        (ret = dusk__kernel_new_builtin("dusk_gram", dusk__gram_cpu, &gram)) ||
        (ret = dusk__kernel_new_builtin("dusk_eigh", dusk__eigh_cpu, &eigh)) ||
        (ret = dusk__kernel_new_builtin("dusk_verify", dusk__verify_cpu, &verify)) ||
        (ret = dusk__kernel_new_builtin("dusk_load", dusk__load_cpu, &load)) ||
        (ret = dusk_kernel_set_footprint(eigh, eigh_footprint))) {
        dusk__set_why(why, whylen, "the built-in kernels: %s", dusk_strerror(ret));
        linalg_fini();
        return ret;
    }
#if DUSK_HAVE_CUDA
    /* The NumPy-compatible generator, verify and load stay on the CPU: MT19937 is
     * sequential, and the other two are cheap or read files. */
    if ((ret = dusk_kernel_set_cuda(gen_philox, dusk__gen_philox_cuda_call)) ||
        (ret = dusk_kernel_set_cuda(gram, dusk__gram_cuda_call)) ||
        (ret = dusk_kernel_set_cuda(eigh, dusk__eigh_cuda_call)) ||
        (ret = dusk__cuda_workers_init())) {
        dusk__set_why(why, whylen, "the GPU workers: %s", dusk_strerror(ret));
        dusk__cuda_workers_fini();
        linalg_fini();
        return ret;
    }
#endif
    return 0;
}

/* One BLAS thread per worker by default: StarPU already runs one worker per core, and more
 * threads would fight over the same cores. Set on each worker's thread, where the kernels
 * call BLAS (OpenBLAS's OpenMP flavour keeps the count per thread). */
static void linalg_worker_start(int worker, int is_cuda, const dusk_config *cfg)
{
    (void)worker;
    (void)is_cuda;
    openblas_set_num_threads(cfg->blas_threads);
}

int dusk_blas_threads_effective(int want)
{
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(want);
    int got = openblas_get_num_threads();
    openblas_set_num_threads(saved);
    return got;
}

static void linalg_wake(void)
{
    caller_blas_threads = openblas_get_num_threads();
    const dusk_config *cfg = dusk_current_config();
    if (cfg != NULL) openblas_set_num_threads(cfg->blas_threads);
}

static void linalg_sleep(void)
{
    if (caller_blas_threads > 0) openblas_set_num_threads(caller_blas_threads);
}

static void linalg_stop(void)
{
#if DUSK_HAVE_CUDA
    dusk__cuda_workers_fini();
#endif
}

/* after StarPU stops: the kernels freed, the caller's BLAS threads back */
static void linalg_fini_all(void)
{
    linalg_fini();
    linalg_sleep();
}

static const dusk_extension linalg = {
    .name = "linalg",
    .start = linalg_start,
    .worker_start = linalg_worker_start,
    .stop = linalg_stop,
    .fini = linalg_fini_all,
    .wake = linalg_wake,
    .sleep = linalg_sleep,
};

__attribute__((constructor)) static void linalg_register(void)
{
    /* It fails only past DUSK_MAX_EXTENSIONS: the kernels then stay NULL, and tasks on them
     * are refused (DUSK_EINVAL) */
    if (dusk_extension_register(&linalg) != 0) return;
}

const dusk_kernel *dusk_kernel_gen(void)
{
    return gen;
}
const dusk_kernel *dusk_kernel_gen_philox(void)
{
    return gen_philox;
}
const dusk_kernel *dusk_kernel_gram(void)
{
    return gram;
}
const dusk_kernel *dusk_kernel_eigh(void)
{
    return eigh;
}
const dusk_kernel *dusk_kernel_verify(void)
{
    return verify;
}
const dusk_kernel *dusk_kernel_load(void)
{
    return load;
}
