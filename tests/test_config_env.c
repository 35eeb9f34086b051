/* Configuration from the environment: defaults, values taken, and malformed or
 * out-of-range values refused with a message naming the variable. Also dusk_init refusals. */
#include <stdlib.h>

#include "dusk.h"
#include "test.h"

static void expect_refused(const char *var, const char *value, const char *words)
{
    dusk_config cfg;
    char why[256];
    setenv(var, value, 1);
    CHECK_EQ(dusk_config_init(&cfg, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, var);
    CHECK_STR_CONTAINS(why, words);
    unsetenv(var);
}

int main(void)
{
    const char *vars[] = {"STARPU_NCPU", "STARPU_NCUDA", "STARPU_SCHED", "DUSK_BLAS_THREADS",
                          "DUSK_WINDOW"};
    for (int i = 0; i < 5; i++)
        unsetenv(vars[i]);

    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    CHECK_EQ(cfg.ncpu, -1);
    CHECK_EQ(cfg.blas_threads, 1);
    CHECK_EQ(cfg.window, 0);
    CHECK_EQ(cfg.progress, DUSK_PROGRESS_AUTO);
    CHECK_EQ(cfg.sched[0], '\0');

    setenv("STARPU_NCPU", "1", 1);
    setenv("STARPU_SCHED", "eager", 1);
    setenv("DUSK_WINDOW", "12", 1);
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    CHECK_EQ(cfg.ncpu, 1);
    CHECK_EQ(cfg.window, 12);
    CHECK(strcmp(cfg.sched, "eager") == 0);
    unsetenv("STARPU_NCPU");
    unsetenv("STARPU_SCHED");
    unsetenv("DUSK_WINDOW");

    expect_refused("STARPU_NCPU", "abc", "not a whole number");
    expect_refused("STARPU_NCPU", "-2", "out of range");
    expect_refused("STARPU_NCPU", "99999999999999999999", "out of range");
    expect_refused("DUSK_WINDOW", "0", "out of range");
    expect_refused("DUSK_BLAS_THREADS", "2x", "not a whole number");
    expect_refused("STARPU_SCHED", "a-very-long-scheduler-name-that-does-not-fit", "too long");

    /* dusk_init: an unknown scheduler is named, with the known ones */
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    strcpy(cfg.sched, "nosuch");
    CHECK_EQ(dusk_init(&cfg, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "unknown scheduler 'nosuch'");
    CHECK_STR_CONTAINS(why, "eager");

    /* nothing works before init, then init works once */
    dusk_graph *g;
    CHECK_EQ(dusk_graph_new(&g), DUSK_ESTATE);
    CHECK(g == NULL);
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.ncpu = 1;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
    CHECK_EQ(dusk_worker_count(), 1);
    CHECK_EQ(dusk_init(&cfg, why, sizeof why), DUSK_ESTATE);
    dusk_shutdown();
    dusk_shutdown(); /* twice is fine */

    for (int e = 0; e >= -12; e--)
        CHECK(dusk_strerror(e) != NULL && dusk_strerror(e)[0] != '\0');
    return 0;
}
