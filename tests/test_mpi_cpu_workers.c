/* How many CPU workers a rank starts under a launcher (runtime/src/core/mpi.c): the cores it
 * was given, less one for StarPU-MPI's thread when it has one of its own, less one for each
 * GPU's driver thread, and never fewer than one (the generator, verify and load run only on
 * CPUs). The GPU part runs only in a build with CUDA; the count is checked here. */
#include "dusk_internal.h"
#include "test.h"

int main(void)
{
    CHECK_EQ(dusk__rank_cpu_workers(1, 0, 0), 1);
    CHECK_EQ(dusk__rank_cpu_workers(2, 0, 0), 2);
    CHECK_EQ(dusk__rank_cpu_workers(8, 1, 0), 7);
    /* a GPU: its driver thread keeps a core */
    CHECK_EQ(dusk__rank_cpu_workers(2, 0, 1), 1);
    CHECK_EQ(dusk__rank_cpu_workers(16, 1, 1), 14);
    CHECK_EQ(dusk__rank_cpu_workers(16, 0, 4), 12);
    /* never none */
    CHECK_EQ(dusk__rank_cpu_workers(1, 1, 0), 1);
    CHECK_EQ(dusk__rank_cpu_workers(1, 0, 1), 1);
    CHECK_EQ(dusk__rank_cpu_workers(2, 1, 8), 1);
    CHECK_EQ(dusk__rank_cpu_workers(4, 0, -1), 4); /* no count: no GPU */
    return 0;
}
