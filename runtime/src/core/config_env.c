/* Configuration: dusk_config's defaults, the environment variables (dusk's and the StarPU
 * ones StarPU would answer with an abort), and the one table of bounds of the numeric
 * settings that the environment, the command line (apps/cli.c) and dusk_init() share.
 * Starting and stopping are in init.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dusk_internal.h"

/* Read an integer environment variable into *field when it is set. An empty value counts as
 * unset for dusk's own variables, but not for StarPU's: StarPU reads "" as 0. */
static int env_int(const char *name, long long lo, long long hi, int *field, char *why,
                   size_t whylen)
{
    const char *s = getenv(name);
    long long v;
    if (s == NULL || (*s == '\0' && strncmp(name, "STARPU_", 7) != 0)) return 0;
    int rc = dusk__parse_int(s, lo, hi, &v);
    if (rc == DUSK__NOT_A_NUMBER) {
        dusk__set_why(why, whylen, "%s='%s' is not a whole number", name, s);
        return DUSK_EINVAL;
    }
    if (rc == DUSK__OUT_OF_RANGE) {
        dusk__set_why(why, whylen, "%s=%s is out of range (%lld to %lld)", name, s, lo, hi);
        return DUSK_EINVAL;
    }
    *field = (int)v;
    return 0;
}

/* The numeric settings of dusk_config (dusk_setting): the field, its environment variable
 * and flag, the range they take, and the field's "decide for me" value, which only the
 * struct takes (where it is outside the range). */
static const struct setting {
    const char *field, *env, *flag;
    size_t offset;
    long long lo, hi, unset;
    const char *unset_means;
} settings[DUSK_SETTING_COUNT] = {
    [DUSK_SETTING_NCPU] = {"ncpu", "STARPU_NCPU", "--ncpu", offsetof(dusk_config, ncpu), 0, 4096,
                           -1, "StarPU's default"},
    [DUSK_SETTING_NCUDA] = {"ncuda", "STARPU_NCUDA", NULL, offsetof(dusk_config, ncuda), 0, 64, -1,
                            "StarPU's default"},
    [DUSK_SETTING_BLAS_THREADS] = {"blas_threads", "DUSK_BLAS_THREADS", "--blas-threads",
                                   offsetof(dusk_config, blas_threads), 1, 4096, 1, NULL},
    [DUSK_SETTING_WINDOW] = {"window", "DUSK_WINDOW", "--window", offsetof(dusk_config, window), 1,
                             1 << 20, 0, "64 per worker"},
    [DUSK_SETTING_WINDOW_MB] = {"window_mb", "DUSK_WINDOW_MB", "--window-mb",
                                offsetof(dusk_config, window_mb), 1, 1 << 24, 0, "32 per worker"},
    [DUSK_SETTING_MPI_CORE] = {"mpi_core", "DUSK_MPI_CORE", NULL, offsetof(dusk_config, mpi_core),
                               -1, 1, -1, NULL},
    [DUSK_SETTING_PROGRESS] = {"progress", NULL, NULL, offsetof(dusk_config, progress), -1, 1, -1,
                               NULL},
    [DUSK_SETTING_VERBOSE] = {"verbose", NULL, NULL, offsetof(dusk_config, verbose), -1, 1, 0,
                              NULL},
};

static int setting_ok(const struct setting *st, long long v)
{
    return (v >= st->lo && v <= st->hi) || v == st->unset;
}

static void setting_refused(const struct setting *st, long long v, char *why, size_t whylen)
{
    if (st->unset_means != NULL)
        dusk__set_why(why, whylen,
                      "invalid configuration value: %s = %lld is out of range (%lld to %lld, or "
                      "%lld for %s)",
                      st->field, v, st->lo, st->hi, st->unset, st->unset_means);
    else
        dusk__set_why(why, whylen,
                      "invalid configuration value: %s = %lld is out of range (%lld to %lld)",
                      st->field, v, st->lo, st->hi);
}

static int *setting_field(dusk_config *cfg, dusk_setting s)
{
    return (int *)(void *)((char *)cfg + settings[s].offset);
}

int dusk_config_bounds(dusk_setting s, long long *lo, long long *hi, long long *unset,
                       const char **field, const char **env, const char **flag)
{
    int known = (int)s >= 0 && s < DUSK_SETTING_COUNT;
    const struct setting *st = known ? &settings[s] : NULL;
    if (lo != NULL) *lo = known ? st->lo : 0;
    if (hi != NULL) *hi = known ? st->hi : 0;
    if (unset != NULL) *unset = known ? st->unset : 0;
    if (field != NULL) *field = known ? st->field : NULL;
    if (env != NULL) *env = known ? st->env : NULL;
    if (flag != NULL) *flag = known ? st->flag : NULL;
    return known ? 0 : DUSK_EINVAL;
}

int dusk_config_set(dusk_config *cfg, dusk_setting s, long long value, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (cfg == NULL || (int)s < 0 || s >= DUSK_SETTING_COUNT) {
        dusk__set_why(why, whylen, "%s", cfg == NULL ? "no configuration" : "unknown setting");
        return DUSK_EINVAL;
    }
    if (!setting_ok(&settings[s], value)) {
        setting_refused(&settings[s], value, why, whylen);
        return DUSK_EINVAL;
    }
    *setting_field(cfg, s) = (int)value;
    return 0;
}

int dusk_config_get(const dusk_config *cfg, dusk_setting s, long long *value)
{
    if (value != NULL) *value = 0;
    if (cfg == NULL || value == NULL || (int)s < 0 || s >= DUSK_SETTING_COUNT) return DUSK_EINVAL;
    *value = *setting_field((dusk_config *)cfg, s);
    return 0;
}

int dusk__config_check(const dusk_config *cfg, char *why, size_t whylen)
{
    for (int s = 0; s < DUSK_SETTING_COUNT; s++) {
        long long v = *setting_field((dusk_config *)cfg, (dusk_setting)s);
        if (!setting_ok(&settings[s], v)) {
            setting_refused(&settings[s], v, why, whylen);
            return DUSK_EINVAL;
        }
    }
    if (memchr(cfg->sched, '\0', sizeof cfg->sched) == NULL ||
        memchr(cfg->trace, '\0', sizeof cfg->trace) == NULL) {
        dusk__set_why(why, whylen, "invalid configuration value: sched or trace is not a string");
        return DUSK_EINVAL;
    }
    return 0;
}

/* StarPU 1.3's own numeric variables. StarPU reads them when it starts and, on a value that
 * is not a whole number (or a negative one, or a list entry that is not a CPU number), aborts
 * the process with a core dump or crashes (measured with Debian's 1.3.10: SIGABRT or
 * SIGSEGV). dusk passes them through, so it checks them first and refuses with one line.
 * The ranges are what StarPU accepts without asserting; values past INT_MAX would wrap. */
static const struct starpu_int_var {
    const char *name;
    long long lo;
} starpu_ints[] = {
    {"STARPU_BACKOFF_MAX", 0},
    {"STARPU_BACKOFF_MIN", 0},
    {"STARPU_BUS_CALIBRATE", 0},
    {"STARPU_CALIBRATE", 0},
    {"STARPU_CALIBRATE_MINIMUM", 0},
    {"STARPU_CATCH_SIGNALS", 0},
    {"STARPU_DIDUSE_BARRIER", 0},
    {"STARPU_DISABLE_ASYNCHRONOUS_COPY", 0},
    {"STARPU_DISABLE_ASYNCHRONOUS_CUDA_COPY", 0},
    {"STARPU_DISABLE_ASYNCHRONOUS_MIC_COPY", 0},
    {"STARPU_DISABLE_ASYNCHRONOUS_MPI_MS_COPY", 0},
    {"STARPU_DISABLE_ASYNCHRONOUS_OPENCL_COPY", 0},
    {"STARPU_DISABLE_KERNELS", 0},
    {"STARPU_DISABLE_PINNING", 0},
    {"STARPU_DISPLAY_BINDINGS", 0},
    {"STARPU_ENABLE_STATS", 0},
    {"STARPU_GLOBAL_ARBITER", 0},
    {"STARPU_HISTORY_MAX_ERROR", 0},
    {"STARPU_LIMIT_BANDWIDTH", 0},
    {"STARPU_LIMIT_CPU_MEM", 0},
    {"STARPU_LIMIT_CPU_NUMA_MEM", 0},
    {"STARPU_LIMIT_CUDA_MEM", 0},
    {"STARPU_LIMIT_MAX_SUBMITTED_TASKS", 0},
    {"STARPU_LIMIT_MIN_SUBMITTED_TASKS", 0},
    {"STARPU_MAIN_THREAD_BIND", 0},
    {"STARPU_MAIN_THREAD_COREID", 0},
    {"STARPU_MAIN_THREAD_CPUID", 0},
    {"STARPU_MAX_MEMORY_USE", 0},
    {"STARPU_MAX_PRIO", 0}, /* StarPU asserts that both priorities are >= 0 */
    {"STARPU_MEMORY_STATS", 0},
    {"STARPU_MINIMUM_AVAILABLE_MEM", 0},
    {"STARPU_MINIMUM_CLEAN_BUFFERS", 0},
    {"STARPU_MIN_PRIO", 0},
    {"STARPU_NCPUS", 0}, /* the old spelling of STARPU_NCPU, still read */
    {"STARPU_NMIC", 0},
    {"STARPU_NMPI_MS", 0},
    {"STARPU_NOPENCL", 0},
    {"STARPU_NTHREADS_PER_CORE", 1}, /* 0 aborts while StarPU builds its topology */
    {"STARPU_OPENCL_ONLY_ON_CPUS", 0},
    {"STARPU_OPENCL_ON_CPUS", 0},
    {"STARPU_PERF_MODEL_HOMOGENEOUS_CPU", 0},
    {"STARPU_PERF_MODEL_HOMOGENEOUS_CUDA", 0},
    {"STARPU_PERF_MODEL_HOMOGENEOUS_MIC", 0},
    {"STARPU_PERF_MODEL_HOMOGENEOUS_MPI_MS", 0},
    {"STARPU_PERF_MODEL_HOMOGENEOUS_OPENCL", 0},
    {"STARPU_PREFETCH", 0},
    {"STARPU_PROFILING", 0},
    {"STARPU_RESERVE_NCPU", 0},
    {"STARPU_SILENT", 0},
    {"STARPU_SIMGRID", 0},
    {"STARPU_SINGLE_COMBINED_WORKER", 0},
    {"STARPU_STATS", 0},
    {"STARPU_TARGET_AVAILABLE_MEM", 0},
    {"STARPU_TARGET_CLEAN_BUFFERS", 0},
    {"STARPU_TASK_BREAK_ON_EXEC", 0},
    {"STARPU_TASK_BREAK_ON_POP", 0},
    {"STARPU_TASK_BREAK_ON_PUSH", 0},
    {"STARPU_TASK_BREAK_ON_SCHED", 0},
    {"STARPU_TASK_PROGRESS", 0},
    {"STARPU_TRACE_BUFFER_SIZE", 0},
    {"STARPU_USE_NUMA", 0},
    {"STARPU_WATCHDOG_CRASH", 0},
    {"STARPU_WATCHDOG_DELAY", 0},
    {"STARPU_WATCHDOG_TIMEOUT", 1}, /* microseconds; 0 and below make the watchdog abort */
    {"STARPU_WORKERS_GETBIND", 0},
    {"STARPU_WORKERS_NOBIND", 0},
    {"STARPU_WORKER_TREE", 0},
};

/* StarPU's lists of CPU numbers ("0 1 2", "0,2", ranges "0-3" and "3-" up to the last PU):
 * a negative or non-numeric entry crashes its topology code. StarPU 1.3 expands them into a
 * table of STARPU_NMAXWORKERS entries and needs one left over to see where the list ends: a
 * list naming STARPU_NMAXWORKERS CPUs or more leaves it with no CPU at all, and it asserts
 * ("i < workers_nbindid", _starpu_get_next_bindid in topology.c). */
static const char *const starpu_cpu_lists[] = {"STARPU_WORKERS_CPUID", "STARPU_WORKERS_COREID"};
/* Its lists of device numbers are read with strtol alone (_starpu_initialize_workers_deviceid):
 * numbers separated by spaces, no commas (the list stops there) and no ranges ("0-3" reads as
 * devices 0 and -3). */
static const char *const starpu_device_lists[] = {
    "STARPU_WORKERS_CUDAID",
    "STARPU_WORKERS_OPENCLID",
    "STARPU_WORKERS_MICID",
    "STARPU_WORKERS_MPI_MSID",
};

/* The number of CPUs a syntactically valid list names, as StarPU expands it (an open range
 * "3-" runs to the last PU), or -1 when the syntax is wrong. `ranges` allows "a-b" and ",". */
#define LIST_BIG 1000000000LL
static long long list_count(const char *s, int ranges)
{
    long long entries = 0;
    long npus = sysconf(_SC_NPROCESSORS_CONF);
    while (*s) {
        if (*s == ' ' || *s == '\t' || (ranges && *s == ',')) {
            s++;
            continue;
        }
        if (*s < '0' || *s > '9') return -1;
        char *end;
        errno = 0;
        unsigned long long first = strtoull(s, &end, 10), last = first;
        if (errno == ERANGE) first = last = ULLONG_MAX;
        s = end;
        if (ranges && *s == '-') {
            s++;
            if (*s >= '0' && *s <= '9') {
                errno = 0;
                last = strtoull(s, &end, 10);
                if (errno == ERANGE) last = ULLONG_MAX;
                s = end;
            } else {
                last = npus > 0 ? (unsigned long long)npus - 1 : first;
            }
        }
        if (*s != '\0' && *s != ' ' && *s != '\t' && !(ranges && *s == ',')) return -1;
        /* saturating: the count only needs to be compared with STARPU_NMAXWORKERS */
        unsigned long long span = last > first ? last - first : 0;
        entries += span > LIST_BIG ? LIST_BIG : (long long)span + 1;
        if (entries > LIST_BIG) entries = LIST_BIG;
    }
    return entries > 0 ? entries : -1;
}

static int check_starpu_env(char *why, size_t whylen)
{
    int unused, rc;
    for (size_t i = 0; i < sizeof starpu_ints / sizeof starpu_ints[0]; i++)
        if ((rc = env_int(starpu_ints[i].name, starpu_ints[i].lo, INT_MAX, &unused, why, whylen)))
            return rc;
    for (size_t i = 0; i < sizeof starpu_cpu_lists / sizeof starpu_cpu_lists[0]; i++) {
        const char *s = getenv(starpu_cpu_lists[i]);
        long long n = s != NULL ? list_count(s, 1) : 0;
        if (n < 0) {
            dusk__set_why(why, whylen,
                          "%s='%s' is not a list of CPU numbers (e.g. \"0 1 2\" or \"0-3\")",
                          starpu_cpu_lists[i], s);
            return DUSK_EINVAL;
        }
        if (n >= STARPU_NMAXWORKERS) {
            dusk__set_why(why, whylen,
                          "%s='%s' names %s%lld CPUs; this StarPU takes at most %d "
                          "(STARPU_NMAXWORKERS - 1)",
                          starpu_cpu_lists[i], s, n == LIST_BIG ? "over " : "", n,
                          STARPU_NMAXWORKERS - 1);
            return DUSK_EINVAL;
        }
    }
    for (size_t i = 0; i < sizeof starpu_device_lists / sizeof starpu_device_lists[0]; i++) {
        const char *s = getenv(starpu_device_lists[i]);
        if (s != NULL && list_count(s, 0) < 0) {
            dusk__set_why(why, whylen,
                          "%s='%s' is not a list of device numbers separated by spaces (e.g. "
                          "\"0 1 2\"; StarPU 1.3 reads no ranges or commas here)",
                          starpu_device_lists[i], s);
            return DUSK_EINVAL;
        }
    }
    const char *s = getenv("STARPU_WINDOW_TIME_SIZE"); /* StarPU aborts unless a number */
    if (s != NULL) {
        char *end;
        double v = strtod(s, &end);
        if (*s == '\0' || *end != '\0' || !isfinite(v) || v < 0) {
            dusk__set_why(why, whylen, "STARPU_WINDOW_TIME_SIZE='%s' is not a number >= 0", s);
            return DUSK_EINVAL;
        }
    }
    return 0;
}

int dusk_config_init(dusk_config *cfg, char *why, size_t whylen)
{
    int rc;
    dusk__set_why(why, whylen, "%s", "");
    if (cfg == NULL) {
        dusk__set_why(why, whylen, "no configuration to fill (NULL)");
        return DUSK_EINVAL;
    }
    memset(cfg, 0, sizeof *cfg);
    for (int s = 0; s < DUSK_SETTING_COUNT; s++) /* each field's "decide for me" value */
        *setting_field(cfg, (dusk_setting)s) = (int)settings[s].unset;

    for (int s = 0; s < DUSK_SETTING_COUNT; s++)
        if (settings[s].env != NULL &&
            (rc = env_int(settings[s].env, settings[s].lo, settings[s].hi,
                          setting_field(cfg, (dusk_setting)s), why, whylen)))
            return rc;
    if ((rc = check_starpu_env(why, whylen)) || (rc = dusk__fail_tasks_check(why, whylen)))
        return rc;
    const char *dir = getenv("DUSK_TRACE");
    if (dir != NULL && *dir != '\0') {
        if (strlen(dir) >= sizeof cfg->trace) {
            dusk__set_why(why, whylen, "DUSK_TRACE is too long");
            return DUSK_EINVAL;
        }
        strcpy(cfg->trace, dir);
    }
    const char *sched = getenv("STARPU_SCHED");
    if (sched != NULL && *sched != '\0') {
        if (strlen(sched) >= sizeof cfg->sched) {
            dusk__set_why(why, whylen, "STARPU_SCHED='%s' is too long", sched);
            return DUSK_EINVAL;
        }
        strcpy(cfg->sched, sched);
    }
    return 0;
}

int dusk_sched_policy(int i, const char **name, const char **description)
{
    struct starpu_sched_policy **p = starpu_sched_get_predefined_policies();
    if (name != NULL) *name = NULL;
    if (description != NULL) *description = NULL;
    for (int j = 0; i >= 0 && p[j] != NULL; j++)
        if (j == i) {
            if (name != NULL) *name = p[j]->policy_name;
            if (description != NULL)
                *description = p[j]->policy_description ? p[j]->policy_description : "";
            return 0;
        }
    return DUSK_EINVAL;
}

int dusk_sched_check(const char *name, char *why, size_t whylen)
{
    const char *known;
    dusk__set_why(why, whylen, "%s", "");
    for (int i = 0; name != NULL && dusk_sched_policy(i, &known, NULL) == 0; i++)
        if (strcmp(known, name) == 0) return 0;
    /* StarPU 1.3 has about 20 policies: name the usual ones, and say how to list them all,
     * so that the line stays short and whole. */
    static const char *const usual[] = {"lws", "eager", "dmda", "ws", "prio", "dmdas"};
    char try[96] = "";
    size_t used = 0;
    for (size_t u = 0; u < sizeof usual / sizeof usual[0]; u++)
        for (int i = 0; dusk_sched_policy(i, &known, NULL) == 0; i++)
            if (strcmp(known, usual[u]) == 0) {
                int w = snprintf(try + used, sizeof try - used, "%s%s", used ? ", " : "", known);
                if (w > 0 && (size_t)w < sizeof try - used) used += (size_t)w;
                break;
            }
    dusk__set_why(why, whylen,
                  "unknown scheduler '%s' (try %s; all: STARPU_SCHED=help or --sched help)",
                  name ? name : "", try);
    return DUSK_EINVAL;
}
