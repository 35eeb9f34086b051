/* The eigh kernel refuses, by itself, eigenvectors of n > DUSK_EIGH_MAX_N (issue 12: only
 * dusk-eigh checked, and a library user went on into LAPACK's 32-bit workspace overflow:
 * dsyevd's 1 + 6n + 2n² workspace is past 2^31 - 1 at n = 32767). A 32767 x 32767 matrix
 * (8.6 GB) that no one touches: its pages stay virtual, and the task fails at once with
 * DUSK_EINVAL and a reason naming 32766. Without the check the kernel reads every value, then
 * dsyevd overflows or runs for hours on 17 GB of workspace: this test's TIMEOUT, or a crash.
 *
 * Twice: over the caller's memory (dusk_stack_wrap of an mmap with MAP_NORESERVE, so that it
 * runs wherever the system lets a process map 8.6 GB, whatever the memory available), and
 * in memory StarPU allocates for the first task that writes it (a kernel that writes
 * nothing), when dusk_memory_query() says it fits. Skipped (77) only when the system refuses
 * the mapping itself (overcommit off: vm.overcommit_memory = 2, or ulimit -v). */

#include <sys/mman.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"
#include "test.h"

static int untouched(dusk_call *call)
{
    (void)call; /* "writes" its argument without touching a page of it */
    return 0;
}

/* eigh with eigenvectors of a (n x n), in place: its status, and its reason into reason. */
static int eigh_vectors(dusk_graph *g, dusk_data *a, int64_t n, char *reason, size_t len)
{
    dusk_data *w;
    CHECK_OK(dusk_vector_new(g, n, &w));
    dusk_arg args[] = {{a, DUSK_RW}, {w, DUSK_W}};
    dusk_eigh_args ea = {.vectors = 1, .upper = 0};
    dusk_task_opts opts;
    CHECK_OK(dusk_task_opts_init(&opts));
    opts.where = DUSK_WHERE_CPU; /* LAPACK's limit: the CUDA solver has 64-bit workspaces */
    int64_t id;
    CHECK_OK(dusk_task_submit(g, dusk_kernel_eigh(), args, 2, &ea, sizeof ea, &opts, &id));
    CHECK_EQ(dusk_graph_wait(g), DUSK_ETASK);
    int status = dusk_task_status(g, id);
    int64_t nfailed, fid;
    dusk_graph_counts(g, NULL, NULL, &nfailed);
    CHECK_EQ(nfailed, 1);
    const char *key, *why;
    CHECK_OK(dusk_graph_failure(g, 0, &fid, &key, &why));
    CHECK_EQ(fid, id);
    snprintf(reason, len, "%s", why);
    CHECK_EQ(dusk_task_attempts(g, id), 1);
    dusk_data_release(&w);
    return status;
}

int main(void)
{
    const int64_t n = DUSK_EIGH_MAX_N + 1;
    const size_t bytes = (size_t)(n * n) * sizeof(double);
    CHECK_EQ(n, 32767);
    double *values = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (values == MAP_FAILED) {
        printf("skipped: the system refuses to map %.1f GB (overcommit off, or ulimit -v)\n",
               (double)bytes / 1e9);
        return TEST_SKIP;
    }
    dusk_config cfg;
    char why[256], reason[512];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));

    /* the caller's memory */
    dusk_graph *g;
    dusk_data *a;
    CHECK_OK(dusk_graph_new(&g));
    CHECK_OK(dusk_stack_wrap(g, values, 1, n, n, &a));
    CHECK_EQ(eigh_vectors(g, a, n, reason, sizeof reason), DUSK_EINVAL);
    CHECK_STR_CONTAINS(reason, "n = 32767 is over 32766");
    printf("wrap: %s\n", reason);
    dusk_data_release(&a);
    dusk_graph_free(&g);
    CHECK_OK(munmap(values, bytes));

    /* StarPU's memory, allocated for a writer that touches none of it */
    dusk_memory m;
    if (dusk_memory_query(&m) != 0 || m.available < (int64_t)bytes + ((int64_t)1 << 30)) {
        printf("StarPU's memory: not tried, %.1f GB available\n", (double)m.available / 1e9);
    } else {
        dusk_kernel *k;
        CHECK_OK(dusk_kernel_new("test_untouched", untouched, &k));
        CHECK_OK(dusk_graph_new(&g));
        CHECK_OK(dusk_matrix_new(g, n, n, &a));
        dusk_arg arg = {a, DUSK_W};
        CHECK_OK(dusk_task_submit(g, k, &arg, 1, NULL, 0, NULL, NULL));
        CHECK_EQ(eigh_vectors(g, a, n, reason, sizeof reason), DUSK_EINVAL);
        CHECK_STR_CONTAINS(reason, "n = 32767 is over 32766");
        printf("StarPU's memory: %s\n", reason);
        dusk_data_release(&a);
        dusk_graph_free(&g);
        dusk_kernel_free(&k);
    }
    dusk_shutdown();
    return 0;
}
