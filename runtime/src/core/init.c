/* Start-up and shut-down: StarPU (with StarPU-MPI under a launcher, mpi.c), the trace, and
 * the registered extensions; and what a running dusk answers (workers, scheduler). The
 * configuration's checks are in config_env.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <pthread.h>
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

/* Registered extensions, and how many of them have started (their stop and fini are due). */
static const dusk_extension *extensions[DUSK_MAX_EXTENSIONS];
static int nextensions, nstarted;

void dusk_set_run_info(const char *line)
{
    if (trace == NULL || line == NULL) return;
    free(run_info);
    run_info = dusk__strdup(line);
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

/* ---- the environment StarPU reads only at start-up ---------------------------------------- */

/* Variables set (or unset) for StarPU's start alone, with what was there before. */
static struct env_saved {
    char *name, *old; /* old: NULL when it was unset */
} env_saved[8];
static int nenv_saved;

void dusk__env_scope(const char *name, const char *value)
{
    if (nenv_saved == (int)(sizeof env_saved / sizeof env_saved[0])) return;
    for (int i = 0; i < nenv_saved; i++)
        if (strcmp(env_saved[i].name, name) == 0) { /* saved already: that value comes back */
            if (value != NULL)
                (void)setenv(name, value, 1);
            else
                (void)unsetenv(name);
            return;
        }
    const char *old = getenv(name);
    struct env_saved *e = &env_saved[nenv_saved];
    e->name = dusk__strdup(name);
    e->old = old != NULL ? dusk__strdup(old) : NULL;
    if (e->name == NULL || (old != NULL && e->old == NULL)) { /* out of memory: leave it */
        free(e->name);
        free(e->old);
        return;
    }
    nenv_saved++;
    if (value != NULL)
        (void)setenv(name, value, 1);
    else
        (void)unsetenv(name);
}

void dusk__env_restore(void)
{
    while (nenv_saved > 0) {
        struct env_saved *e = &env_saved[--nenv_saved];
        if (e->old != NULL)
            (void)setenv(e->name, e->old, 1);
        else
            (void)unsetenv(e->name);
        free(e->name);
        free(e->old);
        e->name = e->old = NULL;
    }
}

/* ---- extensions --------------------------------------------------------------------------- */

int dusk_extension_register(const dusk_extension *ext)
{
    if (ext == NULL || ext->name == NULL || ext->name[0] == '\0') return DUSK_EINVAL;
    if (dusk__started) return DUSK_ESTATE;
    for (int i = 0; i < nextensions; i++) {
        if (extensions[i] == ext) return 0;
        if (strcmp(extensions[i]->name, ext->name) == 0) return DUSK_EEXIST;
    }
    if (nextensions == DUSK_MAX_EXTENSIONS) return DUSK_EINVAL;
    extensions[nextensions++] = ext;
    return 0;
}

/* On each worker's thread: every extension's worker_start, one call at a time (an extension
 * need not be thread-safe: OpenBLAS's thread count is a global). */
static pthread_mutex_t worker_hook_lock = PTHREAD_MUTEX_INITIALIZER;

static void worker_hooks(void *arg)
{
    (void)arg;
    int id = starpu_worker_get_id();
    int is_cuda = id >= 0 && starpu_worker_get_type(id) == STARPU_CUDA_WORKER;
    pthread_mutex_lock(&worker_hook_lock);
    for (int i = 0; i < nstarted; i++)
        if (extensions[i]->worker_start != NULL) extensions[i]->worker_start(id, is_cuda, &current);
    pthread_mutex_unlock(&worker_hook_lock);
}

void dusk__extensions_wake(int awake)
{
    for (int i = 0; i < nstarted; i++) {
        void (*hook)(void) = awake ? extensions[i]->wake : extensions[i]->sleep;
        if (hook != NULL) hook();
    }
}

static int start_extensions(char *why, size_t whylen)
{
    for (nstarted = 0; nstarted < nextensions; nstarted++) {
        const dusk_extension *e = extensions[nstarted];
        if (e->start == NULL) continue;
        char ewhy[256] = "";
        int ret = e->start(&current, ewhy, sizeof ewhy);
        if (ret != 0) {
            if (ret > 0) ret = DUSK_ESTARPU; /* not a dusk code: a failed start all the same */
            dusk__set_why(why, whylen, "cannot start %s: %s", e->name,
                          ewhy[0] != '\0' ? ewhy : dusk_strerror(ret));
            return ret;
        }
    }
    int hooks = 0;
    for (int i = 0; i < nstarted; i++)
        hooks |= extensions[i]->worker_start != NULL;
    if (hooks) starpu_execute_on_each_worker(worker_hooks, NULL, STARPU_CPU | STARPU_CUDA);
    return 0;
}

/* ---- start and stop ----------------------------------------------------------------------- */

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
    int rc = dusk__config_check(cfg, why, whylen);
    if (rc != 0) return rc;
    if (cfg->sched[0] != '\0' && dusk_sched_check(cfg->sched, why, whylen) != 0) return DUSK_EINVAL;

    rc = dusk__fail_tasks_check(why, whylen);
    if (rc == 0) rc = check_starpu_dir(why, whylen);
    if (rc != 0) return rc;

    /* What StarPU reads from the environment alone, for its start only (see dusk.h). */
    if (cfg->verbose <= 0 && getenv("STARPU_SILENT") == NULL) /* StarPU talks a lot */
        dusk__env_scope("STARPU_SILENT", "1");
    /* StarPU prefers STARPU_SCHED to the field: the field, from the flag, wins here */
    if (cfg->sched[0] != '\0' && getenv("STARPU_SCHED") != NULL)
        dusk__env_scope("STARPU_SCHED", NULL);
#if DUSK_HAVE_FXT
    /* A StarPU with FxT writes its own trace too (prof_file_*), next to dusk's, for
     * starpu_fxt_tool (Paje/ViTE, StarPU's dag.dot): see the README. */
    if (cfg->trace[0] != '\0' && getenv("STARPU_FXT_PREFIX") == NULL) {
        char prefix[sizeof cfg->trace + 1];
        snprintf(prefix, sizeof prefix, "%s/", cfg->trace);
        (void)mkdir(cfg->trace, 0777);
        dusk__env_scope("STARPU_FXT_PREFIX", prefix);
    }
#endif

    struct starpu_conf conf;
    starpu_conf_init(&conf);
    conf.precedence_over_environment_variables = 1;
    /* No SIGINT/SIGSEGV handler of StarPU's: the program's own (a batch's graceful stop)
     * stays in place, installed once before dusk_init(). */
    conf.catch_signals = 0;
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
    dusk__env_restore(); /* StarPU (and StarPU-MPI's thread) has read them */
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
    if ((ret = start_extensions(why, whylen)) != 0) {
        dusk_shutdown(); /* stops the extensions that started */
        return ret;
    }
    dusk__workers_started();
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
    dusk__workers_stopping();
    starpu_task_wait_for_all();
    dusk__graphs_settle(); /* graphs not freed yet: their reads and releases too */
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
    dusk__observers_clear();
    for (int i = nstarted - 1; i >= 0; i--)
        if (extensions[i]->stop != NULL) extensions[i]->stop();
    dusk__mpi_stop();
    free(fail_tasks);
    fail_tasks = NULL;
    dusk__started = 0;
    for (int i = nstarted - 1; i >= 0; i--)
        if (extensions[i]->fini != NULL) extensions[i]->fini();
    nstarted = 0;
    while (doomed != NULL) {
        dusk_kernel *k = doomed;
        doomed = k->next_doomed;
        dusk_kernel_free(&k);
    }
}

int dusk__fail_active(void)
{
    return fail_tasks != NULL;
}

int dusk__fail_injected_item(const char *key, int64_t item)
{
    char k[256];
    if (fail_tasks == NULL ||
        snprintf(k, sizeof k, "%s-%lld", key, (long long)item) >= (int)sizeof k)
        return 0;
    return dusk__fail_injected(k);
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
