/* Idle workers sleep: StarPU's workers poll for tasks in a tight loop, so a process that had
 * started dusk and then did its own work (a Python session between two dusk.eigh calls) lost
 * every core dusk's workers held: 2 CPU-seconds per second with 2 workers, measured. dusk
 * pauses them while no graph exists. Here the process's CPU time over a second of sleep stays
 * under 0.3 s after dusk_init(), after a graph has run and been freed, and after the last of
 * two graphs is freed; and the workers wake again: a graph made after each pause runs its
 * tasks on both workers, and one of two graphs alive keeps running after the other is freed.
 * Without the pause the first check reads about 2 s (one per worker). And OpenBLAS's thread
 * count, which its pthreads build keeps for the whole process, is the workers' (1) inside
 * tasks and the caller's own whenever the workers sleep and after dusk_shutdown(): starting
 * dusk used to leave NumPy's matrix products in the same process on one thread. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"
#include "test.h"

enum { WORKERS = 2, TASKS = 40, CALLER_BLAS = 3 };

/* the threads that ran tasks, and how many each */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t threads[64];
static int nthreads, ran, task_blas_threads;

/* a task of 5 ms, recording the thread that ran it */
static int nap(dusk_call *call)
{
    (void)call;
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
    pthread_t self = pthread_self();
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < nthreads && !pthread_equal(threads[i], self))
        i++;
    if (i == nthreads && i < 64) threads[nthreads++] = self;
    ran++;
    task_blas_threads = openblas_get_num_threads();
    pthread_mutex_unlock(&lock);
    return 0;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    CHECK_EQ(getrusage(RUSAGE_SELF, &ru), 0);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

/* CPU time the whole process uses while the main thread sleeps for a second (after half a
 * second for OpenBLAS's own threads, which poll for a moment after a change, to sleep) */
static double idle_cpu(void)
{
    struct timespec settle = {0, 500000000}, ts = {1, 0};
    nanosleep(&settle, NULL);
    double t0 = cpu_seconds();
    nanosleep(&ts, NULL);
    return cpu_seconds() - t0;
}

static void check_idle(const char *when)
{
    double used = idle_cpu();
    fprintf(stderr, "idle %s: %.3f CPU-s in 1 s\n", when, used);
    if (used > 0.3) TEST_FAIL_("idle workers used %.3f CPU-s in 1 s %s", used, when);
}

/* submit TASKS naps to g and check that they ran, on every worker */
static void run_naps(dusk_graph *g, const dusk_kernel *k)
{
    pthread_mutex_lock(&lock);
    nthreads = ran = 0;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < TASKS; i++)
        CHECK_OK(dusk_task_submit(g, k, NULL, 0, NULL, 0, NULL, NULL));
    CHECK_OK(dusk_graph_wait(g));
    pthread_mutex_lock(&lock);
    CHECK_EQ(ran, TASKS);
    CHECK_EQ(nthreads, WORKERS);
    CHECK_EQ(task_blas_threads, 1); /* the configuration's blas_threads, inside the tasks */
    pthread_mutex_unlock(&lock);
}

int main(void)
{
    dusk_config cfg;
    char why[256];
    openblas_set_num_threads(CALLER_BLAS); /* the caller's own BLAS threads (NumPy's) */
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    cfg.ncpu = WORKERS;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
    CHECK_EQ(dusk_worker_count(), WORKERS);
    CHECK(dusk_kernel_eigh() != NULL); /* the built-in kernels (and their BLAS settings) linked */
    dusk_kernel *k = NULL;
    CHECK_OK(dusk_kernel_new("nap", nap, &k));

    check_idle("after dusk_init()");
    CHECK_EQ(openblas_get_num_threads(), CALLER_BLAS); /* the caller's, while workers sleep */

    dusk_graph *g = NULL, *h = NULL;
    CHECK_OK(dusk_graph_new(&g));
    run_naps(g, k);
    dusk_graph_free(&g);
    check_idle("after a graph was freed");
    CHECK_EQ(openblas_get_num_threads(), CALLER_BLAS);

    /* two graphs at once: freeing one leaves the other's workers awake */
    CHECK_OK(dusk_graph_new(&g));
    CHECK_OK(dusk_graph_new(&h));
    run_naps(g, k);
    dusk_graph_free(&g);
    run_naps(h, k);
    dusk_graph_free(&h);
    check_idle("after the last of two graphs was freed");
    CHECK_EQ(openblas_get_num_threads(), CALLER_BLAS);

    /* and once more after a pause */
    CHECK_OK(dusk_graph_new(&g));
    run_naps(g, k);
    dusk_graph_free(&g);

    dusk_shutdown();
    CHECK_EQ(openblas_get_num_threads(), CALLER_BLAS);
    dusk_kernel_free(&k);
    return 0;
}
