/* dusk_init() leaves the environment as it found it and installs no signal handler: what
 * StarPU reads only from the environment (STARPU_SILENT, STARPU_SCHED when the field names a
 * policy, STARPU_MPI_NOBIND under ranks) is set for its start alone, then put back; a
 * program's SIGINT handler stays in place. Run under mpirun (tests/test_mpi_placement.sh),
 * each rank also checks that its workers run on the cores the launcher gave it, without
 * STARPU_WORKERS_CPUID set for it. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>

#include <starpu.h>

#include "dusk.h"
#include "test.h"

static volatile sig_atomic_t got_sigint;
static void on_sigint(int sig)
{
    (void)sig;
    got_sigint = 1;
}

static void start(const char *sched)
{
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    if (dusk_rank_count() == 1) cfg.ncpu = 1;
    snprintf(cfg.sched, sizeof cfg.sched, "%s", sched);
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
}

static void check_unset(const char *name)
{
    if (getenv(name) != NULL) TEST_FAIL_("%s=%s was left in the environment", name, getenv(name));
}

int main(void)
{
    const char *vars[] = {"STARPU_SILENT", "STARPU_SCHED", "STARPU_MPI_NOBIND",
                          "STARPU_WORKERS_CPUID", "STARPU_CATCH_SIGNALS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    struct sigaction sa, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(SIGINT, &sa, NULL), 0);

    /* twice: nothing persists from one dusk_init to the next (under ranks once: MPI cannot
     * start again once finished) */
    int ranks = dusk_rank_count();
    for (int round = 0; round < (ranks > 1 ? 1 : 2); round++) {
        start("");
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
            check_unset(vars[i]);
        CHECK_EQ(sigaction(SIGINT, NULL, &now), 0);
        CHECK(now.sa_handler == on_sigint); /* StarPU's catch_signals would replace it */
        if (dusk_rank_count() > 1) {
            /* each rank's workers on its own cores (Open MPI binds each of 2 ranks to one) */
            cpu_set_t set;
            CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
            for (int w = 0; w < dusk_cpu_worker_count(); w++) {
                int cpu = starpu_worker_get_bindid(w);
                if (cpu < 0 || !CPU_ISSET(cpu, &set))
                    TEST_FAIL_("rank %d: worker %d is bound to CPU %d, outside the rank's %d "
                               "CPUs",
                               dusk_rank(), w, cpu, CPU_COUNT(&set));
            }
        }
        dusk_shutdown();
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
            check_unset(vars[i]);
    }
    CHECK(raise(SIGINT) == 0);
    CHECK(got_sigint);
    if (ranks > 1) return 0;

    /* what the user set stays as it was */
    setenv("STARPU_SILENT", "0", 1);
    start("");
    CHECK_STR_CONTAINS(getenv("STARPU_SILENT"), "0");
    dusk_shutdown();
    CHECK(strcmp(getenv("STARPU_SILENT"), "0") == 0);
    unsetenv("STARPU_SILENT");

    /* the field (from --sched) wins over STARPU_SCHED, which StarPU would prefer; the
     * variable is back afterwards */
    setenv("STARPU_SCHED", "eager", 1);
    start("lws");
    CHECK(strcmp(dusk_sched_name(), "lws") == 0);
    CHECK(strcmp(getenv("STARPU_SCHED"), "eager") == 0);
    dusk_shutdown();
    CHECK(strcmp(getenv("STARPU_SCHED"), "eager") == 0);
    start("eager"); /* from the variable, through dusk_config_init */
    CHECK(strcmp(dusk_sched_name(), "eager") == 0);
    dusk_shutdown();
    unsetenv("STARPU_SCHED");
    return 0;
}
