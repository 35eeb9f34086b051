/* Configuration from the environment: defaults, values taken, and malformed or
 * out-of-range values refused with a message naming the variable. Also dusk_init refusals,
 * and dusk_init_check's. */
#include <stdio.h>
#include <stdlib.h>

#include <starpu_config.h> /* STARPU_NMAXWORKERS: how many CPUs a list may name */

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
    const char *vars[] = {"STARPU_NCPU",   "STARPU_NCUDA",      "STARPU_SCHED",
                          "DUSK_WINDOW",   "DUSK_BLAS_THREADS", "DUSK_WINDOW_MB",
                          "DUSK_TRACE",    "STARPU_CALIBRATE",  "STARPU_WORKERS_CPUID",
                          "STARPU_SILENT", "STARPU_NCPUS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
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
    expect_refused("STARPU_NCUDA", "65", "out of range");
    expect_refused("DUSK_WINDOW", "1048577", "out of range");
    expect_refused("DUSK_WINDOW_MB", "0", "out of range");
    expect_refused("DUSK_WINDOW_MB", "16777217", "out of range");
    expect_refused("DUSK_BLAS_THREADS", "0", "out of range");
    expect_refused("DUSK_BLAS_THREADS", "4097", "out of range");
    char long_dir[1100];
    memset(long_dir, 'd', sizeof long_dir - 1);
    long_dir[sizeof long_dir - 1] = '\0';
    expect_refused("DUSK_TRACE", long_dir, "too long");

    /* StarPU's own variables, which StarPU would answer with abort() or a crash */
    expect_refused("STARPU_NCPU", "", "not a whole number"); /* StarPU reads "" as 0 workers */
    expect_refused("STARPU_CALIBRATE", "abc", "not a whole number");
    expect_refused("STARPU_CALIBRATE", "1 ", "not a whole number");
    expect_refused("STARPU_SILENT", "yes", "not a whole number");
    expect_refused("STARPU_LIMIT_CPU_MEM", "-5", "out of range");
    expect_refused("STARPU_LIMIT_MAX_SUBMITTED_TASKS", "99999999999", "out of range");
    expect_refused("STARPU_MIN_PRIO", "-3", "out of range");
    expect_refused("STARPU_NCPUS", "two", "not a whole number");
    expect_refused("STARPU_NTHREADS_PER_CORE", "0", "out of range");
    expect_refused("STARPU_WATCHDOG_TIMEOUT", "0", "out of range");
    expect_refused("STARPU_WORKERS_CPUID", "-1", "not a list of CPU numbers");
    expect_refused("STARPU_WORKERS_CPUID", "0 x", "not a list");
    expect_refused("STARPU_WORKERS_CPUID", "", "not a list");
    expect_refused("STARPU_WORKERS_COREID", "1--2", "not a list");
    /* the test aid DUSK_FAIL_TASKS: keys NAME-ID separated by commas */
    expect_refused("DUSK_FAIL_TASKS", "bogus", "'bogus' is not a task key");
    expect_refused("DUSK_FAIL_TASKS", "eigh-5,,gen-7", "'' is not a task key");
    expect_refused("DUSK_FAIL_TASKS", "eigh-5,gen-", "'gen-' is not a task key");
    expect_refused("DUSK_FAIL_TASKS", "eigh 5", "not a task key");
    expect_refused("DUSK_FAIL_TASKS", "-5", "not a task key");
    expect_refused("DUSK_FAIL_TASKS", "eigh-5,", "ends with a comma");
    /* StarPU asserts when a CPU list fills its STARPU_NMAXWORKERS-entry table */
    char list[64], words[64];
    snprintf(list, sizeof list, "0-%d", STARPU_NMAXWORKERS + 48);
    snprintf(words, sizeof words, "names %d CPUs", STARPU_NMAXWORKERS + 49);
    expect_refused("STARPU_WORKERS_CPUID", list, words);
    expect_refused("STARPU_WORKERS_COREID", list, words);
    snprintf(list, sizeof list, "0-%d", STARPU_NMAXWORKERS - 1);
    snprintf(words, sizeof words, "names %d CPUs", STARPU_NMAXWORKERS);
    expect_refused("STARPU_WORKERS_CPUID", list, words);
    expect_refused("STARPU_WORKERS_CPUID", "0-99999999999999999999999", "names over");
    /* device lists: StarPU 1.3 reads "0-3" as 0 and -3, and stops at a comma */
    expect_refused("STARPU_WORKERS_CUDAID", "0-3", "not a list of device numbers");
    expect_refused("STARPU_WORKERS_OPENCLID", "0,1", "not a list of device numbers");
    expect_refused("STARPU_WINDOW_TIME_SIZE", "x", "not a number");
    expect_refused("STARPU_WINDOW_TIME_SIZE", "-1.5", "not a number");

    /* and the values StarPU takes are let through */
    const char *fine[][2] = {
        {"STARPU_CALIBRATE", "1"},
        {"STARPU_CALIBRATE", "+2"},
        {"STARPU_LIMIT_CPU_MEM", "0"},
        {"STARPU_WATCHDOG_TIMEOUT", "1000000"},
        {"STARPU_WORKERS_CPUID", "0 1,2-3"},
        {"STARPU_WORKERS_CPUID", "1-"},
        {"STARPU_WINDOW_TIME_SIZE", "1.5"},
        {"DUSK_WINDOW", ""},
        {"STARPU_NTHREADS_PER_CORE", "1"},
        {"DUSK_WINDOW_MB", "16777216"},
        {"STARPU_WORKERS_CPUID", list},
        {"STARPU_WORKERS_CUDAID", "0 1\t2"},
        {"DUSK_FAIL_TASKS", "eigh-5,gen-17"},
        {"DUSK_FAIL_TASKS", "add-2-7"},
        {"DUSK_FAIL_TASKS", ""},
    };
    snprintf(list, sizeof list, "0-%d", STARPU_NMAXWORKERS - 2); /* the most StarPU takes */
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        setenv(fine[i][0], fine[i][1], 1);
        if (dusk_config_init(&cfg, why, sizeof why) != 0)
            TEST_FAIL_("%s='%s' refused: %s", fine[i][0], fine[i][1], why);
        unsetenv(fine[i][0]);
    }

    /* dusk_init: an unknown scheduler is named, with the known ones */
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    strcpy(cfg.sched, "nosuch");
    CHECK_EQ(dusk_init(&cfg, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "unknown scheduler 'nosuch'");
    CHECK_STR_CONTAINS(why, "eager");
    CHECK_STR_CONTAINS(why, "all: STARPU_SCHED=help or --sched help)"); /* whole, not cut */
    CHECK_OK(dusk_sched_check("eager", why, sizeof why));
    const char *name, *description;
    int npolicies = 0, have_lws = 0;
    while (dusk_sched_policy(npolicies, &name, &description) == 0) {
        CHECK(name != NULL && description != NULL);
        CHECK_OK(dusk_sched_check(name, why, sizeof why));
        have_lws |= strcmp(name, "lws") == 0;
        npolicies++;
    }
    CHECK(name == NULL && description == NULL);
    CHECK_GE(npolicies, 4);
    CHECK(have_lws);
    CHECK_EQ(dusk_sched_policy(-1, &name, NULL), DUSK_EINVAL);

    /* a directory StarPU cannot create or write: refused before StarPU aborts on it */
    const char *home = getenv("STARPU_HOME"), *user_home = getenv("HOME");
    char saved_home[4096] = "", saved_user_home[4096] = "";
    if (home != NULL) snprintf(saved_home, sizeof saved_home, "%s", home);
    if (user_home != NULL) snprintf(saved_user_home, sizeof saved_user_home, "%s", user_home);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("STARPU_PERF_MODEL_DIR");
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.ncpu = 1;
    setenv("STARPU_HOME", "/proc/nope", 1);
    CHECK_EQ(dusk_init(&cfg, why, sizeof why), DUSK_EIO);
    CHECK_STR_CONTAINS(why, "/proc/nope/.starpu/sampling (from STARPU_HOME)");
    CHECK_STR_CONTAINS(why, "set STARPU_HOME to a writable directory");
    unsetenv("STARPU_HOME");
    setenv("HOME", "/proc/nope", 1);
    CHECK_EQ(dusk_init(&cfg, why, sizeof why), DUSK_EIO);
    CHECK_STR_CONTAINS(why, "(from HOME)");
    setenv("STARPU_PERF_MODEL_DIR", "/proc/x", 1);
    CHECK_EQ(dusk_init(&cfg, why, sizeof why), DUSK_EIO);
    CHECK_STR_CONTAINS(why, "/proc/x (from STARPU_PERF_MODEL_DIR)");
    unsetenv("STARPU_PERF_MODEL_DIR");
    setenv("STARPU_HOME", saved_home[0] ? saved_home : "/tmp", 1);
    setenv("HOME", saved_user_home[0] ? saved_user_home : "/tmp", 1);

    /* dusk_init_check: what dusk_init would refuse, with its code and line, StarPU not started */
    CHECK_EQ(dusk_init_check(NULL, why, sizeof why), DUSK_EINVAL);
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.ncpu = 1;
    snprintf(cfg.sched, sizeof cfg.sched, "nosuch");
    CHECK_EQ(dusk_init_check(&cfg, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "unknown scheduler 'nosuch'");
    cfg.sched[0] = '\0';
    snprintf(cfg.trace, sizeof cfg.trace, "/proc/self/status"); /* a file, not a directory */
    CHECK_EQ(dusk_init_check(&cfg, why, sizeof why), DUSK_EIO);
    CHECK_STR_CONTAINS(why, "cannot write the trace to /proc/self/status");
    CHECK_EQ(dusk_init(&cfg, why, sizeof why), DUSK_EIO); /* the same, from dusk_init */
    CHECK_STR_CONTAINS(why, "cannot write the trace to /proc/self/status");
    cfg.trace[0] = '\0';
    cfg.ncpu = 0;
    cfg.ncuda = 0;
    CHECK_EQ(dusk_init_check(&cfg, why, sizeof why), DUSK_ENODEV);
    CHECK_STR_CONTAINS(why, "0 CPU workers asked for");
    cfg.ncpu = 1;
    cfg.ncuda = -1;
    CHECK_OK(dusk_init_check(&cfg, why, sizeof why));
    CHECK_EQ(why[0], '\0');
    CHECK_EQ(dusk_worker_count(), 0); /* nothing started */

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
