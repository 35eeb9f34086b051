/* Configuration, start-up and shut-down of StarPU. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dusk_features.h"
#include "dusk_internal.h"
#include "dusk_trace.h"
#include "trace.h"

int dusk__started = 0;
static dusk_config current;
static dusk_kernel *doomed; /* kernels freed while StarPU still held their codelets */
static dusk__trace *trace;  /* when DUSK_TRACE or --trace asked for one */
static char *run_info;
static char *fail_tasks; /* ",key,key," from DUSK_FAIL_TASKS, or NULL */

struct dusk__trace *dusk__current_trace(void)
{
    return trace;
}

void dusk_set_run_info(const char *line)
{
    if (trace == NULL || line == NULL) return;
    free(run_info);
    run_info = dusk__strdup(line);
}

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

/* DUSK_FAIL_TASKS (a test aid): task keys as the apps make them, NAME-ID ("eigh-5",
 * "add-2-7"), separated by commas. Anything else would silently inject nothing. */
static int fail_tasks_check(char *why, size_t whylen)
{
    const char *s = getenv("DUSK_FAIL_TASKS");
    if (s == NULL || *s == '\0') return 0;
    for (const char *key = s; *key != '\0';) {
        size_t len = strcspn(key, ",");
        int ok = len > 0 && len < 200 && key[len - 1] >= '0' && key[len - 1] <= '9';
        size_t digits = 0;
        while (ok && digits < len && key[len - 1 - digits] >= '0' && key[len - 1 - digits] <= '9')
            digits++;
        ok = ok && digits < len && key[len - 1 - digits] == '-' && len - digits - 1 > 0;
        for (size_t i = 0; ok && i < len; i++)
            ok = (key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
                 (key[i] >= '0' && key[i] <= '9') || key[i] == '-' || key[i] == '_' ||
                 key[i] == '.';
        if (!ok) {
            dusk__set_why(why, whylen,
                          "DUSK_FAIL_TASKS='%s': '%.*s' is not a task key (expected keys such as "
                          "eigh-5,gen-17, separated by commas)",
                          s, (int)(len > 60 ? 60 : len), key);
            return DUSK_EINVAL;
        }
        key += len;
        if (*key == ',') {
            key++;
            if (*key == '\0') { /* a trailing comma: an empty key */
                dusk__set_why(why, whylen, "DUSK_FAIL_TASKS='%s' ends with a comma", s);
                return DUSK_EINVAL;
            }
        }
    }
    return 0;
}

int dusk_config_init(dusk_config *cfg, char *why, size_t whylen)
{
    int rc;
    if (cfg == NULL) {
        dusk__set_why(why, whylen, "no configuration to fill (NULL)");
        return DUSK_EINVAL;
    }
    memset(cfg, 0, sizeof *cfg);
    cfg->ncpu = -1;
    cfg->ncuda = -1;
    cfg->blas_threads = 1;
    cfg->window = 0;
    cfg->progress = DUSK_PROGRESS_AUTO;
    cfg->mpi_core = -1;
    dusk__set_why(why, whylen, "%s", "");

    if ((rc = env_int("STARPU_NCPU", 0, 4096, &cfg->ncpu, why, whylen)) ||
        (rc = env_int("STARPU_NCUDA", 0, 64, &cfg->ncuda, why, whylen)) ||
        (rc = env_int("DUSK_BLAS_THREADS", 1, 4096, &cfg->blas_threads, why, whylen)) ||
        (rc = env_int("DUSK_WINDOW", 1, 1 << 20, &cfg->window, why, whylen)) ||
        (rc = env_int("DUSK_WINDOW_MB", 1, 1 << 24, &cfg->window_mb, why, whylen)) ||
        (rc = env_int("DUSK_MPI_CORE", -1, 1, &cfg->mpi_core, why, whylen)) ||
        (rc = check_starpu_env(why, whylen)) || (rc = fail_tasks_check(why, whylen)))
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

/* The directory StarPU 1.3 keeps its performance models and bus calibration in, by its own
 * rules (_starpu_set_perf_model_dirs in perfmodel.c, _starpu_get_home_path in utils.c):
 * STARPU_PERF_MODEL_DIR; else the one StarPU was configured with; else HOME/.starpu/sampling
 * where HOME is the first of XDG_CACHE_HOME, STARPU_HOME, HOME, TMPDIR, TEMP, TMP that is set,
 * or /tmp. *from names where it came from. */
static void starpu_model_dir(char *dir, size_t len, const char **from)
{
    const char *v = getenv("STARPU_PERF_MODEL_DIR");
    if (v != NULL) {
        snprintf(dir, len, "%s", v);
        *from = "STARPU_PERF_MODEL_DIR";
        return;
    }
#ifdef STARPU_PERF_MODEL_DIR
    snprintf(dir, len, "%s", STARPU_PERF_MODEL_DIR);
    *from = "StarPU's --with-perf-model-dir";
#else
    static const char *const homes[] = {"XDG_CACHE_HOME", "STARPU_HOME", "HOME",
                                        "TMPDIR",         "TEMP",        "TMP"};
    *from = "StarPU's default";
    v = "/tmp";
    for (size_t i = 0; i < sizeof homes / sizeof homes[0]; i++)
        if (getenv(homes[i]) != NULL) {
            v = getenv(homes[i]);
            *from = homes[i];
            break;
        }
    snprintf(dir, len, "%s/.starpu/sampling", v);
#endif
}

/* StarPU creates its performance-model directory at start-up and aborts the process (core
 * dump) when it cannot, or fails later when it cannot write there: check first, and say
 * which directory and what to set. Its paths live in 256-byte buffers: a longer one would be
 * cut silently, so it is refused too. */
static int check_starpu_dir(char *why, size_t whylen)
{
    char dir[PATH_MAX];
    const char *from;
    starpu_model_dir(dir, sizeof dir, &from);
    const char *fix = strcmp(from, "STARPU_PERF_MODEL_DIR") == 0
                          ? "set STARPU_PERF_MODEL_DIR to a writable directory, or unset it"
                      : strcmp(from, "XDG_CACHE_HOME") == 0
                          ? "set XDG_CACHE_HOME (which StarPU reads before STARPU_HOME) to a "
                            "writable directory"
                          : "set STARPU_HOME to a writable directory";
    /* room for "/codelets/45/" and a model's file name in StarPU's 256 bytes */
    if (strlen(dir) > 180) {
        dusk__set_why(why, whylen,
                      "StarPU's directory %.60s... (from %s) is longer than the 180 bytes "
                      "StarPU can use; %s",
                      dir, from, fix);
        return DUSK_EINVAL;
    }
    const char *what = "cannot create";
    int rc =
        dir[0] == '\0' ? (errno = ENOENT, -1) : dusk__mkdir_p(dir, 0700); /* as StarPU makes it */
    if (rc == 0 && access(dir, W_OK | X_OK) != 0) what = "cannot write to", rc = -1;
    if (rc != 0) {
        dusk__set_why(why, whylen, "StarPU %s its directory %s (from %s): %s; %s", what, dir, from,
                      strerror(errno), fix);
        return DUSK_EIO;
    }
    return 0;
}

int dusk_init(const dusk_config *cfg, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (dusk__started) {
        dusk__set_why(why, whylen, "dusk is already started");
        return DUSK_ESTATE;
    }
    if (cfg == NULL) {
        dusk__set_why(why, whylen, "no configuration (NULL)");
        return DUSK_EINVAL;
    }
    if (cfg->ncpu < -1 || cfg->ncuda < -1 || cfg->blas_threads < 1 || cfg->window < 0 ||
        cfg->window_mb < 0 || cfg->mpi_core < -1 || cfg->mpi_core > 1) {
        dusk__set_why(why, whylen, "invalid configuration value");
        return DUSK_EINVAL;
    }
    if (cfg->sched[0] != '\0' && dusk_sched_check(cfg->sched, why, whylen) != 0) return DUSK_EINVAL;

    int rc = fail_tasks_check(why, whylen);
    if (rc == 0) rc = check_starpu_dir(why, whylen);
    if (rc != 0) return rc;

    /* StarPU talks a lot on start-up; keep it quiet unless asked. */
    if (cfg->verbose <= 0) setenv("STARPU_SILENT", "1", 0);

#if DUSK_HAVE_FXT
    /* A StarPU with FxT writes its own trace too (prof_file_*), next to dusk's, for
     * starpu_fxt_tool (Paje/ViTE, StarPU's dag.dot): see the README. */
    if (cfg->trace[0] != '\0' && getenv("STARPU_FXT_PREFIX") == NULL) {
        char prefix[sizeof cfg->trace + 1];
        snprintf(prefix, sizeof prefix, "%s/", cfg->trace);
        (void)mkdir(cfg->trace, 0777);
        setenv("STARPU_FXT_PREFIX", prefix, 1);
    }
#endif

    struct starpu_conf conf;
    starpu_conf_init(&conf);
    conf.precedence_over_environment_variables = 1;
    if (cfg->ncpu >= 0) conf.ncpus = cfg->ncpu;
    if (cfg->ncuda >= 0) conf.ncuda = cfg->ncuda;
    if (cfg->sched[0] != '\0') conf.sched_policy_name = cfg->sched;

#ifdef STARPU_MAXCPUS
    /* Debian's StarPU is built for at most 4 CPU workers: say so once, then ask for what it
     * can give rather than let StarPU refuse or warn on its own. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cfg->ncpu > STARPU_MAXCPUS || (cfg->ncpu < 0 && cores > STARPU_MAXCPUS)) {
        if (cfg->verbose >= 0)
            fprintf(stderr,
                    "dusk: warning: %ld %s but this StarPU runs at most %d CPU workers "
                    "(STARPU_MAXCPUS); a StarPU built with --enable-maxcpus lifts the limit\n",
                    cfg->ncpu > STARPU_MAXCPUS ? (long)cfg->ncpu : cores,
                    cfg->ncpu > STARPU_MAXCPUS ? "CPU workers asked for (--ncpu or STARPU_NCPU)"
                                               : "cores",
                    STARPU_MAXCPUS);
        conf.ncpus = STARPU_MAXCPUS;
    }
#endif

    int ret = dusk__mpi_start(&conf, cfg, why, whylen);
    if (ret == -EPROTONOSUPPORT) return DUSK_ENODEV; /* several ranks, no StarPU-MPI: `why` says */
    if (ret == -EIO) return DUSK_ESTARPU;
    if (ret == -ENODEV) {
        if (cfg->ncpu >= 0)
            dusk__set_why(why, whylen,
                          "StarPU found no worker to run tasks: %d CPU workers asked for "
                          "(--ncpu or STARPU_NCPU)",
                          cfg->ncpu);
        else
            dusk__set_why(why, whylen, "StarPU found no worker to run tasks");
        return DUSK_ENODEV;
    }
    if (ret != 0) {
        dusk__set_why(why, whylen, "starpu_init failed: %s", strerror(-ret));
        return DUSK_ESTARPU;
    }
    current = *cfg;
    dusk__started = 1;
    const char *inject = getenv("DUSK_FAIL_TASKS");
    if (inject != NULL && *inject != '\0') {
        size_t len = strlen(inject);
        fail_tasks = malloc(len + 3);
        if (fail_tasks != NULL) snprintf(fail_tasks, len + 3, ",%s,", inject);
    }
    if (cfg->trace[0] != '\0') {
        char twhy[200], dir[sizeof cfg->trace + 32];
        /* several ranks: each its own directory, merged by rank 0 at dusk_shutdown() */
        if (dusk_rank_count() > 1)
            snprintf(dir, sizeof dir, "%s/rank-%d", cfg->trace, dusk_rank());
        else
            snprintf(dir, sizeof dir, "%s", cfg->trace);
        if ((ret = dusk__trace_open(dir, dusk_rank(), dusk_rank_count(), &trace, twhy,
                                    sizeof twhy)) != 0) {
            dusk__set_why(why, whylen, "cannot write the trace to %s: %s", dir, twhy);
            dusk_shutdown();
            return ret;
        }
    }
    if ((ret = dusk__linalg_init(cfg)) != 0) {
        dusk__set_why(why, whylen, "cannot create the built-in kernels: %s", dusk_strerror(ret));
        dusk_shutdown();
        return ret;
    }
    return 0;
}

/* Several ranks: once every rank has closed its trace, rank 0 merges DIR/rank-K/trace.json
 * into DIR/trace.json (one process per rank) and writes DIR/report.html for all ranks. */
static void merge_rank_traces(void)
{
    int n = dusk_rank_count();
    if (dusk_barrier() != 0 || dusk_rank() != 0) return;
    char **paths = calloc((size_t)n, sizeof *paths);
    size_t len = strlen(current.trace) + 40;
    int ok = paths != NULL;
    for (int r = 0; ok && r < n; r++) {
        paths[r] = malloc(len);
        ok = paths[r] != NULL;
        if (ok) snprintf(paths[r], len, "%s/rank-%d/trace.json", current.trace, r);
    }
    dusk_trace_set *set = NULL;
    char why[256] = "out of memory", out[sizeof current.trace + 32];
    if (ok && dusk_trace_load((const char *const *)paths, n, &set, why, sizeof why) == 0) {
        snprintf(out, sizeof out, "%s/trace.json", current.trace);
        ok = dusk_trace_write_json(set, out) == 0;
        snprintf(out, sizeof out, "%s/report.html", current.trace);
        ok = ok && dusk_trace_write_report(set, out, run_info ? run_info : "") == 0;
        snprintf(why, sizeof why, "cannot write trace.json or report.html");
    } else {
        ok = 0;
    }
    if (!ok && current.verbose >= 0)
        fprintf(stderr, "dusk: warning: could not merge the ranks' traces in %s: %s\n",
                current.trace, why);
    else if (current.verbose >= 0)
        fprintf(stderr, "dusk: traces of %d ranks merged into %s (report.html, trace.json)\n", n,
                current.trace);
    dusk_trace_set_free(&set);
    for (int r = 0; paths != NULL && r < n; r++)
        free(paths[r]);
    free(paths);
}

void dusk_shutdown(void)
{
    if (!dusk__started) return;
    starpu_task_wait_for_all();
    if (trace != NULL) {
        if (dusk__trace_close(&trace, run_info ? run_info : "") != 0 && current.verbose >= 0)
            fprintf(stderr, "dusk: warning: could not finish the trace in %s\n", current.trace);
        else if (current.verbose >= 0 && dusk_rank_count() == 1)
            fprintf(stderr, "dusk: trace written to %s (report.html, trace.json, dag.dot)\n",
                    current.trace);
    }
    if (current.trace[0] != '\0' && dusk_rank_count() > 1) merge_rank_traces();
    free(run_info);
    run_info = NULL;
    dusk__linalg_stop();
    dusk__mpi_stop();
    free(fail_tasks);
    fail_tasks = NULL;
    dusk__started = 0;
    dusk__linalg_fini();
    while (doomed != NULL) {
        dusk_kernel *k = doomed;
        doomed = k->next_doomed;
        dusk_kernel_free(&k);
    }
}

int dusk__fail_injected(const char *key)
{
    if (fail_tasks == NULL || key[0] == '\0' || strchr(key, ',') != NULL) return 0;
    size_t len = strlen(key);
    for (const char *p = strstr(fail_tasks, key); p != NULL; p = strstr(p + 1, key))
        if (p[-1] == ',' && p[len] == ',') return 1;
    return 0;
}

void dusk__kernel_doom(dusk_kernel *k)
{
    k->next_doomed = doomed;
    doomed = k;
}

int dusk_worker_count(void)
{
    return dusk__started ? (int)starpu_worker_get_count() : 0;
}

int dusk_cpu_worker_count(void)
{
    return dusk__started ? (int)starpu_cpu_worker_get_count() : 0;
}

int dusk_cuda_worker_count(void)
{
#if DUSK_HAVE_CUDA
    return dusk__started ? (int)starpu_cuda_worker_get_count() : 0;
#else
    return 0;
#endif
}

int dusk_have_cuda(void)
{
    return DUSK_HAVE_CUDA;
}

const char *dusk_sched_name(void)
{
    if (!dusk__started) return "";
    struct starpu_sched_policy *p = starpu_sched_ctx_get_sched_policy(0);
    return p != NULL && p->policy_name != NULL ? p->policy_name : "";
}

const dusk_config *dusk_current_config(void)
{
    return dusk__started ? &current : NULL;
}
